"""Colorings of sparsity patterns and the matching decompression (Gebremedhin, Manne & Pothen, "What color is
your Jacobian? Graph coloring for computing derivatives", SIAM Review 2005).

- ``color_columns``: columns that share no row get one color (a distance-1 coloring of the column intersection
  graph); ``J @ S`` with one seed column per color gives every nonzero directly: ``J[i, j] = B[i, color[j]]``.
- ``color_rows``: the same for rows, ``S.T @ J`` by reverse mode.
- ``star_coloring``: for a symmetric Hessian, a distance-1 coloring in which every path on four vertices uses at
  least three colors; then each nonzero is read directly from ``B = H @ S`` at ``B[i, color[j]]`` or, by symmetry,
  at ``B[j, color[i]]``. Far fewer colors than a column coloring when a row is dense (arrow patterns).

All three are greedy in a vertex order: ``"largest_first"`` (by degree, the default), ``"smallest_last"``
(degeneracy order) or ``"natural"``. Imports numpy and scipy.sparse.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["ORDERINGS", "Coloring", "color_columns", "color_rows", "star_coloring"]

ORDERINGS = ("largest_first", "smallest_last", "natural")


class Coloring:
    """A coloring of a pattern and the decompression that goes with it.

    ``kind``: "column", "row" or "star"; ``colors``: one color per column (row for "row"); ``ncolors``: the
    number of compressed passes; ``seeds()``: the seed matrix (one column per color; ``pattern.shape[1] x ncolors``
    for "column" and "star", ``pattern.shape[0] x ncolors`` for "row"); ``decompress(B)``: the sparse matrix from
    the compressed products (``pattern @ S``, or ``S.T @ pattern`` for "row", as an array).
    """

    def __init__(self, kind: str, pattern, colors: np.ndarray):
        self.kind, self.pattern = kind, sp.csr_matrix(pattern, dtype=bool)
        self.colors = np.asarray(colors, dtype=np.int64)
        self.ncolors = int(self.colors.max()) + 1 if self.colors.size else 0
        P = self.pattern
        rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
        cols = P.indices.astype(np.int64)
        if kind == "column":
            self._src = (rows, self.colors[cols])
        elif kind == "row":
            self._src = (self.colors[rows], cols)
        else:
            self._src = _star_sources(P, self.colors, rows, cols)
        if not self.valid():
            raise ValueError(f"dualrev.sparse: the {kind} coloring does not separate the pattern's nonzeros "
                             "(a bug: please report it with the pattern)")

    def __repr__(self):
        m, n = self.pattern.shape
        return f"Coloring(kind={self.kind!r}, ncolors={self.ncolors}, pattern={m}x{n} with {self.pattern.nnz} nonzeros)"

    def seeds(self, dtype=np.float64) -> np.ndarray:
        S = np.zeros((self.colors.size, self.ncolors), dtype=dtype)
        S[np.arange(self.colors.size), self.colors] = 1
        return S

    def compressed(self, matrix):
        """The products a pass computes, from a known matrix (for tests and for finite differences)."""
        S = self.seeds()
        return S.T @ matrix if self.kind == "row" else matrix @ S

    def decompress(self, B):
        """The sparse matrix (CSR, with the pattern's structure) from the compressed products ``B``."""
        B = np.asarray(B)
        P = self.pattern
        values = B[self._src]
        return sp.csr_matrix((values, P.indices.copy(), P.indptr.copy()), shape=P.shape)

    def valid(self) -> bool:
        """Whether every nonzero can be recovered: no other nonzero of its row (column, for "row") shares the
        color it is read from."""
        P = self.pattern
        if P.nnz == 0:
            return True
        if self.kind == "row":
            counts = _color_counts(P.T.tocsr(), self.colors)
            return bool(np.all(counts[self._src[1], self._src[0]] == 1))
        counts = _color_counts(P, self.colors)
        return bool(np.all(counts[self._src] == 1))


def _color_counts(P, colors):
    """counts[i, c]: how many nonzeros of row i of P lie in columns of color c."""
    p = int(colors.max()) + 1
    ind = sp.csr_matrix((np.ones(colors.size, np.int32), colors, np.arange(colors.size + 1)),
                        shape=(colors.size, p))
    return (sp.csr_matrix(P, dtype=np.int32) @ ind).toarray()


def _star_sources(P, colors, rows, cols):
    """Where each nonzero (i, j) of a symmetric pattern is read in B = H @ S: (i, color j) when j is alone in row i
    among its color, else (j, color i)."""
    counts = _color_counts(P, colors)
    direct = counts[rows, colors[cols]] == 1
    return np.where(direct, rows, cols), np.where(direct, colors[cols], colors[rows])


def _adjacency(G):
    """The graph of a symmetric boolean pattern without its diagonal, as Python lists (fast loops)."""
    G = sp.csr_matrix(G, dtype=bool)
    G.setdiag(False)
    G.eliminate_zeros()
    G.sort_indices()
    return G.indptr.tolist(), G.indices.tolist(), np.diff(G.indptr)


def _order(indptr, indices, degree, ordering):
    n = degree.size
    if ordering == "natural":
        return list(range(n))
    if ordering == "largest_first":
        return np.argsort(-degree, kind="stable").tolist()
    if ordering == "smallest_last":
        # Repeatedly remove a vertex of smallest remaining degree; color in the reverse of removal.
        deg = degree.tolist()
        buckets = [set() for _ in range(max(deg, default=0) + 1)]
        for v, d in enumerate(deg):
            buckets[d].add(v)
        removed = [False] * n
        out, low = [], 0
        for _ in range(n):
            low = max(low - 1, 0)
            while not buckets[low]:
                low += 1
            v = buckets[low].pop()
            removed[v] = True
            out.append(v)
            for w in indices[indptr[v]:indptr[v + 1]]:
                if not removed[w]:
                    buckets[deg[w]].discard(w)
                    deg[w] -= 1
                    buckets[deg[w]].add(w)
        return out[::-1]
    raise ValueError(f"dualrev.sparse: unknown ordering {ordering!r}; choose one of {', '.join(ORDERINGS)}")


def _greedy(indptr, indices, order):
    n = len(indptr) - 1
    color = [-1] * n
    mark = [-1] * (n + 1)  # mark[c] == v: color c is taken by a neighbour of v
    for v in order:
        for w in indices[indptr[v]:indptr[v + 1]]:
            c = color[w]
            if c >= 0:
                mark[c] = v
        c = 0
        while mark[c] == v:
            c += 1
        color[v] = c
    return np.array(color, dtype=np.int64)


def _pattern(where, P):
    if not sp.issparse(P):
        P = np.asarray(P)
        if P.ndim != 2:
            raise ValueError(f"{where}: the pattern must be a 2-D matrix (scipy.sparse or array), got shape {P.shape}")
    return sp.csr_matrix(P, dtype=bool)


def color_columns(pattern, ordering: str = "largest_first") -> Coloring:
    """Color the columns of a Jacobian pattern so that no two columns of one color share a row (forward mode:
    one JVP per color).

    >>> color_columns(tridiagonal_pattern).ncolors
    3
    """
    P = _pattern("color_columns", pattern)
    G = (P.T @ P).tocsr()
    indptr, indices, degree = _adjacency(G)
    return Coloring("column", P, _greedy(indptr, indices, _order(indptr, indices, degree, ordering)))


def color_rows(pattern, ordering: str = "largest_first") -> Coloring:
    """Color the rows of a Jacobian pattern so that no two rows of one color share a column (reverse mode: one
    VJP per color).

    >>> color_rows(tridiagonal_pattern).ncolors
    3
    """
    P = _pattern("color_rows", pattern)
    G = (P @ P.T).tocsr()
    indptr, indices, degree = _adjacency(G)
    return Coloring("row", P, _greedy(indptr, indices, _order(indptr, indices, degree, ordering)))


def star_coloring(pattern, ordering: str = "largest_first") -> Coloring:
    """A star coloring of a symmetric (Hessian) pattern, for direct recovery from Hessian-vector products.

    Greedy (Gebremedhin, Manne & Pothen 2005, Algorithm 4.1): a vertex may not take the color of a neighbour, of a
    vertex two steps away through an uncolored neighbour, or of a vertex x two steps away through a colored
    neighbour w when x already has a neighbour of w's color (that would make a two-colored path on four vertices).

    >>> star_coloring(tridiagonal_pattern).ncolors
    3
    """
    P = _pattern("star_coloring", pattern)
    if P.shape[0] != P.shape[1]:
        raise ValueError(f"star_coloring: a Hessian pattern is square, got shape {P.shape}")
    P = (P + P.T).tocsr()
    P.setdiag(True)  # a Hessian's diagonal is read from its own color; structural zeros there cost nothing
    indptr, indices, degree = _adjacency(P)
    order = _order(indptr, indices, degree, ordering)
    n = len(indptr) - 1
    color = [-1] * n
    mark = [-1] * (n + 1)
    for v in order:
        nbrs = indices[indptr[v]:indptr[v + 1]]
        for w in nbrs:
            c = color[w]
            if c >= 0:
                mark[c] = v
        for w in nbrs:
            cw = color[w]
            if cw < 0:
                for x in indices[indptr[w]:indptr[w + 1]]:
                    cx = color[x]
                    if cx >= 0:
                        mark[cx] = v
            else:
                for x in indices[indptr[w]:indptr[w + 1]]:
                    cx = color[x]
                    if cx < 0 or x == v or mark[cx] == v:
                        continue
                    for y in indices[indptr[x]:indptr[x + 1]]:
                        if y != w and color[y] == cw:
                            mark[cx] = v
                            break
        c = 0
        while mark[c] == v:
            c += 1
        color[v] = c
    P = _pattern("star_coloring", pattern)
    return Coloring("star", (P + P.T).tocsr(), np.array(color, dtype=np.int64))
