"""In-place writes on traced arrays, with NumPy's semantics: ``y[idx] = v``, ``y += v`` (and the other in-place
operators), ``out=`` on ufuncs, ``copy``, and ``np.zeros_like(x)`` & co. as traced buffers to write into.
Imports core and the shape, indexing and reductions families.

A write rebinds the traced array, the same Python object, to the functional update ``x.at[idx].set(v)``: every name
bound to that object sees the new value, as in NumPy. NumPy's views (basic slices, reshape, transpose, ...) share
memory with their base, so a write through one changes the others: each view a traced array makes is recorded with
where its elements sit in its root array, found by doing the same operation on a stand-in NumPy array of the root's
shape (a ``uint8`` "shadow" whose memory is never read), so NumPy itself decides view or copy (a reshape of a
transposed array is a copy), read-only or writable (broadcast_to, diagonal). A write through a view updates the root
and refreshes every live view of it; a write to the root refreshes its live views. Views are kept as weak references,
so a view nobody holds costs nothing.

A NumPy array cannot hold a traced value (NumPy converts the value before any dualrev code runs): the error says so
and names the way out (``np.zeros_like(x)``, ``dnp.zeros_like(x, shape=...)``, ``dnp.at``).
"""

from __future__ import annotations

import operator
import weakref

import numpy as np

from dualrev import core
from dualrev.core import NUMPY_TABLE, Tracer, implements
from dualrev.numpy.indexing import at
from dualrev.numpy.reductions import sum as _sum
from dualrev.numpy.shape import asarray, astype, getitem_p, ravel, reshape, reshape_p

__all__ = ["copy", "zeros_like", "ones_like", "empty_like", "full_like"]


# -- rebinding a tracer object to a new value --

_SLOTS: dict = {}  # tracer class -> the slots that make its value (not _alias, not __weakref__)


def _value_slots(cls):
    slots = _SLOTS.get(cls)
    if slots is None:
        slots = _SLOTS[cls] = tuple(s for c in cls.__mro__ for s in getattr(c, "__slots__", ())
                                    if s not in ("_alias", "__weakref__"))
    return slots


def _rebind(x, new):
    """Make the object ``x`` hold the value of the tracer ``new`` (same class; ``new`` may be of a higher level)."""
    if type(new) is not type(x):
        raise TypeError(
            "dualrev: x[idx] = v (or an in-place operator) writes a value traced by a transform nested inside the "
            f"one that traces x ({type(new).__name__} into {type(x).__name__}): x was made outside the inner "
            "grad/jvp/vmap, or from values that do not depend on its inputs (np.zeros_like(params) inside vmap). "
            "Make the array from a value of the inner function (np.zeros_like(xi), xi.copy() with xi its argument), "
            "or write x = x.at[idx].set(v)")
    for name in _value_slots(type(x)):
        try:
            setattr(x, name, getattr(new, name))
        except AttributeError:
            if hasattr(x, name):
                delattr(x, name)


# -- views: where a traced array's elements sit in the root array whose memory NumPy would share --


class _Root:
    """The alias record of a traced array that views were made of: weak references to them, and its shadow."""

    __slots__ = ("shape", "_shadow", "views", "limit")

    def __init__(self, shape):
        self.shape, self._shadow, self.views, self.limit = shape, None, [], 8

    @property
    def shadow(self):
        if self._shadow is None:
            self._shadow = np.empty(self.shape, np.uint8)  # a stand-in: only its layout is used, never its memory
        return self._shadow


class _View:
    """The alias record of a traced array made by a view-making operation: its root, and how NumPy would lay it
    out in the root's memory, worked out at the first write (view-making stays cheap when nothing is written)."""

    __slots__ = ("root", "base", "op", "_shadow")

    def __init__(self, root, base, op):
        self.root, self.base, self.op, self._shadow = root, base, op, None  # base: the parent's shadow, or None

    def shadow(self):
        """The shadow of this array inside its root's shadow, or None where NumPy makes a copy, not a view."""
        if self.op is not None:
            own = self.root._alias.shadow
            s = self.op(own if self.base is None else self.base)
            self._shadow = s if type(s) is np.ndarray and (s.base is own or s is own) else None
            self.op = self.base = None
        return self._shadow


