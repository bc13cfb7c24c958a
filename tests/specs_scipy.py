"""Oracle specs of dualrev.scipy's primitives (merged into tests/test_primitives.py's SPECS, so that every one is
checked against jax.scipy at first and second order, in float64, float32 and mixed, and its batching rule against a
loop by tests/test_batching.py).

Elementwise functions take the few fixed shapes of tests/specs_ufuncs.py, with values inside each function's domain.
Integer orders and shape parameters that are not differentiated (polygamma's n, gammainc's a, betainc's a and b) are
params, not operands. erfcinv and the Riemann zeta function have no JAX counterpart: their references are
erfinv(1 - x) and zeta(x, 1).
"""

from __future__ import annotations

import jax
import jax.nn
import jax.scipy.linalg as jsl
import jax.scipy.special as jsp
import numpy as np
import scipy.linalg
from hypothesis import strategies as st
from oracle import AWAY_FROM_ZERO, POSITIVE, REAL, Spec, arrays, floats, jnp
from specs_linalg import jitted, one, well_conditioned
from specs_ufuncs import few_shapes, with_params

UNIT = floats(-0.875, 0.875)
PROBABILITY = floats(0.0625, 0.9375)
ABOVE_MINUS_ONE = floats(-0.875, 3)
ABOVE_ONE = floats(1.125, 3)  # zeta's x
# log_ndtr, log_expit: far in the tails too. (At x = -30 jsp.log_ndtr's second derivative is off by 1.5e-7 relative;
# dualrev's agrees with mpmath to 6e-11: tests/test_scipy.py checks it there.)
TAILS = st.sampled_from([-10.0, 8.0]) | REAL


def unary(ref, domain=REAL):
    return Spec(jax.jit(ref), few_shapes(domain))


def binary(ref, x_domain=REAL, y_domain=REAL):
    return Spec(jax.jit(ref), few_shapes(x_domain, y_domain))


def _like(v, x):
    """A scalar parameter in x's dtype: SciPy's ufuncs take a Python float as float64 (unlike NumPy's)."""
    return np.asarray(v, x.dtype)


def shaped_param(x_strategy, **params):
    """One operand x (fixed shapes) and scalar params drawn from the given strategies."""
    return with_params(few_shapes(x_strategy), **params)


@st.composite
def triangular_operands(draw):
    """A (..., m, m) with a dominant diagonal (any triangle of it is well conditioned), b (..., m, k)."""
    stacked = draw(st.booleans())
    a = draw(well_conditioned(st.just((2, 3, 3) if stacked else (3, 3))))
    b = draw(arrays((2, 3, 1) if stacked else (3, 2), floats(-3, 3)))
    params = {"trans": draw(st.sampled_from([0, 1])), "lower": draw(st.booleans()),
              "unit_diagonal": draw(st.booleans())}
    return (a, b), params


@st.composite
def pivots(draw):
    """LAPACK pivots of a (..., 3, 3) stack: row i interchanged with row piv[i] >= i (as floats: every operand of the
    oracle is a float; the primitive truncates them to integers)."""
    shape = draw(st.sampled_from([(3,), (2, 3)]))
    piv = np.stack([draw(st.integers(i, 2)) * np.ones(shape[:-1]) for i in range(3)], axis=-1)
    return (piv.astype(np.float32),), {"dtype": np.dtype(draw(st.sampled_from([np.float64, np.float32])))}


def _pivot_matrix_loop(piv, dtype):
    """P^T from pivots, one matrix at a time, by swapping rows of the identity."""
    piv = np.asarray(piv).astype(int)
    out = np.empty(piv.shape + piv.shape[-1:], dtype)
    for idx in np.ndindex(piv.shape[:-1]):
        perm = list(range(piv.shape[-1]))
        for i, j in enumerate(piv[idx]):
            perm[i], perm[j] = perm[j], perm[i]
        out[idx] = np.eye(piv.shape[-1], dtype=dtype)[perm]
    return out


@st.composite
def axis_operands(draw):
    shape = draw(st.sampled_from([(2, 3), (3,), ()]))
    axes = tuple(i for i in range(len(shape)) if draw(st.booleans()))
    return (draw(arrays(shape, st.sampled_from([np.inf, -np.inf]) | REAL)),), {"axis": axes}


def _shift_ref(x, axis):
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0.0).astype(x.dtype)


def _expm_operand(draw_scale=0.5):
    return one(well_conditioned(st.sampled_from([(3, 3), (2, 2, 2)])).map(lambda a: a * np.float32(draw_scale)))


def _betaln(a, b):
    # jsp.betaln's own second derivative is wrong at a = b = 1 (1.0 and 0.18 where the true values, by finite
    # differences, are 1 and -0.645): the reference is the definition by gammaln
    return jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)


@jax.custom_jvp
def _exp1(x):
    # jsp.exp1 fails at second order (a JAX tracer reaches a constant handler); its derivative by definition instead
    return jsp.exp1(x)


@_exp1.defjvp
def _exp1_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _exp1(x), -jnp.exp(-x) / x * t


def _lu_packed(a):
    return jsl.lu_factor(a)[0]


