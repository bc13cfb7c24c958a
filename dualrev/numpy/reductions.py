"""Reductions and scans: sum, prod, mean, average, var, std, max and min, ptp, nansum, nanmean, median, sort,
cumsum, cumprod, over an axis (int, tuple, negative, None) with keepdims where NumPy has them; and the queries
argmax, argmin, argsort, nonzero, searchsorted, count_nonzero, any, all, which carry no derivative.

Primitives: sum, prod, max, min, cumsum, cumprod; permute (a gather along one axis by a permutation, with the
inverse permutation as its transpose), which sort and median are made of; and the queries without derivative
(argmax, argmin, argsort, searchsorted, count_nonzero, any, all), primitives so that vmap computes them per example.
The others are composites of primitives. The rules of prod and cumprod use products and sums only, never a division
by an element, so their derivatives of every order are exact where elements are zero (cumprod's rules solve linear
recurrences with an associative scan: O(log n) operations). Batching rules shift the axis by one (the batch axis).
Imports core, _batch, shape and ufuncs.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from dualrev.core import Tracer, concrete_test, dtype_of, defprim, implements, primal_value
from dualrev.numpy._batch import batch_size, bring_batch, example_ndim, shift_axis
from dualrev.numpy.shape import astype, broadcast_to, concatenate, getitem, ravel, reshape, stack, transpose
from dualrev.numpy.ufuncs import (
    _no_batched_shape, equal, imag, isnan, logical_not, maximum, minimum, real, sqrt, where,
)

__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "argsort", "average", "count_nonzero", "cumprod", "cumsum",
    "max", "mean", "median", "min", "nanmean", "nansum", "nonzero", "prod", "ptp", "searchsorted", "sort", "std",
    "sum", "var",
]


def normalize_axis(axis, ndim: int, name: str):
    """``axis`` as a sorted tuple of non-negative ints (``None`` means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"dualrev.numpy.{name}: axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"dualrev.numpy.{name}: repeated axis in {axis}")
    return tuple(sorted(out))


def keepdims_shape(shape, axis):
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


def _as_array(a, dtype=None):
    """A traced value or a NumPy array (lists and scalars converted), cast to ``dtype`` if given."""
    if not isinstance(a, Tracer):
        a = np.asarray(a)
    return a if dtype is None else astype(a, dtype)


def _inexact(a):
    """Integer and bool arrays as float64, as NumPy's mean and var compute them."""
    return a if dtype_of(a).kind in "fc" else astype(a, np.float64)


def _count(shape, axes) -> int:
    return int(np.prod([shape[i] for i in axes]))


def _no_extras(name, out=None, where=None, initial=None, **unused):
    if out is not None or where is not None or initial is not None or unused:
        raise TypeError(f"dualrev.numpy.{name}: out=, where=, initial= and other extras are not supported")


def _masked(a, where_, fill):
    """``a`` with the elements ``where_`` (NumPy's ``where=``, broadcast to a's shape) leaves out set to ``fill``."""
    return a if where_ is None else where(where_, a, fill)


def _count_where(shape, axes, where_, dtype, keepdims):
    """The number of elements each reduction over ``axes`` takes in, ``where=`` counted (no derivative)."""
    if where_ is None:
        return _count(shape, axes)
    return sum(astype(broadcast_to(where_, shape), dtype), axes, keepdims=keepdims)


def _scan_axis(a, axis, name):
    """(array, int axis) for a scan or a sort along ``axis``; ``None`` (and a 0-d array) means the flattened array."""
    if axis is None or np.ndim(a) == 0:
        return ravel(a), 0
    return a, normalize_axis(int(axis), np.ndim(a), name)[0]


# -- slicing along one axis, for the rules --


def _slice(x, axis, start=None, stop=None, step=None):
    return getitem(x, (slice(None),) * axis + (slice(start, stop, step),))


def _flip(x, axis):
    return _slice(x, axis, step=-1)


def _shift(x, axis, fill):
    """``[fill, x[0], ..., x[n-2]]`` along ``axis``: an exclusive scan from an inclusive one."""
    shape = list(np.shape(x))
    shape[axis] = 1
    return concatenate([np.full(shape, fill, x.dtype), _slice(x, axis, stop=-1)], axis=axis)


def _keep(ct, x_shape, axis, keepdims):
    """A reduction's cotangent with the reduced axes put back as size-1 axes (it then broadcasts against x)."""
    return ct if keepdims else reshape(ct, keepdims_shape(x_shape, axis))


# -- batching rules: one example's axes are the batch's axes shifted by one --


def _batch_axes(prim):
    def rule(args, batched, *, axis, **params):
        return prim(args[0], axis=tuple(a + 1 for a in axis), **params)

    return rule


def _batch_axis(prim):
    def rule(args, batched, *, axis, **params):
        return prim(args[0], axis=axis + 1, **params)

    return rule


# -- sum --


def _sum_vjp(ct, ans, x, *, axis, keepdims):
    return broadcast_to(_keep(ct, np.shape(x), axis, keepdims), np.shape(x))


_sum = defprim(lambda x, *, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims), name="sum",
               supports_complex=True, vjp_reads=((),),
               jvp=(lambda dx, ans, x, *, axis, keepdims: _sum(dx, axis=axis, keepdims=keepdims),),
               vjp=(_sum_vjp,), batch=_batch_axes(lambda x, **params: _sum(x, **params)))


