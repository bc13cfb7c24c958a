"""dualrev.scipy.special: scipy.special's functions, differentiable, and jax.scipy.special's composites.

scipy.special's functions are NumPy ufuncs: each primitive here is the SciPy ufunc itself with its derivative rules
(``defprim(scipy.special.erf, ...)``), so a plain ``scipy.special.erf(x)`` on a traced value reaches
``Tracer.__array_ufunc__`` and is differentiated like ``np.sin(x)``. Rules are written with dualrev operations (the
primitives here among them: gammaln' = digamma, digamma' = polygamma(1, .)), so they differentiate again.
Derivatives SciPy has no function for are refused with a TypeError (gammainc, gammaincc, betainc and hyp1f1 in
their parameters), never returned as a silent zero. Conventions at the edges of a domain follow JAX; where dualrev
differs it gives the true derivative, and docs/conventions.md lists it.

``logsumexp``, ``softmax``, ``log_softmax``, ``softplus``, ``kl_div``, ``multigammaln`` and ``polygamma`` (a Python
function in SciPy) are composites or wrappers here. Imports core, dualrev.numpy and scipy.special.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.special as sc

from dualrev.core import Tracer, defprim, implements
from dualrev.numpy import (
    abs as _abs, broadcast_to, cbrt, exp, exp2, expm1, log, log1p, logaddexp, logical_and, sign, squeeze, where,
)
from dualrev.numpy import sum as _sum
from dualrev.numpy._batch import shift_axis

__all__ = [
    "beta", "betainc", "betaln", "dawsn", "digamma", "entr", "erf", "erfc", "erfcinv", "erfcx", "erfinv", "exp1",
    "exp10", "expi", "expit", "gamma", "gammainc", "gammaincc", "gammaln", "gammasgn", "hyp1f1", "i0", "i0e", "i1",
    "i1e", "kl_div", "log_expit", "log_ndtr", "log_softmax", "loggamma", "logit", "logsumexp", "multigammaln", "ndtr",
    "ndtri", "poch", "polygamma", "psi", "rel_entr", "softmax", "softplus", "xlog1py", "xlogy", "zeta",
]

SQRT_PI = math.sqrt(math.pi)
SQRT_2PI = math.sqrt(2.0 * math.pi)


def _traced(*xs) -> bool:
    return any(isinstance(x, Tracer) for x in xs)


def _quiet(rule):
    """``rule`` without NumPy's floating-point warnings: a derivative may be infinite where the function is finite
    (erfinv'(1) = inf), which JAX returns silently; so does dualrev."""

    @functools.wraps(rule)
    def quiet(*args, **params):
        with np.errstate(all="ignore"):
            return rule(*args, **params)

    return quiet


def _no_derivative(fname: str, arg: str):
    """The rule of an operand SciPy offers no derivative for: a TypeError, never a silent zero."""

    def rule(t, ans, *xs, **params):
        raise TypeError(f"dualrev.scipy.special.{fname}: the derivative with respect to `{arg}` is not supported "
                        f"(SciPy has no function for it); differentiate with respect to the other operands only, "
                        f"passing `{arg}` as a constant")

    return rule


def _ufunc(ufunc, *partials, name: str | None = None, note: str = ""):
    """A primitive for a scipy.special ufunc from its local partial derivatives (``None`` for a zero one, or a
    ``_no_derivative`` rule), registered for the ufunc itself: ``scipy.special.f(tracer)`` dispatches to it."""

    def rule(p):
        if p is None or getattr(p, "refuses", False):
            return p
        return _quiet(lambda t, ans, *xs: t * p(ans, *xs))

    rules = tuple(rule(p) for p in partials)
    return defprim(ufunc, name=f"scipy.special.{name or ufunc.__name__}", jvp=rules, vjp=rules, batch="elementwise",
                   note=note)


def _refuse(fname, arg):
    rule = _no_derivative(fname, arg)
    rule.refuses = True
    return rule


# -- error function and normal distribution --

erf = _ufunc(sc.erf, lambda ans, x: (2.0 / SQRT_PI) * exp(-(x * x)))
erfc = _ufunc(sc.erfc, lambda ans, x: (-2.0 / SQRT_PI) * exp(-(x * x)))
erfinv = _ufunc(sc.erfinv, lambda ans, x: (SQRT_PI / 2.0) * exp(ans * ans), note="+inf at ±1, as in JAX")
erfcinv = _ufunc(sc.erfcinv, lambda ans, x: (-SQRT_PI / 2.0) * exp(ans * ans), note="-inf at 0 and 2")
erfcx = _ufunc(sc.erfcx, lambda ans, x: 2.0 * x * ans - 2.0 / SQRT_PI)
dawsn = _ufunc(sc.dawsn, lambda ans, x: 1.0 - 2.0 * x * ans)
ndtr = _ufunc(sc.ndtr, lambda ans, x: exp(-0.5 * x * x) * (1.0 / SQRT_2PI))
# exp(log pdf - log cdf): finite and accurate far in the left tail, where the cdf underflows (as in JAX)
log_ndtr = _ufunc(sc.log_ndtr, lambda ans, x: exp(-0.5 * x * x - ans) * (1.0 / SQRT_2PI),
                  note="exp(log pdf(x) - log_ndtr(x)): accurate far in the left tail, as in JAX")
ndtri = _ufunc(sc.ndtri, lambda ans, x: SQRT_2PI * exp(0.5 * ans * ans), note="+inf at 0 and 1, as in JAX")

# -- gamma and beta functions --

gammaln = _ufunc(sc.gammaln, lambda ans, x: digamma(x), note="digamma(x), also for x < 0 (log|gamma|), as in JAX")
loggamma = _ufunc(sc.loggamma, lambda ans, x: digamma(x))
gamma = _ufunc(sc.gamma, lambda ans, x: ans * digamma(x))
digamma = _ufunc(sc.psi, lambda ans, x: polygamma(1, x))  # scipy.special.digamma is scipy.special.psi
psi = digamma
gammasgn = defprim(sc.gammasgn, name="scipy.special.gammasgn", nondiff=True)
beta = _ufunc(sc.beta, lambda ans, a, b: ans * (digamma(a) - digamma(a + b)),
              lambda ans, a, b: ans * (digamma(b) - digamma(a + b)))
betaln = _ufunc(sc.betaln, lambda ans, a, b: digamma(a) - digamma(a + b),
                lambda ans, a, b: digamma(b) - digamma(a + b))
poch = _ufunc(sc.poch, lambda ans, z, m: ans * (digamma(z + m) - digamma(z)), lambda ans, z, m: ans * digamma(z + m))


def _polygamma_impl(n, x):
    # SciPy computes in float64 whatever x's dtype (gamma(n + 1.0) * zeta(...)); the result keeps x's float dtype
    return np.asarray(sc.polygamma(n, x), np.result_type(x, 1.0))


_polygamma = defprim(
    _polygamma_impl, name="scipy.special.polygamma",
    jvp=(None, lambda dx, ans, n, x: dx * _polygamma(n + 1, x)),
    vjp=(None, lambda ct, ans, n, x: ct * _polygamma(n + 1, x)),
    batch="elementwise", note="d/dx polygamma(n, x) = polygamma(n + 1, x); n is an integer order, not differentiated",
)


def polygamma(n, x):
    """``scipy.special.polygamma``: the n-th derivative of digamma, for integer orders ``n >= 0``; its derivative in
    ``x`` is ``polygamma(n + 1, x)``. ``n`` is an order, not differentiable.

    >>> polygamma(1, 2.0)  # pi**2/6 - 1
    """
    if isinstance(n, Tracer):
        raise TypeError("dualrev.scipy.special.polygamma: the order `n` is an integer and has no derivative; pass it "
                        "as a plain int or integer array (not a traced value)")
    n = np.asarray(n)
    if n.dtype.kind not in "biu" and not np.all(n == np.floor(n)):
        raise ValueError(f"dualrev.scipy.special.polygamma: the order `n` must hold integers, got {n!r}")
    return _polygamma(n.astype(np.int64), x)


# -- incomplete gamma and beta functions, hypergeometric: derivatives in the variable x only --


def _gammainc_dx(ans, a, x):
    # x**(a-1) e**-x / gamma(a), with xlogy: exact at x = 0 for a = 1 (JAX's (a-1) log x gives nan there)
    return exp(xlogy(a - 1.0, x) - x - gammaln(a))


gammainc = _ufunc(sc.gammainc, _refuse("gammainc", "a"), _gammainc_dx,
                  note="in x only: the derivative in `a` raises TypeError")
gammaincc = _ufunc(sc.gammaincc, _refuse("gammaincc", "a"), lambda ans, a, x: -_gammainc_dx(ans, a, x),
                   note="in x only: the derivative in `a` raises TypeError")
betainc = _ufunc(sc.betainc, _refuse("betainc", "a"), _refuse("betainc", "b"),
                 lambda ans, a, b, x: exp(xlogy(a - 1.0, x) + xlog1py(b - 1.0, -x) - betaln(a, b)),
                 note="in x only: the derivatives in `a` and `b` raise TypeError, as in JAX")
hyp1f1 = _ufunc(sc.hyp1f1, _refuse("hyp1f1", "a"), _refuse("hyp1f1", "b"),
                lambda ans, a, b, x: (a / b) * hyp1f1(a + 1.0, b + 1.0, x),
                note="in x only: the derivatives in `a` and `b` raise TypeError")

# -- logistic function --

expit = _ufunc(sc.expit, lambda ans, x: ans * (1.0 - ans))
logit = _ufunc(sc.logit, lambda ans, x: 1.0 / (x * (1.0 - x)), note="+inf at 0 and 1, as in JAX")
log_expit = _ufunc(sc.log_expit, lambda ans, x: expit(-x))

# -- x log y and entropies --

xlogy = _ufunc(sc.xlogy, lambda ans, x, y: log(y), lambda ans, x, y: x / y,
               note="d/dx = log(y), d/dy = x / y, as in JAX (-inf and nan at x = y = 0)")
xlog1py = _ufunc(sc.xlog1py, lambda ans, x, y: log1p(y), lambda ans, x, y: x / (1.0 + y),
                 note="d/dx = log1p(y), d/dy = x / (1 + y), as in JAX")
entr = _ufunc(sc.entr, lambda ans, x: -(log(x) + 1.0), note="+inf at 0 and nan for x < 0, as in JAX")


def _rel_entr_partial(first):
    # Where x > 0 and y > 0: d/dx = log(x / y) + 1, d/dy = -x / y; elsewhere 0 (the value is the constant 0 or inf),
    # as in JAX. The double where keeps the untaken branch finite.
    def partial(ans, x, y):
        inside = logical_and(x > 0, y > 0)  # not `&`: under vmap the masks are traced
        sx, sy = where(inside, x, 1.0), where(inside, y, 1.0)
        return where(inside, log(sx / sy) + 1.0 if first else -sx / sy, 0.0)

    return partial


rel_entr = _ufunc(sc.rel_entr, _rel_entr_partial(True), _rel_entr_partial(False),
                  note="0 where x <= 0 or y <= 0 (the value is 0 or inf there), as in JAX")


@implements(sc.kl_div)
def kl_div(x, y):
    """``scipy.special.kl_div``: ``rel_entr(x, y) - x + y``, with rel_entr's derivatives (as in JAX)."""
    if not _traced(x, y):
        return sc.kl_div(x, y)
    return rel_entr(x, y) - x + y


# -- modified Bessel functions --


def _i1_dx(ans, x):
    # i0(x) - i1(x) / x, which is 1/2 at x = 0 (double where)
    zero = x == 0
    safe = where(zero, 1.0, x)
    return where(zero, 0.5, i0(x) - i1(safe) / safe)


def _i1e_dx(ans, x):
    # i0e(x) - i1e(x) (sign(x) + 1/x), 1/2 at x = 0, as in JAX
    zero = x == 0
    safe = where(zero, 1.0, x)
    return where(zero, 0.5, i0e(x) - i1e(safe) * (sign(safe) + 1.0 / safe))


i0 = _ufunc(sc.i0, lambda ans, x: i1(x), note="i1(x): 0 at x = 0 (JAX: 1, from its abs'(0) = 1 in exp(|x|) i0e(x))")
i1 = _ufunc(sc.i1, _i1_dx, note="i0(x) - i1(x)/x, 1/2 at x = 0, as in JAX")
i0e = _ufunc(sc.i0e, lambda ans, x: i1e(x) - sign(x) * ans, note="0 at the kink x = 0, as in JAX")
i1e = _ufunc(sc.i1e, _i1e_dx, note="1/2 at x = 0, as in JAX")

# -- exponential integrals --

exp1 = _ufunc(sc.exp1, lambda ans, x: -exp(-x) / x)
expi = _ufunc(sc.expi, lambda ans, x: exp(x) / x)

# -- zeta: the derivative in x by the Euler-Maclaurin series of d/dx zeta(x, q) --

_EM_TERMS = 9  # the direct sum runs over k < N = 9; then 9 Bernoulli corrections: float64 accuracy for q > 0
_BERNOULLI = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798]  # B_2 .. B_18


