"""Shapes: reshape, transpose, broadcast_to, astype, indexing (getitem and its transpose scatter_add) and concatenate
are primitives; everything else here is a composite of them: expand_dims, squeeze, swapaxes, moveaxis, ravel,
atleast_1d/2d/3d, stack and its variants, split and its variants, tile, repeat, flip, roll, rot90, pad, and
``array``/``asarray`` of (nested) lists that mix traced values and numbers. Gathers, diagonals and ``.at`` updates
are in dualrev.numpy.indexing. Imports only core.
"""

from __future__ import annotations

import operator

import numpy as np

from dualrev import core
from dualrev.core import Tracer, defprim, dtype_of, implements, primal_value
from dualrev.numpy._batch import batch_size, bring_batch

__all__ = [
    "array", "array_split", "asarray", "astype", "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_to",
    "column_stack", "concat", "concatenate", "dsplit", "dstack", "expand_dims", "flip", "fliplr", "flipud",
    "getitem", "hsplit", "hstack", "moveaxis", "pad", "permute_dims", "ravel", "repeat", "reshape", "roll", "rot90",
    "split", "squeeze", "stack", "swapaxes", "tile", "transpose", "unstack", "vsplit", "vstack",
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
        if isinstance(a, Tracer):  # only the shape and dtype of one example matter
            a = np.broadcast_to(np.empty((), a.dtype), a.shape)
        return np_func(a, *args, **kwargs)

    like.__doc__ = f"``np.{np_func.__name__}``: a new plain array (it does not depend on the values of ``a``)."
    return like


for _f in (np.zeros_like, np.ones_like, np.empty_like, np.full_like):
    _like(_f)

# -- reshaping --

reshape_p = defprim(lambda x, *, shape: np.reshape(x, shape), name="reshape", supports_complex=True, vjp_reads=((),),
                    jvp=(lambda dx, ans, x, *, shape: reshape_p(dx, shape=shape),),
                    vjp=(lambda ct, ans, x, *, shape: reshape_p(ct, shape=np.shape(x)),),
                    batch=lambda args, batched, *, shape: reshape_p(args[0], shape=(args[0].shape[0],) + shape))


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
    lambda x, *, axes: np.transpose(x, axes), name="transpose", supports_complex=True, vjp_reads=((),),
    jvp=(lambda dx, ans, x, *, axes: transpose_p(dx, axes=axes),),
    vjp=(lambda ct, ans, x, *, axes: transpose_p(ct, axes=tuple(int(i) for i in np.argsort(axes))),),
    batch=lambda args, batched, *, axes: transpose_p(args[0], axes=(0,) + tuple(a + 1 for a in axes)),
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


def _broadcast_to_batch(args, batched, *, shape):
    x = args[0]
    n, x_shape = x.shape[0], x.shape[1:]
    x = reshape_p(x, shape=(n,) + (1,) * (len(shape) - len(x_shape)) + x_shape)  # example axes align on the right
    return broadcast_to_p(x, shape=(n,) + shape)


broadcast_to_p = defprim(
    lambda x, *, shape: np.broadcast_to(x, shape), name="broadcast_to", supports_complex=True, vjp_reads=((),),
    jvp=(lambda dx, ans, x, *, shape: broadcast_to_p(dx, shape=shape),),
    vjp=(lambda ct, ans, x, *, shape: ct,),  # the engine sums the cotangent back to x's shape
    batch=_broadcast_to_batch,
)


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    """``np.broadcast_to`` (a new array, not a read-only view, on traced values)."""
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    if np.shape(array) == shape:
        return array
    return broadcast_to_p(array, shape=shape)


def _astype_impl(x, *, dtype):
    x = np.asarray(x)
    if x.dtype.kind == "c" and dtype.kind != "c":  # NumPy drops the imaginary part (and warns): say so, keep it
        x = x.real
    return x.astype(dtype)


# complex -> real keeps the real part (NumPy's cast, JAX's too); the engine transposes both directions of the cast
astype_p = defprim(
    _astype_impl, name="astype", vjp_reads=((),), supports_complex=True,
    jvp=(lambda dx, ans, x, *, dtype: astype_p(dx, dtype=dtype),),
    vjp=(lambda ct, ans, x, *, dtype: ct,),  # the engine casts the cotangent back to x's dtype
    batch=lambda args, batched, *, dtype: astype_p(args[0], dtype=dtype),
)


@implements(np.ndarray.astype)
def astype(x, dtype):
    """``x.astype(dtype)``; a cast to an integer or bool dtype has no derivative and returns a plain array."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":
        if isinstance(x, Tracer) and x._trace.batched:  # still one value per example
            return astype_p(x, dtype=dtype)
        return np.asarray(primal_value(x)).astype(dtype)
    if (x.dtype if isinstance(x, Tracer) else np.result_type(x)) == dtype:
        return x
    return astype_p(x, dtype=dtype)


def _axis(axis, ndim, name):
    """One axis as a non-negative int, checked like NumPy."""
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim, f"dualrev.numpy.{name}")
    return axis % ndim


def _axes(axis, ndim, name):
    """An int or a sequence of ints as a tuple of distinct non-negative axes."""
    axes = tuple(_axis(a, ndim, name) for a in ((axis,) if np.ndim(axis) == 0 else axis))
    if len(set(axes)) != len(axes):
        raise ValueError(f"dualrev.numpy.{name}: repeated axis in {axis}")
    return axes


@implements(np.expand_dims)
def expand_dims(a, axis):
    """``np.expand_dims``: insert size-1 axes (an int or a tuple)."""
    a = asarray(a)
    shape = list(np.shape(a))
    for ax in sorted(_axes(axis, len(shape) + (1 if np.ndim(axis) == 0 else len(axis)), "expand_dims")):
        shape.insert(ax, 1)
    return reshape(a, shape)


@implements(np.squeeze)
def squeeze(a, axis=None):
    """``np.squeeze``."""
    a = asarray(a)
    shape = np.shape(a)
    if axis is None:
        axes = {i for i, n in enumerate(shape) if n == 1}
    else:
        axes = set(_axes(axis, len(shape), "squeeze"))
        if any(shape[i] != 1 for i in axes):
            raise ValueError(f"dualrev.numpy.squeeze: cannot squeeze an axis of size != 1 in shape {shape}")
    return reshape(a, tuple(n for i, n in enumerate(shape) if i not in axes))


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    """``np.swapaxes``."""
    if type(a) is np.ndarray:  # nothing traced (a rule on plain arrays): NumPy's own view
        return a.swapaxes(axis1, axis2)
    a = asarray(a)
    axes = list(range(np.ndim(a)))
    i, j = _axis(axis1, len(axes), "swapaxes"), _axis(axis2, len(axes), "swapaxes")
    axes[i], axes[j] = j, i
    return transpose(a, axes)


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    """``np.moveaxis``: single axes or sequences of axes (the others keep their order)."""
    a = asarray(a)
    ndim = np.ndim(a)
    source, destination = _axes(source, ndim, "moveaxis"), _axes(destination, ndim, "moveaxis")
    if len(source) != len(destination):
        raise ValueError("dualrev.numpy.moveaxis: `source` and `destination` must have the same number of elements")
    order = [i for i in range(ndim) if i not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(a, order)


@implements(np.ravel)
def ravel(a, order="C"):
    """``np.ravel`` (C order)."""
    if order not in ("C", "K", "A"):
        raise ValueError("dualrev.numpy.ravel: only order='C' is supported")
    return reshape(asarray(a), (-1,))


permute_dims = transpose  # NumPy 2's name (np.permute_dims is np.transpose)


def _atleast(arys, ndim, shape_of):
    out = []
    for a in arys:
        a = asarray(a)
        out.append(reshape(a, shape_of(np.shape(a))) if np.ndim(a) < ndim else a)
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.atleast_1d)
def atleast_1d(*arys):
    """``np.atleast_1d``: a 0-d array becomes (1,); one array, or a tuple of several."""
    return _atleast(arys, 1, lambda s: (1,))


@implements(np.atleast_2d)
def atleast_2d(*arys):
    """``np.atleast_2d``: () -> (1, 1), (n,) -> (1, n)."""
    return _atleast(arys, 2, lambda s: (1,) * (2 - len(s)) + s)


@implements(np.atleast_3d)
def atleast_3d(*arys):
    """``np.atleast_3d``: () -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1)."""
    return _atleast(arys, 3, lambda s: (1, 1, 1) if not s else (1, s[0], 1) if len(s) == 1 else s + (1,))


# -- arrays from (nested) lists that mix traced values and numbers --

_STRONG = (Tracer, np.ndarray, np.generic)  # values with a dtype of their own; Python numbers are weak


def _has_tracer(obj):
    if isinstance(obj, Tracer):
        return True
    return isinstance(obj, (list, tuple)) and any(_has_tracer(o) for o in obj)


def _leaves(obj):
    if isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _leaves(o)
    else:
        yield obj


def _weak_dtype(leaves):
    """The dtype of an array of ``leaves``: arrays and traced values promote as usual, Python numbers are weak, as
    in JAX and in NumPy 2's arithmetic (float32 with 1.0 is float32). None without arrays, or with leaves that are
    neither arrays nor numbers: NumPy decides."""
    strong = [dtype_of(x) for x in leaves if isinstance(x, _STRONG)]
    weak = {type(x): x for x in leaves if not isinstance(x, _STRONG)}
    if not strong or not all(issubclass(t, (bool, int, float, complex)) for t in weak):
        return None
    dtype = strong[0]
    for t in strong[1:]:
        dtype = np.promote_types(dtype, t)
    for x in weak.values():
        dtype = np.result_type(dtype, x)
    return dtype


def _build(obj, dtype):
    if isinstance(obj, (list, tuple)):
        return stack([_build(o, dtype) for o in obj])
    return astype(obj, dtype) if isinstance(obj, Tracer) else np.asarray(obj, dtype)


@implements(core.array_like)
def asarray(a, dtype=None, order=None, **kwargs):
    """``np.asarray``, also for traced values and for (nested) lists and tuples that contain some.

    A list that holds a traced value is built with ``stack``, so the result is differentiable in every element.
    Python numbers in a list are weakly typed, traced or not: ``asarray([x, 1.0])`` with a float32 ``x`` is float32,
    as in JAX (``np.asarray`` makes it float64). Anything else is NumPy's. ``np.asarray(tracer)`` cannot reach this
    function (NumPy converts with ``__array__``, which refuses): write ``dnp.asarray``.

    >>> asarray([[x, 0.0], [0.0, 2 * x]])
    """
    if isinstance(a, Tracer):
        return a if dtype is None else astype(a, dtype)
    if not isinstance(a, (list, tuple)):
        return np.asarray(a, dtype, order, **kwargs)
    dtype = _weak_dtype(list(_leaves(a))) if dtype is None else np.dtype(dtype)
    return _build(a, dtype) if _has_tracer(a) else np.asarray(a, dtype, order, **kwargs)


def array(object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, **kwargs):
    """``np.array``, also for traced values and (nested) lists and tuples that contain some (see ``asarray``)."""
    if isinstance(object, Tracer) and copy and dtype is None:
        object = reshape_p(object, shape=object.shape)  # a new traced object: writes to it leave the original alone
    if not _has_tracer(object):
        if dtype is None and isinstance(object, (list, tuple)):
            dtype = _weak_dtype(list(_leaves(object)))
        return np.array(object, dtype, copy=copy, order=order, subok=subok, ndmin=ndmin, **kwargs)
    x = asarray(object, dtype)
    return reshape(x, (1,) * (ndmin - np.ndim(x)) + np.shape(x)) if np.ndim(x) < ndmin else x


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


def _batched_index(idx):
    """An example's index as an index of the batch (batch axis 0 kept), and where the batch axis lands in the
    result: NumPy puts the axes of advanced indices first when slices separate them."""
    advanced = [i for i, k in enumerate(idx) if isinstance(k, np.ndarray)]
    if advanced:  # with arrays present, integers are advanced indices too
        advanced = [i for i, k in enumerate(idx) if isinstance(k, (np.ndarray, int, np.integer))]
    if advanced and advanced[-1] - advanced[0] + 1 != len(advanced):
        shapes = [(np.count_nonzero(k),) if isinstance(k, np.ndarray) and k.dtype == bool else np.shape(k)
                  for k in (idx[i] for i in advanced)]
        return (slice(None),) + idx, len(np.broadcast_shapes(*shapes))
    return (slice(None),) + idx, 0


def _getitem_batch(args, batched, *, idx):
    bidx, at = _batched_index(idx)
    return moveaxis(getitem_p(args[0], idx=bidx), at, 0)


def _scatter_add_batch(args, batched, *, idx, shape):
    bidx, at = _batched_index(idx)
    ct = args[0]
    return scatter_add(moveaxis(ct, 0, at), idx=bidx, shape=(ct.shape[0],) + tuple(shape))


getitem_p = defprim(
    lambda x, *, idx: x[idx], name="getitem", supports_complex=True, vjp_reads=((),),
    jvp=(lambda dx, ans, x, *, idx: getitem_p(dx, idx=idx),),
    vjp=(lambda ct, ans, x, *, idx: scatter_add(ct, idx=idx, shape=np.shape(x)),),
    batch=_getitem_batch,
)
scatter_add = defprim(
    _scatter_add_impl, name="scatter_add", supports_complex=True, vjp_reads=((),),
    jvp=(lambda dct, ans, ct, *, idx, shape: scatter_add(dct, idx=idx, shape=shape),),
    vjp=(lambda g, ans, ct, *, idx, shape: getitem_p(g, idx=idx),),
    batch=_scatter_add_batch,
)
scatter_add.doc = "zeros(shape) with ct added at idx (the transpose of indexing)"


def index_tuple(idx):
    """An index as getitem_p takes it: a tuple, lists turned into arrays; a traced index is an error."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    # a value traced by dr.jit only (no derivative level): its concrete value, read under a guard
    idx = tuple(primal_value(i) if isinstance(i, Tracer) and i._trace.guards_reads else i for i in idx)
    if any(isinstance(i, Tracer) and i._trace.batched for i in idx):
        raise TypeError("dualrev: indexing with a batched index under vmap is not supported (each example would "
                        "take a different gather); use a one-hot vector, dnp.take_along_axis, or index outside vmap")
    if any(isinstance(i, Tracer) for i in idx):
        raise TypeError("dualrev: indexing with a traced value; indices carry no derivative, so pass "
                        "dr.stop_gradient(i) or an integer array")
    return tuple(np.asarray(i) if isinstance(i, list) else i for i in idx)


