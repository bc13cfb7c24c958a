"""Oracle specs of dualrev.numpy.linalg's primitives (merged into tests/test_primitives.py's SPECS).

Operands are drawn inside each primitive's domain, as float32-exact values: well-conditioned (diagonally dominant)
matrices for solve/inv/det/slogdet, symmetric positive definite ones for cholesky, symmetric ones with well-separated
eigenvalues for eigh/eigvalsh, matrices with well-separated nonzero singular values for svd/svdvals, full-rank ones
for qr/pinv; stacks of matrices, broadcasting against single ones in solve. The references are jitted: JAX then
compiles each derivative of a reference as one computation instead of many small ones.

Eigenvectors and singular vectors are defined up to sign, so eigh, svd and qr are compared through quantities that do
not depend on the choice: the projectors v_j v_j^T (eigh), the products u_j vh_j (svd), and Q, R with R's diagonal
made positive (qr); their derivatives still involve every output of the primitive.
"""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import strategies as st
from oracle import Spec, arrays, floats, jnp

import dualrev.numpy as dnp

UNIT = floats(-1, 1)
SEPARATED = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]  # eigenvalues one apart
SINGULAR_VALUES = [0.5, 1.5, 2.5, 3.5]  # singular values one apart, away from 0

# Shapes come from small pools: JAX compiles its side of every check once per shape, seconds for a factorization's
# second derivatives, while new values of a known shape cost milliseconds. A stack (2, ...) runs the same rules as a
# single matrix; tall and wide matrices take different branches of qr, svd and pinv, so both are drawn.
SQUARE = st.just((2, 3, 3))
RECTANGULAR = st.sampled_from([(2, 3, 2), (2, 2, 3)])


def _f32(x):
    return np.asarray(x, np.float64).astype(np.float32)


def _split(shape):
    return shape[:-2], shape[-2], shape[-1]


@st.composite
def well_conditioned(draw, shape=SQUARE):
    """Strictly diagonally dominant (..., n, n): entries in [-1, 1] plus ±(n + 1/2) on the diagonal (either sign, so
    determinants of both signs)."""
    shape = draw(shape)
    batch, n, _ = _split(shape)
    m = draw(arrays(shape, UNIT))
    signs = draw(arrays(batch + (n,), st.sampled_from([1.0, -1.0])))
    return m + np.float32(n + 0.5) * signs[..., None] * np.eye(n, dtype=np.float32)


def _orthogonal(m):
    """An orthogonal matrix (stack) from a diagonally dominant one."""
    n = m.shape[-1]
    return np.linalg.qr(m.astype(np.float64) + 3 * np.eye(n))[0]


@st.composite
def symmetric_separated(draw, shape=SQUARE):
    """Q diag(w) Q^T with eigenvalues w one apart, rounded to float32 and exactly symmetric."""
    shape = draw(shape)
    n = shape[-1]
    q = _orthogonal(draw(arrays(shape, UNIT)))
    w = np.array(draw(st.lists(st.sampled_from(SEPARATED), min_size=n, max_size=n, unique=True)))
    a = (q * w) @ np.swapaxes(q, -1, -2)
    return _f32((a + np.swapaxes(a, -1, -2)) / 2)


@st.composite
def spd(draw, shape=SQUARE):
    """B B^T + n I: symmetric positive definite, eigenvalues >= n."""
    shape = draw(shape)
    b = draw(arrays(shape, UNIT)).astype(np.float64)
    a = b @ np.swapaxes(b, -1, -2) + shape[-1] * np.eye(shape[-1])
    return _f32((a + np.swapaxes(a, -1, -2)) / 2)


@st.composite
def separated_singular_values(draw, shape=RECTANGULAR):
    """U diag(s) V^T of shape (..., m, n), singular values one apart and >= 1/2."""
    batch, m, n = _split(draw(shape))
    k = min(m, n)
    u = _orthogonal(draw(arrays(batch + (m, m), UNIT)))[..., :k]
    v = _orthogonal(draw(arrays(batch + (n, n), UNIT)))[..., :k]
    s = np.array(draw(st.lists(st.sampled_from(SINGULAR_VALUES), min_size=k, max_size=k, unique=True)))
    return _f32((u * s) @ np.swapaxes(v, -1, -2))


