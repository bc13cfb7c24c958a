"""Gathers and functional updates, composites of getitem and scatter_add (dualrev.numpy.shape): take,
take_along_axis, diag, diagonal, trace, triu, tril, and JAX-style index updates ``x.at[idx].set(v)`` (``.add``,
``.subtract``, ``.multiply``, ``.divide``, ``.get``). Imports core and the shape, ufuncs and reductions families.

Two primitives take their indices as an operand instead of a parameter, so that under vmap each example may gather
at indices of its own: ``take_along_axis`` and its transpose ``scatter_along_axis`` (dnp.take_along_axis uses the
first; dnp.take uses it for traced indices). getitem and ``.at`` take indices as parameters: the same for every
example.
"""

from __future__ import annotations

import operator

import numpy as np

from dualrev import core
from dualrev.core import Tracer, defprim, dtype_of, implements
from dualrev.numpy.reductions import sum as _sum
from dualrev.numpy.shape import (
    _along,
    _axis,
    asarray,
    astype,
    broadcast_to,
    expand_dims,
    getitem,
    getitem_p,
    index_tuple,
    ravel,
    reshape,
    scatter_add,
    transpose,
)
from dualrev.numpy.ufuncs import maximum, minimum, where

__all__ = [
    "at", "diag", "diagonal", "take", "take_along_axis", "trace", "tril", "triu",
]


def _integer_indices(indices, name):
    """An integer array, or a traced one (batched under vmap: one set of indices per example)."""
    if isinstance(indices, Tracer):
        if indices.dtype.kind not in "iu":  # a differentiated float, most likely: indices carry no derivative
            raise TypeError(f"dualrev.numpy.{name}: traced indices must be integers, not {indices.dtype}")
        return indices
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise IndexError(f"dualrev.numpy.{name}: indices must be integers, not {indices.dtype}")
    return indices


# -- gathers along an axis, with the indices as an operand (no derivative; batched like any operand) --


def _along_axis_index(shape, indices, axis):
    """NumPy's take_along_axis index into an array of ``shape``: ``indices`` on ``axis``, aranges on the other
    axes, all broadcasting against each other."""
    nd = len(shape)
    return tuple(indices if d == axis else np.arange(shape[d]).reshape((1,) * d + (-1,) + (1,) * (nd - d - 1))
                 for d in range(nd))


def _scatter_along_axis_impl(ct, indices, *, axis, n):
    shape = list(np.broadcast_shapes(np.shape(ct), np.shape(indices)))
    shape[axis] = n
    out = np.zeros(shape, np.result_type(ct))
    np.add.at(out, _along_axis_index(shape, indices, axis), ct)  # repeated indices accumulate
    return out


def _leading(args, batched):
    """Under vmap the batch is one more leading axis of both operands: an unbatched one gets a size-1 axis there,
    which broadcasts (both keep the same number of axes, as take_along_axis wants)."""
    return [a if b else expand_dims(a, 0) for a, b in zip(args, batched)]


take_along_axis_p = defprim(
    lambda arr, indices, *, axis: np.take_along_axis(arr, indices, axis=axis), name="take_along_axis",
    supports_complex=True,
    jvp=(lambda darr, ans, arr, indices, *, axis: take_along_axis_p(darr, indices, axis=axis), None),
    vjp=(lambda ct, ans, arr, indices, *, axis: scatter_along_axis(ct, indices, axis=axis, n=np.shape(arr)[axis]),
         None),
    batch=lambda args, batched, *, axis: take_along_axis_p(*_leading(args, batched), axis=axis + 1),
    note="integer indices as an operand (no derivative), so under vmap each example gathers at its own; the other "
         "axes broadcast",
)
scatter_along_axis = defprim(
    _scatter_along_axis_impl, name="scatter_along_axis", supports_complex=True,
    jvp=(lambda dct, ans, ct, indices, *, axis, n: scatter_along_axis(dct, indices, axis=axis, n=n), None),
    vjp=(lambda g, ans, ct, indices, *, axis, n: take_along_axis_p(g, indices, axis=axis), None),
    batch=lambda args, batched, *, axis, n: scatter_along_axis(*_leading(args, batched), axis=axis + 1, n=n),
    note="zeros with ct added at indices along axis (n long), repeated indices accumulating: take_along_axis's "
         "transpose",
)


# -- gathers --


@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    """``np.take``: elements at integer ``indices`` along ``axis`` (of the flattened array if None). Repeated indices
    add their cotangents up. ``mode``: "raise" (negative indices count from the end; NumPy's default, where JAX's is
    "fill"), "wrap" or "clip"."""
    if out is not None:
        raise TypeError("dualrev.numpy.take: out= is not supported")
    a = asarray(a)
    indices = _integer_indices(indices, "take")
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis(axis, np.ndim(a), "take")
    n = np.shape(a)[axis]
    if mode == "wrap":
        indices = indices % n
    elif mode == "clip":
        indices = minimum(maximum(indices, 0), n - 1) if isinstance(indices, Tracer) else np.clip(indices, 0, n - 1)
    elif mode != "raise":
        raise ValueError(f"dualrev.numpy.take: mode must be 'raise', 'wrap' or 'clip', not {mode!r}")
    if isinstance(indices, Tracer):
        return _take_traced(a, indices, axis)
    return getitem(a, _along(axis, int(indices) if indices.ndim == 0 else indices))


