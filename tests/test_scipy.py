"""dualrev.scipy: composites against jax.scipy, plain scipy.special calls, vmap, domain edges and errors.

The primitives themselves (scipy.special's ufuncs, solve_triangular, lu_factor, expm, ...) are checked against JAX by
tests/test_primitives.py through tests/specs_scipy.py, and their batching rules by tests/test_batching.py. Here every
composite (special.logsumexp/softmax/..., stats.*, linalg.*) is compared with its jax.scipy counterpart: value, jvp,
vjp (order 1) and the four second-order mode pairs (order 2), in float64 and float32, at fixed points inside the
domain. Functions of a symmetric matrix are compared through a symmetric parametrization, (a + a.T) / 2, because
jax.scipy.linalg.cholesky's derivative does not read one triangle of its input while dualrev's does, as SciPy does
(both are right for symmetric perturbations).
"""

from __future__ import annotations

import jax
import jax.nn
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import jax.scipy.special as jsp
import jax.scipy.stats as jst
import numpy as np
import pytest
import scipy.linalg
import scipy.special as sc

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.scipy import linalg as dsl
from dualrev.scipy import special as dsp
from dualrev.scipy import stats as dst
from specs_linalg import eigh_invariant
from test_batching import _against_loop
from test_primitives import ORDER_2_LOOSER, OUTPUT_LIKE, TOLERANCES, Directions, assert_close, derivatives, restrict

jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(3)


def _r(*shape, lo=-2.0, hi=2.0):
    return RNG.uniform(lo, hi, shape).astype(np.float32).astype(np.float64)


def _spd(n, batch=()):
    b = RNG.uniform(-1, 1, batch + (n, n))
    return (b @ np.swapaxes(b, -1, -2) + n * np.eye(n)).astype(np.float32).astype(np.float64)


def _dominant(n, batch=()):
    return (RNG.uniform(-1, 1, batch + (n, n)) + (n + 0.5) * np.eye(n)).astype(np.float32).astype(np.float64)


def check(f, ref, args, wrt, order):
    """f (dualrev) against ref (JAX, float64, jitted) at ``args``: value and derivatives of the given order with
    respect to the arguments numbered ``wrt``, for arguments in float64 and in float32 (results in that dtype)."""
    args = [np.asarray(a, np.float64) for a in args]
    ref = jax.jit(ref)
    out_shape = np.shape(ref(*args))
    d = Directions.draw(len(args) + order, [np.shape(args[i]) for i in wrt], out_shape)
    want = derivatives(jax.jvp, jax.vjp, restrict(ref, args, wrt), tuple(args[i] for i in wrt), d, order,
                       rev_over_fwd=False)
    want = jax.tree.map(np.asarray, want)
    for dtype in (np.float64, np.float32):
        xs = [a.astype(dtype) for a in args]
        dtypes = tuple(np.dtype(dtype) for _ in wrt)
        got = derivatives(dr.jvp, dr.vjp, restrict(f, xs, wrt), tuple(xs[i] for i in wrt),
                          d.astype(dtypes, np.dtype(dtype)), order)
        rtol, atol = TOLERANCES[np.dtype(dtype)]
        tol = (rtol, atol) if order == 1 else (ORDER_2_LOOSER * rtol, ORDER_2_LOOSER * atol)
        for key, value in want.items():
            assert_close(f"{np.dtype(dtype).name} {key}", got[key], value,
                         np.dtype(dtype) if key in OUTPUT_LIKE else dtypes, tol)


def _sym(a):
    return (a + a.swapaxes(-1, -2)) / 2


X = _r(2, 3)
POS = _r(2, 3, lo=0.25, hi=3.0)
UNIT = _r(3, lo=0.05, hi=0.95)
A_SPD, B = _spd(3), _r(3, 2)
A_GEN = _dominant(3)
COUNTS = np.array([0.0, 1.0, 3.0, 7.0])

