"""Statistics, differentiable in the data and the weights: quantile, percentile and their NaN-ignoring versions,
cov, corrcoef, and the NaN-ignoring reductions and scans (nanmax, nanmin, nanprod, nanvar, nanstd, nanmedian,
nancumsum, nancumprod). Composites of the reductions, shape, indexing and ufuncs families, as NumPy defines them;
imports core and those families.
"""

from __future__ import annotations

import numpy as np

from dualrev.core import Tracer, concrete_value, implements
from dualrev.numpy.contractions import matmul
from dualrev.numpy.indexing import diagonal, take_along_axis
from dualrev.numpy.reductions import _inexact, _median_layout, average, cumprod, cumsum
from dualrev.numpy.reductions import all as _all
from dualrev.numpy.reductions import max as _max
from dualrev.numpy.reductions import min as _min
from dualrev.numpy.reductions import prod as _prod
from dualrev.numpy.reductions import sort
from dualrev.numpy.reductions import sum as _sum
from dualrev.numpy.shape import (
    array,
    asarray,
    astype,
    concatenate,
    expand_dims,
    reshape,
    squeeze,
    swapaxes,
)
from dualrev.numpy.ufuncs import clip, conjugate, floor, imag, isnan, logical_not, minimum, real, sqrt, where

__all__ = [
    "corrcoef", "cov", "nancumprod", "nancumsum", "nanmax", "nanmedian", "nanmin", "nanpercentile", "nanprod",
    "nanquantile", "nanstd", "nanvar", "percentile", "quantile",
]


def _dtype(x):
    return np.result_type(concrete_value(x))


# -- quantiles --

_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def _quantile(name, a, q, axis, method, keepdims, ignore_nan):
    """Quantiles ``q`` (in [0, 1]) of ``a`` over ``axis``: sort (NaNs last), take the neighbours of the position
    ``q * (n - 1)``, n the number of values (of non-NaN values, slice by slice, with ``ignore_nan``), and blend them
    as ``method`` says, with NumPy's formula. The result has q's shape in front."""
    if method not in _METHODS:
        raise ValueError(f"dualrev.numpy.{name}: method must be one of {_METHODS}, not {method!r}")
    a = _inexact(asarray(a))
    q = asarray(q)
    qv = concrete_value(q)
    if np.any((qv < 0) | (qv > 1)):
        raise ValueError(f"dualrev.numpy.{name}: quantiles must be in the range [0, 1] (percentiles in [0, 100])")
    x, kept = _median_layout(a, axis)  # the reduced axes flattened into the last one
    k, n, qd = np.shape(x)[:-1], np.shape(x)[-1], np.ndim(q)
    s = reshape(sort(x, axis=-1), (1,) * qd + k + (n,))  # q's axes in front
    qb = reshape(astype(q, _dtype(s)) if isinstance(q, Tracer) else np.asarray(q, _dtype(s)),
                 np.shape(q) + (1,) * (len(k) + 1))
    if ignore_nan:
        count = _sum(astype(logical_not(isnan(s)), _dtype(s)), axis=-1, keepdims=True)
        last = where(count > 0, count - 1.0, 0.0)
    else:
        count, last = None, float(n - 1)
    pos = qb * last
    lo = floor(pos)
    hi = minimum(lo + 1.0, last)
    t = pos - lo
    if method == "lower":
        hi, t = lo, 0.0 * t
    elif method == "higher":
        lo = where(t > 0, hi, lo)
        hi, t = lo, 0.0 * t
    elif method == "nearest":  # round half to even, as NumPy
        up = (t > 0.5) | ((t == 0.5) & (lo % 2 == 1))
        lo = where(up, hi, lo)
        hi, t = lo, 0.0 * t
    elif method == "midpoint":
        t = astype(where(pos == lo, 0.0, 0.5), _dtype(s))  # NumPy: 0.5 unless the position is a whole number
    below, above = (take_along_axis(s, _indices(i, np.shape(qb)[:qd] + k), axis=-1) for i in (lo, hi))
    diff = above - below
    out = where(t >= 0.5, above - diff * (1.0 - t), below + diff * t)  # NumPy's _lerp
    if ignore_nan:
        out = where(count > 0, out, np.nan)
    out = reshape(out, np.shape(out)[:-1])
    return reshape(out, np.shape(q) + tuple(kept)) if keepdims else out


