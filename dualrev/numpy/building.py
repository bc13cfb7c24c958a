"""Building arrays, differentiable in the values they are built from: ``r_`` and ``c_``, append, insert, delete,
meshgrid, and linspace, logspace and geomspace with traced endpoints. Composites of the shape, indexing, ufuncs and
reductions families; imports core and those.
"""

from __future__ import annotations

import operator

import numpy as np

from dualrev.core import Tracer, _holds_tracer, concrete_value, implements
from dualrev.numpy.shape import (
    array,
    asarray,
    astype,
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    moveaxis,
    ravel,
    reshape,
    swapaxes,
    transpose,
)
from dualrev.numpy.ufuncs import exp, log, multiply, power, sign, where

__all__ = ["append", "c_", "delete", "geomspace", "insert", "linspace", "logspace", "meshgrid", "r_"]


def _traced(*xs):
    return any(isinstance(x, Tracer) or isinstance(x, (list, tuple)) and _holds_tracer(x) for x in xs)


# -- r_ and c_ --


class _Concatenator:
    """``np.r_`` / ``np.c_`` whose entries may be traced: slices, directives ("0,2,-1"), scalars and array-likes
    become arrays as in NumPy and are concatenated along the chosen axis. Without a traced entry it is NumPy's."""

    def __init__(self, numpy_version, axis, ndmin, trans1d):
        self.numpy_version, self.axis, self.ndmin, self.trans1d = numpy_version, axis, ndmin, trans1d

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if not _traced(*key):
            return self.numpy_version[key]
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        objs, kinds = [], []
        for k, item in enumerate(key):
            if isinstance(item, str):
                if k != 0:
                    raise ValueError("dualrev.numpy.r_: special directives must be the first entry")
                if item in ("r", "c"):
                    raise ValueError("dualrev.numpy.r_: the matrix directives 'r' and 'c' make np.matrix, which "
                                     "cannot hold traced values; use an axis directive such as '0,2'")
                try:
                    vec = [int(v) for v in item.split(",")]
                except ValueError as e:
                    raise ValueError(f"dualrev.numpy.r_: unknown special directive {item!r}") from e
                axis = vec[0]
                ndmin = vec[1] if len(vec) > 1 else ndmin
                trans1d = vec[2] if len(vec) > 2 else trans1d
                continue
            if isinstance(item, slice):
                new = np.r_[item]
                if ndmin > 1:
                    new = np.array(new, ndmin=ndmin)
                    if trans1d != -1:
                        new = new.swapaxes(-1, trans1d)
                objs.append(new)
                kinds.append(new.dtype)
            elif type(item) in (int, float, complex, bool):
                objs.append(item)
                kinds.append(item)  # a Python scalar is weak in the result dtype, as in NumPy
            else:
                item_ndim = np.ndim(concrete_value(asarray(item)))
                new = array(item, copy=False, ndmin=ndmin) if not isinstance(item, Tracer) else item
                if np.ndim(new) < ndmin:
                    new = reshape(new, (1,) * (ndmin - np.ndim(new)) + np.shape(new))
                if trans1d != -1 and item_ndim < ndmin:
                    k2, k1 = ndmin - item_ndim, trans1d
                    k1 = k1 + k2 + 1 if k1 < 0 else k1
                    axes = list(range(ndmin))
                    new = transpose(new, axes[:k1] + axes[k2:] + axes[k1:k2])
                objs.append(new)
                kinds.append(np.result_type(concrete_value(new)))
        dtype = np.result_type(*kinds)
        arrays = []
        for o in objs:
            o = astype(o, dtype) if isinstance(o, Tracer) else np.asarray(o, dtype)
            if np.ndim(o) < ndmin:
                o = reshape(o, (1,) * (ndmin - np.ndim(o)) + np.shape(o))
            arrays.append(o)
        return concatenate(arrays, axis=axis)

    def __len__(self):
        return 0