# id -> (dualrev function, JAX function, arguments, differentiated arguments)
def joined(np_like, *fs):
    """One function returning the raveled outputs of several, concatenated: one JAX compilation per group (JAX
    compiling each reference is nearly all of this file's time) while a wrong derivative of any one still shows."""
    return lambda *args: np_like.concatenate([np_like.ravel(f(*args)) for f in fs])


def group(pairs, args, wrt):
    """A case from (dualrev function, JAX function) pairs that take the same arguments."""
    return joined(dnp, *[p[0] for p in pairs]), joined(jnp, *[p[1] for p in pairs]), args, wrt


def dist(dr_module, jax_module, names, args, wrt):
    """A case of several functions of one distribution, e.g. norm's logpdf, pdf and cdf."""
    return group([(getattr(dr_module, n), getattr(jax_module, n)) for n in names], args, wrt)


XS = X * 2  # reaches further into the tails

# id -> (dualrev function, JAX function, arguments, differentiated arguments)
CASES = {
    # special: composites and wrappers
    "logsumexp softmax log_softmax": group([
        (lambda a, b: dsp.logsumexp(a), lambda a, b: jsp.logsumexp(a)),
        (lambda a, b: dsp.logsumexp(a, axis=1, keepdims=True), lambda a, b: jsp.logsumexp(a, axis=1, keepdims=True)),
        (lambda a, b: dsp.logsumexp(a, axis=0, b=b), lambda a, b: jsp.logsumexp(a, axis=0, b=b)),
        (lambda a, b: dsp.softmax(a, axis=-1), lambda a, b: jax.nn.softmax(a, axis=-1)),
        (lambda a, b: dsp.softmax(a), lambda a, b: jsp.softmax(a, axis=None)),
        (lambda a, b: dsp.log_softmax(a, axis=0), lambda a, b: jax.nn.log_softmax(a, axis=0)),
    ], (X, POS), (0, 1)),
    "special of positive x": group([
        (lambda x: dsp.multigammaln(x + 1.5, 3), lambda x: jsp.multigammaln(x + 1.5, 3)),
        (lambda x: dsp.polygamma(np.array([0, 1, 3]), x), lambda x: jsp.polygamma(jnp.array([0, 1, 3]), x)),
        (lambda x: dsp.zeta(x + 1.125), lambda x: jsp.zeta(x + 1.125, 1.0)),
        (dsp.softplus, jax.nn.softplus),
        (lambda x: dsp.kl_div(x, x[::-1] * 0.5), lambda x: jsp.kl_div(x, x[::-1] * 0.5)),
    ], (POS,), (0,)),
    "plain scipy.special calls": group([
        (lambda p, x: sc.gammaln(p) * sc.erf(x) + sc.xlogy(x, p) - sc.expit(sc.i1e(x)),
         lambda p, x: jsp.gammaln(p) * jsp.erf(x) + jsp.xlogy(x, p) - jsp.expit(jsp.i1e(x))),
        (lambda p, x: sc.zeta(p + 1.125, p) + sc.softplus(x) + sc.kl_div(p, p + 0.5),
         lambda p, x: jsp.zeta(p + 1.125, p) + jax.nn.softplus(x) + jsp.kl_div(p, p + 0.5)),
    ], (POS, X), (0, 1)),
    # stats
    "norm": dist(dst.norm, jst.norm, ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"], (XS, 0.5, 1.5), (0, 1, 2)),
    "norm quantiles": dist(dst.norm, jst.norm, ["ppf", "isf"], (UNIT, 0.5, 1.5), (0, 1, 2)),
    "t": dist(dst.t, jst.t, ["logpdf", "pdf"], (X, 3.5, 0.25, 1.5), (0, 1, 2, 3)),
    "gamma densities": dist(dst.gamma, jst.gamma, ["logpdf", "pdf"], (POS, 1.5, 0.125, 0.5), (0, 1, 2, 3)),
    "gamma distribution functions": dist(dst.gamma, jst.gamma, ["cdf", "logcdf", "sf", "logsf"],
                                         (POS, 2.5, 0.125, 1.5), (0, 2, 3)),
    "beta densities": dist(dst.beta, jst.beta, ["logpdf", "pdf"], (UNIT, 0.75, 1.5, -0.125, 1.25), (0, 1, 2, 3, 4)),
    "beta distribution functions": dist(dst.beta, jst.beta, ["cdf", "logcdf", "sf", "logsf"],
                                        (UNIT, 2.5, 1.5, -0.125, 1.25), (0, 3, 4)),
    "poisson": dist(dst.poisson, jst.poisson, ["logpmf", "pmf", "cdf"], (COUNTS, 2.5), (1,)),
    "binom": dist(dst.binom, jst.binom, ["logpmf", "pmf"], (COUNTS, 9.0, 0.375), (1, 2)),
    "multivariate_normal": group([
        (lambda x, m, c: dst.multivariate_normal.logpdf(x, m, _sym(c)),
         lambda x, m, c: jst.multivariate_normal.logpdf(x, m, _sym(c))),
        (lambda x, m, c: dst.multivariate_normal.pdf(x[0], m, _sym(c)),
         lambda x, m, c: jst.multivariate_normal.pdf(x[0], m, _sym(c))),
        (lambda x, m, c: dst.multivariate_normal.logpdf(x, m, c[0, 0]),  # isotropic
         lambda x, m, c: jst.multivariate_normal.logpdf(x, m, c[0, 0])),
    ], (_r(4, 3), _r(3), A_SPD), (0, 1, 2)),
    "multivariate_normal stacked cov": (lambda x, m, c: dst.multivariate_normal.logpdf(x, m, _sym(c)),
                                        lambda x, m, c: jst.multivariate_normal.logpdf(x, m, _sym(c)),
                                        (_r(2, 3), _r(3), _spd(3, (2,))), (0, 1, 2)),
    "expon": dist(dst.expon, jst.expon, ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"], (POS, 0.125, 1.5),
                  (0, 1, 2)),
    "cauchy": dist(dst.cauchy, jst.cauchy, ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"], (XS, 0.5, 1.5),
                   (0, 1, 2)),
    "laplace": dist(dst.laplace, jst.laplace, ["logpdf", "pdf", "cdf"], (XS, 0.5, 1.5), (0, 1, 2)),
    "logistic": group([(dst.logistic.logpdf, jst.logistic.logpdf), (dst.logistic.pdf, jst.logistic.pdf),
                       (dst.logistic.cdf, jst.logistic.cdf), (dst.logistic.sf, jst.logistic.sf),
                       (dst.logistic.logcdf, lambda x, m, s: jax.nn.log_sigmoid((x - m) / s)),
                       (dst.logistic.logsf, lambda x, m, s: jax.nn.log_sigmoid((m - x) / s))],
                      (X * 10, 0.5, 1.5), (0, 1, 2)),
    "uniform": dist(dst.uniform, jst.uniform, ["logpdf", "pdf", "cdf"], (UNIT, -0.25, 1.5), (0, 1, 2)),
    "quantiles": group([(dst.expon.ppf, jst.expon.ppf), (dst.cauchy.ppf, jst.cauchy.ppf),
                        (dst.cauchy.isf, jst.cauchy.isf), (dst.logistic.ppf, jst.logistic.ppf),
                        (dst.logistic.isf, jst.logistic.isf), (dst.uniform.ppf, jst.uniform.ppf)],
                       (UNIT, 0.125, 1.5), (0, 1, 2)),
    # linalg
    "symmetric positive definite": group([
        (lambda a, b: dsl.cholesky(_sym(a)), lambda a, b: jsl.cholesky(_sym(a))),
        (lambda a, b: dsl.cholesky(_sym(a), lower=True), lambda a, b: jsl.cholesky(_sym(a), lower=True)),
        (lambda a, b: dsl.cho_solve(dsl.cho_factor(_sym(a)), b),
         lambda a, b: jsl.cho_solve(jsl.cho_factor(_sym(a)), b)),
        (lambda a, b: dsl.cho_solve(dsl.cho_factor(_sym(a), lower=True), b[:, 0]),
         lambda a, b: jsl.cho_solve(jsl.cho_factor(_sym(a), lower=True), b[:, 0])),
        (lambda a, b: dsl.solve(a, b, assume_a="sym"), lambda a, b: jsl.solve(a, b, assume_a="sym")),
        (lambda a, b: dsl.solve(_sym(a), b[:, 0], assume_a="pos"),
         lambda a, b: jsl.solve(_sym(a), b[:, 0], assume_a="pos")),
        (lambda a, b: dsl.eigh(_sym(a), eigvals_only=True), lambda a, b: jsl.eigh(_sym(a), eigvals_only=True)),
    ], (A_SPD, B), (0, 1)),
    "general": group([
        (lambda a, b: dsl.solve(a, b), lambda a, b: jsl.solve(a, b)),
        (lambda a, b: dsl.solve(a, b, assume_a="lower triangular"),
         lambda a, b: jsl.solve_triangular(a, b, lower=True)),
        (lambda a, b: dsl.solve(a, b, transposed=True), lambda a, b: jsl.solve(a.T, b)),
        (lambda a, b: dsl.solve_triangular(a, b[:, 0], trans="T", lower=True),
         lambda a, b: jsl.solve_triangular(a, b[:, 0], trans="T", lower=True)),
        (lambda a, b: dsl.det(a), lambda a, b: jsl.det(a)),
        (lambda a, b: dsl.inv(a), lambda a, b: jsl.inv(a)),
    ], (A_GEN, B), (0, 1)),
    "lu": group([
        (lambda a, b: dsl.lu_solve(dsl.lu_factor(a), b), lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b)),
        (lambda a, b: dsl.lu_solve(dsl.lu_factor(a), b[:, 0], trans=1),
         lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b[:, 0], trans=1)),
        (lambda a, b: dsl.lu_factor(a)[0], lambda a, b: jsl.lu_factor(a)[0]),
    ], (_r(3, 3), B), (0, 1)),
    "cho_solve of a factor": (lambda c, b: dsl.cho_solve((c, True), b), lambda c, b: jsl.cho_solve((c, True), b),
                              (np.linalg.cholesky(A_SPD), B), (0, 1)),
    "eigh": (lambda a: eigh_invariant(*dsl.eigh(_sym(a)))[1], lambda a: eigh_invariant(*jsl.eigh(_sym(a)))[1],
             (_sym(_r(3, 3)) + np.diag([-2.0, 0.0, 2.0]),), (0,)),
    "expm stack": (dsl.expm, jsl.expm, (_r(2, 3, 3, lo=-1, hi=1),), (0,)),
}


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_jax(case, order):
    f, ref, args, wrt = CASES[case]
    check(f, ref, args, wrt, order)


