"""Nonlinear least squares, min_x F(x) = |r(x)|^2 / 2, on the exact Jacobian of the residuals: Levenberg-Marquardt
with Nielsen's damping update (``method="lm"``; Madsen, Nielsen & Tingleff, "Methods for non-linear least squares
problems", Algorithm 3.16) and Gauss-Newton with an Armijo backtracking line search (``method="gn"``).

The Jacobian comes from ``dr.jacfwd`` (one forward pass per variable) when there are no more variables than
residuals, else from ``dr.jacrev`` (one backward pass per residual). Steps are solved as linear least-squares
problems ([J; sqrt(mu) I] h = [-r; 0] for LM), not through the normal equations, to keep their accuracy on badly
scaled problems; a sparse Jacobian (``jac="sparse"``) solves the damped normal equations by sparse LU instead. The
residuals are a model (``_Residuals`` here, ``dualrev.parallel.ShardedResiduals`` on data shards) that evaluates
the cost, the normal equations and the step; the loop below is the same for all. The result follows
scipy.optimize.least_squares: x, cost, fun, jac, grad, optimality, nfev, njev,
nit, status (1 gtol, 2 ftol, 3 xtol, 0 max_nfev, -2 stopped by the callback, -3 the Gauss-Newton
line search failed), message, success.
"""

from __future__ import annotations

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import Tracer
from dualrev.optimize._implicit import has_traced, solve_implicitly
from dualrev.optimize._problem import _ARITH_ERRORS, ravel_pytree
from dualrev.optimize._result import OptimizeResult, inf_norm
from dualrev.optimize.line_search import OK, backtracking
from dualrev.tree_util import tree_flatten

__all__ = ["least_squares"]


def _flat(out):
    return dnp.reshape(out, (-1,))

_MESSAGES = {
    1: "`gtol` termination condition is satisfied.",
    2: "`ftol` termination condition is satisfied.",
    3: "`xtol` termination condition is satisfied.",
    0: "The maximum number of function evaluations is exceeded.",
    -2: "`callback` raised `StopIteration`.",
}

_OPTIONS = {"lm": {"initial_damping"}, "gn": {"c1"}}


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
    if not isinstance(args, tuple):
        raise TypeError(f"{name}: args must be a tuple, got {type(args).__name__}")
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
        model = _Residuals(name, residual, x0, args, jac, jac_sparsity, jit)
    flat0, unravel, dtype, n = model.x0, model.unravel, model.x0.dtype, model.x0.size
    max_nfev = 100 * n if max_nfev is None else int(max_nfev)
    counts = model.counts
    x = flat0.copy()
    cost = model.cost(x)
    A, g = model.normal_equations(x)
    if disp:
        print(f"dualrev.optimize.least_squares(method={method!r}), {n} variables, {model.describe}")
        print(f"{'iter':>6} {'cost':>16} {'|grad|':>11} {'step':>11} {'nfev':>6} {'njev':>6}")
        print(f"{0:6d} {cost:16.8e} {inf_norm(g):11.3e} {'':>11} {counts['nfev']:6d} {counts['njev']:6d}")
    status, message = None, None
    nit = 0
    mu = float(options.get("initial_damping", 1e-3)) * max(float(np.max(A.diagonal())), np.finfo(dtype).tiny)
    nu = 2.0
    c1 = float(options.get("c1", 1e-4))
    while status is None:
        if inf_norm(g) <= gtol:
            status = 1
            break
        if counts["nfev"] >= max_nfev:
            status = 0
            break
        xnorm = float(np.linalg.norm(x))
        h = model.step(mu if method == "lm" else None)
        hnorm = float(np.linalg.norm(h))
        if hnorm <= xtol * (xtol + xnorm):
            status = 3
            break
        if method == "lm":
            x_new = (x + h).astype(dtype)
            cost_new = model.cost(x_new)
            predicted = 0.5 * float(np.dot(h, mu * h - g))
            rho = (cost - cost_new) / predicted if np.isfinite(cost_new) and predicted > 0 else -np.inf
            step = 0.0
            if rho > 0:
                reduction = cost - cost_new
                x, cost = x_new, cost_new
                A, g = model.normal_equations(x)
                mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
                step = hnorm
                if reduction <= ftol * (cost + reduction):
                    status = 2
            else:
                mu *= nu
                nu *= 2.0
        else:
            dphi0 = float(np.dot(g, h))

            def cost_at(alpha, x=x, h=h):
                return model.cost((x + alpha * h).astype(dtype))

            alpha, cost_new, ls_status = backtracking(cost_at, cost, dphi0, 1.0, c1)
            if ls_status != OK:
                status, message = -3, ("Desired error not necessarily achieved due to precision loss: the "
                                       f"Gauss-Newton line search failed at iteration {nit}.")
                break
            reduction = cost - cost_new
            x = (x + alpha * h).astype(dtype)
            cost = model.cost_of_last(x)  # the line search's last trial is the accepted point
            A, g = model.normal_equations(x)
            step = alpha * hnorm
            if reduction <= ftol * (cost + reduction):
                status = 2
        nit += 1
        if disp:
            print(f"{nit:6d} {cost:16.8e} {inf_norm(g):11.3e} {step:11.3e} {counts['nfev']:6d} {counts['njev']:6d}")
        if callback is not None:
            try:
                callback(OptimizeResult(x=unravel.numpy(x), cost=cost, nit=nit, grad=g, **model.fields(copy=True)))
            except StopIteration:
                status = -2
    message = message or _MESSAGES[status]
    if disp:
        print(message)
    return OptimizeResult(x=unravel.numpy(x), cost=cost, grad=g, optimality=inf_norm(g),
                          active_mask=np.zeros(n, dtype=int), nfev=counts["nfev"], njev=counts["njev"], nit=nit,
                          status=status, message=message, success=status > 0, method=method, **model.fields())


