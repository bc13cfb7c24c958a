"""``python -m dualrev``: a short guided tour of the transforms, printed to stdout in about a second."""

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp


def rosenbrock(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def heading(title):
    print(f"\n== {title}")


def main():
    np.set_printoptions(precision=6, suppress=True)
    print(f"dualrev {dr.__version__}: forward (dual numbers) and reverse (tape) automatic differentiation of NumPy code")

    heading("grad: reverse mode, f(x) = sum(sin(x)**2)")
    f = lambda x: dnp.sum(dnp.sin(x) ** 2)
    x = np.array([0.0, 0.5, 1.0])
    print(f"  x = {x}   grad f(x) = {dr.grad(f)(x)}")
    print(f"  exact sin(2x)         = {np.sin(2 * x)}")

    heading("jvp: forward mode, one pass gives f(x) and J @ v")
    out, tangent = dr.jvp(dnp.tanh, (x,), (np.ones(3),))
    print(f"  tanh(x) = {out}   J @ 1 = {tangent}")

    heading("hessian of Rosenbrock at (1, 1)  (forward over reverse)")
    H = dr.hessian(rosenbrock)(np.array([1.0, 1.0]))
    print(f"  {H[0]}\n  {H[1]}")

    heading("hvp: H @ v without forming H")
    v = np.array([1.0, -1.0])
    print(f"  hvp(rosenbrock, (1, 1), v={v}) = {dr.hvp(rosenbrock, (np.array([1.0, 1.0]),), (v,))}")

    heading("Newton's method on Rosenbrock from (-1.2, 1): x <- x - solve(H(x), grad(x))")
    x = np.array([-1.2, 1.0])
    g_fun, h_fun = dr.grad(rosenbrock), dr.hessian(rosenbrock)
    for it in range(1, 51):
        x = x - np.linalg.solve(h_fun(x), g_fun(x))
        gnorm = np.linalg.norm(g_fun(x))
        print(f"  iter {it:2d}  x = [{x[0]: .12f} {x[1]: .12f}]  |grad| = {gnorm:.2e}")
        if gnorm < 1e-10:
            break

    heading("make_graph: the primitive calls of f(x) = sum(tanh(x) * 2 + 1)")
    print(dr.make_graph(lambda x: dnp.sum(dnp.tanh(x) * 2.0 + 1.0))(np.ones(3)))


if __name__ == "__main__":
    main()