def test_logsumexp_return_sign_and_negative_weights():
    a, b = X, np.array([[1.0, -2.0, 0.5], [0.25, 1.0, -3.0]])
    out, sign = dsp.logsumexp(a, axis=1, b=b, return_sign=True)
    want, want_sign = jsp.logsumexp(a, axis=1, b=b, return_sign=True)
    np.testing.assert_allclose(out, want, 1e-12)
    np.testing.assert_array_equal(sign, want_sign)
    g = dr.grad(lambda a: dnp.sum(dsp.logsumexp(a, axis=1, b=b, return_sign=True)[0]))(a)
    np.testing.assert_allclose(g, jax.grad(lambda a: jsp.logsumexp(a, axis=1, b=b, return_sign=True)[0].sum())(a),
                               1e-12)
    assert np.isnan(dsp.logsumexp(a[0], b=b[1]))  # a negative sum without return_sign: NaN, as SciPy and JAX


# -- inputs of every kind --


@pytest.mark.parametrize("x", [0.5, np.float32(0.5), np.float64(0.5), np.array(0.5), np.array(0.5, np.float32)],
                         ids=["float", "np.float32", "np.float64", "0-d", "0-d float32"])
def test_scalars_of_every_kind(x):
    dtype = np.result_type(x) if isinstance(x, (np.ndarray, np.generic)) else np.dtype(np.float64)
    for f, want in [(sc.erf, 2 / np.sqrt(np.pi) * np.exp(-0.25)), (sc.gammaln, sc.digamma(0.5)),
                    (lambda x: dst.norm.logpdf(x, 0.0, 2.0), -0.125), (dsp.logsumexp, 1.0)]:
        g = dr.grad(f)(x)
        assert np.result_type(g) == dtype, (f, np.result_type(g))
        np.testing.assert_allclose(g, want, 1e-6)


