"""Draw docs/img/sparse_coloring.png: a detected Hessian pattern, its star coloring and the compressed products.

    python docs/scripts/sparse_picture.py

The Hessian is that of the minimal-surface area over a 6 x 6 interior grid (examples/sparse_newton.py): 36
variables. Left: each nonzero, drawn in the color of the Hessian-vector product it is read from. Right: the
36 x (colors) compressed matrix H @ S those products make, each entry colored by its product.
"""

import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))


def main(path=os.path.join(ROOT, "docs", "img", "sparse_coloring.png")):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sparse_newton import area, boundary_values

    import dualrev as dr

    m = 6
    G = boundary_values(m)
    hess = dr.sparse.hessian(area)
    hess(np.zeros(m * m), G)
    P, c = hess.pattern.tocoo(), hess.coloring
    source_color = c._src[1][np.argsort(np.lexsort((P.col, P.row)))]  # the product each nonzero is read from
    palette = plt.get_cmap("tab10")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4.6), gridspec_kw={"width_ratios": [36, 12]})
    ax1.scatter(P.col, P.row, c=[palette(k) for k in source_color], s=22, marker="s")
    ax1.set_xlim(-0.5, m * m - 0.5)
    ax1.set_ylim(m * m - 0.5, -0.5)
    ax1.set_aspect("equal")
    ax1.set_title(f"Hessian pattern: {P.nnz} nonzeros of {m * m}x{m * m}\n(color: the product it is read from)",
                  fontsize=10)
    ax1.set_xlabel("column (variable)")
    ax1.set_ylabel("row")
    rows, cols = c._src
    ax2.scatter(cols, rows, c=[palette(k) for k in cols], s=22, marker="s")
    ax2.set_xlim(-0.5, c.ncolors - 0.5)
    ax2.set_ylim(m * m - 0.5, -0.5)
    ax2.set_xticks(range(c.ncolors))
    ax2.set_title(f"H @ S: {c.ncolors} products\n(the entries read)", fontsize=10)
    ax2.set_xlabel("color")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}: {P.nnz} nonzeros, {c.ncolors} colors")


if __name__ == "__main__":
    main()
