"""Roots of square systems F(x) = 0 (``root``) and fixed points x = f(x) (``fixed_point``), with scipy's interfaces;
both solutions are differentiable with respect to ``args`` (``_implicit``: the implicit function theorem).

- ``root(method="hybr")``: Powell's hybrid (dogleg trust-region) method as in MINPACK's hybrj (Moré, Garbow &
  Hillstrom, "User guide for MINPACK-1", 1980): the same scaling by the Jacobian's column norms, radius updates and
  stopping tests (less the one on Broyden updates that make no progress), but with the exact Jacobian
  (``dr.jacfwd``, or ``dr.jacrev`` on request) at every accepted point instead of Broyden updates, and the
  Gauss-Newton step from a least-squares solve (so a singular Jacobian still gives a step). A run is reported
  converged only when the Newton step itself is small (MINPACK's radius test alone can report a local minimum of
  |F| that is not a root).
- ``root(method="lm")``: ``least_squares(method="lm")`` on the residuals F; its statuses, and status 5 (not a
  success) when it stops at a minimum of |F| that is not a root.
- ``fixed_point``: Steffensen's iteration with Aitken's delta-squared acceleration ("del2") or plain iteration,
  componentwise, as scipy.optimize.fixed_point.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import Tracer
from dualrev.optimize._implicit import solve_implicitly
from dualrev.optimize._problem import _ARITH_ERRORS, ravel_x0
from dualrev.optimize._result import OptimizeResult
from dualrev.optimize.least_squares import least_squares
from dualrev.tree_util import tree_flatten

__all__ = ["fixed_point", "root"]

_HYBR_MESSAGES = {
    1: "The solution converged.",
    2: "The number of calls to function has reached maxfev = {maxfev}.",
    3: "xtol={xtol:f} is too small, no further improvement in the approximate solution is possible.",
    5: "The iteration is not making good progress, as measured by the improvement from the last ten iterations.",
}
_OPTIONS = {"hybr": {"xtol", "maxfev", "factor", "diag"}, "lm": {"xtol", "ftol", "gtol", "maxiter"}}
_SQUARE = ("root solves square systems (as many equations as unknowns): for an over- or under-determined system "
           "use dualrev.optimize.least_squares")
_UNSUPPORTED = ("broyden1", "broyden2", "anderson", "linearmixing", "diagbroyden", "excitingmixing", "krylov",
                "df-sane")


def _name(fun):
    return getattr(fun, "__name__", type(fun).__name__)


def _flat(out):
    """A function's output (an array, a list, a pytree of arrays) as one flat vector."""
    leaves = tree_flatten(out)[0]
    if len(leaves) == 1:
        return dnp.reshape(leaves[0], (-1,))
    return dnp.concatenate([dnp.reshape(leaf, (-1,)) for leaf in leaves])


class _System:
    """F(x, *args) as a function of the flat vector: counted values and exact Jacobians, with the checks at x0.
    ``square`` says what F must match in an error message."""

    def __init__(self, caller, fun, x0, args, jac, square):
        self.caller, self.fun, self.args, self.name = caller, fun, args, _name(fun)
        self.x0, self.unravel = ravel_x0(x0, f"{caller}: x0")
        self.n, self.dtype = self.x0.size, self.x0.dtype
        self.nfev = self.njev = 0
        if not np.all(np.isfinite(self.x0)):
            raise ValueError(f"{caller}: x0 contains NaN or infinite values")
        try:
            with np.errstate(all="ignore"):  # a non-finite value is reported below
                out = fun(self.unravel.numpy(self.x0), *args)
            leaves = tree_flatten(out)[0]
        except Exception as e:
            raise ValueError(f"{caller}: evaluating {self.name} at x0 failed with {type(e).__name__}: {e}. Check "
                             "that x0 has the shape and structure fun expects.") from e
        if any(isinstance(leaf, Tracer) for leaf in leaves):
            raise TypeError(f"{caller}: {self.name} returned a traced value at a plain x: it uses a value that is "
                            "being differentiated from its closure; pass that value through args=(...) instead")
        arrays = [np.asarray(leaf) for leaf in leaves]
        for a in arrays:
            if a.dtype.kind not in "fiu":
                raise TypeError(f"{caller}: {self.name} must return real numbers, {self.name}(x0) returned dtype "
                                f"{a.dtype}")
        F0 = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0)
        if F0.size != self.n:
            raise ValueError(f"{caller}: {self.name}(x0) returned {F0.size} values for {self.n} unknowns; {square}")
        self.out_shape = arrays[0].shape if len(arrays) == 1 else F0.shape
        if not np.all(np.isfinite(F0)):
            raise ValueError(f"{caller}: {self.name} is not finite at x0 ({self.name}(x0) = {F0})")
        self.F0 = F0.astype(np.result_type(F0.dtype, self.dtype))
        self._jac = (dr.jacrev if jac == "rev" else dr.jacfwd)(self.flat)

    def flat(self, v):
        return _flat(self.fun(self.unravel(v), *self.args))

    def values(self, x):
        self.nfev += 1
        try:
            with np.errstate(all="ignore"):
                return np.asarray(self.flat(x), dtype=self.F0.dtype)
        except _ARITH_ERRORS:
            return np.full(self.n, np.nan, self.F0.dtype)

    def jacobian(self, x):
        self.njev += 1
        with np.errstate(all="ignore"):
            return np.asarray(self._jac(x), dtype=self.F0.dtype).reshape(self.n, self.n)

    def result(self, x, F, J, nit, status, message, success):
        return OptimizeResult(x=self.unravel.numpy(x), success=success, status=status, message=message,
                              fun=F.reshape(self.out_shape), jac=J, nfev=self.nfev, njev=self.njev, nit=nit)