def _zeta_dx(x, q):
    """d/dx zeta(x, q) = -sum_k log(q + k) (q + k)**-x, by the Euler-Maclaurin formula (a sum of N terms, the tail
    integral, and Bernoulli corrections), written with dualrev operations: differentiable again in x and q."""
    n = _EM_TERMS
    out = 0.0
    for k in range(n):
        qk = q + float(k)
        out = out - log(qk) * exp(-x * log(qk))
    qn = q + float(n)
    log_qn = log(qn)
    tail = exp((1.0 - x) * log_qn)  # (q + N)**(1 - x)
    out = out - tail * (log_qn / (x - 1.0) + 1.0 / ((x - 1.0) * (x - 1.0))) - 0.5 * log_qn * exp(-x * log_qn)
    # B_2j / (2j)! d/dx [P_j(x) (q + N)**(1 - x - 2j)], P_j(x) = x (x + 1) ... (x + 2j - 2)
    p, dp = x, 1.0
    factorial = 2.0
    for j, b in enumerate(_BERNOULLI, start=1):
        if j > 1:
            u, v = x + (2 * j - 3.0), x + (2 * j - 2.0)
            p, dp = p * u * v, dp * u * v + p * (u + v)
            factorial *= (2 * j - 1) * (2 * j)
        power = exp((1.0 - x - 2.0 * j) * log_qn)
        out = out + (b / factorial) * power * (dp - p * log_qn)
    return out