class _Residuals:
    """A local residual function: r and its Jacobian J held in memory; steps solved as linear least-squares problems
    on J (never through the normal equations, to keep their accuracy on badly scaled problems), or for a sparse J
    the damped normal equations by sparse LU (J'J stays sparse)."""

    def __init__(self, name, residual, x0, args, jac, jac_sparsity=None, jit=True):
        flat0, unravel = ravel_pytree(x0, f"{name}: x0")
        if not np.all(np.isfinite(flat0)):
            raise ValueError(f"{name}: x0 contains NaN or infinite values")
        self.x0, self.unravel = flat0, unravel
        n, dtype = flat0.size, flat0.dtype
        fname = getattr(residual, "__name__", type(residual).__name__)

        def r_flat(v):
            return dnp.reshape(residual(unravel(v), *args), (-1,))

        # the checks at x0: a clear error before iterating
        try:
            with np.errstate(all="ignore"):  # a non-finite residual is reported below
                r0 = residual(unravel.numpy(flat0), *args)
        except Exception as e:
            raise ValueError(f"{name}: evaluating {fname} at x0 failed with {type(e).__name__}: {e}. Check that x0 "
                             "has the shape and structure the residual function expects.") from e
        if isinstance(r0, Tracer):
            raise TypeError(f"{name}: {fname} returned a traced value at a plain x: it uses a value that is being "
                            "differentiated from its closure; pass that value through args=(...) instead")
        r0 = np.asarray(r0)
        if r0.dtype.kind not in "fiu":
            raise TypeError(f"{name}: the residuals must be real, {fname}(x0) returned dtype {r0.dtype}")
        if r0.size == 0:
            raise ValueError(f"{name}: {fname}(x0) returned no residuals")
        if not np.all(np.isfinite(r0)):
            raise ValueError(f"{name}: the residuals are not finite at x0")
        self.name, self.r_flat, self.n, self.m, self.dtype = name, r_flat, n, r0.size, dtype
        mode = jac or ("fwd" if n <= self.m else "rev")
        self.sparse = mode == "sparse"
        if self.sparse:
            sparse_jac = dr.sparse.jacobian(r_flat, sparsity=jac_sparsity, jit=jit)

            def jac_fun(v):
                J = sparse_jac(v)
                return J if J.dtype == dtype else J.astype(dtype)

            self.jac_fun = jac_fun
        else:
            self.jac_fun = dr.jacfwd(r_flat) if mode == "fwd" else dr.jacrev(r_flat)
            if jit:  # compiled once, replayed at every iteration (eager again if its guards keep failing)
                self.jac_fun = dr.jit(self.jac_fun)
        self.describe = f"{self.m} residuals ({mode} Jacobian)"
        self.counts = {"nfev": 0, "njev": 0}
        self.trial = None  # (x, r) of the last residual evaluation

    def cost(self, x):
        """0.5 |r(x)|^2 (NaN where the residual raises an arithmetic error); keeps r for ``normal_equations``."""
        self.counts["nfev"] += 1
        try:
            with np.errstate(all="ignore"):
                r = np.asarray(self.r_flat(x), dtype=self.dtype)
        except _ARITH_ERRORS:
            r = np.full(self.m, np.nan, self.dtype)
        self.trial = (x, r)
        return 0.5 * float(np.dot(r, r))

    def cost_of_last(self, x):
        return 0.5 * float(np.dot(self.trial[1], self.trial[1]))

    def normal_equations(self, x):
        """(J'J, J'r) at an accepted point x (r from its cost evaluation); keeps r and J for the steps."""
        if self.trial is None or not np.array_equal(self.trial[0], x):
            self.cost(x)
        self.r = self.trial[1]
        self.counts["njev"] += 1
        with np.errstate(all="ignore"):
            J = self.jac_fun(x)
            self.J = J if self.sparse else np.asarray(J, dtype=self.dtype).reshape(self.m, self.n)
        if self.counts["njev"] == 1 and not np.all(np.isfinite(self.J.data if self.sparse else self.J)):
            raise ValueError(f"{self.name}: the Jacobian of the residuals is not finite at x0")
        self.A, self.g = (self.J.T @ self.J).tocsc() if self.sparse else self.J.T @ self.J, self.J.T @ self.r
        return self.A, self.g

    def step(self, mu):
        """The Levenberg-Marquardt step for damping ``mu`` ([J; sqrt(mu) I] h = [-r; 0]), or Gauss-Newton's."""
        J, r, n, dtype = self.J, self.r, self.n, self.dtype
        if self.sparse:  # the damped normal equations (J'J + mu I) h = -g; Gauss-Newton with a tiny damping
            from dualrev.optimize._sparse import damped_solve

            tiny = float(np.finfo(dtype).eps) * max(float(np.max(self.A.diagonal())), 1.0)
            return np.asarray(damped_solve(self.A, -self.g, tiny if mu is None else mu), dtype=dtype)
        if mu is None:
            return np.linalg.lstsq(J, -r, rcond=None)[0].astype(dtype)
        aug = np.concatenate([J, np.diag(np.full(n, np.sqrt(mu), dtype))])
        return np.linalg.lstsq(aug, np.concatenate([-r, np.zeros(n, dtype)]), rcond=None)[0].astype(dtype)

    def fields(self, copy=False):
        return {"fun": self.r.copy() if copy else self.r, "jac": self.J}
