"""dualrev.optimize against scipy.optimize.minimize on the Moré-Garbow-Hillstrom problems (a script, not a test).

    python benchmarks/optimize_vs_scipy.py            # the full table (about 5 minutes on 2 idle cores)
    python benchmarks/optimize_vs_scipy.py --quick    # without extended Rosenbrock n = 1000 and the n = 10000 run
    python benchmarks/optimize_vs_scipy.py --markdown # the table as Markdown (as in docs/optimize.md)

Each dualrev method runs beside scipy's matching method, both from the standard starting point with exact
derivatives from dualrev (scipy gets them through dualrev.optimize.scipy_callables): newton / trust-exact (scipy's
only method on the exact Hessian), trust-exact / trust-exact, newton-cg / Newton-CG, trust-ncg / trust-ncg, bfgs /
BFGS, l-bfgs / L-BFGS-B (10 pairs); gd has no scipy match.
Both stop at |grad| <= 1e-6 (scipy's Newton-CG, which has no gradient test, at xtol = 1e-10). A run counts as
converged when, at its final x, |grad|_inf <= 1e-6 or |f - f*| <= 1e-8 max(1, |f*|), f* the known minimum.
The last line runs newton-cg on extended Rosenbrock at n = 10000 (the Hessian would have 10^8 entries). gd stops
after 2000 iterations. Most of the time goes to scipy's BFGS at n = 1000 (2000 iterations of O(n^3) updates).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mgh_problems
import scipy.optimize as so

import dualrev as dr
from dualrev import optimize

GTOL = 1e-6
MATCH = {"newton": "trust-exact", "trust-exact": "trust-exact", "newton-cg": "Newton-CG", "trust-ncg": "trust-ncg",
         "bfgs": "BFGS", "l-bfgs": "L-BFGS-B", "gd": None}
GD_MAXITER = 2000


def converged(problem, x, grad):
    f = float(problem.f(np.asarray(x)))
    g = np.max(np.abs(grad(np.asarray(x, dtype=float))))
    ok = bool(g <= GTOL or abs(f - problem.fstar) <= 1e-8 * max(1.0, abs(problem.fstar)))
    return ok, g, f


def run_dualrev(problem, method):
    maxiter = GD_MAXITER if method == "gd" else None
    t = time.perf_counter()
    res = optimize.minimize(problem.f, problem.x0.copy(), method=method, tol=GTOL, maxiter=maxiter)
    return res, time.perf_counter() - t


def run_scipy(problem, method, sc):
    kw = {"jac": sc.jac}
    options = {}
    if method == "trust-exact":
        kw["hess"] = sc.hess
        options["gtol"] = GTOL
    elif method in ("Newton-CG", "trust-ncg"):
        kw["hessp"] = sc.hessp
        options = {"xtol": 1e-10} if method == "Newton-CG" else {"gtol": GTOL}
    elif method == "BFGS":
        options["gtol"] = GTOL
    elif method == "L-BFGS-B":
        options = {"gtol": GTOL, "ftol": 1e-15, "maxcor": 10}
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = so.minimize(sc.fun, problem.x0.copy(), method=method, options=options, **kw)
    return res, time.perf_counter() - t


def evals(res):
    return f"{res.get('nfev', 0)}/{res.get('njev', 0)}/{res.get('nhev', 0)}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the n = 1000 and n = 10000 problems")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--methods", default=",".join(MATCH), help="comma-separated dualrev methods")
    parser.add_argument("--problems", default="", help="comma-separated problem names (default: all)")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    probs = mgh_problems.problems(large=not args.quick)
    if args.problems:
        probs = [p for p in probs if p.name in args.problems.split(",")]

    summary = {}  # problem label -> method -> "nit / scipy nit" cell
    header = ["problem", "method", "converged", "‖g‖∞", "nit", "nfev/njev/nhev", "time s",
              "scipy method", "converged", "‖g‖∞", "nit", "nfev/njev/nhev", "time s", "nit ratio"]
    rows = []
    misses = []
    t_all = time.perf_counter()
    for p in probs:
        sc = optimize.scipy_callables(p.f)
        grad = dr.grad(p.f)
        for m in methods:
            res, t = run_dualrev(p, m)
            ok, g, _ = converged(p, res.x, grad)
            row = [p.label, m, "yes" if ok else f"no ({res.status})", f"{g:.1e}", str(res.nit), evals(res),
                   f"{t:.2f}"]
            sm = MATCH[m]
            cell = f"{res.nit}" + ("" if ok else " ✗")
            if sm is None:
                row += ["-"] * 6 + ["-"]
            else:
                sres, st = run_scipy(p, sm, sc)
                sok, sg, _ = converged(p, sres.x, grad)
                ratio = res.nit / max(sres.nit, 1)
                row += [sm, "yes" if sok else f"no ({sres.status})", f"{sg:.1e}", str(sres.nit), evals(sres),
                        f"{st:.2f}", f"{ratio:.2f}"]
                cell += f" / {sres.nit}" + ("" if sok else " ✗")
                if sok and (not ok or ratio > 1.5):
                    misses.append(f"{p.label} {m}: dualrev {'converged' if ok else 'did not converge'} in "
                                  f"{res.nit} iterations, scipy {sm} in {sres.nit}")
            summary.setdefault(p.label, {})[m] = cell
            rows.append(row)
            if not args.markdown:
                print("  ".join(row), flush=True)
    if not args.quick and "newton-cg" in methods:
        p = mgh_problems.ext_rosenbrock(10000)
        res, t = run_dualrev(p, "newton-cg")
        ok, g, _ = converged(p, res.x, dr.grad(p.f))
        rows.append([p.label, "newton-cg", "yes" if ok else f"no ({res.status})", f"{g:.1e}", str(res.nit),
                     evals(res), f"{t:.2f}"] + ["-"] * 7)
        summary[p.label] = {"newton-cg": f"{res.nit}" + ("" if ok else " ✗")}
        if not args.markdown:
            print("  ".join(rows[-1]), flush=True)
    total = time.perf_counter() - t_all
    if args.markdown:
        print("Iterations, dualrev / scipy's matching method (✗: did not converge):\n")
        print("| problem | " + " | ".join(f"{m} / {MATCH[m]}" if MATCH[m] else m for m in methods) + " |")
        print("|---|" + "---|" * len(methods))
        for label, cells in summary.items():
            print(f"| {label} | " + " | ".join(cells.get(m, "") for m in methods) + " |")
        print("\nThe details:\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    print()
    print(f"total time {total:.1f} s")
    print("targets missed (scipy's method converged and dualrev did not, or took more than 1.5x its iterations):")
    for line in misses or ["none"]:
        print("  " + line)


if __name__ == "__main__":
    main()