@implements(np.sum)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None, **kwargs):
    """``np.sum``; ``where=`` leaves elements out, ``initial=`` is added.

    >>> sum(x, axis=0, keepdims=True)
    """
    _no_extras("sum", out, **kwargs)
    a = _masked(_as_array(a, dtype), where, 0)
    total = _sum(a, axis=normalize_axis(axis, np.ndim(a), "sum"), keepdims=bool(keepdims))
    return total if initial is None else total + initial


# -- scans: cumsum, cumprod --


def _interleave(a, b, axis):
    """``[a0, b0, a1, b1, ...]`` along ``axis``; ``a`` has as many elements as ``b``, or one more."""
    na, nb = np.shape(a)[axis], np.shape(b)[axis]
    head = a if na == nb else _slice(a, axis, stop=-1)
    shape = list(np.shape(head))
    shape[axis] = 2 * nb
    out = reshape(stack([head, b], axis=axis + 1), shape)
    return out if na == nb else concatenate([out, _slice(a, axis, start=-1)], axis=axis)


def _associative_scan(combine, elems, axis):
    """Inclusive scan of ``combine`` (associative, on lists of arrays: earlier, later) along ``axis``, in O(log n)
    dualrev operations (the Ladner-Fischer scheme of ``jax.lax.associative_scan``)."""
    n = np.shape(elems[0])[axis]
    if n < 2:
        return elems
    odd = _associative_scan(combine, combine([_slice(e, axis, 0, -1, 2) for e in elems],
                                             [_slice(e, axis, 1, None, 2) for e in elems]), axis)
    if (n - 1) // 2 == 0:  # n == 2: the only even element is the first one
        even = [_slice(e, axis, 0, 1) for e in elems]
    else:
        left = odd if n % 2 else [_slice(e, axis, 0, -1) for e in odd]
        even = [concatenate([_slice(e, axis, 0, 1), r], axis=axis)
                for e, r in zip(elems, combine(left, [_slice(e, axis, 2, None, 2) for e in elems]))]
    return [_interleave(e, o, axis) for e, o in zip(even, odd)]


def _combine_affine(first, second):
    # h -> a1 h + b1, then h -> a2 h + b2: h -> (a1 a2) h + (a2 b1 + b2)
    (a1, b1), (a2, b2) = first, second
    return [a1 * a2, a2 * b1 + b2]


def _linear_recurrence(a, b, axis):
    """``h[i] = a[i] h[i-1] + b[i]`` along ``axis`` from ``h[-1] = 0``, with products and sums only."""
    return _associative_scan(_combine_affine, [a, b], axis)[1]


_cumsum = defprim(
    lambda x, *, axis: np.cumsum(x, axis=axis), name="cumsum", supports_complex=True, vjp_reads=((),),
    jvp=(lambda dx, ans, x, *, axis: _cumsum(dx, axis=axis),),
    vjp=(lambda ct, ans, x, *, axis: _flip(_cumsum(_flip(ct, axis), axis=axis), axis),),
    batch=_batch_axis(lambda x, **params: _cumsum(x, **params)),
)