@implements(operator.getitem)
def getitem(x, idx):
    """``x[idx]``: basic slicing, ``None``, ``...``, integer arrays and boolean masks; the index is not traced."""
    return getitem_p(x, idx=index_tuple(idx))


def _along(axis, index):
    """The index tuple that applies ``index`` to ``axis``."""
    return (slice(None),) * axis + (index,)


# -- joining --


def _concatenate_jvp(tangents, ans, *xs, axis):
    ts = [np.zeros(np.shape(x), ans.dtype) if t is None else t for t, x in zip(tangents, xs)]
    return concatenate_p(*ts, axis=axis)


def _concatenate_vjp(ct, ans, *xs, argnum, axis):
    start = sum(np.shape(x)[axis] for x in xs[:argnum])
    sl = [slice(None)] * np.ndim(ans)
    sl[axis] = slice(start, start + np.shape(xs[argnum])[axis])
    return getitem_p(ct, idx=tuple(sl))


def _concatenate_batch(args, batched, *, axis):
    n = batch_size(args, batched)
    return concatenate_p(*[bring_batch(x, b, n) for x, b in zip(args, batched)], axis=axis + 1)


concatenate_p = defprim(lambda *xs, axis: np.concatenate(xs, axis=axis), name="concatenate", supports_complex=True,
                        vjp_reads=lambda argnums, n: (False, ()),
                        jvp=_concatenate_jvp, vjp=_concatenate_vjp, batch=_concatenate_batch)