SPECS = {
    # error function and normal distribution
    "scipy.special.erf": unary(jsp.erf),
    "scipy.special.erfc": unary(jsp.erfc),
    "scipy.special.erfinv": unary(jsp.erfinv, UNIT),
    "scipy.special.erfcinv": unary(lambda x: jsp.erfinv(1.0 - x), floats(0.125, 1.875)),
    "scipy.special.erfcx": unary(jsp.erfcx),
    "scipy.special.dawsn": unary(jsp.dawsn),
    "scipy.special.ndtr": unary(jsp.ndtr),
    "scipy.special.log_ndtr": unary(jsp.log_ndtr, TAILS),
    "scipy.special.ndtri": unary(jsp.ndtri, PROBABILITY),
    # gamma and beta functions
    "scipy.special.gammaln": unary(jsp.gammaln, POSITIVE),
    "scipy.special.loggamma": unary(jsp.gammaln, POSITIVE),
    "scipy.special.gamma": unary(jsp.gamma, POSITIVE),
    "scipy.special.psi": unary(jsp.digamma, POSITIVE),
    "scipy.special.gammasgn": Spec(scipy.special.gammasgn, few_shapes(AWAY_FROM_ZERO), nondiff=True),
    "scipy.special.beta": binary(lambda a, b: jnp.exp(_betaln(a, b)), POSITIVE, POSITIVE),
    "scipy.special.betaln": binary(_betaln, POSITIVE, POSITIVE),
    "scipy.special.poch": binary(jsp.poch, POSITIVE, POSITIVE),
    "scipy.special.polygamma": Spec(jitted(lambda x, n: jsp.polygamma(n, x)),
                                    shaped_param(POSITIVE, n=st.sampled_from([0, 1, 2, 3])),
                                    call=lambda prim, x, n: prim(np.int64(n), x)),
    "scipy.special.gammainc": Spec(jitted(lambda x, a: jsp.gammainc(a, x)),
                                   shaped_param(POSITIVE, a=st.sampled_from([0.5, 1.0, 2.5])),
                                   call=lambda prim, x, a: prim(_like(a, x), x)),
    "scipy.special.gammaincc": Spec(jitted(lambda x, a: jsp.gammaincc(a, x)),
                                    shaped_param(POSITIVE, a=st.sampled_from([0.5, 1.0, 2.5])),
                                    call=lambda prim, x, a: prim(_like(a, x), x)),
    "scipy.special.betainc": Spec(jitted(lambda x, a, b: jsp.betainc(a, b, x)),
                                  shaped_param(PROBABILITY, a=st.sampled_from([0.5, 1.0, 2.5]),
                                               b=st.sampled_from([0.75, 2.0])),
                                  call=lambda prim, x, a, b: prim(_like(a, x), _like(b, x), x)),
    "scipy.special.hyp1f1": Spec(jitted(lambda x, a, b: jsp.hyp1f1(a, b, x)),
                                 shaped_param(floats(-2, 2), a=st.sampled_from([0.5, 1.0, 2.5]),
                                              b=st.sampled_from([0.75, 2.0])),
                                 call=lambda prim, x, a, b: prim(_like(a, x), _like(b, x), x)),
    # logistic
    "scipy.special.expit": unary(jsp.expit, TAILS),
    "scipy.special.logit": unary(jsp.logit, PROBABILITY),
    "scipy.special.log_expit": unary(jax.nn.log_sigmoid, TAILS),
    # x log y and entropies
    "scipy.special.xlogy": binary(jsp.xlogy, REAL, POSITIVE),
    "scipy.special.xlog1py": binary(jsp.xlog1py, REAL, ABOVE_MINUS_ONE),
    "scipy.special.entr": unary(jsp.entr, POSITIVE),
    "scipy.special.rel_entr": binary(jsp.rel_entr, POSITIVE, POSITIVE),
    # Bessel functions (i0 at 0: tests/test_scipy.py, where JAX's derivative is not the true one)
    "scipy.special.i0": unary(jsp.i0, AWAY_FROM_ZERO),
    "scipy.special.i1": unary(jsp.i1, AWAY_FROM_ZERO),
    "scipy.special.i0e": unary(jsp.i0e, AWAY_FROM_ZERO),
    # i1e at tiny nonzero x: both second derivatives lose every digit to cancellation (i1e(x)/x), so 0 or |x| >= 1/2
    "scipy.special.i1e": unary(jsp.i1e, st.sampled_from([0.0]) | AWAY_FROM_ZERO),
    # exponential integrals, zeta
    "scipy.special.exp1": unary(_exp1, POSITIVE),
    "scipy.special.expi": unary(jsp.expi, AWAY_FROM_ZERO),
    "scipy.special.zeta": binary(jsp.zeta, ABOVE_ONE, POSITIVE),
    "scipy.special.riemann_zeta": unary(lambda x: jsp.zeta(x, 1.0), ABOVE_ONE),
    "scipy.special.logsumexp_shift": Spec(_shift_ref, axis_operands(), nondiff=True),
    # linear algebra
    "scipy.linalg.solve_triangular": Spec(jitted(jsl.solve_triangular), triangular_operands()),
    "scipy.linalg.lu_pivots": Spec(lambda a: scipy.linalg.lu_factor(a)[1], one(well_conditioned()), nondiff=True),
    "scipy.linalg.pivot_matrix": Spec(_pivot_matrix_loop, pivots(), nondiff=True),
    "scipy.linalg.lu_factor": Spec(jitted(jnp.vectorize(_lu_packed, signature="(n,n)->(n,n)")),
                                   one(well_conditioned())),
    "scipy.linalg.expm": Spec(jitted(jsl.expm), _expm_operand()),
}