def _dogleg(J, F, D, delta, p_gn):
    """The dogleg step for min |F + J p| over |D p| <= delta (Powell): the Gauss-Newton step if it fits, else the
    scaled steepest-descent step cut at the boundary, else the point of the dogleg path on the boundary."""
    if np.linalg.norm(D * p_gn) <= delta:
        return p_gn
    d = (J.T @ F) / D**2  # steepest descent of |F + J p|^2 / 2 in the scaled variables D p
    Jd = J @ d
    d_norm = np.linalg.norm(D * d)
    if d_norm == 0 or not np.any(Jd):
        return p_gn * (delta / np.linalg.norm(D * p_gn))
    p_c = -d * (np.dot(d, J.T @ F) / np.dot(Jd, Jd))  # the Cauchy point
    c_norm = np.linalg.norm(D * p_c)
    if c_norm >= delta:
        return p_c * (delta / c_norm)
    # |D (p_c + tau (p_gn - p_c))| = delta for tau in [0, 1], in the stable form of the quadratic's root
    u, v = D * p_c, D * (p_gn - p_c)
    a, b, c = np.dot(v, v), np.dot(u, v), np.dot(u, u) - delta**2
    root = np.sqrt(max(b * b - a * c, 0.0))
    tau = -c / (b + root) if b > 0 else (root - b) / a
    return p_c + tau * (p_gn - p_c)


def _solves_model(J, F, p):
    """Whether the Gauss-Newton step p solves the linear model F + J p = 0 (a singular J whose range misses F gives
    a short least-squares step that does not: then a short step does not mean a root is near)."""
    return float(np.linalg.norm(F + J @ p)) <= 0.1 * float(np.linalg.norm(F))