def _arrays(arrays, dtype, name):
    """The operands of a join as arrays; numbers and lists among them are weakly typed (see ``asarray``)."""
    arrays = list(arrays)
    if dtype is None and not all(isinstance(x, _STRONG) for x in arrays):
        dtype = _weak_dtype(list(_leaves(arrays)))
        arrays = [x if isinstance(x, _STRONG) else asarray(x, dtype) for x in arrays]
    elif dtype is not None:
        arrays = [asarray(x, dtype) for x in arrays]
    if not arrays:
        raise ValueError(f"dualrev.numpy.{name}: need at least one array")
    return arrays


@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """``np.concatenate`` of a sequence of arrays, traced values and (nested) lists of them."""
    if out is not None:
        raise TypeError("dualrev.numpy.concatenate: out= is not supported")
    arrays = _arrays(arrays, dtype, "concatenate")
    if axis is None:
        arrays, axis = [ravel(x) for x in arrays], 0
    if np.ndim(arrays[0]) == 0:
        raise ValueError("dualrev.numpy.concatenate: zero-dimensional arrays cannot be concatenated")
    return concatenate_p(*arrays, axis=_axis(axis, np.ndim(arrays[0]), "concatenate"))


concat = concatenate  # NumPy 2's name (np.concat is np.concatenate)


