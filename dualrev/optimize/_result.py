"""The result object (scipy's ``OptimizeResult``: a dict with attribute access), status codes, messages and the
per-iteration report printed with ``disp=True``."""

from __future__ import annotations

import numpy as np

__all__ = ["OptimizeResult"]

# Status codes of minimize, as in scipy.optimize.minimize.
SUCCESS, MAXITER, LINE_SEARCH, DIVERGED, CALLBACK = 0, 1, 2, 3, 99

MESSAGES = {
    SUCCESS: "Optimization terminated successfully.",
    MAXITER: "Maximum number of iterations has been exceeded.",
    CALLBACK: "`callback` raised `StopIteration`.",
}

# Status codes of least_squares, as in scipy.optimize.least_squares (and -3: the Gauss-Newton line search failed).
GTOL, FTOL, XTOL, MAX_NFEV, LSQ_CALLBACK, LSQ_LINE_SEARCH = 1, 2, 3, 0, -2, -3

LSQ_MESSAGES = {
    GTOL: "`gtol` termination condition is satisfied.",
    FTOL: "`ftol` termination condition is satisfied.",
    XTOL: "`xtol` termination condition is satisfied.",
    MAX_NFEV: "The maximum number of function evaluations is exceeded.",
    LSQ_CALLBACK: "`callback` raised `StopIteration`.",
}


class OptimizeResult(dict):
    """The result of ``minimize`` or ``least_squares``: a dict whose keys are also attributes.

    ``minimize`` fills ``x`` (same pytree structure and dtypes as ``x0``), ``fun``, ``jac`` (the gradient, shaped
    like ``x``), ``nit``, ``nfev``, ``njev``, ``nhev``, ``success``, ``status`` (0 success, 1 maxiter, 2 line search
    or precision loss, 3 divergence, 99 stopped by the callback), ``message``, and ``hess`` / ``hess_inv`` (as
    matrices over the flattened ``x``) where the method has one.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __dir__(self):
        return list(self.keys())

    def __repr__(self):
        if not self:
            return self.__class__.__name__ + "()"
        width = max(len(k) for k in self) + 1
        lines = []
        for k, v in self.items():
            text = repr(v).replace("\n", "\n" + " " * (width + 2))
            lines.append(f"{k.rjust(width)}: {text}")
        return "\n".join(lines)


class Reporter:
    """Prints the iteration table for ``disp=True``: iteration, f, |grad|_inf, step length, evaluations."""

    def __init__(self, enabled: bool, method: str, n: int):
        self.enabled = bool(enabled)
        if self.enabled:
            print(f"dualrev.optimize.minimize(method={method!r}), {n} variables")
            print(f"{'iter':>6} {'f':>16} {'|grad|':>11} {'step':>11} {'nfev':>6} {'njev':>6} {'nhev':>6}")

    def row(self, it, f, gnorm, step, counts):
        if self.enabled:
            step_text = "" if step is None else f"{step:11.3e}"
            print(f"{it:6d} {float(f):16.8e} {float(gnorm):11.3e} {step_text:>11} "
                  f"{counts.nfev:6d} {counts.njev:6d} {counts.nhev:6d}")

    def summary(self, result):
        if self.enabled:
            print(result.message)
            print(f"         Current function value: {float(result.fun):.12g}")
            print(f"         Iterations: {result.nit}")
            print(f"         Function evaluations: {result.nfev}")
            print(f"         Gradient evaluations: {result.njev}")
            print(f"         Hessian evaluations: {result.nhev}")


def inf_norm(v) -> float:
    return float(np.max(np.abs(v))) if np.size(v) else 0.0
