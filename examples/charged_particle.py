"""Nested derivatives from the literature: the charged-particle problem of Siskind & Pearlmutter
("Nesting forward-mode AD in a functional framework", 2008), solved by Newton's method.

A charged particle starts at (0, 8) with velocity (0.75, 0) in the potential p(x) = sum_c 1/|x - c| of two charges
at (10, 10 - w) and (10, 0). It moves by Euler steps of dt = 0.1 under the force -grad p(x) (a reverse-mode
gradient, taken at every step) until the next step would cross y = 0 -- a Python `while` loop on the traced
position -- then the last step is cut back to the exact crossing. The objective is the squared x-coordinate of
that impact point, E(w) = x_impact(w)^2, and Newton's method w <- w - E'(w) / E''(w) finds the w that sends the
particle through the origin. E' and E'' come from forward mode over forward mode over the reverse-mode force:
three nested derivatives, through a loop whose trip count depends on w.

    python examples/charged_particle.py
"""

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp

X_INITIAL = np.array([0.0, 8.0])
XDOT_INITIAL = np.array([0.75, 0.0])
DELTA_T = 0.1


def impact_x_squared(w):
    """E(w): simulate the particle and return the squared x-coordinate where it reaches y = 0."""
    charges = [dnp.stack([10.0 + 0.0 * w, 10.0 - w]), np.array([10.0, 0.0])]

    def potential(x):
        return sum(1.0 / dnp.sqrt(dnp.sum((x - c) ** 2)) for c in charges)

    force = dr.grad(potential)  # reverse mode, nested inside the derivatives with respect to w
    x, xdot = X_INITIAL, XDOT_INITIAL
    while True:
        x_new = x + DELTA_T * xdot
        if not x_new[1] > 0:  # the next step would cross y = 0: back up to the exact crossing
            delta_t_f = -x[1] / xdot[1]
            x_impact = x + delta_t_f * xdot
            return x_impact[0] ** 2
        xddot = -force(x)
        x, xdot = x_new, xdot + DELTA_T * xddot


def first_and_second_derivative(f, w):
    """(f'(w), f''(w)) in one pass: forward mode over forward mode."""
    df = lambda v: dr.jvp(f, (v,), (np.ones_like(v),))[1]
    return dr.jvp(df, (w,), (np.ones_like(w),))


def newton(f, w0, tol=1e-8, maxiter=20):
    """Newton's method on f'(w) = 0 from w0, until |f'(w)| <= tol; returns the list of (w, f'(w), f''(w))."""
    w, steps = np.float64(w0), []
    for _ in range(maxiter + 1):
        d1, d2 = first_and_second_derivative(f, w)
        steps.append((w, d1, d2))
        if abs(d1) <= tol:
            break
        w = w - d1 / d2
    return steps


W_STAR = -0.2665234052  # what this formulation converges to (see tests/test_optimize.py)


def main():
    print("Siskind & Pearlmutter's charged particle: Newton's method on E(w) = x_impact(w)^2, from w0 = 0")
    print("(E' and E'' by forward over forward mode, through the reverse-mode force inside a while loop)")
    steps = newton(impact_x_squared, 0.0)
    print(f"{'iter':>4} {'w':>18} {'E(w)':>10} {'dE/dw':>10} {'d2E/dw2':>10}")
    for k, (w, d1, d2) in enumerate(steps):
        print(f"{k:4d} {float(w):18.12f} {float(impact_x_squared(w)):10.2e} {float(d1):10.2e} {float(d2):10.2e}")
    w_star = steps[-1][0]
    print(f"w* = {float(w_star):.10f}; the 4th Newton iterate is within {abs(float(steps[4][0] - w_star)):.1e} of it")
    assert abs(w_star - W_STAR) < 1e-9, w_star
    assert abs(steps[4][0] - w_star) < 1e-6 < abs(steps[3][0] - w_star)


if __name__ == "__main__":
    main()
