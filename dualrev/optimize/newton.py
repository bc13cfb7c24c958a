"""Newton's method with the exact Hessian (``method="newton"``) and line-search Newton-CG (``"newton-cg"``).

- ``newton``: the Hessian from ``dr.hessian``; where it is not positive definite it is modified, either by adding a
  multiple of the identity found by trial Cholesky factorisations (Nocedal & Wright, Algorithm 3.3) or by an
  eigenvalue shift, tau = max(0, delta - lambda_min) (``options={"hessian_modification": "eigen"}``); then a
  strong-Wolfe line search from the unit step.
  With ``options={"sparse": True}`` (or a scipy.sparse pattern) the Hessian comes from ``dr.sparse.hessian`` and
  the trial factorisations are sparse LU factorisations (``optimize._sparse``): the sparse-Newton path.
- ``newton-cg``: truncated Newton (Nocedal & Wright, Algorithm 7.1): conjugate gradients on H p = -g with
  Hessian-vector products (the gradient recorded once per iterate, one forward pass per product; the Hessian is
  never formed), stopped at the forcing tolerance min(0.5, sqrt|g|) |g| or at the first direction of non-positive
  curvature; then a strong-Wolfe line search.
"""

from __future__ import annotations

import numpy as np

from dualrev.optimize._driver import line_search_loop

__all__ = ["minimize_newton", "minimize_newton_cg", "newton_direction", "truncated_cg"]


def _cholesky_solve(L, b):
    """Solve L L' x = b with the Cholesky factor (two triangular solves)."""
    return np.linalg.solve(L.T, np.linalg.solve(L, b))


def newton_direction(H, g, modification="cholesky"):
    """Solve (H + tau I) p = -g with the smallest tau >= 0 (up to a factor 2) making H + tau I positive definite.

    Returns ``(p, tau)``. ``modification``: "cholesky" (Algorithm 3.3: trial Cholesky factorisations, tau doubled
    from beta = 1e-3 ||H||_F / sqrt(n)) or "eigen" (tau = max(0, delta - lambda_min) from the eigenvalues, with
    delta = max(|lambda_min|, sqrt(eps) max|lambda|) when lambda_min < 0: the shifted matrix's smallest eigenvalue is
    then |lambda_min|).
    """
    n = g.size
    eye = np.eye(n, dtype=H.dtype)
    norm = float(np.linalg.norm(H)) / np.sqrt(n)
    beta = 1e-3 * norm if norm > 0 else 1e-3
    if modification == "eigen":
        lam = np.linalg.eigvalsh(H)
        # the smallest eigenvalue becomes |lambda_min| (reflected), at least sqrt(eps) max|lambda|
        delta = max(np.sqrt(np.finfo(H.dtype).eps) * float(np.max(np.abs(lam))), -float(lam[0]))
        delta = delta if delta > 0 else 1.0
        tau = max(0.0, delta - float(lam[0]))
    else:
        dmin = float(np.min(np.diag(H)))
        tau = 0.0 if dmin > 0 else beta - dmin
    for _ in range(200):  # Algorithm 3.3 (with "eigen", a factorisation that still fails doubles tau the same way)
        try:
            L = np.linalg.cholesky(H + tau * eye if tau else H)
        except np.linalg.LinAlgError:
            tau = max(2.0 * tau, beta)
            continue
        return _cholesky_solve(L, -g), tau
    return -g, np.inf


def minimize_newton(run, obj, c1=1e-4, c2=0.9, hessian_modification="cholesky", sparse=False):
    if sparse is not False:  # the sparse-Newton path: scipy.sparse Hessians, trial sparse LU factorisations
        from dualrev.optimize import _sparse

        if hessian_modification != "cholesky":
            raise ValueError("minimize(method='newton'): hessian_modification='eigen' needs the dense Hessian's "
                             "eigenvalues; with the option sparse, the shift comes from trial sparse factorisations "
                             "(leave hessian_modification at 'cholesky')")
        obj.use_sparse_hessian(None if sparse is True else sparse)

    def direction(x, g):
        H = obj.hessian(x)
        if obj.sparse:
            return _sparse.sparse_newton_direction(H, g)[0] if np.all(np.isfinite(H.data)) else None
        return newton_direction(H, g, hessian_modification)[0] if np.all(np.isfinite(H)) else None

    x, f, g, k, status, message = line_search_loop(run, obj, direction, c1, c2)
    return run.result(x, f, g, k, status, message, hess=obj.hessian(x))


def truncated_cg(hvp, g, tol, maxiter):
    """CG on H p = -g from p = 0 (Algorithm 7.1's inner loop): returns ``(p, iterations, negative_curvature)``.

    Stops when |r| < tol, after ``maxiter`` iterations, or at a direction d with d'Hd <= 0: then the current
    iterate, or at the first iteration the steepest-descent direction scaled by |g|^2 / |d'Hd|.
    """
    z = np.zeros_like(g)
    r = g.copy()
    d = -r
    rr = float(np.dot(r, r))
    for j in range(maxiter):
        Hd = hvp(d)
        curv = float(np.dot(d, Hd))
        if not (curv > 0):
            if j == 0:
                scale = rr / abs(curv) if curv < 0 and np.isfinite(curv) else 1.0
                return -g * g.dtype.type(scale), 1, True
            return z, j, True
        alpha = rr / curv
        z = z + alpha * d
        r = r + alpha * Hd
        rr_new = float(np.dot(r, r))
        if np.sqrt(rr_new) < tol:
            return z, j + 1, False
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return z, maxiter, False


def minimize_newton_cg(run, obj, c1=1e-4, c2=0.9, cg_maxiter=None):
    cg_maxiter = 20 * obj.n if cg_maxiter is None else int(cg_maxiter)

    def direction(x, g):
        _, hvp = obj.grad_and_hvp(x)
        gnorm = float(np.linalg.norm(g))
        return truncated_cg(hvp, g, min(0.5, np.sqrt(gnorm)) * gnorm, cg_maxiter)[0]

    x, f, g, k, status, message = line_search_loop(run, obj, direction, c1, c2)
    return run.result(x, f, g, k, status, message)
