"""dualrev.numpy.linalg on complex matrices, and eig/eigvals on real and complex ones, against JAX (x64): values,
first and second derivatives in both modes, complex128 and complex64, on hypothesis-drawn matrices; vmap; plain
``np.linalg.*`` dispatch; the refusals (svd with full_matrices=True on non-square matrices, as JAX).

Factorizations are compared through quantities that do not depend on their gauge: eigenvalues; projectors
v_j v_j^H / |v_j|^2 (eig, eigh: an eigenvector's complex scale is free); products u_j vh_j (svd); Q and R with R's
diagonal made positive (qr). Hermitian functions read one triangle (NumPy's semantics) and JAX's symmetrize: both
are given the matrix NumPy reads, the triangle mirrored (``_read``), so they agree on every direction.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fft import check_against_jax

import dualrev as dr
import dualrev.numpy as dnp

jax.config.update("jax_enable_x64", True)


def _exact(rng, shape):
    """Complex values with parts in (-1, 1), exact in complex64."""
    return (np.round(rng.uniform(-1, 1, shape) * 64) + 1j * np.round(rng.uniform(-1, 1, shape) * 64)) / 64


@st.composite
def matrices(draw, kind, shape):
    """A complex matrix stack of a kind: "general" (diagonally dominant), "hermitian" (eigenvalues about one apart,
    positive with kind "hpd"), or "separated" (non-Hermitian, eigenvalues about one apart)."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    a = _exact(rng, shape)
    n = shape[-1]
    if kind == "general":
        return a + (n + 1) * np.eye(*shape[-2:])
    if kind == "separated":
        return 0.25 * a + np.diag(np.arange(n) * 1.5 - 1)
    h = (a + np.conj(np.swapaxes(a, -1, -2))) / 4 + np.diag(np.arange(n) * 1.5 - 1.5)
    return h + (n + 1) * np.eye(n) if kind == "hpd" else h


def _read(m, a):
    """The Hermitian matrix NumPy's eigh/cholesky read from ``a``: its lower triangle, mirrored and conjugated,
    with the real parts of the diagonal."""
    low = m.tril(a, -1)
    return low + m.conj(low).swapaxes(-1, -2) + m.real(a) * m.eye(a.shape[-1], dtype=a.real.dtype)


def _projectors(m, v):
    p = v[..., :, None, :] * m.conj(v)[..., None, :, :] / m.sum(m.real(v * m.conj(v)), -2)[..., None, None, :]
    return m.real(p), m.imag(p)


def _eigh(m, a):
    w, v = m.linalg.eigh(_read(m, a) if m is jnp else a)
    return w, *_projectors(m, v)


def _eig(m, a):
    if m is jnp:  # jnp.linalg.eig refuses eigenvector derivatives; lax's gives them under LAPACK's normalisation
        w, v = jax.lax.linalg.eig(a, compute_left_eigenvectors=False, enable_eigvec_derivs=True)
    else:
        w, v = m.linalg.eig(a)
    return m.real(w), m.imag(w), *_projectors(m, v)


def _eigvals(m, a):
    if m is jnp:
        w = jax.lax.linalg.eig(a, compute_left_eigenvectors=False, compute_right_eigenvectors=False,
                               enable_eigvec_derivs=True)[0]
    else:
        w = m.linalg.eigvals(a)
    return m.real(w), m.imag(w)


def _svd(m, a):
    u, s, vh = m.linalg.svd(a, full_matrices=False)
    w = u[..., :, None, :] * vh.swapaxes(-1, -2)[..., None, :, :]
    return s, m.real(w), m.imag(w)


def _qr(m, a):
    q, r = m.linalg.qr(a)
    k = r.shape[-2]
    d = r[..., np.arange(k), np.arange(k)]
    phase = d / m.abs(d)
    q, r = q * phase[..., None, :], r * m.conj(phase)[..., :, None]
    return m.real(q), m.imag(q), m.real(r), m.imag(r)


SQUARE, TALL, WIDE = (2, 3, 3), (3, 2), (2, 3)

