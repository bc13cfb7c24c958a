"""dualrev.scipy.linalg: scipy.linalg's solvers and factorizations with SciPy's signatures, differentiable.

Primitives: ``solve_triangular`` (the building block of cho_solve and lu_solve), the packed LU factor of
``lu_factor`` and ``expm``. The rest reuses dualrev.numpy.linalg (cholesky, eigh, solve, det, inv). Rules are
written with dualrev operations, so every function differentiates again. Every function takes stacks of matrices
(..., m, m), as SciPy does.

- solve_triangular reads one triangle of ``a`` (without its diagonal when ``unit_diagonal``), and its derivative in
  ``a`` lives on that triangle only, as in JAX.
- lu_factor: dLU = L tril(F, -1) + triu(F) U with F = L^-1 P^T dA U^-1 (as JAX's LU rule); the pivots are integers,
  without derivative (they change only where the pivoting choice does).
- expm: the Frechet derivative by the block-matrix identity expm([[A, E], [0, A]]) = [[e^A, L(A, E)], [0, e^A]]
  (Mathias 1996); the VJP is L(A^T, ct). Higher orders nest the identity.
- solve: ``assume_a`` selects SciPy's algorithm; the derivative is the general solve's for every choice (the whole
  of ``a`` is read), as in JAX.
- cholesky, cho_factor: the derivative treats ``a`` as symmetric, as dualrev.numpy.linalg.cholesky and JAX do.

Imports core, dualrev.numpy and scipy.linalg.
"""

from __future__ import annotations

import importlib

import numpy as np

from dualrev.core import Tracer, defprim
from dualrev.numpy import concatenate, expand_dims, getitem, matmul, swapaxes, where
from dualrev.numpy import linalg as _nla
from dualrev.numpy._batch import align

__all__ = [
    "LinAlgError", "cho_factor", "cho_solve", "cholesky", "det", "eigh", "expm", "inv", "lu_factor", "lu_solve",
    "solve", "solve_triangular",
]

LinAlgError = np.linalg.LinAlgError


def _scipy_linalg():
    # imported at first use: `import dualrev` stays quick (scipy.special alone is needed to register its ufuncs)
    return importlib.import_module("scipy.linalg")


def _mT(x):
    return swapaxes(x, -1, -2)


def _shape(x):
    return x.shape if isinstance(x, Tracer) else np.shape(x)


def _dtype(x):
    return x.dtype if isinstance(x, (Tracer, np.ndarray, np.generic)) else np.result_type(x)


def _square(name, a):
    shape = _shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"dualrev.scipy.linalg.{name}: expected square matrices (..., m, m), got shape {shape}")


def _real(name, *xs):
    for x in xs:
        if _dtype(x).kind == "c":
            raise TypeError(f"dualrev.scipy.linalg.{name}: complex matrices are not supported")


def _triangle(n, lower, unit_diagonal):
    """The mask of the entries a triangular solve reads."""
    k = -1 if unit_diagonal else 0
    return np.tri(n, k=k, dtype=bool) if lower else np.tri(n, k=k, dtype=bool).T


def _on_triangle(x, lower, unit_diagonal):
    return where(_triangle(_shape(x)[-1], lower, unit_diagonal), x, 0.0)


# -- solve_triangular: x = op(A)^-1 b, op(A) = A or A^T; dx = op(A)^-1 (db - op(dA) x) --


def _solve_triangular_impl(a, b, *, trans, lower, unit_diagonal):
    return _scipy_linalg().solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


def _solve_triangular_jvp(tangents, x, a, b, *, trans, lower, unit_diagonal):
    da, db = tangents
    rhs = db
    if da is not None:
        da = _on_triangle(da, lower, unit_diagonal)
        op_da_x = matmul(_mT(da) if trans else da, x)
        rhs = -op_da_x if rhs is None else rhs - op_da_x
    return _solve_triangular(a, rhs, trans=trans, lower=lower, unit_diagonal=unit_diagonal)


def _solve_triangular_vjp(ct, x, a, b, *, argnum, trans, lower, unit_diagonal):
    ct_b = _solve_triangular(a, ct, trans=1 - trans, lower=lower, unit_diagonal=unit_diagonal)  # op(A)^-T ct
    if argnum == 1:
        return ct_b
    outer = matmul(x, _mT(ct_b)) if trans else matmul(ct_b, _mT(x))
    return -_on_triangle(outer, lower, unit_diagonal)


