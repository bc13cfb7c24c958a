"""Reductions: sum and mean over an axis (int, tuple, negative, None) with keepdims. Imports core and shape."""

from __future__ import annotations

import numpy as np

from dualrev.core import defprim, implements
from dualrev.numpy.shape import broadcast_to, reshape

__all__ = [
    "mean", "sum",
]


def normalize_axis(axis, ndim: int, name: str):
    """``axis`` as a sorted tuple of non-negative ints (``None`` means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"dualrev.numpy.{name}: axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"dualrev.numpy.{name}: repeated axis in {axis}")
    return tuple(sorted(out))


def keepdims_shape(shape, axis):
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


def _sum_vjp(ct, ans, x, *, axis, keepdims):
    if not keepdims:
        ct = reshape(ct, keepdims_shape(x.shape, axis))
    return broadcast_to(ct, x.shape)


_sum = defprim(lambda x, *, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims), name="sum",
               jvp=(lambda dx, ans, x, *, axis, keepdims: _sum(dx, axis=axis, keepdims=keepdims),),
               vjp=(_sum_vjp,))


def _no_extras(name, out=None, where=None, initial=None, **unused):
    if out is not None or where is not None or initial is not None or unused:
        raise TypeError(f"dualrev.numpy.{name}: out=, where=, initial= and other extras are not supported")


@implements(np.sum)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``np.sum``.

    >>> sum(x, axis=0, keepdims=True)
    """
    _no_extras("sum", out, **kwargs)
    if dtype is not None:
        a = a.astype(dtype)
    return _sum(a, axis=normalize_axis(axis, np.ndim(a), "sum"),
                keepdims=bool(keepdims))


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``np.mean``: the sum divided by the number of elements reduced."""
    _no_extras("mean", out, **kwargs)
    shape = np.shape(a)
    axes = normalize_axis(axis, len(shape), "mean")
    count = int(np.prod([shape[i] for i in axes]))
    return sum(a, axes, dtype=dtype, keepdims=keepdims) / count
