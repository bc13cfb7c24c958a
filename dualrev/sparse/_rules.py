"""The sparsity rules: one entry per primitive, keyed by its name, grouped by family (the ``sparsity`` facet of
the primitives of dualrev/numpy/*.py). Imports numpy and scipy.sparse only.

A rule gets one recorded equation (``eq.prim``, ``eq.inputs``, ``eq.params``, ``eq.outputs``) and which of its
operands carry a pattern, and returns a ``Local``:

- ``maps[i]``: the local dependency pattern of the output on operand ``i``, a boolean CSR matrix (output elements x
  operand elements), or None (no derivative through that operand). The output's Jacobian pattern is then
  ``sum_i maps[i] @ J_i``.
- ``curvature``: where the operation's own second derivative is nonzero. ``NONE`` for linear and piecewise-linear
  operations (add, sum, indexing, abs, max: zero Hessian wherever the derivative exists), ``FULL`` when every pair of
  inputs an output element depends on may interact (sin, exp, prod, linalg), or a function
  ``curvature(parts, active, Js)`` returning pairs ``(A, B)`` of row patterns over the inputs such that the
  contribution is ``A^T B + B^T A`` (multiply: the operands' rows, never a row with itself; einsum: per term).

Elementwise primitives not named below are nonlinear (``FULL``); any other primitive not named below (linalg,
custom rules, primitives added later) gets the conservative dense rule in ``detect``: every output element depends
on everything its operands depend on, all pairs interacting. Never a missing nonzero.

Index operands that are data (permute's permutation from argsort, take_along_axis's indices) are treated as able
to pick any element along their axis, so a pattern stays valid at every point, not just where it was traced.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

__all__ = ["ELEMENTWISE_CURVATURE", "FULL", "NONE", "RULES", "TOO_LARGE", "Local", "rule_for"]

NONE, FULL = "none", "full"
# An einsum whose index space is larger than this is given the dense rule instead of an exact enumeration.
TOO_LARGE = 50_000_000


class Local:
    __slots__ = ("curvature", "maps")

    def __init__(self, maps, curvature=NONE):
        self.maps, self.curvature = maps, curvature


def _size(shape) -> int:
    return int(math.prod(shape))


def _shape(v):
    return tuple(getattr(v, "shape", np.shape(v)))


# -- building local maps --


def gather_map(ids: np.ndarray, in_size: int):
    """Each output element picks at most one operand element: ``ids[k]`` (or -1 for none)."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    keep = ids >= 0
    indptr = np.concatenate([[0], np.cumsum(keep)]).astype(np.int64)
    return sp.csr_matrix((np.ones(int(keep.sum()), bool), ids[keep], indptr), shape=(ids.size, in_size))


def pairs_map(rows: np.ndarray, cols: np.ndarray, shape):
    """The boolean matrix with ones at (rows[k], cols[k]); repeated pairs are merged."""
    m = sp.csr_matrix((np.ones(rows.size, bool), (rows.ravel(), cols.ravel())), shape=shape)
    m.sum_duplicates()
    return m


def _ids(shape) -> np.ndarray:
    return np.arange(_size(shape), dtype=np.int64).reshape(shape)


def broadcast_map(in_shape, out_shape):
    """An operand broadcast to the output's shape (elementwise operations)."""
    return gather_map(np.broadcast_to(_ids(in_shape), out_shape), _size(in_shape))


def line_map(in_shape, out_shape, axis: int, triangular: bool = False):
    """Each output element depends on the whole line of the operand along ``axis`` through it (its other
    coordinates, broadcast), or with ``triangular`` on the line's first k+1 elements (cumulative operations)."""
    k_in, k_out = in_shape[axis], out_shape[axis]
    lines = np.moveaxis(_ids(in_shape), axis, -1)  # (..., K)
    rest_out = tuple(np.delete(np.array(out_shape, dtype=np.int64), axis))
    lines = np.broadcast_to(lines[..., None, :], rest_out + (k_out, k_in))
    lines = np.moveaxis(lines, -2, axis)  # out_shape + (K,)
    rows = lines.reshape(_size(out_shape), k_in)
    if not triangular:
        indptr = np.arange(0, rows.size + 1, k_in, dtype=np.int64)
        return sp.csr_matrix((np.ones(rows.size, bool), rows.ravel(), indptr), shape=(_size(out_shape), _size(in_shape)))
    pos = np.arange(k_out).reshape([-1 if a == axis else 1 for a in range(len(out_shape))])
    pos = np.broadcast_to(pos, out_shape).reshape(-1, 1)
    mask = np.arange(k_in)[None, :] <= pos
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    return sp.csr_matrix((np.ones(int(indptr[-1]), bool), rows[mask], indptr),
                         shape=(_size(out_shape), _size(in_shape)))


def reduce_map(in_shape, axis, keepdims):
    """A reduction over ``axis``: each output element depends on its group of operand elements."""
    axes = tuple(range(len(in_shape))) if axis is None else tuple(a % len(in_shape) for a in np.atleast_1d(axis))
    kept = tuple(1 if a in axes else n for a, n in enumerate(in_shape))
    out_of_in = np.broadcast_to(_ids(kept), in_shape).ravel()
    in_size = _size(in_shape)
    csc = sp.csc_matrix((np.ones(in_size, bool), out_of_in, np.arange(in_size + 1)), shape=(_size(kept), in_size))
    return csc.tocsr()


