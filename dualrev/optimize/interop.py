"""``scipy_callables``: dualrev's exact derivatives as the ``fun``, ``jac``, ``hess`` and ``hessp`` arguments of
``scipy.optimize.minimize`` (scipy itself is not imported here)."""

from __future__ import annotations

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.optimize._problem import ravel_pytree

__all__ = ["ScipyCallables", "scipy_callables"]


class ScipyCallables:
    """``fun(x, *args)``, ``jac(x, *args)``, ``hess(x, *args)``, ``hessp(x, p, *args)`` on 1-D float64 vectors,
    plus ``value_and_grad`` (for ``jac=True``). Unpacks as ``fun, jac, hess, hessp = scipy_callables(f)``.

    With a pytree ``x0``, the vectors are its flattening: ``x0`` is that flat vector and ``unravel(v)`` gives the
    pytree back (for ``res.x``).
    """

    def __init__(self, fun, x0=None):
        if not callable(fun):
            raise TypeError(f"scipy_callables: fun must be callable, got {type(fun).__name__}")
        self._user_fun = fun
        if x0 is None:
            self.x0 = None
            self.unravel = lambda v: v
            unravel_traced = None
        else:
            flat, unravel = ravel_pytree(x0, "scipy_callables: x0")
            self.x0 = flat.astype(np.float64)
            self.unravel = unravel.numpy
            unravel_traced = unravel

        def f_flat(v, *args):
            out = fun(v if unravel_traced is None else unravel_traced(v), *args)
            if np.shape(out) != ():
                if int(np.prod(np.shape(out))) != 1:
                    raise TypeError(f"scipy_callables: fun must return a scalar, got shape {np.shape(out)}")
                out = dnp.reshape(out, ())
            return out

        self._f = f_flat
        self._vg = dr.value_and_grad(f_flat)
        self._hess = dr.hessian(f_flat)

    @staticmethod
    def _vec(x):
        return np.asarray(x, dtype=np.float64)

    def fun(self, x, *args):
        """f(x): a plain evaluation, no tracing."""
        return float(self._f(self._vec(x), *args))

    def jac(self, x, *args):
        """The gradient (reverse mode)."""
        return np.asarray(self._vg(self._vec(x), *args)[1], dtype=np.float64)

    def value_and_grad(self, x, *args):
        """(f(x), gradient) in one reverse pass: pass as ``fun`` with ``jac=True``."""
        f, g = self._vg(self._vec(x), *args)
        return float(f), np.asarray(g, dtype=np.float64)

    def hess(self, x, *args):
        """The Hessian matrix (forward over reverse)."""
        return np.asarray(self._hess(self._vec(x), *args), dtype=np.float64)

    def hessp(self, x, p, *args):
        """The Hessian-vector product H(x) @ p, without forming H."""
        f = self._f
        return np.asarray(dr.hvp(lambda v: f(v, *args), (self._vec(x),), (self._vec(p),)), dtype=np.float64)

    def __iter__(self):
        return iter((self.fun, self.jac, self.hess, self.hessp))


def scipy_callables(fun, x0=None):
    """``fun, jac, hess, hessp`` for ``scipy.optimize.minimize``, with exact derivatives from dualrev.

    >>> fun, jac, hess, hessp = scipy_callables(rosen)
    >>> scipy.optimize.minimize(fun, x0, jac=jac, hess=hess, method="trust-exact")
    """
    return ScipyCallables(fun, x0)