@implements(np.stack)
def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """``np.stack``: join along a new axis; elements may be traced values, numbers or (nested) lists of them.

    >>> stack([x[0], 1.0, 2 * x[1]])
    """
    if out is not None:
        raise TypeError("dualrev.numpy.stack: out= is not supported")
    arrays = _arrays(arrays, dtype, "stack")
    if len({np.shape(x) for x in arrays}) > 1:
        raise ValueError("dualrev.numpy.stack: all input arrays must have the same shape")
    axis = _axis(axis, np.ndim(arrays[0]) + 1, "stack")
    return concatenate([expand_dims(x, axis) for x in arrays], axis=axis)


@implements(np.hstack)
def hstack(tup, *, dtype=None, casting="same_kind"):
    """``np.hstack``: concatenate 1-D arrays along axis 0, others along axis 1."""
    arrays = [atleast_1d(x) for x in _arrays(tup, dtype, "hstack")]
    return concatenate(arrays, axis=0 if np.ndim(arrays[0]) == 1 else 1)


@implements(np.vstack)
def vstack(tup, *, dtype=None, casting="same_kind"):
    """``np.vstack``: concatenate along axis 0 after ``atleast_2d``."""
    return concatenate([atleast_2d(x) for x in _arrays(tup, dtype, "vstack")], axis=0)