_solve_triangular = defprim(
    _solve_triangular_impl, name="scipy.linalg.solve_triangular", jvp=_solve_triangular_jvp,
    vjp=_solve_triangular_vjp,
    batch=lambda args, batched, **params: _solve_triangular(*align(args, batched), **params),
    note="b is a stack of matrices (..., m, k); the derivative in a lives on the triangle read, as in JAX",
)

_TRANS = {0: 0, "N": 0, 1: 1, "T": 1, 2: 1, "C": 1}


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    """``scipy.linalg.solve_triangular``: x with op(a) x = b for triangular a (..., m, m), op(a) = a (``trans=0``)
    or a.T (``trans=1``/"T"/"C"); b is (..., m) or (..., m, k). Only the ``lower`` (or upper) triangle of a is read,
    without its diagonal (taken as ones) when ``unit_diagonal``.

    >>> x = solve_triangular(L, b, lower=True)
    """
    _square("solve_triangular", a)
    _real("solve_triangular", a, b)
    if trans not in _TRANS:
        raise ValueError(f"dualrev.scipy.linalg.solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', "
                         f"got {trans!r}")
    params = {"trans": _TRANS[trans], "lower": bool(lower), "unit_diagonal": bool(unit_diagonal)}
    m = _shape(a)[-1]
    b_shape = _shape(b)
    if len(b_shape) == 1:
        if b_shape[0] != m:
            raise ValueError(f"dualrev.scipy.linalg.solve_triangular: shapes of a {_shape(a)} and b {b_shape} are "
                             "incompatible")
        return getitem(_solve_triangular(a, expand_dims(b, -1), **params), (Ellipsis, 0))
    if b_shape[-2] != m:
        raise ValueError(f"dualrev.scipy.linalg.solve_triangular: shapes of a {_shape(a)} and b {b_shape} are "
                         "incompatible")
    return _solve_triangular(a, b, **params)


