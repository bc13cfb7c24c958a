"""dualrev.numpy.linalg: NumPy's linear algebra, differentiable in both modes and to any order.

Primitives (a NumPy implementation with JVP and VJP rules): solve, inv, det, slogdet, cholesky, eig, eigvals, eigh,
eigvalsh, qr, svd, svdvals, pinv. Everything else (norm, matrix_power, trace, cond, lstsq, ...) is a composite of primitives.
Every function takes stacks of matrices (..., m, n) where NumPy does. Rules are written with dualrev operations
(matmul, swapaxes, solve, ...), so they differentiate again; the derivation of each is cited next to it
(Giles 2008, "An extended collection of matrix derivative results"; Murray 2016 for Cholesky; Townsend 2016 and
Seeger et al. 2017 for the SVD and eigendecomposition; Walter & Lehmann 2018 for QR; Golub & Pereyra 1973 for pinv).

Conventions (each also in the primitive's ``note``):

- Complex values: every primitive here takes them, with JAX's rules (the VJP is the transpose of the JVP; a
  function of a complex matrix with real values, such as eigvalsh or norm, has a real JVP). eig and eigvals, for
  general matrices, always return complex arrays, as in JAX. Hermitian input is the complex form of symmetric input
  below: the mirrored triangle is conjugated.
- Symmetric input (cholesky, eigh, eigvalsh): NumPy reads one triangle (lower, or as ``UPLO``/``upper`` say), and
  so does the derivative: the functions mirror that triangle (``_from_triangle``) before the primitive, so the
  other triangle gets a zero derivative and finite differences of NumPy's own function agree for any input. (JAX
  symmetrizes, ``(dA + dA.T) / 2``; the two agree on symmetric directions.) The primitives themselves take a
  symmetric matrix and treat a perturbation as symmetric. pinv with hermitian=True differentiates the symmetric
  part, as JAX.
- Eigenvectors and singular vectors are defined up to sign, and their derivatives are not defined where eigenvalues
  (singular values) repeat: there they are inf/NaN, as in JAX. Functions of them that do not depend on the choice
  (projectors ``v v.T``, ``u diag(s) vh``, ...) have the derivatives one expects. Eigenvalues alone (eigvalsh,
  svdvals, or ``eigh(a)[0]`` when only ``w`` gets a cotangent) have finite first derivatives even then.
- norm: the derivative of every norm at a zero vector (matrix) is 0, a subgradient, where JAX gives NaN for the
  2-norm, the Frobenius norm and p-norms.

vmap: NumPy's linalg maps over leading axes, so a primitive's batching rule applies it to the batch as one more
stack axis (solve lines up the stack axes of a and b first). matrix_rank is a primitive without derivative so that
each example gets its own rank.

Imports core and the other dualrev.numpy families.
"""

from __future__ import annotations

import operator
from collections import namedtuple

import numpy as np

from dualrev.core import Tracer, concrete_test, defprim, implements, primal_value
from dualrev.numpy._batch import align
from dualrev.numpy.contractions import matmul, tensordot
from dualrev.numpy.reductions import argmax
from dualrev.numpy.reductions import max as _max
from dualrev.numpy.reductions import min as _min
from dualrev.numpy.reductions import sum as _sum
from dualrev.numpy.shape import astype, concatenate, expand_dims, getitem, reshape, stack, swapaxes, transpose
from dualrev.numpy.ufuncs import absolute, conjugate, copysign, hypot, imag, isnan, logical_and, real, sqrt, where

__all__ = [
    "EigResult", "EighResult", "LinAlgError", "QRResult", "SVDResult", "SlogdetResult", "cholesky", "cond", "cross", "det",
    "diagonal", "eig", "eigh", "eigvals", "eigvalsh", "inv", "lstsq", "matmul", "matrix_norm", "matrix_power", "matrix_rank",
    "matrix_transpose", "multi_dot", "norm", "outer", "pinv", "qr", "slogdet", "solve", "svd", "svdvals",
    "tensordot", "tensorinv", "tensorsolve", "trace", "vecdot", "vector_norm",
]

LinAlgError = np.linalg.LinAlgError

# NumPy 2's result types (same names and fields); plain tuples of arrays and tracers are pytrees as well.
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])

# -- helpers (dualrev operations; NumPy only on shapes, masks and constants) --


def _dtype(x):
    return x.dtype if isinstance(x, (Tracer, np.ndarray, np.generic)) else np.asarray(x).dtype  # lists too


def _float(x):
    """x itself if it has a float dtype, else cast to float64 (as NumPy's linalg does with integer input)."""
    return x if _dtype(x).kind in "fc" else astype(x, np.float64)


def _mT(x):
    return swapaxes(x, -1, -2)


def _const(a, like):
    """A constant NumPy array in the dtype of ``like`` (so that float32 stays float32)."""
    return np.asarray(a, dtype=_dtype(like))


def _diagonal(x, offset=0):
    """The diagonal of the last two axes, shape (..., k)."""
    m, n = np.shape(x)[-2:]
    k = max(0, min(m, n - offset) if offset >= 0 else min(m + offset, n))
    i = np.arange(k)
    return getitem(x, (Ellipsis, i - min(offset, 0), i + max(offset, 0)))


def _diag_embed(v):
    """(..., n) -> (..., n, n) with v on the diagonal."""
    return expand_dims(v, -1) * np.eye(np.shape(v)[-1], dtype=_dtype(v))


def _trace(x):
    return _sum(_diagonal(x), axis=-1)


def _tril(x, k=0):
    m, n = np.shape(x)[-2:]
    return where(np.tri(m, n, k, dtype=bool), x, 0.0)


def _sym(x):
    return (x + _mT(x)) * 0.5


def _is_complex(x):
    return _dtype(x).kind == "c"


def _mH(x):
    """The conjugate transpose of the last two axes (the transpose for real values)."""
    return conjugate(_mT(x)) if _is_complex(x) else _mT(x)


def _herm(x):
    """The Hermitian part (x + x^H) / 2 (the symmetric part for real values)."""
    return (x + _mH(x)) * 0.5


def _abs2(x):
    """|x|^2, real: x * x for real values, Re(x conj(x)) for complex ones."""
    return real(x * conjugate(x)) if _is_complex(x) else x * x


def _hermitian_np(a):
    """A complex matrix's Hermitian part (a + a^H) / 2 in NumPy, as JAX symmetrizes: what the Hermitian primitives
    factor, so that they are the same function as JAX's on any input. The public functions pass them a Hermitian
    matrix (``_from_triangle``), which this leaves as it is; real matrices pass through."""
    return (a + np.conj(np.swapaxes(a, -1, -2))) / 2 if np.iscomplexobj(a) else a