def _cumprod_jvp(dx, ans, x, *, axis):
    # y[i] = y[i-1] x[i], so dy[i] = x[i] dy[i-1] + y[i-1] dx[i]
    return _linear_recurrence(x, _shift(ans, axis, 1.0) * dx, axis)


def _cumprod_vjp(ct, ans, x, *, axis):
    # x̄[j] = y[j-1] g[j], with g[j] = ct[j] + x[j+1] g[j+1]: the same recurrence, backwards
    g = _linear_recurrence(_shift(_flip(x, axis), axis, 1.0), _flip(ct, axis), axis)
    return _shift(ans, axis, 1.0) * _flip(g, axis)


_cumprod = defprim(lambda x, *, axis: np.cumprod(x, axis=axis), name="cumprod", supports_complex=True,
                   jvp=(_cumprod_jvp,),
                   vjp=(_cumprod_vjp,), batch=_batch_axis(lambda x, **params: _cumprod(x, **params)),
                   note="exact derivatives of every order with zeros (no division), as in JAX")


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    """``np.cumsum``; ``axis=None`` scans the flattened array."""
    _no_extras("cumsum", out)
    a, axis = _scan_axis(_as_array(a, dtype), axis, "cumsum")
    return _cumsum(a, axis=axis)


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    """``np.cumprod``; ``axis=None`` scans the flattened array. Derivatives of every order are exact where elements
    are zero, as in JAX: the rules use products and sums only (linear recurrences solved by an associative scan)."""
    _no_extras("cumprod", out)
    a, axis = _scan_axis(_as_array(a, dtype), axis, "cumprod")
    return _cumprod(a, axis=axis)


# -- prod --


def _prod_others(x, axis):
    """For each element of x, the product of the other elements reduced with it, without dividing: the products of
    the elements before it and after it along the flattened reduced axes (exact with zeros)."""
    shape = np.shape(x)
    n = _count(shape, axis)
    if n <= 1:
        return np.ones(shape, x.dtype)
    kept = [i for i in range(len(shape)) if i not in axis]
    perm = kept + list(axis)
    last = len(kept)
    flat = reshape(transpose(x, perm), [shape[i] for i in kept] + [n])
    before = _shift(_cumprod(flat, axis=last), last, 1.0)
    after = _flip(_shift(_cumprod(_flip(flat, last), axis=last), last, 1.0), last)
    others = reshape(before * after, [shape[i] for i in perm])
    return transpose(others, tuple(int(i) for i in np.argsort(perm)))


_prod = defprim(
    lambda x, *, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims), name="prod", supports_complex=True,
    jvp=(lambda dx, ans, x, *, axis, keepdims: _sum(dx * _prod_others(x, axis), axis=axis, keepdims=keepdims),),
    vjp=(lambda ct, ans, x, *, axis, keepdims: _keep(ct, np.shape(x), axis, keepdims) * _prod_others(x, axis),),
    batch=_batch_axes(lambda x, **params: _prod(x, **params)),
    note="exact derivatives of every order with zeros (products of the other elements, no division), as in JAX",
)


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None, **kwargs):
    """``np.prod``; ``where=`` leaves elements out, ``initial=`` multiplies. Derivatives of every order are exact
    with one or several zeros, as in JAX: the derivative in an element is the product of the others, computed
    without division."""
    _no_extras("prod", out, **kwargs)
    a = _masked(_as_array(a, dtype), where, 1)
    p = _prod(a, axis=normalize_axis(axis, np.ndim(a), "prod"), keepdims=bool(keepdims))
    return p if initial is None else p * initial


# -- max, min --


def _chooser_weights(ans, x, axis, keepdims):
    """Where x attains the reduced value, 1 / the number of such elements; else 0. x's dtype; a plain array (a
    batch of them under vmap): the comparison carries no derivative."""
    hits = astype(equal(x, reshape(ans, keepdims_shape(np.shape(x), axis))), x.dtype)
    return hits / _sum(hits, axis=axis, keepdims=True)


