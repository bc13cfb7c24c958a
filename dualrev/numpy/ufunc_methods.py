"""NumPy's ufunc methods on traced values: ``np.add.reduce(x)``, ``np.logaddexp.reduce(x)``,
``np.add.accumulate(x)``, ``np.multiply.outer(x, y)``, ``np.add.at(x, idx, v)``. NumPy hands them to the traced
operand's ``__array_ufunc__``, which routes them here. Imports core and the families.

``reduce`` and ``accumulate`` use the family's reductions and scans where one exists (add, multiply, maximum,
minimum, logaddexp, the logical ones) and otherwise apply the binary ufunc along the axis, left to right as NumPy
does; ``outer`` is the ufunc on operands given new axes; ``at`` writes into the traced array (see inplace.py).
"""

from __future__ import annotations

import numpy as np

from dualrev import core
from dualrev.core import NUMPY_TABLE, Tracer, concrete_value, implements
from dualrev.numpy.indexing import at
from dualrev.numpy.reductions import all as _all
from dualrev.numpy.reductions import any as _any
from dualrev.numpy.reductions import cumprod, cumsum, normalize_axis, prod
from dualrev.numpy.reductions import max as _max
from dualrev.numpy.reductions import min as _min
from dualrev.numpy.reductions import sum as _sum
from dualrev.numpy.shape import asarray, astype, expand_dims, getitem, moveaxis, reshape, stack
from dualrev.numpy.ufuncs import exp, exp2, isfinite, log, log2, where

__all__: list = []

_NO_VALUE = np._NoValue


def _log_add(exp_, log_):
    """logaddexp(2).reduce: ``m + log(sum(exp(x - m)))`` with ``m`` the maximum (0 where it is infinite), so that no
    exponential overflows; the derivative is the softmax, ``m``'s share cancelling exactly."""

    def reduce(a, axis, keepdims, where_):
        if where_ is not None:
            a = where(where_, a, -np.inf)
        m = _max(a, axis=axis, keepdims=True)
        m = where(isfinite(m), m, 0.0)
        out = log_(_sum(exp_(a - m), axis=axis, keepdims=True)) + m
        if not keepdims:
            out = reshape(out, tuple(n for i, n in enumerate(np.shape(out)) if i not in axis))
        return out

    return reduce


_REDUCTIONS = {
    np.add: lambda a, axis, keepdims, where_: _sum(a, axis=axis, keepdims=keepdims, where=where_),
    np.multiply: lambda a, axis, keepdims, where_: prod(a, axis=axis, keepdims=keepdims, where=where_),
    np.logaddexp: _log_add(exp, log),
    np.logaddexp2: _log_add(exp2, log2),
}
_EXTREMES = {np.maximum: _max, np.minimum: _min, np.logical_and: _all, np.logical_or: _any}


def _ufunc_name(ufunc):
    return f"numpy.{ufunc.__name__}"


def _reduce(ufunc, array, axis=0, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=True):
    name = f"{_ufunc_name(ufunc)}.reduce"
    if out is not None:
        raise TypeError(f"dualrev: {name} on traced values takes no out= (results are new arrays)")
    a = asarray(array)
    if dtype is not None:
        a = astype(a, dtype)
    ndim = np.ndim(a)
    axes = normalize_axis(axis, ndim, name)
    where_ = None if where is True else where
    has_initial = initial is not _NO_VALUE and initial is not None
    shape = np.shape(a)
    empty = any(shape[i] == 0 for i in axes)
    if ufunc in _REDUCTIONS:
        result = _REDUCTIONS[ufunc](a, axes, bool(keepdims), where_)
        return ufunc(result, initial) if has_initial else result
    if ufunc in _EXTREMES:
        if where_ is not None and not has_initial and ufunc in (np.maximum, np.minimum):
            raise ValueError(f"dualrev: {name}: reduction operation '{ufunc.__name__}' does not have an identity, so "
                             "to use a where mask one has to specify 'initial'")
        if empty and not has_initial and ufunc in (np.maximum, np.minimum):
            raise ValueError(f"zero-size array to reduction operation {ufunc.__name__} which has no identity")
        f = _EXTREMES[ufunc]
        if ufunc in (np.maximum, np.minimum):
            return f(a, axis=axes, keepdims=keepdims, initial=initial if has_initial else None, where=where_)
        result = f(a if where_ is None else where(where_, a, ufunc is np.logical_and), axis=axes, keepdims=keepdims)
        return ufunc(result, initial) if has_initial else result
    # any other binary ufunc: left to right along one axis, as NumPy
    if len(axes) != 1:
        if len(axes) == 0:
            return a
        raise ValueError(f"dualrev: {name}: reduction operation '{ufunc.__name__}' is not reorderable, so at most "
                         "one axis may be specified")
    if where_ is not None:
        raise TypeError(f"dualrev: {name}: where= is supported for add, multiply, maximum, minimum, logaddexp, "
                        "logaddexp2 and the logical reductions")
    moved = moveaxis(a, axes[0], 0)
    n = np.shape(moved)[0]
    if n == 0 and not has_initial:
        if ufunc.identity is None:
            raise ValueError(f"zero-size array to reduction operation {ufunc.__name__} which has no identity")
        return np.full(np.shape(moved)[1:], ufunc.identity, np.result_type(concrete_value(a)))
    result = initial if has_initial else getitem(moved, 0)
    for k in range(0 if has_initial else 1, n):
        result = ufunc(result, getitem(moved, k))
    if has_initial and n == 0:
        result = np.full(np.shape(moved)[1:], initial, np.result_type(concrete_value(a)))
    return expand_dims(result, axes[0]) if keepdims else result


