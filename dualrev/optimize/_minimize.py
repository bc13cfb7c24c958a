"""``minimize``: argument and option checking, then dispatch to the method's implementation."""

from __future__ import annotations

import numbers

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.optimize._driver import Run
from dualrev.optimize._implicit import solve_implicitly
from dualrev.optimize._problem import Objective
from dualrev.optimize.newton import minimize_newton, minimize_newton_cg
from dualrev.optimize.quasi_newton import minimize_bfgs, minimize_gd, minimize_lbfgs
from dualrev.optimize.trust_region import minimize_trust_exact, minimize_trust_ncg
from dualrev.tree_util import tree_flatten

__all__ = ["METHODS", "minimize"]

_LINE_SEARCH = {"c1", "c2"}
# method -> (implementation, its own options, default maxiter as a function of n)
METHODS = {
    "newton": (minimize_newton, _LINE_SEARCH | {"hessian_modification", "sparse"}, lambda n: 200 * n),
    "newton-cg": (minimize_newton_cg, _LINE_SEARCH | {"cg_maxiter"}, lambda n: 200 * n),
    "trust-exact": (minimize_trust_exact, {"initial_trust_radius", "max_trust_radius", "eta", "sparse"},
                    lambda n: 200 * n),
    "trust-ncg": (minimize_trust_ncg, {"initial_trust_radius", "max_trust_radius", "eta", "cg_maxiter"},
                  lambda n: 200 * n),
    "bfgs": (minimize_bfgs, _LINE_SEARCH, lambda n: 200 * n),
    "l-bfgs": (minimize_lbfgs, _LINE_SEARCH | {"history_size"}, lambda n: 15000),
    "gd": (minimize_gd, _LINE_SEARCH, lambda n: max(10000, 200 * n)),
}
_ALIASES = {"lbfgs": "l-bfgs", "newtoncg": "newton-cg", "trustncg": "trust-ncg", "trustexact": "trust-exact",
            "gradientdescent": "gd"}
_COMMON = {"gtol", "maxiter", "disp"}