def _chooser(np_func, name):
    def jvp(dx, ans, x, *, axis, keepdims):
        return _sum(dx * _chooser_weights(ans, x, axis, keepdims), axis=axis, keepdims=keepdims)

    def vjp(ct, ans, x, *, axis, keepdims):
        return _keep(ct, np.shape(x), axis, keepdims) * _chooser_weights(ans, x, axis, keepdims)

    prim = defprim(lambda x, *, axis, keepdims: np_func(x, axis=axis, keepdims=keepdims), name=name,
                   jvp=(jvp,), vjp=(vjp,), batch=_batch_axes(lambda x, **params: prim(x, **params)),
                   supports_complex=True,  # the equality mask works for complex values (ordered lexicographically)
                   note="ties split the derivative evenly between the tied elements, as in JAX")
    return prim


_max = _chooser(np.max, "max")
_min = _chooser(np.min, "min")


def _extreme(prim, combine, name, a, axis, keepdims, initial, where_):
    a = _as_array(a)
    if where_ is not None:
        if initial is None:
            raise ValueError(f"dualrev.numpy.{name}: reduction operation '{name}imum' does not have an identity, so "
                             "to use a where mask one has to specify 'initial'")
        a = _masked(a, where_, initial)
    axes = normalize_axis(axis, np.ndim(a), name)
    if initial is not None and _count(np.shape(a), axes) == 0:  # nothing to reduce: initial, as in NumPy
        shape = keepdims_shape(np.shape(a), axes) if keepdims else tuple(
            n for i, n in enumerate(np.shape(a)) if i not in axes)
        return np.full(shape, initial, dtype_of(a))
    m = prim(a, axis=axes, keepdims=bool(keepdims))
    return m if initial is None else combine(m, initial)


@implements(np.max, np.amax)
def max(a, axis=None, out=None, keepdims=False, initial=None, where=None, **kwargs):
    """``np.max`` (and ``np.amax``); ``where=`` (with ``initial=``) leaves elements out, ``initial=`` takes part.
    Ties split the derivative evenly between the tied elements, as in JAX."""
    _no_extras("max", out, **kwargs)
    return _extreme(_max, maximum, "max", a, axis, keepdims, initial, where)


@implements(np.min, np.amin)
def min(a, axis=None, out=None, keepdims=False, initial=None, where=None, **kwargs):
    """``np.min`` (and ``np.amin``); ``where=`` (with ``initial=``) leaves elements out, ``initial=`` takes part.
    Ties split the derivative evenly between the tied elements, as in JAX."""
    _no_extras("min", out, **kwargs)
    return _extreme(_min, minimum, "min", a, axis, keepdims, initial, where)


amax = max
amin = min


@implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    """``np.ptp``: ``max - min``; ties split as in max and min (so the derivative is 0 at a constant input, as in
    JAX)."""
    _no_extras("ptp", out)
    return max(a, axis, keepdims=keepdims) - min(a, axis, keepdims=keepdims)


# -- means and moments --


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None, **kwargs):
    """``np.mean``: the sum divided by the number of elements reduced (those ``where=`` keeps)."""
    _no_extras("mean", out, **kwargs)
    a = _as_array(a)
    axes = normalize_axis(axis, np.ndim(a), "mean")
    total = sum(a, axes, dtype=dtype, keepdims=keepdims, where=where)
    return total / _count_where(np.shape(a), axes, where, dtype_of(total), keepdims)


_mean = mean


