"""Newton's method on a 10^5-variable problem with a sparse Hessian: the minimal surface over a square.

The surface z = u(x, y) over the unit square, with the saddle x^2 - y^2 as its boundary values, that has the least
area: the area of a triangulated grid surface (two triangles per cell) is minimised over the heights of the
m x m interior points. Its Hessian couples each point with six neighbours: 7 nonzeros per row, about 7 * 10^5 in
all, where the dense Hessian would have 10^10 entries (80 GB) and cost 10^5 Hessian-vector products.

``dr.sparse.hessian`` detects that pattern from the recorded program, star-colors it, and computes the Hessian from
one Hessian-vector product per color; ``optimize.minimize(method="newton", options={"sparse": True})`` factors it
with sparse LU at each step.

    python examples/sparse_newton.py            # m = 316: 99 856 variables, gradient to 1e-10
    python examples/sparse_newton.py --m 100    # a smaller grid

Under the test suite (PYTEST_CURRENT_TEST set) it runs on a 30 x 30 grid.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import dualrev as dr
import dualrev.numpy as dnp
from dualrev import optimize


def boundary_values(m):
    """The heights on the border of the (m + 2) x (m + 2) grid (zero inside): the saddle x^2 - y^2."""
    t = np.linspace(0.0, 1.0, m + 2)
    X, Y = np.meshgrid(t, t, indexing="ij")
    G = X ** 2 - Y ** 2
    G[1:-1, 1:-1] = 0.0
    return G


def area(u, G):
    """The area of the triangulated surface through the interior heights ``u`` (m*m) and the border of ``G``."""
    m = G.shape[0] - 2
    h = 1.0 / (m + 1)
    U = dnp.pad(dnp.reshape(u, (m, m)), 1) + G
    # the two triangles of each cell: slopes along x and y of the lower-left and the upper-right one
    lower = 1.0 + ((U[1:, :-1] - U[:-1, :-1]) / h) ** 2 + ((U[:-1, 1:] - U[:-1, :-1]) / h) ** 2
    upper = 1.0 + ((U[1:, 1:] - U[:-1, 1:]) / h) ** 2 + ((U[1:, 1:] - U[1:, :-1]) / h) ** 2
    return 0.5 * h * h * (dnp.sum(dnp.sqrt(lower)) + dnp.sum(dnp.sqrt(upper)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    small = "PYTEST_CURRENT_TEST" in os.environ
    parser.add_argument("--m", type=int, default=30 if small else 316, help="interior grid points per side")
    parser.add_argument("--gtol", type=float, default=1e-10)
    opts = parser.parse_args(argv)
    m = opts.m
    G = boundary_values(m)
    u0 = np.zeros(m * m)

    hess = dr.sparse.hessian(area)
    start = time.perf_counter()
    H = hess(u0, G)
    first = time.perf_counter() - start
    start = time.perf_counter()
    H = hess(u0, G)
    again = time.perf_counter() - start
    print(f"minimal surface, {m} x {m} grid: {m * m} variables")
    print(f"Hessian pattern: {H.nnz} nonzeros ({H.nnz / (m * m):.1f} per row), {hess.ncolors} colors "
          f"(= Hessian-vector products per Hessian)")
    print(f"sparse Hessian: {first:.2f} s the first time (detection, coloring and compiling the pass included), "
          f"{again:.3f} s after")

    start = time.perf_counter()
    res = optimize.minimize(area, u0, args=(G,), method="newton", tol=opts.gtol, options={"sparse": True})
    elapsed = time.perf_counter() - start
    gnorm = float(np.max(np.abs(res.jac)))
    print(f"Newton: {res.nit} iterations, {res.nhev} sparse Hessians, |grad|_inf = {gnorm:.1e}, "
          f"area = {res.fun:.10f}, {elapsed:.1f} s ({res.message})")
    # the first-order condition, checked independently: a gradient from dr.grad at the answer
    assert np.max(np.abs(dr.grad(area)(res.x, G))) <= opts.gtol
    return 0 if res.success else 1


if __name__ == "__main__":
    sys.exit(main())