@st.composite
def full_rank(draw, shape=RECTANGULAR):
    """(..., m, n): entries in [-1, 1] plus 5/2 on the diagonal: the leading min(m, n) columns are independent."""
    shape = draw(shape)
    return draw(arrays(shape, UNIT)) + np.float32(2.5) * np.eye(*shape[-2:], dtype=np.float32)


@st.composite
def rank_deficient(draw):
    """(2, m, n) products of small-integer factors (m, r) @ (r, n): exact in float32, of rank r <= min(m, n) (0 too),
    with the tolerances NumPy takes (``tol``: one number or one per matrix, ``rtol``, ``hermitian`` for symmetric
    ones)."""
    m, n = draw(st.sampled_from([(3, 3), (3, 2), (2, 3)]))
    r = draw(st.integers(0, min(m, n)))
    small = st.integers(-2, 2).map(float)
    u = draw(arrays((2, m, r), small))
    v = draw(arrays((2, r, n), small))
    a = (u @ v).astype(np.float32)
    tol, rtol, hermitian = None, None, False
    kind = draw(st.sampled_from(["default", "tol", "tol per matrix", "rtol", "hermitian"]))
    if kind == "tol":
        tol = draw(st.sampled_from([0.5, 1e-3]))
    elif kind == "tol per matrix":
        tol = np.array(draw(st.lists(st.sampled_from([0.5, 2.0, 1e-3]), min_size=2, max_size=2)))
    elif kind == "rtol":
        rtol = draw(st.sampled_from([0.25, 1e-3]))
    elif kind == "hermitian" and m == n:
        a = (u @ np.swapaxes(u, -1, -2)).astype(np.float32)  # symmetric, rank r
        hermitian = True
    return (a,), {"tol": tol, "hermitian": hermitian, "rtol": rtol}


@st.composite
def separated_eigenvalues(draw, shape=SQUARE):
    """(..., 3, 3) non-symmetric matrices with well-separated eigenvalues, a complex pair or all real: a block
    diagonal matrix (a 2x2 block [[x, c], [-c/4, x]] with eigenvalues x +- i c/2 and eigenvector components of
    different moduli, so that LAPACK's choice of the component made real is clear; or a diagonal) plus a small
    non-symmetric perturbation, all float32-exact."""
    shape = draw(shape)
    batch, n, _ = _split(shape)
    base = np.zeros(shape)
    for idx in np.ndindex(*batch):
        d = draw(st.lists(st.sampled_from(SEPARATED), min_size=n, max_size=n, unique=True))
        block = np.diag(d)
        if draw(st.booleans()):
            c = draw(st.sampled_from([-2.0, 2.0, 3.0]))
            block[0, 1], block[1, 0], block[1, 1] = c, -c / 4, d[0]
        base[idx] = block
    return _f32(base + 0.125 * draw(arrays(shape, UNIT)).astype(np.float64))


def eig_invariant(w, v, real, imag, conj):
    """(Re w, Im w, Re P, Im P) with projectors P[..., i, k, j] = v_ij conj(v_kj) / |v_j|^2: independent of each
    eigenvector's complex scale, so of the normalisation convention."""
    p = v[..., :, None, :] * conj(v)[..., None, :, :] / (real(v * conj(v))).sum(-2)[..., None, None, :]
    return real(w), imag(w), real(p), imag(p)


def one(strategy, **params):
    return strategy.map(lambda a: ((a,), dict(params)))


@st.composite
def solve_operands(draw):
    """a (..., m, m), b (..., m, k) whose batch axes broadcast against each other: (2, 1) with (3,)."""
    return (draw(well_conditioned(st.just((2, 1, 3, 3)))), draw(arrays((3, 3, 2), floats(-3, 3)))), {}


@st.composite
def pinv_operands(draw):
    """Tall full-rank stacks, or symmetric ones with hermitian=True (pinv's rule has no tall/wide branch)."""
    if draw(st.sampled_from([False, False, True])):
        return (draw(symmetric_separated()),), {"rcond": None, "rtol": None, "hermitian": True}
    return (draw(full_rank(st.just((2, 3, 2)))),), {"rcond": None, "rtol": None, "hermitian": False}


# -- gauge-invariant views of factorizations, written for NumPy-like modules (dualrev tracers and jax.numpy) --


def eigh_invariant(w, v):
    """(w, projectors P[..., i, k, j] = v_ij v_kj): independent of the eigenvectors' signs."""
    return w, v[..., :, None, :] * v[..., None, :, :]