hurwitz_zeta = _ufunc(sc._ufuncs._zeta, lambda ans, x, q: _zeta_dx(x, q),
                      lambda ans, x, q: -x * hurwitz_zeta(x + 1.0, q), name="zeta",
                      note="d/dx by the Euler-Maclaurin series of the derivative; d/dq = -x zeta(x + 1, q)")
riemann_zeta = _ufunc(sc._ufuncs._riemann_zeta, lambda ans, x: _zeta_dx(x, 1.0), name="riemann_zeta",
                      note="d/dx by the Euler-Maclaurin series of the derivative (any x != 1)")


def zeta(x, q=None):
    """``scipy.special.zeta``: the Riemann zeta function, or Hurwitz's ``zeta(x, q)``; differentiable in both.

    >>> zeta(2.0)  # pi**2 / 6
    """
    if q is None:
        return riemann_zeta(x)
    return hurwitz_zeta(x, q)


# -- SciPy's own copies of NumPy ufuncs (scipy.special.expm1 and friends) --

for _sc_func, _f in [(sc.expm1, expm1), (sc.log1p, log1p), (sc.cbrt, cbrt), (sc.exp2, exp2)]:
    implements(_sc_func)(_f)


@implements(sc.exp10)
def exp10(x):
    """``scipy.special.exp10``: ``10**x``."""
    return exp(x * math.log(10.0)) if isinstance(x, Tracer) else sc.exp10(x)


