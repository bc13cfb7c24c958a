"""Elementwise primitives: unary and binary arithmetic, transcendental functions, comparisons, where, and the
elementwise composites built on them (square, reciprocal, sinc, clip, fmax, nan_to_num, ...).

Rules are written with dualrev operations (never raw NumPy on operands) so that they differentiate again.
Broadcasting and dtype fitting of tangents and cotangents happen in the engine. Conventions at non-differentiable
points follow JAX unless a ``note=`` says otherwise; docs/conventions.md lists them. Imports only core.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from dualrev.core import Tracer, dtype_of, defprim, implements, primal_value

__all__ = [
    "abs", "absolute", "add", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "around",
    "cbrt", "ceil", "clip", "conj", "conjugate", "copysign", "cos", "cosh", "deg2rad", "degrees", "divide",
    "divmod", "equal", "exp", "exp2", "expm1", "fabs", "float_power", "floor", "floor_divide", "fmax", "fmin",
    "fmod", "greater", "greater_equal", "hypot", "imag", "isfinite", "isinf", "isnan", "less", "less_equal", "log",
    "log1p", "log2", "log10", "logaddexp", "logaddexp2", "logical_and", "logical_not", "logical_or", "logical_xor",
    "maximum", "minimum", "mod", "multiply", "nan_to_num", "negative", "not_equal", "positive", "power", "rad2deg",
    "radians", "real", "reciprocal", "remainder", "rint", "round", "sign", "signbit", "sin", "sinc", "sinh", "sqrt",
    "square", "subtract", "tan", "tanh", "true_divide", "trunc", "where",
]

LN2 = math.log(2.0)
LN10 = math.log(10.0)


def _traced(*xs) -> bool:
    return any(isinstance(x, Tracer) for x in xs)


def _batched(x) -> bool:
    """Whether ``x`` differs from example to example: a vmap level is among its levels."""
    while isinstance(x, Tracer):
        if x._trace.batched:
            return True
        x = x.primal
    return False


def _no_batched_shape(name: str, x) -> None:
    """A data-dependent output shape (nonzero's) cannot be batched: each example would have its own shape."""
    if _batched(x):
        raise TypeError(f"dualrev.numpy.{name}: under vmap the number of selected elements differs per example, so "
                        "the output has no single shape; use dnp.where(condition, x, y) or a mask instead")


def _quiet(rule):
    """``rule`` without NumPy's floating-point warnings: a derivative may be infinite or NaN where the function is
    finite (sqrt'(0) = inf), which JAX returns silently; so does dualrev, even under ``np.seterr(all="raise")``."""

    @functools.wraps(rule)
    def quiet(*args, **params):
        with np.errstate(all="ignore"):
            return rule(*args, **params)

    return quiet


def _singular(impl, *partials, **kwargs):
    """An elementwise primitive from its partials (``None`` for a zero one), evaluated quietly (see ``_quiet``):
    for derivatives that are infinite at some points."""

    def rule(p):
        return None if p is None else _quiet(lambda t, ans, *xs: t * p(ans, *xs))

    rules = tuple(rule(p) for p in partials)
    return defprim(impl, jvp=rules, vjp=rules, **kwargs)


def _replace_posinf(v):
    """``v`` with +inf replaced by 0 (JAX's logaddexp rule does this to avoid inf - inf); branch-free, so that it
    is right per example under vmap and needs no guard under dr.jit."""
    return where(v == np.inf, 0.0, v)


# -- binary arithmetic --

add = defprim(np.add, vjp_reads=((), ()), supports_complex=True,
              jvp=(lambda dx, ans, x, y: dx, lambda dy, ans, x, y: dy),
              vjp=(lambda ct, ans, x, y: ct, lambda ct, ans, x, y: ct))
subtract = defprim(np.subtract, vjp_reads=((), ()), supports_complex=True,
                   jvp=(lambda dx, ans, x, y: dx, lambda dy, ans, x, y: -dy),
                   vjp=(lambda ct, ans, x, y: ct, lambda ct, ans, x, y: -ct))
multiply = defprim(np.multiply, vjp_reads=((1,), (0,)), supports_complex=True,
                   partials=(lambda ans, x, y: y, lambda ans, x, y: x))
true_divide = defprim(np.true_divide, name="divide", vjp_reads=((1,), ("ans", 1)), supports_complex=True,
                      jvp=(lambda dx, ans, x, y: dx / y, lambda dy, ans, x, y: -dy * ans / y),
                      vjp=(lambda ct, ans, x, y: ct / y, lambda ct, ans, x, y: -ct * ans / y))
divide = true_divide


def _pow_dx(ans, x, y):
    # d/dx x**y = y x**(y-1). At x == 0 and y == 0 it is 0 (x**0 == 1 for every x), not 0 * inf: that one point is
    # replaced by the double-where idiom, so the y-derivative of this partial stays x**(y-1) (1/x at y == 0).
    if not isinstance(y, Tracer) and np.ndim(y) == 0:  # a constant scalar exponent: x**2, x**0.5, ...
        if y == 0 or y == 1:
            return float(y)
        return x * y if y == 2 else y * x ** (y - 1)
    if not isinstance(y, Tracer) and not np.any(np.equal(y, 0)):  # a constant exponent without zeros: no 0 * inf
        return y * x ** (y - 1)
    both_zero = logical_and(x == 0, y == 0)  # no look at the values: right per example under vmap, no jit guard
    return where(both_zero, 0.0, y * where(both_zero, 1.0, x) ** (y - 1))


def _pow_dy(ans, x, y):
    # d/dy x**y = log(x) x**y; at x == 0 it is taken as 0 (log replaced by log(1)), as in JAX. Branch-free (see
    # _pow_dx); for a constant x this is plain NumPy.
    return ans * log(where(x == 0, 1.0, x))


power = _singular(np.power, _pow_dx, _pow_dy,
                  note="d/dx is y x**(y-1), taken as 0 at x == y == 0 (x**0 == 1; JAX: 0 for integer y, nan for "
                       "float y); d/dy is 0 where x == 0, as in JAX", supports_complex=True)


def float_power(x, y):
    """``np.float_power``: ``power`` in float64 whatever the input dtypes (as NumPy; cotangents are cast back)."""
    if not _traced(x, y):
        return np.float_power(x, y)
    return power(_as_float64(x), _as_float64(y))


def _as_float64(v):
    dtype = np.complex128 if dtype_of(v).kind == "c" else np.float64  # complex stays complex, as in NumPy
    return v.astype(dtype) if isinstance(v, Tracer) else np.asarray(v, dtype)


def _max_partials(first):
    # Ties split the derivative evenly between the operands, as JAX does.
    def partial(ans, x, y):
        a, b = (x, y) if first else (y, x)
        dtype = ans.dtype
        return (a > b).astype(dtype) + 0.5 * (a == b).astype(dtype)

    return partial


# Complex values are ordered lexicographically (real part first), as NumPy and JAX order them.
maximum = defprim(np.maximum, partials=(_max_partials(True), _max_partials(False)), supports_complex=True,
                  note="ties split the derivative evenly, as in JAX")
minimum = defprim(np.minimum, partials=(_max_partials(False), _max_partials(True)), supports_complex=True,
                  note="ties split the derivative evenly, as in JAX")


def fmax(x1, x2):
    """``np.fmax``: the larger, ignoring a NaN; at ties the derivative goes to ``x2``, as in JAX (not split)."""
    if not _traced(x1, x2):
        return np.fmax(x1, x2)
    return where(logical_or(x1 > x2, isnan(x2)), x1, x2)


def fmin(x1, x2):
    """``np.fmin``: the smaller, ignoring a NaN; at ties the derivative goes to ``x2``, as in JAX (not split)."""
    if not _traced(x1, x2):
        return np.fmin(x1, x2)
    return where(logical_or(x1 < x2, isnan(x2)), x1, x2)


_UNSET = object()


def clip(a, a_min=_UNSET, a_max=_UNSET, out=None, *, min=_UNSET, max=_UNSET, **kwargs):
    """``np.clip``: ``minimum(max, maximum(min, a))``, as in JAX, so at a bound the derivative is split evenly
    between ``a`` and the bound; bounds may be arrays, None or traced.

    >>> clip(x, 0.0, 1.0)
    """
    if out is not None or kwargs:
        raise TypeError("dualrev.numpy.clip: out= and other extras are not supported")
    lo = _one_of(a_min, min, "a_min", "min")
    hi = _one_of(a_max, max, "a_max", "max")
    if not _traced(a, lo, hi):
        return np.clip(a, lo, hi)
    if lo is not None:
        a = maximum(lo, a)
    if hi is not None:
        a = minimum(hi, a)
    return a


def _one_of(positional, keyword, name, kw_name):
    if positional is not _UNSET and keyword is not _UNSET:
        raise TypeError(f"dualrev.numpy.clip: give {name} or {kw_name}, not both")
    v = keyword if positional is _UNSET else positional
    return None if v is _UNSET else v


def _copysign_dx(ans, x, y):
    # copysign(x, y) = where(signbit(y), -abs(x), abs(x)), as in JAX: with abs'(0) = 1, also at x = -0.0.
    flip = (x < 0) != signbit(y)
    return np.where(flip, -1.0, 1.0).astype(ans.dtype)


copysign = defprim(np.copysign, partials=(_copysign_dx, None),
                   note="d/dx is ±1 by the signs of x and y, with abs'(0) = 1 (also at -0.0); d/dy is 0; as in JAX")


def _arctan2_partial(first):
    def partial(ans, x1, x2):  # arctan2(x1, x2) is the angle of (x2, x1)
        return (x2 if first else -x1) / (x1 * x1 + x2 * x2)

    return partial


arctan2 = _singular(np.arctan2, _arctan2_partial(True), _arctan2_partial(False),
                    note="nan at (0, 0), as in JAX")


def _quotient_or_impl(a, b, c):
    # The impl runs on plain arrays and may look at them: the division is quiet, and the zeros of b are replaced only
    # when there are some (a reduction instead of np.where on every call: 1.1 ms instead of 4.8 ms for 10**6
    # elements, 11 us instead of 17 us for 10**4, by timeit); shape and dtype never depend on it.
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.true_divide(a, b)
    zero = np.equal(b, 0)
    if zero.any():
        return np.where(zero, c, q)
    if type(c) is float or (np.shape(c) == np.shape(q) and getattr(c, "dtype", None) == q.dtype):
        return q  # (a Python float is weak: it changes neither)
    shape, dtype = np.broadcast_shapes(np.shape(q), np.shape(c)), np.result_type(q, c)
    return q if np.shape(q) == shape and q.dtype == dtype else np.broadcast_to(q, shape).astype(dtype)


# where(b == 0, c, a / b) with no 0/0 anywhere: the double-where idiom as one primitive (a removable singularity's
# value c), so that a rule needs no look at the data and the common path stays one call. Its derivatives are those
# of c where b == 0 and of a / b elsewhere, at every order, as for JAX's double where.
_quotient_or = defprim(
    _quotient_or_impl, name="quotient_or", vjp_reads=((1,), ("ans", 1), (1,)),
    jvp=(_quiet(lambda da, ans, a, b, c: _quotient_or(da, b, 0.0)),
         _quiet(lambda db, ans, a, b, c: -_quotient_or(db * ans, b, 0.0)),
         _quiet(lambda dc, ans, a, b, c: _quotient_or(0.0, b, dc))),
    vjp=(_quiet(lambda ct, ans, a, b, c: _quotient_or(ct, b, 0.0)),
         _quiet(lambda ct, ans, a, b, c: -_quotient_or(ct * ans, b, 0.0)),
         _quiet(lambda ct, ans, a, b, c: _quotient_or(0.0, b, ct))),
    batch="elementwise", supports_complex=True,  # a / b and the choice are holomorphic
    note="where(b == 0, c, a / b) without 0/0 (the derivatives of c there, of a / b elsewhere, at every order); "
         "private: a removable singularity's value in rules (hypot at (0, 0), sinc at 0)",
)


def _hypot_partial(first):
    # x / hypot(x, y); at (0, 0) it is 1/2 for each operand, as in JAX (hypot is max(|x|, |y|) there, whose tie
    # splits evenly).
    def partial(ans, x, y):
        v = x if first else y
        return _quotient_or(v, ans, 0.5)  # branch-free: right per example under vmap, no guard under dr.jit

    return partial


hypot = _singular(np.hypot, _hypot_partial(True), _hypot_partial(False),
                  note="1/2 for each operand at (0, 0), as in JAX; the second derivative where |x| == |y| is the "
                       "true one (JAX's max/min formulation gives 0 there)")


def _logaddexp_partial(first, exp_fn):
    # exp(x - ans) <= 1: finite for any finite inputs; +inf replaced by 0, as in JAX.
    def partial(ans, x, y):
        return exp_fn(_replace_posinf(x if first else y) - _replace_posinf(ans))

    return partial


logaddexp = defprim(np.logaddexp, partials=(_logaddexp_partial(True, lambda v: exp(v)),
                                            _logaddexp_partial(False, lambda v: exp(v))),
                    note="d/dx = exp(x - ans): stable for large inputs; +inf taken as 0 inside it, as in JAX")
logaddexp2 = defprim(np.logaddexp2, partials=(_logaddexp_partial(True, lambda v: exp2(v)),
                                              _logaddexp_partial(False, lambda v: exp2(v))),
                     note="d/dx = 2**(x - ans): stable for large inputs; +inf taken as 0 inside it, as in JAX")


def _rounded_quotient_impl(x, y, *, trunc):
    with np.errstate(all="ignore"):
        if trunc:
            # fmod(x, y) == x - trunc(x / y) * y; the quotient from fmod's exact result, as floor_divide does for
            # remainder, not from x / y, which may round to an integer it is not
            return np.rint((x - np.fmod(x, y)) / y)
        return np.floor_divide(x, y)  # remainder(x, y) == x - floor_divide(x, y) * y, in NumPy


# The rounded quotient of x / y (towards zero, or down): a piecewise constant, so no derivative; a primitive so that
# it is computed per example under vmap.
_rounded_quotient = defprim(_rounded_quotient_impl, name="rounded_quotient", nondiff=True, batch="elementwise")


def _floor_quotient(x, y):
    return _rounded_quotient(x, y, trunc=False)


def _trunc_quotient(x, y):
    return _rounded_quotient(x, y, trunc=True)


remainder = defprim(
    np.remainder,
    jvp=(lambda dx, ans, x, y: dx, lambda dy, ans, x, y: -dy * _floor_quotient(x, y)),
    vjp=(lambda ct, ans, x, y: ct, lambda ct, ans, x, y: -ct * _floor_quotient(x, y)),
    note="d/dx = 1, d/dy = -floor(x / y) (-x / y at the jumps), as in JAX",
)
mod = remainder


def divmod(x1, x2):
    """``np.divmod``: ``(floor_divide(x1, x2), remainder(x1, x2))``; the quotient is a plain array (no derivative)."""
    if not _traced(x1, x2):
        return np.divmod(x1, x2)
    return floor_divide(x1, x2), remainder(x1, x2)


fmod = defprim(
    np.fmod,
    jvp=(lambda dx, ans, x, y: dx, lambda dy, ans, x, y: -dy * _trunc_quotient(x, y)),
    vjp=(lambda ct, ans, x, y: ct, lambda ct, ans, x, y: -ct * _trunc_quotient(x, y)),
    note="d/dx = 1, d/dy = -trunc(x / y), as in JAX",
)

# -- unary --

negative = defprim(np.negative, vjp_reads=((),), supports_complex=True,
                   jvp=(lambda dx, ans, x: -dx,), vjp=(lambda ct, ans, x: -ct,))


def positive(x):
    """``np.positive``: the identity."""
    return x if isinstance(x, Tracer) else np.positive(x)


exp = defprim(np.exp, vjp_reads=(("ans",),), supports_complex=True, partials=lambda ans, x: ans)
exp2 = defprim(np.exp2, supports_complex=True, vjp_reads=(("ans",),), partials=lambda ans, x: ans * LN2)
expm1 = defprim(np.expm1, supports_complex=True, vjp_reads=(("ans",),), partials=lambda ans, x: ans + 1.0)
log = defprim(np.log, supports_complex=True,
              jvp=(_quiet(lambda dx, ans, x: dx / x),), vjp=(_quiet(lambda ct, ans, x: ct / x),),
              vjp_reads=((0,),), note="log'(0) = +inf, as in JAX")
log2 = _singular(np.log2, lambda ans, x: 1.0 / (x * LN2), supports_complex=True)
log10 = _singular(np.log10, lambda ans, x: 1.0 / (x * LN10), supports_complex=True)
log1p = _singular(np.log1p, lambda ans, x: 1.0 / (x + 1.0), vjp_reads=((0,),), supports_complex=True)
sqrt = _singular(np.sqrt, lambda ans, x: 0.5 / ans, vjp_reads=(("ans",),),
                 note="sqrt'(0) = +inf, as in JAX", supports_complex=True)
cbrt = _singular(np.cbrt, lambda ans, x: (1.0 / 3.0) / (ans * ans), vjp_reads=(("ans",),),
                 note="cbrt'(0) = +inf, as in JAX")


def square(x):
    """``np.square``: ``x * x``."""
    return multiply(x, x) if isinstance(x, Tracer) else np.square(x)


def reciprocal(x):
    """``np.reciprocal``: ``1 / x``."""
    return true_divide(1.0, x) if isinstance(x, Tracer) else np.reciprocal(x)


sin = defprim(np.sin, supports_complex=True, vjp_reads=((0,),), partials=lambda ans, x: cos(x))
cos = defprim(np.cos, supports_complex=True, vjp_reads=((0,),), partials=lambda ans, x: -sin(x))
tan = defprim(np.tan, supports_complex=True, vjp_reads=(("ans",),), partials=lambda ans, x: 1.0 + ans * ans)
arcsin = _singular(np.arcsin, lambda ans, x: 1.0 / sqrt(1.0 - x * x),
                   note="+inf at ±1, as in JAX", supports_complex=True)
arccos = _singular(np.arccos, lambda ans, x: -1.0 / sqrt(1.0 - x * x),
                   note="-inf at ±1, as in JAX", supports_complex=True)
arctan = defprim(np.arctan, supports_complex=True, vjp_reads=((0,),), partials=lambda ans, x: 1.0 / (1.0 + x * x))
sinh = defprim(np.sinh, supports_complex=True, vjp_reads=((0,),), partials=lambda ans, x: cosh(x))
cosh = defprim(np.cosh, supports_complex=True, vjp_reads=((0,),), partials=lambda ans, x: sinh(x))
tanh = defprim(np.tanh, supports_complex=True, vjp_reads=(("ans",),), partials=lambda ans, x: 1.0 - ans * ans)
arcsinh = defprim(np.arcsinh, supports_complex=True, vjp_reads=((0,),), partials=lambda ans, x: 1.0 / sqrt(x * x + 1.0))
# sqrt(x - 1) sqrt(x + 1), not sqrt(x*x - 1): no cancellation near x = 1, and the principal branch for complex x
arccosh = _singular(np.arccosh, lambda ans, x: 1.0 / (sqrt(x - 1.0) * sqrt(x + 1.0)), supports_complex=True,
                    note="+inf at 1, as in JAX")
arctanh = _singular(np.arctanh, lambda ans, x: 1.0 / ((1.0 + x) * (1.0 - x)),
                   note="+inf at ±1, as in JAX", supports_complex=True)


def deg2rad(x):
    """``np.deg2rad`` and ``np.radians``: ``x * (pi / 180)``."""
    return x * (np.pi / 180.0) if isinstance(x, Tracer) else np.deg2rad(x)


def rad2deg(x):
    """``np.rad2deg`` and ``np.degrees``: ``x * (180 / pi)``."""
    return x * (180.0 / np.pi) if isinstance(x, Tracer) else np.rad2deg(x)


radians = deg2rad
degrees = rad2deg

def _abs_direction(ans, x):
    # conj(z) / |z|, with |z| = 0 replaced by 1 so that the derivative at 0 is 0, as JAX's rule
    return conj(x) / where(ans == 0, 1.0, ans)


def _abs_jvp(dx, ans, x):
    if dtype_of(x).kind == "c":  # |z| is real-valued: d|z| = Re(dz conj(z) / |z|)
        return real(dx * _abs_direction(ans, x))
    return dx * np.where(x >= 0, 1, -1).astype(ans.dtype)


def _abs_vjp(ct, ans, x):
    if dtype_of(x).kind == "c":  # the transpose of dz -> Re(dz w) is ct -> ct w (VJP = transpose, as in JAX)
        return ct * _abs_direction(ans, x)
    return ct * np.where(x >= 0, 1, -1).astype(ans.dtype)


absolute = defprim(np.absolute, name="abs", jvp=(_abs_jvp,), vjp=(_abs_vjp,), batch="elementwise",
                   supports_complex=True,
                   note="abs'(0) = 1 (also at -0.0), as in JAX; of complex z: conj(z)/|z|, 0 at z = 0, as in JAX")
abs = absolute


def fabs(x):
    """``np.fabs``: ``abs`` (abs'(0) = 1, as in JAX) of real values; NumPy's has no complex loop."""
    if isinstance(x, Tracer) and x.dtype.kind == "c":
        raise TypeError("dualrev.numpy.fabs: ufunc 'fabs' not supported for the input types (complex), as in NumPy; "
                        "use dnp.abs")
    return absolute(x) if isinstance(x, Tracer) else np.fabs(x)


# sinc, as in JAX: the double-where idiom away from 0, and at 0 a primitive whose k-th derivative is the k-th
# derivative of sin(t)/t at t = 0, so that every order is exact there.


def _sinc_maclaurin_impl(x, *, k):
    # The value of the k-th derivative of sin(t)/t at t = 0, shaped like x: x only carries the perturbation.
    return np.zeros_like(x) + (0.0 if k % 2 else (-1.0) ** (k // 2) / (k + 1))


sinc_maclaurin = defprim(
    _sinc_maclaurin_impl, name="sinc_maclaurin",
    jvp=(lambda dx, ans, x, *, k: dx * sinc_maclaurin(x, k=k + 1),),
    vjp=(lambda ct, ans, x, *, k: ct * sinc_maclaurin(x, k=k + 1),),
    batch="elementwise",
    note="the k-th derivative of sin(t)/t at t = 0, with the (k+1)-th as its derivative: sinc's value at 0",
)


def sinc(x):
    """``np.sinc``: ``sin(pi x) / (pi x)``, with exact derivatives of every order at 0 (0, -pi**2/3, ...), as in JAX.
    """
    if not isinstance(x, Tracer):
        return np.sinc(x)
    pi_x = x * np.pi
    # branch-free: right per example under vmap, no guard under dr.jit
    return _quotient_or(sin(pi_x), pi_x, sinc_maclaurin(pi_x, k=0))


# -- real and complex parts (JAX's rules: the VJP is the transpose of the JVP, with <a, b> = Re(a b)) --

_real = defprim(np.real, name="real", vjp_reads=((),), supports_complex=True, batch="elementwise",
                jvp=(lambda dz, ans, z: _real(dz),),
                vjp=(lambda ct, ans, z: ct,))  # the engine casts the real cotangent to z's complex dtype
_imag = defprim(np.imag, name="imag", vjp_reads=((),), supports_complex=True, batch="elementwise",
                jvp=(lambda dz, ans, z: _imag(dz),),
                vjp=(lambda ct, ans, z: ct * -1j,))  # Im(dz) = Re(-i dz)
_conjugate = defprim(np.conjugate, name="conjugate", vjp_reads=((),), supports_complex=True, batch="elementwise",
                     jvp=(lambda dz, ans, z: _conjugate(dz),),
                     vjp=(lambda ct, ans, z: _conjugate(ct),))


def real(val):
    """``np.real``: the real part (of a real value, the value itself)."""
    if isinstance(val, Tracer) and val.dtype.kind == "c":
        return _real(val)
    return val if isinstance(val, Tracer) else np.real(val)


def imag(val):
    """``np.imag``: the imaginary part; of a real value, zeros, a plain array (its derivative is 0, as in JAX)."""
    if isinstance(val, Tracer) and val.dtype.kind == "c":
        return _imag(val)
    return np.zeros(val.shape, val.dtype) if isinstance(val, Tracer) else np.imag(val)


def conjugate(x):
    """``np.conjugate`` (``np.conj``): the complex conjugate (of a real value, the value itself)."""
    if isinstance(x, Tracer) and x.dtype.kind == "c":
        return _conjugate(x)
    return x if isinstance(x, Tracer) else np.conjugate(x)


conj = conjugate


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``np.nan_to_num``: derivative 1 where ``x`` is finite, 0 where a NaN or infinity is replaced, as in JAX."""
    if not isinstance(x, Tracer):
        return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    finite = isfinite(x)  # branch-free: right per example under vmap, no guard under dr.jit
    info, cast = np.finfo(x.dtype), x.dtype.type  # the replacements in x's dtype, as NumPy gives them
    with np.errstate(over="ignore"):  # a bound too large for float32 becomes inf, as in NumPy
        big = info.max if posinf is None else cast(posinf)
        small = info.min if neginf is None else cast(neginf)
    # the replacements are constants, chosen by masks without derivative
    return where(finite, x, where(isnan(x), cast(nan), where(x > 0, big, small)))


# -- non-differentiable: plain arrays out, so Python control flow on them works --

sign = defprim(np.sign, nondiff=True)
floor = defprim(np.floor, nondiff=True)
ceil = defprim(np.ceil, nondiff=True)
trunc = defprim(np.trunc, nondiff=True)
rint = defprim(np.rint, nondiff=True)
signbit = defprim(np.signbit, nondiff=True)
greater = defprim(np.greater, nondiff=True)
greater_equal = defprim(np.greater_equal, nondiff=True)
less = defprim(np.less, nondiff=True)
less_equal = defprim(np.less_equal, nondiff=True)
equal = defprim(np.equal, nondiff=True)
not_equal = defprim(np.not_equal, nondiff=True)
logical_and = defprim(np.logical_and, nondiff=True)
logical_or = defprim(np.logical_or, nondiff=True)
logical_xor = defprim(np.logical_xor, nondiff=True)
logical_not = defprim(np.logical_not, nondiff=True)
isfinite = defprim(np.isfinite, nondiff=True)
isnan = defprim(np.isnan, nondiff=True)
isinf = defprim(np.isinf, nondiff=True)
floor_divide = defprim(np.floor_divide, nondiff=True)


_round = defprim(lambda x, *, decimals: np.round(x, decimals), name="round", nondiff=True, batch="elementwise")


def round(a, decimals=0, out=None):
    """``np.round`` and ``np.around``: a plain array (no derivative), half to even as in NumPy."""
    if out is not None:
        raise TypeError("dualrev.numpy.round: out= is not supported")
    return _round(a, decimals=int(decimals))


around = round

# -- selection --


def _where_impl(cond, x, y):
    return np.where(cond, x, y)


_where = defprim(
    _where_impl, name="where", vjp_reads=((), (0,), (0,)), supports_complex=True,
    jvp=(None, lambda dx, ans, c, x, y: _where(c, dx, 0.0), lambda dy, ans, c, x, y: _where(c, 0.0, dy)),
    vjp=(None, lambda ct, ans, c, x, y: _where(c, ct, 0.0), lambda ct, ans, c, x, y: _where(c, 0.0, ct)),
    batch="elementwise",
)


@implements(np.where)
def where(condition, x=None, y=None):
    """``np.where``: select from ``x`` where ``condition`` holds, else from ``y``; the condition has no derivative.

    >>> where(x > 0, x, 0.0)  # relu
    """
    if x is None and y is None:
        _no_batched_shape("where", condition)
        return np.nonzero(primal_value(condition))
    if x is None or y is None:
        raise ValueError("dualrev.numpy.where: give both x and y, or neither")
    return _where(condition, x, y)  # the condition takes no tangent: its rules are None


# -- NumPy's functions that are composites here --

for _np_funcs, _f in [
    ((np.positive,), positive), ((np.fabs,), fabs), ((np.square,), square), ((np.reciprocal,), reciprocal),
    ((np.deg2rad, np.radians), deg2rad), ((np.rad2deg, np.degrees), rad2deg), ((np.sinc,), sinc),
    ((np.float_power,), float_power), ((np.divmod,), divmod), ((np.fmax,), fmax), ((np.fmin,), fmin),
    ((np.clip,), clip), ((np.real,), real), ((np.conjugate,), conjugate), ((np.nan_to_num,), nan_to_num),
]:
    implements(*_np_funcs)(_f)
implements(np.imag)(imag)
implements(np.round, np.around, nondiff=True)(round)
