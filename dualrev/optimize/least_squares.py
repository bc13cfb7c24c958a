"""Nonlinear least squares, min_x F(x) = |r(x)|^2 / 2, on the exact Jacobian of the residuals: Levenberg-Marquardt
with Nielsen's damping update (``method="lm"``; Madsen, Nielsen & Tingleff, "Methods for non-linear least squares
problems", Algorithm 3.16) and Gauss-Newton with an Armijo backtracking line search (``method="gn"``).

The Jacobian comes from ``dr.jacfwd`` (one forward pass per variable) when there are no more variables than
residuals, else from ``dr.jacrev`` (one backward pass per residual). Steps are solved as linear least-squares
problems ([J; sqrt(mu) I] h = [-r; 0] for LM), not through the normal equations, to keep their accuracy on badly
scaled problems; a sparse Jacobian (``jac="sparse"``) solves the damped normal equations by sparse LU instead. The
residuals are a model (``_problem.Residuals``, ``dualrev.parallel.ShardedResiduals`` on data shards) that evaluates
the cost, the normal equations and the step. The package's structure as for minimize: ``least_squares`` checks
its input and picks the method; each method (``levenberg_marquardt``, ``gauss_newton``) supplies only its step to
the loop shared in ``_driver`` (``least_squares_loop``, with ``LeastSquaresRun``'s stopping rules, report, callback
and result). The result follows
scipy.optimize.least_squares: x, cost, fun, jac, grad, optimality, nfev, njev,
nit, status (1 gtol, 2 ftol, 3 xtol, 0 max_nfev, -2 stopped by the callback, -3 the Gauss-Newton
line search failed), message, success.
"""

from __future__ import annotations

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.optimize._driver import LeastSquaresRun, least_squares_loop
from dualrev.optimize._implicit import has_traced, solve_implicitly
from dualrev.optimize._problem import Residuals, check_args
from dualrev.optimize._result import FTOL, LSQ_LINE_SEARCH
from dualrev.optimize.line_search import OK, backtracking
from dualrev.tree_util import tree_flatten

__all__ = ["least_squares"]


def _flat(out):
    return dnp.reshape(out, (-1,))


def least_squares(residual, x0, method="lm", args=(), jac=None, ftol=1e-8, xtol=1e-8, gtol=1e-8, max_nfev=None,
                  callback=None, disp=False, options=None, jac_sparsity=None, jit=True):
    """Minimise ``0.5 * sum(residual(x, *args) ** 2)`` from ``x0`` (an array or a pytree of arrays).

    ``method``: "lm" (Levenberg-Marquardt, Nielsen's damping update) or "gn" (Gauss-Newton with backtracking).
    ``jac``: None (pick by shape), "fwd" (``dr.jacfwd``) or "rev" (``dr.jacrev``), or "sparse": the Jacobian from
    ``dr.sparse.jacobian`` (pattern detected from the trace, or given as ``jac_sparsity``, a scipy.sparse matrix
    as in scipy's least_squares, which implies "sparse"); J'J stays sparse and the steps solve the damped normal
    equations by sparse LU (needs scipy); ``res.jac`` is then a scipy.sparse matrix. Stops when |J'r|_inf <= gtol,
    when an accepted step reduces the cost by less than ftol * cost, when |h| <= xtol (xtol + |x|), or after
    ``max_nfev`` residual evaluations (default 100 * n). ``options``: "initial_damping" (lm: mu0 = tau max diag
    J'J, tau = 1e-3), "c1" (gn: the Armijo constant, 1e-4). ``callback(intermediate_result)`` is called after
    every iteration; raising StopIteration stops the run. ``jit`` (default True) compiles the Jacobian once with
    ``dr.jit``; ``jit=False`` traces it at every call. ``residual`` may also be a
    ``dualrev.parallel.ShardedResiduals`` (residuals on data shards: the steps then use the sums J'J and J'r, and
    the result's ``fun`` and ``jac`` are None).

    The fitted ``x`` is differentiable with respect to ``args`` (every transform, any order) by the implicit
    function theorem on the gradient of the cost (with its exact Hessian, not the Gauss-Newton one); then ``x``,
    ``fun`` and ``cost`` are traced and the NumPy-only fields (jac, grad, optimality) are left out.

    >>> res = least_squares(lambda x: dnp.stack([10 * (x[1] - x[0] ** 2), 1 - x[0]]), np.array([-1.2, 1.0]))
    >>> res.x, res.cost, res.status
    """
    name = "least_squares"
    if method not in _OPTIONS:
        raise ValueError(f"{name}: unknown method {method!r}; choose one of {sorted(_OPTIONS)}")
    options = dict(options or {})
    unknown = set(options) - _OPTIONS[method]
    if unknown:
        raise ValueError(f"{name}(method={method!r}): unknown option(s) {sorted(unknown)}; valid options: "
                         f"{sorted(_OPTIONS[method])}")
    if jac not in (None, "fwd", "rev", "sparse"):
        raise ValueError(f"{name}: jac must be None, 'fwd', 'rev' or 'sparse', got {jac!r}")
    if jac_sparsity is not None:
        if jac not in (None, "sparse"):
            raise ValueError(f"{name}: jac_sparsity is given, so the Jacobian is sparse; jac={jac!r} contradicts it")
        jac = "sparse"
    if not callable(residual) and not hasattr(residual, "_flat_residuals"):
        raise TypeError(f"{name}: residual must be callable (or a dualrev.parallel.ShardedResiduals)")
    check_args(name, args)
    for tol_name, tol in (("ftol", ftol), ("xtol", xtol), ("gtol", gtol)):
        if not (tol >= 0):
            raise ValueError(f"{name}: {tol_name} must be >= 0, got {tol}")
    flat_residuals = getattr(residual, "_flat_residuals", None)
    if flat_residuals is None and has_traced(x0, args):  # differentiable w.r.t. args: implicit differentiation
        def solve(x0, args):
            return least_squares(residual, x0, method, args, jac, ftol, xtol, gtol, max_nfev, callback, disp, options,
                                 jac_sparsity, jit)

        def gradient(x, args):
            g = dr.grad(lambda v: 0.5 * dnp.sum(_flat(residual(v, *args)) ** 2))(x)
            return dnp.concatenate([dnp.reshape(leaf, (-1,)) for leaf in tree_flatten(g)[0]])

        res = solve_implicitly(name, "gradient of the cost", x0, args, gradient, solve,
                               value=lambda x, args: _flat(residual(x, *args)))
        res.cost = 0.5 * dnp.sum(res.fun**2)
        return res
    if flat_residuals is not None:  # residuals that evaluate themselves (dualrev.parallel.ShardedResiduals)
        model = flat_residuals(name, x0, args)
    else:
        model = Residuals(name, residual, x0, args, jac, jac_sparsity, jit)
    max_nfev = 100 * model.x0.size if max_nfev is None else int(max_nfev)
    run = LeastSquaresRun(model, method, gtol, xtol, max_nfev, callback, disp)
    return METHODS[method](run, model, ftol, **options)


