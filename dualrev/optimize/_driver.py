"""What every minimiser shares: the checks at x0, the iteration report and callback, divergence checks, the
line-search loop (newton, newton-cg, bfgs, l-bfgs, gd) and the construction of the result; the same for
least_squares (``LeastSquaresRun`` and ``least_squares_loop``, whose methods lm and gn supply only their step)."""

from __future__ import annotations

import numpy as np

from dualrev.optimize._result import (
    CALLBACK,
    DIVERGED,
    GTOL,
    LINE_SEARCH,
    LSQ_CALLBACK,
    LSQ_LINE_SEARCH,
    LSQ_MESSAGES,
    MAX_NFEV,
    MAXITER,
    MESSAGES,
    SUCCESS,
    XTOL,
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


class LeastSquaresRun:
    """One least-squares solve on a residual model (``problem.Residuals`` or dualrev.parallel's sharded residuals):
    the stopping rules (|J'r|_inf <= gtol, the evaluation limit, |h| <= xtol (xtol + |x|); ftol is the methods'),
    the report and the callback, and the result in scipy.optimize.least_squares' form."""

    def __init__(self, model, method, gtol, xtol, max_nfev, callback, disp):
        self.model, self.method = model, method
        self.gtol, self.xtol, self.max_nfev = gtol, xtol, max_nfev
        self.callback, self.disp = callback, disp

    def start(self):
        """The cost and the normal equations at x0: ``(x0, cost, J'J, J'r)``; prints the report's first rows."""
        model = self.model
        x = model.x0.copy()
        cost = model.cost(x)
        A, g = model.normal_equations(x)
        if self.disp:
            print(f"dualrev.optimize.least_squares(method={self.method!r}), {x.size} variables, {model.describe}")
            print(f"{'iter':>6} {'cost':>16} {'|grad|':>11} {'step':>11} {'nfev':>6} {'njev':>6}")
            self._row(0, cost, g, "")
        return x, cost, A, g

    def _row(self, k, cost, g, step_text):
        counts = self.model.counts
        print(f"{k:6d} {cost:16.8e} {inf_norm(g):11.3e} {step_text:>11} {counts['nfev']:6d} {counts['njev']:6d}")

    def stop_reason(self, g):
        """The status if the run ends before the next step (gtol, or the evaluation limit), else None."""
        if inf_norm(g) <= self.gtol:
            return GTOL
        if self.model.counts["nfev"] >= self.max_nfev:
            return MAX_NFEV
        return None

    def small_step(self, x, h) -> bool:
        """The xtol test on a proposed step h."""
        return float(np.linalg.norm(h)) <= self.xtol * (self.xtol + float(np.linalg.norm(x)))

    def step_done(self, k, x, cost, g, step):
        """Report iteration ``k`` and call the callback; returns True if the callback asked to stop."""
        if self.disp:
            self._row(k, cost, g, f"{step:11.3e}")
        if self.callback is not None:
            try:
                self.callback(OptimizeResult(x=self.model.unravel.numpy(x), cost=cost, nit=k, grad=g,
                                             **self.model.fields(copy=True)))
            except StopIteration:
                return True
        return False

    def result(self, x, cost, g, nit, status, message=None):
        message = message or LSQ_MESSAGES[status]
        if self.disp:
            print(message)
        counts = self.model.counts
        return OptimizeResult(x=self.model.unravel.numpy(x), cost=cost, grad=g, optimality=inf_norm(g),
                              active_mask=np.zeros(x.size, dtype=int), nfev=counts["nfev"], njev=counts["njev"],
                              nit=nit, status=status, message=message, success=status > 0, method=self.method,
                              **self.model.fields())


def least_squares_loop(run, x, cost, g, direction, advance):
    """The loop shared by the least-squares methods, from x with its cost and gradient J'r. Each iteration asks
    ``direction(g)`` for a step h (stopping if it is below xtol), then ``advance(k, x, cost, g, h)`` for the next
    ``(x, cost, g, step length, status, message)``: status None to go on, FTOL to stop after reporting this
    iteration, LSQ_LINE_SEARCH to stop at once (no step was taken).

    Returns ``(x, cost, g, iterations, status, message)``.
    """
    k, status, message = 0, None, None
    while status is None:
        status = run.stop_reason(g)
        if status is not None:
            break
        h = direction(g)
        if run.small_step(x, h):
            status = XTOL
            break
        x, cost, g, step, status, message = advance(k, x, cost, g, h)
        if status == LSQ_LINE_SEARCH:
            break
        k += 1
        if run.step_done(k, x, cost, g, step):
            status = LSQ_CALLBACK
    return x, cost, g, k, status, message
