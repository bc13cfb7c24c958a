"""Peak memory and time of a dense Hessian of n = 5000 (Rosenbrock) with and without chunk_size.

    python benchmarks/hessian_memory.py [--n 5000]

tracemalloc counts NumPy's allocations; the result alone is n*n*8 bytes (200 MB at n = 5000). With chunk_size the
peak should stay within a few n x n arrays' worth whatever n is; without it, every op of the gradient carries all n
tangent directions at once.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import dualrev as dr  # noqa: E402
import dualrev.numpy as dnp  # noqa: E402


def rosen(x):
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def measure(x, chunk_size):
    tracemalloc.start()
    t0 = time.perf_counter()
    H = dr.hessian(rosen, chunk_size=chunk_size)(x)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return H, peak, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--chunks", type=int, nargs="*", default=[250, 1000, 0], help="0 = no chunking")
    args = parser.parse_args()
    n = args.n
    x = np.random.default_rng(0).uniform(-1, 1, n)
    result_mb = n * n * 8 / 1e6
    print(f"Hessian of Rosenbrock, n = {n}: the result alone is {result_mb:.0f} MB")
    print(f"{'chunk_size':>10} {'peak MB':>9} {'peak / result':>14} {'seconds':>8}")
    ref = None
    for chunk in args.chunks:
        H, peak, seconds = measure(x, chunk or None)
        if ref is None:
            from scipy.optimize import rosen_hess
            np.testing.assert_allclose(H, rosen_hess(x), rtol=1e-12, atol=1e-9)
            ref = H
        else:
            np.testing.assert_array_equal(H, ref)
        del H
        print(f"{chunk or 'None':>10} {peak / 1e6:9.0f} {peak / 1e6 / result_mb:14.2f} {seconds:8.2f}")


if __name__ == "__main__":
    main()