def _from_triangle(a, UPLO="L"):
    """The symmetric matrix NumPy's cholesky/eigh/eigvalsh actually factor: the ``UPLO`` triangle of ``a``
    mirrored. Differentiating through it gives the derivative of what NumPy computes, for any input: entries of
    the other triangle are never read, so their derivative is zero (JAX symmetrizes instead, which agrees on
    symmetric directions only)."""
    n = np.shape(a)[-1]
    lower = UPLO.upper() == "L"
    keep = np.tri(n, dtype=bool) if lower else np.tri(n, dtype=bool).T
    strict = np.tri(n, k=-1, dtype=bool) if lower else np.tri(n, k=-1, dtype=bool).T
    if _is_complex(a):  # Hermitian: the mirrored triangle conjugated; LAPACK reads the diagonal's real parts only
        off = where(strict, a, 0.0)
        return off + _mH(off) + where(np.eye(n, dtype=bool), real(a), 0.0)
    return where(keep, a, 0.0) + _mT(where(strict, a, 0.0))


def _square(name, a):
    shape = np.shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise LinAlgError(f"dualrev.numpy.linalg.{name}: last 2 dimensions of the array must be square, got shape "
                          f"{shape}")


def _at_least_2d(name, a):
    if np.ndim(a) < 2:
        raise LinAlgError(f"dualrev.numpy.linalg.{name}: {np.ndim(a)}-dimensional array given. Array must be at "
                          "least two-dimensional")


# -- solve, inv: d(A^-1) = -A^-1 dA A^-1 (Giles 2008) --


def _solve_jvp(tangents, ans, a, b):
    da, db = tangents  # dx = A^-1 (db - dA x): one solve for both tangents
    if da is None:
        return None if db is None else _solve(a, db)
    rhs = -matmul(da, ans) if db is None else db - matmul(da, ans)
    return _solve(a, rhs)


def _solve_vjp(ct, ans, a, b, *, argnum):
    ct_b = _solve(_mT(a), ct)  # A^-T ct
    return ct_b if argnum == 1 else -matmul(ct_b, _mT(ans))


_solve = defprim(
    lambda a, b: np.linalg.solve(a, b), name="solve", jvp=_solve_jvp, vjp=_solve_vjp, supports_complex=True,
    # b is a stack of matrices here (never a vector), so a and b only need their stack axes lined up
    batch=lambda args, batched: _solve(*align(args, batched)),
    note="b is a stack of matrices (..., m, k); dnp.linalg.solve takes vectors too",
)


@implements(np.linalg.solve)
def solve(a, b):
    """``np.linalg.solve``: x with a @ x = b, for a (..., m, m) and b (..., m, k) or (m,) (NumPy 2 semantics: b is a
    vector only when it is 1-D); batch axes broadcast."""
    _square("solve", a)
    if np.ndim(b) == 1:
        return getitem(_solve(a, expand_dims(b, -1)), (Ellipsis, 0))
    return _solve(a, b)


inv = defprim(
    np.linalg.inv, name="inv", numpy=np.linalg.inv, supports_complex=True,
    jvp=(lambda da, ans, a: -matmul(ans, matmul(da, ans)),),
    vjp=(lambda ct, ans, a: -matmul(_mT(ans), matmul(ct, _mT(ans))),),
    batch=lambda args, batched, **params: inv(args[0], **params),
)

# -- det, slogdet: d det(A) = tr(adj(A) dA), d log|det A| = tr(A^-1 dA) (Giles 2008) --


def _adjugate(a, det_a):
    """adj(a), with adj(a) @ a = det(a) I. For n <= 3 the cofactor polynomials, defined (and differentiable to any
    order) at singular matrices too; for larger n det(a) inv(a), which needs a nonsingular."""
    n = np.shape(a)[-1]
    if n == 1:
        return np.ones(np.shape(a), _dtype(a))
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    if n == 2:  # adj[i, j] = (-1)^(i+j) a[1-j, 1-i]
        return getitem(a, (Ellipsis, 1 - j, 1 - i)) * _const(1 - 2 * ((i + j) % 2), a)
    if n == 3:  # adj[i, j] = a[j+1, i+1] a[j+2, i+2] - a[j+1, i+2] a[j+2, i+1], indices mod 3
        def at(r, c):
            return getitem(a, (Ellipsis, (j + r) % 3, (i + c) % 3))

        return at(1, 1) * at(2, 2) - at(1, 2) * at(2, 1)
    return expand_dims(det_a, (-2, -1)) * inv(a)


det = defprim(
    np.linalg.det, name="det", numpy=np.linalg.det, supports_complex=True,
    jvp=(lambda da, ans, a: _sum(_mT(_adjugate(a, ans)) * da, axis=(-2, -1)),),
    vjp=(lambda ct, ans, a: expand_dims(ct, (-2, -1)) * _mT(_adjugate(a, ans)),),
    note="derivative tr(adj(A) dA): finite at singular matrices up to 3x3 (cofactors, as JAX); "
         "det(A) A^-1 from 4x4 on (NaN at exactly singular A)",
    batch=lambda args, batched, **params: det(args[0], **params),
)


def _slogdet_jvp(da, ans, a):
    t = _trace(_solve(a, da))  # d log det A = tr(A^-1 dA)
    if _dtype(a).kind != "c":  # the sign of a real determinant is piecewise constant
        return None, t
    # complex: log det = log|det| + i arg(det), so d log|det| = Re(t) and d sign = i Im(t) sign, as JAX
    return 1j * imag(t) * ans[0], real(t)


def _slogdet_vjp(ct, ans, a):
    sbar, lbar = ct
    if _dtype(a).kind != "c":
        if lbar is None:  # a cotangent on the sign only: zero (the sign is piecewise constant)
            return None
        return expand_dims(lbar, (-2, -1)) * _mT(inv(a))
    # the transpose of the complex JVP: tbar = lbar + i Im(sbar sign), then A^-T tbar
    tbar = None if lbar is None else astype(lbar, _dtype(ans[0]))
    if sbar is not None:
        term = 1j * imag(sbar * ans[0])
        tbar = term if tbar is None else tbar + term
    if tbar is None:
        return None
    return expand_dims(tbar, (-2, -1)) * _mT(inv(a))


_slogdet = defprim(
    lambda a: tuple(np.linalg.slogdet(a)), name="slogdet", multiple_results=True,
    jvp=(_slogdet_jvp,), vjp=(_slogdet_vjp,), supports_complex=True,
    note="the sign of a real determinant has no derivative (piecewise constant), that of a complex one does "
         "(d sign = i Im(tr(A^-1 dA)) sign), as in JAX",
    batch=lambda args, batched, **params: _slogdet(args[0], **params),
)


@implements(np.linalg.slogdet)
def slogdet(a):
    """``np.linalg.slogdet``: ``(sign, logabsdet)`` of (..., m, m); the sign is piecewise constant, without
    derivative."""
    _square("slogdet", a)
    return SlogdetResult(*_slogdet(a))


# -- cholesky (Murray 2016): dL = L Phi(L^-1 dA L^-T), Phi = lower triangle with the diagonal halved --


def _phi(x):
    n = np.shape(x)[-1]
    return x * _const(np.tri(n) - 0.5 * np.eye(n), x)


def _cholesky_jvp(da, L, a):
    y = _solve(L, _herm(da))  # L^-1 dA
    return matmul(L, _phi(_solve(L, _mH(y))))  # L Phi(L^-1 dA L^-H)


def _cholesky_vjp(ct, L, a):
    # transpose of the JVP: L^-T Phi(L^T ct) conj(L)^-1, made Hermitian (symmetric)
    q = _solve(_mT(L), _phi(matmul(_mT(L), ct)))
    Lc = conjugate(L) if _is_complex(L) else L
    return _herm(_mT(_solve(_mT(Lc), _mT(q))))