def _accumulate(ufunc, array, axis=0, dtype=None, out=None):
    name = f"{_ufunc_name(ufunc)}.accumulate"
    if out is not None:
        raise TypeError(f"dualrev: {name} on traced values takes no out= (results are new arrays)")
    a = asarray(array)
    if dtype is not None:
        a = astype(a, dtype)
    if np.ndim(a) == 0:
        raise TypeError(f"dualrev: {name}: cannot accumulate on a scalar")
    axis = normalize_axis(axis, np.ndim(a), name)[0]
    if ufunc is np.add:
        return cumsum(a, axis=axis)
    if ufunc is np.multiply:
        return cumprod(a, axis=axis)
    moved = moveaxis(a, axis, 0)
    parts = []
    for k in range(np.shape(moved)[0]):
        x = getitem(moved, k)
        parts.append(x if not parts else ufunc(parts[-1], x))
    if not parts:
        return a
    return moveaxis(stack(parts), 0, axis)


def _outer(ufunc, a, b, **kwargs):
    a, b = asarray(a), asarray(b)
    return ufunc(reshape(a, np.shape(a) + (1,) * np.ndim(b)), b, **kwargs)


_AT = {np.add: "add", np.subtract: "subtract", np.multiply: "multiply", np.true_divide: "divide"}


def _at(ufunc, a, indices, b=None):
    name = f"{_ufunc_name(ufunc)}.at"
    if not isinstance(a, Tracer):
        raise TypeError(f"dualrev: {name}: a NumPy array cannot hold a traced value; make the array traced "
                        "(np.zeros_like(x)) or write a = dnp.at(a)[indices].add(b)")
    if ufunc not in _AT:
        raise TypeError(f"dualrev: {name} on traced values is supported for add, subtract, multiply and divide; "
                        "write the update with x.at[indices]")
    indices = tuple(np.asarray(i) if isinstance(i, list) else i for i in indices) if isinstance(indices, tuple) \
        else indices
    new = getattr(at(a)[indices], _AT[ufunc])(b)
    core._dispatch(core.index_write, a, Ellipsis, new)


_METHODS = {"reduce": _reduce, "accumulate": _accumulate, "outer": _outer, "at": _at}


@implements(core.ufunc_method)
def ufunc_method(ufunc, method, *inputs, **kwargs):
    """``ufunc.reduce/accumulate/outer/at`` on traced operands (``reduceat`` is not supported)."""
    f = _METHODS.get(method)
    if f is None:
        raise TypeError(f"dualrev: {_ufunc_name(ufunc)}.{method} is not supported on traced values; "
                        "reduce, accumulate, outer and at are")
    if ufunc not in NUMPY_TABLE:
        core._no_rule(ufunc)
    if method in ("reduce", "accumulate") and ufunc.nin != 2:
        raise ValueError(f"dualrev: {_ufunc_name(ufunc)}.{method} is only supported for binary functions")
    return f(ufunc, *inputs, **kwargs)