def _axis_in_given_order(axis, ndim, name):
    normalize_axis(axis, ndim, name)  # validates
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(int(i) % ndim for i in axes)


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """``np.average``: ``sum(a * weights) / sum(weights)`` (both may be traced); weights of a's shape, or of the
    shape of a along ``axis``. ``returned=True`` also returns the sum of the weights."""
    a = _as_array(a)
    shape = np.shape(a)
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        scl = dtype_of(avg).type(math.prod(shape) / math.prod(np.shape(avg)))
    else:
        w = _as_array(weights)
        if np.shape(w) != shape:
            if axis is None:
                raise TypeError("dualrev.numpy.average: axis must be specified when shapes of a and weights differ")
            order = _axis_in_given_order(axis, len(shape), "average")
            if np.shape(w) != tuple(shape[i] for i in order):
                raise ValueError("dualrev.numpy.average: shape of weights must be consistent with shape of a "
                                 "along the specified axis")
            w = reshape(transpose(w, tuple(int(i) for i in np.argsort(order))),
                        tuple(n if i in order else 1 for i, n in enumerate(shape)))
        scl = sum(w, axis, keepdims=keepdims)
        if concrete_test(lambda v: np.any(np.asarray(v) == 0.0), scl):  # every example's, under vmap
            raise ZeroDivisionError("dualrev.numpy.average: weights sum to zero, can't be normalized")
        avg = sum(a * w, axis, keepdims=keepdims) / scl
    if not returned:
        return avg
    return avg, broadcast_to(scl, np.shape(avg))


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None):
    """``np.var``: the mean of the squared deviations from the mean, divided by ``n - ddof`` instead of ``n``
    (``correction`` is ``ddof``'s other name); ``mean=`` may give the mean, with keepdims shape. Of complex values,
    the mean of ``|x - mean|**2``, real, as in NumPy."""
    _no_extras("var", out)
    if correction is not None:
        if ddof != 0:
            raise ValueError("dualrev.numpy.var: ddof and correction can't be provided simultaneously")
        ddof = correction
    a = _inexact(_as_array(a, dtype))
    axes = normalize_axis(axis, np.ndim(a), "var")
    centered = a - (_mean(a, axes, keepdims=True, where=where) if mean is None else mean)
    if dtype_of(centered).kind == "c":  # |c|**2, real, as NumPy computes a complex variance
        centered_squared = real(centered) * real(centered) + imag(centered) * imag(centered)
    else:
        centered_squared = centered * centered
    squares = sum(centered_squared, axes, keepdims=keepdims, where=where)
    if where is None:
        return squares / builtins.max(_count(np.shape(a), axes) - ddof, 0)
    return squares / maximum(_count_where(np.shape(a), axes, where, squares.dtype, keepdims) - ddof, 0)


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None):
    """``np.std``: ``sqrt(var)``. At a constant input (zero variance) the derivative is nan, as in JAX: sqrt has
    an infinite slope at 0 and the variance a zero one."""
    return sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean, correction=correction))


# -- nan-ignoring --


@implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``np.nansum``: the sum with NaNs replaced by 0 (their derivative is 0, as in JAX)."""
    _no_extras("nansum", out, **kwargs)
    a = _as_array(a, dtype)
    return sum(where(isnan(a), 0.0, a), axis, keepdims=keepdims)


@implements(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``np.nanmean``: nansum divided by the number of non-NaN elements (NaNs get a derivative of 0, as in JAX)."""
    _no_extras("nanmean", out, **kwargs)
    a = _inexact(_as_array(a, dtype))
    total = nansum(a, axis, keepdims=keepdims)
    # a plain array (a batch of them under vmap): the count carries no derivative
    count = sum(astype(logical_not(isnan(a)), dtype_of(total)), axis, keepdims=keepdims)
    return total / count


# -- queries: no derivative; plain NumPy values from traced operands, one per example under vmap --


def _batch_query_axes(prim):
    # axis None (every axis) keeps NumPy's scalar results outside vmap; under vmap it means every example axis
    def rule(args, batched, *, axis, keepdims):
        x = args[0]
        return prim(x, axis=shift_axis(axis, example_ndim(x, True)), keepdims=keepdims)

    return rule


def _query_primitive(np_func, axes):
    """A primitive without derivative for ``np_func(x, axis=..., keepdims=...)``: one int axis, or (``axes``) a
    tuple of axes or None."""
    prim = defprim(lambda x, *, axis, keepdims: np_func(x, axis=axis, keepdims=keepdims), name=np_func.__name__,
                   nondiff=True, batch=(_batch_query_axes if axes else _batch_axis)(lambda x, **p: prim(x, **p)))
    return prim