_cholesky = defprim(
    lambda a: np.linalg.cholesky(_hermitian_np(a)), name="cholesky",
    jvp=(_cholesky_jvp,), vjp=(_cholesky_vjp,), supports_complex=True,
    note="NumPy reads the lower triangle; the derivative treats A as symmetric (Hermitian: dA acts as "
         "(dA + dA^H)/2), as JAX",
    batch=lambda args, batched, **params: _cholesky(args[0], **params),
)


@implements(np.linalg.cholesky)
def cholesky(a, /, *, upper=False):
    """``np.linalg.cholesky``: L (lower) with a = L @ L.T (complex: L @ L^H), or its (conjugate) transpose with
    ``upper=True``. NumPy reads only the lower (``upper=True``: upper) triangle of ``a``, and so does the
    derivative."""
    _square("cholesky", a)
    if not isinstance(a, Tracer):
        return np.linalg.cholesky(a, upper=upper)
    L = _cholesky(_from_triangle(a, "U" if upper else "L"))
    return _mH(L) if upper else L


# -- eigh (Giles 2008; Seeger et al. 2017): dw = diag(V^T dA V), dV = V (F o V^T dA V),
#    F[i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it --


def _eigh_F(w):
    eye = np.eye(np.shape(w)[-1], dtype=_dtype(w))
    return 1.0 / (eye + expand_dims(w, -2) - expand_dims(w, -1)) - eye


def _eigh_jvp(da, ans, a, *, UPLO):
    w, v = ans
    vt_da_v = matmul(_mH(v), matmul(_herm(da), v))  # V^H dA V
    dw = _diagonal(vt_da_v)
    return (real(dw) if _is_complex(dw) else dw), matmul(v, _eigh_F(w) * vt_da_v)


def _eigh_vjp(ct, ans, a, *, UPLO):
    w, v = ans
    wbar, vbar = ct
    inner = None if wbar is None else _diag_embed(wbar)  # None: no cotangent (a symbolic zero)
    if vbar is not None:  # skipped when only w has a cotangent: finite even at repeated eigenvalues
        term = _eigh_F(w) * matmul(_mT(v), vbar)
        inner = term if inner is None else inner + term
    if inner is None:
        return None
    return _herm(matmul(conjugate(v) if _is_complex(v) else v, matmul(inner, _mT(v))))  # conj(V) inner V^T


_eigh = defprim(
    lambda a, *, UPLO: tuple(np.linalg.eigh(_hermitian_np(a), UPLO=UPLO)), name="eigh", multiple_results=True,
    jvp=(_eigh_jvp,), vjp=(_eigh_vjp,), supports_complex=True,
    note="the derivative treats A as symmetric, as JAX; eigenvectors (sign) and their derivatives are defined for "
         "distinct eigenvalues only (inf/NaN otherwise, as JAX); eigenvalues alone stay finite",
    batch=lambda args, batched, **params: _eigh(args[0], **params),
)


@implements(np.linalg.eigh)
def eigh(a, UPLO="L"):
    """``np.linalg.eigh``: ``(eigenvalues, eigenvectors)`` of symmetric or complex Hermitian (..., n, n), eigenvalues
    ascending. NumPy reads only the ``UPLO`` triangle of ``a``, and so does the derivative; eigenvector derivatives
    need distinct eigenvalues (see the module doc), and a complex eigenvector's phase follows JAX's convention."""
    _square("eigh", a)
    a = _float(a)
    if not isinstance(a, Tracer):
        return EighResult(*np.linalg.eigh(a, UPLO=UPLO))
    return EighResult(*_eigh(_from_triangle(a, UPLO), UPLO=UPLO))


def _eigvalsh_jvp(da, ans, a, *, UPLO):
    v = _eigh(a, UPLO=UPLO)[1]
    if _is_complex(v):
        return real(_sum(conjugate(v) * matmul(da, v), axis=-2))  # Re diag(V^H dA V)
    return _sum(v * matmul(da, v), axis=-2)  # diag(V^T dA V)


def _eigvalsh_vjp(ct, ans, a, *, UPLO):
    v = _eigh(a, UPLO=UPLO)[1]
    return matmul(conjugate(v) * expand_dims(ct, -2) if _is_complex(v) else v * expand_dims(ct, -2),
                  _mT(v))  # conj(V) diag(ct) V^T


_eigvalsh = defprim(
    lambda a, *, UPLO: np.linalg.eigvalsh(_hermitian_np(a), UPLO=UPLO), name="eigvalsh", numpy=(),
    jvp=(_eigvalsh_jvp,), vjp=(_eigvalsh_vjp,), supports_complex=True,
    note="first derivative V^T dA V diagonal, finite at repeated eigenvalues; the derivative treats A as symmetric",
    batch=lambda args, batched, **params: _eigvalsh(args[0], **params),
)


