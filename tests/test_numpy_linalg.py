"""dualrev.numpy.linalg: composites against JAX, conventions at non-differentiable points, dispatch of plain
``np.linalg`` calls, dtypes and errors. The primitives themselves (solve, inv, det, slogdet, cholesky, eigh,
eigvalsh, qr, svd, svdvals, pinv) are checked against JAX by tests/test_primitives.py (specs in specs_linalg.py).

Each JAX reference is one jitted function computing the value, a JVP, a gradient and a Hessian-vector product at once:
JAX compiles once per case, which is most of the time these tests take.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import Tracer, primal_value

jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(20)


def _u(*shape, lo=-2.0, hi=2.0, seed=0):
    return np.random.default_rng(seed + sum(shape)).uniform(lo, hi, shape)


def _well(*shape, seed=0):
    n = shape[-1]
    return _u(*shape, lo=-1, hi=1, seed=seed) + (n + 0.5) * np.eye(n)


def _directions(xs, out_shape, seed=1):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(np.shape(x)) for x in xs), rng.standard_normal(out_shape)


def check(f, f_jax, *xs, second_order=True, rtol=1e-8, atol=1e-10):
    """f (dualrev, through plain np calls) against f_jax at xs: value, JVP, linearize, gradient of sum(f * w), and
    (second_order) the Hessian-vector product of that sum both forward-over-reverse and reverse-over-reverse."""
    xs = tuple(np.asarray(x, np.float64) for x in xs)
    ts, _ = _directions(xs, ())
    out, tangent_dr = dr.jvp(f, xs, ts)  # dualrev's value (f(*xs) on plain arrays would run NumPy itself)
    _, w = _directions(xs, np.shape(out))
    argnums = tuple(range(len(xs)))

    def g_jax(*xs):
        return jnp.sum(f_jax(*xs) * w)

    @jax.jit
    def reference(xs, ts):
        value, tangent = jax.jvp(f_jax, xs, ts)
        grads = jax.grad(g_jax, argnums)(*xs)
        hvp = jax.jvp(jax.grad(g_jax, argnums), xs, ts)[1] if second_order else None
        return value, tangent, grads, hvp

    def g(*xs):
        return dnp.sum(f(*xs) * w)

    got = {"value": out, "jvp": tangent_dr, "linearize": dr.linearize(f, *xs)[1](*ts)}
    got.update({f"grad {i}": gi for i, gi in enumerate(dr.grad(g, argnums)(*xs))})
    if second_order:
        fwd_rev = dr.jvp(dr.grad(g, argnums), xs, ts)[1]
        rev_rev = dr.grad(lambda *xs: sum(dnp.sum(gi * ti) for gi, ti in zip(dr.grad(g, argnums)(*xs), ts)),
                          argnums)(*xs)

    value, tangent, grads, hvp = jax.tree.map(np.asarray, reference(xs, ts))  # after dualrev: compiling is slow

    def close(what, got, want):
        np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol, err_msg=what)

    close("value", got["value"], value)
    close("jvp", got["jvp"], tangent)
    close("linearize", got["linearize"], tangent)
    for i in argnums:
        close(f"grad {i}", got[f"grad {i}"], grads[i])
    if second_order:
        for i in argnums:
            close(f"hvp fwd-over-rev {i}", fwd_rev[i], hvp[i])
            close(f"hvp rev-over-rev {i}", rev_rev[i], hvp[i])


# -- norms --

VEC = np.array([0.5, -1.25, 2.0, -0.75])
VEC_TIES = np.array([2.0, -2.0, 0.5, 1.0])  # |x| has two maxima: they share the inf-norm's derivative (JAX)
VEC_WITH_ZERO = np.array([0.0, 1.5, -2.0])  # -inf norm is |x_0| = 0: abs'(0) = 1, as in JAX


@pytest.mark.parametrize("x, ord, second", [
    (VEC, None, True), (VEC, 2, False), (VEC, np.inf, False), (VEC, -np.inf, False), (VEC, 1, False),
    (VEC, 3, True), (VEC, 0.5, False), (VEC, -1.5, False), (VEC_TIES, np.inf, True), (VEC_WITH_ZERO, -np.inf, False),
])
def test_vector_norms(x, ord, second):
    check(lambda x: np.linalg.norm(x, ord), lambda x: jnp.linalg.norm(x, ord), x, second_order=second)


MAT = np.array([[2.0, -0.5], [0.25, 1.5], [-1.0, 0.75]])  # distinct singular values, column and row sums


@pytest.mark.parametrize("ord, second", [
    ("fro", True), ("nuc", True), (1, False), (-1, False), (2, True), (-2, False), (np.inf, False), (-np.inf, False),
])
def test_matrix_norms(ord, second):
    check(lambda x: np.linalg.norm(x, ord), lambda x: jnp.linalg.norm(x, ord), MAT, second_order=second)


@pytest.mark.parametrize("ord, axis, keepdims", [
    (None, None, True), (None, 1, False), (np.inf, 0, True), (3, -1, True), ("nuc", (2, 0), True),
    (1, (1, 0), False), (np.inf, (0, 2), True), (-2, (1, 2), False), ("fro", (0, 1), False),
])
def test_norm_axes_and_keepdims(ord, axis, keepdims):
    x = _u(2, 3, 2, seed=3)
    check(lambda x: np.linalg.norm(x, ord, axis, keepdims), lambda x: jnp.linalg.norm(x, ord, axis, keepdims), x,
          second_order=ord in ("nuc",))


def test_vector_norm_and_matrix_norm():
    x = _u(2, 3, 2, seed=4)
    check(lambda x: np.linalg.vector_norm(x, axis=(0, 2), keepdims=True, ord=3),
          lambda x: jnp.linalg.vector_norm(x, axis=(0, 2), keepdims=True, ord=3), x, second_order=False)
    check(lambda x: np.linalg.vector_norm(x), lambda x: jnp.linalg.vector_norm(x), x, second_order=False)
    check(lambda x: np.linalg.matrix_norm(x, ord="nuc", keepdims=True),
          lambda x: jnp.linalg.matrix_norm(x, ord="nuc", keepdims=True), x, second_order=False)


def test_norm_ord_0_counts_nonzeros_without_derivative():
    x = np.array([0.0, 1.5, -2.0, 0.0])
    assert dnp.linalg.norm(x, 0) == 2.0
    np.testing.assert_array_equal(dr.grad(lambda x: np.linalg.norm(x, 0))(x), np.zeros(4))


@pytest.mark.parametrize("ord", [None, 2, 1, np.inf, -np.inf, 3, 0.5])
def test_vector_norm_at_zero_has_derivative_zero(ord):
    """The convention: 0 (a subgradient, the smallest one) where JAX gives NaN (2-norm, p-norms) or another
    subgradient (1, inf); second derivatives are 0 there too, not NaN."""
    def f(x):
        return np.linalg.norm(x, ord)

    z = np.zeros(3)
    assert f(z) == 0.0
    np.testing.assert_array_equal(dr.grad(f)(z), np.zeros(3))
    np.testing.assert_array_equal(dr.jvp(f, (z,), (np.ones(3),))[1], 0.0)
    np.testing.assert_array_equal(dr.hessian(f)(z), np.zeros((3, 3)))
    if ord in (None, 2, 3):
        assert np.all(np.isnan(jax.grad(lambda x: jnp.linalg.norm(x, ord))(jnp.zeros(3))))  # JAX: NaN


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
def test_matrix_norm_at_zero_has_derivative_zero(ord):
    def f(x):
        return np.linalg.norm(x, ord)

    z = np.zeros((3, 2))
    assert f(z) == 0.0
    np.testing.assert_array_equal(dr.grad(f)(z), np.zeros((3, 2)))
    np.testing.assert_array_equal(dr.hessian(f)(z), np.zeros((3, 2, 3, 2)))


def test_norm_zero_slice_among_nonzero_ones():
    """Only the zero vector gets the convention; the others have their usual derivative (checked against JAX)."""
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
    g = dr.grad(lambda x: dnp.sum(np.linalg.norm(x, axis=1)))(x)
    np.testing.assert_array_equal(g[0], 0.0)
    np.testing.assert_allclose(g[1], x[1] / np.linalg.norm(x[1]), rtol=1e-14)
    m = np.stack([np.zeros((2, 2)), MAT[:2]])
    g = dr.grad(lambda m: dnp.sum(np.linalg.norm(m, "nuc", axis=(1, 2))))(m)
    np.testing.assert_array_equal(g[0], 0.0)
    np.testing.assert_allclose(g[1], jax.grad(lambda a: jnp.linalg.norm(a, "nuc"))(MAT[:2]), rtol=1e-12)


# -- other composites --


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -2])
def test_matrix_power(n):
    a = _well(2, 2, 2) / 3
    check(lambda a: np.linalg.matrix_power(a, n), lambda a: jnp.linalg.matrix_power(a, n), a,
          second_order=n in (3, -2))


def test_trace_diagonal_transpose_outer_vecdot_cross():
    x = _u(2, 3, 3, seed=5)
    check(lambda x: np.linalg.trace(x, offset=1) + np.linalg.trace(x) * np.linalg.diagonal(x, offset=-1)[..., 0],
          lambda x: jnp.linalg.trace(x, offset=1) + jnp.linalg.trace(x) * jnp.linalg.diagonal(x, offset=-1)[..., 0],
          x, second_order=True)
    check(lambda x: np.linalg.matrix_transpose(x) * x, lambda x: jnp.linalg.matrix_transpose(x) * x, x,
          second_order=False)
    a, b = _u(3, seed=6), _u(4, seed=7)
    check(lambda a, b: np.linalg.outer(a, b), lambda a, b: jnp.linalg.outer(a, b), a, b, second_order=True)
    a, b = _u(2, 3, seed=8), _u(3, seed=9)
    check(lambda a, b: np.linalg.vecdot(a, b), lambda a, b: jnp.linalg.vecdot(a, b), a, b, second_order=False)
    a, b = _u(3, 2, seed=10), _u(3, 1, seed=11)
    check(lambda a, b: np.linalg.cross(a, b, axis=0), lambda a, b: jnp.linalg.cross(a, b, axis=0), a, b,
          second_order=True)


def test_solve_with_vector_b_and_broadcast_batch():
    a, b = _well(2, 3, 3), _u(3, seed=12)
    check(lambda a, b: np.linalg.solve(a, b), lambda a, b: jnp.linalg.solve(a, b), a, b, second_order=True)


def test_multi_dot_tensorinv_tensorsolve():
    a, b, c = _u(3, seed=13), _u(3, 4, seed=14), _u(4, 2, seed=15)
    check(lambda a, b, c: np.linalg.multi_dot([a, b, c]), lambda a, b, c: jnp.linalg.multi_dot([a, b, c]), a, b, c,
          second_order=False)
    t = _well(6, 6).reshape(6, 2, 3)
    check(lambda t: np.linalg.tensorinv(t, ind=1), lambda t: jnp.linalg.tensorinv(t, ind=1), t, second_order=False)
    b = _u(6, seed=16)
    check(lambda t, b: np.linalg.tensorsolve(t, b), lambda t, b: jnp.linalg.tensorsolve(t, b), t, b,
          second_order=False)


def test_cond_and_lstsq():
    a = MAT
    check(lambda a: np.linalg.cond(a), lambda a: jnp.linalg.cond(a), a, second_order=True)
    sq = _well(3, 3)
    check(lambda a: np.linalg.cond(a, 1), lambda a: jnp.linalg.cond(a, 1), sq, second_order=False)
    b = _u(3, 2, seed=17)
    check(lambda a, b: np.linalg.lstsq(a, b)[0], lambda a, b: jnp.linalg.lstsq(a, b)[0], a, b, second_order=False)
    check(lambda a, b: np.linalg.lstsq(a, b)[1], lambda a, b: jnp.linalg.lstsq(a, b)[1], a, b, second_order=False)
    x, res, rank, s = dnp.linalg.lstsq(a, b)
    want = np.linalg.lstsq(a, b)
    for got, w in zip((x, res, rank, s), want):
        np.testing.assert_allclose(got, w, rtol=1e-12)
    assert np.shape(dnp.linalg.lstsq(a, b[:, 0])[1]) == (1,)
    assert dnp.linalg.matrix_rank(a) == 2 == dr.grad(lambda a: np.linalg.matrix_rank(a) * dnp.sum(a))(a)[0, 0]


_SPD = _u(3, 3, seed=18) @ _u(3, 3, seed=18).T + 3 * np.eye(3)


def _lower(a):  # what NumPy's cholesky/eigh/eigvalsh factor: the lower triangle mirrored (JAX symmetrizes instead)
    return jnp.tril(a) + jnp.swapaxes(jnp.tril(a, -1), -1, -2)


def _upper(a):
    return jnp.triu(a) + jnp.swapaxes(jnp.triu(a, 1), -1, -2)
_TALL = _u(3, 2, seed=19) + np.eye(3, 2) * 2

# Variants routed to the primitives: upper Cholesky, qr mode 'r', svd compute_uv=False and full_matrices on square
# matrices, eigh's eigenvalues alone, slogdet's log|det|.
VARIANTS = {
    "cholesky upper": (lambda a: np.linalg.cholesky(a, upper=True), lambda a: jnp.linalg.cholesky(_upper(a), upper=True),
                       _SPD),
    "qr mode r": (lambda a: np.abs(np.linalg.qr(a, mode="r")), lambda a: jnp.abs(jnp.linalg.qr(a, mode="r")), _TALL),
    "svd compute_uv=False": (lambda a: np.linalg.svd(a, compute_uv=False),
                             lambda a: jnp.linalg.svd(a, compute_uv=False), _TALL),
    "svd square S only": (lambda a: np.linalg.svd(a)[1], lambda a: jnp.linalg.svd(a)[1], _SPD),
    "eigh eigenvalues only": (lambda a: np.linalg.eigh(a).eigenvalues, lambda a: jnp.linalg.eigh(_lower(a)).eigenvalues,
                              _SPD),
    "slogdet logabsdet only": (lambda a: np.linalg.slogdet(a).logabsdet, lambda a: jnp.linalg.slogdet(a).logabsdet,
                               _well(2, 3, 3)),
}
@pytest.mark.parametrize("case, second_order", [(case, order2) for case in VARIANTS for order2 in (False, True)])
def test_factorization_variants(case, second_order):
    f, f_jax, a = VARIANTS[case]
    check(f, f_jax, a, second_order=second_order)


# -- primitives at the edges of their domains --


@pytest.mark.parametrize("a", [
    np.array([[1.0, 2.0], [2.0, 4.0]]),  # rank 1
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),  # rank 2
    np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [-1.0, -2.0, -3.0]]),  # rank 1: the gradient (adjugate) is 0
], ids=["2x2 rank 1", "3x3 rank 2", "3x3 rank 1"])
def test_det_at_singular_matrices(a):
    """Up to 3x3 the derivative is the adjugate, a polynomial: finite at singular matrices, as in JAX."""
    check(np.linalg.det, jnp.linalg.det, a)


def test_det_4x4_and_1x1():
    check(np.linalg.det, jnp.linalg.det, _well(4, 4))
    check(np.linalg.det, jnp.linalg.det, _well(2, 1, 1))


def test_one_by_one_matrices():
    a = np.array([[[2.5]], [[-1.5]]])
    check(np.linalg.inv, jnp.linalg.inv, a, second_order=False)
    check(lambda a: np.linalg.slogdet(a)[1], lambda a: jnp.linalg.slogdet(a)[1], a, second_order=False)
    check(lambda a: np.linalg.eigh(a)[0], lambda a: jnp.linalg.eigh(_lower(a))[0], a, second_order=False)
    check(lambda a: np.linalg.cholesky(a * a), lambda a: jnp.linalg.cholesky(_lower(a * a)), a, second_order=False)
    check(lambda a: np.linalg.svd(a, full_matrices=False)[1], lambda a: jnp.linalg.svd(a, full_matrices=False)[1],
          a, second_order=False)
    check(lambda a: np.abs(np.linalg.qr(a)[1]), lambda a: jnp.abs(jnp.linalg.qr(a)[1]), a, second_order=False)


def test_eigenvalues_at_repeated_eigenvalues():
    """Eigenvalues alone have finite first derivatives where eigenvalues repeat (eigvalsh, or eigh's w without a
    cotangent on v): sum(w) = trace(A) and sum(w**2) = |A|_F^2 have gradients I and (lower triangle) 2 A."""
    q = np.linalg.qr(_u(3, 3, seed=21))[0]
    a = q @ np.diag([1.0, 1.0, 2.0]) @ q.T
    a = (a + a.T) / 2
    for f in (np.linalg.eigvalsh, lambda a: np.linalg.eigh(a)[0]):
        np.testing.assert_allclose(dr.grad(lambda a, f=f: dnp.sum(f(a)))(a), np.eye(3), atol=1e-12)
        # NumPy reads the lower triangle: |A|_F^2 of the mirrored triangle has gradient 4 a_ij below the diagonal
        np.testing.assert_allclose(dr.grad(lambda a, f=f: dnp.sum(f(a) ** 2))(a),
                                   4 * np.tril(a, -1) + 2 * np.diag(np.diag(a)), atol=1e-12)
    np.testing.assert_allclose(dr.jvp(np.linalg.eigvalsh, (a,), (np.eye(3),))[1], np.ones(3), atol=1e-12)


def test_singular_values_at_repeated_singular_values():
    q = np.linalg.qr(_u(3, 3, seed=22))[0]  # orthogonal: every singular value is 1
    for f in (np.linalg.svdvals, lambda a: np.linalg.svd(a, full_matrices=False)[1]):
        np.testing.assert_allclose(dr.grad(lambda a, f=f: dnp.sum(f(a) ** 2))(q), 2 * q, atol=1e-12)


def test_eigenvectors_up_to_sign():
    """Gauge-invariant functions of eigenvectors (here a matrix function V f(W) V^T) match JAX: expm of a symmetric
    matrix through eigh, to second order."""
    a = _u(3, 3, seed=23)
    a = (a + a.T) / 2

    def expm_dr(a):
        w, v = np.linalg.eigh(a)
        return (v * np.exp(w)[..., None, :]) @ np.swapaxes(v, -1, -2)

    def expm_jax(a):
        w, v = jnp.linalg.eigh(_lower(a))
        return (v * jnp.exp(w)[..., None, :]) @ jnp.swapaxes(v, -1, -2)

    check(expm_dr, expm_jax, a)


# -- dispatch, results, dtypes, errors --


def test_plain_numpy_calls_dispatch_on_tracers():
    a = _well(3, 3)
    spd = a @ a.T
    calls = {
        "inv": lambda a: np.linalg.inv(a), "det": lambda a: np.linalg.det(a),
        "slogdet": lambda a: np.linalg.slogdet(a)[1], "solve": lambda a: np.linalg.solve(a, a[0]),
        "cholesky": lambda a: np.linalg.cholesky(a @ a.T), "eigh": lambda a: np.linalg.eigh(a @ a.T)[0],
        "eigvalsh": lambda a: np.linalg.eigvalsh(a @ a.T), "qr": lambda a: np.linalg.qr(a)[1],
        "svd": lambda a: np.linalg.svd(a)[1], "svdvals": lambda a: np.linalg.svdvals(a),
        "pinv": lambda a: np.linalg.pinv(a), "norm": lambda a: np.linalg.norm(a),
        "matrix_power": lambda a: np.linalg.matrix_power(a, 2), "trace": lambda a: np.linalg.trace(a),
        "matmul": lambda a: np.linalg.matmul(a, a), "tensordot": lambda a: np.linalg.tensordot(a, a),
        "cond": lambda a: np.linalg.cond(a),
    }
    for name, f in calls.items():
        seen = []

        def g(a, f=f, seen=seen):
            out = f(a)
            seen.append((isinstance(out, Tracer), primal_value(out)))
            return dnp.sum(out)

        grad = dr.grad(g)(a)
        assert seen[0][0], f"{name}: not traced"
        np.testing.assert_allclose(seen[0][1], f(a), rtol=1e-12, err_msg=name)  # f(a): NumPy itself
        assert grad.shape == a.shape and np.all(np.isfinite(grad)), name
    np.testing.assert_array_equal(dr.grad(lambda a: np.linalg.norm(spd))(a), np.zeros((3, 3)))  # spd: a constant


def test_result_types_are_numpy_2s_named_tuples():
    a = _well(3, 3)
    a = a @ a.T

    def f(a):
        eig, svd, qr, sld = np.linalg.eigh(a), np.linalg.svd(a), np.linalg.qr(a), np.linalg.slogdet(a)
        assert isinstance(eig.eigenvectors, Tracer) and isinstance(svd.Vh, Tracer) and isinstance(qr.R, Tracer)
        return dnp.sum(eig.eigenvalues) + dnp.sum(svd.S) + dnp.sum(qr.R ** 2) + sld.logabsdet + sld.sign

    np.testing.assert_allclose(dr.grad(f)(a), 2 * np.eye(3) + 2 * a + np.linalg.inv(a), rtol=1e-10)
    assert dr.jvp(lambda a: np.linalg.slogdet(a).sign, (a,), (a,))[1] == 0.0  # the sign has no derivative
    out = dnp.linalg.eigh(a)
    assert type(out).__name__ == "EighResult" and out._fields == np.linalg.eigh(a)._fields
    assert dnp.linalg.svd(a)._fields == np.linalg.svd(a)._fields
    assert dnp.linalg.qr(a)._fields == np.linalg.qr(a)._fields
    assert dnp.linalg.slogdet(a)._fields == np.linalg.slogdet(a)._fields
    w, v = dr.jvp(lambda a: tuple(np.linalg.eigh(a)), (a,), (np.eye(3),))[1]
    np.testing.assert_allclose(w, np.ones(3), atol=1e-12)  # d(a + t I): eigenvalues move by t, vectors do not
    np.testing.assert_allclose(v, 0.0, atol=1e-12)


def _sym3(a):
    return a @ np.swapaxes(a, -1, -2)


def _rebuild_eigh(w, v):
    return (v * w[..., None, :]) @ np.swapaxes(v, -1, -2)


def _product(q, r):
    return q * r


def _rebuild_svd(u, s, vh):
    return (u * s[..., None, :]) @ vh


@pytest.mark.parametrize("f", [
    np.linalg.inv, np.linalg.det, lambda a: np.linalg.slogdet(a)[1], lambda a: np.linalg.solve(a, a),
    lambda a: np.linalg.cholesky(_sym3(a)), lambda a: _rebuild_eigh(*np.linalg.eigh(_sym3(a))) * a,
    np.linalg.eigvalsh, lambda a: _product(*np.linalg.qr(a)),
    lambda a: _rebuild_svd(*np.linalg.svd(a, full_matrices=False)) * a, np.linalg.svdvals,
    np.linalg.pinv, np.linalg.norm, lambda a: np.linalg.norm(a, "nuc", axis=(1, 2)),
    lambda a: np.linalg.norm(a, 1, axis=0), lambda a: np.linalg.matrix_power(a, -3),
], ids=["inv", "det", "slogdet", "solve", "cholesky", "eigh", "eigvalsh", "qr", "svd", "svdvals", "pinv", "norm",
        "nuc", "norm1", "matrix_power"])
def test_float32_stays_float32(f):
    a = _well(2, 3, 3).astype(np.float32)
    out = f(a)
    t = np.ones_like(a)
    ct = np.ones(np.shape(out), np.float32)
    assert out.dtype == np.float32
    assert dr.jvp(f, (a,), (t,))[1].dtype == np.float32
    assert dr.vjp(f, a)[1](ct)[0].dtype == np.float32
    g = dr.grad(lambda a: dnp.sum(f(a)))
    assert dr.jvp(g, (a,), (t,))[1].dtype == np.float32


def test_errors():
    a = np.ones((2, 3))
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        dr.grad(lambda a: dnp.sum(np.linalg.det(a)))(a)
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        dnp.linalg.solve(a, np.ones(2))
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        dr.grad(lambda a: dnp.sum(np.linalg.svd(a)[0]))(a)
    with pytest.raises(NotImplementedError, match="reduced"):  # mode="complete": tests/test_numpy_numerical.py
        dr.grad(lambda a: dnp.sum(np.linalg.qr(a.T, mode="raw")[0]))(a)
    with pytest.raises(ValueError, match="invalid norm order"):
        dnp.linalg.norm(np.ones(3), "fro")
    with pytest.raises(ValueError, match="invalid norm order"):
        dnp.linalg.norm(a, 3)
    with pytest.raises(np.linalg.LinAlgError):
        dr.grad(lambda a: dnp.sum(np.linalg.inv(a)))(np.zeros((2, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dnp.linalg.norm(np.zeros(3))  # the convention at 0 evaluates nothing that warns


@pytest.mark.parametrize("UPLO", ["L", "U"])
def test_symmetric_factorizations_differentiate_the_triangle_numpy_reads(UPLO):
    """NumPy's eigh/eigvalsh/cholesky read one triangle of a non-symmetric input; the derivatives are those of what
    NumPy computes, so finite differences in any direction agree (autograd's eigh tests check exactly this)."""
    rng = np.random.default_rng(5)
    a = rng.normal(size=(4, 4)) + 4 * np.eye(4)  # not symmetric; its UPLO triangle mirrored is positive definite
    upper = UPLO == "U"
    weights = np.arange(1.0, 5.0)
    fs = [
        lambda a: dnp.sum(np.linalg.eigvalsh(a, UPLO=UPLO) ** 3),
        lambda a: dnp.sum(np.linalg.eigh(a, UPLO=UPLO)[1] ** 2 * weights) + dnp.sum(np.linalg.eigh(a, UPLO=UPLO)[0]),
        lambda a: dnp.sum(np.linalg.cholesky(a, upper=upper) * weights),
    ]
    if not upper:  # the same thing through dnp, whose default is the lower triangle
        fs.append(lambda a: dnp.sum(dnp.linalg.eigvalsh(a) * weights))
    for f in fs:
        dr.check_grads(f, (a,), order=2)
    g = dr.grad(fs[0])(a)
    other = np.triu(g, 1) if UPLO == "L" else np.tril(g, -1)
    assert np.all(other == 0) and np.any(g != 0)