def test_float32_stays_float32_with_python_scalar_parameters():
    x = np.float32([0.5, 1.5])
    for f in (lambda x: dst.norm.logpdf(x, 0, 1), lambda x: dst.gamma.logpdf(x, 2.0),
              lambda x: dst.t.logpdf(x, 3), lambda x: dst.multivariate_normal.logpdf(x, np.zeros(2, np.float32),
                                                                                      np.eye(2, dtype=np.float32))):
        assert f(x).dtype == np.float32
        assert dr.grad(lambda x: dnp.sum(f(x)))(x).dtype == np.float32


def test_integer_data_gives_float64():
    k = np.arange(4)
    assert dst.poisson.logpmf(k, 2.0).dtype == np.float64
    g = dr.grad(lambda mu: dnp.sum(dst.poisson.logpmf(k, mu)))(np.float32(2.0))
    assert g.dtype == np.float32 and np.isclose(g, np.sum(k / 2.0 - 1.0))


# -- vmap --


def test_vmap_of_composites_matches_a_loop():
    xs = _r(3, 4, 3)
    covs = _spd(3, (3,))
    _against_loop(lambda x, c: dst.multivariate_normal.logpdf(x, np.zeros(3), c), (xs, covs))
    _against_loop(lambda x: dst.multivariate_normal.logpdf(x, np.ones(3), A_SPD), (xs,))
    _against_loop(lambda x: dsp.logsumexp(x, axis=-1), (xs,))
    _against_loop(lambda x, b: dsp.logsumexp(x, axis=0, b=b), (xs, np.abs(xs) + 0.5))
    _against_loop(lambda x: dsp.softmax(x), (xs,))
    _against_loop(lambda a, b: dsl.cho_solve(dsl.cho_factor(a), b), (covs, _r(3, 3, 2)))
    _against_loop(lambda a, b: dsl.lu_solve(dsl.lu_factor(a), b), (_dominant(3, (3,)), _r(3, 3)))
    _against_loop(lambda a, b: dsl.lu_solve(dsl.lu_factor(a), b, trans=1), (_r(3, 3, 3), _r(3, 3)), (0, None))
    _against_loop(dsl.expm, (_r(3, 2, 2),))
    _against_loop(lambda a, b: dsl.solve_triangular(a, b, lower=True), (_dominant(3, (3,)), _r(3, 3)))
    _against_loop(lambda x: dsp.polygamma(2, x) + sc.gammaln(x) + sc.zeta(x + 1.0, x), (POS + 0.5,))
    # supports and masks: traced comparisons under vmap
    ys = _r(3, 4, lo=-0.5, hi=1.5)
    _against_loop(lambda y: dst.beta.pdf(y, 2.0, 3.0) + dst.beta.cdf(y, 2.0, 3.0) + dst.uniform.cdf(y), (ys,))
    _against_loop(lambda y: dnp.where(dnp.isfinite(dst.uniform.logpdf(y)), 1.0, 0.0) * y, (ys,))
    _against_loop(lambda mu: dst.poisson.logpmf(COUNTS, mu) + dst.binom.logpmf(COUNTS, 9.0, mu / 4), (POS[0] / 2,))
    _against_loop(lambda x: sc.rel_entr(x, 1.0 - x) + dst.gamma.cdf(x, 1.5) + dst.expon.logsf(x), (ys,))