_argmax = _query_primitive(np.argmax, axes=False)
_argmin = _query_primitive(np.argmin, axes=False)
_count_nonzero = _query_primitive(np.count_nonzero, axes=True)
_any = _query_primitive(np.any, axes=True)
_all = _query_primitive(np.all, axes=True)
_argsort = defprim(lambda x, *, axis, kind: np.argsort(x, axis=axis, kind=kind), name="argsort", nondiff=True,
                   batch=_batch_axis(lambda x, **params: _argsort(x, **params)))


def _searchsorted_batch(args, batched, *, side):
    (a, v), (a_batched, v_batched) = args, batched
    if not a_batched:  # one sorted array: NumPy searches every example's values at once
        return _searchsorted(a, v, side=side)
    # A sorted array per example: merge each example's values into its array with one stable sort. Values placed
    # before the array (side "left") sort before equal elements, after it (side "right") after them; a value's
    # position in the merge, minus the number of values sorted before it, is the number of elements before it.
    n = batch_size(args, batched)
    a = bring_batch(a, a_batched, n)
    v_shape = tuple(v.shape[1:]) if v_batched else tuple(np.shape(v))
    v = reshape(bring_batch(v, v_batched, n), (n, math.prod(v_shape)))
    k, m = a.shape[1], v.shape[1]
    merged = concatenate([v, a] if side == "left" else [a, v], axis=1)
    where_v = _positions(_argsort(merged, axis=1, kind="stable"))
    where_v = getitem(where_v, (slice(None), slice(0, m) if side == "left" else slice(k, k + m)))
    before = where_v - _positions(_argsort(v, axis=1, kind="stable"))
    return reshape(before, (n,) + v_shape)


def _positions(order):
    """Where each element lands in a sort along the last axis, from the sort's permutation ``order``."""
    size = np.shape(order)[-1]
    return _permute(order, np.broadcast_to(np.arange(size), np.shape(order)), axis=np.ndim(order) - 1, inverse=True)


_searchsorted = defprim(lambda a, v, *, side: np.searchsorted(a, v, side=side), name="searchsorted", nondiff=True,
                        batch=_searchsorted_batch)


def _query_doc(f):
    f.__doc__ = f"``np.{f.__name__}``: no derivative; a plain NumPy value, even from traced operands."
    return f


@implements(np.argmax, nondiff=True)
@_query_doc
def argmax(a, axis=None, out=None, *, keepdims=False):
    return _arg_chooser(_argmax, "argmax", a, axis, out, keepdims)


@implements(np.argmin, nondiff=True)
@_query_doc
def argmin(a, axis=None, out=None, *, keepdims=False):
    return _arg_chooser(_argmin, "argmin", a, axis, out, keepdims)


def _arg_chooser(prim, name, a, axis, out, keepdims):
    _no_extras(name, out)
    a = _as_array(a)
    if axis is None or np.ndim(a) == 0:  # the index in the flattened array
        i = prim(ravel(a), axis=0, keepdims=False)
        return reshape(i, (1,) * np.ndim(a)) if keepdims else i
    return prim(a, axis=normalize_axis(axis, np.ndim(a), name)[0], keepdims=bool(keepdims))


@implements(np.argsort, nondiff=True)
@_query_doc
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise TypeError("dualrev.numpy.argsort: order= (structured arrays) is not supported")
    a, axis = _scan_axis(_as_array(a), axis, "argsort")
    return _argsort(a, axis=axis, kind="stable" if stable else kind)


@implements(np.nonzero, nondiff=True)
@_query_doc
def nonzero(a):
    _no_batched_shape("nonzero", a)
    return np.nonzero(primal_value(a))


@implements(np.searchsorted, nondiff=True)
@_query_doc
def searchsorted(a, v, side="left", sorter=None):
    if side not in ("left", "right"):
        raise ValueError(f"dualrev.numpy.searchsorted: side must be 'left' or 'right', not {side!r}")
    a = _as_array(a)
    if np.ndim(a) != 1:
        raise ValueError(f"dualrev.numpy.searchsorted: the sorted array must be 1-d, not of shape {np.shape(a)}")
    if sorter is not None:  # a[sorter], sorted; a permutation, possibly one per example
        sorter = sorter if isinstance(sorter, Tracer) else np.asarray(sorter)
        a = _permute(sorter, a, axis=0, inverse=False)
    return _searchsorted(a, v, side=side)


