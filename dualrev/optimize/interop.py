"""``scipy_callables``: dualrev's exact derivatives as the ``fun``, ``jac``, ``hess`` and ``hessp`` arguments of
``scipy.optimize.minimize`` (scipy itself is not imported here, except by the sparse options: ``sparse=True``
and ``scipy_constraint``, which hand trust-constr scipy.sparse Jacobians and Hessians from ``dr.sparse``)."""

from __future__ import annotations

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.optimize._problem import ravel_x0

__all__ = ["ScipyCallables", "scipy_callables", "scipy_constraint"]


class ScipyCallables:
    """``fun(x, *args)``, ``jac(x, *args)``, ``hess(x, *args)``, ``hessp(x, p, *args)`` on 1-D float64 vectors,
    plus ``value_and_grad`` (for ``jac=True``). Unpacks as ``fun, jac, hess, hessp = scipy_callables(f)``.

    With a pytree ``x0``, the vectors are its flattening: ``x0`` is that flat vector and ``unravel(v)`` gives the
    pytree back (for ``res.x``). With ``sparse=True`` (or a scipy.sparse pattern) ``hess`` returns a scipy.sparse
    CSR matrix from ``dr.sparse.hessian`` (trust-constr takes it as is) and ``hess_sparsity`` is its pattern.
    """

    def __init__(self, fun, x0=None, sparse=False):
        if not callable(fun):
            raise TypeError(f"scipy_callables: fun must be callable, got {type(fun).__name__}")
        self._user_fun = fun
        if x0 is None:
            self.x0 = None
            self.unravel = lambda v: v
            unravel_traced = None
        else:
            flat, unravel = ravel_x0(x0, "scipy_callables: x0")
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
        self.sparse = sparse is not False and sparse is not None
        if self.sparse:
            self._hess = dr.sparse.hessian(f_flat, sparsity=None if sparse is True else sparse)

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
        """The Hessian matrix (forward over reverse); a scipy.sparse CSR matrix with ``sparse``."""
        H = self._hess(self._vec(x), *args)
        return H.astype(np.float64) if self.sparse else np.asarray(H, dtype=np.float64)

    @property
    def hess_sparsity(self):
        """The Hessian's pattern (scipy.sparse, boolean) once ``hess`` has been called with ``sparse``, else None."""
        return self._hess.pattern if self.sparse else None

    def hessp(self, x, p, *args):
        """The Hessian-vector product H(x) @ p, without forming H."""
        f = self._f
        return np.asarray(dr.hvp(lambda v: f(v, *args), (self._vec(x),), (self._vec(p),)), dtype=np.float64)

    def __iter__(self):
        return iter((self.fun, self.jac, self.hess, self.hessp))


def scipy_callables(fun, x0=None, sparse=False):
    """``fun, jac, hess, hessp`` for ``scipy.optimize.minimize``, with exact derivatives from dualrev.
    ``sparse=True``: ``hess`` gives scipy.sparse matrices (for ``method="trust-constr"``).

    >>> fun, jac, hess, hessp = scipy_callables(rosen)
    >>> scipy.optimize.minimize(fun, x0, jac=jac, hess=hess, method="trust-exact")
    """
    return ScipyCallables(fun, x0, sparse)


def scipy_constraint(fun, lb, ub, sparse=True):
    """``scipy.optimize.NonlinearConstraint(fun, lb, ub)`` for trust-constr with dualrev's exact derivatives of the
    vector function ``fun(x)`` on 1-D vectors: ``jac`` its Jacobian and ``hess(x, v)`` the Hessian of ``v @ fun(x)``,
    as scipy.sparse matrices from ``dr.sparse`` (patterns detected once) or, with ``sparse=False``, dense arrays.

    >>> con = scipy_constraint(lambda x: x[1:] ** 2 + x[:-1], -1.0, 1.0)
    >>> scipy.optimize.minimize(fun, x0, jac=jac, hess=hess, constraints=[con], method="trust-constr")
    """
    from scipy.optimize import NonlinearConstraint

    if not callable(fun):
        raise TypeError(f"scipy_constraint: fun must be callable, got {type(fun).__name__}")

    def flat(x):
        return dnp.reshape(fun(x), (-1,))

    def weighted(x, v):
        return dnp.sum(v * flat(x))

    if sparse:
        jac_fun, hess_fun = dr.sparse.jacobian(flat), dr.sparse.hessian(weighted)
    else:
        jac_fun, hess_fun = dr.jacfwd(flat), dr.hessian(weighted)

    def jac(x):
        return jac_fun(np.asarray(x, dtype=np.float64))

    def hess(x, v):
        return hess_fun(np.asarray(x, dtype=np.float64), np.asarray(v, dtype=np.float64))

    def value(x):
        return np.asarray(flat(np.asarray(x, dtype=np.float64)), dtype=np.float64)

    return NonlinearConstraint(value, lb, ub, jac=jac, hess=hess)
