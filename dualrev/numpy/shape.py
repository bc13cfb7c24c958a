"""Shape and indexing primitives: reshape, transpose, broadcast_to, astype, indexing, concatenate, and the
composites built on them (stack, expand_dims, squeeze, swapaxes, moveaxis, ravel). Imports only core.
"""

from __future__ import annotations

import operator

import numpy as np

from dualrev.core import Tracer, defprim, implements, primal_value

__all__ = [
    "astype", "broadcast_to", "concatenate", "expand_dims", "getitem", "moveaxis", "ravel", "reshape",
    "squeeze", "stack", "swapaxes", "transpose",
]

# -- queries (no derivative) --



@implements(np.shape, nondiff=True)
def shape(a):
    """``np.shape``."""
    return a.shape if isinstance(a, Tracer) else np.shape(a)


@implements(np.ndim, nondiff=True)
def ndim(a):
    """``np.ndim``."""
    return len(np.shape(a))


@implements(np.size, nondiff=True)
def size(a, axis=None):
    """``np.size``."""
    return int(np.prod(np.shape(a))) if axis is None else np.shape(a)[axis]


def _like(np_func):
    @implements(np_func, nondiff=True)
    def like(a, *args, **kwargs):
        return np_func(primal_value(a), *args, **kwargs)

    like.__doc__ = f"``np.{np_func.__name__}``: a new plain array (it does not depend on the values of ``a``)."
    return like


for _f in (np.zeros_like, np.ones_like, np.empty_like, np.full_like):
    _like(_f)

# -- reshaping --

reshape_p = defprim(lambda x, *, shape: np.reshape(x, shape), name="reshape",
                    jvp=(lambda dx, ans, x, *, shape: reshape_p(dx, shape=shape),),
                    vjp=(lambda ct, ans, x, *, shape: reshape_p(ct, shape=np.shape(x)),))


@implements(np.reshape)
def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    """``np.reshape`` (C order), with one ``-1`` allowed.

    >>> reshape(x, (2, -1))
    """
    shape = newshape if shape is None else shape
    if order != "C":
        raise ValueError("dualrev.numpy.reshape: only order='C' is supported")
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    # np.empty with zero strides resolves -1 and validates the size without allocating
    shape = np.broadcast_to(np.empty((), bool), np.shape(a)).reshape(shape).shape
    if shape == np.shape(a):
        return a
    return reshape_p(a, shape=shape)


transpose_p = defprim(
    lambda x, *, axes: np.transpose(x, axes), name="transpose",
    jvp=(lambda dx, ans, x, *, axes: transpose_p(dx, axes=axes),),
    vjp=(lambda ct, ans, x, *, axes: transpose_p(ct, axes=tuple(int(i) for i in np.argsort(axes))),),
)


@implements(np.transpose)
def transpose(a, axes=None):
    """``np.transpose``: reverse the axes, or permute them by ``axes``."""
    ndim = np.ndim(a)
    axes = tuple(range(ndim))[::-1] if axes is None else tuple(int(i) % ndim for i in axes)
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"dualrev.numpy.transpose: axes {axes} are not a permutation of {ndim} axes")
    if axes == tuple(range(ndim)):
        return a
    return transpose_p(a, axes=axes)


broadcast_to_p = defprim(
    lambda x, *, shape: np.broadcast_to(x, shape), name="broadcast_to",
    jvp=(lambda dx, ans, x, *, shape: broadcast_to_p(dx, shape=shape),),
    vjp=(lambda ct, ans, x, *, shape: ct,),  # the engine sums the cotangent back to x's shape
)


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    """``np.broadcast_to`` (a new array, not a read-only view, on traced values)."""
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    if np.shape(array) == shape:
        return array
    return broadcast_to_p(array, shape=shape)


astype_p = defprim(
    lambda x, *, dtype: np.asarray(x).astype(dtype), name="astype",
    jvp=(lambda dx, ans, x, *, dtype: astype_p(dx, dtype=dtype),),
    vjp=(lambda ct, ans, x, *, dtype: ct,),  # the engine casts the cotangent back to x's dtype
)