# -- Cholesky --


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """``scipy.linalg.cholesky``: the upper factor U with a = U.T @ U (SciPy's default), or the lower L with
    a = L @ L.T for ``lower=True``. Like SciPy (LAPACK's potrf) it reads only that triangle of ``a``, and so does
    the derivative."""
    _real("cholesky", a)
    return _nla.cholesky(a, upper=not lower)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``scipy.linalg.cho_factor``: ``(c, lower)`` for ``cho_solve``; ``c`` is the triangular factor, with zeros in
    its other triangle (SciPy leaves arbitrary values there, which cho_solve never reads).

    >>> x = cho_solve(cho_factor(A), b)  # A x = b, A symmetric positive definite
    """
    return cholesky(a, lower=lower), bool(lower)


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """``scipy.linalg.cho_solve``: x with A x = b, from ``(c, lower) = cho_factor(A)``; b is (..., m) or (..., m, k).
    Two triangular solves, so the derivative in ``c`` lives on its triangle."""
    try:
        c, lower = c_and_lower
    except (TypeError, ValueError):
        raise TypeError("dualrev.scipy.linalg.cho_solve: the first argument is the pair (c, lower) returned by "
                        "cho_factor") from None
    if lower:  # A = L L^T
        return solve_triangular(c, solve_triangular(c, b, lower=True), trans=1, lower=True)
    return solve_triangular(c, solve_triangular(c, b, trans=1, lower=False), lower=False)  # A = U^T U


# -- LU: a = P L U, L unit lower, U upper, packed in one matrix as LAPACK does --


def _lu_pivots_impl(a):
    return _scipy_linalg().lu_factor(a)[1]


# The row interchanges of a's LU (LAPACK's 0-based pivots): integers, without derivative.
_lu_pivots = defprim(_lu_pivots_impl, name="scipy.linalg.lu_pivots", nondiff=True,
                     batch=lambda args, batched: _lu_pivots(args[0]))


def _pivot_matrix_impl(piv, *, dtype):
    # P^T of a = P L U from LAPACK's pivots (row i was interchanged with row piv[i], in order), for stacks
    piv = np.asarray(piv).astype(np.intp)  # integers (floats are truncated)
    n = piv.shape[-1]
    perm = np.broadcast_to(np.arange(n), piv.shape).copy()
    for i in range(n):
        j = piv[..., i : i + 1]
        pi = perm[..., i : i + 1].copy()
        perm[..., i : i + 1] = np.take_along_axis(perm, j, axis=-1)
        np.put_along_axis(perm, j, pi, axis=-1)
    return (perm[..., :, None] == np.arange(n)).astype(dtype)  # (P^T a)[i] = a[perm[i]]


_pivot_matrix = defprim(_pivot_matrix_impl, name="scipy.linalg.pivot_matrix", nondiff=True,
                        batch=lambda args, batched, **params: _pivot_matrix(args[0], **params))


def _unpack_lu(lu):
    n = _shape(lu)[-1]
    L = where(np.tri(n, k=-1, dtype=bool), lu, 0.0) + np.eye(n, dtype=_dtype(lu))
    return L, where(np.tri(n, dtype=bool).T, lu, 0.0)


def _lu_jvp(da, lu, a):
    L, U = _unpack_lu(lu)
    pt = _pivot_matrix(_lu_pivots(a), dtype=_dtype(lu))
    la = _solve_triangular(lu, matmul(pt, da), trans=0, lower=True, unit_diagonal=True)  # L^-1 P^T dA
    f = _mT(_solve_triangular(lu, _mT(la), trans=1, lower=False, unit_diagonal=False))  # ... U^-1
    return matmul(L, _on_triangle(f, True, True)) + matmul(_on_triangle(f, False, False), U)


def _lu_vjp(ct, lu, a):
    # the transpose of _lu_jvp: <ct, L tril(F, -1) + triu(F) U> = <G, F>, then F = L^-1 P^T dA U^-1 pulled back
    L, U = _unpack_lu(lu)
    g = (_on_triangle(matmul(_mT(L), _on_triangle(ct, True, True)), True, True)
         + _on_triangle(matmul(_on_triangle(ct, False, False), _mT(U)), False, False))
    y = _solve_triangular(lu, g, trans=1, lower=True, unit_diagonal=True)  # L^-T G
    z = _mT(_solve_triangular(lu, _mT(y), trans=0, lower=False, unit_diagonal=False))  # ... U^-T
    pt = _pivot_matrix(_lu_pivots(a), dtype=_dtype(lu))
    return matmul(_mT(pt), z)


_lu = defprim(
    lambda a: _scipy_linalg().lu_factor(a)[0], name="scipy.linalg.lu_factor", jvp=(_lu_jvp,), vjp=(_lu_vjp,),
    batch=lambda args, batched: _lu(args[0]),
    note="the packed factor L - I + U; dLU = L tril(F, -1) + triu(F) U, F = L^-1 P^T dA U^-1, as in JAX",
)


def lu_factor(a, overwrite_a=False, check_finite=True):
    """``scipy.linalg.lu_factor``: ``(lu, piv)`` with a = P L U, L (unit lower) and U packed in ``lu``, and LAPACK's
    0-based row interchanges ``piv`` (integers, no derivative), for ``lu_solve``.

    >>> x = lu_solve(lu_factor(A), b)
    """
    _square("lu_factor", a)
    _real("lu_factor", a)
    return _lu(a), _lu_pivots(a)


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """``scipy.linalg.lu_solve``: x with a x = b (``trans=0``) or a.T x = b (``trans=1``/"T"/"C") from
    ``lu_factor(a)``; b is (..., m) or (..., m, k)."""
    try:
        lu, piv = lu_and_piv
    except (TypeError, ValueError):
        raise TypeError("dualrev.scipy.linalg.lu_solve: the first argument is the pair (lu, piv) returned by "
                        "lu_factor") from None
    if trans not in _TRANS:
        raise ValueError(f"dualrev.scipy.linalg.lu_solve: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    pt = _pivot_matrix(piv, dtype=np.result_type(_dtype(lu), _dtype(b), np.float32))
    vector = len(_shape(b)) == 1
    if vector:
        b = expand_dims(b, -1)
    if _TRANS[trans] == 0:  # x = U^-1 L^-1 P^T b
        y = solve_triangular(lu, matmul(pt, b), lower=True, unit_diagonal=True)
        x = solve_triangular(lu, y, lower=False)
    else:  # a^T = U^T L^T P^T: x = P L^-T U^-T b
        y = solve_triangular(lu, b, trans=1, lower=False)
        x = matmul(_mT(pt), solve_triangular(lu, y, trans=1, lower=True, unit_diagonal=True))
    return getitem(x, (Ellipsis, 0)) if vector else x


# -- expm: the Frechet derivative by the block-matrix identity --


def _frechet(a, e):
    """L(a, e), the derivative of expm at a in direction e: the top-right block of expm([[a, e], [0, a]])."""
    n = _shape(a)[-1]
    zeros = np.zeros(_shape(a), _dtype(a))
    block = concatenate([concatenate([a, e], axis=-1), concatenate([zeros, a], axis=-1)], axis=-2)
    return getitem(expm(block), (Ellipsis, slice(0, n), slice(n, 2 * n)))


def _expm_impl(a):
    return _scipy_linalg().expm(a)


_expm = defprim(
    _expm_impl, name="scipy.linalg.expm",
    jvp=(lambda da, ans, a: _frechet(a, da),),
    vjp=(lambda ct, ans, a: _frechet(_mT(a), ct),),
    batch=lambda args, batched: _expm(args[0]),
    note="the Frechet derivative L(A, dA) by the block-matrix identity; the VJP is L(A^T, ct)",
)


def expm(A):
    """``scipy.linalg.expm``: the matrix exponential of (..., n, n), by SciPy's Pade scaling and squaring; its
    derivative is the Frechet derivative, by the block-matrix identity, to any order.

    >>> expm(np.array([[0.0, 1.0], [-1.0, 0.0]]))  # a rotation by 1 radian
    """
    _square("expm", A)
    _real("expm", A)
    return _expm(A)


# -- eigh, solve, det, inv: dualrev.numpy.linalg with SciPy's signatures --


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False, type=1,
         check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    """``scipy.linalg.eigh`` of a symmetric or complex Hermitian (..., n, n): ``(w, v)``, or ``w`` with ``eigvals_only=True``;
    eigenvalues ascending, from the ``lower`` (or upper) triangle. The generalized problem (``b``) and subsets are
    not supported (as in JAX)."""
    if b is not None:
        raise NotImplementedError("dualrev.scipy.linalg.eigh: the generalized problem (b) is not supported; for "
                                  "b = L L^T positive definite, solve the standard problem of L^-1 a L^-T")
    if subset_by_index is not None or subset_by_value is not None or type != 1:
        raise NotImplementedError("dualrev.scipy.linalg.eigh: subset_by_index, subset_by_value and type are not "
                                  "supported; compute all eigenvalues and select from them")
    uplo = "L" if lower else "U"
    if eigvals_only:
        return _nla.eigvalsh(a, UPLO=uplo)
    w, v = _nla.eigh(a, UPLO=uplo)
    return w, v


_GENERAL = {None, "gen", "general", "sym", "symmetric", "her", "hermitian", "pos", "positive definite",
            "tridiagonal", "banded"}


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
          transposed=False):
    """``scipy.linalg.solve``: x with a x = b (a.T x = b with ``transposed``); b is (..., m) or (..., m, k).
    ``assume_a``: "gen", "sym", "pos" (and SciPy's other names) use the general solve and its derivative, which
    reads the whole of ``a``, as in JAX; "lower triangular"/"upper triangular" use ``solve_triangular``, "diagonal"
    divides by the diagonal."""
    _square("solve", a)
    if transposed or assume_a in ("lower triangular", "upper triangular"):
        _real("solve", a, b)  # complex: the general solve below, its rules JAX's (SciPy's transposed is real-only)
    if assume_a in ("lower triangular", "upper triangular"):
        return solve_triangular(a, b, trans=int(bool(transposed)), lower=assume_a.startswith("lower"))
    if assume_a == "diagonal":
        d = _nla.diagonal(a)
        return b / (d if len(_shape(b)) == len(_shape(d)) else expand_dims(d, -1))
    if assume_a not in _GENERAL:
        raise ValueError(f"dualrev.scipy.linalg.solve: unknown assume_a={assume_a!r}; use 'gen', 'sym', 'her', "
                         "'pos', 'diagonal', 'lower triangular' or 'upper triangular'")
    return _nla.solve(_mT(a) if transposed else a, b)


def det(a, overwrite_a=False, check_finite=True):
    """``scipy.linalg.det``: ``dualrev.numpy.linalg.det``."""
    return _nla.det(a)


def inv(a, overwrite_a=False, check_finite=True):
    """``scipy.linalg.inv``: ``dualrev.numpy.linalg.inv``."""
    return _nla.inv(a)
