"""dualrev.optimize.root against scipy.optimize.root on the square systems among the Moré-Garbow-Hillstrom problems
(benchmarks/mgh_problems.py, standard starting points), methods "hybr" and "lm", both on exact Jacobians from
dualrev (scipy's hybr is MINPACK's hybrj with Broyden updates between Jacobians; dualrev's takes the exact Jacobian
at every accepted point).

    python benchmarks/root_vs_scipy.py [--markdown]
"""

import argparse
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import scipy.optimize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgh_problems

import dualrev as dr
from dualrev.optimize import root

SQUARE = ["rosenbrock", "ext_rosenbrock", "freudenstein_roth", "powell_badly_scaled", "helical_valley",
          "powell_singular", "ext_powell", "trigonometric", "discrete_boundary", "broyden_tridiagonal"]


def run(p, method):
    start = time.perf_counter()
    res = root(p.residual, p.x0, method=method)
    t_dr = time.perf_counter() - start
    jac = dr.jacfwd(p.residual)
    start = time.perf_counter()
    ref = scipy.optimize.root(lambda x: np.asarray(p.residual(x)), p.x0, jac=lambda x: np.asarray(jac(x)),
                              method=method)
    t_sp = time.perf_counter() - start
    return res, t_dr, ref, t_sp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args(argv)
    problems = {p.name: p for p in mgh_problems.problems(large=False)}
    rows = []
    for name in SQUARE:
        p = problems[name]
        for method in ("hybr", "lm"):
            res, t_dr, ref, t_sp = run(p, method)
            rows.append((p.label, method, res, t_dr, ref, t_sp))
    if args.markdown:
        print("| problem | method | dualrev: success (status) | \\|F\\| | nfev / njev | time s | scipy: success "
              "(status) | \\|F\\| | nfev / njev | time s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for label, method, res, t_dr, ref, t_sp in rows:
            print(f"| {label} | {method} | {res.success} ({res.status}) | {np.linalg.norm(res.fun):.1e} | "
                  f"{res.nfev} / {res.njev} | {t_dr:.3f} | {ref.success} ({ref.status}) | "
                  f"{np.linalg.norm(ref.fun):.1e} | {ref.nfev} / {ref.get('njev', '-')} | {t_sp:.3f} |")
    else:
        for label, method, res, t_dr, ref, t_sp in rows:
            print(f"{label:28s} {method:4s} dualrev: {res.success!s:5s} ({res.status}) |F| = "
                  f"{np.linalg.norm(res.fun):.1e} nfev {res.nfev:3d} | scipy: {ref.success!s:5s} ({ref.status}) "
                  f"|F| = {np.linalg.norm(ref.fun):.1e} nfev {ref.nfev:3d}")


if __name__ == "__main__":
    main()