@implements(np.dstack)
def dstack(tup):
    """``np.dstack``: concatenate along axis 2 after ``atleast_3d``."""
    return concatenate([atleast_3d(x) for x in _arrays(tup, None, "dstack")], axis=2)


@implements(np.column_stack)
def column_stack(tup):
    """``np.column_stack``: 1-D arrays become columns, then concatenate along axis 1."""
    arrays = _arrays(tup, None, "column_stack")
    return concatenate([reshape(x, (-1, 1)) if np.ndim(x) < 2 else x for x in arrays], axis=1)


# -- splitting: lists of traced values --


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    """``np.array_split``: a list of sub-arrays; n sections of sizes differing by at most one, or split points."""
    a = asarray(ary)
    axis = _axis(axis, np.ndim(a), "array_split")
    n = np.shape(a)[axis]
    if np.ndim(indices_or_sections) == 0:
        sections = operator.index(indices_or_sections)
        if sections <= 0:
            raise ValueError("dualrev.numpy.array_split: number sections must be larger than 0")
        each, extras = divmod(n, sections)
        points = np.cumsum([0] + extras * [each + 1] + (sections - extras) * [each]).tolist()
    else:
        points = [0] + [operator.index(i) for i in indices_or_sections] + [n]
    return [getitem(a, _along(axis, slice(start, stop))) for start, stop in zip(points[:-1], points[1:])]


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    """``np.split``: as ``array_split``, but n sections must divide the axis evenly."""
    if np.ndim(indices_or_sections) == 0 and np.shape(ary)[axis] % operator.index(indices_or_sections):
        raise ValueError("dualrev.numpy.split: array split does not result in an equal division")
    return array_split(ary, indices_or_sections, axis)