def _indices(pos, lead):
    """Integral float positions as an integer index array of shape ``lead + (1,)`` (traced under vmap)."""
    from dualrev.numpy.shape import broadcast_to

    index = astype(pos, np.intp) if isinstance(pos, Tracer) else np.asarray(pos, np.intp)
    return broadcast_to(index, tuple(lead) + (1,))


@implements(np.quantile)
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None,
             interpolation=None):
    """``np.quantile`` with the methods 'linear' (default), 'lower', 'higher', 'nearest' and 'midpoint';
    differentiable in ``a`` and ``q``. Ties: the derivative follows the stable sort, as in JAX."""
    if out is not None or weights is not None:
        raise TypeError("dualrev.numpy.quantile: out= and weights= are not supported")
    return _quantile("quantile", a, q, axis, interpolation or method, keepdims, False)


@implements(np.percentile)
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None,
               interpolation=None):
    """``np.percentile``: ``quantile(a, q / 100)``."""
    if out is not None or weights is not None:
        raise TypeError("dualrev.numpy.percentile: out= and weights= are not supported")
    return _quantile("percentile", a, asarray(q) / 100.0, axis, interpolation or method, keepdims, False)


@implements(np.nanquantile)
def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None,
                interpolation=None):
    """``np.nanquantile``: quantiles of the non-NaN values of each slice (NaN for an all-NaN slice)."""
    if out is not None or weights is not None:
        raise TypeError("dualrev.numpy.nanquantile: out= and weights= are not supported")
    return _quantile("nanquantile", a, q, axis, interpolation or method, keepdims, True)


@implements(np.nanpercentile)
def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                  weights=None, interpolation=None):
    """``np.nanpercentile``: ``nanquantile(a, q / 100)``."""
    if out is not None or weights is not None:
        raise TypeError("dualrev.numpy.nanpercentile: out= and weights= are not supported")
    return _quantile("nanpercentile", a, asarray(q) / 100.0, axis, interpolation or method, keepdims, True)


@implements(np.nanmedian)
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """``np.nanmedian``: the median of the non-NaN values of each slice (NaN for an all-NaN slice)."""
    if out is not None:
        raise TypeError("dualrev.numpy.nanmedian: out= is not supported")
    return _quantile("nanmedian", a, 0.5, axis, "linear", keepdims, True)


# -- NaN-ignoring reductions and scans (NaNs get a zero derivative, as in JAX) --


def _no_out(name, out):
    if out is not None:
        raise TypeError(f"dualrev.numpy.{name}: out= is not supported")


def _all_nan(a, axis, keepdims):
    return _all(isnan(a), axis=axis, keepdims=keepdims)


@implements(np.nanmax)
def nanmax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """``np.nanmax``: the maximum of the non-NaN values (NaN for an all-NaN slice)."""
    _no_out("nanmax", out)
    a = asarray(a)
    m = _max(_where(isnan(a), -np.inf, a), axis=axis, keepdims=keepdims, initial=initial, where=where)
    return _where(_all_nan(a, axis, keepdims), np.nan, m) if initial is None else m


@implements(np.nanmin)
def nanmin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """``np.nanmin``: the minimum of the non-NaN values (NaN for an all-NaN slice)."""
    _no_out("nanmin", out)
    a = asarray(a)
    m = _min(_where(isnan(a), np.inf, a), axis=axis, keepdims=keepdims, initial=initial, where=where)
    return _where(_all_nan(a, axis, keepdims), np.nan, m) if initial is None else m


def _where(c, x, y):
    return where(c, x, y)