def svd_invariant(u, s, vh):
    """(s, products W[..., i, l, j] = u_ij vh_jl): independent of the signs of the pairs (u_j, vh_j)."""
    return s, u[..., :, None, :] * vh.swapaxes(-1, -2)[..., None, :, :]


def qr_positive(q, r, sign):
    """Q and R with R's diagonal made positive (the unique QR of a full-rank matrix)."""
    k = r.shape[-2]
    d = sign(r[..., np.arange(k), np.arange(k)])  # no derivative
    return q * d[..., None, :], r * d[..., :, None]


_eigh_ref = jax.jit(lambda a: eigh_invariant(*jnp.linalg.eigh(a)))
# jnp.linalg.eig refuses eigenvector derivatives; lax's eig gives them with enable_eigvec_derivs (LAPACK's
# normalisation, NumPy's too)
_eig_ref = jax.jit(lambda a: eig_invariant(*jax.lax.linalg.eig(a, compute_left_eigenvectors=False,
                                                                enable_eigvec_derivs=True),
                                           jnp.real, jnp.imag, jnp.conj))


def _real_imag_eigvals(a):
    w = jax.lax.linalg.eig(a, compute_left_eigenvectors=False, compute_right_eigenvectors=False,
                           enable_eigvec_derivs=True)[0]  # jnp.linalg.eigvals refuses second derivatives
    return jnp.real(w), jnp.imag(w)


_eigvals_ref = jax.jit(_real_imag_eigvals)
_eigvalsh_ref = jax.jit(jnp.linalg.eigvalsh)


def jitted(f, **params):
    """The JAX reference ``f(*operands, **params)``, jitted with the params static (values, not traced)."""
    compiled = jax.jit(lambda *xs, params: f(*xs, **dict(params)), static_argnames="params")
    return lambda *xs, **kw: compiled(*xs, params=tuple(sorted(kw.items())))


SPECS = {
    "solve": Spec(jitted(jnp.linalg.solve), solve_operands()),
    "inv": Spec(jitted(jnp.linalg.inv), one(well_conditioned())),
    "det": Spec(jitted(jnp.linalg.det), one(well_conditioned())),
    "slogdet": Spec(jitted(lambda a: tuple(jnp.linalg.slogdet(a))), one(well_conditioned())),
    "cholesky": Spec(jitted(jnp.linalg.cholesky), one(spd())),
    # the operands are exactly symmetric, so UPLO does not change the reference: JAX compiles it once
    "eigh": Spec(lambda a, UPLO: _eigh_ref(a),
                 st.sampled_from(["L", "U"]).flatmap(lambda uplo: one(symmetric_separated(), UPLO=uplo)),
                 call=lambda prim, a, UPLO: eigh_invariant(*prim(a, UPLO=UPLO))),
    "eigvalsh": Spec(lambda a, UPLO: _eigvalsh_ref(a),
                     st.sampled_from(["L", "U"]).flatmap(lambda uplo: one(symmetric_separated(), UPLO=uplo))),
    "eig": Spec(lambda a: _eig_ref(a), one(separated_eigenvalues()),
                call=lambda prim, a: eig_invariant(*prim(a), dnp.real, dnp.imag, dnp.conj)),
    "eigvals": Spec(lambda a: _eigvals_ref(a), one(separated_eigenvalues()),
                    call=lambda prim, a: (dnp.real(prim(a)), dnp.imag(prim(a)))),
    "qr": Spec(jitted(lambda a: qr_positive(*jnp.linalg.qr(a), jnp.sign)), one(full_rank()),
               call=lambda prim, a: qr_positive(*prim(a), np.sign)),
    "svd": Spec(jitted(lambda a: svd_invariant(*jnp.linalg.svd(a, full_matrices=False))),
                one(separated_singular_values()), call=lambda prim, a: svd_invariant(*prim(a))),
    "svdvals": Spec(jitted(lambda a: jnp.linalg.svd(a, compute_uv=False)),
                    one(separated_singular_values(st.just((2, 2, 3))))),  # its rules have no tall/wide branch
    "pinv": Spec(jitted(lambda a, rcond, rtol, hermitian: jnp.linalg.pinv(a, hermitian=hermitian)),
                 pinv_operands()),
    "matrix_rank": Spec(lambda a, tol, hermitian, rtol: np.linalg.matrix_rank(a, tol=tol, hermitian=hermitian,
                                                                               rtol=rtol),
                        rank_deficient(), nondiff=True),
}