def _alias(x):
    return getattr(x, "_alias", None)


def _as_root(x):
    a = x._alias = _Root(x.shape)
    return a


def _positions(s, base):
    """The flat positions in ``base`` (a C-contiguous uint8 array) of the elements of its view ``s``."""
    start = s.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    pos = np.full(s.shape, start, np.intp)
    for k, (n, stride) in enumerate(zip(s.shape, s.strides)):
        pos += (np.arange(n) * stride).reshape((n,) + (1,) * (s.ndim - k - 1))
    return pos


def _track(out, x, shadow_op):
    """Record the traced results of a view-making operation on ``x`` as possible views of x's root (NumPy's
    ``shadow_op`` on the root's shadow decides, at the first write). On the path of every slice: kept lean."""
    if type(out) is tuple or type(out) is list:
        for k, o in enumerate(out):
            _track(o, x, lambda s, k=k: shadow_op(s)[k])
        return out
    if out is x or not isinstance(out, Tracer) or not isinstance(x, Tracer):
        return out
    a = getattr(x, "_alias", None)
    if a is None:
        root, base, record = x, None, _as_root(x)
    elif type(a) is _Root:
        root, base, record = x, None, a
    else:  # x is a view itself, or a copy that looked like one
        base = a.shadow()
        if base is None:
            root, record = x, _as_root(x)
        else:
            root = a.root
            record = root._alias
    out._alias = _View(root, base, shadow_op)
    views = record.views
    if len(views) >= record.limit:  # forget the views nobody holds any more
        views[:] = [r for r in views if r() is not None]
        record.limit = 2 * len(views) + 8
    views.append(weakref.ref(out))
    return out


def _tracking(f, np_func):
    def tracked(a, *args, **kwargs):
        return _track(f(a, *args, **kwargs), a, lambda s: np_func(s, *args, **kwargs))

    tracked.__name__, tracked.__doc__ = f.__name__, f.__doc__
    return tracked


def _getitem(x, idx):
    out = _getitem_untracked(x, idx)
    if type(idx) is tuple:
        if any(isinstance(i, Tracer) for i in idx):
            return out  # traced indices are advanced indices: a copy
    elif type(idx) is int:
        if len(x.shape) == 1:
            return out  # an element of a vector: a copy (the hot path of scalar code)
    elif isinstance(idx, Tracer):
        return out
    if not isinstance(out, Tracer):
        return out
    return _track(out, x, lambda s: s[idx])


_getitem_untracked = NUMPY_TABLE[operator.getitem]
_getitem.__doc__ = _getitem_untracked.__doc__
NUMPY_TABLE[operator.getitem] = _getitem
_VIEWS = (np.reshape, np.ravel, np.transpose, np.permute_dims, np.swapaxes, np.moveaxis, np.squeeze,
          np.expand_dims, np.diagonal, np.broadcast_to, np.flip, np.fliplr, np.flipud, np.rot90, np.atleast_1d,
          np.atleast_2d, np.atleast_3d, np.split, np.array_split, np.hsplit, np.vsplit, np.dsplit, np.unstack,
          np.real, np.matrix_transpose)
for _f in _VIEWS:
    if _f in NUMPY_TABLE:  # np.f(x), x.method() and dnp.f(x) all make tracked views
        NUMPY_TABLE[_f] = globals()[_f.__name__] = _tracking(NUMPY_TABLE[_f], _f)
        __all__.append(_f.__name__)


# -- writes --