r_ = _Concatenator(np.r_, 0, 1, -1)
r_.__doc__ = "``np.r_``: concatenation along the first axis, of traced values too: ``dnp.r_[x, 0.0, y[1:]]``."
c_ = _Concatenator(np.c_, -1, 2, 0)
c_.__doc__ = "``np.c_``: columns side by side (second axis), of traced values too: ``dnp.c_[x, y]``."


# -- append, insert, delete --


@implements(np.append)
def append(arr, values, axis=None):
    """``np.append``: ``arr`` and ``values`` concatenated (both flattened when ``axis`` is None)."""
    arr, values = asarray(arr), asarray(values)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)])
    return concatenate([arr, values], axis=axis)


def _indices_not_traced(obj, name):
    if isinstance(obj, Tracer) or isinstance(obj, (list, tuple)) and _holds_tracer(obj):
        raise TypeError(f"dualrev.numpy.{name}: the indices cannot be traced (they decide the result's shape); pass "
                        "integers or a NumPy array")


@implements(np.delete)
def delete(arr, obj, axis=None):
    """``np.delete``: ``arr`` without the entries ``obj`` (an int, slice, integer or boolean array) along ``axis`` (of
    the flattened array when None). NumPy's own delete, done on the positions of arr's elements, says which stay:
    the result gathers them."""
    _indices_not_traced(obj, "delete")
    arr = asarray(arr)
    shape = np.shape(arr)
    kept = np.delete(np.arange(int(np.prod(shape))).reshape(shape), obj, axis)
    return getitem(ravel(arr), (kept,))


@implements(np.insert)
def insert(arr, obj, values, axis=None):
    """``np.insert``: ``values`` inserted before the indices ``obj`` along ``axis`` (of the flattened array when
    None), cast to arr's dtype. NumPy's own insert, done on the positions of the elements of ``arr`` and ``values``
    (broadcast as NumPy broadcasts them), says where each goes: the result gathers them, and a value NumPy repeats
    gets the sum of its cotangents."""
    _indices_not_traced(obj, "insert")
    arr, values = asarray(arr), asarray(values)
    shape, vshape = np.shape(arr), np.shape(values)
    size = int(np.prod(shape))
    dtype = np.result_type(concrete_value(arr))
    positions = np.insert(np.arange(size).reshape(shape), obj, size + np.arange(int(np.prod(vshape))).reshape(vshape),
                          axis)
    values = astype(values, dtype) if isinstance(values, Tracer) else np.asarray(values, dtype)
    return getitem(concatenate([ravel(arr), ravel(values)]), (positions,))


# -- grids and ranges --


