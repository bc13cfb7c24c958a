"""Line searches along a descent direction ``p``: strong Wolfe (Nocedal & Wright, Algorithms 3.5 and 3.6, with
safeguarded cubic/quadratic interpolation in ``zoom``) and Armijo backtracking.

Function values come from plain evaluations; a gradient is computed only where the algorithm needs the slope (after
a trial point has passed the sufficient-decrease test), so a rejected trial costs one function evaluation.
A NaN or infinite trial value counts as "too long a step": the search backs off instead of failing.
"""

from __future__ import annotations

import math

import numpy as np


__all__ = ["LineSearchResult", "backtracking", "strong_wolfe"]

OK, ARMIJO_ONLY, FAILED, UNBOUNDED = "ok", "armijo", "failed", "unbounded"


class LineSearchResult:
    """``alpha``, ``f`` and ``g`` at ``x + alpha p`` (``g`` None when not computed), and ``status``: "ok" (strong
    Wolfe conditions hold), "armijo" (sufficient decrease only), "failed" (no acceptable point: precision loss) or
    "unbounded" (f kept decreasing up to the largest step allowed, or reached -inf)."""

    __slots__ = ("alpha", "evaluations", "f", "g", "status")

    def __init__(self, alpha, f, g, status, evaluations):
        self.alpha, self.f, self.g, self.status, self.evaluations = alpha, f, g, status, evaluations

    def __repr__(self):
        return f"LineSearchResult(alpha={self.alpha!r}, f={self.f!r}, status={self.status!r})"


def _finite(v) -> bool:
    return bool(np.isfinite(v))


def _cubic_min(a, fa, da, b, fb, db):
    """Minimiser of the cubic interpolating f and f' at a and b (Nocedal & Wright eq. 3.59); None if undefined."""
    if a == b:
        return None
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if not (disc >= 0.0) or not math.isfinite(disc):
        return None
    d2 = math.copysign(math.sqrt(disc), b - a)
    denom = db - da + 2.0 * d2
    if denom == 0.0 or not math.isfinite(denom):
        return None
    return b - (b - a) * (db + d2 - d1) / denom


def _quadratic_min(a, fa, da, b, fb):
    """Minimiser of the quadratic through f(a), f'(a), f(b); None if it has no minimum."""
    d = b - a
    curv = fb - fa - da * d
    if not (curv > 0.0) or not math.isfinite(curv):
        return None
    return a - da * d * d / (2.0 * curv)