def _query_reduction(prim, name):
    def query(a, axis=None, out=None, keepdims=False, **kwargs):
        _no_extras(name, out, **kwargs)
        a = _as_array(a)
        axis = None if axis is None else normalize_axis(axis, np.ndim(a), name)
        return prim(a, axis=axis, keepdims=bool(keepdims))

    query.__name__ = name
    return implements(getattr(np, name), nondiff=True)(_query_doc(query))


any = _query_reduction(_any, "any")
all = _query_reduction(_all, "all")


@implements(np.count_nonzero, nondiff=True)
@_query_doc
def count_nonzero(a, axis=None, *, keepdims=False):
    a = _as_array(a)
    axis = None if axis is None else normalize_axis(axis, np.ndim(a), "count_nonzero")
    return _count_nonzero(a, axis=axis, keepdims=bool(keepdims))


# -- order statistics: sort, median --


def _permute_impl(perm, x, *, axis, inverse):
    if not inverse:
        return np.take_along_axis(x, perm, axis)
    out = np.empty_like(x)
    np.put_along_axis(out, perm, x, axis)
    return out


def _permute_batch(args, batched, *, axis, inverse):
    n = batch_size(args, batched)
    perm, x = (bring_batch(a, b, n) for a, b in zip(args, batched))
    return _permute(perm, x, axis=axis + 1, inverse=inverse)


_permute = defprim(
    _permute_impl, name="permute", supports_complex=True,
    jvp=(None, lambda dx, ans, perm, x, *, axis, inverse: _permute(perm, dx, axis=axis, inverse=inverse)),
    vjp=(None, lambda ct, ans, perm, x, *, axis, inverse: _permute(perm, ct, axis=axis, inverse=not inverse)),
    batch=_permute_batch,
    note="x reordered along an axis by perm, a permutation of each lane (perm has x's shape; inverse=True: the "
         "inverse permutation); perm has no derivative",
)


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """``np.sort``: a sorted copy; the derivative follows the permutation of a stable sort (ties keep their order),
    as in JAX."""
    if order is not None:
        raise TypeError("dualrev.numpy.sort: order= (structured arrays) is not supported")
    a, axis = (ravel(_as_array(a)), 0) if axis is None else (_as_array(a), axis)
    axis = normalize_axis(axis, np.ndim(a), "sort")[0]
    return _permute(_argsort(a, axis=axis, kind="stable"), a, axis=axis, inverse=False)


def _median_layout(a, axis):
    """a with the reduced axes flattened into the last one, and the shape of the result with keepdims. A tuple of
    axes is flattened in the order JAX's median uses, so that ties get the same derivative as in JAX."""
    shape = np.shape(a)
    nd = len(shape)
    if axis is None:
        return ravel(a), (1,) * nd
    if np.ndim(axis) == 0:
        ax = normalize_axis(axis, nd, "median")[0]
        return transpose(a, [i for i in range(nd) if i != ax] + [ax]), keepdims_shape(shape, (ax,))
    axes = normalize_axis(axis, nd, "median")
    dims = list(range(nd))
    for i, s in enumerate(i for i in range(nd) if i not in axes):  # jax.numpy's _quantile permutation
        dims[i], dims[s] = dims[s], dims[i]
    kept = [shape[i] for i in range(nd) if i not in axes]
    return reshape(transpose(a, dims), kept + [_count(shape, axes)]), keepdims_shape(shape, axes)


@implements(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """``np.median``: the middle element of a stable sort, or the mean of the two middle ones. With ties the
    derivative goes to the tied element(s) at the middle position(s) of the stable sort, as in JAX (a tuple of axes
    is flattened in JAX's order)."""
    _no_extras("median", out)
    a = _as_array(a)
    x, kept_shape = _median_layout(a, axis)
    n = np.shape(x)[-1]
    s = sort(x, axis=-1)
    lo = s[..., (n - 1) // 2:(n - 1) // 2 + 1]
    m = lo if n % 2 else (lo + s[..., n // 2:n // 2 + 1]) * 0.5
    return reshape(m, kept_shape if keepdims else np.shape(m)[:-1])