def _refresh(root):
    """Rebind every live view of ``root`` to its elements of root's (new) value."""
    record = _alias(root)
    if type(record) is not _Root or not record.views:
        return
    alive, flat = [], None
    for ref in record.views:
        v = ref()
        if v is None or type(v._alias) is not _View:  # gone, or found to be a copy since
            continue
        s = v._alias.shadow()
        if s is None:  # NumPy made a copy: an array of its own
            _as_root(v)
            continue
        alive.append(ref)
        flat = ravel(root) if flat is None else flat
        _rebind(v, getitem_p(flat, idx=(_positions(s, record.shadow),)))
    record.views = alive


@implements(core.index_write)
def setitem(x, idx, value):
    """``x[idx] = value`` on a traced ``x``: ``x`` (and every traced view sharing its memory in NumPy) now holds
    ``x.at[idx].set(value)``, cast to x's dtype as NumPy casts."""
    if isinstance(idx, Tracer) and idx._trace.batched and idx.dtype == np.bool_:
        # a mask that differs between examples (vmap): x[mask] = scalar is a where, the same for every example
        idx, value = Ellipsis, _masked_write(x, idx, value)
    alias = _alias(x)
    if type(alias) is _View:
        s = alias.shadow()
        if s is None:  # NumPy made a copy, not a view: x is an array of its own
            _as_root(x)
        else:  # write into the root, then refresh the root's views (this one among them)
            if not s.flags.writeable:
                raise ValueError("dualrev: assignment destination is read-only (NumPy makes this view read-only, "
                                 "e.g. from broadcast_to or diagonal); write into a copy: y = x.copy()")
            root = alias.root
            target = _positions(s, root._alias.shadow)[np.asarray(idx) if isinstance(idx, list) else idx]
            _rebind(root, reshape(at(ravel(root))[target].set(value), root.shape))
            _refresh(root)
            return
    if (idx is Ellipsis and type(value) is type(x) and value.shape == x.shape and value.dtype == x.dtype
            and value is not x):
        _rebind(x, value)  # a whole new value of the same kind (x += v): no update to compute
    else:
        _rebind(x, at(x)[idx].set(value))
    _refresh(x)


def _masked_write(x, mask, value):
    shape = x.shape
    if mask.shape != shape[:len(mask.shape)]:
        raise IndexError(f"dualrev: boolean index of shape {mask.shape} does not match the array's shape {shape}")
    value = asarray(value)
    if (value.size if isinstance(value, Tracer) else np.size(value)) != 1:  # one example's size
        raise TypeError("dualrev: x[mask] = values with a mask that differs between examples under vmap takes one "
                        "value (the number of places differs per example); write x[...] = dnp.where(mask, v, x)")
    from dualrev.numpy.ufuncs import where

    mask = reshape(mask, mask.shape + (1,) * (len(shape) - len(mask.shape)))
    value = reshape(value, ())
    return where(mask, astype(value, x.dtype) if value.dtype != x.dtype else value, x)


@implements(core.inplace_operator)
def inplace(x, np_func, value):
    """``x += value`` and the other in-place operators on a traced ``x``: the result must have x's shape and cast to
    its dtype under NumPy's ``same_kind`` rule; then ``x[...] = result``."""
    result = core._dispatch(np_func, x, value)
    shape, dtype = np.shape(result), np.result_type(core.concrete_value(result))
    if shape != x.shape:
        raise ValueError(f"dualrev: non-broadcastable output operand with shape {x.shape} doesn't match the "
                         f"broadcast shape {shape} (numpy.{np_func.__name__} in place)")
    if dtype != x.dtype:
        if not np.can_cast(dtype, x.dtype, "same_kind"):
            raise TypeError(f"dualrev: cannot cast numpy.{np_func.__name__} output from {dtype} to {x.dtype} with "
                            "casting rule 'same_kind' (an in-place operator keeps the array's dtype)")
        result = astype(result, x.dtype)
    setitem(x, Ellipsis, result)
    return x


@implements(np.copy)
def copy(a, order="K", subok=False):
    """``np.copy``: a new array with the same values (a new traced object: writes to it leave ``a`` alone)."""
    if isinstance(a, Tracer):
        return reshape_p(a, shape=a.shape)
    return np.copy(a, order=order, subok=subok)