@implements(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    """``np.linalg.eigvalsh``: the eigenvalues of symmetric or complex Hermitian (..., n, n), ascending; first
    derivatives are finite at repeated eigenvalues too."""
    _square("eigvalsh", a)
    a = _float(a)
    if not isinstance(a, Tracer):
        return np.linalg.eigvalsh(a, UPLO=UPLO)
    return _eigvalsh(_from_triangle(a, UPLO), UPLO=UPLO)


# -- eig (nondegenerate perturbation theory, Giles 2008 section 3.1; JAX's eig JVP with enable_eigvec_derivs):
#    P = V^-1 dA V, dw = diag(P), U = V (F o P); dv_j = u_j + c_j v_j, where c_j keeps LAPACK's normalisation of
#    each eigenvector (unit 2-norm, largest-modulus component real): c_j = -Re(v_j^H u_j) - i Im(u_kj) / v_kj --


def _complex_dtype(x):
    return np.result_type(_dtype(x), np.complex64)


def _eig_impl(a):
    # JAX's convention: complex results always (NumPy returns real arrays when every eigenvalue is real, a dtype
    # that depends on the values)
    w, v = np.linalg.eig(a)
    dtype = np.result_type(a.dtype, np.complex64)
    return w.astype(dtype, copy=False), v.astype(dtype, copy=False)


def _largest_component(v):
    """Mask of the largest-modulus component of each eigenvector (column), the one LAPACK makes real: a constant."""
    k = argmax(absolute(v), axis=-2, keepdims=True)
    return (np.arange(np.shape(v)[-2])[:, None] == k).astype(_dtype(v))


def _eig_jvp(da, ans, a):
    w, v = ans
    p = matmul(_solve(v, astype(da, _dtype(v))), v)
    u = matmul(v, _eigh_F(w) * p)
    mask = _largest_component(v)
    c = (-real(_sum(conjugate(v) * u, axis=-2))
         - 1j * imag(_sum(mask * u, axis=-2)) / real(_sum(mask * v, axis=-2)))
    return _diagonal(p), u + v * expand_dims(c, -2)


def _eig_vjp(ct, ans, a):
    # the transpose of _eig_jvp, step by step backwards (cotangents pair with tangents as Re(sum(ct * t)))
    w, v = ans
    wbar, vbar = ct
    pbar = None if wbar is None else _diag_embed(wbar)
    if vbar is not None:  # skipped when only w has a cotangent: finite even at repeated eigenvalues
        mask = _largest_component(v)
        cbar = _sum(vbar * v, axis=-2)
        ubar = (vbar - expand_dims(real(cbar), -2) * conjugate(v)
                - mask * expand_dims(1j * imag(cbar) / real(_sum(mask * v, axis=-2)), -2))
        term = _eigh_F(w) * matmul(_mT(v), ubar)
        pbar = term if pbar is None else pbar + term
    if pbar is None:
        return None
    abar = matmul(_solve(_mT(v), pbar), _mT(v))  # V^-T Pbar V^T
    return abar if _dtype(a).kind == "c" else real(abar)


_eig = defprim(
    _eig_impl, name="eig", multiple_results=True, jvp=(_eig_jvp,), vjp=(_eig_vjp,), supports_complex=True,
    note="complex results always (as JAX); eigenvectors normalised as LAPACK (and NumPy) returns them (unit norm, "
         "largest component real), and differentiated under that normalisation; eigenvector derivatives need "
         "distinct eigenvalues (inf/NaN otherwise), eigenvalues alone stay finite",
    batch=lambda args, batched, **params: _eig(args[0], **params),
)


@implements(np.linalg.eig)
def eig(a):
    """``np.linalg.eig``: ``(eigenvalues, eigenvectors)`` of a general (..., n, n) matrix, real or complex. The results
    are complex always, as in JAX (NumPy returns real arrays when every eigenvalue is real). Eigenvectors come as
    NumPy (LAPACK) normalises them, unit 2-norm with the largest-modulus component real, and their derivatives are
    those of that choice; they need distinct eigenvalues. Functions that do not depend on the choice (eigenvalues,
    projectors) are the safe thing to differentiate.

    >>> w, v = dnp.linalg.eig(a)
    """
    _square("eig", a)
    return EigResult(*_eig(_float(a)))


def _eigvals_jvp(da, ans, a):
    v = _eig(a)[1]
    return _sum(_solve(v, astype(da, _dtype(v))) * _mT(v), axis=-1)  # diag(V^-1 dA V)


def _eigvals_vjp(ct, ans, a):
    v = _eig(a)[1]
    abar = _solve(_mT(v), expand_dims(ct, -1) * _mT(v))  # V^-T diag(ct) V^T
    return abar if _dtype(a).kind == "c" else real(abar)


_eigvals = defprim(
    lambda a: np.linalg.eigvals(a).astype(np.result_type(a.dtype, np.complex64), copy=False), name="eigvals",
    jvp=(_eigvals_jvp,), vjp=(_eigvals_vjp,), supports_complex=True,
    note="complex results always (as JAX); first derivative diag(V^-1 dA V), finite at repeated eigenvalues if A "
         "is diagonalizable",
    batch=lambda args, batched, **params: _eigvals(args[0], **params),
)


@implements(np.linalg.eigvals)
def eigvals(a):
    """``np.linalg.eigvals``: the eigenvalues of a general (..., n, n) matrix, complex always (as JAX)."""
    _square("eigvals", a)
    return _eigvals(_float(a))


# -- qr (Walter & Lehmann 2018; JAX's qr_jvp_rule): for m >= n, with X = dA R^-1, C = Q^T X, O = tril(C, -1) -
#    tril(C, -1)^T: dQ = Q (O - C) + X, dR = (C - O) R. Wide (m < n): the square block, then R2 = Q^T A2 --


def _qr_jvp_thin(q, r, dx):
    x = _mT(_solve(_mT(r), _mT(dx)))  # dA R^-1
    c = matmul(_mH(q), x)
    low = _tril(c, -1)
    omega = low - _mH(low)
    if _is_complex(c):  # R's diagonal stays real: its phase goes to Q (JAX's correction for complex input)
        omega = omega + _diag_embed(1j * imag(_diagonal(c)))
    return matmul(q, omega - c) + x, matmul(c - omega, r)


def _qr_vjp_thin(q, r, qbar, rbar):
    # the transpose of _qr_jvp_thin: (qbar + Q copyltu(M)) R^-T, M = rbar R^T - Q^T qbar
    m = matmul(rbar, _mT(r))
    if qbar is not None:
        m = m - matmul(_mT(q), qbar)
    n = m - _tril(m - _mH(m), -1)
    if _is_complex(n):
        n = n - _diag_embed(1j * imag(_diagonal(m)))
    g = matmul(conjugate(q) if _is_complex(q) else q, n)
    if qbar is not None:
        g = g + qbar
    return _mT(_solve(r, _mT(g)))


def _qr_jvp(da, ans, a):
    q, r = ans
    m, n = np.shape(a)[-2:]
    if m >= n:
        return _qr_jvp_thin(q, r, da)
    dq, dr1 = _qr_jvp_thin(q, getitem(r, (Ellipsis, slice(None, m))), getitem(da, (Ellipsis, slice(None, m))))
    dr2 = matmul(_mH(dq), getitem(a, (Ellipsis, slice(m, None)))) + matmul(_mH(q), getitem(da, (Ellipsis,
                                                                                                 slice(m, None))))
    return dq, concatenate([dr1, dr2], axis=-1)


def _qr_vjp(ct, ans, a):
    q, r = ans
    qbar, rbar = ct  # None: no cotangent (a symbolic zero)
    if qbar is None and rbar is None:
        return None
    if rbar is None:  # only Q has a cotangent: R's enters the formulas below as zeros
        rbar = np.zeros(np.shape(r), _dtype(r))
    m, n = np.shape(a)[-2:]
    if m >= n:
        return _qr_vjp_thin(q, r, qbar, rbar)
    rbar2 = getitem(rbar, (Ellipsis, slice(m, None)))
    extra = matmul(getitem(a, (Ellipsis, slice(m, None))), _mT(rbar2))  # from dR2 = dQ^H A2 (antilinear in dQ)
    if _is_complex(extra):
        extra = conjugate(extra)
    qbar = extra if qbar is None else qbar + extra
    a1bar = _qr_vjp_thin(q, getitem(r, (Ellipsis, slice(None, m))), qbar, getitem(rbar, (Ellipsis, slice(None, m))))
    return concatenate([a1bar, matmul(conjugate(q) if _is_complex(q) else q, rbar2)], axis=-1)


_qr = defprim(
    lambda a: tuple(np.linalg.qr(a, mode="reduced")), name="qr", multiple_results=True,
    jvp=(_qr_jvp,), vjp=(_qr_vjp,), supports_complex=True,
    note="mode='reduced'; needs the leading min(m, n) columns of A independent (R's diagonal nonzero)",
    batch=lambda args, batched, **params: _qr(args[0], **params),
)


def _householder_qr(a):
    """NumPy's ``qr(a, mode='complete')`` for (..., m, n), m > n, as LAPACK computes it (geqrf's Householder
    reflections H_k = I - tau v v^T with dlarfg's sign convention, accumulated into Q as orgqr does), written with
    dualrev operations so that every derivative is the derivative of NumPy's Q, its last m - n columns included."""
    m, n = np.shape(a)[-2:]
    lead = tuple(np.shape(a)[:-2])
    r = a
    q = np.broadcast_to(np.eye(m, dtype=_dtype(a)), lead + (m, m))
    one = np.ones(lead + (1,), _dtype(a))
    for k in range(n):
        x = getitem(r, (Ellipsis, slice(k, None), k))
        alpha, rest = getitem(x, (Ellipsis, 0)), getitem(x, (Ellipsis, slice(1, None)))
        norm2 = _sum(rest * rest, axis=-1)
        done = norm2 == 0  # nothing below the diagonal: no reflection (tau = 0), as dlarfg
        beta = -copysign(hypot(alpha, sqrt(where(done, 1.0, norm2))), alpha)
        tau = where(done, 0.0, (beta - alpha) / beta)
        v = concatenate([one, rest / expand_dims(where(done, 1.0, alpha - beta), -1)], axis=-1)
        tau = expand_dims(expand_dims(tau, -1), -1)
        rk = getitem(r, (Ellipsis, slice(k, None), slice(None)))
        rk = rk - tau * expand_dims(v, -1) * matmul(expand_dims(v, -2), rk)
        r = concatenate([getitem(r, (Ellipsis, slice(None, k), slice(None))), rk], axis=-2)
        qk = getitem(q, (Ellipsis, slice(None), slice(k, None)))
        qk = qk - tau * matmul(qk, expand_dims(v, -1)) * expand_dims(v, -2)
        q = concatenate([getitem(q, (Ellipsis, slice(None), slice(None, k))), qk], axis=-1)
    return QRResult(q, where(np.tri(m, n, -1, dtype=bool), 0.0, r))


@implements(np.linalg.qr)
def qr(a, mode="reduced"):
    """``np.linalg.qr`` of (..., m, n): modes 'reduced', 'r' and 'complete'; derivatives need R's leading diagonal
    nonzero. 'complete' with m > n follows LAPACK's Householder reflections, so the extra columns of Q are NumPy's
    and differentiable too. 'raw' takes no traced values."""
    _at_least_2d("qr", a)
    m, n = np.shape(a)[-2:]
    if mode == "complete" and m > n and isinstance(a, Tracer):
        if _is_complex(a):
            raise TypeError(f"dualrev.numpy.linalg.qr: mode='complete' of a tall complex traced matrix ({_dtype(a)}) "
                            "has no derivative rule here; use mode='reduced'")
        return _householder_qr(_float(a))
    if mode in ("complete", "raw") and not (mode == "complete" and m <= n):
        if isinstance(a, Tracer):
            raise NotImplementedError(f"dualrev.numpy.linalg.qr: mode={mode!r} has no derivative rule here; use "
                                      "mode='reduced'")
        return np.linalg.qr(a, mode=mode)
    if mode not in ("reduced", "r", "complete"):
        raise ValueError(f"dualrev.numpy.linalg.qr: unrecognized mode {mode!r}")
    q, r = _qr(_float(a))
    return r if mode == "r" else QRResult(q, r)


# -- svd (Townsend 2016; JAX's svd_jvp_rule), reduced: with dS = U^T dA V, F[i, j] = 1 / (s_j^2 - s_i^2) off the
#    diagonal: ds = diag(dS), dU = U (F o (dS S + S dS^T)) + (I - U U^T) dA V / s (m > n),
#    dV = V (F o (S dS + dS^T S)) + (I - V V^T) dA^T U / s (n > m) --


def _svd_F(s):
    eye = np.eye(np.shape(s)[-1], dtype=_dtype(s))
    row = expand_dims(s, -2)
    col = expand_dims(s, -1)
    return 1.0 / ((row + col) * (row - col) + eye) - eye


def _svd_jvp(da, ans, a):
    u, s, vh = ans
    v = _mH(vh)
    ds_mat = matmul(_mH(u), matmul(da, v))  # dS = U^H dA V
    ds = _diagonal(ds_mat)
    F = _svd_F(s)
    s_row = expand_dims(s, -2)
    dss = ds_mat * s_row  # dS diag(s)
    sds = ds_mat * expand_dims(s, -1)  # diag(s) dS
    du = matmul(u, F * (dss + _mH(dss)))
    dv = matmul(v, F * (sds + _mH(sds)))
    if _is_complex(ds):  # complex: the phase of u_j moves with Im(dS_jj) (JAX's gauge: dV has none)
        du = du + u * expand_dims(1j * imag(ds) / s, -2)
        ds = real(ds)
    m, n = np.shape(a)[-2:]
    if m > n:
        dav = matmul(da, v)
        du = du + (dav - matmul(u, matmul(_mH(u), dav))) / s_row
    if n > m:
        datu = matmul(_mH(da), u)
        dv = dv + (datu - matmul(v, matmul(vh, datu))) / s_row
    return du, ds, _mH(dv)


def _svd_vjp(ct, ans, a):
    # the transpose of _svd_jvp; for complex values its dA^H terms are antilinear, so their transposes are conjugated:
    # abar = conj(U) inner conj(Vh) + the terms of the tall or wide branch
    u, s, vh = ans
    ubar, sbar, vhbar = ct  # None: no cotangent (a symbolic zero)
    m, n = np.shape(a)[-2:]
    cplx = _is_complex(u)
    uc, vhc = (conjugate(u), conjugate(vh)) if cplx else (u, vh)
    inner = None if sbar is None else _diag_embed(sbar)  # the coefficient D of dS = U^H dA V
    if ubar is not None or vhbar is not None:  # skipped when only s has a cotangent: finite at repeated s
        F = _svd_F(s)
        if ubar is not None:
            ut_ubar = matmul(_mT(u), ubar)
            ju = F * ut_ubar
            term = (ju + _mH(ju)) * expand_dims(s, -2)
            if cplx:
                term = term + _diag_embed(1j * imag(_diagonal(ut_ubar)) / s)
            inner = term if inner is None else inner + term
        if vhbar is not None:
            jv = F * matmul(vhc, _mH(vhbar))  # F o (V^T Vbar), Vbar = Vhbar^H
            term = expand_dims(s, -1) * (jv + _mH(jv))
            inner = term if inner is None else inner + term
    abar = None if inner is None else matmul(uc, matmul(inner, vhc))
    if m > n and ubar is not None:
        term = matmul((ubar - matmul(uc, matmul(_mT(u), ubar))) / expand_dims(s, -2), vhc)
        abar = term if abar is None else abar + term
    if n > m and vhbar is not None:
        term = matmul(uc / expand_dims(s, -2), vhbar - matmul(matmul(vhbar, _mT(vh)), vhc))
        abar = term if abar is None else abar + term
    return abar


_svd = defprim(
    lambda a: tuple(np.linalg.svd(a, full_matrices=False)), name="svd", multiple_results=True,
    jvp=(_svd_jvp,), vjp=(_svd_vjp,), supports_complex=True,
    note="full_matrices=False; singular vectors (sign) and their derivatives need distinct nonzero singular "
         "values (inf/NaN otherwise, as JAX); singular values alone stay finite",
    batch=lambda args, batched, **params: _svd(args[0], **params),
)


def _svdvals_jvp(da, ans, a):
    u, _, vh = _svd(a)
    if _is_complex(u):
        return real(_sum(conjugate(u) * matmul(da, _mH(vh)), axis=-2))  # Re diag(U^H dA V)
    return _sum(u * matmul(da, _mT(vh)), axis=-2)  # diag(U^T dA V)


def _svdvals_vjp(ct, ans, a):
    u, _, vh = _svd(a)
    abar = matmul(u * expand_dims(ct, -2), vh)  # U diag(ct) V^H
    return conjugate(abar) if _is_complex(abar) else abar


svdvals = defprim(
    lambda a: np.linalg.svd(a, compute_uv=False), name="svdvals", numpy=np.linalg.svdvals,
    jvp=(_svdvals_jvp,), vjp=(_svdvals_vjp,), supports_complex=True,
    note="first derivative diag(U^T dA V), finite at repeated singular values",
    batch=lambda args, batched, **params: svdvals(args[0], **params),
)


@implements(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """``np.linalg.svd`` of (..., m, n): ``(U, S, Vh)``, or S alone with ``compute_uv=False``. Traced values need
    ``full_matrices=False`` unless the matrices are square (as JAX: the extra columns are not unique). ``hermitian``
    is a hint only: the general SVD is computed (the same factorization up to the signs of singular vectors)."""
    _at_least_2d("svd", a)
    a = _float(a)
    if not compute_uv:
        return svdvals(a)
    m, n = np.shape(a)[-2:]
    if full_matrices and m != n:
        if isinstance(a, Tracer):
            raise NotImplementedError("dualrev.numpy.linalg.svd: full_matrices=True on non-square traced matrices "
                                      "has no derivative (the extra singular vectors are not unique); pass "
                                      "full_matrices=False")
        return SVDResult(*np.linalg.svd(a, full_matrices=True))
    return SVDResult(*_svd(a))


# -- pinv (Golub & Pereyra 1973): dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P, where the rank of A
#    is locally constant --


def _pinv_jvp(da, p, a, *, rcond, rtol, hermitian):
    if hermitian:  # a function of the symmetric (Hermitian) part of A, at every order
        a, da = _herm(a), _herm(da)
    s = matmul(matmul(p, _mH(p)), _mH(da))  # P P^H dA^H  (n, m)
    t = matmul(matmul(_mH(da), _mH(p)), p)  # dA^H P^H P  (n, m)
    return -matmul(matmul(p, da), p) + s - matmul(matmul(s, a), p) + t - matmul(matmul(p, a), t)


def _pinv_vjp(ct, p, a, *, rcond, rtol, hermitian):
    # the dA^H terms of the JVP are antilinear: their transposes are conjugated
    if hermitian:
        a = _herm(a)
    pt = _mT(p)
    ctt = _mT(ct)
    term1 = -matmul(pt, matmul(ct, pt))
    x = matmul(ctt, matmul(p, _mH(p)))  # ct^T P P^H, then (I - A P) in front
    term2 = x - matmul(a, matmul(p, x))
    y = matmul(matmul(_mH(p), p), ctt)  # P^H P ct^T, then (I - P A) behind
    term3 = y - matmul(matmul(y, p), a)
    rest = term2 + term3
    out = term1 + (conjugate(rest) if _is_complex(rest) else rest)
    return _herm(out) if hermitian else out


def _pinv_impl(a, *, rcond, rtol, hermitian):
    if hermitian:
        a = _hermitian_np(a)
    if rtol is None:
        return np.linalg.pinv(a, rcond=rcond, hermitian=hermitian)
    return np.linalg.pinv(a, hermitian=hermitian, rtol=rtol)


_pinv = defprim(
    _pinv_impl, name="pinv", jvp=(_pinv_jvp,), vjp=(_pinv_vjp,), supports_complex=True,
    note="derivative where the rank is locally constant (Golub-Pereyra), as JAX; with hermitian=True it treats A as "
         "symmetric",
    batch=lambda args, batched, **params: _pinv(args[0], **params),
)


@implements(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """``np.linalg.pinv``: the Moore-Penrose pseudo-inverse of (..., m, n). Its derivative (Golub-Pereyra) holds where
    the rank is locally constant, i.e. away from singular values at the cutoff."""
    _at_least_2d("pinv", a)
    if rcond is not None and rtol is not None:
        raise ValueError("dualrev.numpy.linalg.pinv: pass rtol or rcond, not both")
    if not isinstance(a, Tracer):  # NumPy's own semantics for plain arrays
        return np.linalg.pinv(a, rcond=rcond, hermitian=hermitian, **({} if rtol is None else {"rtol": rtol}))
    return _pinv(_float(a), rcond=rcond, rtol=rtol, hermitian=bool(hermitian))


# -- norms: composites; a private max/min reduction with JAX's convention (ties share the derivative evenly) --


def _normalize_axes(axes, ndim, name):
    out = tuple(operator.index(i) for i in axes)
    for i in out:
        if not -ndim <= i < ndim:
            raise np.exceptions.AxisError(f"dualrev.numpy.linalg.{name}: axis {i} is out of bounds for array of "
                                          f"dimension {ndim}")
    out = tuple(i % ndim for i in out)
    if len(set(out)) != len(out):
        raise ValueError(f"dualrev.numpy.linalg.{name}: duplicate axes given")
    return out


def _extreme(x, axis, keepdims, smallest=False):
    """max (min) over ``axis`` (a tuple); tied elements share the derivative evenly, as in JAX (dnp.max's rule)."""
    return (_min if smallest else _max)(x, axis=axis, keepdims=keepdims)


def _nonzero_slices(x, axes):
    """Boolean (keepdims) mask of the slices over ``axes`` with a nonzero element: a plain array without
    derivative, or under vmap one mask per example."""
    return _sum(x != 0, axis=axes, keepdims=True) > 0


def _root_sum_squares(x, axes, keepdims):
    """sqrt(sum(|x|^2)) over ``axes``, with derivative 0 at every order where the sum is 0 (a zero vector): the
    double where on the reduced sum, so it costs two small calls, not passes over x."""
    s = _sum(_abs2(x), axis=axes, keepdims=keepdims)
    zero = s == 0
    return where(zero, 0.0, sqrt(where(zero, 1.0, s)))


def _vector_norm(x, ord, axes, keepdims):
    """A vector norm over ``axes`` (a tuple of normalized axes); derivative 0 at zero vectors."""
    if isinstance(ord, str):
        raise ValueError(f"dualrev.numpy.linalg.norm: invalid norm order {ord!r} for vectors")  # noqa: TRY004 (NumPy's)
    if ord == 0:  # the number of nonzeros: piecewise constant, no derivative
        return np.sum(x != 0, axis=axes, keepdims=keepdims).astype(_dtype(x))
    if ord is None or ord == 2:
        return _root_sum_squares(x, axes, keepdims)
    # At zero vectors, evaluate on ones and select 0: the derivative there is 0, not NaN. Branch-free, so that it is
    # right per example under vmap and needs no guard under dr.jit.
    nz = _nonzero_slices(x, axes)
    x = where(nz, x, 1.0)
    if ord == np.inf:
        out = _extreme(absolute(x), axes, keepdims)
    elif ord == -np.inf:
        out = _extreme(absolute(x), axes, keepdims, smallest=True)
    elif ord == 1:
        out = _sum(absolute(x), axis=axes, keepdims=keepdims)
    else:
        out = _sum(absolute(x) ** ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)
    return where(nz if keepdims else reshape(nz, np.shape(out)), out, 0.0)


def _matrix_norm(x, ord, row, col, keepdims):
    """A matrix norm over the axes (row, col); derivative 0 at zero matrices."""
    if ord not in (None, "fro", "f", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
        raise ValueError(f"dualrev.numpy.linalg.norm: invalid norm order {ord!r} for matrices")
    shape = np.shape(x)
    ndim = len(shape)
    if ord in (None, "fro", "f"):
        return _root_sum_squares(x, (row, col), keepdims)
    # At zero matrices, evaluate on one with distinct singular values and select 0: the derivative there is 0.
    # Branch-free, so that it is right per example under vmap and needs no guard under dr.jit.
    nz = _nonzero_slices(x, (row, col))
    k = np.eye(shape[row], shape[col]) * np.arange(1, shape[col] + 1)
    sub = np.moveaxis(k.reshape((1,) * (ndim - 2) + k.shape), (-2, -1), (row, col))
    x = where(nz, x, _const(sub, x))
    if ord in ("nuc", 2, -2):
        rest = [i for i in range(ndim) if i not in (row, col)]
        s = svdvals(transpose(x, rest + [row, col]))
        out = _sum(s, axis=-1) if ord == "nuc" else _extreme(s, (ndim - 2,), False, smallest=(ord == -2))
    elif ord in (1, -1):
        out = _extreme(_sum(absolute(x), axis=row), (col - (col > row),), False, smallest=(ord == -1))
    else:
        out = _extreme(_sum(absolute(x), axis=col), (row - (row > col),), False, smallest=(ord == -np.inf))
    if keepdims:
        out = reshape(out, tuple(1 if i in (row, col) else d for i, d in enumerate(shape)))
    return where(nz if keepdims else reshape(nz, np.shape(out)), out, 0.0)


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm``: vector norms (ord None/2, inf, -inf, 0, 1, any p) and matrix norms ('fro', 'nuc', 1, -1, 2,
    -2, inf, -inf) over ``axis`` (None, an int or a pair), with keepdims. Derivative 0 at a zero vector (matrix),
    the minimum-norm subgradient, for every ord (JAX gives NaN for the 2-norm, 'fro' and p-norms there).

    Ties (inf-norm, matrix 1/inf/2-norms) share the derivative evenly, as in JAX; ord=0 (a count) has none.
    """
    x = _float(x)
    ndim = np.ndim(x)
    if axis is None:
        if ord is None or (ord in ("f", "fro") and ndim == 2) or (ord == 2 and ndim == 1):
            out = _vector_norm(reshape(x, (-1,)), None, (0,), False)
            return reshape(out, (1,) * ndim) if keepdims else out
        axis = tuple(range(ndim))
    elif not isinstance(axis, tuple):
        axis = (axis,)
    axis = _normalize_axes(axis, ndim, "norm")
    if len(axis) == 1:
        return _vector_norm(x, ord, axis, keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, axis[0], axis[1], keepdims)
    raise ValueError("dualrev.numpy.linalg.norm: improper number of dimensions to norm")


@implements(np.linalg.vector_norm)
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """``np.linalg.vector_norm``: a vector norm over all axes (None), an axis, or a tuple of axes (as one vector).
    Derivative 0 at zero vectors (see norm)."""
    x = _float(x)
    ndim = np.ndim(x)
    axes = tuple(range(ndim)) if axis is None else _normalize_axes(
        axis if isinstance(axis, tuple) else (axis,), ndim, "vector_norm")
    if ndim == 0:
        x, axes = reshape(x, (1,)), (0,)
        out = _vector_norm(x, ord, axes, keepdims=False)
        return out
    return _vector_norm(x, ord, axes, keepdims)


@implements(np.linalg.matrix_norm)
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """``np.linalg.matrix_norm``: a matrix norm of the last two axes. Derivative 0 at zero matrices (see norm)."""
    _at_least_2d("matrix_norm", x)
    x = _float(x)
    ndim = np.ndim(x)
    return _matrix_norm(x, ord, ndim - 2, ndim - 1, keepdims)


@implements(np.linalg.cond)
def cond(x, p=None):
    """``np.linalg.cond``: the condition number, s_max / s_min for p None, 2 (s_min / s_max for -2), else
    norm(x, p) * norm(inv(x), p); NaN (singular) becomes inf as in NumPy."""
    _at_least_2d("cond", x)
    x = _float(x)
    if p is None or p == 2 or p == -2:
        s = svdvals(x)
        first, last = getitem(s, (Ellipsis, 0)), getitem(s, (Ellipsis, -1))
        r = first / last if p != -2 else last / first
    else:
        _square("cond", x)
        r = norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))
    bad = logical_and(isnan(r), _sum(isnan(x), axis=(-2, -1)) == 0)  # NaN from a singular x, not from NaN input
    return where(bad, np.inf, r)  # branch-free: right per example under vmap, no guard under dr.jit


def _matrix_rank_batch(args, batched, *, tol, hermitian, rtol):
    a = args[0]
    if np.ndim(a) < 3:  # a batch of vectors or numbers: NumPy's rank of one is 1 unless it is all zeros
        nz = a != 0
        return astype(_sum(nz, axis=-1) > 0 if np.ndim(a) == 2 else nz, np.intp)
    return _matrix_rank(a, tol=tol, hermitian=hermitian, rtol=rtol)  # tol (per matrix) broadcasts from the right


_matrix_rank = defprim(
    lambda a, *, tol, hermitian, rtol: np.linalg.matrix_rank(a, tol=tol, hermitian=hermitian, rtol=rtol),
    name="matrix_rank", nondiff=True, batch=_matrix_rank_batch,
)


@implements(np.linalg.matrix_rank, nondiff=True)
def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """``np.linalg.matrix_rank``: an integer, without derivative."""
    if not isinstance(A, Tracer):
        return np.linalg.matrix_rank(A, tol=tol, hermitian=hermitian, rtol=rtol)
    return _matrix_rank(A, tol=primal_value(tol), hermitian=bool(hermitian), rtol=primal_value(rtol))


# -- powers, products and the array-API helpers of np.linalg --


@implements(np.linalg.matrix_power)
def matrix_power(a, n):
    """``np.linalg.matrix_power``: a^n by repeated squaring; n < 0 inverts first, n = 0 gives the identity (a
    constant)."""
    _square("matrix_power", a)
    n = operator.index(n)
    if n == 0:
        return np.broadcast_to(np.eye(np.shape(a)[-1], dtype=_dtype(a)), np.shape(a)).copy()
    if n < 0:
        a, n = inv(a), -n
    result, z = None, None
    while n > 0:
        z = a if z is None else matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else matmul(result, z)
    return result


def _register(np_func, f):
    implements(np_func)(f)
    return f


matmul = _register(np.linalg.matmul, matmul)
tensordot = _register(np.linalg.tensordot, tensordot)


@implements(np.linalg.matrix_transpose)
def matrix_transpose(x, /):
    """``np.linalg.matrix_transpose``: swap the last two axes."""
    _at_least_2d("matrix_transpose", x)
    return _mT(x)


@implements(np.linalg.diagonal)
def diagonal(x, /, *, offset=0):
    """``np.linalg.diagonal``: the diagonal of the last two axes (above it for offset > 0)."""
    _at_least_2d("diagonal", x)
    return _diagonal(x, operator.index(offset))


@implements(np.linalg.trace)
def trace(x, /, *, offset=0, dtype=None):
    """``np.linalg.trace``: the sum of the diagonal of the last two axes (np.trace, over the first two axes by
    default, is the shape family's)."""
    _at_least_2d("trace", x)
    d = _diagonal(x, operator.index(offset))
    if dtype is not None:
        d = astype(d, dtype)
    return _sum(d, axis=-1)


@implements(np.linalg.outer)
def outer(x1, x2, /):
    """``np.linalg.outer`` of two vectors."""
    if np.ndim(x1) != 1 or np.ndim(x2) != 1:
        raise ValueError("dualrev.numpy.linalg.outer: x1 and x2 must be 1-dimensional")
    return expand_dims(x1, -1) * x2


@implements(np.linalg.vecdot)
def vecdot(x1, x2, /, *, axis=-1):
    """``np.linalg.vecdot``: sum(x1 * x2) over ``axis`` (real values), with broadcasting."""
    return _sum(x1 * x2, axis=axis)


@implements(np.linalg.cross)
def cross(x1, x2, /, *, axis=-1):
    """``np.linalg.cross`` of 3-vectors along ``axis``, with broadcasting."""
    if np.shape(x1)[axis] != 3 or np.shape(x2)[axis] != 3:
        raise ValueError("dualrev.numpy.linalg.cross: both inputs must be 3-vectors along axis")

    def part(x, i):
        idx = [slice(None)] * np.ndim(x)
        idx[axis] = i
        return getitem(x, tuple(idx))

    a0, a1, a2 = (part(x1, i) for i in range(3))
    b0, b1, b2 = (part(x2, i) for i in range(3))
    out = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    ndim = np.ndim(out)
    return transpose(out, _moved_last(ndim, axis % ndim)) if axis % ndim != ndim - 1 else out


def _moved_last(ndim, dest):
    """The permutation moving the last axis to ``dest``."""
    order = list(range(ndim - 1))
    order.insert(dest, ndim - 1)
    return order


def _chain_order(dims):
    """NumPy's multi_dot parenthesization: the cheapest order of a matrix chain with these dims (dynamic program)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


@implements(np.linalg.multi_dot)
def multi_dot(arrays, *, out=None):
    """``np.linalg.multi_dot``: the product of a chain of matrices in the cheapest order (1-D first/last allowed)."""
    if out is not None:
        raise TypeError("dualrev.numpy.linalg.multi_dot: out= is not supported")
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError("dualrev.numpy.linalg.multi_dot: expecting at least two arrays")
    first_1d, last_1d = np.ndim(arrays[0]) == 1, np.ndim(arrays[-1]) == 1
    if first_1d:
        arrays[0] = expand_dims(arrays[0], 0)
    if last_1d:
        arrays[-1] = expand_dims(arrays[-1], -1)
    for x in arrays:
        if np.ndim(x) != 2:
            raise ValueError("dualrev.numpy.linalg.multi_dot: arrays must be 2-dimensional (1-D first and last)")
    split = _chain_order([np.shape(arrays[0])[0]] + [np.shape(x)[1] for x in arrays])

    def product(i, j):
        if i == j:
            return arrays[i]
        k = split[i][j]
        return matmul(product(i, k), product(k + 1, j))

    result = product(0, len(arrays) - 1)
    if first_1d and last_1d:
        return reshape(result, ())
    if first_1d:
        return getitem(result, 0)
    if last_1d:
        return getitem(result, (slice(None), 0))
    return result


@implements(np.linalg.tensorinv)
def tensorinv(a, ind=2):
    """``np.linalg.tensorinv``: the inverse of ``a`` as a map from its first ``ind`` axes to the others."""
    shape = np.shape(a)
    if ind <= 0:
        raise ValueError("dualrev.numpy.linalg.tensorinv: invalid ind argument")
    out_shape, in_shape = shape[ind:], shape[:ind]
    prod = int(np.prod(out_shape))
    if int(np.prod(in_shape)) != prod:
        raise LinAlgError("dualrev.numpy.linalg.tensorinv: the input is not 'square' in the ind sense")
    return reshape(inv(reshape(a, (prod, -1))), out_shape + in_shape)


@implements(np.linalg.tensorsolve)
def tensorsolve(a, b, axes=None):
    """``np.linalg.tensorsolve``: x with tensordot(a, x, x.ndim) = b."""
    an = np.ndim(a)
    if axes is not None:
        order = list(range(an))
        for k in axes:
            order.remove(k)
            order.insert(an, k)
        a = transpose(a, order)
    old_shape = np.shape(a)[-(an - np.ndim(b)):]
    prod = int(np.prod(old_shape))
    if int(np.prod(np.shape(a))) != prod ** 2:
        raise LinAlgError("dualrev.numpy.linalg.tensorsolve: the input is not 'square' in the tensorsolve sense")
    return reshape(solve(reshape(a, (prod, prod)), reshape(b, (-1,))), old_shape)


@implements(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    """``np.linalg.lstsq``: ``(x, residuals, rank, s)`` with x = pinv(a) @ b (singular values below rcond * s_max
    dropped), differentiable where the rank is locally constant; rank has no derivative."""
    _at_least_2d("lstsq", a)
    if np.ndim(a) != 2 or np.ndim(b) not in (1, 2):
        raise LinAlgError("dualrev.numpy.linalg.lstsq: a must be 2-D and b 1-D or 2-D")
    a, b = _float(a), _float(b)
    m, n = np.shape(a)
    s = svdvals(a)
    rtol = np.finfo(_dtype(a)).eps * max(m, n) if rcond is None else rcond
    # the singular values above rtol * s_max: a plain count, or one per example under vmap
    rank = _sum(s > rtol * getitem(s, slice(0, 1)), axis=-1)
    x = matmul(_pinv(a, rcond=None, rtol=rtol, hermitian=False), b)
    # The residuals' shape depends on the rank (NumPy's: empty below full rank): a look at the data, so a guard under
    # dr.jit, on its summary only (all / any of every example's rank under vmap).
    any_full, all_full = concrete_test(lambda v: (bool(np.any(v)), bool(np.all(v))), rank == n)
    if m > n and any_full and not all_full:
        raise TypeError("dualrev.numpy.linalg.lstsq: under vmap, examples of full rank have residuals and the others "
                        "none (an empty array): their shapes differ, so they cannot be batched")
    if m > n and all_full:
        r = b - matmul(a, x)
        residuals = _sum(_abs2(r), axis=0)
        if np.ndim(b) == 1:
            residuals = reshape(residuals, (1,))
    else:
        residuals = np.empty((0,), _dtype(x))
    return x, residuals, rank.astype(np.int32), s