CASES = {  # name -> (function of a NumPy-like module and operands, operand kinds and shapes)
    "solve": (lambda m, a, b: m.linalg.solve(a, b), [("general", SQUARE), ("general", (3, 2))]),
    "inv": (lambda m, a: m.linalg.inv(a), [("general", SQUARE)]),
    "det": (lambda m, a: m.linalg.det(a), [("general", SQUARE)]),
    "det 4x4": (lambda m, a: m.linalg.det(a), [("general", (4, 4))]),
    "slogdet": (lambda m, a: tuple(m.linalg.slogdet(a)), [("general", SQUARE)]),
    "matrix_power": (lambda m, a: m.linalg.matrix_power(a, -3), [("general", (3, 3))]),
    "cholesky": (lambda m, a: m.linalg.cholesky(_read(m, a) if m is jnp else a), [("hpd", SQUARE)]),
    "cholesky upper": (lambda m, a: m.linalg.cholesky(a, upper=True) if m is dnp else m.conj(m.linalg.cholesky(
        _read(m, m.conj(a).swapaxes(-1, -2)))).swapaxes(-1, -2), [("hpd", (3, 3))]),  # U^H U, from the upper triangle
    "eigh": (_eigh, [("hermitian", SQUARE)]),
    "eigvalsh": (lambda m, a: m.linalg.eigvalsh(_read(m, a) if m is jnp else a), [("hermitian", SQUARE)]),
    "eig": (_eig, [("separated", SQUARE)]),
    "eigvals": (_eigvals, [("separated", SQUARE)]),
    "svd tall": (_svd, [("general", TALL)]),
    "svd wide": (_svd, [("general", WIDE)]),
    "svdvals": (lambda m, a: m.linalg.svd(a, compute_uv=False), [("general", TALL)]),
    "qr tall": (_qr, [("general", TALL)]),
    "qr wide": (_qr, [("general", WIDE)]),
    "pinv": (lambda m, a: m.linalg.pinv(a), [("general", TALL)]),
    "pinv hermitian": (lambda m, a: m.linalg.pinv(a, hermitian=True), [("hermitian", (3, 3))]),
    "lstsq": (lambda m, a, b: m.linalg.lstsq(a, b)[0], [("general", (4, 2)), ("general", (4,))]),
    "norm": (lambda m, a: m.linalg.norm(a), [("general", TALL)]),
    "norm 2": (lambda m, a: m.linalg.norm(a, 2), [("general", TALL)]),
    "norm nuc": (lambda m, a: m.linalg.norm(a, "nuc"), [("general", WIDE)]),
    "norm inf, axis": (lambda m, a: m.linalg.norm(a, np.inf, axis=0), [("general", TALL)]),
    "norm -1": (lambda m, a: m.linalg.norm(a, -1), [("general", TALL)]),
    "cond": (lambda m, a: m.linalg.cond(a), [("general", (3, 3))]),
}


def _check_case(name, order, data):
    f, operands = CASES[name]
    xs = tuple(data.draw(matrices(kind, shape), label=f"operand {i}") for i, (kind, shape) in enumerate(operands))
    check_against_jax(lambda *xs: f(dnp, *xs), lambda *xs: f(jnp, *xs), xs, order,
                      seed=data.draw(st.integers(0, 2 ** 16), label="directions seed"), single=order == 1)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=2)
@given(data=st.data())
def test_complex_linalg_first_order_matches_jax(name, data):
    """Value, jvp, linearize, vjp in complex128 and complex64."""
    _check_case(name, 1, data)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=1)
@given(data=st.data())
def test_complex_linalg_second_order_matches_jax(name, data):
    """The four second-order mode pairs, in complex128 (complex64 runs the same rules at order 1)."""
    _check_case(name, 2, data)


@pytest.mark.parametrize("order", [1, 2])
@settings(max_examples=2)
@given(data=st.data())
def test_eig_of_real_matrices_matches_jax(order, data):
    """Real input, complex results (pairs of complex eigenvalues, or all real): real cotangents of A."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    a = 0.25 * np.round(rng.uniform(-1, 1, (2, 3, 3)) * 64) / 64 + np.diag([-1.0, 0.5, 2.0])
    if data.draw(st.booleans()):
        a[..., 0, 1], a[..., 1, 0] = 2.0, -0.5  # a complex pair -1 +- i near the top-left block
    check_against_jax(lambda a: _eig(dnp, a), lambda a: _eig(jnp, a), (a,), order, single=order == 1)
    check_against_jax(lambda a: _eigvals(dnp, a), lambda a: _eigvals(jnp, a), (a,), order, single=order == 1)


def test_eig_values_and_vectors_are_numpys():
    a = np.random.default_rng(0).normal(size=(2, 4, 4))
    w, v = dnp.linalg.eig(a)
    w_np, v_np = np.linalg.eig(a)
    assert w.dtype == v.dtype == np.complex128  # complex always, as JAX (NumPy: real when the eigenvalues are)
    np.testing.assert_allclose(w, w_np, 1e-12)
    np.testing.assert_allclose(v, v_np, 1e-12, 1e-12)  # NumPy's eigenvectors, normalisation included
    assert dnp.linalg.eigvals(a.astype(np.float32)).dtype == np.complex64


def test_eigenvectors_themselves_match_jax():
    """Not only gauge-invariant quantities: NumPy and JAX both return LAPACK's normalisation (unit norm, largest
    component real), and dualrev differentiates that choice as JAX does."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))

    def f_jax(a):
        return jax.lax.linalg.eig(a, compute_left_eigenvectors=False, enable_eigvec_derivs=True)[1]

    assert np.allclose(dnp.linalg.eig(a)[1], f_jax(a))  # the same vectors, so their derivatives can be compared
    check_against_jax(lambda a: dnp.linalg.eig(a)[1], f_jax, (a,), 1, single=False)
    check_against_jax(lambda a: dnp.linalg.eig(a)[1], f_jax, (a,), 2, single=False)