def _method_name(method) -> str:
    if not isinstance(method, str):
        raise TypeError(f"minimize: method must be a string, got {type(method).__name__}")
    key = method.strip().lower().replace("_", "-")
    key = _ALIASES.get(key.replace("-", ""), _ALIASES.get(key, key))
    if key not in METHODS:
        raise ValueError(f"minimize: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return key


def _check_options(method, options):
    c1, c2 = options.get("c1", 1e-4), options.get("c2", 0.9)
    if not 0 < c1 < c2 < 1:
        raise ValueError(f"minimize(method={method!r}): the line search needs 0 < c1 < c2 < 1, got c1={c1}, "
                         f"c2={c2}")
    gtol = options.get("gtol")
    if gtol is not None and not (isinstance(gtol, numbers.Real) and gtol >= 0):
        raise ValueError(f"minimize(method={method!r}): gtol must be a number >= 0, got {gtol!r}")
    maxiter = options.get("maxiter")
    if maxiter is not None and not (isinstance(maxiter, numbers.Integral) and maxiter >= 0):
        raise ValueError(f"minimize(method={method!r}): maxiter must be an integer >= 0, got {maxiter!r}")
    mod = options.get("hessian_modification", "cholesky")
    if mod not in ("cholesky", "eigen"):
        raise ValueError(f"minimize(method='newton'): hessian_modification must be 'cholesky' or 'eigen', got "
                         f"{mod!r}")


def minimize(fun, x0, method="bfgs", args=(), tol=None, maxiter=None, callback=None, disp=False, options=None,
             jit=True):
    """Minimise the scalar function ``fun(x, *args)`` from ``x0`` with exact derivatives from dualrev.

    ``x0`` is a float array or a pytree of them; ``result.x`` has the same structure and dtypes. ``fun`` is
    written with ``dualrev.numpy`` (or plain NumPy on traced values) and returns a scalar; its gradient
    (``dr.value_and_grad``), Hessian (``dr.hessian``) and Hessian-vector products come from dualrev.
    ``fun`` may also be a ``dualrev.parallel.ShardedObjective``: a sum over data shards evaluated where they live.

    Methods: "newton" (exact Hessian, modified when not positive definite, line search), "trust-exact" (exact
    Hessian, nearly exact trust-region subproblem), "newton-cg" (truncated Newton on Hessian-vector products),
    "trust-ncg" (Steihaug CG in a trust region), "bfgs", "l-bfgs" (two-loop recursion), "gd" (steepest descent).
    All stop when ``|grad|_inf <= gtol`` (``tol`` sets gtol; default 1e-5).

    ``options`` (per method): gtol, maxiter; c1, c2 (line-search methods: the Wolfe constants, 1e-4 and 0.9);
    hessian_modification ("cholesky" or "eigen", newton); cg_maxiter (newton-cg, trust-ncg); history_size
    (l-bfgs, 10); initial_trust_radius (1.0), max_trust_radius (1000.0), eta (0.15) (trust-exact, trust-ncg);
    sparse (newton, trust-exact: True to use ``dr.sparse.hessian`` with the pattern detected from the trace, or a
    scipy.sparse pattern; the Hessian stays a scipy.sparse matrix and is factored by sparse LU; needs scipy).

    ``callback(intermediate_result)`` is called after each iteration with an OptimizeResult holding x, fun, jac and
    nit; raising StopIteration in it ends the run (status 99). ``disp=True`` prints a table of the iterations.

    ``jit`` (default True): the gradient, Hessian and Hessian-vector products are compiled once with ``dr.jit``
    and replayed at every iteration (captured ``args`` are constants of the compiled code); ``jit=False`` traces
    them eagerly at every call. A function whose Python branches keep changing falls back to eager with a warning.

    Returns an ``OptimizeResult`` (x, fun, jac, nit, nfev, njev, nhev, success, status, message; hess for newton
    and trust-exact, hess_inv for bfgs and l-bfgs). Status: 0 converged, 1 maxiter, 2 line search failed or
    precision loss, 3 divergence, 99 stopped by the callback.

    The argmin is differentiable with respect to ``args`` (pytrees of arrays; bilevel problems, hyperparameter
    gradients) by every transform, at any order, by the implicit function theorem on grad f(x*, args) = 0:
    dx*/dargs = -H^-1 d(grad f)/dargs, with the exact Hessian H at x*. Then ``x`` and ``fun`` are traced and the
    NumPy-only fields (jac, hess, hess_inv) are left out; a derivative of a failed run or at a singular Hessian
    raises ValueError. Bad input (a non-scalar or non-finite objective at x0, an x0 that
    ``fun`` cannot take, an unknown method or option) raises before the first iteration.

    >>> res = minimize(lambda x: dnp.sum((x - 1.0) ** 2), np.zeros(3), method="newton")
    >>> res.x, res.nit
    (array([1., 1., 1.]), 1)
    """
    key = _method_name(method)
    impl, own, default_maxiter = METHODS[key]
    options = dict(options or {})
    unknown = set(options) - own - _COMMON
    if unknown:
        raise ValueError(f"minimize(method={key!r}): unknown option(s) {sorted(unknown)}; valid options: "
                         f"{sorted(own | _COMMON)}")
    if tol is not None:
        options.setdefault("gtol", tol)
    if maxiter is not None:
        if "maxiter" in options and options["maxiter"] != maxiter:
            raise ValueError(f"minimize: maxiter given twice, as {maxiter} and options['maxiter'] = "
                             f"{options['maxiter']}")
        options["maxiter"] = maxiter
    disp = bool(options.pop("disp", disp) or disp)
    _check_options(key, options)
    if callback is not None and not callable(callback):
        raise TypeError("minimize: callback must be callable or None")
    if not isinstance(args, tuple):
        raise TypeError(f"minimize: args must be a tuple, got {type(args).__name__}")
    if options.get("sparse", False) is not False:
        from dualrev.optimize._sparse import check_sparse_option

        options["sparse"] = check_sparse_option(f"minimize(method={key!r})", options["sparse"])
    gtol = float(options.pop("gtol", 1e-5))
    maxiter = options.pop("maxiter", None)

    def solve(x0, args):
        # an objective that evaluates itself (dualrev.parallel.ShardedObjective) hands over its own flat problem
        flat_objective = getattr(fun, "_flat_objective", None)
        obj = flat_objective("minimize", x0, args) if flat_objective else Objective("minimize", fun, x0, args, jit=jit)
        run = Run(obj, key, gtol, default_maxiter(obj.n) if maxiter is None else int(maxiter), callback, disp)
        return impl(run, obj, **options)

    def gradient(x, args):  # the argmin solves gradient = 0: differentiable w.r.t. args (implicit function theorem)
        leaves = tree_flatten(dr.grad(lambda v: _scalar(fun(v, *args)))(x))[0]
        return dnp.concatenate([dnp.reshape(g, (-1,)) for g in leaves])

    def value(x, args):
        return _scalar(fun(x, *args))

    return solve_implicitly("minimize", "gradient", x0, args, gradient, solve, value=value)


def _scalar(out):
    return dnp.reshape(out, ()) if np.ndim(out) else out
