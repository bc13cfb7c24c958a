"""dualrev.scipy.stats: log densities, densities and distribution functions of jax.scipy.stats's distributions,
with its signatures (``norm.logpdf(x, loc=0, scale=1)``), as composites of dualrev operations and
dualrev.scipy.special: differentiable in every float argument, to any order.

Each distribution is a namespace (``stats.norm.logpdf``), like SciPy's and JAX's. Outside the support a log density
is -inf (a density 0, a distribution function 0 or 1) with derivative 0; the double-``where`` idiom keeps the
untaken branch finite so that no NaN leaks into a gradient. Distribution functions whose derivative in a shape
parameter SciPy cannot give (gamma.cdf in ``a``, beta.cdf in ``a`` and ``b``) raise a TypeError for it. Python
scalars are weak, as in JAX: float32 data with ``loc=0.0`` stays float32.

Imports core, dualrev.numpy and dualrev.scipy.special.
"""

from __future__ import annotations

import math

import numpy as np

from dualrev.core import Tracer
from dualrev.numpy import (
    abs as _abs, arctan, broadcast_to, exp, expand_dims, expm1, floor, log, log1p, logaddexp, logical_and, logical_or,
    pi, reshape, swapaxes, tan, where,
)
from dualrev.numpy import linalg as _nla
from dualrev.numpy import sum as _sum
from dualrev.scipy import special as sp
from dualrev.scipy.linalg import solve_triangular

__all__ = ["beta", "binom", "cauchy", "expon", "gamma", "laplace", "logistic", "multivariate_normal", "norm",
           "poisson", "t", "uniform"]

LOG_2PI = math.log(2.0 * math.pi)


def _promote(*args):
    """The arguments in one float dtype, Python scalars weak (as in JAX): float32 data and ``loc=0`` stay float32.
    Tracers are left as they are; everything else becomes a NumPy array of that dtype."""
    arrays = [a if isinstance(a, (Tracer, np.ndarray, np.generic, int, float, bool)) else np.asarray(a) for a in args]
    dtype = np.result_type(*[a.dtype if isinstance(a, (Tracer, np.ndarray, np.generic)) else a for a in arrays], 1.0)
    if dtype.kind not in "f":
        raise TypeError(f"dualrev.scipy.stats: real floating-point arguments are supported, got dtype {dtype}")
    return [a if isinstance(a, Tracer) else np.asarray(a, dtype) for a in arrays]


def _outside(bad, value, fill):
    """``fill`` where ``bad`` holds, else ``value``; its derivative is 0 where ``bad``."""
    return where(bad, fill, value)


class _Namespace:
    """A distribution's functions, as ``stats.norm.logpdf``; not instantiated."""

    def __init__(self):
        raise TypeError(f"{type(self).__name__} is a namespace of functions (e.g. .logpdf), not a class to call")


# -- continuous, location-scale --


