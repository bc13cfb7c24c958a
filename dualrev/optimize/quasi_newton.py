"""Quasi-Newton and first-order minimisers: BFGS (Nocedal & Wright, Algorithm 6.1), L-BFGS (the two-loop
recursion, Algorithm 7.4, in Algorithm 7.5) and gradient descent, each with the strong-Wolfe line search.

BFGS keeps the dense inverse-Hessian approximation H, starting from the identity and rescaled to
H0 = (y's / y'y) I before the first update (eq. 6.20); L-BFGS keeps the last ``history_size`` pairs (s, y) and
uses gamma_k I = (s'y / y'y) I as its initial matrix (eq. 7.20). A pair with s'y <= 0 (possible only when the line
search ended on sufficient decrease alone) is skipped, so the approximation stays positive definite.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from dualrev.optimize._driver import line_search_loop

__all__ = ["LbfgsInverseHessian", "minimize_bfgs", "minimize_gd", "minimize_lbfgs"]


def _first_step(g):
    """The first trial step along -g: a move of length about 1 (as scipy's BFGS does), or 1 if |g| < 1."""
    return min(1.0, 1.01 / float(np.linalg.norm(g)))


class LbfgsInverseHessian:
    """The L-BFGS inverse-Hessian approximation as an operator: ``H @ v`` (``matvec``) and ``todense()``."""

    def __init__(self, pairs, gamma, n, dtype):
        self.pairs, self.gamma, self.shape, self.dtype = list(pairs), gamma, (n, n), dtype

    def matvec(self, v):
        return _two_loop(np.asarray(v, dtype=self.dtype), self.pairs, self.gamma)

    def __matmul__(self, v):
        v = np.asarray(v, dtype=self.dtype)
        return self.matvec(v) if v.ndim == 1 else np.stack([self.matvec(c) for c in v.T], axis=1)

    def todense(self):
        return self @ np.eye(self.shape[0], dtype=self.dtype)

    def __repr__(self):
        return f"<LbfgsInverseHessian {self.shape[0]}x{self.shape[1]}, {len(self.pairs)} pairs>"


def _two_loop(q, pairs, gamma):
    """Algorithm 7.4: H_k q from the stored (s, y, rho) pairs, oldest first, and H0 = gamma I."""
    q = q.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * float(np.dot(s, q))
        alphas.append(a)
        q -= a * y
    r = gamma * q
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        b = rho * float(np.dot(y, r))
        r += (a - b) * s
    return r


def minimize_bfgs(run, obj, c1=1e-4, c2=0.9):
    n, dtype = obj.n, obj.dtype
    state = {"H": np.eye(n, dtype=dtype), "updated": False}

    def direction(x, g):
        return -(state["H"] @ g)

    def update(s, y, ls, f_old):
        if s is None:  # reset
            state["H"], state["updated"] = np.eye(n, dtype=dtype), False
            return
        sy = float(np.dot(s, y))
        if not (sy > np.finfo(dtype).eps * float(np.dot(y, y))) or not np.isfinite(sy):
            return
        H = state["H"]
        if not state["updated"]:  # eq. 6.20: scale H0 before the first update
            H = (sy / float(np.dot(y, y))) * np.eye(n, dtype=dtype)
            state["updated"] = True
        rho = 1.0 / sy
        Hy = H @ y
        yHy = float(np.dot(y, Hy))
        # H+ = (I - rho s y') H (I - rho y s') + rho s s'
        H = H - rho * (np.outer(Hy, s) + np.outer(s, Hy)) + (rho * rho * yHy + rho) * np.outer(s, s)
        state["H"] = H.astype(dtype, copy=False)

    def first_alpha(k, f, g, p):
        return _first_step(g) if not state["updated"] else 1.0

    x, f, g, k, status, message = line_search_loop(run, obj, direction, c1, c2, update, first_alpha)
    return run.result(x, f, g, k, status, message, hess_inv=state["H"])


def minimize_lbfgs(run, obj, c1=1e-4, c2=0.9, history_size=10):
    history_size = int(history_size)
    if history_size < 1:
        raise ValueError(f"minimize(method='l-bfgs'): history_size must be >= 1, got {history_size}")
    pairs = deque(maxlen=history_size)
    state = {"gamma": 1.0}

    def direction(x, g):
        return -_two_loop(g, pairs, state["gamma"])

    def update(s, y, ls, f_old):
        if s is None:
            pairs.clear()
            state["gamma"] = 1.0
            return
        sy, yy = float(np.dot(s, y)), float(np.dot(y, y))
        if not (sy > np.finfo(obj.dtype).eps * yy) or not np.isfinite(sy):
            return
        pairs.append((s, y, 1.0 / sy))
        state["gamma"] = sy / yy

    def first_alpha(k, f, g, p):
        return _first_step(g) if not pairs else 1.0

    x, f, g, k, status, message = line_search_loop(run, obj, direction, c1, c2, update, first_alpha)
    return run.result(x, f, g, k, status, message,
                      hess_inv=LbfgsInverseHessian(pairs, state["gamma"], obj.n, obj.dtype))


def minimize_gd(run, obj, c1=1e-4, c2=0.9):
    """Steepest descent; each line search starts from the step that the previous decrease suggests (Nocedal &
    Wright eq. 3.60: alpha0 = 1.01 * 2 (f_k - f_{k-1}) / phi'(0))."""
    state = {"f_prev": None}

    def direction(x, g):
        return -g

    def update(s, y, ls, f_old):
        state["f_prev"] = None if s is None else f_old

    def first_alpha(k, f, g, p):
        if state["f_prev"] is None:
            return _first_step(g)
        alpha = 1.01 * 2.0 * (float(f) - state["f_prev"]) / float(np.dot(g, p))
        return alpha if np.isfinite(alpha) and alpha > 0 else _first_step(g)

    x, f, g, k, status, message = line_search_loop(run, obj, direction, c1, c2, update, first_alpha)
    return run.result(x, f, g, k, status, message)