@implements(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """``np.nanprod``: the product with NaNs taken as 1."""
    _no_out("nanprod", out)
    a = asarray(a)
    return _prod(_where(isnan(a), 1.0, a), axis=axis, dtype=dtype, keepdims=keepdims, initial=initial, where=where)


@implements(np.nancumsum)
def nancumsum(a, axis=None, dtype=None, out=None):
    """``np.nancumsum``: the cumulative sum with NaNs taken as 0."""
    _no_out("nancumsum", out)
    a = asarray(a)
    return cumsum(_where(isnan(a), 0.0, a), axis=axis, dtype=dtype)


@implements(np.nancumprod)
def nancumprod(a, axis=None, dtype=None, out=None):
    """``np.nancumprod``: the cumulative product with NaNs taken as 1."""
    _no_out("nancumprod", out)
    a = asarray(a)
    return cumprod(_where(isnan(a), 1.0, a), axis=axis, dtype=dtype)


@implements(np.nanvar)
def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None):
    """``np.nanvar``: the variance of the non-NaN values (divided by their number minus ``ddof``)."""
    _no_out("nanvar", out)
    if mean is not None:
        raise TypeError("dualrev.numpy.nanvar: mean= is not supported")
    if correction is not None:
        ddof = correction
    a = _inexact(asarray(a) if dtype is None else astype(asarray(a), dtype))
    keep = logical_not(isnan(a))
    if where is not None:
        keep = keep & np.broadcast_to(where, np.shape(a)) if not isinstance(keep, Tracer) else \
            _where(where, keep, False)
    count = _sum(astype(keep, np.finfo(_dtype(a)).dtype), axis=axis, keepdims=True)  # real for complex a
    centered = _where(keep, a, 0.0) - _sum(_where(keep, a, 0.0), axis=axis, keepdims=True) / count
    if _dtype(centered).kind == "c":  # |c|**2, real, as NumPy's complex variance
        centered_squared = real(centered) * real(centered) + imag(centered) * imag(centered)
    else:
        centered_squared = centered * centered
    squares = _sum(_where(keep, centered_squared, 0.0), axis=axis, keepdims=keepdims)
    count = count if keepdims else reshape(count, np.shape(squares))
    return squares / (count - ddof)


@implements(np.nanstd)
def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None):
    """``np.nanstd``: ``sqrt(nanvar)``."""
    return sqrt(nanvar(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean, correction=correction))


# -- covariance --


@implements(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """``np.cov``: the covariance matrix of the variables (rows, or columns with ``rowvar=False``), with NumPy's
    ``ddof``/``bias`` and frequency and analytic weights; differentiable in the data and the weights."""
    x = array(m, ndmin=2, dtype=dtype) if dtype is not None else array(m, ndmin=2)
    x = _inexact(x)
    if not rowvar and np.shape(x)[0] != 1:
        x = swapaxes(x, 0, 1)
    if np.shape(x)[0] == 0:
        return np.array([]).reshape(0, 0)
    if y is not None:
        y = _inexact(array(y, ndmin=2))
        if not rowvar and np.shape(y)[0] != 1:
            y = swapaxes(y, 0, 1)
        x = concatenate([x, astype(y, _dtype(x)) if _dtype(y) != _dtype(x) else y], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    if fweights is not None:
        fweights = asarray(fweights)
        if np.any(concrete_value(fweights) < 0):
            raise ValueError("dualrev.numpy.cov: fweights cannot be negative")
        w = fweights
    if aweights is not None:
        aweights = asarray(aweights)
        if np.any(concrete_value(aweights) < 0):
            raise ValueError("dualrev.numpy.cov: aweights cannot be negative")
        w = aweights if w is None else w * aweights
    if w is not None and _dtype(w) != _dtype(x):  # weights in the data's dtype: float32 stays float32, as in JAX
        w = astype(w, _dtype(x))
    avg, w_sum = average(x, axis=1, weights=w, returned=True)
    w_sum = w_sum[0] if np.ndim(w_sum) else w_sum
    if w is None:
        fact = np.shape(x)[1] - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * _sum(w * aweights) / w_sum
    x = x - expand_dims(avg, 1)
    xt = conjugate(swapaxes(x * w if w is not None else x, 0, 1))  # of complex data, x x^H as NumPy's
    c = matmul(x, xt) / fact
    return squeeze(c)


@implements(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """``np.corrcoef``: the covariance scaled by the standard deviations, clipped to [-1, 1] as NumPy does."""
    c = cov(x, y, rowvar, dtype=dtype)
    if np.ndim(c) == 0:
        return c / c
    d = sqrt(real(diagonal(c)))
    c = c / expand_dims(d, 1) / expand_dims(d, 0)
    if _dtype(c).kind == "c":  # NumPy clips the real and imaginary parts each to [-1, 1]
        return clip(real(c), -1.0, 1.0) + 1j * clip(imag(c), -1.0, 1.0)
    return clip(c, -1.0, 1.0)