def _ftol_met(reduction, cost, ftol):
    """The ftol test on an accepted step: it reduced the cost by at most ftol times the cost before it."""
    return reduction <= ftol * (cost + reduction)


def levenberg_marquardt(run, model, ftol, initial_damping=1e-3):
    """Levenberg-Marquardt with Nielsen's damping update (Madsen, Nielsen & Tingleff, Algorithm 3.16): the step
    solves (J'J + mu I) h = -J'r; rho = actual / predicted reduction accepts it (rho > 0) and updates mu."""
    x, cost, A, g = run.start()
    dtype = x.dtype
    mu = float(initial_damping) * max(float(np.max(A.diagonal())), np.finfo(dtype).tiny)
    nu = 2.0

    def direction(g):
        return model.step(mu)

    def advance(k, x, cost, g, h):
        nonlocal mu, nu
        x_new = (x + h).astype(dtype)
        cost_new = model.cost(x_new)
        predicted = 0.5 * float(np.dot(h, mu * h - g))
        rho = (cost - cost_new) / predicted if np.isfinite(cost_new) and predicted > 0 else -np.inf
        if not rho > 0:  # rejected: more damping, growing faster while steps keep failing
            mu *= nu
            nu *= 2.0
            return x, cost, g, 0.0, None, None
        _, g_new = model.normal_equations(x_new)
        mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
        nu = 2.0
        status = FTOL if _ftol_met(cost - cost_new, cost_new, ftol) else None
        return x_new, cost_new, g_new, float(np.linalg.norm(h)), status, None

    return run.result(*least_squares_loop(run, x, cost, g, direction, advance))


def gauss_newton(run, model, ftol, c1=1e-4):
    """Gauss-Newton: the step solves J h = -r in the least-squares sense; an Armijo backtracking line search on the
    cost from the unit step."""
    x, cost, _, g = run.start()
    dtype = x.dtype
    c1 = float(c1)

    def direction(g):
        return model.step(None)

    def advance(k, x, cost, g, h):
        def cost_at(alpha):
            return model.cost((x + alpha * h).astype(dtype))

        alpha, cost_new, ls_status = backtracking(cost_at, cost, float(np.dot(g, h)), 1.0, c1)
        if ls_status != OK:
            return x, cost, g, 0.0, LSQ_LINE_SEARCH, ("Desired error not necessarily achieved due to precision "
                                                      f"loss: the Gauss-Newton line search failed at iteration {k}.")
        reduction = cost - cost_new
        x = (x + alpha * h).astype(dtype)
        cost = model.cost_of_last(x)  # the line search's last trial is the accepted point
        _, g = model.normal_equations(x)
        status = FTOL if _ftol_met(reduction, cost, ftol) else None
        return x, cost, g, alpha * float(np.linalg.norm(h)), status, None

    return run.result(*least_squares_loop(run, x, cost, g, direction, advance))


# method -> its step (through least_squares_loop); the options each takes are its keyword arguments
METHODS = {"lm": levenberg_marquardt, "gn": gauss_newton}
_OPTIONS = {"lm": {"initial_damping"}, "gn": {"c1"}}