# -- domain edges --


def grad_all(f, x):
    return dr.grad(lambda x: dnp.sum(f(x)))(np.asarray(x, np.float64))


def test_bessel_i0_at_zero_has_the_true_derivative():
    # i0 is even and smooth: i0'(0) = 0, i0''(0) = 1/2 (JAX gives 1 and 3/2, from abs'(0) = 1 in exp(|x|) i0e(x))
    assert dr.grad(sc.i0)(0.0) == 0.0
    assert dr.grad(dr.grad(sc.i0))(0.0) == 0.5
    assert dr.grad(sc.i1)(0.0) == 0.5 == jax.grad(jsp.i1)(0.0)
    assert dr.grad(sc.i1e)(0.0) == 0.5 == jax.grad(jsp.i1e)(0.0)
    assert dr.grad(sc.i0e)(0.0) == 0.0 == jax.grad(jsp.i0e)(0.0)


def test_edges_follow_jax():
    with np.errstate(all="ignore"):
        assert dr.grad(sc.entr)(0.0) == np.inf == jax.grad(jsp.entr)(0.0)
        assert dr.grad(sc.logit)(0.0) == np.inf == jax.grad(jsp.logit)(0.0)
        assert dr.grad(sc.erfinv)(1.0) == np.inf
        assert dr.grad(sc.xlogy, (0, 1))(0.0, 1.0) == (0.0, 0.0)
        np.testing.assert_array_equal(dr.grad(sc.rel_entr, (0, 1))(0.0, 1.0), (0.0, 0.0))
        np.testing.assert_array_equal(dr.grad(sc.rel_entr, (0, 1))(0.5, 0.0), (0.0, 0.0))
        np.testing.assert_array_equal(dr.grad(sc.kl_div, (0, 1))(0.0, 1.0), jax.grad(jsp.kl_div, (0, 1))(0.0, 1.0))
    assert dr.grad(lambda x: sc.gammainc(1.0, x))(0.0) == 1.0  # x**0 e**-x: exact at 0 (JAX: nan)
    np.testing.assert_allclose(dr.grad(sc.log_ndtr)(-40.0), jax.grad(jsp.log_ndtr)(-40.0), 1e-10)
    # far in the left tail: mpmath's second derivative of log(ncdf(x)) at -30, to 20 digits
    np.testing.assert_allclose(dr.grad(dr.grad(sc.log_ndtr))(-30.0), -0.99889622848810990900, 1e-9)
    np.testing.assert_allclose(dr.grad(dr.grad(sc.gammaln))(-1.5), sc.polygamma(1, -1.5), 1e-12)


