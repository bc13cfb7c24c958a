"""Trust-region Newton methods, in the framework of Nocedal & Wright's Algorithm 4.1 (accept when rho > eta;
shrink on rho < 1/4; expand on rho > 3/4 with the step on the boundary), run once by ``trust_region_loop``; each
method supplies only its subproblem solver:

- ``trust-ncg``: Steihaug's conjugate gradients on the quadratic model (Algorithm 7.2), Hessian-vector products
  only;
- ``trust-exact``: the nearly exact solution of the subproblem with the Hessian from ``dr.hessian`` (Moré &
  Sorensen, Nocedal & Wright Algorithm 4.3): Newton's method on 1/Delta - 1/|p(lambda)| for the multiplier, here
  on the eigendecomposition of H (so each Newton step costs O(n)), safeguarded by bisection, with the "hard case"
  handled by a step along the eigenvector of the smallest eigenvalue. With ``options={"sparse": True}`` (or a
  scipy.sparse pattern) the Hessian is sparse (``dr.sparse.hessian``) and the multiplier is found on sparse LU
  factorisations of H + lambda I instead (``optimize._sparse.sparse_exact_subproblem``).

The radius shrinks to min(Delta, |p|) / 4 rather than Delta / 4, so that a rejected interior step is not tried
again with an unchanged radius (the two agree whenever the rejected step lay on the boundary).
"""

from __future__ import annotations

import math

import numpy as np

from dualrev.optimize._driver import stopped_by_callback
from dualrev.optimize._result import DIVERGED, LINE_SEARCH

__all__ = ["exact_subproblem", "minimize_trust_exact", "minimize_trust_ncg", "steihaug"]


def _boundary_taus(z, d, delta):
    """The two roots tau- <= tau+ of |z + tau d| = delta (z inside the region: tau- <= 0 <= tau+)."""
    a = float(np.dot(d, d))
    b = 2.0 * float(np.dot(z, d))
    c = float(np.dot(z, z)) - delta * delta
    disc = math.sqrt(max(b * b - 4.0 * a * c, 0.0))
    # the stable pair of roots
    q = -0.5 * (b + math.copysign(disc, b))
    r1 = q / a if a else 0.0
    r2 = c / q if q else 0.0
    return min(r1, r2), max(r1, r2)


def steihaug(g, hvp, delta, tol, maxiter):
    """Approximately minimise m(p) = g'p + p'Hp/2 over |p| <= delta (Algorithm 7.2).

    Returns ``(p, Hp, on_boundary)``; ``Hp`` is accumulated from the CG products, so the model value needs no
    extra product.
    """
    z = np.zeros_like(g)
    Hz = np.zeros_like(g)
    r = g.copy()
    d = -r
    rr = float(np.dot(r, r))
    if math.sqrt(rr) < tol:
        return z, Hz, False
    for _ in range(maxiter):
        Hd = hvp(d)
        curv = float(np.dot(d, Hd))
        if not (curv > 0):
            # negative curvature: the boundary point along d with the lower model value
            lo, hi = _boundary_taus(z, d, delta)
            slope = float(np.dot(g + Hz, d))
            change_lo, change_hi = (t * slope + 0.5 * t * t * curv for t in (lo, hi))
            t = lo if change_lo < change_hi else hi
            return z + t * d, Hz + t * Hd, True
        alpha = rr / curv
        z_new = z + alpha * d
        if np.linalg.norm(z_new) >= delta:
            _, t = _boundary_taus(z, d, delta)
            return z + t * d, Hz + t * Hd, True
        z, Hz = z_new, Hz + alpha * Hd
        r = r + alpha * Hd
        rr_new = float(np.dot(r, r))
        if math.sqrt(rr_new) < tol:
            return z, Hz, False
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return z, Hz, False