# -- buffers to write traced values into --


def _traced_constant(value, like):
    """``value`` (a NumPy array) as a value at every level of the tracer ``like``, with a zero derivative: a buffer
    that traced values can be written into."""
    zero = _sum(getitem_p(ravel(like), idx=(slice(0, 0),)))  # exactly 0, and traced wherever ``like`` is
    return astype(value + zero, value.dtype)


def _like(np_func):
    def like(a, *args, **kwargs):
        traced = isinstance(a, Tracer)
        if traced:  # only the shape and dtype of one example matter to NumPy
            proto = np.broadcast_to(np.empty((), a.dtype), a.shape)
        out = np_func(proto if traced else a, *args, **kwargs)
        if traced and out.dtype.kind in "fc":
            return _traced_constant(out, a)
        return out

    like.__name__ = np_func.__name__
    like.__doc__ = (f"``np.{np_func.__name__}``: a new array with no derivative. For a traced ``a`` of a float "
                    "dtype it is traced too (at a's levels, with a zero derivative), so traced values can be "
                    f"written into it: ``out = np.{np_func.__name__}(x); out[1:] = x[:-1] ** 2``.")
    implements(np_func, nondiff=True)(like)
    return like


zeros_like = _like(np.zeros_like)
ones_like = _like(np.ones_like)
empty_like = _like(np.empty_like)
full_like = _like(np.full_like)


# -- NumPy's functions that write into their first argument --


def _target(a, name):
    if not isinstance(a, Tracer):
        raise TypeError(f"dualrev.numpy.{name}: a NumPy array cannot hold a traced value; make the array traced "
                        "(np.zeros_like(x), x.copy()) or build the result with dnp.where / dnp.at")
    return a


def _write_flat(a, positions, values):
    """a.flat[positions] = values (repeated to fill, as NumPy's put/place do), through setitem."""
    shape = a.shape
    positions = np.asarray(positions, np.intp).ravel()
    if positions.size == 0:
        return
    values = ravel(asarray(values))
    n = np.shape(values)[0]
    if n == 0:
        raise ValueError("cannot write an empty set of values into a non-empty selection")
    if n != positions.size:
        values = getitem_p(values, idx=(np.arange(positions.size) % n,))
    setitem(a, np.unravel_index(positions, shape), values)


@implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    """``np.copyto``: ``src`` (broadcast) written into the traced ``dst`` where ``where`` holds."""
    _target(dst, "copyto")
    src = asarray(src)
    if not np.can_cast(np.result_type(core.concrete_value(src)), dst.dtype, casting):
        raise TypeError(f"Cannot cast array data from {np.result_type(core.concrete_value(src))} to {dst.dtype} "
                        f"according to the rule {casting!r}")
    setitem(dst, Ellipsis, _where(where, src, dst) if where is not True else _broadcast(src, dst.shape))