def strong_wolfe(obj, x, p, f0, g0, alpha0=1.0, c1=1e-4, c2=0.9, alpha_max=None, max_extrapolations=60,
                 max_zoom=40):
    """Find alpha > 0 with f(x + alpha p) <= f0 + c1 alpha g0.p and |g(x + alpha p).p| <= c2 |g0.p|.

    ``obj`` provides ``value(x)`` (a plain evaluation) and ``value_and_grad(x)``. ``p`` must be a descent
    direction (g0.p < 0). The step is capped at ``alpha_max`` (default: a move of 1e10 max(1, |x|)); f still
    decreasing there counts as unbounded. Returns a ``LineSearchResult``.
    """
    if alpha_max is None:
        pnorm = float(np.linalg.norm(p))
        alpha_max = 1e10 * max(1.0, float(np.linalg.norm(x))) / pnorm if pnorm > 0 else 1.0
    dphi0 = float(np.dot(g0, p))
    f0 = float(f0)
    evals = [0]
    dtype = x.dtype

    def phi(alpha):
        evals[0] += 1
        return float(obj.value((x + dtype.type(alpha) * p).astype(dtype, copy=False)))

    def dphi(alpha):
        f, g = obj.value_and_grad((x + dtype.type(alpha) * p).astype(dtype, copy=False))
        return float(f), g, float(np.dot(g, p))

    def armijo(alpha, f):
        return f <= f0 + c1 * alpha * dphi0

    def zoom(lo, f_lo, d_lo, g_lo, hi, f_hi, d_hi):
        """Algorithm 3.6: the bracket [lo, hi] (either order) holds a point satisfying the strong Wolfe
        conditions; lo has the lowest value found that satisfies sufficient decrease, and a known slope."""
        for _ in range(max_zoom):
            width = hi - lo
            if abs(width) <= 4 * np.finfo(dtype).eps * max(abs(lo), abs(hi)):
                break
            trial = None
            if _finite(f_hi):
                if d_hi is not None and _finite(d_hi):
                    trial = _cubic_min(lo, f_lo, d_lo, hi, f_hi, d_hi)
                if trial is None:
                    trial = _quadratic_min(lo, f_lo, d_lo, hi, f_hi)
                low, high = sorted((lo + 0.1 * width, hi - 0.1 * width))
                if trial is None or not (low <= trial <= high):
                    trial = lo + 0.5 * width
            else:  # a NaN/inf at hi: step well back towards lo
                trial = lo + 0.2 * width
            f_t = phi(trial)
            if not armijo(trial, f_t) or not (f_t < f_lo):
                hi, f_hi, d_hi = trial, f_t, None
                continue
            f_t, g_t, d_t = dphi(trial)
            if abs(d_t) <= -c2 * dphi0:
                return LineSearchResult(trial, f_t, g_t, OK, evals[0])
            if d_t * (hi - lo) >= 0:
                hi, f_hi, d_hi = lo, f_lo, d_lo
            lo, f_lo, d_lo, g_lo = trial, f_t, d_t, g_t
        if lo > 0:
            return LineSearchResult(lo, f_lo, g_lo, ARMIJO_ONLY, evals[0])
        return LineSearchResult(0.0, f0, g0, FAILED, evals[0])

    if not (dphi0 < 0) or not math.isfinite(dphi0):
        return LineSearchResult(0.0, f0, g0, FAILED, 0)
    prev, f_prev, d_prev, g_prev = 0.0, f0, dphi0, g0
    alpha = min(float(alpha0), alpha_max)
    for i in range(max_extrapolations):
        f_a = phi(alpha)
        if f_a == -math.inf:
            return LineSearchResult(alpha, f_a, None, UNBOUNDED, evals[0])
        if not armijo(alpha, f_a) or (i > 0 and not (f_a < f_prev)):
            return zoom(prev, f_prev, d_prev, g_prev, alpha, f_a, None)
        f_a, g_a, d_a = dphi(alpha)
        if abs(d_a) <= -c2 * dphi0:
            return LineSearchResult(alpha, f_a, g_a, OK, evals[0])
        if d_a >= 0:
            return zoom(alpha, f_a, d_a, g_a, prev, f_prev, d_prev)
        if alpha >= alpha_max:
            return LineSearchResult(alpha, f_a, g_a, UNBOUNDED, evals[0])
        prev, f_prev, d_prev, g_prev = alpha, f_a, d_a, g_a
        alpha = min(2.0 * alpha, alpha_max)
    return LineSearchResult(prev, f_prev, g_prev, ARMIJO_ONLY, evals[0])


def backtracking(value, f0, dphi0, alpha0=1.0, c1=1e-4, shrink=0.5, max_steps=60):
    """Armijo backtracking on a scalar function ``value(alpha)``: the first of alpha0, alpha0*shrink, ... with
    value(alpha) <= f0 + c1 alpha dphi0 (a quadratic interpolation step when it lies in [0.1, shrink] * alpha).
    Returns ``(alpha, f, status)``."""
    alpha = float(alpha0)
    f0, dphi0 = float(f0), float(dphi0)
    if not (dphi0 < 0):
        return 0.0, f0, FAILED
    for _ in range(max_steps):
        f = float(value(alpha))
        if f <= f0 + c1 * alpha * dphi0:
            return alpha, f, OK
        new = _quadratic_min(0.0, f0, dphi0, alpha, f) if math.isfinite(f) else None
        alpha = new if new is not None and 0.1 * alpha <= new <= shrink * alpha else shrink * alpha
    return 0.0, f0, FAILED
