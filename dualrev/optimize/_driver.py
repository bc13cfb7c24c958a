"""What every minimiser shares: the checks at x0, the iteration report and callback, divergence checks, the
line-search loop (newton, newton-cg, bfgs, l-bfgs, gd) and the construction of the result."""

from __future__ import annotations

import numpy as np

from dualrev.optimize._result import (
    CALLBACK,
    DIVERGED,
    LINE_SEARCH,
    MAXITER,
    MESSAGES,
    SUCCESS,
    OptimizeResult,
    Reporter,
    inf_norm,
)
from dualrev.optimize.line_search import FAILED, UNBOUNDED, strong_wolfe

# |x| beyond this many times max(1, |x0|) counts as divergence.
X_DIVERGENCE = 1e100


class Run:
    """One minimisation: the objective (``problem.Objective``), the stopping rule ``|grad|_inf <= gtol``, the
    iteration limit, the report and the callback."""

    def __init__(self, obj, method, gtol, maxiter, callback, disp):
        self.obj, self.method = obj, method
        self.gtol, self.maxiter = gtol, maxiter
        self.callback = callback
        self.report = Reporter(disp, method, obj.n)
        self.x_scale = max(1.0, inf_norm(obj.x0))

    def start(self):
        f, g = self.obj.check_x0()
        self.report.row(0, f, inf_norm(g), None, self.obj.counts)
        return f, g

    def stop_reason(self, k, g):
        """``(status, message)`` if the run ends before iteration ``k + 1`` (``|g|_inf <= gtol``, or ``k`` is
        the iteration limit), else None."""
        if inf_norm(g) <= self.gtol:
            return SUCCESS, None
        if k >= self.maxiter:
            return MAXITER, MESSAGES[MAXITER]
        return None

    def step_done(self, k, x, f, g, step):
        """Report iteration ``k`` and call the callback; returns True if the callback asked to stop."""
        self.report.row(k, f, inf_norm(g), step, self.obj.counts)
        if self.callback is not None:
            unravel = self.obj.unravel.numpy
            info = OptimizeResult(x=unravel(x), fun=f, jac=unravel(g), nit=k)
            try:
                self.callback(info)
            except StopIteration:
                return True
        return False

    def diverged(self, x, f) -> str | None:
        """A message if the run has diverged (f = -inf, NaN, or |x| beyond any sensible scale), else None."""
        if not np.isfinite(f):
            return f"Divergence: the objective became {float(f)} (unbounded below)."
        if inf_norm(x) > X_DIVERGENCE * self.x_scale:
            return f"Divergence: |x| grew to {inf_norm(x):.3e} (the objective appears unbounded below)."
        return None

    def line_search_message(self, ls, k, g):
        if ls.status == UNBOUNDED:
            return DIVERGED, (f"Divergence: the objective decreased without bound along the search direction at "
                              f"iteration {k} (f = {float(ls.f):.6g} at step {ls.alpha:.3g}).")
        assert ls.status == FAILED
        return LINE_SEARCH, ("Desired error not necessarily achieved due to precision loss: the line search at "
                             f"iteration {k} found no step that decreases f (|grad| = {inf_norm(g):.3e}).")

    def result(self, x, f, g, nit, status, message=None, **extra):
        unravel = self.obj.unravel.numpy
        c = self.obj.counts
        res = OptimizeResult(x=unravel(x), fun=f, jac=unravel(g), nit=nit, nfev=c.nfev, njev=c.njev, nhev=c.nhev,
                             status=status, success=status == SUCCESS,
                             message=message if message is not None else MESSAGES[status])
        res.update(extra)
        self.report.summary(res)
        return res


def stopped_by_callback():
    return CALLBACK, MESSAGES[CALLBACK]


def line_search_loop(run, obj, direction, c1, c2, update=None, first_alpha=None):
    """The loop shared by the line-search methods: p = direction(x, g), a strong-Wolfe step along it, then
    ``update(s, y, ls, f_old)`` (``update(None, None, None, f)`` when the direction lost descent and the method
    should reset). ``direction`` returns None when the curvature it needs is not finite (divergence).
    ``first_alpha(k, f, g, p)`` gives the first trial step (default 1).

    Returns ``(x, f, g, iterations, status, message)``.
    """
    x = obj.x0.copy()
    f, g = run.start()
    k, message = 0, None
    while True:
        stop = run.stop_reason(k, g)
        if stop:
            status, message = stop
            break
        p = direction(x, g)
        if p is None:
            status, message = DIVERGED, f"Divergence: the curvature is not finite at iteration {k}."
            break
        if not (np.dot(g, p) < 0) or not np.all(np.isfinite(p)):
            p = -g  # lost descent (rounding, or an indefinite model): restart from steepest descent
            if update is not None:
                update(None, None, None, f)
        ls = strong_wolfe(obj, x, p, f, g, 1.0 if first_alpha is None else first_alpha(k, f, g, p), c1, c2)
        if ls.status in (FAILED, UNBOUNDED):
            status, message = run.line_search_message(ls, k, g)
            break
        x_new = (x + ls.alpha * p).astype(x.dtype)
        s, y = x_new - x, ls.g - g
        if update is not None:
            update(s, y, ls, float(f))
        x, f, g = x_new, ls.f, ls.g
        k += 1
        message = run.diverged(x, f)
        if message:
            status = DIVERGED
            break
        if run.step_done(k, x, f, g, float(np.linalg.norm(s))):
            status, message = stopped_by_callback()
            break
    return x, f, g, k, status, message