class norm(_Namespace):
    """The normal distribution with mean ``loc`` and standard deviation ``scale``."""

    @staticmethod
    def logpdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        z = (x - loc) / scale
        return -0.5 * z * z - log(scale) - 0.5 * LOG_2PI

    @staticmethod
    def pdf(x, loc=0, scale=1):
        return exp(norm.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return sp.ndtr((x - loc) / scale)

    @staticmethod
    def logcdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return sp.log_ndtr((x - loc) / scale)

    @staticmethod
    def sf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return sp.ndtr((loc - x) / scale)

    @staticmethod
    def logsf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return sp.log_ndtr((loc - x) / scale)

    @staticmethod
    def ppf(q, loc=0, scale=1):
        q, loc, scale = _promote(q, loc, scale)
        return loc + scale * sp.ndtri(q)

    @staticmethod
    def isf(q, loc=0, scale=1):
        q, loc, scale = _promote(q, loc, scale)
        return loc - scale * sp.ndtri(q)


class t(_Namespace):
    """Student's t distribution with ``df`` degrees of freedom, shifted by ``loc`` and scaled by ``scale``."""

    @staticmethod
    def logpdf(x, df, loc=0, scale=1):
        x, df, loc, scale = _promote(x, df, loc, scale)
        z = (x - loc) / scale
        half = 0.5 * (df + 1.0)
        return (sp.gammaln(half) - sp.gammaln(0.5 * df) - 0.5 * log(df * np.pi) - log(scale)
                - half * log1p(z * z / df))

    @staticmethod
    def pdf(x, df, loc=0, scale=1):
        return exp(t.logpdf(x, df, loc, scale))


class cauchy(_Namespace):
    """The Cauchy distribution with median ``loc`` and half width ``scale``."""

    @staticmethod
    def logpdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        z = (x - loc) / scale
        return -math.log(math.pi) - log(scale) - log1p(z * z)

    @staticmethod
    def pdf(x, loc=0, scale=1):
        return exp(cauchy.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return 0.5 + arctan((x - loc) / scale) / pi

    @staticmethod
    def logcdf(x, loc=0, scale=1):
        return log(cauchy.cdf(x, loc, scale))

    @staticmethod
    def sf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return 0.5 - arctan((x - loc) / scale) / pi

    @staticmethod
    def logsf(x, loc=0, scale=1):
        return log(cauchy.sf(x, loc, scale))

    @staticmethod
    def ppf(q, loc=0, scale=1):
        q, loc, scale = _promote(q, loc, scale)
        return loc + scale * tan(pi * (q - 0.5))

    @staticmethod
    def isf(q, loc=0, scale=1):
        q, loc, scale = _promote(q, loc, scale)
        return loc + scale * tan(pi * (0.5 - q))


class laplace(_Namespace):
    """The Laplace (double exponential) distribution with location ``loc`` and scale ``scale``."""

    @staticmethod
    def logpdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return -math.log(2.0) - log(scale) - _abs((x - loc) / scale)

    @staticmethod
    def pdf(x, loc=0, scale=1):
        return exp(laplace.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        z = (x - loc) / scale
        half_tail = 0.5 * exp(-_abs(z))  # never overflows
        return where(z < 0, half_tail, 1.0 - half_tail)


class logistic(_Namespace):
    """The logistic distribution with location ``loc`` and scale ``scale``."""

    @staticmethod
    def logpdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        z = (x - loc) / scale
        return -z - 2.0 * logaddexp(0.0, -z) - log(scale)

    @staticmethod
    def pdf(x, loc=0, scale=1):
        return exp(logistic.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return sp.expit((x - loc) / scale)

    @staticmethod
    def logcdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return sp.log_expit((x - loc) / scale)

    @staticmethod
    def sf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return sp.expit((loc - x) / scale)

    @staticmethod
    def logsf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return sp.log_expit((loc - x) / scale)

    @staticmethod
    def ppf(q, loc=0, scale=1):
        q, loc, scale = _promote(q, loc, scale)
        return loc + scale * sp.logit(q)

    @staticmethod
    def isf(q, loc=0, scale=1):
        q, loc, scale = _promote(q, loc, scale)
        return loc - scale * sp.logit(q)


class uniform(_Namespace):
    """The uniform distribution on [loc, loc + scale]."""

    @staticmethod
    def logpdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        outside = logical_or(x < loc, x > loc + scale)
        return _outside(outside, -log(scale) + 0.0 * x, -np.inf)

    @staticmethod
    def pdf(x, loc=0, scale=1):
        return exp(uniform.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        return where(x < loc, 0.0, where(x >= loc + scale, 1.0, (x - loc) / scale))

    @staticmethod
    def ppf(q, loc=0, scale=1):
        q, loc, scale = _promote(q, loc, scale)
        return _outside(logical_or(q < 0, q > 1), loc + q * scale, np.nan)


class expon(_Namespace):
    """The exponential distribution with rate ``1 / scale``, shifted by ``loc``."""

    @staticmethod
    def logpdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        z = (x - loc) / scale
        return _outside(z < 0, -z - log(scale), -np.inf)

    @staticmethod
    def pdf(x, loc=0, scale=1):
        return exp(expon.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        z = (x - loc) / scale
        return _outside(z < 0, -expm1(-where(z < 0, 0.0, z)), 0.0)

    @staticmethod
    def logcdf(x, loc=0, scale=1):
        return log(expon.cdf(x, loc, scale))

    @staticmethod
    def sf(x, loc=0, scale=1):
        return exp(expon.logsf(x, loc, scale))

    @staticmethod
    def logsf(x, loc=0, scale=1):
        x, loc, scale = _promote(x, loc, scale)
        z = (x - loc) / scale
        return _outside(z < 0, -z, 0.0)

    @staticmethod
    def ppf(q, loc=0, scale=1):
        q, loc, scale = _promote(q, loc, scale)
        return loc - scale * log1p(-q)


# -- continuous with shape parameters --


class gamma(_Namespace):
    """The gamma distribution with shape ``a``, shifted by ``loc`` and scaled by ``scale``. ``cdf`` and friends are
    differentiable in ``x``, ``loc`` and ``scale``; in ``a`` they raise TypeError (see special.gammainc)."""

    @staticmethod
    def logpdf(x, a, loc=0, scale=1):
        x, a, loc, scale = _promote(x, a, loc, scale)
        y = (x - loc) / scale
        neg = y < 0
        y = where(neg, 1.0, y)
        return _outside(neg, sp.xlogy(a - 1.0, y) - y - sp.gammaln(a) - log(scale), -np.inf)

    @staticmethod
    def pdf(x, a, loc=0, scale=1):
        return exp(gamma.logpdf(x, a, loc, scale))

    @staticmethod
    def cdf(x, a, loc=0, scale=1):
        x, a, loc, scale = _promote(x, a, loc, scale)
        y = (x - loc) / scale
        neg = y <= 0
        return _outside(neg, sp.gammainc(a, where(neg, 1.0, y)), 0.0)

    @staticmethod
    def logcdf(x, a, loc=0, scale=1):
        return log(gamma.cdf(x, a, loc, scale))

    @staticmethod
    def sf(x, a, loc=0, scale=1):
        x, a, loc, scale = _promote(x, a, loc, scale)
        y = (x - loc) / scale
        neg = y <= 0
        return _outside(neg, sp.gammaincc(a, where(neg, 1.0, y)), 1.0)

    @staticmethod
    def logsf(x, a, loc=0, scale=1):
        return log(gamma.sf(x, a, loc, scale))


class beta(_Namespace):
    """The beta distribution with shapes ``a``, ``b`` on [loc, loc + scale]. ``cdf`` and friends are differentiable
    in ``x``, ``loc`` and ``scale``; in ``a`` and ``b`` they raise TypeError, as in JAX."""

    @staticmethod
    def logpdf(x, a, b, loc=0, scale=1):
        x, a, b, loc, scale = _promote(x, a, b, loc, scale)
        y = (x - loc) / scale
        outside = logical_or(y < 0, y > 1)
        y = where(outside, 0.5, y)
        log_density = sp.xlogy(a - 1.0, y) + sp.xlog1py(b - 1.0, -y) - sp.betaln(a, b) - log(scale)
        return _outside(outside, log_density, -np.inf)

    @staticmethod
    def pdf(x, a, b, loc=0, scale=1):
        return exp(beta.logpdf(x, a, b, loc, scale))

    @staticmethod
    def cdf(x, a, b, loc=0, scale=1):
        x, a, b, loc, scale = _promote(x, a, b, loc, scale)
        y = (x - loc) / scale
        inside = logical_and(y > 0, y < 1)
        value = sp.betainc(a, b, where(inside, y, 0.5))
        return where(y <= 0, 0.0, where(y >= 1, 1.0, value))

    @staticmethod
    def logcdf(x, a, b, loc=0, scale=1):
        return log(beta.cdf(x, a, b, loc, scale))

    @staticmethod
    def sf(x, a, b, loc=0, scale=1):
        return 1.0 - beta.cdf(x, a, b, loc, scale)

    @staticmethod
    def logsf(x, a, b, loc=0, scale=1):
        return log(beta.sf(x, a, b, loc, scale))


# -- discrete: differentiable in the parameters (the counts k have no derivative) --


def _not_a_count(k):
    return logical_or(k < 0, k != floor(k))


class poisson(_Namespace):
    """The Poisson distribution with mean ``mu``, shifted by ``loc``; differentiable in ``mu``."""

    @staticmethod
    def logpmf(k, mu, loc=0):
        k, mu, loc = _promote(k, mu, loc)
        k = k - loc
        bad = _not_a_count(k)
        k = where(bad, 0.0, k)
        return _outside(bad, sp.xlogy(k, mu) - sp.gammaln(k + 1.0) - mu, -np.inf)

    @staticmethod
    def pmf(k, mu, loc=0):
        return exp(poisson.logpmf(k, mu, loc))

    @staticmethod
    def cdf(k, mu, loc=0):
        k, mu, loc = _promote(k, mu, loc)
        k = k - loc
        neg = k < 0
        return _outside(neg, sp.gammaincc(floor(where(neg, 0.0, k)) + 1.0, mu), 0.0)


class binom(_Namespace):
    """The binomial distribution of ``n`` trials with success probability ``p``, shifted by ``loc``;
    differentiable in ``p`` (and in ``n``, through gammaln, as in JAX)."""

    @staticmethod
    def logpmf(k, n, p, loc=0):
        k, n, p, loc = _promote(k, n, p, loc)
        y = k - loc
        bad = logical_or(y < 0, y > n)
        y = where(bad, 0.0, y)
        log_comb = sp.gammaln(n + 1.0) - sp.gammaln(y + 1.0) - sp.gammaln(n - y + 1.0)
        return _outside(bad, log_comb + sp.xlogy(y, p) + sp.xlog1py(n - y, -p), -np.inf)

    @staticmethod
    def pmf(k, n, p, loc=0):
        return exp(binom.logpmf(k, n, p, loc))


# -- multivariate --


def _shape(x):
    return x.shape if isinstance(x, Tracer) else np.shape(x)


class multivariate_normal(_Namespace):
    """The multivariate normal distribution with mean ``mean`` (..., n) and covariance ``cov`` (n, n), a stack of
    them (..., n, n), or a scalar (isotropic); ``x`` is (..., n)."""

    @staticmethod
    def logpdf(x, mean, cov, allow_singular=None):
        """The log density at ``x`` (..., n), by the Cholesky factor of ``cov``.

        >>> multivariate_normal.logpdf(x, np.zeros(2), np.eye(2))
        """
        if allow_singular:
            raise NotImplementedError("dualrev.scipy.stats.multivariate_normal.logpdf: allow_singular=True is not "
                                      "supported (as in JAX): cov must be positive definite")
        x, mean, cov = _promote(x, mean, cov)
        d = x - mean
        n = _shape(d)[-1] if _shape(d) else 1
        if not _shape(cov):  # isotropic: cov * I
            if not _shape(d):
                return -0.5 * d * d / cov - 0.5 * (LOG_2PI + log(cov))
            return -0.5 * _sum(d * d, axis=-1) / cov - 0.5 * n * (LOG_2PI + log(cov))
        if len(_shape(cov)) < 2 or _shape(cov)[-2:] != (n, n):
            raise ValueError(f"dualrev.scipy.stats.multivariate_normal.logpdf: cov of shape {_shape(cov)} does not fit "
                             f"x - mean of shape {_shape(d)}: it must be (n, n) or (..., n, n) with n = {n}")
        L = _nla.cholesky(cov)
        if len(_shape(cov)) == 2:  # one covariance: every point is a column of one triangular solve
            batch = _shape(d)[:-1]
            y = solve_triangular(L, swapaxes(reshape(d, (-1, n)), 0, 1), lower=True)  # (n, points)
            quad = reshape(_sum(y * y, axis=0), batch)
        else:
            batch = np.broadcast_shapes(_shape(d)[:-1], _shape(cov)[:-2])
            y = solve_triangular(broadcast_to(L, batch + (n, n)), expand_dims(broadcast_to(d, batch + (n,)), -1),
                                 lower=True)
            quad = _sum(y * y, axis=(-2, -1))
        log_det = _sum(log(_nla.diagonal(L)), axis=-1)  # half the log determinant of cov
        return -0.5 * quad - 0.5 * n * LOG_2PI - log_det

    @staticmethod
    def pdf(x, mean, cov, allow_singular=None):
        """The density at ``x`` (..., n)."""
        return exp(multivariate_normal.logpdf(x, mean, cov, allow_singular))



def _describe(dist, name, f):
    """A docstring for a function that has none: what it computes and with which signature."""
    what = {"logpdf": "log probability density", "pdf": "probability density", "cdf": "cumulative distribution",
            "logcdf": "log of the cumulative distribution", "sf": "survival function (1 - cdf)",
            "logsf": "log of the survival function", "ppf": "quantile function (inverse of cdf)",
            "isf": "inverse of the survival function", "logpmf": "log probability mass", "pmf": "probability mass"}
    return f"``scipy.stats.{dist}.{name}``: the {what[name]}, differentiable; jax.scipy.stats's signature."


for _dist in (norm, t, gamma, beta, poisson, binom, multivariate_normal, expon, cauchy, laplace, logistic, uniform):
    for _name, _f in vars(_dist).items():
        if isinstance(_f, staticmethod) and not _f.__func__.__doc__:
            _f.__func__.__doc__ = _describe(_dist.__name__, _name, _f.__func__)
