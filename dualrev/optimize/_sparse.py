"""The sparse-Hessian paths of newton and trust-exact, and the sparse steps of least_squares, on scipy.sparse.linalg.
Imported only when a sparse option is given (scipy is an optional dependency: ``pip install scipy``).

Positive definiteness without a sparse Cholesky: ``splu`` in symmetric mode (the diagonal pivots, the same
fill-reducing permutation on rows and columns) factors a symmetric matrix as ``L D L'`` in effect, so the signs of
U's diagonal are the signs of D: all positive exactly when the matrix is positive definite (Sylvester's law of
inertia). A zero pivot or an off-diagonal pivot counts as "not positive definite".
"""

from __future__ import annotations

import math

import numpy as np

try:
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("the sparse options of dualrev.optimize need scipy, which is not installed: pip install scipy "
                      "(or pip install 'dualrev[sparse]')") from e

__all__ = [
    "check_sparse_option",
    "damped_solve",
    "positive_definite_lu",
    "sparse_exact_subproblem",
    "sparse_newton_direction",
]


def check_sparse_option(where: str, sparse):
    """``sparse`` is False, True (detect the pattern) or a scipy.sparse pattern (given)."""
    if sparse is False or sparse is None:
        return False
    if sparse is True or sp.issparse(sparse):
        return sparse
    raise TypeError(f"{where}: the option sparse must be True (detect the Hessian's pattern from the trace), False, "
                    f"or a scipy.sparse matrix with the pattern, got {type(sparse).__name__}")


def positive_definite_lu(A):
    """The LU factors of the symmetric sparse ``A`` if it is positive definite, else None."""
    try:
        lu = splu(sp.csc_matrix(A), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                  options={"SymmetricMode": True})
    except RuntimeError:  # exactly singular
        return None
    if not np.array_equal(lu.perm_r, lu.perm_c):  # a zero diagonal pivot was skipped: not an L D L' factorisation
        return None
    d = lu.U.diagonal()
    return lu if np.all(d > 0) and np.all(np.isfinite(d)) else None


def _shift_start(H):
    n = H.shape[0]
    norm = float(sp.linalg.norm(H)) / math.sqrt(n)
    beta = 1e-3 * norm if norm > 0 else 1e-3
    dmin = float(np.min(H.diagonal()))
    return beta, (0.0 if dmin > 0 else beta - dmin)


def sparse_newton_direction(H, g):
    """Solve (H + tau I) p = -g with the smallest tau >= 0 (up to a factor 2) that makes H + tau I positive definite:
    Nocedal & Wright's Algorithm 3.3 with trial sparse factorisations. Returns ``(p, tau)``."""
    beta, tau = _shift_start(H)
    eye = sp.identity(H.shape[0], dtype=H.dtype, format="csc")
    for _ in range(200):
        lu = positive_definite_lu(H + tau * eye if tau else H)
        if lu is not None:
            return lu.solve(-g), tau
        tau = max(2.0 * tau, beta)
    return -g, math.inf


def damped_solve(A, b, mu):
    """Solve (A + mu I) x = b for a symmetric positive semidefinite sparse A (mu > 0), e.g. J'J in least squares;
    a failed factorisation raises mu tenfold (rank-deficient A with a tiny mu)."""
    eye = sp.identity(A.shape[0], dtype=A.dtype, format="csc")
    for _ in range(60):
        lu = positive_definite_lu(A + mu * eye)
        if lu is not None:
            return lu.solve(b)
        mu = max(10.0 * mu, np.finfo(A.dtype).tiny)
    return b / mu


def sparse_exact_subproblem(H, g, delta, max_iter=40):
    """Minimise g'p + p'Hp/2 over |p| <= delta with a sparse H (Moré & Sorensen; Nocedal & Wright Algorithm 4.3 on
    LU factorisations of H + l I). Returns ``(p, on_boundary)``.

    The multiplier l is found by Newton's method on 1/delta - 1/|p(l)|, with |q|^2 = p'(H + l I)^-1 p from the same
    factorisation, safeguarded by a bracket [lo, hi] that bisection tightens whenever H + l I is not positive
    definite. In the hard case (H indefinite, no l with |p(l)| = delta) the best interior step is moved to the
    boundary along the eigenvector of the smallest eigenvalue (``eigsh``); if ARPACK does not converge, the interior
    step is kept, which still decreases the model (H + l I positive definite makes g'p < 0).
    """
    n = g.size
    eye = sp.identity(n, dtype=H.dtype, format="csc")
    lu = positive_definite_lu(H)
    if lu is not None:
        p = lu.solve(-g)
        if np.linalg.norm(p) <= delta:
            return p, False
    gnorm = float(np.linalg.norm(g))
    bound = float(abs(H).sum(axis=1).max())  # Gershgorin: |lambda| <= the largest absolute row sum
    lo, hi = 0.0, gnorm / delta + bound
    lam = 0.0 if lu is not None else min(hi, max(0.0, -float(np.min(H.diagonal()))))
    best = None
    for _ in range(max_iter):
        lu = positive_definite_lu(H + lam * eye if lam else H)
        if lu is None:
            lo = max(lo, lam)
            lam = 0.5 * (lo + hi)
            if hi - lo <= 1e-14 * max(hi, 1.0):
                break
            continue
        p = lu.solve(-g)
        pnorm = float(np.linalg.norm(p))
        if pnorm <= delta:
            best = p
            hi = lam
        else:
            lo = lam
        if abs(pnorm - delta) <= 1e-3 * delta:
            return p, True
        qq = float(np.dot(p, lu.solve(p)))
        step = (pnorm * pnorm / qq) * (pnorm - delta) / delta if qq > 0 else -1.0
        lam_new = lam + step
        lam = lam_new if lo < lam_new < hi else 0.5 * (lo + hi)
        if hi - lo <= 1e-14 * max(hi, 1.0):
            break
    if best is None:  # H + hi I is positive definite and its step fits: take it
        lu = positive_definite_lu(H + hi * eye)
        best = lu.solve(-g) if lu is not None else -g * (delta / max(gnorm, 1e-300))
    if float(np.linalg.norm(best)) < (1 - 1e-3) * delta and lo > 0:
        # the hard case: H is indefinite (a factorisation failed at l > 0) and the step stays inside; move along
        # the eigenvector of the smallest eigenvalue to the boundary, as the dense trust-exact does
        z = _smallest_eigenvector(H)
        if z is not None:
            b, c = float(np.dot(best, z)), float(np.dot(best, best)) - delta * delta
            root = math.sqrt(max(b * b - c, 0.0))

            def model(p):
                return float(np.dot(g, p)) + 0.5 * float(np.dot(p, H @ p))

            return min((best + t * z for t in (-b - root, -b + root)), key=model), True
    return best, bool(abs(float(np.linalg.norm(best)) - delta) <= 1e-3 * delta)


def _smallest_eigenvector(H):
    """A unit eigenvector of the smallest eigenvalue of the symmetric sparse H (None if ARPACK does not converge)."""
    n = H.shape[0]
    if n <= 200:
        return np.linalg.eigh(H.toarray())[1][:, 0]
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh

    try:
        return eigsh(H, k=1, which="SA", tol=1e-10)[1][:, 0]
    except ArpackNoConvergence:
        return None
