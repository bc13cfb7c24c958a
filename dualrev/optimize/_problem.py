"""Flat problems: a pytree ``x0`` raveled once into one float vector, and the objective with its gradient,
Hessian-vector products and Hessian built from dualrev's transforms as functions of that vector, with counters
(``Objective``, for minimize), or the residuals with their Jacobian (``Residuals``, for least_squares).

The optimisers work on NumPy vectors in the dtype of ``x0`` (float64 or float32; mixed leaves promote). The
user's function always sees the pytree it was written for, each leaf in its own dtype.
"""

from __future__ import annotations

import numbers

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import Tracer
from dualrev.tree_util import ravel_pytree, tree_flatten, tree_unflatten

# Arithmetic errors raised by the objective at a trial point (np.seterr(all="raise"), Python floats, a LinAlgError
# from a Cholesky factorisation of a matrix that is not positive definite there) count as a
# non-finite value there, so a run backs off instead of stopping with an exception.
_ARITH_ERRORS = (FloatingPointError, OverflowError, ZeroDivisionError, np.linalg.LinAlgError)


def ravel_x0(tree, where: str = "x0"):
    """``dr.tree_util.ravel_pytree`` for a solver's ``x0``: float leaves only (a clear error for any other, and for a
    tree without elements); returns ``(flat, unravel)``, and ``unravel.numpy`` rebuilds a result from a flat vector
    as fresh NumPy arrays (NumPy scalars for scalar leaves given as scalars).
    """
    leaves, treedef = tree_flatten(tree)
    if not leaves:
        raise ValueError(f"{where} has no array leaves (structure {treedef}); there is nothing to optimise")
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, (bool, np.bool_, numbers.Integral, complex, np.complexfloating)) or not isinstance(
                leaf, (float, np.floating, np.ndarray)):
            kind = np.result_type(leaf) if isinstance(leaf, (numbers.Number, np.ndarray, np.generic)) else None
            raise TypeError(f"{where}: leaf {i} is a {type(leaf).__name__}"
                            f"{'' if kind is None else f' of dtype {kind}'}; x0 must be a float array or a pytree "
                            "(tuple, list, dict) of float arrays: convert with np.asarray(x0, float)")
        if np.asarray(leaf).dtype.kind != "f":
            raise TypeError(f"{where}: leaf {i} has dtype {np.asarray(leaf).dtype}; x0 must be floating point "
                            "(float16/32/64): convert with np.asarray(x0, float)")
    flat, unravel = ravel_pytree(tree)
    if flat.size == 0:
        raise ValueError(f"{where} has no elements; there is nothing to optimise")
    kinds = [(np.asarray(leaf).dtype, isinstance(leaf, np.ndarray)) for leaf in leaves]

    def unravel_numpy(v):
        """The pytree from a flat NumPy vector, for a result: fresh arrays, scalars where x0 had scalars."""
        out = [np.array(leaf, dtype=dt) for leaf, (dt, _) in zip(tree_flatten(unravel(np.asarray(v)))[0], kinds)]
        return tree_unflatten(treedef, [a if is_array else a[()] for a, (_, is_array) in zip(out, kinds)])

    unravel.numpy = unravel_numpy
    return flat, unravel


def _fun_name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


def check_args(caller: str, args) -> None:
    """The checks every solver makes of ``args``: a tuple."""
    if not isinstance(args, tuple):
        raise TypeError(f"{caller}: args must be a tuple, got {type(args).__name__}")


def flat_x0(caller: str, x0):
    """``x0`` raveled into one float vector with its unravel, ``(flat, unravel)``; a non-finite entry is an error."""
    flat, unravel = ravel_x0(x0, f"{caller}: x0")
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"{caller}: x0 contains NaN or infinite values")
    return flat, unravel


class Counts:
    """Evaluation counters: objective values, gradients, Hessians or Hessian-vector products."""

    __slots__ = ("nfev", "nhev", "njev")

    def __init__(self):
        self.nfev = self.njev = self.nhev = 0