def trust_region_loop(run, obj, solve, accept, initial_trust_radius, max_trust_radius, eta):
    """The loop shared by the trust-region methods (Algorithm 4.1). Each iteration asks ``solve(x, g, delta)``
    for a step of the method's quadratic model, ``(p, predicted, on_boundary)`` with ``predicted`` the model's
    decrease (None when the Hessian is not finite: divergence), tries x + p with one evaluation of f, updates the
    radius from rho = actual / predicted, and on acceptance (rho > eta) asks ``accept(x)`` for the gradient at
    the new point (the method drops its model at the old one there).

    Returns ``(x, f, g, iterations, status, message)``.
    """
    x = obj.x0.copy()
    f, g = run.start()
    delta = float(initial_trust_radius)
    k, message = 0, None
    tiny = np.finfo(obj.dtype).eps
    while True:
        stop = run.stop_reason(k, g)
        if stop:
            status, message = stop
            break
        model = solve(x, g, delta)
        if model is None:
            status, message = DIVERGED, f"Divergence: the Hessian is not finite at iteration {k}."
            break
        p, predicted, on_boundary = model
        if not (predicted > 0):
            status = LINE_SEARCH
            message = (f"A bad approximation caused failure to predict improvement at iteration {k} "
                       f"(predicted reduction {predicted:.3e}, |grad| = {float(np.max(np.abs(g))):.3e}).")
            break
        x_new = (x + p).astype(x.dtype)
        f_new = obj.value(x_new)
        rho = (float(f) - float(f_new)) / predicted if np.isfinite(f_new) else -math.inf
        pnorm = float(np.linalg.norm(p))
        if rho < 0.25:
            delta = 0.25 * min(delta, pnorm)
        elif rho > 0.75 and on_boundary:
            delta = min(2.0 * delta, max_trust_radius)
        k += 1
        if rho > eta:
            x, f = x_new, f_new
            g = accept(x)
            message = run.diverged(x, f)
            if message:
                status = DIVERGED
                break
        if f_new == -math.inf:
            x, f = x_new, f_new
            status, message = DIVERGED, f"Divergence: the objective reached -inf at iteration {k}."
            break
        if run.step_done(k, x, f, g, pnorm if rho > eta else 0.0):
            status, message = stopped_by_callback()
            break
        if delta <= tiny * max(1.0, float(np.linalg.norm(x))):
            status = LINE_SEARCH
            message = ("Desired error not necessarily achieved due to precision loss: the trust region radius "
                       f"fell to {delta:.3e} at iteration {k} (|grad| = {float(np.max(np.abs(g))):.3e}).")
            break
    return x, f, g, k, status, message


def _check_trust_options(method, initial_trust_radius, max_trust_radius, eta):
    if not 0 < initial_trust_radius <= max_trust_radius:
        raise ValueError(f"minimize(method='{method}'): need 0 < initial_trust_radius <= max_trust_radius, got "
                         f"{initial_trust_radius} and {max_trust_radius}")
    if not 0 <= eta < 0.25:
        raise ValueError(f"minimize(method='{method}'): eta must be in [0, 0.25), got {eta}")


def minimize_trust_ncg(run, obj, initial_trust_radius=1.0, max_trust_radius=1000.0, eta=0.15, cg_maxiter=None):
    _check_trust_options("trust-ncg", initial_trust_radius, max_trust_radius, eta)
    cg_maxiter = 20 * obj.n if cg_maxiter is None else int(cg_maxiter)
    hvp = None  # products at the current x; made on first use, so a run that converges at x0 costs no linearize

    def solve(x, g, delta):
        nonlocal hvp
        if hvp is None:
            _, hvp = obj.grad_and_hvp(x)
        gnorm = float(np.linalg.norm(g))
        p, Hp, on_boundary = steihaug(g, hvp, delta, min(0.5, math.sqrt(gnorm)) * gnorm, cg_maxiter)
        return p, -(float(np.dot(g, p)) + 0.5 * float(np.dot(p, Hp))), on_boundary

    def accept(x):
        nonlocal hvp
        g, hvp = obj.grad_and_hvp(x)
        return g

    x, f, g, k, status, message = trust_region_loop(run, obj, solve, accept, initial_trust_radius,
                                                    max_trust_radius, eta)
    return run.result(x, f, g, k, status, message)