@implements(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """``np.meshgrid``: coordinate arrays from 1-D coordinate vectors (``indexing`` "xy" or "ij"; ``sparse``)."""
    if indexing not in ("xy", "ij"):
        raise ValueError("dualrev.numpy.meshgrid: indexing must be 'xy' or 'ij'")
    xs = [ravel(asarray(x)) for x in xi]
    nd = len(xs)
    out = []
    for i, x in enumerate(xs):
        shape = [1] * nd
        shape[i] = -1
        out.append(reshape(x, shape))
    if indexing == "xy" and nd > 1:
        out = [swapaxes(o, 0, 1) for o in out]
    if not sparse:
        full = np.broadcast_shapes(*[np.shape(o) for o in out])
        out = [broadcast_to(o, full) for o in out]
    return tuple(out)


@implements(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """``np.linspace``, differentiable in ``start`` and ``stop`` (arrays broadcast as in NumPy, the new axis at
    ``axis``): ``start + i * (stop - start) / div``, with the last point exactly ``stop`` when ``endpoint``."""
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"dualrev.numpy.linspace: number of samples, {num}, must be non-negative")
    if not _traced(start, stop):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    start, stop = asarray(start), asarray(stop)
    dt = np.result_type(concrete_value(start), concrete_value(stop), float(num))  # NumPy's rule (a weak float)
    start, stop = astype(start, dt) if isinstance(start, Tracer) else np.asarray(start, dt), \
        astype(stop, dt) if isinstance(stop, Tracer) else np.asarray(stop, dt)
    div = (num - 1) if endpoint else num
    delta = stop - start
    shape = np.broadcast_shapes(np.shape(start), np.shape(stop))
    i = reshape(np.arange(num, dtype=dt), (-1,) + (1,) * len(shape))
    if div > 0:
        step = delta / div
        y = expand_dims(start, 0) + i * expand_dims(step, 0)
    else:
        step = np.nan * delta
        y = expand_dims(start, 0) + i * expand_dims(delta, 0)
    if endpoint and num > 1:
        last = np.arange(num) == num - 1
        y = where(reshape(last, (-1,) + (1,) * len(shape)), expand_dims(broadcast_to(stop, shape), 0),
                  broadcast_to(y, (num,) + shape))
    y = broadcast_to(y, (num,) + shape)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if dtype is not None:
        y = astype(y, dtype)
    return (y, step) if retstep else y


@implements(np.logspace)
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """``np.logspace``: ``base ** linspace(start, stop)``, differentiable in ``start``, ``stop`` and ``base``."""
    if not _traced(start, stop, base):
        return np.logspace(start, stop, num, endpoint, base, dtype, axis)
    y = linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    if type(base) not in (int, float):  # a Python number stays weak: float32 stays float32
        base = asarray(base)
    if np.ndim(base):
        base = expand_dims(base, axis)
    out = power(base, y)
    return out if dtype is None else astype(out, dtype)


@implements(np.geomspace)
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``np.geomspace``: a geometric progression from ``start`` to ``stop`` (same sign, nonzero), differentiable
    in both: ``sign * exp(linspace(log|start|, log|stop|))``, with the endpoints exactly ``start`` and ``stop``."""
    if not _traced(start, stop):
        return np.geomspace(start, stop, num, endpoint, dtype, axis)
    start, stop = asarray(start), asarray(stop)
    if np.any(concrete_value(start) == 0) or np.any(concrete_value(stop) == 0):
        raise ValueError("dualrev.numpy.geomspace: geometric sequence cannot include zero")
    if np.any(concrete_value(sign(start) != sign(stop))):  # every example's, under vmap
        raise ValueError("dualrev.numpy.geomspace: start and stop must have the same sign (real values)")
    s = sign(start)
    y = exp(linspace(log(s * start), log(s * stop), num=num, endpoint=endpoint))
    shape = np.shape(y)[1:]
    n = np.shape(y)[0]
    if n > 0:  # NumPy makes the endpoints exact
        first = reshape(np.arange(n) == 0, (-1,) + (1,) * len(shape))
        y = where(first, expand_dims(broadcast_to(s * start, shape), 0), y)
        if endpoint and n > 1:
            last = reshape(np.arange(n) == n - 1, (-1,) + (1,) * len(shape))
            y = where(last, expand_dims(broadcast_to(s * stop, shape), 0), y)
    y = multiply(expand_dims(s, 0), y)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    return y if dtype is None else astype(y, dtype)



# -- more shapes and copies --


@implements(np.broadcast_arrays)
def broadcast_arrays(*args, subok=False):
    """``np.broadcast_arrays``: the arguments broadcast against each other (a tuple)."""
    arrays = [asarray(a) for a in args]
    shape = np.broadcast_shapes(*[np.shape(a) for a in arrays])
    return tuple(broadcast_to(a, shape) for a in arrays)


@implements(np.block)
def block(arrays):
    """``np.block``: an array assembled from nested lists of blocks (the innermost lists joined along the last
    axis, the next ones along the one before, ...)."""

    def depth(x):
        return 1 + depth(x[0]) if isinstance(x, list) and x else (1 if isinstance(x, list) else 0)

    levels = depth(arrays)
    if isinstance(arrays, tuple):
        raise TypeError("dualrev.numpy.block: arrays is a tuple; only lists can be used to arrange blocks")

    def ndim_of(x):
        return max(ndim_of(e) for e in x) if isinstance(x, list) else np.ndim(asarray(x))  # one example's

    nd = max(levels, ndim_of(arrays))

    def assemble(x, level):
        if not isinstance(x, list):
            x = asarray(x)
            return reshape(x, (1,) * (nd - np.ndim(x)) + np.shape(x)) if np.ndim(x) < nd else x
        if not x:
            raise ValueError("dualrev.numpy.block: lists cannot be empty")
        return concatenate([assemble(e, level + 1) for e in x], axis=-(levels - level))

    return assemble(arrays, 0)


@implements(np.diagflat)
def diagflat(v, k=0):
    """``np.diagflat``: the flattened input as the k-th diagonal of a square matrix."""
    from dualrev.numpy.indexing import diag

    return diag(ravel(asarray(v)), k)


@implements(np.vander)
def vander(x, N=None, increasing=False):
    """``np.vander``: the powers of ``x`` as columns (decreasing unless ``increasing``)."""
    x = asarray(x)
    if np.ndim(x) != 1:
        raise ValueError("dualrev.numpy.vander: x must be a one-dimensional array or sequence.")
    n = np.shape(x)[0] if N is None else operator.index(N)
    powers = np.arange(n) if increasing else np.arange(n)[::-1]
    ones = np.ones(np.shape(x), np.result_type(concrete_value(x)))  # x ** 0, with no 0 * inf derivative at 0
    cols = [ones if p == 0 else x ** int(p) for p in powers]
    from dualrev.numpy.shape import stack

    return stack(cols, axis=1) if cols else reshape(x[:0], (np.shape(x)[0], 0))


@implements(np.matrix_transpose, np.linalg.matrix_transpose)
def matrix_transpose(x):
    """``np.matrix_transpose``: the last two axes swapped."""
    x = asarray(x)
    if np.ndim(x) < 2:
        raise ValueError("dualrev.numpy.matrix_transpose: input array must be at least 2-dimensional")
    return swapaxes(x, -1, -2)


@implements(np.rollaxis)
def rollaxis(a, axis, start=0):
    """``np.rollaxis``: ``axis`` moved to before position ``start``."""
    a = asarray(a)
    n = np.ndim(a)
    # NumPy's own rules (and errors), on a stand-in whose axis lengths name the axes
    stand_in = np.broadcast_to(np.empty((), np.uint8), tuple(range(2, n + 2)))
    dims = [d - 2 for d in np.rollaxis(stand_in, axis, start).shape]
    return a if dims == list(range(n)) else transpose(a, dims)


@implements(np.resize)
def resize(a, new_shape):
    """``np.resize``: the flattened array repeated (or cut) to fill ``new_shape``."""
    a = ravel(asarray(a))
    new_shape = (operator.index(new_shape),) if np.ndim(new_shape) == 0 else tuple(new_shape)
    size = int(np.prod(new_shape))
    n = np.shape(a)[0]
    if size == 0 or n == 0:
        return np.zeros(new_shape, np.result_type(concrete_value(a)))
    return reshape(getitem(a, (np.arange(size) % n,)), new_shape)


def _same(name):
    def same(a, *args, **kwargs):
        return asarray(a, kwargs.get("dtype")) if isinstance(a, Tracer) or _traced(a) else getattr(np, name)(
            a, *args, **kwargs)

    same.__name__ = name
    same.__doc__ = f"``np.{name}``: the values themselves (memory layout means nothing to a traced value)."
    return implements(getattr(np, name))(same)


ascontiguousarray = _same("ascontiguousarray")
asfortranarray = _same("asfortranarray")


@implements(np.asarray_chkfinite)
def asarray_chkfinite(a, dtype=None, order=None):
    """``np.asarray_chkfinite``: the values, after checking that every one is finite."""
    a = asarray(a, dtype)
    if not np.all(np.isfinite(concrete_value(a))):
        raise ValueError("array must not contain infs or NaNs")
    return a


@implements(np.astype)
def astype_function(x, dtype, /, *, copy=True, device=None):
    """``np.astype``: ``x.astype(dtype)``."""
    return astype(asarray(x), dtype)


__all__ += ["ascontiguousarray", "asarray_chkfinite", "asfortranarray", "block", "broadcast_arrays", "diagflat",
            "matrix_transpose", "resize", "rollaxis", "vander"]