def _hybr(system, xtol=1.49012e-08, maxfev=None, factor=100.0, diag=None, callback=None):
    n, eps = system.n, np.finfo(system.dtype).eps
    maxfev = 100 * (n + 1) if maxfev is None else int(maxfev)
    if not (factor > 0):
        raise ValueError(f"root(method='hybr'): factor must be > 0, got {factor}")
    x = system.x0.copy()
    F = system.F0
    system.nfev += 1
    fnorm = float(np.linalg.norm(F))
    J = system.jacobian(x)
    if not np.all(np.isfinite(J)):
        raise ValueError(f"root: the Jacobian of {system.name} is not finite at x0")
    scale_by_jacobian = diag is None
    if scale_by_jacobian:
        D = np.linalg.norm(J, axis=0)
        D[D == 0] = 1.0
    else:
        D = np.asarray(diag, dtype=float).reshape(-1)
        if D.shape != (n,) or not np.all(D > 0):
            raise ValueError(f"root(method='hybr'): diag must hold {n} positive numbers")
    xnorm = float(np.linalg.norm(D * x))
    delta = factor * xnorm if xnorm > 0 else factor
    fnorm0 = fnorm
    nit, ncsuc, ncfail, nslow1 = 0, 0, 0, 0
    status, note = None, ""
    p_gn = -np.linalg.lstsq(J, F, rcond=None)[0]
    while status is None:
        if fnorm == 0:
            status = 1
            break
        if np.linalg.norm(D * p_gn) <= xtol * xnorm and _solves_model(J, F, p_gn):
            # the Newton step is below the tolerance: take it if it does not make |F| worse, and stop
            x_new = x + p_gn
            F_new = system.values(x_new)
            if float(np.linalg.norm(F_new)) <= fnorm:
                x, F, fnorm = x_new, F_new, float(np.linalg.norm(F_new))
                J = system.jacobian(x)
            status = 1
            break
        p = _dogleg(J, F, D, delta, p_gn)
        pnorm = float(np.linalg.norm(D * p))
        if nit == 0 and ncfail == 0 and ncsuc == 0:
            delta = min(delta, pnorm)
        x_new = x + p
        F_new = system.values(x_new)
        fnorm1 = float(np.linalg.norm(F_new))
        fnorm1 = fnorm1 if np.isfinite(fnorm1) else np.inf
        actred = 1.0 - (fnorm1 / fnorm) ** 2 if fnorm1 < fnorm else -1.0
        linear = float(np.linalg.norm(F + J @ p))
        prered = 1.0 - (linear / fnorm) ** 2 if linear < fnorm else 0.0
        ratio = actred / prered if prered > 0 else 0.0
        if ratio < 0.1:  # MINPACK's radius update
            ncsuc, ncfail = 0, ncfail + 1
            delta *= 0.5
        else:
            ncfail, ncsuc = 0, ncsuc + 1
            if ratio >= 0.5 or ncsuc > 1:
                delta = max(delta, pnorm / 0.5)
            if abs(ratio - 1.0) <= 0.1:
                delta = pnorm / 0.5
        nslow1 = 0 if actred >= 0.001 else nslow1 + 1
        if ratio >= 1e-4:  # accept the step, and take the exact Jacobian there
            x, F, fnorm = x_new, F_new, fnorm1
            nit += 1
            J = system.jacobian(x)
            if not np.all(np.isfinite(J)):
                status, note = 5, f" The Jacobian is not finite at iteration {nit}."
                break
            if scale_by_jacobian:
                D = np.maximum(D, np.linalg.norm(J, axis=0))
            xnorm = float(np.linalg.norm(D * x))
            p_gn = -np.linalg.lstsq(J, F, rcond=None)[0]
            if callback is not None:
                try:
                    callback(OptimizeResult(x=system.unravel.numpy(x), fun=F.reshape(system.out_shape), nit=nit))
                except StopIteration:
                    status, note = 99, "`callback` raised `StopIteration`."
                    break
        if fnorm <= eps * fnorm0:
            status = 1
        elif delta <= xtol * xnorm:
            # converged if the Newton step fits in the collapsed radius; else a local minimum of |F| that is not a
            # root (MINPACK would report it as converged)
            status = 1 if np.linalg.norm(D * p_gn) <= delta and _solves_model(J, F, p_gn) else 5
        elif system.nfev >= maxfev:
            status = 2
        elif 0.1 * max(0.1 * delta, pnorm) <= eps * xnorm:
            status = 3
        elif nslow1 == 10:
            status = 5
        if status == 5 and not note and np.linalg.norm(D * p_gn) > np.sqrt(xtol) * xnorm:
            note = (f" x is near a local minimum of |F| that is not a root: |F| = {fnorm:.3e}, and the Newton step "
                    f"there has length {np.linalg.norm(p_gn):.3e}.")
    if status == 99:
        message = note
    else:
        message = _HYBR_MESSAGES[status].format(maxfev=maxfev, xtol=xtol) + note
    return system.result(x, F, J, nit, status, message, status == 1)