def test_plain_numpy_calls_and_vmap():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(4, 3, 3)) + 1j * rng.normal(size=(4, 3, 3)) + 3 * np.eye(3)

    def loss(a):
        w = np.linalg.eigvals(a)
        return np.sum(np.abs(w) ** 2) + np.abs(np.linalg.det(a)) + np.linalg.norm(np.linalg.inv(a))

    def loss_jax(a):
        w = jnp.linalg.eigvals(a)
        return jnp.sum(jnp.abs(w) ** 2) + jnp.abs(jnp.linalg.det(a)) + jnp.linalg.norm(jnp.linalg.inv(a))

    np.testing.assert_allclose(dr.grad(loss)(a[0]), jax.grad(loss_jax)(a[0]), 1e-10, 1e-12)
    np.testing.assert_allclose(dr.vmap(dr.grad(loss))(a), np.stack([dr.grad(loss)(x) for x in a]), 1e-12, 1e-12)
    for f in (lambda a: (dnp.linalg.eigvals(a),), dnp.linalg.eig, dnp.linalg.slogdet, dnp.linalg.qr,
              lambda a: (dnp.linalg.svd(a)[1],), lambda a: (dnp.linalg.eigvalsh(a),)):
        got, want = jax.tree.leaves(tuple(dr.vmap(f)(a))), [tuple(f(x)) for x in a]
        for i, g in enumerate(got):
            np.testing.assert_allclose(g, np.stack([w[i] for w in want]), 1e-12, 1e-12)


def test_svd_full_matrices_on_non_square_traced_matrices_is_refused_as_in_jax():
    with pytest.raises(NotImplementedError, match="Singular value decomposition JVP not implemented"):
        jax.jvp(lambda a: jnp.linalg.svd(a, full_matrices=True), (np.ones((3, 2)),), (np.ones((3, 2)),))
    for shape in [(3, 2), (2, 3)]:
        with pytest.raises(NotImplementedError, match="full_matrices=False"):
            dr.grad(lambda a: dnp.sum(dnp.linalg.svd(a)[0]))(np.ones(shape))
        with pytest.raises(NotImplementedError, match="full_matrices=False"):
            dr.grad(lambda a: np.sum(np.abs(np.linalg.svd(a, full_matrices=True)[2])))(np.ones(shape) * (1 + 1j))
    # square matrices: full and reduced are the same factorization, differentiated
    a = np.random.default_rng(3).normal(size=(3, 3))
    check_against_jax(lambda a: _svd(dnp, a)[0], lambda a: _svd(jnp, a)[0], (a,), 1)
    np.testing.assert_allclose(dr.grad(lambda a: dnp.sum(dnp.linalg.svd(a, full_matrices=True)[1]))(a),
                               jax.grad(lambda a: jnp.sum(jnp.linalg.svd(a, full_matrices=True)[1]))(a), 1e-12)


def test_scipy_linalg_mirrors_take_complex_matrices():
    import jax.scipy.linalg as jsl

    import dualrev.scipy.linalg as dsl

    rng = np.random.default_rng(4)
    a = _exact(rng, (3, 3)) + 4 * np.eye(3)
    b = _exact(rng, (3, 2))
    h = (a + a.conj().T) / 2
    check_against_jax(lambda a, b: dsl.solve(a, b, assume_a="her"), lambda a, b: jsl.solve(a, b), (h, b), 2)
    check_against_jax(lambda a: (dsl.det(a), dsl.inv(a)), lambda a: (jsl.det(a), jsl.inv(a)), (a,), 2)
    check_against_jax(lambda a: dsl.eigh(a, eigvals_only=True), lambda a: jsl.eigh(_read(jnp, a), eigvals_only=True),
                      (h,), 2)


def test_complete_qr_of_tall_complex_matrices_is_refused_by_name():
    with pytest.raises(TypeError, match=r"qr: mode='complete'.*complex.*mode='reduced'"):
        dr.grad(lambda a: dnp.sum(dnp.abs(dnp.linalg.qr(a, mode="complete")[0])))(np.ones((3, 2)) * 1j)