def test_logsumexp_with_infinities():
    a = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf]])
    out = dsp.logsumexp(a, axis=1)
    np.testing.assert_array_equal(out, sc.logsumexp(a, axis=1))
    g = grad_all(lambda a: dsp.logsumexp(a, axis=1)[0], a)
    np.testing.assert_allclose(g[0], [0.0, 1 / (1 + np.e), np.e / (1 + np.e)], 1e-12)
    np.testing.assert_array_equal(dsp.softmax(a[0]), sc.softmax(a[0]))


def test_stats_outside_the_support_have_zero_derivative():
    x = np.array([-1.0, 0.5, 2.0])
    for f in (lambda x: dst.gamma.logpdf(x, 2.5), lambda x: dst.expon.logpdf(x),
              lambda x: dst.beta.logpdf(x, 2.0, 3.0), lambda x: dst.uniform.logpdf(x)):
        out = f(x)
        assert out[0] == -np.inf
        g = dr.grad(lambda x: dnp.sum(dnp.where(dnp.isfinite(f(x)), f(x), 0.0)))(x)
        assert np.all(np.isfinite(g)) and g[0] == 0.0
    for f in (lambda x: dst.gamma.cdf(x, 0.5), lambda x: dst.expon.cdf(x), lambda x: dst.beta.cdf(x, 0.5, 0.5)):
        g = grad_all(f, x)
        assert np.all(np.isfinite(g)) and g[0] == 0.0
    assert dst.poisson.logpmf(np.array([-1.0, 1.5]), 2.0).tolist() == [-np.inf, -np.inf]
    assert dst.binom.logpmf(np.array([-1.0, 10.0]), 9.0, 0.5).tolist() == [-np.inf, -np.inf]