# -- composites of jax.scipy.special --


def softplus(x):
    """``scipy.special.softplus``: ``log(1 + exp(x))``, stably as ``logaddexp(0, x)`` (SciPy's own definition, so
    plain ``scipy.special.softplus`` on traced values works too)."""
    return logaddexp(0.0, x)


def multigammaln(a, d: int):
    """``scipy.special.multigammaln``: the log of the multivariate gamma function of dimension ``d``,
    ``d (d - 1) / 4 log(pi) + sum_j gammaln(a - j / 2)``."""
    d = int(d)
    out = d * (d - 1) / 4.0 * math.log(math.pi)
    for j in range(d):
        out = out + gammaln(a - 0.5 * j)
    return out


def _logsumexp_shift_impl(a, *, axis):
    # The largest element along axis (kept), 0 where it is not finite: a constant shift for exp's range
    m = np.max(a, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0.0).astype(np.result_type(a, 1.0))


# No derivative: the shift cancels from logsumexp's value, so its derivative terms would add zero up to rounding
# (JAX applies stop_gradient to it for the same reason).
_logsumexp_shift = defprim(
    _logsumexp_shift_impl, name="scipy.special.logsumexp_shift", nondiff=True,
    batch=lambda args, batched, *, axis: _logsumexp_shift(args[0], axis=shift_axis(axis, args[0].ndim - 1)),
)


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(int(a) % max(ndim, 1) for a in axis)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``scipy.special.logsumexp``: ``log(sum(b * exp(a)))`` along ``axis``, computed stably; with
    ``return_sign=True`` the pair ``(log|s|, sign(s))``, else NaN where the weighted sum is negative.

    >>> logsumexp(x, axis=-1)
    """
    if b is not None:
        shape = np.broadcast_shapes(np.shape(a) if not isinstance(a, Tracer) else a.shape,
                                    np.shape(b) if not isinstance(b, Tracer) else b.shape)
        a, b = broadcast_to(a, shape), broadcast_to(b, shape)
        a = where(b == 0, -np.inf, a)
    ndim = np.ndim(a) if not isinstance(a, Tracer) else a.ndim
    axes = _axes(axis, ndim)
    shift = _logsumexp_shift(a, axis=axes)
    terms = exp(a - shift)
    if b is not None:
        terms = terms * b
    total = _sum(terms, axis=axes, keepdims=True)
    sgn = sign(total)
    with np.errstate(divide="ignore"):
        out = log(_abs(total) if (b is not None or return_sign) else total) + shift
    if not keepdims:
        out, sgn = squeeze(out, axis=axes), squeeze(sgn, axis=axes)
    if return_sign:
        return out, sgn
    if b is not None:
        out = where(sgn < 0, np.nan, out)
    return out


def softmax(x, axis=None):
    """``scipy.special.softmax``: ``exp(x) / sum(exp(x))`` along ``axis`` (None: all of ``x``), computed stably."""
    return exp(x - logsumexp(x, axis=axis, keepdims=True))


def log_softmax(x, axis=None):
    """``scipy.special.log_softmax``: ``x - logsumexp(x)`` along ``axis`` (None: all of ``x``)."""
    return x - logsumexp(x, axis=axis, keepdims=True)

