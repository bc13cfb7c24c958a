"""The stiff Robertson kinetics and their sensitivities to the rate constants, with the Radau method.

    A -> B (k1 = 0.04),  B + B -> C + B (k2 = 3e7),  B + C -> A + C (k3 = 1e4)

The rates span eleven orders of magnitude: an explicit method needs millions of steps, Radau IIA (implicit, its
Newton iterations on the exact Jacobian dr.jacfwd(fun)) a few hundred. The sensitivities d y(t) / d log k are the
Jacobian of the whole solve, by dr.jacfwd through solve_ivp (discretise-then-optimise: the replayed steps,
differentiated implicitly through each step's collocation equations), checked against central differences of
scipy's Radau at tight tolerance. Prints a table, and plots concentrations and sensitivities.

    python examples/robertson_sensitivities.py [--out DIR] [--full]
"""

import argparse
import os
import tempfile
import time

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.integrate import solve_ivp

K = np.array([0.04, 3e7, 1e4])


def robertson(t, y, k1, k2, k3):
    return dnp.stack([-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2], k2 * y[1] ** 2])


def solve(log_k, t_eval, rtol=1e-6):
    k = dnp.exp(log_k)
    sol = solve_ivp(robertson, (0.0, t_eval[-1]), [1.0, 0.0, 0.0], method="Radau", args=(k[0], k[1], k[2]),
                    t_eval=t_eval, rtol=rtol, atol=1e-10)
    return sol.y


def scipy_check(t_eval, log_k):
    """Central differences of scipy's Radau (exact Jacobian supplied, rtol 1e-10) in log k1."""
    import scipy.integrate

    def jac(t, y, k1, k2, k3):
        return np.array([[-k1, k3 * y[2], k3 * y[1]], [k1, -2 * k2 * y[1] - k3 * y[2], -k3 * y[1]],
                         [0.0, 2 * k2 * y[1], 0.0]])

    def y_of(lk):
        return scipy.integrate.solve_ivp(robertson, (0.0, t_eval[-1]), [1.0, 0.0, 0.0], method="Radau", jac=jac,
                                         args=tuple(np.exp(lk)), t_eval=t_eval, rtol=1e-10, atol=1e-14).y

    e = np.array([1e-6, 0.0, 0.0])
    return (y_of(log_k + e) - y_of(log_k - e)) / 2e-6


def plot(t, y, S, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot (pip install matplotlib)")
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    scales = [1.0, 1e4, 1.0]
    for i, name in enumerate(["A", "B (x 1e4)", "C"]):
        ax1.semilogx(t, y[i] * scales[i], label=name)
    ax1.set_xlabel("t")
    ax1.set_title("Robertson: concentrations")
    ax1.legend()
    for j, name in enumerate(["k1", "k2", "k3"]):
        ax2.semilogx(t, S[0, :, j], label=f"d A / d log {name}")
    ax2.set_xlabel("t")
    ax2.set_title("sensitivities of A")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="directory for the plot (default: a temporary directory)")
    parser.add_argument("--full", action="store_true", help="t up to 1e5 (the classic long run) instead of 40")
    args = parser.parse_args(argv)
    t_end = 1e5 if args.full else 40.0
    t_eval = np.logspace(-5, np.log10(t_end), 12 if args.full else 8)
    t_eval[-1] = t_end  # exactly (logspace rounds)
    log_k = np.log(K)

    start = time.perf_counter()
    sol = solve_ivp(robertson, (0.0, t_end), [1.0, 0.0, 0.0], method="Radau", args=tuple(K), t_eval=t_eval,
                    rtol=1e-6, atol=1e-10)
    seconds_solve = time.perf_counter() - start
    start = time.perf_counter()
    S = dr.jacfwd(lambda lk: solve(lk, t_eval))(log_k)  # (3 species, len(t_eval), 3 rates)
    seconds_jac = time.perf_counter() - start
    print(f"Radau: {len(sol.t)} output times, nfev {sol.nfev}, njev {sol.njev}, nlu {sol.nlu}, "
          f"{seconds_solve:.2f} s; sensitivities (dr.jacfwd, 3 directions) {seconds_jac:.2f} s")
    print(f"{'t':>10} {'A':>10} {'B':>10} {'C':>10} {'dA/dlogk1':>11} {'dA/dlogk2':>11} {'dA/dlogk3':>11}")
    for i, t in enumerate(t_eval):
        print(f"{t:10.3g} {sol.y[0, i]:10.6f} {sol.y[1, i]:10.3e} {sol.y[2, i]:10.6f} "
              + " ".join(f"{S[0, i, j]:11.3e}" for j in range(3)))
    assert np.allclose(sol.y.sum(axis=0), 1.0, atol=1e-6)  # mass is conserved
    try:
        fd = scipy_check(t_eval, log_k)
        err = np.abs(S[:, :, 0] - fd).max() / np.abs(fd).max()
        print(f"d y / d log k1 against central differences of scipy's Radau: max relative difference {err:.1e}")
        assert err < 1e-3, err
    except ImportError:
        print("scipy is not installed: skipping the check")

    out = args.out or tempfile.mkdtemp(prefix="dualrev-robertson-")
    os.makedirs(out, exist_ok=True)
    path = plot(t_eval, sol.y, S, os.path.join(out, "robertson_sensitivities.png"))
    if path:
        print(f"plot: {path}")


if __name__ == "__main__":
    main()