def exact_subproblem(lam, Q, g, delta):
    """Minimise g'p + p'Hp/2 over |p| <= delta, H = Q diag(lam) Q' (eigenvalues ascending).

    Returns ``(p, on_boundary)``: the Newton step if H is positive definite and the step fits, else
    p(l) = -(H + l I)^-1 g with l >= max(0, -lam_min) and |p(l)| = delta, or in the hard case (g orthogonal to
    the eigenspace of lam_min) that point plus a multiple of the eigenvector reaching the boundary.
    """
    gt = Q.T @ g
    c = gt * gt
    lmin = float(lam[0])
    scale = max(float(np.max(np.abs(lam))), 1.0)
    eps = np.finfo(lam.dtype).eps
    if lmin > 0:
        p = -(Q @ (gt / lam))
        if np.linalg.norm(p) <= delta:
            return p, False

    def norm_p(l):
        with np.errstate(over="ignore"):  # a tiny l can overflow |p| to inf: bisection handles it
            return math.sqrt(float(np.sum(c / (lam + l) ** 2)))

    lo = max(0.0, -lmin)
    # the hard case: no component of g along the smallest eigenvalue's eigenspace
    in_min_space = lam - lmin <= math.sqrt(eps) * scale
    if lmin <= 0 and float(np.sum(c[in_min_space])) <= (eps * max(float(np.linalg.norm(g)), 1e-300)) ** 2:
        rest = ~in_min_space
        p_hat = -(Q[:, rest] @ (gt[rest] / (lam[rest] - lmin)))
        norm_hat = float(np.linalg.norm(p_hat))
        if norm_hat <= delta:
            tau = math.sqrt(max(delta * delta - norm_hat * norm_hat, 0.0))
            return p_hat + tau * Q[:, 0], True
    # Newton's method on phi(l) = 1/delta - 1/|p(l)| within the bracket [lo, hi], bisection as the safeguard
    hi = lo + float(np.linalg.norm(g)) / delta + scale
    l = lo + max(math.sqrt(eps) * scale, 1e-300) if lmin <= 0 else 0.0
    for _ in range(100):
        if not lo < l < hi and not (l == 0.0 and lo == 0.0):
            l = 0.5 * (lo + hi)
        n = norm_p(l)
        if abs(n - delta) <= 1e-10 * delta:
            break
        if n > delta:
            lo = l
        else:
            hi = l
        with np.errstate(over="ignore"):  # phi'(l) = (d|p|/dl) / |p|^2, which may overflow or vanish
            slope = -float(np.sum(c / (lam + l) ** 3)) / n / (n * n) if 0.0 < n < math.inf else 0.0
        # Newton on phi; where its slope vanishes or underflows, the bisection at the top of the loop takes over
        l = l - (1.0 / delta - 1.0 / n) / slope if slope != 0.0 and math.isfinite(slope) else -1.0
        if hi - lo <= eps * max(hi, 1.0):
            break
    if not lo <= l <= hi:  # the last Newton step left the bracket: its top end keeps the step inside the region
        l = hi
    return -(Q @ (gt / (lam + l))), True


def minimize_trust_exact(run, obj, initial_trust_radius=1.0, max_trust_radius=1000.0, eta=0.15, sparse=False):
    _check_trust_options("trust-exact", initial_trust_radius, max_trust_radius, eta)
    H = eig = None  # the Hessian at the current x and its eigendecomposition; None from each acceptance until needed
    if sparse is not False:  # scipy.sparse Hessians; the subproblem on sparse LU factorisations of H + l I
        from dualrev.optimize import _sparse

        obj.use_sparse_hessian(None if sparse is True else sparse)

    def solve(x, g, delta):
        nonlocal H, eig
        if obj.sparse:
            if H is None:
                H = obj.hessian(x)
                if not np.all(np.isfinite(H.data)):
                    return None
            p, on_boundary = _sparse.sparse_exact_subproblem(H, g, delta)
            p = p.astype(x.dtype)
            return p, -(float(np.dot(g, p)) + 0.5 * float(np.dot(p, H @ p))), on_boundary
        if H is None:
            H = obj.hessian(x)
            if not np.all(np.isfinite(H)):
                return None
            eig = np.linalg.eigh(0.5 * (H + H.T))
        p, on_boundary = exact_subproblem(eig[0], eig[1], g, delta)
        p = p.astype(x.dtype)
        return p, -(float(np.dot(g, p)) + 0.5 * float(np.dot(p, H @ p))), on_boundary

    def accept(x):
        nonlocal H
        _, g = obj.value_and_grad(x)
        H = None
        return g

    x, f, g, k, status, message = trust_region_loop(run, obj, solve, accept, initial_trust_radius,
                                                    max_trust_radius, eta)
    if H is None and np.all(np.isfinite(x)):
        H = obj.hessian(x)
    return run.result(x, f, g, k, status, message, hess=H)