@implements(np.ndarray.astype)
def astype(x, dtype):
    """``x.astype(dtype)``; a cast to an integer or bool dtype has no derivative and returns a plain array."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":
        return np.asarray(primal_value(x)).astype(dtype)
    if np.result_type(primal_value(x)) == dtype:
        return x
    return astype_p(x, dtype=dtype)


def expand_dims(a, axis):
    """``np.expand_dims``."""
    shape = list(np.shape(a))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    ndim = len(shape) + len(axes)
    for ax in sorted(int(i) % ndim for i in axes):
        shape.insert(ax, 1)
    return reshape(a, shape)


def squeeze(a, axis=None):
    """``np.squeeze``."""
    shape = np.shape(a)
    if axis is None:
        axes = {i for i, n in enumerate(shape) if n == 1}
    else:
        axes = {int(i) % len(shape) for i in ((axis,) if np.ndim(axis) == 0 else axis)}
        if any(shape[i] != 1 for i in axes):
            raise ValueError(f"dualrev.numpy.squeeze: cannot squeeze an axis of size != 1 in shape {shape}")
    return reshape(a, tuple(n for i, n in enumerate(shape) if i not in axes))


def swapaxes(a, axis1, axis2):
    """``np.swapaxes``."""
    axes = list(range(np.ndim(a)))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(a, axes)


def moveaxis(a, source, destination):
    """``np.moveaxis`` for single axes."""
    ndim = np.ndim(a)
    order = [i for i in range(ndim) if i != source % ndim]
    order.insert(destination % ndim, source % ndim)
    return transpose(a, order)


def ravel(a, order="C"):
    """``np.ravel`` (C order)."""
    return reshape(a, (-1,))


implements(np.expand_dims)(expand_dims)
implements(np.squeeze)(squeeze)
implements(np.swapaxes)(swapaxes)
implements(np.moveaxis)(moveaxis)
implements(np.ravel)(ravel)

# -- indexing --


def _is_advanced(idx):
    return any(isinstance(i, (np.ndarray, list)) for i in idx)


def _scatter_add_impl(ct, *, idx, shape):
    out = np.zeros(shape, np.result_type(ct))
    if _is_advanced(idx):
        np.add.at(out, idx, ct)  # integer-array indices may repeat: their cotangents accumulate
    else:
        out[idx] = ct
    return out


getitem_p = defprim(
    lambda x, *, idx: x[idx], name="getitem",
    jvp=(lambda dx, ans, x, *, idx: getitem_p(dx, idx=idx),),
    vjp=(lambda ct, ans, x, *, idx: scatter_add(ct, idx=idx, shape=np.shape(x)),),
)
scatter_add = defprim(
    _scatter_add_impl, name="scatter_add",
    jvp=(lambda dct, ans, ct, *, idx, shape: scatter_add(dct, idx=idx, shape=shape),),
    vjp=(lambda g, ans, ct, *, idx, shape: getitem_p(g, idx=idx),),
)
scatter_add.doc = "zeros(shape) with ct added at idx (the transpose of indexing)"


@implements(operator.getitem)
def getitem(x, idx):
    """``x[idx]``: basic slicing, ``None``, ``...``, integer arrays and boolean masks; the index is not traced."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    if any(isinstance(i, Tracer) for i in idx):
        raise TypeError("dualrev: indexing with a traced value; indices carry no derivative, so pass "
                        "dr.stop_gradient(i) or an integer array")
    idx = tuple(np.asarray(i) if isinstance(i, list) else i for i in idx)
    return getitem_p(x, idx=idx)


# -- joining --


def _concatenate_jvp(tangents, ans, *xs, axis):
    ts = [np.zeros(np.shape(x), ans.dtype) if t is None else t for t, x in zip(tangents, xs)]
    return concatenate_p(*ts, axis=axis)


def _concatenate_vjp(ct, ans, *xs, argnum, axis):
    start = sum(np.shape(x)[axis] for x in xs[:argnum])
    sl = [slice(None)] * np.ndim(ans)
    sl[axis] = slice(start, start + np.shape(xs[argnum])[axis])
    return getitem_p(ct, idx=tuple(sl))


concatenate_p = defprim(lambda *xs, axis: np.concatenate(xs, axis=axis), name="concatenate",
                        jvp=_concatenate_jvp, vjp=_concatenate_vjp)


@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, dtype=None, casting=None):
    """``np.concatenate`` of a sequence of arrays and traced values."""
    if out is not None:
        raise TypeError("dualrev.numpy.concatenate: out= is not supported")
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [ravel(x) for x in arrays], 0
    axis = int(axis) % max(np.ndim(arrays[0]), 1)
    return concatenate_p(*arrays, axis=axis)


@implements(np.stack)
def stack(arrays, axis=0, out=None, dtype=None, casting=None):
    """``np.stack``: join along a new axis."""
    arrays = list(arrays)
    ndim = np.ndim(arrays[0]) + 1
    axis = int(axis) % ndim
    return concatenate([expand_dims(x, axis) for x in arrays], axis=axis)
