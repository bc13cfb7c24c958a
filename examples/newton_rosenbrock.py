"""Newton vs BFGS vs L-BFGS vs gradient descent on the Rosenbrock function, with dualrev.optimize.

Newton uses the exact Hessian (dr.hessian), the others only gradients (dr.value_and_grad). Prints each method's
iteration table (disp=True; gradient descent's every 500th row) and saves a convergence plot, f - f* against the
iteration on a log scale, as PNG (skipped with a message when matplotlib is missing).

    python examples/newton_rosenbrock.py [--out DIR] [--fast]
"""

import argparse
import os
import tempfile

import numpy as np

import dualrev.numpy as dnp
from dualrev import optimize


def rosenbrock(x):
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def run(method, x0, disp, maxiter=None):
    history = [float(rosenbrock(x0))]  # f - f* with f* = 0
    res = optimize.minimize(rosenbrock, x0, method=method, maxiter=maxiter, disp=disp,
                            callback=lambda r: history.append(float(r.fun)))
    return res, history


def plot(histories, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the convergence plot (pip install matplotlib)")
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, hist in histories.items():
        ax.semilogy(np.arange(len(hist)), np.maximum(hist, 1e-300), label=name)
    ax.set_xscale("symlog", linthresh=100, linscale=2)  # linear up to 100 iterations, logarithmic beyond
    longest = max(len(h) for h in histories.values())
    ax.set_xticks([t for t in (0, 25, 50, 75, 100, 1000, 5000, 10000) if t <= longest])
    ax.set_xticklabels([str(t) for t in ax.get_xticks()])
    ax.set_xlabel("iteration")
    ax.set_ylabel("f - f*")
    ax.set_title("Rosenbrock from (-1.2, 1)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="directory for the plot (default: a temporary directory)")
    parser.add_argument("--fast", action="store_true", help="stop gradient descent after 500 iterations")
    args = parser.parse_args(argv)
    x0 = np.array([-1.2, 1.0])
    histories, results = {}, {}
    for method in ("newton", "bfgs", "l-bfgs"):
        print(f"\n== {method}")
        results[method], histories[method] = run(method, x0, disp=True)
    gd_maxiter = 500 if args.fast else 5000
    print(f"\n== gd (maxiter {gd_maxiter}; every 500th iteration shown)")
    res, hist = run("gd", x0, disp=False, maxiter=gd_maxiter)
    results["gd"], histories["gd"] = res, hist
    for k in range(0, len(hist), 500):
        print(f"{k:6d} {hist[k]:16.8e}")
    print(f"{res.nit:6d} {hist[-1]:16.8e}   {res.message}")

    print("\nmethod      converged  iterations  nfev  njev  nhev   f")
    for name, r in results.items():
        print(f"{name:10s}  {bool(r.success)!s:9s}  {r.nit:10d}  {r.nfev:4d}  {r.njev:4d}  {r.nhev:4d}   "
              f"{float(r.fun):.3e}")
    assert results["newton"].success and np.allclose(results["newton"].x, 1.0)
    assert results["newton"].nit < results["bfgs"].nit < results["gd"].nit
    out_dir = args.out or tempfile.mkdtemp(prefix="dualrev_newton_")
    os.makedirs(out_dir, exist_ok=True)
    path = plot(histories, os.path.join(out_dir, "newton_rosenbrock.png"))
    if path:
        print(f"convergence plot saved to {path}")


if __name__ == "__main__":
    main()