@implements(np.hsplit)
def hsplit(ary, indices_or_sections):
    """``np.hsplit``: split along axis 1 (axis 0 for 1-D arrays)."""
    if np.ndim(ary) == 0:
        raise ValueError("dualrev.numpy.hsplit only works on arrays of 1 or more dimensions")
    return split(ary, indices_or_sections, 1 if np.ndim(ary) > 1 else 0)


@implements(np.vsplit)
def vsplit(ary, indices_or_sections):
    """``np.vsplit``: split along axis 0 (2-D and more)."""
    if np.ndim(ary) < 2:
        raise ValueError("dualrev.numpy.vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, 0)


@implements(np.dsplit)
def dsplit(ary, indices_or_sections):
    """``np.dsplit``: split along axis 2 (3-D and more)."""
    if np.ndim(ary) < 3:
        raise ValueError("dualrev.numpy.dsplit only works on arrays of 3 or more dimensions")
    return split(ary, indices_or_sections, 2)


@implements(np.unstack)
def unstack(x, /, *, axis=0):
    """``np.unstack``: a tuple of the slices along ``axis``."""
    x = asarray(x)
    axis = _axis(axis, np.ndim(x), "unstack")
    return tuple(getitem(x, _along(axis, i)) for i in range(np.shape(x)[axis]))


# -- repeating, reversing, rolling, padding --


@implements(np.tile)
def tile(A, reps):
    """``np.tile``: broadcast along a new axis before each axis, then merge the pairs (no gather)."""
    a = asarray(A)
    reps = (operator.index(reps),) if np.ndim(reps) == 0 else tuple(operator.index(r) for r in reps)
    d = max(np.ndim(a), len(reps))
    shape = (1,) * (d - np.ndim(a)) + np.shape(a)
    reps = (1,) * (d - len(reps)) + reps
    if all(r == 1 for r in reps):
        return reshape(a, shape)
    pairs = reshape(a, [m for n in shape for m in (1, n)])
    pairs = broadcast_to(pairs, [m for r, n in zip(reps, shape) for m in (r, n)])
    return reshape(pairs, [r * n for r, n in zip(reps, shape)])


@implements(np.repeat)
def repeat(a, repeats, axis=None):
    """``np.repeat``: one count for all elements (broadcast and merge), or one count per element (a gather whose
    transpose adds the cotangents of the copies)."""
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis(axis, np.ndim(a), "repeat")
    shape = np.shape(a)
    if isinstance(repeats, Tracer):
        raise TypeError("dualrev.numpy.repeat: repeats is traced; counts carry no derivative")
    counts = np.asarray(repeats)
    if counts.size == 1:
        r = operator.index(counts.reshape(()).item())
        if r < 0:
            raise ValueError("dualrev.numpy.repeat: negative dimensions are not allowed")
        b = broadcast_to(expand_dims(a, axis + 1), shape[:axis + 1] + (r,) + shape[axis + 1:])
        return reshape(b, shape[:axis] + (shape[axis] * r,) + shape[axis + 1:])
    return getitem(a, _along(axis, np.repeat(np.arange(shape[axis]), counts)))


@implements(np.flip)
def flip(m, axis=None):
    """``np.flip``: reverse the order along ``axis`` (all axes by default), a slice with step -1."""
    m = asarray(m)
    axes = range(np.ndim(m)) if axis is None else _axes(axis, np.ndim(m), "flip")
    if not axes:
        return m
    return getitem(m, tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(np.ndim(m))))


@implements(np.fliplr)
def fliplr(m):
    """``np.fliplr``: flip axis 1."""
    if np.ndim(m) < 2:
        raise ValueError("dualrev.numpy.fliplr: input must be >= 2-d")
    return flip(m, 1)


@implements(np.flipud)
def flipud(m):
    """``np.flipud``: flip axis 0."""
    if np.ndim(m) < 1:
        raise ValueError("dualrev.numpy.flipud: input must be >= 1-d")
    return flip(m, 0)