# -- rules by family --


def _elementwise(curvature=FULL, operands=None):
    """Elementwise (broadcasting) operations; ``operands``: the positions with a derivative (default all)."""

    def rule(eq, traced):
        out = _shape(eq.outputs[0])
        maps = [broadcast_map(_shape(x), out) if t and (operands is None or i in operands) else None
                for i, (x, t) in enumerate(zip(eq.inputs, traced))]
        return Local(maps, curvature)

    return rule


def _bilinear(parts, active, Js):
    # x * y: d2/dx dy only; each product term pairs an element of x with one of y.
    a, b = parts
    return [(a, b)] if a is not None and b is not None else []


def _divide(parts, active, Js):
    # x / y: d2/dx dy and d2/dy2 (x enters linearly).
    a, b = parts
    pairs = [(b, b)] if b is not None else []
    return pairs + ([(a, b)] if a is not None and b is not None else [])


def _gather(eq, traced):
    """Structural operations that pick elements (reshape, transpose, broadcast_to, getitem, concatenate): run the
    operation itself on arrays of element ids, offset per operand, -1 for untraced operands."""
    ids, offsets, off = [], [], 0
    for x, t in zip(eq.inputs, traced):
        shape = _shape(x)
        ids.append(_ids(shape) + off if t else np.full(shape, -1, np.int64))
        offsets.append(off)
        off += _size(shape) if t else 0
    picked = np.asarray(eq.prim.impl(*ids, **eq.params)).ravel()
    maps = []
    for x, t, o in zip(eq.inputs, traced, offsets):
        if not t:
            maps.append(None)
            continue
        n = _size(_shape(x))
        mine = (picked >= o) & (picked < o + n)
        maps.append(gather_map(np.where(mine, picked - o, -1), n))
    return Local(maps)


def _scatter_add(eq, traced):
    # The transpose of getitem: output element at idx[k] receives ct[k] (repeated indices accumulate).
    (ct,), shape, idx = eq.inputs, eq.params["shape"], eq.params["idx"]
    target = _ids(shape)[idx]
    ct_ids = np.broadcast_to(_ids(_shape(ct)), np.shape(target))
    return Local([pairs_map(target.ravel(), ct_ids.ravel(), (_size(shape), _size(_shape(ct))))])


def _along_axis(data_pos):
    """take_along_axis / scatter_along_axis / permute: conservative along the axis (indices are data)."""

    def rule(eq, traced):
        x = eq.inputs[data_pos]
        out = _shape(eq.outputs[0])
        maps = [None] * len(eq.inputs)
        if traced[data_pos]:
            axis = eq.params["axis"] % len(out)
            maps[data_pos] = line_map(_shape(x), out, axis)
        return Local(maps)

    return rule


def _reduction(curvature):
    def rule(eq, traced):
        return Local([reduce_map(_shape(eq.inputs[0]), eq.params["axis"], eq.params["keepdims"])], curvature)

    return rule


def _cumulative(curvature):
    def rule(eq, traced):
        shape = _shape(eq.inputs[0])
        return Local([line_map(shape, shape, eq.params["axis"] % len(shape), triangular=True)], curvature)

    return rule


def _einsum_space(letters, sizes):
    """Open grids of every letter's index, broadcastable against each other."""
    k = len(letters)
    return {c: np.arange(sizes[c]).reshape((-1,) + (1,) * (k - 1 - j)) for j, c in enumerate(letters)}


def _flat_index(grid, sub, sizes):
    idx = np.zeros((), np.int64)
    for c in sub:
        idx = idx * sizes[c] + grid[c]
    return idx


def _einsum_rule(subscripts, shapes, eq, traced):
    lhs, out = subscripts.split("->")
    subs = lhs.split(",")
    sizes = {}
    for s, shape in zip(subs, shapes):
        sizes.update(zip(s, shape))
    out_size = _size([sizes[c] for c in out])

    def space(*operand_subs):
        letters = "".join(dict.fromkeys(out + "".join(operand_subs)))
        return letters, _size([sizes[c] for c in letters])

    if any(space(s)[1] > TOO_LARGE for s, t in zip(subs, traced) if t):
        return None
    maps = []
    for s, t, shape in zip(subs, traced, shapes):
        if not t:
            maps.append(None)
            continue
        letters, _ = space(s)
        grid = _einsum_space(letters, sizes)
        full = np.broadcast_shapes(*(g.shape for g in grid.values())) if grid else ()
        rows = np.broadcast_to(_flat_index(grid, out, sizes), full)
        cols = np.broadcast_to(_flat_index(grid, s, sizes), full)
        maps.append(pairs_map(rows, cols, (out_size, _size(shape))))
    pos = [i for i, t in enumerate(traced) if t]

    def curvature(parts, active, Js):
        # Multilinear: each term of the sum pairs one element of operand i with one of operand j (i != j).
        pairs = []
        act = np.zeros(out_size, bool)
        act[active] = True
        for a in range(len(pos)):
            for b in range(a + 1, len(pos)):
                i, j = pos[a], pos[b]
                letters, n = space(subs[i], subs[j])
                if n > TOO_LARGE:
                    u = parts[i] + parts[j]
                    pairs.append((u, u))
                    continue
                grid = _einsum_space(letters, sizes)
                full = np.broadcast_shapes(*(g.shape for g in grid.values()))
                o = np.broadcast_to(_flat_index(grid, out, sizes), full).ravel()
                keep = act[o]
                xi = np.broadcast_to(_flat_index(grid, subs[i], sizes), full).ravel()[keep]
                xj = np.broadcast_to(_flat_index(grid, subs[j], sizes), full).ravel()[keep]
                pairs.append((Js[i][xi], Js[j][xj]))
        return pairs

    return Local(maps, curvature if len(pos) > 1 else NONE)