def _lm(system, fun, x0, args, jac, callback, xtol=1.49012e-08, ftol=1.49012e-08, gtol=0.0, maxiter=None):
    fit = least_squares(lambda x, *a: _flat(fun(x, *a)), x0, method="lm", args=args, jac=jac,
                        ftol=ftol, xtol=xtol, gtol=gtol, max_nfev=maxiter, callback=callback)
    success, status, message = bool(fit.success), fit.status, fit.message
    x = ravel_x0(fit.x)[0]
    step = -np.linalg.lstsq(fit.jac, fit.fun, rcond=None)[0]
    newton = float(np.linalg.norm(step))
    if success and (newton > np.sqrt(xtol) * (float(np.linalg.norm(x)) + np.sqrt(xtol))
                    or not _solves_model(fit.jac, fit.fun, step)):
        # a stationary point of |F|^2 where the Newton step is still long: a local minimum, not a root
        success, status = False, 5
        message = (f"{message} But x is a local minimum of |F| that is not a root: |F| = "
                   f"{np.linalg.norm(fit.fun):.3e}, and the Newton step there has length {newton:.3e}.")
    return OptimizeResult(x=fit.x, success=success, status=status, message=message,
                          fun=np.asarray(fit.fun).reshape(system.out_shape), jac=fit.jac, nfev=fit.nfev,
                          njev=fit.njev, nit=fit.nit, cost=fit.cost)


def root(fun: Callable, x0: Any, args: tuple = (), method: str = "hybr", jac: str | None = None,
         tol: float | None = None, callback: Callable | None = None, options: dict | None = None) -> OptimizeResult:
    """Find a root of the square system ``fun(x, *args) = 0`` from ``x0``, with exact Jacobians from dualrev.

    ``x0`` is a float array or a pytree of them; ``fun`` returns as many values as ``x0`` has (any shape). Methods:
    "hybr" (Powell's hybrid dogleg trust-region method, as MINPACK's hybrj, on the exact Jacobian at every accepted
    point) and "lm" (``least_squares(method="lm")`` on F). ``jac``: None (or False) or "fwd" (``dr.jacfwd``),
    "rev" (``dr.jacrev``); a square Jacobian costs n passes either way, and forward passes are cheaper. ``tol`` sets
    xtol. ``options``: hybr: xtol (1.49012e-8), maxfev (100 (n + 1)), factor (100, the initial step bound), diag
    (the variables' scales; default from the Jacobian's column norms); lm: xtol, ftol (1.49012e-8), gtol (0),
    maxiter (residual evaluations). ``callback(intermediate_result)`` (x, fun, nit) after each iteration.

    Returns an ``OptimizeResult``: x (like ``x0``), success, status, message, fun (F at x, shaped as ``fun``
    returns it), jac (n x n, over the flattened x), nfev, njev, nit. hybr's statuses are scipy's: 1 converged,
    2 maxfev, 3 xtol too small, 5 no progress (also when x is a local minimum of |F| that is not a root); status 4
    (no progress over five Jacobian evaluations) does not occur, as every accepted point gets an exact Jacobian.

    The root is differentiable with respect to ``args`` (pytrees of arrays) by every transform, at any order, by the
    implicit function theorem: dx*/dargs = -J^-1 dF/dargs at the root. Then ``x`` and ``fun`` are traced and the
    NumPy-only ``jac`` is left out; a derivative at a failed solve or a singular Jacobian raises ValueError.

    >>> res = root(lambda x, a: x**3 - a, np.array([1.0]), args=(8.0,)); res.x
    array([2.])
    >>> dr.grad(lambda a: root(lambda x, a: x**3 - a, np.array([1.0]), args=(a,)).x[0])(8.0)   # 1/12
    """
    if not callable(fun):
        raise TypeError(f"root: fun must be callable, got {type(fun).__name__}")
    if not isinstance(args, tuple):
        raise TypeError(f"root: args must be a tuple, got {type(args).__name__}")
    if not isinstance(method, str):
        raise TypeError(f"root: method must be a string, got {type(method).__name__}")
    key = method.strip().lower()
    if key in _UNSUPPORTED:
        raise ValueError(f"root: method {method!r} is a Jacobian-free method, and dualrev has the exact Jacobian: "
                         "use method='hybr' or 'lm'")
    if key not in _OPTIONS:
        raise ValueError(f"root: unknown method {method!r}; choose one of 'hybr', 'lm'")
    if jac is False:  # scipy's "no Jacobian given": dualrev's exact one
        jac = None
    if jac not in (None, "fwd", "rev"):
        raise ValueError(f"root: jac must be None, 'fwd' or 'rev' (dualrev computes the exact Jacobian of fun), got "
                         f"{jac!r}")
    if callback is not None and not callable(callback):
        raise TypeError("root: callback must be callable or None")
    options = dict(options or {})
    unknown = set(options) - _OPTIONS[key]
    if unknown:
        raise ValueError(f"root(method={key!r}): unknown option(s) {sorted(unknown)}; valid options: "
                         f"{sorted(_OPTIONS[key])}")
    if tol is not None:
        options.setdefault("xtol", tol)
    for name in ("xtol", "ftol", "gtol"):
        if name in options and not (isinstance(options[name], numbers.Real) and options[name] >= 0):
            raise ValueError(f"root(method={key!r}): {name} must be a number >= 0, got {options[name]!r}")

    def solve(x0, args):
        system = _System("root", fun, x0, args, jac, _SQUARE)
        if key == "hybr":
            return _hybr(system, callback=callback, **options)
        return _lm(system, fun, x0, args, jac, callback, **options)

    def residual(x, args):
        return _flat(fun(x, *args))

    def value(x, args):
        return dnp.reshape(residual(x, args), out_shape[0])

    out_shape = []  # fun's output shape, from the NumPy solve

    def solve_and_note_shape(x0, args):
        res = solve(x0, args)
        out_shape[:] = [np.shape(res.fun)]
        return res

    return solve_implicitly("root", "equations", x0, args, residual, solve_and_note_shape, value=value)