@implements(np.fill_diagonal)
def fill_diagonal(a, val, wrap=False):
    """``np.fill_diagonal``: the main diagonal of the traced ``a`` set to ``val`` (repeated), NumPy's positions."""
    _target(a, "fill_diagonal")
    mask = np.zeros(a.shape, bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    _write_flat(a, np.flatnonzero(mask), val)


@implements(np.place)
def place(arr, mask, vals):
    """``np.place``: the elements of the traced ``arr`` where ``mask`` holds set to ``vals``, in order, repeated."""
    _target(arr, "place")
    if isinstance(mask, Tracer) and mask._trace.batched:
        raise TypeError("dualrev.numpy.place: under vmap the number of places differs per example; use "
                        "np.putmask(arr, mask, values) or arr[...] = dnp.where(mask, values, arr)")
    _write_flat(arr, np.flatnonzero(np.broadcast_to(np.asarray(core.concrete_value(mask), bool), arr.shape)), vals)


@implements(np.put)
def put(a, ind, v, mode="raise"):
    """``np.put``: ``a.flat[ind] = v`` on the traced ``a`` (``v`` repeated; ``mode`` 'raise', 'wrap' or 'clip')."""
    _target(a, "put")
    size = int(np.prod(a.shape))
    ind = np.asarray(core.concrete_value(ind), np.intp)
    if mode == "wrap":
        ind = ind % size
    elif mode == "clip":
        ind = np.clip(ind, 0, size - 1)
    elif np.any((ind < -size) | (ind >= size)):
        raise IndexError(f"index {ind.max()} is out of bounds for axis 0 with size {size}")
    _write_flat(a, ind % size if size else ind, v)


@implements(np.putmask)
def putmask(a, mask, values):
    """``np.putmask``: ``a.flat[i] = values.flat[i % len(values)]`` where ``mask`` holds, on the traced ``a`` (a
    ``where``, so the mask may differ per example under vmap)."""
    _target(a, "putmask")
    size = int(np.prod(a.shape))
    values = ravel(asarray(values))
    n = np.shape(values)[0]
    if size and n == 0:
        raise ValueError("cannot write an empty set of values into a non-empty array")
    full = reshape(getitem_p(values, idx=(np.arange(size) % n,)), a.shape) if size else values
    setitem(a, Ellipsis, _where(mask, full, a))


@implements(np.put_along_axis)
def put_along_axis(arr, indices, values, axis):
    """``np.put_along_axis``: ``values`` written into the traced ``arr`` at ``indices`` along ``axis``."""
    _target(arr, "put_along_axis")
    shape = arr.shape
    labels = np.arange(int(np.prod(shape))).reshape(shape)
    if axis is None:
        labels, axis = labels.ravel(), 0
    positions = np.take_along_axis(labels, np.asarray(core.concrete_value(indices), np.intp), axis=axis)
    setitem(arr, np.unravel_index(positions, shape), values)


def _where(condition, x, y):
    from dualrev.numpy.ufuncs import where

    return where(condition, x, y)


def _broadcast(x, shape):
    from dualrev.numpy.shape import broadcast_to

    return broadcast_to(x, shape)


__all__ += ["copyto", "fill_diagonal", "place", "put", "put_along_axis", "putmask"]


# -- np.zeros(n, like=x) & co. (NumPy's NEP 35): buffers at x's levels --


def _made_like(np_func):
    def made(*args, like=None, **kwargs):
        out = np_func(*args, **kwargs)
        if isinstance(like, Tracer) and isinstance(out, np.ndarray) and out.dtype.kind in "fc":
            return _traced_constant(out, like)
        return out

    made.__name__ = np_func.__name__
    made.__doc__ = (f"``np.{np_func.__name__}(..., like=x)`` with a traced ``x``: the new array, traced at x's levels "
                    "with a zero derivative, so traced values can be written into it (NumPy's ``like=`` protocol).")
    core.LIKE_FUNCTIONS.add(np_func)
    return implements(np_func, nondiff=True)(made)


for _f in (np.zeros, np.ones, np.empty, np.full, np.eye, np.identity, np.arange):
    _made_like(_f)


def _array_like_of(np_func):
    def made(obj, *args, like=None, **kwargs):
        from dualrev.numpy.shape import array as _array

        out = _array(obj, *args, **kwargs) if np_func is np.array else asarray(obj, *args, **kwargs)
        if isinstance(like, Tracer) and isinstance(out, np.ndarray) and out.dtype.kind in "fc":
            return _traced_constant(out, like)
        return out

    made.__name__ = np_func.__name__
    name = np_func.__name__
    made.__doc__ = (f"``dnp.{name}([...])`` builds arrays from traced values (plain ``np.{name}`` converts them "
                    f"first), and so does ``np.{name}(obj, like=x)`` with a traced ``x``, whose result is traced at "
                    "x's levels so that traced values can be written into it.")
    core.LIKE_FUNCTIONS.add(np_func)
    return implements(np_func)(made)


for _f in (np.array, np.asarray):
    _array_like_of(_f)