def _einsum(eq, traced):
    return _einsum_rule(eq.params["subscripts"], [_shape(x) for x in eq.inputs], eq, traced)


def matmul_subscripts(sx, sy) -> str:
    """np.matmul's contraction as einsum subscripts (1-D operands promoted and squeezed, batch axes broadcast: an
    axis of size 1 against a longer one gets a letter of its own)."""
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    k = next(letters)
    xv, yv = len(sx) == 1, len(sy) == 1
    n = "" if xv else next(letters)
    m = "" if yv else next(letters)
    bx, by = list(sx[:-2]) if not xv else [], list(sy[:-2]) if not yv else []
    nb = max(len(bx), len(by))
    bx, by = [None] * (nb - len(bx)) + bx, [None] * (nb - len(by)) + by
    lx, ly, lo = "", "", ""
    for a, b in zip(bx, by):
        c = next(letters)
        if a is not None and b is not None and a != b:  # one of them is 1 and broadcasts
            if a == 1:
                lx += next(letters)
                ly += c
            else:
                lx += c
                ly += next(letters)
            lo += c
            continue
        lx += c if a is not None else ""
        ly += c if b is not None else ""
        lo += c
    return f"{lx}{n}{k},{ly}{k}{m}->{lo}{n}{m}"


def _matmul(eq, traced):
    shapes = [_shape(x) for x in eq.inputs]
    return _einsum_rule(matmul_subscripts(*shapes), shapes, eq, traced)


# Elementwise primitives whose second derivative vanishes (linear or piecewise linear) or has a known structure;
# the other elementwise primitives are FULL. (name -> (curvature, positions with a derivative or None for all))
ELEMENTWISE_CURVATURE = {
    "add": (NONE, None), "subtract": (NONE, None), "negative": (NONE, None),
    "where": (NONE, (1, 2)),  # both branches: valid wherever the condition lands
    "abs": (NONE, None), "maximum": (NONE, None), "minimum": (NONE, None),
    "copysign": (NONE, (0,)),  # zero derivative in the sign operand, as in JAX
    "remainder": (NONE, None), "fmod": (NONE, None),
    "multiply": (_bilinear, None), "divide": (_divide, None),
    "real": (NONE, None), "imag": (NONE, None), "conjugate": (NONE, None),  # linear over the reals
}

RULES = {
    # -- shape (dualrev/numpy/shape.py) --
    "reshape": _gather, "transpose": _gather, "broadcast_to": _gather, "getitem": _gather, "concatenate": _gather,
    "astype": _elementwise(NONE), "scatter_add": _scatter_add,
    # -- indexing (dualrev/numpy/indexing.py) --
    "take_along_axis": _along_axis(0), "scatter_along_axis": _along_axis(0),
    # -- reductions (dualrev/numpy/reductions.py) --
    "sum": _reduction(NONE), "max": _reduction(NONE), "min": _reduction(NONE), "prod": _reduction(FULL),
    "cumsum": _cumulative(NONE), "cumprod": _cumulative(FULL), "permute": _along_axis(1),
    # -- contractions (dualrev/numpy/contractions.py) --
    "matmul": _matmul, "einsum": _einsum,
}
for _name, (_curv, _ops) in ELEMENTWISE_CURVATURE.items():
    RULES[_name] = _elementwise(_curv, _ops)


def _abs(eq, traced):
    # |x| is piecewise linear for real x, but |z| of complex z = sqrt(re**2 + im**2) is curved
    x = eq.inputs[0]
    complex_ = (x.dtype if hasattr(x, "dtype") else np.result_type(x)).kind == "c"
    return _elementwise(FULL if complex_ else NONE)(eq, traced)


RULES["abs"] = _abs


def rule_for(prim):
    """The rule of a primitive: its entry, the nonlinear elementwise rule, or None (the dense rule)."""
    rule = RULES.get(prim.name)
    if rule is None and prim.batch == "elementwise" and not prim.multiple_results:
        return _NONLINEAR_ELEMENTWISE
    return rule


_NONLINEAR_ELEMENTWISE = _elementwise(FULL)