def _take_traced(a, indices, axis):
    """take with traced (under vmap, per-example) indices, as one take_along_axis: ``a`` gets size-1 axes where the
    indices' axes go, the indices get size-1 axes for ``a``'s other axes, and the two broadcast."""
    shape = np.shape(a)
    before, after, r = shape[:axis], shape[axis + 1:], np.ndim(indices)
    idx = reshape(indices, (1,) * len(before) + (np.shape(indices) if r else (1,)) + (1,) * len(after))
    x = reshape(a, before + (shape[axis],) + (1,) * max(r - 1, 0) + after)
    out = take_along_axis_p(x, idx, axis=axis)
    return out if r else reshape(out, before + after)


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    """``np.take_along_axis``: ``arr`` at ``indices`` along ``axis``, matched elementwise on the other axes (one
    gather; repeated indices add their cotangents up)."""
    arr = asarray(arr)
    indices = _integer_indices(indices, "take_along_axis")
    if axis is None:
        if indices.ndim != 1:
            raise ValueError("dualrev.numpy.take_along_axis: when axis=None, `indices` must have a single dimension")
        arr, axis = ravel(arr), 0
    ndim = np.ndim(arr)
    if indices.ndim != ndim:
        raise ValueError("dualrev.numpy.take_along_axis: `indices` and `arr` must have the same number of dimensions")
    return take_along_axis_p(arr, indices, axis=_axis(axis, ndim, "take_along_axis"))


# -- diagonals and triangles --


@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal``: the diagonal of the (axis1, axis2) planes, as the last axis (a gather)."""
    a = asarray(a)
    ndim = np.ndim(a)
    if ndim < 2:
        raise ValueError("dualrev.numpy.diagonal: diag requires an array of at least two dimensions")
    ax1, ax2 = _axis(axis1, ndim, "diagonal"), _axis(axis2, ndim, "diagonal")
    if ax1 == ax2:
        raise ValueError("dualrev.numpy.diagonal: axis1 and axis2 cannot be the same")
    n1, n2 = np.shape(a)[ax1], np.shape(a)[ax2]
    offset = operator.index(offset)
    i = np.arange(max(0, min(n1 + min(offset, 0), n2 - max(offset, 0))))
    rows, cols = i - min(offset, 0), i + max(offset, 0)
    a = transpose(a, [d for d in range(ndim) if d not in (ax1, ax2)] + [ax1, ax2])
    return getitem_p(a, idx=(Ellipsis, rows, cols))


@implements(np.diag)
def diag(v, k=0):
    """``np.diag``: a 1-D array as the k-th diagonal of a square matrix (a scatter), or a matrix's k-th diagonal."""
    v = asarray(v)
    k = operator.index(k)
    if np.ndim(v) == 2:
        return diagonal(v, k)
    if np.ndim(v) != 1:
        raise ValueError("dualrev.numpy.diag: input must be 1- or 2-d")
    n = np.shape(v)[0]
    i = np.arange(n)
    return scatter_add(v, idx=(i - min(k, 0), i + max(k, 0)), shape=(n + abs(k),) * 2)


@implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """``np.trace``: the sum of ``diagonal(a, offset, axis1, axis2)``."""
    if out is not None:
        raise TypeError("dualrev.numpy.trace: out= is not supported")
    return _sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def _triangle(m, k, lower, name):
    m = asarray(m)
    if np.ndim(m) < 1:
        raise ValueError(f"dualrev.numpy.{name}: input must be at least 1-d")
    keep = np.tri(*np.shape(m)[-2:], k=operator.index(k) if lower else operator.index(k) - 1, dtype=bool)
    return where(keep, m, 0) if lower else where(keep, 0, m)


@implements(np.triu)
def triu(m, k=0):
    """``np.triu``: zeros below the k-th diagonal of the last two axes (a 1-D array is broadcast to a square)."""
    return _triangle(m, k, False, "triu")


@implements(np.tril)
def tril(m, k=0):
    """``np.tril``: zeros above the k-th diagonal of the last two axes (a 1-D array is broadcast to a square)."""
    return _triangle(m, k, True, "tril")


# -- functional index updates: x.at[idx].set(v) --