@implements(np.roll)
def roll(a, shift, axis=None):
    """``np.roll``: shifts (int or tuple) along axes (None: the flattened array, int, or tuple), each a
    concatenation of two slices."""
    a = asarray(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), np.shape(a))
    shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    if shifts.ndim > 1:
        raise ValueError("dualrev.numpy.roll: 'shift' and 'axis' should be scalars or 1D sequences")
    total = {}
    for s, ax in zip(shifts.ravel().tolist(), axes.ravel().tolist()):
        ax = _axis(ax, np.ndim(a), "roll")
        total[ax] = total.get(ax, 0) + s
    for ax, s in total.items():
        n = np.shape(a)[ax]
        if n and s % n:
            cut = n - s % n
            a = concatenate([getitem(a, _along(ax, slice(cut, None))), getitem(a, _along(ax, slice(None, cut)))],
                            axis=ax)
    return a


@implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    """``np.rot90``: rotate by 90 degrees k times in the plane ``axes`` (flips and a transpose)."""
    m = asarray(m)
    if len(axes) != 2:
        raise ValueError("dualrev.numpy.rot90: len(axes) must be 2")
    a0, a1 = _axes(axes, np.ndim(m), "rot90")
    k = operator.index(k) % 4
    if k == 0:
        return m
    if k == 2:
        return flip(m, (a0, a1))
    order = list(range(np.ndim(m)))
    order[a0], order[a1] = a1, a0
    return transpose(flip(m, a1), order) if k == 1 else flip(transpose(m, order), a1)


def _pairs(x, ndim):
    """NumPy's pad_width / constant_values forms as an (ndim, 2) array: n, (n,), (before, after), ((b, a),),
    or one pair per axis. Works on traced values too."""
    if np.ndim(x) < 3 and np.size(x) == 1:
        x = reshape(x, ())
    elif np.ndim(x) < 3 and np.size(x) == 2 and np.shape(x) != (2, 1):
        x = reshape(x, (2,))
    return broadcast_to(x, (ndim, 2))


_INDEX_MODES = ("edge", "reflect", "symmetric", "wrap")


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    """``np.pad``, with ``mode="constant"`` (``constant_values`` may be traced) or one of the modes that copy
    elements: "edge", "reflect", "symmetric", "wrap" (a gather, whose transpose adds up the copies' cotangents).
    Pad widths take every NumPy form; axes are padded in order, so corners take the last axis' constants, as in
    NumPy."""
    x = asarray(array)
    ndim = np.ndim(x)
    if isinstance(pad_width, Tracer):
        raise TypeError("dualrev.numpy.pad: pad_width is traced; widths carry no derivative")
    widths = np.asarray(pad_width)
    if widths.size and not np.issubdtype(widths.dtype, np.integer):
        raise TypeError("dualrev.numpy.pad: `pad_width` must be of integral type")
    widths = np.asarray(_pairs(widths.astype(np.intp), ndim)).tolist()
    if any(w < 0 for pair in widths for w in pair):
        raise ValueError("dualrev.numpy.pad: index can't contain negative values")
    if mode == "constant":
        unknown = set(kwargs) - {"constant_values"}
        values = _pairs(asarray(kwargs.get("constant_values", 0)), ndim)
    elif mode in _INDEX_MODES:
        unknown = set(kwargs) - ({"reflect_type"} if mode in ("reflect", "symmetric") else set())
        if kwargs.get("reflect_type", "even") != "even":
            raise NotImplementedError("dualrev.numpy.pad: reflect_type='odd' is not supported")
    else:
        raise NotImplementedError(f"dualrev.numpy.pad: mode={mode!r} is not supported; use 'constant', "
                                  f"{', '.join(map(repr, _INDEX_MODES))}")
    if unknown:
        raise ValueError(f"dualrev.numpy.pad: unsupported keyword arguments for mode {mode!r}: {sorted(unknown)}")
    dtype = dtype_of(x)
    for ax, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        if mode != "constant":
            x = getitem(x, _along(ax, np.pad(np.arange(np.shape(x)[ax]), (before, after), mode=mode)))
            continue
        pieces = [x]
        for side, width in ((0, before), (1, after)):
            if width:
                value = astype(getitem(values, (ax, side)), dtype)
                block = broadcast_to(value, np.shape(x)[:ax] + (width,) + np.shape(x)[ax + 1:])
                pieces.insert(0 if side == 0 else len(pieces), block)
        x = concatenate(pieces, axis=ax)
    return x