def fixed_point(func: Callable, x0: Any, args: tuple = (), xtol: float = 1e-08, maxiter: int = 500,
                method: str = "del2") -> Any:
    """A fixed point ``x = func(x, *args)`` from ``x0``, as scipy.optimize.fixed_point: Steffensen's method with
    Aitken's delta-squared acceleration (``method="del2"``) or plain iteration (``"iteration"``), componentwise,
    until every component's relative change is below ``xtol``. Returns x, with ``x0``'s structure (a float array or a
    pytree of them); raises RuntimeError if it has not converged after ``maxiter`` iterations.

    The fixed point is differentiable with respect to ``args`` (every transform, any order) by the implicit function
    theorem on F(x) = func(x) - x: dx*/dargs = (I - df/dx)^-1 df/dargs.

    >>> fixed_point(lambda x, a: dnp.cos(a * x), 0.5, args=(1.0,))    # 0.7390851332151607
    """
    if not callable(func):
        raise TypeError(f"fixed_point: func must be callable, got {type(func).__name__}")
    if not isinstance(args, tuple):
        raise TypeError(f"fixed_point: args must be a tuple, got {type(args).__name__}")
    if method not in ("del2", "iteration"):
        raise ValueError(f"fixed_point: method must be 'del2' or 'iteration', got {method!r}")
    if not (isinstance(xtol, numbers.Real) and xtol > 0):
        raise ValueError(f"fixed_point: xtol must be a number > 0, got {xtol!r}")
    if not (isinstance(maxiter, numbers.Integral) and maxiter >= 1):
        raise ValueError(f"fixed_point: maxiter must be an integer >= 1, got {maxiter!r}")

    def solve(x0, args):
        system = _System("fixed_point", func, x0, args, None, "func must return a value shaped like x0")
        p0 = system.x0.astype(system.F0.dtype)
        for nit in range(1, maxiter + 1):
            p1 = system.values(p0)
            if method == "del2":
                p2 = system.values(p1)
                d = p2 - 2.0 * p1 + p0
                with np.errstate(all="ignore"):
                    p = np.where(d != 0, p0 - (p1 - p0) ** 2 / np.where(d != 0, d, 1.0), p2)
            else:
                p = p1
            with np.errstate(all="ignore"):
                relerr = np.where(p0 != 0, (p - p0) / np.where(p0 != 0, p0, 1.0), p)
            if np.all(np.abs(relerr) < xtol):
                return OptimizeResult(x=system.unravel.numpy(p), success=True, status=0, nit=nit,
                                      nfev=system.nfev, message="Converged.")
            p0 = p
        raise RuntimeError(f"fixed_point: failed to converge after {maxiter} iterations, value is "
                           f"{system.unravel.numpy(p)}")

    def residual(x, args):
        return _flat(func(x, *args)) - _flat(x)

    return solve_implicitly("fixed_point", "equations x - func(x)", x0, args, residual, solve).x