class _Updates:
    """Where the elements of ``v`` (broadcast to ``x[idx].shape``) land in ``x``, computed once with NumPy."""

    def __init__(self, shape, idx):
        self.shape, self.idx, self.size = shape, idx, int(np.prod(shape))
        self.positions = np.arange(self.size).reshape(shape)[idx].ravel()  # flat target of each update
        self.order = np.argsort(self.positions, kind="stable")
        self.target = self.positions[self.order]  # sorted targets; updates of one target keep their C order
        self.first = np.ones(self.target.size, bool)
        self.first[1:] = self.target[1:] != self.target[:-1]
        self.repeated = not self.first.all()

    def mask(self, positions):
        out = np.zeros(self.size, bool)
        out[positions] = True
        return out.reshape(self.shape)

    def place(self, v, which):
        """(mask, array of x's shape with the updates ``which`` (flags over the sorted targets) at their targets)."""
        where_to = self.target[which]
        placed = scatter_add(getitem_p(ravel(v), idx=(self.order[which],)), idx=(where_to,), shape=(self.size,))
        return self.mask(where_to), reshape(placed, self.shape)

    def rounds(self, v):
        """[(mask, placed)]: round r places the r-th update of each target (at most one per target), so products
        and quotients at repeated targets compose round by round."""
        if not self.repeated:
            return [(self.mask(self.positions), scatter_add(v, idx=self.idx, shape=self.shape))]
        rank = np.arange(self.target.size) - np.maximum.accumulate(np.where(self.first, np.arange(self.target.size), 0))
        return [self.place(v, rank == r) for r in range(int(rank.max()) + 1)]


class _IndexRef:
    """``x.at[idx]``: ``get()``, and new arrays with ``set``, ``add``, ``subtract``, ``multiply``, ``divide`` applied
    at ``idx``. ``x`` is never modified. ``indices_are_sorted`` and ``unique_indices`` (JAX's hints) are accepted
    and ignored; out-of-bounds indices raise IndexError, as in NumPy."""

    __slots__ = ("idx", "x")

    def __init__(self, x, idx):
        self.x, self.idx = x, index_tuple(idx)

    def __repr__(self):
        return f"_IndexRef({self.x!r}, {self.idx!r})"

    def _values(self, values):
        """The values in x's dtype (as in JAX and in NumPy's ``x[idx] = v``), broadcast to ``x[idx].shape``."""
        v = asarray(values)
        dtype = dtype_of(self.x)
        if dtype_of(v) != dtype:
            v = astype(v, dtype)
        return broadcast_to(v, np.broadcast_to(np.empty((), bool), np.shape(self.x))[self.idx].shape)

    def get(self, *, indices_are_sorted=False, unique_indices=False):
        """``x[idx]``."""
        return getitem_p(self.x, idx=self.idx)

    def set(self, values, *, indices_are_sorted=False, unique_indices=False):
        """``x`` with ``x[idx] = values``. Where an integer-array index repeats a position, the last update (in C
        order of ``x[idx]``) wins, as in NumPy and in JAX on CPU, and only it gets a derivative, as in JAX."""
        v = self._values(values)
        updates = _Updates(np.shape(self.x), self.idx)
        if updates.repeated:
            last = np.ones(updates.target.size, bool)
            last[:-1] = updates.first[1:]
            mask, placed = updates.place(v, last)
        else:
            (mask, placed), = updates.rounds(v)
        return where(mask, placed, self.x)

    def add(self, values, *, indices_are_sorted=False, unique_indices=False):
        """``x`` with ``values`` added at ``idx``; repeated positions accumulate (NumPy's ``np.add.at``)."""
        return self.x + scatter_add(self._values(values), idx=self.idx, shape=np.shape(self.x))

    def subtract(self, values, *, indices_are_sorted=False, unique_indices=False):
        """``x`` with ``values`` subtracted at ``idx``; repeated positions accumulate."""
        return self.x - scatter_add(self._values(values), idx=self.idx, shape=np.shape(self.x))

    def multiply(self, values, *, indices_are_sorted=False, unique_indices=False):
        """``x`` with ``x[idx] *= values``; a repeated position is multiplied by each of its values (JAX has no
        derivative there; dualrev has: one factor per occurrence)."""
        out = self.x
        for mask, placed in _Updates(np.shape(self.x), self.idx).rounds(self._values(values)):
            out = out * where(mask, placed, 1)
        return out

    def divide(self, values, *, indices_are_sorted=False, unique_indices=False):
        """``x`` with ``x[idx] /= values``; a repeated position is divided by each of its values."""
        out = self.x
        for mask, placed in _Updates(np.shape(self.x), self.idx).rounds(self._values(values)):
            out = out / where(mask, placed, 1)
        return out


class _IndexHelper:
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __getitem__(self, idx):
        return _IndexRef(self.x, idx)

    def __repr__(self):
        return f"at({self.x!r})"


@implements(core.index_update)
def at(x):
    """Functional index updates, JAX-style: ``x.at[idx].set(v)``, ``.add(v)``, ``.subtract(v)``, ``.multiply(v)``,
    ``.divide(v)`` and ``.get()`` return new arrays, differentiable in ``x`` and ``v``, for every index getitem
    takes. ``x.at[...]`` works on traced values; NumPy arrays have no ``.at``, so write ``dnp.at(x)[...]``, which
    works on both. Repeated indices: ``add`` accumulates; ``set`` keeps the last update.

    >>> y = x.at[1:, 0].set(0.0)
    >>> y = dnp.at(x)[np.array([0, 0, 2])].add(v)
    """
    return _IndexHelper(asarray(x))
