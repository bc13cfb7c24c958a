"""Oracle specs of the elementwise family (dualrev/numpy/ufuncs.py) beyond the arithmetic core kept in
tests/test_primitives.py; merged into its SPECS.

The operands take two fixed shapes (a matrix or a 0-d value; two broadcasting pairs for binary operations):
elementwise rules do not depend on shapes (the engine broadcasts and un-broadcasts, tested by add and multiply),
and most of the oracle's time is XLA compiling each JAX operation once per shape, so few shapes keep the family fast.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import partial

import jax
import numpy as np
from hypothesis import strategies as st

from oracle import (
    AWAY_FROM_ZERO, POSITIVE, REAL, SPECIAL, TRUTHY, WITH_ZEROS, Spec, arrays, floats, jnp, nondiff,
)

UNARY_SHAPES = [(2, 3), ()]
BINARY_SHAPES = [((2, 1), (3,)), ((2, 3), ())]  # both operands broadcast; a 0-d one

UNIT = floats(-0.875, 0.875)  # arcsin, arccos, arctanh: inside (-1, 1)
ABOVE_ONE = floats(1.125, 3)  # arccosh
ABOVE_MINUS_ONE = floats(-0.875, 3)  # log1p
NOT_NEAR_POLES = floats(-1.25, 1.25)  # tan (poles at ±pi/2)
LARGE = st.sampled_from([-1000.0, 1000.0, -30.0, 30.0, 0.0]) | REAL  # logaddexp: stable far from 0


@st.composite
def few_shapes(draw, *domains):
    """One operand per domain, of one of a few fixed (broadcasting) shapes."""
    shapes = draw(st.sampled_from(UNARY_SHAPES if len(domains) == 1 else BINARY_SHAPES))
    shapes = (shapes,) if len(domains) == 1 else shapes
    return tuple(draw(arrays(s, d)) for s, d in zip(shapes, domains)), {}


def unary(ref, domain=REAL):
    return Spec(ref, few_shapes(domain))


def binary(ref, x_domain=REAL, y_domain=REAL):
    return Spec(ref, few_shapes(x_domain, y_domain))


def _off_the_jumps(operands):
    """remainder and fmod jump where x / y is a nonzero integer: no derivative there (JAX's own answer then
    depends on how it rounds x / y), so examples keep away from those points."""
    x, y = operands[0]
    q = np.asarray(x, np.float64) / np.asarray(y, np.float64)
    return not np.any((q != 0) & (np.abs(q - np.round(q)) < 1e-6))


def quotient_rounding(ref):
    return Spec(ref, few_shapes(REAL, AWAY_FROM_ZERO).filter(_off_the_jumps))


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _jax_sinc_maclaurin(k, x):
    # JAX's own helper of jnp.sinc (jax/_src/numpy/ufuncs.py), restated: the k-th derivative of sin(t)/t at 0.
    return x * 0 + (0.0 if k % 2 else (-1.0) ** (k // 2) / (k + 1))


@_jax_sinc_maclaurin.defjvp
def _jax_sinc_maclaurin_jvp(k, primals, tangents):
    (x,), (t,) = primals, tangents
    return _jax_sinc_maclaurin(k, x), _jax_sinc_maclaurin(k + 1, x) * t


@st.composite
def sinc_maclaurin_operands(draw):
    (x,), _ = draw(few_shapes(REAL))
    return (x,), {"k": draw(st.integers(0, 5))}


def with_params(operands, **params):
    """An operands strategy (params ``{}``) with params drawn from the given strategies."""
    return st.tuples(operands, st.fixed_dictionaries(params)).map(lambda t: (t[0][0], t[1]))


def exact_quotient(x, y, trunc):
    """x / y rounded towards zero (trunc) or down, from the exact rational quotient (no rounding of x / y)."""
    rounding = math.trunc if trunc else math.floor
    q = np.vectorize(lambda a, b: float(rounding(Fraction(float(a)) / Fraction(float(b)))))(x, y)
    return np.asarray(q, np.result_type(x, y))


SPECS = {
    # unary
    "exp2": unary(jnp.exp2),
    "expm1": unary(jnp.expm1),
    "log2": unary(jnp.log2, POSITIVE),
    "log10": unary(jnp.log10, POSITIVE),
    "log1p": unary(jnp.log1p, ABOVE_MINUS_ONE),
    "cbrt": unary(jnp.cbrt, AWAY_FROM_ZERO),
    "tan": unary(jnp.tan, NOT_NEAR_POLES),
    "arcsin": unary(jnp.arcsin, UNIT),
    "arccos": unary(jnp.arccos, UNIT),
    "arctan": unary(jnp.arctan),
    "sinh": unary(jnp.sinh),
    "cosh": unary(jnp.cosh),
    "arcsinh": unary(jnp.arcsinh),
    "arccosh": unary(jnp.arccosh, ABOVE_ONE),
    "arctanh": unary(jnp.arctanh, UNIT),
    # complex parts (of real operands here; of complex ones in tests/test_complex.py)
    "real": unary(jnp.real),
    "imag": unary(jnp.imag),
    "conjugate": unary(jnp.conjugate),
    "sinc_maclaurin": Spec(lambda x, k: _jax_sinc_maclaurin(k, x), sinc_maclaurin_operands()),
    # binary
    "arctan2": binary(jnp.arctan2, REAL, AWAY_FROM_ZERO),
    # the true derivatives (jnp.hypot's second derivative is 0 where |x| == |y|); (0, 0) in test_numpy_ufuncs.py
    "hypot": binary(lambda x, y: jnp.sqrt(x * x + y * y), REAL, AWAY_FROM_ZERO),
    "logaddexp": binary(jnp.logaddexp, LARGE, LARGE),
    "logaddexp2": binary(jnp.logaddexp2, LARGE, LARGE),
    "remainder": quotient_rounding(jnp.remainder),
    "fmod": quotient_rounding(jnp.fmod),
    "copysign": binary(jnp.copysign, WITH_ZEROS, WITH_ZEROS),
    # where(b == 0, c, a / b): JAX's double where (the derivatives of c there, of a / b elsewhere, every order)
    "quotient_or": Spec(lambda a, b, c: jnp.where(b == 0, c, a / jnp.where(b == 0, 1.0, b)),
                        st.sampled_from(UNARY_SHAPES).flatmap(
                            lambda s: st.tuples(arrays(s, REAL), arrays(s, WITH_ZEROS), arrays(s, REAL)))
                        .map(lambda xs: (xs, {}))),
    # non-differentiable
    "trunc": nondiff(np.trunc, SPECIAL),
    "rint": nondiff(np.rint, SPECIAL),
    "signbit": nondiff(np.signbit, SPECIAL),
    "logical_xor": nondiff(np.logical_xor, TRUTHY, TRUTHY),
    "rounded_quotient": Spec(exact_quotient, with_params(few_shapes(REAL, AWAY_FROM_ZERO), trunc=st.booleans()),
                             nondiff=True),
    "round": Spec(lambda x, decimals: np.round(x, decimals),
                  with_params(few_shapes(SPECIAL), decimals=st.sampled_from([0, 1, -1, 2])), nondiff=True),
}