class Objective:
    """``fun(x, *args)`` as a function of the flat vector: value, value and gradient, Hessian, Hessian-vector
    products (one recording of the gradient per point, pushed forward for each vector), all counted."""

    sparse = False  # use_sparse_hessian: the Hessian as a scipy.sparse matrix from dr.sparse.hessian
    jit = False  # set by __init__: the derivatives compiled with dr.jit

    def __init__(self, caller: str, fun, x0, args, jit: bool = True):
        if not callable(fun):
            raise TypeError(f"{caller}: fun must be callable, got {type(fun).__name__}")
        check_args(caller, args)
        self.caller, self.fun, self.args = caller, fun, args
        self.name = _fun_name(fun)
        self.x0, self.unravel = flat_x0(caller, x0)
        self.dtype = self.x0.dtype
        self.n = self.x0.size
        self.counts = Counts()

        def f_flat(v):
            return self._scalar(fun(self.unravel(v), *args))

        f_flat.__name__ = self.name
        self._f_flat = f_flat
        self._value_and_grad = dr.value_and_grad(f_flat)
        self._grad = dr.grad(f_flat)
        self._hessian = dr.hessian(f_flat)
        self.jit = bool(jit)
        if self.jit:  # the derivatives compiled once (dr.jit); it runs them eagerly if its guards keep failing
            self._value_and_grad = dr.jit(self._value_and_grad)
            self._hessian = dr.jit(self._hessian)
            self._jit_grad = dr.jit(self._grad)
            grad = self._grad
            self._jit_hvp = dr.jit(lambda x, v: dr.jvp(grad, (x,), (v,))[1])

    def _scalar(self, out):
        """The objective's output as a 0-d value; a size-1 array is accepted, anything else is a TypeError."""
        shape = np.shape(out)
        if shape == ():
            return out
        if int(np.prod(shape)) == 1:
            return dnp.reshape(out, ())
        raise TypeError(f"{self.caller}: fun must return a scalar, but {self.name}(x0) returned an array of "
                        f"shape {shape}")

    # -- the checks made once, before iterating --

    def check_x0(self):
        """Evaluate value and gradient at x0 with clear errors; returns ``(f0, g0)``."""
        shapes = [np.shape(leaf) for leaf in tree_flatten(self.unravel.numpy(self.x0))[0]]
        try:
            with np.errstate(all="ignore"):  # a non-finite value is reported below
                value = self.fun(self.unravel.numpy(self.x0), *self.args)
        except Exception as e:
            raise ValueError(f"{self.caller}: evaluating {self.name} at x0 (leaf shapes {shapes}) failed with "
                             f"{type(e).__name__}: {e}. Check that x0 has the shape and structure fun expects.") from e
        if isinstance(value, Tracer):
            raise TypeError(f"{self.caller}: {self.name} returned a traced value at a plain x: it uses a value "
                            "that is being differentiated from its closure; pass that value through args=(...)")
        value = self._scalar(value)
        dtype = np.result_type(value)
        if dtype.kind not in "fiu":
            raise TypeError(f"{self.caller}: fun must return a real scalar, {self.name}(x0) returned dtype {dtype}")
        if not np.isfinite(value):
            raise ValueError(f"{self.caller}: the objective is not finite at x0 ({self.name}(x0) = {value})")
        with np.errstate(all="ignore"):  # a non-finite gradient is reported below
            f0, g0 = self._value_and_grad(self.x0)
        f0, g0 = self._cast(f0), np.asarray(g0, dtype=self.dtype)
        self.counts.nfev += 1
        self.counts.njev += 1
        if not np.all(np.isfinite(g0)):
            raise ValueError(f"{self.caller}: the gradient of {self.name} is not finite at x0")
        return f0, g0

    # -- evaluations, counted --

    def _cast(self, f):
        return np.asarray(f, dtype=np.result_type(f, self.dtype))[()]

    def value(self, x):
        """f(x) by a plain NumPy evaluation (no tracing); NaN where fun raises an arithmetic error."""
        self.counts.nfev += 1
        try:
            with np.errstate(all="ignore"):
                f = self._scalar(self.fun(self.unravel(x.copy()), *self.args))
        except _ARITH_ERRORS:
            return np.nan
        return self._cast(f)

    def value_and_grad(self, x):
        """(f(x), grad f(x)) by reverse mode, the gradient flat in the working dtype."""
        self.counts.njev += 1
        try:
            with np.errstate(all="ignore"):
                f, g = self._value_and_grad(x)
        except _ARITH_ERRORS:
            return np.nan, np.full(self.n, np.nan, self.dtype)
        return self._cast(f), np.asarray(g, dtype=self.dtype)

    def grad_and_hvp(self, x):
        """(grad f(x), hvp) where ``hvp(v)`` = H(x) @ v: the gradient is recorded once (dr.linearize of dr.grad)
        and each product is one forward pass along that recording."""
        self.counts.njev += 1
        counts = self.counts
        if self.jit:  # compiled: one forward-over-reverse product per vector is cheaper than a recording
            with np.errstate(all="ignore"):
                g = self._jit_grad(x)

            def hvp_jit(v):
                counts.nhev += 1
                with np.errstate(all="ignore"):
                    return np.asarray(self._jit_hvp(x, np.asarray(v, dtype=self.dtype)), dtype=self.dtype)

            return np.asarray(g, dtype=self.dtype), hvp_jit
        with np.errstate(all="ignore"):
            g, push = dr.linearize(self._grad, x)

        def hvp(v):
            counts.nhev += 1
            with np.errstate(all="ignore"):
                return np.asarray(push(np.asarray(v, dtype=self.dtype)), dtype=self.dtype)

        return np.asarray(g, dtype=self.dtype), hvp

    def use_sparse_hessian(self, sparsity=None):
        """From now on ``hessian`` returns a scipy.sparse CSR matrix from ``dr.sparse.hessian`` (the pattern detected
        from the trace at the first point, or the given ``sparsity``; one Hessian-vector product per color, compiled
        by dr.jit unless ``jit=False``)."""
        self._hessian = dr.sparse.hessian(self._f_flat, sparsity=sparsity, jit=self.jit)
        self.sparse = True

    def hessian(self, x):
        """The Hessian (n, n) by dr.hessian (forward over reverse), or sparse (``use_sparse_hessian``)."""
        self.counts.nhev += 1
        with np.errstate(all="ignore"):
            H = self._hessian(x)
        if self.sparse:
            return H if H.dtype == self.dtype else H.astype(self.dtype)
        return np.asarray(H, dtype=self.dtype)


class Residuals:
    """``residual(x, *args)`` as a function of the flat vector, for least_squares: r and its Jacobian J held in
    memory (``dr.jacfwd`` when there are no more variables than residuals, else ``dr.jacrev``, or
    ``dr.sparse.jacobian``), counted. Steps are solved as linear least-squares problems on J (never through the
    normal equations, to keep their accuracy on badly scaled problems), or for a sparse J the damped normal
    equations by sparse LU (J'J stays sparse).

    The interface least_squares iterates on (``dualrev.parallel``'s sharded residuals offer the same): ``x0``,
    ``unravel``, ``counts`` (nfev, njev), ``describe``, ``cost``, ``cost_of_last``, ``normal_equations``, ``step``,
    ``fields``.
    """

    def __init__(self, name, residual, x0, args, jac, jac_sparsity=None, jit=True):
        flat0, unravel = flat_x0(name, x0)
        self.x0, self.unravel = flat0, unravel
        n, dtype = flat0.size, flat0.dtype
        fname = _fun_name(residual)

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
        """The Levenberg-Marquardt step for damping ``mu`` ([J; sqrt(mu) I] h = [-r; 0]), or Gauss-Newton's
        (``mu=None``)."""
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
