"""Numerical routines, differentiable in every array operand: diff, ediff1d, gradient, trapezoid, interp,
convolve, correlate, polyval, cross, heaviside, select, piecewise; and isclose/allclose (no derivative). Composites
of the shape, indexing, ufuncs, reductions and contractions families, written as NumPy defines them (its formulas
and conventions, JAX's derivatives); imports core and those families.
"""

from __future__ import annotations

import operator

import numpy as np

from dualrev.core import Tracer, concrete_value, implements
from dualrev.numpy.contractions import matmul
from dualrev.numpy.indexing import at, take
from dualrev.numpy.reductions import all as _all
from dualrev.numpy.reductions import any as _any
from dualrev.numpy.reductions import normalize_axis, searchsorted
from dualrev.numpy.reductions import sum as _sum
from dualrev.numpy.shape import (
    _axis,
    asarray,
    astype,
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    moveaxis,
    ravel,
    reshape,
    stack,
)
from dualrev.numpy.ufuncs import (
    absolute,
    exp,
    clip,
    equal,
    greater,
    isfinite,
    isnan,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    sqrt,
    where,
)

__all__ = [
    "allclose", "convolve", "correlate", "cross", "diff", "ediff1d", "gradient", "heaviside", "interp", "isclose",
    "piecewise", "polyval", "select", "trapezoid",
]


def _dtype(x):
    return np.result_type(concrete_value(x)) if isinstance(x, Tracer) else np.result_type(x)


def _along(x, axis, start=None, stop=None, step=None):
    return getitem(x, (slice(None),) * axis + (slice(start, stop, step),))


def _float(x):
    """x, as float64 if its dtype is not a float one (NumPy's numerical routines compute in floats)."""
    return x if _dtype(x).kind in "fc" else astype(x, np.float64)


# -- differences and sums --


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    """``np.diff``: the ``n``-th forward difference along ``axis``; ``prepend``/``append`` values (broadcast to a
    single slice of ``a``) are joined first."""
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"dualrev.numpy.diff: order must be non-negative but got {n}")
    a = asarray(a)
    if n == 0:
        return a
    if np.ndim(a) == 0:
        raise ValueError("dualrev.numpy.diff: diff requires input that is at least one dimensional")
    axis = _axis(axis, np.ndim(a), "diff")
    parts = []
    for extra in (prepend, a, append):
        if extra is np._NoValue:
            continue
        if extra is not a:
            if type(extra) in (int, float, bool):  # a Python number is weak, as in JAX: float32 stays float32
                extra = np.asarray(extra, np.result_type(_dtype(a), extra))
            extra = asarray(extra)
            if np.ndim(extra) == 0:
                shape = list(np.shape(a))
                shape[axis] = 1
                extra = broadcast_to(extra, tuple(shape))
        parts.append(extra)
    if len(parts) > 1:
        a = concatenate(parts, axis=axis)
    boolean = _dtype(a) == np.bool_
    for _ in range(n):
        hi, lo = _along(a, axis, 1), _along(a, axis, None, -1)
        a = np.not_equal(hi, lo) if boolean else hi - lo
    return a