def test_zeta_derivative_in_x_matches_finite_differences_below_one():
    # the Euler-Maclaurin series continues zeta below 1, where JAX has no zeta(x) to compare with
    for x in (-1.5, 0.0, 0.5):
        h = 1e-6
        fd = (sc.zeta(x + h) - sc.zeta(x - h)) / (2 * h)
        np.testing.assert_allclose(dr.grad(sc.zeta)(x), fd, 1e-7)


def test_expm_third_derivative_nests():
    a = _r(2, 2, lo=-1, hi=1)
    v = _r(2, 2)

    def f(t):
        return dnp.sum(dsl.expm(a + t * v))

    d2 = dr.grad(dr.grad(f))
    d3 = dr.grad(d2)(0.0)
    h = 1e-4
    np.testing.assert_allclose(d3, (d2(h) - d2(-h)) / (2 * h), 1e-6)


# -- clear errors --


def test_refused_derivatives_name_the_function_and_argument():
    for mode in (dr.grad, lambda f: lambda a: dr.jvp(f, (a,), (1.0,))):
        with pytest.raises(TypeError, match=r"scipy\.special\.gammainc: .*`a`"):
            mode(lambda a: sc.gammainc(a, 0.5))(1.5)
        with pytest.raises(TypeError, match=r"scipy\.special\.betainc: .*`b`"):
            mode(lambda b: sc.betainc(1.5, b, 0.5))(1.5)
    with pytest.raises(TypeError, match=r"gamma\.cdf|gammainc: .*`a`"):
        dr.grad(lambda a: dst.gamma.cdf(1.0, a))(1.5)
    with pytest.raises(TypeError, match="polygamma: the order `n`"):
        dr.grad(lambda n: dsp.polygamma(n, 1.5))(1.0)
    with pytest.raises(ValueError, match="polygamma: the order `n` must hold integers"):
        dsp.polygamma(0.5, 1.5)


def test_linalg_errors():
    with pytest.raises(NotImplementedError, match="eigh: the generalized problem"):
        dsl.eigh(A_SPD, A_SPD)
    with pytest.raises(ValueError, match="unknown assume_a='banana'"):
        dsl.solve(A_GEN, B, assume_a="banana")
    with pytest.raises(TypeError, match="cho_solve: the first argument is the pair"):
        dsl.cho_solve(A_SPD, B)
    with pytest.raises(ValueError, match="lu_factor: expected square"):
        dsl.lu_factor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="solve_triangular: shapes"):
        dsl.solve_triangular(A_GEN, np.ones(4))
    with pytest.raises(ValueError, match="cov of shape"):
        dst.multivariate_normal.logpdf(np.ones(3), np.zeros(3), np.eye(2))


def test_plain_scipy_linalg_on_traced_values_is_refused():
    # scipy.linalg converts its input with np.asarray before any dispatch: dualrev refuses (never a silently dropped
    # derivative); dualrev.scipy.linalg is the way out
    with pytest.raises(TypeError, match="dualrev"):
        dr.grad(lambda a: scipy.linalg.cholesky(a)[0, 0])(A_SPD)
    with pytest.raises(TypeError, match="dualrev"):
        dr.grad(lambda a: sc.logsumexp(a))(X)


def test_every_scipy_special_primitive_is_reached_by_the_plain_ufunc():
    from dualrev.core import NUMPY_TABLE, PRIMITIVES

    for name, prim in PRIMITIVES.items():
        if name.startswith("scipy.special.") and isinstance(prim.impl, np.ufunc):
            assert NUMPY_TABLE[prim.impl] is prim, name


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_reads_the_triangle_scipy_reads(lower):
    """Values and derivatives of what SciPy computes, for a non-symmetric input: only the ``lower`` triangle."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 3)) + 4 * np.eye(3)
    np.testing.assert_allclose(dsl.cholesky(a, lower=lower), scipy.linalg.cholesky(a, lower=lower), rtol=1e-12)
    w = np.arange(1.0, 10.0).reshape(3, 3)
    dr.check_grads(lambda a: dnp.sum(dsl.cholesky(a, lower=lower) * w), (a,), order=2)
