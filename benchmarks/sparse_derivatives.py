"""Sparse Hessians: dr.sparse.hessian against the dense dr.hessian, JAX jit's dense Hessian and scipy's
finite-difference sparse Hessian with the same pattern, on a Rosenbrock chain and a 2-D minimal-surface energy.

    python benchmarks/sparse_derivatives.py                       # n = 10^3 ... 10^6, a few minutes
    python benchmarks/sparse_derivatives.py --sizes 1000 10000    # fewer sizes
    python benchmarks/sparse_derivatives.py --markdown table.md   # also write the tables as Markdown

Columns: ``first call`` the first call of dr.sparse.hessian (detection from the trace, the star coloring and, with
dr.jit, tracing and compiling the pass; once per function); ``colors`` the Hessian-vector products per sparse
Hessian; ``sparse jit`` a later call of dr.sparse.hessian (the compiled vmapped pass and the decompression);
``sparse eager`` the same with jit=False (the pass run by dualrev's tracers, the program recorded again to guard the
pattern); ``dense`` dr.hessian (n passes, where n x n fits: n <= --dense-max); ``jax jit`` the jitted jax.hessian
(same limit); ``scipy fd`` scipy.optimize._numdiff.approx_derivative on dualrev's exact gradient with the same
pattern (``sparsity=(pattern, groups)``, scipy's own column groups, two-point differences; ``fd evals`` gradient
evaluations); ``newton step`` one sparse Newton direction from that Hessian (sparse LU with the
positive-definiteness check, dualrev.optimize's sparse path). Times are process CPU seconds, medians of repeats,
every library on one thread. A final line times rosen_hessian at n = 200 through the sparse path (densified)
against JAX jit's dense Hessian in the same run, and gives their ratio.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse
import math
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import machine_info, measure

import dualrev as dr
import dualrev.numpy as dnp


def rosen(x, xp=dnp):
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def minimal_surface(x, xp=dnp):
    """The area of the triangulated surface over an m x m interior grid (m*m = len(x)), boundary x^2 - y^2."""
    m = math.isqrt(x.shape[0])
    G = _boundary(m)
    h = 1.0 / (m + 1)
    U = xp.pad(xp.reshape(x, (m, m)), 1) + G
    lower = 1.0 + ((U[1:, :-1] - U[:-1, :-1]) / h) ** 2 + ((U[:-1, 1:] - U[:-1, :-1]) / h) ** 2
    upper = 1.0 + ((U[1:, 1:] - U[:-1, 1:]) / h) ** 2 + ((U[1:, 1:] - U[1:, :-1]) / h) ** 2
    return 0.5 * h * h * (xp.sum(xp.sqrt(lower)) + xp.sum(xp.sqrt(upper)))


_BOUNDARY = {}


def _boundary(m):
    if m not in _BOUNDARY:
        t = np.linspace(0.0, 1.0, m + 2)
        X, Y = np.meshgrid(t, t, indexing="ij")
        G = X ** 2 - Y ** 2
        G[1:-1, 1:-1] = 0.0
        _BOUNDARY[m] = G
    return _BOUNDARY[m]


PROBLEMS = {"rosenbrock chain": rosen, "minimal surface": minimal_surface}


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax, jnp


def _point(name, n, rng):
    if name == "minimal surface":
        m = math.isqrt(n)
        return rng.uniform(-0.5, 0.5, m * m)
    return rng.uniform(-1.0, 1.0, n)


def run_problem(name, f, n, args, jax_mod, rows):
    from scipy.optimize._numdiff import approx_derivative, group_columns

    from dualrev.optimize._sparse import sparse_newton_direction

    x = _point(name, n, np.random.default_rng(0))
    n = x.size
    hess = dr.sparse.hessian(f)
    t0 = time.process_time()
    H = hess(x)
    first = time.process_time() - t0
    eager = dr.sparse.hessian(f, jit=False)
    np.testing.assert_allclose(eager(x).data, H.data, rtol=1e-12, atol=1e-12 * np.abs(H.data).max())  # same structure
    cases = [("sparse jit", lambda: hess(x)), ("sparse eager", lambda: eager(x))]
    if n <= args.dense_max:
        dense = dr.hessian(f)
        D = dense(x)
        np.testing.assert_allclose(H.toarray(), D, rtol=1e-10, atol=1e-12 * np.abs(D).max())
        cases.append(("dense", lambda: dense(x)))
        if jax_mod is not None:
            jax, jnp = jax_mod
            jh = jax.jit(jax.hessian(lambda v: f(v, jnp)))
            np.testing.assert_allclose(np.asarray(jh(x)), D, rtol=1e-10, atol=1e-12 * np.abs(D).max())
            cases.append(("jax jit", lambda: jh(x).block_until_ready()))
    grad = dr.grad(f)
    pattern = hess.pattern
    groups = group_columns(pattern)
    fd_evals = int(groups.max()) + 1
    fd = approx_derivative(grad, x, method="2-point", sparsity=(pattern, groups))
    fd_err = float(np.max(np.abs((fd - H).data))) / max(float(np.max(np.abs(H.data))), 1e-300)
    cases.append(("scipy fd", lambda: approx_derivative(grad, x, method="2-point", sparsity=(pattern, groups))))
    g = np.asarray(grad(x))
    cases.append(("newton step", lambda: sparse_newton_direction(H, g)))
    times, _ = measure(cases, repeats=args.repeats, target=args.target, clock=time.process_time, warmup=1)
    rows.append((name, n, H.nnz, hess.ncolors, first, times["sparse jit"], times["sparse eager"], times.get("dense"),
                 times.get("jax jit"), times["scipy fd"], fd_evals, fd_err, times["newton step"]))
    print(_row(rows[-1]), flush=True)


HEADER = ("problem", "n", "nnz", "colors", "first call", "sparse jit", "sparse eager", "dense", "jax jit", "scipy fd",
          "fd evals", "fd rel. err", "newton step")


def fmt_time(seconds):
    """Seconds with an automatic unit, three significant figures."""
    for unit, scale in (("s", 1.0), ("ms", 1e3), ("us", 1e6)):
        if seconds * scale >= 1 or unit == "us":
            return f"{seconds * scale:.3g} {unit}"


def _row(r):
    name, n, nnz, colors, first, sparse, eager, dense, jaxt, fd, fd_evals, fd_err, step = r
    cells = [name, f"{n:,}", f"{nnz:,}", str(colors), fmt_time(first), fmt_time(sparse), fmt_time(eager),
             fmt_time(dense) if dense is not None else "-", fmt_time(jaxt) if jaxt is not None else "-",
             fmt_time(fd), str(fd_evals), f"{fd_err:.0e}", fmt_time(step)]
    return " | ".join(f"{c:>10}" for c in cells)


def rosen_200(jax_mod, args):
    """rosen_hessian at n = 200 through the sparse path, densified, against JAX jit's dense Hessian."""
    x = np.random.default_rng(0).uniform(-1.0, 1.0, 200)
    hess = dr.sparse.hessian(rosen)
    eager = dr.sparse.hessian(rosen, jit=False)
    trusting = dr.sparse.hessian(rosen, guard=False, jit=False)
    dense_jit = dr.jit(dr.hessian(rosen))
    D = dr.hessian(rosen)(x)
    for h in (hess, eager, trusting):
        np.testing.assert_allclose(h(x).toarray(), D, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(dense_jit(x), D, rtol=1e-12, atol=1e-9)
    cases = [("sparse jit", lambda: hess(x).toarray()), ("sparse jit, CSR", lambda: hess(x)),
             ("sparse eager", lambda: eager(x).toarray()), ("sparse eager, guard=False", lambda: trusting(x).toarray()),
             ("dense dr.hessian", lambda: dr.hessian(rosen)(x)), ("dense dr.jit(dr.hessian)", lambda: dense_jit(x))]
    if jax_mod is not None:
        jax, jnp = jax_mod
        jh = jax.jit(jax.hessian(lambda v: rosen(v, jnp)))
        np.testing.assert_allclose(hess(x).toarray(), np.asarray(jh(x)), rtol=1e-12, atol=1e-9)
        cases.append(("jax jit", lambda: jh(x).block_until_ready()))
    times, _ = measure(cases, repeats=args.repeats, target=args.target, clock=time.process_time, warmup=2)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 100000, 1000000])
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--dense-max", type=int, default=3000, help="largest n for the dense Hessians")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.2, help="seconds per repeat (calibrated)")
    parser.add_argument("--markdown", help="also write the tables to this Markdown file")
    args = parser.parse_args(argv)
    jax_mod = _jax()
    import scipy

    versions = {"dualrev": dr.__version__, "scipy": scipy.__version__}
    if jax_mod is not None:
        versions["jax"] = jax_mod[0].__version__
    info = machine_info(versions)
    print("\n".join(info))
    print(" | ".join(f"{h:>10}" for h in HEADER))
    rows = []
    for name in args.problems:
        for n in args.sizes:
            run_problem(name, PROBLEMS[name], n, args, jax_mod, rows)
    times = rosen_200(jax_mod, args)
    print("rosen_hessian, n = 200: " + ", ".join(f"{k} {fmt_time(v)}" for k, v in times.items()))
    ratio = None
    if "jax jit" in times:
        ratio = (f"sparse jit (densified) / jax jit = {times['sparse jit'] / times['jax jit']:.2f}x; eager "
                 f"{times['sparse eager'] / times['jax jit']:.2f}x")
        print(ratio)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write("\n".join(f"- {line}" for line in info) + "\n\n")
            fh.write("| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER) + "\n")
            fh.writelines("| " + " | ".join(c.strip() for c in _row(r).split(" | ")) + " |\n" for r in rows)
            fh.write("\nrosen_hessian, n = 200: " + ", ".join(f"{k} {fmt_time(v)}" for k, v in times.items()) + "\n")
            if ratio:
                fh.write(f"\n{ratio}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