@implements(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    """``np.ediff1d``: differences of the flattened array, with ``to_begin``/``to_end`` (flattened, cast to its dtype)
    joined at the ends."""
    ary = ravel(asarray(ary))
    dtype = _dtype(ary)
    parts = []
    for extra, name in ((to_begin, "to_begin"), (None, None), (to_end, "to_end")):
        if name is None:
            parts.append(_along(ary, 0, 1) - _along(ary, 0, None, -1))
            continue
        if extra is None:
            continue
        extra = ravel(asarray(extra))
        if not np.can_cast(_dtype(extra), dtype, casting="same_kind"):
            raise TypeError(f"dualrev.numpy.ediff1d: dtype of `{name}` must be compatible with input `ary` under "
                            "the `same_kind` rule.")
        parts.append(astype(extra, dtype) if isinstance(extra, Tracer) else np.asarray(extra, dtype))
    return concatenate(parts) if len(parts) > 1 else parts[0]


def _spacing(h, n, name):
    """One axis's spacing: a scalar, or the coordinates (length n), whose differences are the spacing."""
    if type(h) in (int, float):
        return float(h), True  # a Python number is weak: float32 stays float32
    h = asarray(h)
    if np.ndim(h) == 0:
        return h, True
    if np.ndim(h) != 1:
        raise ValueError(f"dualrev.numpy.{name}: distances must be either scalars or 1d")
    if np.shape(h)[0] != n:
        raise ValueError(f"dualrev.numpy.{name}: when 1d, distances must match the length of the corresponding "
                         "dimension")
    return diff(_float(h)), False


@implements(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """``np.gradient``: second-order central differences inside, first- or second-order (``edge_order``) one-sided
    differences at the ends, with spacings given as scalars or coordinate arrays (uniform or not), which may be
    traced. One array for one axis, else a tuple of them (one per axis)."""
    f = _float(asarray(f))
    ndim = np.ndim(f)
    axes = normalize_axis(axis, ndim, "gradient") if axis is not None else tuple(range(ndim))
    if axis is not None and not isinstance(axis, (tuple, list)):
        axes = (normalize_axis(axis, ndim, "gradient")[0],)
    if len(varargs) == 0:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(concrete_value(asarray(varargs[0]))) == 0:
        spacings = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError("dualrev.numpy.gradient: invalid number of arguments")
    if edge_order not in (1, 2):
        raise ValueError("dualrev.numpy.gradient: 'edge_order' greater than 2 not supported")
    out = []
    for ax, h in zip(axes, spacings):
        n = np.shape(f)[ax]
        if n < edge_order + 1:
            raise ValueError("dualrev.numpy.gradient: shape of array too small to calculate a numerical gradient, "
                             "at least (edge_order + 1) elements are required.")
        dx, uniform = _spacing(h, n, "gradient")
        out.append(moveaxis(_gradient_1d(moveaxis(f, ax, -1), dx, uniform, edge_order, n), -1, ax))
    return out[0] if len(out) == 1 else tuple(out)


def _gradient_1d(f, dx, uniform, edge_order, n):
    """The gradient along the last axis; ``dx`` the scalar spacing or the n - 1 coordinate differences."""
    def at_(start, stop=None):
        return _along(f, np.ndim(f) - 1, start, stop)

    def d(i):
        return dx if uniform else getitem(dx, i)

    if uniform:
        interior = (at_(2) - at_(None, -2)) / (2.0 * dx) if n > 2 else None
    else:
        dx1, dx2 = getitem(dx, slice(None, -1)), getitem(dx, slice(1, None))
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        interior = a * at_(None, -2) + b * at_(1, -1) + c * at_(2) if n > 2 else None
    f0, f1 = at_(0, 1), at_(1, 2)
    fl, fm = at_(-1), at_(-2, -1)
    if edge_order == 1:
        first = (f1 - f0) / d(0)
        last = (fl - fm) / d(-1)
    else:
        f2, fk = at_(2, 3), at_(-3, -2)
        if uniform:
            first = -(1.5 * f0 - 2.0 * f1 + 0.5 * f2) / dx
            last = (0.5 * fk - 2.0 * fm + 1.5 * fl) / dx
        else:
            dx1, dx2 = d(0), d(1)
            first = (-(2.0 * dx1 + dx2) / (dx1 * (dx1 + dx2)) * f0 + (dx1 + dx2) / (dx1 * dx2) * f1
                     - dx1 / (dx2 * (dx1 + dx2)) * f2)
            dx1, dx2 = d(-2), d(-1)
            last = (dx2 / (dx1 * (dx1 + dx2)) * fk - (dx2 + dx1) / (dx1 * dx2) * fm
                    + (2.0 * dx2 + dx1) / (dx2 * (dx1 + dx2)) * fl)
    parts = [first] + ([interior] if interior is not None else []) + [last]
    return concatenate(parts, axis=-1)


@implements(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """``np.trapezoid``: the trapezoidal rule along ``axis``, with sample points ``x`` (1-d, or y's shape) or a
    constant spacing ``dx``; differentiable in ``y``, ``x`` and ``dx``."""
    y = asarray(y)
    axis = _axis(axis, np.ndim(y), "trapezoid")
    if x is None:
        d = dx
    else:
        x = asarray(x)
        if np.ndim(x) == 1:
            d = diff(x)
            shape = [1] * np.ndim(y)
            shape[axis] = np.shape(d)[0]
            d = reshape(d, tuple(shape))
        else:
            d = diff(x, axis=axis)
    return _sum(d * (_along(y, axis, 1) + _along(y, axis, None, -1)) / 2.0, axis=axis)


# -- interpolation and polynomials --


@implements(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """``np.interp``: piecewise-linear interpolation of ``(xp, fp)`` at ``x``, differentiable in ``x``, ``xp``,
    ``fp``, ``left`` and ``right`` (JAX's rules; the derivative in ``x`` at a sample point is the slope on its right).
    ``period`` wraps ``x`` and ``xp`` as NumPy does."""
    x, xp, fp = asarray(x), asarray(xp), asarray(fp)
    if np.ndim(xp) != 1 or np.ndim(fp) != 1:
        raise ValueError("dualrev.numpy.interp: xp and fp must be 1-D sequences")
    if np.shape(xp)[0] != np.shape(fp)[0]:
        raise ValueError("dualrev.numpy.interp: fp and xp are not of the same length")
    if np.shape(xp)[0] == 0:
        raise ValueError("dualrev.numpy.interp: array of sample points is empty")
    dtype = np.result_type(_dtype(x), _dtype(xp), _dtype(fp), np.float64 if _dtype(fp).kind != "f" else _dtype(fp))
    x, xp, fp = (astype(v, dtype) if _dtype(v) != dtype else v for v in (x, xp, fp))
    if period is not None:
        if period == 0:
            raise ValueError("dualrev.numpy.interp: period must be a non-zero value")
        period = abs(period)
        left = right = None
        x, xp = x % period, xp % period
        order = np.argsort(concrete_value(xp), kind="stable")
        if np.ndim(order) != 1:
            raise TypeError("dualrev.numpy.interp: with period=, xp must be the same for every example under vmap")
        xp, fp = take(xp, order), take(fp, order)
        xp = concatenate([getitem(xp, slice(-1, None)) - period, xp, getitem(xp, slice(0, 1)) + period])
        fp = concatenate([getitem(fp, slice(-1, None)), fp, getitem(fp, slice(0, 1))])
    n = np.shape(xp)[0]
    if n == 1:
        y = broadcast_to(fp, np.shape(x)) + 0.0 * x
    else:
        i = clip(searchsorted(xp, x, side="right"), 1, n - 1)
        xp0, xp1, fp0, fp1 = take(xp, i - 1), take(xp, i), take(fp, i - 1), take(fp, i)
        dx = xp1 - xp0
        flat = less_equal(absolute(dx), 0.0)  # repeated sample points: the left value, no division by zero
        y = where(flat, fp0, fp0 + (x - xp0) / where(flat, 1.0, dx) * (fp1 - fp0))
    if period is None:
        first, last = getitem(xp, 0), getitem(xp, -1)
        y = where(less(x, first), getitem(fp, 0) if left is None else left, y)
        y = where(greater(x, last), getitem(fp, -1) if right is None else right, y)
    return y


@implements(np.polyval)
def polyval(p, x):
    """``np.polyval``: ``p[0] * x**(N-1) + ... + p[N-1]`` by Horner's scheme, differentiable in ``p`` and ``x``."""
    p, x = asarray(p), asarray(x)
    if np.ndim(p) == 0:
        raise TypeError("dualrev.numpy.polyval: p must be a 1-D sequence of coefficients (np.poly1d is not "
                        "supported)")
    y = np.zeros(np.shape(x), np.result_type(_dtype(x), _dtype(p)))
    for k in range(np.shape(p)[0]):
        y = y * x + getitem(p, k)
    return y


# -- convolutions --


def _correlate_full(a, v):
    """sum_n a[n + k - (m - 1)] * v[n] for k in 0 .. n_a + m - 2, as one matrix product with a gather of ``a``."""
    na, nv = np.shape(a)[0], np.shape(v)[0]
    k = np.arange(na + nv - 1)[:, None]
    j = np.arange(nv)[None, :]
    idx = k + j - (nv - 1)
    valid = (idx >= 0) & (idx < na)
    padded = concatenate([a, np.zeros(1, _dtype(a))])
    gathered = take(padded, np.where(valid, idx, na))  # zero outside a
    return matmul(gathered, v)


def _convolution(name, a, v, mode):
    a, v = asarray(a), asarray(v)
    if np.ndim(a) != 1 or np.ndim(v) != 1:
        raise ValueError(f"dualrev.numpy.{name}: object too deep for desired array (a and v must be 1-D)")
    na, nv = np.shape(a)[0], np.shape(v)[0]
    if na == 0 or nv == 0:
        raise ValueError(f"dualrev.numpy.{name}: {'a' if na == 0 else 'v'} cannot be empty")
    dtype = np.result_type(_dtype(a), _dtype(v))
    a, v = (astype(u, dtype) if _dtype(u) != dtype else u for u in (a, v))
    return a, v, na, nv


def _mode_slice(full, na, nv, mode, name):
    lo, hi = min(na, nv), max(na, nv)
    if mode == "full":
        return full
    if mode == "same":
        start = (lo - 1) // 2
        return getitem(full, slice(start, start + hi))
    if mode == "valid":
        return getitem(full, slice(lo - 1, hi))
    raise ValueError(f"dualrev.numpy.{name}: mode must be one of 'valid', 'same', or 'full', not {mode!r}")


@implements(np.correlate)
def correlate(a, v, mode="valid"):
    """``np.correlate`` of 1-D sequences: ``z[k] = sum_n a[n + k] * v[n]``, in NumPy's modes ("valid", "same",
    "full"); differentiable in both."""
    a, v, na, nv = _convolution("correlate", a, v, mode)
    return _mode_slice(_correlate_full(a, v), na, nv, mode, "correlate")


@implements(np.convolve)
def convolve(a, v, mode="full"):
    """``np.convolve`` of 1-D sequences: ``z[k] = sum_n a[n] * v[k - n]``, in NumPy's modes ("full", "same",
    "valid"); differentiable in both."""
    a, v, na, nv = _convolution("convolve", a, v, mode)
    return _mode_slice(_correlate_full(a, getitem(v, slice(None, None, -1))), na, nv, mode, "convolve")


# -- cross product --


@implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross``: cross products of 3-vectors (a 2-vector has a zero third component; two 2-vectors give the
    scalar z component), along the given axes, broadcasting the others."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = asarray(a), asarray(b)
    a = moveaxis(a, _axis(axisa, np.ndim(a), "cross"), -1)
    b = moveaxis(b, _axis(axisb, np.ndim(b), "cross"), -1)
    da, db = np.shape(a)[-1], np.shape(b)[-1]
    if da not in (2, 3) or db not in (2, 3):
        raise ValueError("dualrev.numpy.cross: incompatible dimensions for cross product (dimension must be 2 or 3)")
    a0, a1, b0, b1 = (getitem(u, (Ellipsis, k)) for u, k in ((a, 0), (a, 1), (b, 0), (b, 1)))
    z = a0 * b1 - a1 * b0
    if da == 2 and db == 2:
        return z
    a2 = getitem(a, (Ellipsis, 2)) if da == 3 else None
    b2 = getitem(b, (Ellipsis, 2)) if db == 3 else None
    if a2 is None:
        x, y = a1 * b2, -(a0 * b2)
    elif b2 is None:
        x, y = -(a2 * b1), a2 * b0
    else:
        x, y = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2
    shape = np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(z))
    c = stack([broadcast_to(u, shape) for u in (x, y, z)], axis=-1)
    return moveaxis(c, -1, _axis(axisc, np.ndim(c), "cross"))


# -- choosing --


@implements(np.heaviside)
def heaviside(x1, x2):
    """``np.heaviside``: 0 where ``x1 < 0``, ``x2`` where ``x1 == 0``, 1 where ``x1 > 0``, NaN where ``x1`` is NaN;
    the derivative is 0 in ``x1`` and, where ``x1 == 0``, 1 in ``x2`` (as in JAX)."""
    x1, x2 = asarray(x1), asarray(x2)
    dtype = np.result_type(_dtype(x1), _dtype(x2))
    out = where(less(x1, 0), 0.0, where(greater(x1, 0), 1.0, x2))
    out = where(isnan(x1), np.nan, out)
    return astype(out, dtype) if _dtype(out) != dtype else out


@implements(np.select)
def select(condlist, choicelist, default=0):
    """``np.select``: at each position the choice of the first true condition, else ``default``; differentiable in
    the choices and the default."""
    if len(condlist) != len(choicelist):
        raise ValueError("dualrev.numpy.select: list of cases must be same length as list of conditions")
    if len(choicelist) == 0:
        raise ValueError("dualrev.numpy.select: select with an empty condition list is not possible")
    def weak(v):  # a Python number stays weak, as in JAX: float32 choices stay float32
        return v if type(v) in (int, float, bool) else asarray(v)

    choices = [weak(c) for c in choicelist]
    dtype = np.result_type(*[c if type(c) in (int, float, bool) else _dtype(c) for c in choices + [weak(default)]])
    conds = [asarray(c) for c in condlist]
    for i, c in enumerate(conds):
        if _dtype(c) != np.bool_:
            raise TypeError(f"dualrev.numpy.select: invalid entry {i} in condlist: should be boolean ndarray")
    out = default
    for c, choice in zip(reversed(conds), reversed(choices)):
        out = where(c, choice, out)
    shape = np.broadcast_shapes(*[np.shape(c) for c in conds + choices], np.shape(default))
    out = broadcast_to(out, shape)
    return astype(out, dtype) if _dtype(out) != dtype else out


@implements(np.piecewise)
def piecewise(x, condlist, funclist, *args, **kw):
    """``np.piecewise``: each function (or constant) of ``funclist`` applied where its condition holds, later
    conditions winning; one extra function is the "otherwise" case. As in NumPy each function sees only the
    elements of its piece, so a branch outside its domain cannot spoil a derivative. Under vmap, with conditions
    that differ between examples, each function is evaluated everywhere and chosen with ``where``."""
    x = asarray(x)
    xv = concrete_value(x)
    if np.isscalar(condlist) or (not isinstance(condlist[0], (list, np.ndarray, Tracer)) and np.ndim(x) != 0):
        condlist = [condlist]
    conds = [asarray(c) for c in condlist]
    conds = [c if isinstance(c, Tracer) else np.asarray(c, bool) for c in conds]
    n, n2 = len(conds), len(funclist)
    if n == n2 - 1:
        otherwise = logical_not(_any(stack(conds), axis=0))
        conds.append(otherwise)
        n += 1
    elif n != n2:
        raise ValueError(f"dualrev.numpy.piecewise: with {n} condition(s), either {n} or {n + 1} functions are "
                         "expected")
    y = np.zeros(np.shape(x), np.result_type(xv))
    for cond, func in zip(conds, funclist):
        cond = broadcast_to(cond, np.shape(x)) if np.shape(cond) != np.shape(x) else cond
        if isinstance(cond, Tracer):  # differs between examples (vmap): evaluate everywhere, choose
            value = func(x, *args, **kw) if callable(func) else func
            y = where(cond, value, y)
            continue
        if not callable(func):
            y = at(y)[cond].set(func)
            continue
        vals = getitem(x, cond)
        if np.shape(vals)[0] if np.ndim(vals) else True:
            y = at(y)[cond].set(func(vals, *args, **kw))
    return y


# -- comparisons with tolerance (no derivative) --


@implements(np.isclose, nondiff=True)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``np.isclose``: ``|a - b| <= atol + rtol * |b|`` (infinities equal only to themselves); a boolean array with no
    derivative (under vmap, one per example)."""
    a, b = asarray(a), asarray(b)
    if not isinstance(a, Tracer) and not isinstance(b, Tracer):
        return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    close = logical_and(less_equal(absolute(a - b), atol + rtol * absolute(b)), isfinite(b))
    close = logical_or(close, equal(a, b))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    return close


@implements(np.allclose, nondiff=True)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``np.allclose``: whether ``isclose`` holds everywhere (a bool; under vmap, one per example)."""
    close = _all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    return bool(close) if not isinstance(close, Tracer) else close



# -- more choosing and scans --


@implements(np.choose)
def choose(a, choices, out=None, mode="raise"):
    """``np.choose``: ``choices[a[i]][i]`` (integer ``a``, no derivative; ``mode`` 'raise', 'wrap' or 'clip');
    differentiable in the choices."""
    if out is not None:
        raise TypeError("dualrev.numpy.choose: out= is not supported")
    a = asarray(a)
    if isinstance(a, Tracer):
        raise TypeError("dualrev.numpy.choose: the index array cannot be traced; pass an integer NumPy array")
    choices = [c if type(c) in (int, float, bool) else asarray(c) for c in choices]  # Python numbers stay weak
    n = len(choices)
    if mode == "wrap":
        a = a % n
    elif mode == "clip":
        a = np.clip(a, 0, n - 1)
    elif np.any((a < 0) | (a >= n)):
        raise ValueError("invalid entry in choice array")
    shape = np.broadcast_shapes(np.shape(a), *[np.shape(c) for c in choices])
    return select([np.broadcast_to(a == k, shape) for k in range(n)], choices)


@implements(np.compress)
def compress(condition, a, axis=None, out=None):
    """``np.compress``: the slices of ``a`` along ``axis`` where ``condition`` (a NumPy boolean array) holds."""
    if out is not None:
        raise TypeError("dualrev.numpy.compress: out= is not supported")
    condition = np.asarray(condition, bool)
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis(axis, np.ndim(a), "compress")
    keep = np.flatnonzero(condition)
    if keep.size and keep[-1] >= np.shape(a)[axis]:
        raise IndexError(f"index {keep[-1]} is out of bounds for axis {axis} with size {np.shape(a)[axis]}")
    return getitem(a, (slice(None),) * axis + (keep,))


@implements(np.extract)
def extract(condition, arr):
    """``np.extract``: the elements of ``arr`` where ``condition`` (a NumPy array) is nonzero, flattened."""
    return getitem(ravel(asarray(arr)), (np.flatnonzero(np.asarray(condition)),))


def _cumulative(name, scan, x, axis, dtype, out, include_initial, identity):
    if out is not None:
        raise TypeError(f"dualrev.numpy.{name}: out= is not supported")
    x = asarray(x)
    if axis is None:
        if np.ndim(x) > 1:
            raise ValueError(f"dualrev.numpy.{name}: axis must be specified for arrays of more than one dimension")
        axis = 0
    out = scan(x, axis=axis, dtype=dtype)
    if include_initial:
        shape = list(np.shape(out))
        shape[_axis(axis, np.ndim(out), name)] = 1
        out = concatenate([np.full(shape, identity, _dtype(out)), out], axis=axis)
    return out


@implements(np.cumulative_sum)
def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_sum`` (the array API's cumsum), optionally with the initial 0."""
    from dualrev.numpy.reductions import cumsum

    return _cumulative("cumulative_sum", cumsum, x, axis, dtype, out, include_initial, 0)


@implements(np.cumulative_prod)
def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """``np.cumulative_prod`` (the array API's cumprod), optionally with the initial 1."""
    from dualrev.numpy.reductions import cumprod

    return _cumulative("cumulative_prod", cumprod, x, axis, dtype, out, include_initial, 1)


@implements(np.unwrap)
def unwrap(p, discont=None, axis=-1, *, period=2 * np.pi):
    """``np.unwrap``: jumps larger than ``discont`` (default period/2) along ``axis`` replaced by their
    complement modulo ``period``, with NumPy's formula; the corrections are piecewise constant, so the derivative
    is that of ``p``."""
    p = _float(asarray(p))
    axis = _axis(axis, np.ndim(p), "unwrap")
    d = diff(p, axis=axis)
    discont = period / 2 if discont is None else discont
    high = period / 2
    ddmod = (d + high) % period - high
    ddmod = where(logical_and(equal(ddmod, -high), greater(d, 0)), high, ddmod)
    correct = where(less(absolute(d), discont), 0.0, ddmod - d)
    shape = list(np.shape(p))
    shape[axis] = 1
    from dualrev.numpy.reductions import cumsum

    return p + concatenate([np.zeros(shape, _dtype(p)), cumsum(correct, axis=axis)], axis=axis)


@implements(np.bincount)
def bincount(x, weights=None, minlength=0):
    """``np.bincount``: the number of occurrences (no derivative), or the sums of ``weights`` per value of the
    non-negative integers ``x`` (differentiable in the weights)."""
    x = np.asarray(concrete_value(x)) if not isinstance(x, Tracer) or not x._trace.batched else None
    if x is None:
        raise TypeError("dualrev.numpy.bincount: under vmap the values to count differ per example (the result's "
                        "length would too); pass them unbatched or use dnp.at(zeros)[x].add(weights)")
    if weights is None:
        return np.bincount(x, minlength=minlength)
    weights = _float(asarray(weights))
    n = max(int(x.max()) + 1 if x.size else 0, minlength)
    return at(np.zeros(n, _dtype(weights)))[x].add(weights)


@implements(np.modf)
def modf(x, out=None):
    """``np.modf``: (fractional part, integral part); the fractional part has derivative 1, the integral part 0."""
    from dualrev.numpy.ufuncs import trunc

    x = _float(asarray(x))
    whole = trunc(x)
    return x - whole, whole


@implements(np.ldexp)
def ldexp(x1, x2, out=None):
    """``np.ldexp``: ``x1 * 2**x2`` for integer ``x2`` (differentiable in ``x1``)."""
    x2 = asarray(x2)
    if _dtype(x2).kind not in "iub":
        raise TypeError("dualrev.numpy.ldexp: the exponents x2 must be integers")
    x1 = _float(asarray(x1))
    scale = np.ldexp(np.ones((), _dtype(x1)), concrete_value(x2)) if not isinstance(x2, Tracer) else 2.0 ** x2
    return x1 * scale


@implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    """``np.partition``: NumPy's own arrangement (its argpartition of the values), as a gather, so the derivative
    follows the elements. Under vmap the arrangement would differ per example: use ``dnp.sort``, a valid partition
    for every ``kth``."""
    if order is not None:
        raise TypeError("dualrev.numpy.partition: order= (structured arrays) is not supported")
    from dualrev.numpy.indexing import take_along_axis

    a = asarray(a)
    if isinstance(a, Tracer) and a._trace.batched:
        raise TypeError("dualrev.numpy.partition: under vmap each example would be arranged differently; use "
                        "dnp.sort, which is a valid partition for every kth")
    if axis is None:
        a, axis = ravel(a), 0
    order_ = np.argpartition(concrete_value(a), kth, axis=axis, kind=kind)
    return take_along_axis(a, order_, axis=axis)


# -- polynomials (coefficient arrays, highest power first) --


def _poly(p):
    p = asarray(p)
    if np.ndim(p) != 1:
        raise ValueError("dualrev.numpy: polynomial coefficients must be a 1-d array (np.poly1d is not supported)")
    return p


@implements(np.polyadd)
def polyadd(a1, a2):
    """``np.polyadd``: the sum of two polynomials."""
    a1, a2 = _poly(a1), _poly(a2)
    n1, n2 = np.shape(a1)[0], np.shape(a2)[0]
    if n1 < n2:
        a1 = concatenate([np.zeros(n2 - n1, _dtype(a1)), a1])
    elif n2 < n1:
        a2 = concatenate([np.zeros(n1 - n2, _dtype(a2)), a2])
    return a1 + a2


@implements(np.polysub)
def polysub(a1, a2):
    """``np.polysub``: the difference of two polynomials."""
    return polyadd(a1, -_poly(a2))


@implements(np.polymul)
def polymul(a1, a2):
    """``np.polymul``: the product of two polynomials (a convolution of the coefficients)."""
    return convolve(_poly(a1), _poly(a2))


@implements(np.polyder)
def polyder(p, m=1):
    """``np.polyder``: the ``m``-th derivative of a polynomial."""
    p = _poly(p)
    for _ in range(operator.index(m)):
        n = np.shape(p)[0] - 1
        if n <= 0:
            return np.zeros(1, _dtype(_float(p)))
        p = getitem(p, slice(None, -1)) * np.arange(n, 0, -1).astype(np.result_type(_dtype(p), np.int8))
    return p


@implements(np.polyint)
def polyint(p, m=1, k=None):
    """``np.polyint``: the ``m``-th antiderivative, with integration constants ``k`` (0 by default)."""
    p = _float(_poly(p))
    m = operator.index(m)
    ks = np.zeros(m) if k is None else k
    ks = [ks] * m if np.ndim(concrete_value(asarray(ks))) == 0 else list(ks)
    for i in range(m):
        n = np.shape(p)[0]
        p = concatenate([p / np.arange(n, 0, -1).astype(_dtype(p)), reshape(astype(asarray(ks[i]), _dtype(p)), (1,))])
    return p


@implements(np.polyfit)
def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """``np.polyfit``: least-squares polynomial coefficients (highest power first), differentiable in ``x``, ``y``
    and ``w``; ``full`` and ``cov`` are not supported on traced values."""
    from dualrev.numpy.building import vander
    from dualrev.numpy.linalg import lstsq

    if full or cov:
        raise TypeError("dualrev.numpy.polyfit: full=True and cov=True are not supported on traced values")
    x, y = _float(asarray(x)), _float(asarray(y))
    lhs = vander(x, operator.index(deg) + 1)
    rhs = y
    if w is not None:
        w = asarray(w)
        lhs = lhs * expand_dims(w, 1)
        rhs = rhs * (w if np.ndim(rhs) == 1 else expand_dims(w, 1))
    scale = sqrt(_sum(lhs * lhs, axis=0))  # NumPy scales the columns before solving
    coef = lstsq(lhs / scale, rhs, rcond=rcond)[0]
    return coef / (scale if np.ndim(coef) == 1 else expand_dims(scale, 1))


# -- queries (no derivative) --


def _query(np_func):
    def query(*args, **kwargs):
        if any(isinstance(a, Tracer) and a._trace.batched for a in args):
            raise TypeError(f"dualrev.numpy.{np_func.__name__}: under vmap the answer differs per example (and so "
                            "may its shape); compute it outside vmap")
        return np_func(*[concrete_value(a) if isinstance(a, Tracer) else a for a in args], **kwargs)

    query.__name__ = np_func.__name__
    query.__doc__ = f"``np.{np_func.__name__}`` of the values (no derivative; not under vmap)."
    implements(np_func, nondiff=True)(query)
    return query


def _dtype_query(np_func):
    def query(*args, **kwargs):
        return np_func(*[np.empty((), a.dtype) if isinstance(a, Tracer) else a for a in args], **kwargs)

    query.__name__ = np_func.__name__
    query.__doc__ = f"``np.{np_func.__name__}``: asks about dtypes, which a traced value has as an array has."
    implements(np_func, nondiff=True)(query)
    return query


for _f in (np.result_type, np.can_cast, np.min_scalar_type, np.isrealobj, np.iscomplexobj, np.common_type):
    _dtype_query(_f)
for _f in (np.array_equal, np.array_equiv, np.argwhere, np.flatnonzero, np.isin, np.digitize, np.argpartition,
           np.lexsort, np.unique, np.unique_values, np.unique_counts, np.unique_inverse, np.unique_all, np.histogram,
           np.histogram_bin_edges, np.histogram2d, np.histogramdd, np.intersect1d, np.setdiff1d, np.setxor1d,
           np.union1d, np.trim_zeros, np.isscalar, np.shares_memory, np.may_share_memory):
    _query(_f)


@implements(np.isposinf, nondiff=True)
def isposinf(x, out=None):
    """``np.isposinf``: where x is +inf (no derivative; per example under vmap)."""
    from dualrev.numpy.ufuncs import isinf, signbit

    return logical_and(isinf(x), logical_not(signbit(x)))


@implements(np.isneginf, nondiff=True)
def isneginf(x, out=None):
    """``np.isneginf``: where x is -inf (no derivative; per example under vmap)."""
    from dualrev.numpy.ufuncs import isinf, signbit

    return logical_and(isinf(x), signbit(x))


@implements(np.fix, nondiff=True)
def fix(x, out=None):
    """``np.fix``: rounded towards zero (``trunc``: a zero derivative, as in JAX)."""
    from dualrev.numpy.ufuncs import trunc

    return trunc(x)


@implements(np.isreal, nondiff=True)
def isreal(x):
    """``np.isreal``: True everywhere for the real values dualrev traces."""
    return np.ones(np.shape(x), bool)


@implements(np.iscomplex, nondiff=True)
def iscomplex(x):
    """``np.iscomplex``: False everywhere for the real values dualrev traces."""
    return np.zeros(np.shape(x), bool)


__all__ += ["bincount", "choose", "compress", "cumulative_prod", "cumulative_sum", "extract", "fix", "isneginf",
            "isposinf", "ldexp", "modf", "partition", "polyadd", "polyder", "polyfit", "polyint", "polymul",
            "polysub", "unwrap"]


# -- the rest of NumPy's differentiable functions --


@implements(np.nanargmax, nondiff=True)
def nanargmax(a, axis=None, out=None, *, keepdims=False):
    """``np.nanargmax``: the index of the largest non-NaN value (no derivative)."""
    from dualrev.numpy.reductions import argmax

    a = asarray(a)
    return argmax(where(isnan(a), -np.inf, a), axis=axis, keepdims=keepdims)


@implements(np.nanargmin, nondiff=True)
def nanargmin(a, axis=None, out=None, *, keepdims=False):
    """``np.nanargmin``: the index of the smallest non-NaN value (no derivative)."""
    from dualrev.numpy.reductions import argmin

    a = asarray(a)
    return argmin(where(isnan(a), np.inf, a), axis=axis, keepdims=keepdims)


@implements(np.angle)
def angle(z, deg=False):
    """``np.angle``: ``arctan2(imag(z), real(z))`` of complex values; of real values 0, or pi where the sign bit is
    set (a zero derivative, as in JAX)."""
    from dualrev.numpy.ufuncs import arctan2, imag, real, signbit

    z = asarray(z)
    if (z.dtype if isinstance(z, Tracer) else np.result_type(z)).kind == "c":
        out = arctan2(imag(z), real(z))
        return out * (180.0 / np.pi) if deg else out
    out = where(signbit(z), 180.0 if deg else np.pi, 0.0)
    return where(isnan(z), np.nan, out)


@implements(np.real_if_close)
def real_if_close(a, tol=100):
    """``np.real_if_close``: real values are returned as they are."""
    return asarray(a)


@implements(np.require)
def require(a, dtype=None, requirements=None, *, like=None):
    """``np.require``: the values (in ``dtype``); memory requirements mean nothing to a traced value."""
    return asarray(a, dtype)


@implements(np.row_stack)
def row_stack(tup, *, dtype=None, casting="same_kind"):
    """``np.row_stack``: ``vstack`` (its old name)."""
    from dualrev.numpy.shape import vstack

    return vstack(tup, dtype=dtype, casting=casting)


@implements(np.poly)
def poly(seq_of_zeros):
    """``np.poly`` of a 1-d sequence of roots: the coefficients of prod(x - r), differentiable in the roots (the
    characteristic polynomial of a matrix needs eigvals, which dualrev does not support)."""
    r = asarray(seq_of_zeros)
    if np.ndim(r) != 1:
        raise TypeError("dualrev.numpy.poly: only a 1-d sequence of roots is supported on traced values")
    out = np.ones(1, _dtype(_float(r)))
    for k in range(np.shape(r)[0]):
        out = convolve(out, stack([np.ones((), _dtype(_float(r))), -getitem(r, k)]))
    return out


@implements(np.polydiv)
def polydiv(u, v):
    """``np.polydiv``: quotient and remainder of polynomial division (NumPy's long division), differentiable in
    both; leading remainder coefficients that are zero to NumPy's tolerance are dropped, as NumPy does."""
    u, v = _float(_poly(u)), _float(_poly(v))
    m, n = np.shape(u)[0] - 1, np.shape(v)[0] - 1
    scale = 1.0 / getitem(v, 0)
    q, r = [], u
    for k in range(0, m - n + 1):
        d = scale * getitem(r, k)
        q.append(d)
        r = at(r)[k:k + n + 1].add(-(d * v))
    q = stack(q) if q else np.zeros(1, _dtype(u))
    while np.shape(r)[0] > 1 and np.allclose(concrete_value(getitem(r, 0)), 0, rtol=1e-14):
        r = getitem(r, slice(1, None))
    return q, r


@implements(np.apply_along_axis)
def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """``np.apply_along_axis``: ``func1d`` on every 1-d slice along ``axis``; its results are stacked where the
    axis was (a loop over the slices, each differentiated)."""
    arr = asarray(arr)
    nd = np.ndim(arr)
    axis = _axis(axis, nd, "apply_along_axis")
    moved = moveaxis(arr, axis, -1)
    outer = np.shape(moved)[:-1]
    if not outer:
        return asarray(func1d(moved, *args, **kwargs))
    results = [asarray(func1d(getitem(moved, idx), *args, **kwargs)) for idx in np.ndindex(*outer)]
    out = reshape(stack(results), outer + np.shape(results[0]))
    res_nd = np.ndim(results[0])
    # NumPy puts the result's axes where ``axis`` was
    return moveaxis(out, list(range(len(outer), len(outer) + res_nd)), list(range(axis, axis + res_nd)))


@implements(np.apply_over_axes)
def apply_over_axes(func, a, axes):
    """``np.apply_over_axes``: ``func(a, axis)`` for each axis in turn, keeping the dimensions as NumPy does."""
    from dualrev.numpy.shape import expand_dims as _expand

    val = asarray(a)
    nd = np.ndim(val)
    for axis in np.atleast_1d(axes):
        axis = int(axis) + nd if axis < 0 else int(axis)
        res = func(val, axis)
        if np.ndim(res) == np.ndim(val):
            val = res
        else:
            res = _expand(res, axis)
            if np.ndim(res) != np.ndim(val):
                raise ValueError("function is not returning an array of the correct shape")
            val = res
    return val


def _shape_query(np_func):
    def query(arr, *args, **kwargs):
        a = asarray(arr)
        return np_func(np.broadcast_to(np.empty((), np.uint8), np.shape(a)) if isinstance(a, Tracer) else a,
                       *args, **kwargs)

    query.__name__ = np_func.__name__
    query.__doc__ = f"``np.{np_func.__name__}``: depends only on the shape (no derivative)."
    implements(np_func, nondiff=True)(query)
    return query


for _f in (np.diag_indices_from, np.tril_indices_from, np.triu_indices_from, np.isfortran):
    _shape_query(_f)

__all__ += ["angle", "apply_along_axis", "apply_over_axes", "nanargmax", "nanargmin", "poly", "polydiv",
            "real_if_close", "require", "row_stack"]


# -- Bessel's i0 and vectorize --

try:  # NumPy's Chebyshev coefficients for i0 (Clenshaw's method), on |x| <= 8 and above
    from numpy.lib._function_base_impl import _i0A, _i0B
except ImportError:  # pragma: no cover - a NumPy that moved them
    _i0A = _i0B = None


def _chbevl(x, coefficients):
    b0, b1, b2 = coefficients[0], 0.0, 0.0
    for c in coefficients[1:]:
        b2, b1 = b1, b0
        b0 = x * b1 - b2 + c
    return 0.5 * (b0 - b2)


@implements(np.i0)
def i0(x):
    """``np.i0``, the modified Bessel function of the first kind, order 0, by NumPy's own Chebyshev expansions, so
    every derivative is exact to the expansion's precision (i0' = i1)."""
    if _i0A is None:
        raise NotImplementedError("dualrev.numpy.i0: this NumPy does not expose the coefficients of its i0")
    x = _float(asarray(x))
    ax = absolute(x)
    small = less_equal(ax, 8.0)
    near = where(small, ax, 8.0)  # each branch at values where it is finite (the double-where form)
    far = where(small, 9.0, ax)
    return where(small, exp(near) * _chbevl(near / 2.0 - 2.0, _i0A),
                 exp(far) * _chbevl(32.0 / far - 2.0, _i0B) / sqrt(far))


class vectorize:
    """``np.vectorize`` for functions of traced values: ``pyfunc`` is called on each element (0-d slices of the
    broadcast arguments) and the results are stacked, so each call is differentiated. ``excluded`` names arguments
    passed as they are; ``signature`` (core dimensions) is not supported. A loop, as NumPy's is: for speed write the
    function with array operations (or use dr.vmap).

    >>> dnp.vectorize(lambda v: v if v > 0 else v ** 2)(x)
    """

    def __init__(self, pyfunc, otypes=None, doc=None, excluded=None, cache=False, signature=None):
        if signature is not None:
            raise NotImplementedError("dualrev.numpy.vectorize: signature= is not supported; use dr.vmap")
        self.pyfunc, self.excluded = pyfunc, set(excluded or ())
        self.__doc__ = doc or getattr(pyfunc, "__doc__", None)

    def __call__(self, *args, **kwargs):
        names = [i for i in range(len(args)) if i not in self.excluded]
        keys = [k for k in kwargs if k not in self.excluded]
        arrays = [asarray(args[i]) for i in names] + [asarray(kwargs[k]) for k in keys]
        shape = np.broadcast_shapes(*[np.shape(a) for a in arrays])
        arrays = [broadcast_to(a, shape) for a in arrays]
        results = []
        for idx in np.ndindex(*shape):
            call_args, call_kwargs = list(args), dict(kwargs)
            for j, i in enumerate(names):
                call_args[i] = getitem(arrays[j], idx)
            for j, k in enumerate(keys):
                call_kwargs[k] = getitem(arrays[len(names) + j], idx)
            results.append(self.pyfunc(*call_args, **call_kwargs))
        if not results:
            return np.zeros(shape)
        if isinstance(results[0], tuple):
            return tuple(reshape(stack([asarray(r[k]) for r in results]), shape) for k in range(len(results[0])))
        return reshape(stack([asarray(r) for r in results]), shape)


__all__ += ["i0", "vectorize"]
