"""Solutions differentiable by the implicit function theorem: roots of F(x, theta) = 0, fixed points and argmins.

A solver (``root``, ``fixed_point``, ``minimize``, ``least_squares``) whose ``args`` (or ``x0``) hold traced
values runs as one call of the primitive ``implicit_solution``. Its implementation runs the solver on plain NumPy
values; its rules never look at the iterations. Where x* solves F(x*, theta) = 0 and J = dF/dx is invertible there,

    JVP:  dx = -J^-1 (dF/dtheta . dtheta)          VJP:  ct_theta = -(dF/dtheta)^T J^-T ct

one linear solve with the exact Jacobian J (``dr.jacfwd`` of F at x*) per derivative. Both rules are written with
dualrev operations on the solution and the parameters, so they are differentiated again for higher orders (as
custom_jvp rules are); vmap solves one example at a time. ``x0`` has zero derivative (x* does not depend on it).
A derivative of a solve that did not converge, or whose J is singular at x*, raises instead of being returned.

Built on dualrev's public API plus ``core.Primitive``/``core.Tracer`` (a solver cannot be vmapped as a function of
traced values, so it is a primitive with its own batching rule, not a ``custom_jvp``).
"""

from __future__ import annotations

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import Primitive, Tracer
from dualrev.optimize._problem import ravel_x0
from dualrev.optimize._result import OptimizeResult
from dualrev.tree_util import tree_flatten, tree_unflatten

__all__ = ["has_traced", "solve_implicitly"]

# Fields of a result that are the solver's NumPy values at x*: with traced arguments they would carry no
# derivative (a silently zero one), so they are left out of a traced result.
_NUMPY_ONLY = ("jac", "hess", "hess_inv", "grad", "optimality", "active_mask", "cost", "fjac", "r", "qtf")


class _Solve:
    """One solver call seen as x*(x0, theta): ``theta`` are the traced leaves of ``args`` (the other leaves are
    static), ``residual(x, args)`` is F written with dualrev operations, ``solve(x0, args)`` the NumPy solver
    (an OptimizeResult with ``x`` and ``success``). Every primal solve is recorded, for the differentiability
    checks and the result fields."""

    def __init__(self, caller, what, residual, solve, unravel, dtype, leaves, tree, traced):
        self.caller, self.what = caller, what
        self.residual, self.solve = residual, solve
        self.unravel, self.dtype = unravel, dtype
        self.leaves, self.tree, self.traced = leaves, tree, traced
        self.runs = []  # (result, x flat, theta) per primal solve; checked lazily when differentiating
        self.last = None  # (operands, solution) of the last solve, for the JVP rule
        self._jacobian_at = None  # (x, theta, J) of the last check

    def __repr__(self):  # shown by make_graph
        return self.caller

    def args(self, theta):
        full = list(self.leaves)
        for i, t in zip(self.traced, theta):
            full[i] = t
        return tree_unflatten(self.tree, full)

    def F(self, x, theta):
        """F(x, theta) as a flat vector, x flat."""
        return dnp.reshape(self.residual(self.unravel(x), self.args(theta)), (-1,))

    def run(self, x0, theta):
        res = self.solve(self.unravel.numpy(x0), self.args(theta))
        x = np.concatenate([np.ravel(np.asarray(leaf)).astype(self.dtype) for leaf in tree_flatten(res.x)[0]])
        self.runs.append([res, x, theta, None])
        return x

    def check_differentiable(self):
        """Raise if a recorded solve did not converge, or its Jacobian dF/dx is singular at x*."""
        for run in self.runs:
            res, x, theta, checked = run
            if checked:
                continue
            if not res.success:
                raise ValueError(f"{self.caller}: cannot differentiate the solution with respect to args: the "
                                 f"solve did not converge (status {res.status}: {res.message}), so x is not a "
                                 "solution and the implicit function theorem gives no derivative at it (a looser "
                                 "tol, more iterations, another x0 or another method may converge)")
            self._check_jacobian(x, theta)
            run[3] = True

    def _check_jacobian(self, x, theta):
        """Raise unless J = dF/dx is safely invertible at x*: its smallest singular value must exceed rounding
        (n eps |J|) and ten times the change of J, along its near-null direction, over the Newton correction that
        remains at x* (how far x* may be from the exact solution). The derivative's relative error is about that
        change over the smallest singular value, so a multiple root (where J -> singular as x -> x*) is refused, and
        so is a solve too loose for its conditioning."""
        with np.errstate(all="ignore"):
            J = np.asarray(self.jacobian(x, theta))
            F = np.asarray(self.F(x, theta))
        if not (np.all(np.isfinite(J)) and np.all(np.isfinite(F))):
            raise ValueError(f"{self.caller}: cannot differentiate the solution with respect to args: the Jacobian of "
                             f"the {self.what} with respect to x is not finite at the solution")
        self._jacobian_at = (x, theta, J)  # the rules' J at first order, when they ask at this very point
        _, s, Vt = np.linalg.svd(J)
        correction = np.linalg.lstsq(J, -F, rcond=None)[0]
        with np.errstate(all="ignore"):  # J(x + c) v - J(x) v for the right singular vector v of s_min
            Jv = np.asarray(dr.jvp(lambda z: self.F(z, theta), (x + correction,), (Vt[-1],))[1])
            change = float(np.linalg.norm(Jv - J @ Vt[-1]))
        floor = max(s[0] * J.shape[0] * np.finfo(J.dtype).eps, 10.0 * change)
        if not (s[-1] > floor):
            raise ValueError(f"{self.caller}: cannot differentiate the solution with respect to args: the Jacobian of "
                             f"the {self.what} with respect to x is singular at the solution, to the accuracy of the "
                             f"solution (smallest singular value {s[-1]:.1e}; largest {s[0]:.1e}; it changes by "
                             f"{change:.1e} over the remaining Newton correction of length "
                             f"{np.linalg.norm(correction):.1e}), so the implicit function theorem does not apply: "
                             "the solution is not isolated or is a multiple root (or, if the Jacobian is merely "
                             "ill-conditioned, solve to a smaller tol)")

    # -- the derivative rules, in dualrev operations (so that they are differentiated again) --

    def jacobian(self, x, theta):
        at = self._jacobian_at
        if at is not None and x is at[0] and len(theta) == len(at[1]) and all(a is b for a, b in zip(theta, at[1])):
            return at[2]  # plain values at the checked point: J is a constant there, already computed
        return dr.jacfwd(lambda v: self.F(v, theta))(x)

    def tangent(self, x, theta, dtheta):
        live = [i for i, d in enumerate(dtheta) if d is not None]

        def F_live(*th):
            full = list(theta)
            for i, t in zip(live, th):
                full[i] = t
            return self.F(x, full)

        _, F_dot = dr.jvp(F_live, tuple(theta[i] for i in live), tuple(dtheta[i] for i in live))
        return -dnp.linalg.solve(self.jacobian(x, theta), F_dot)

    def cotangent(self, x, theta, ct, wanted):
        w = dnp.linalg.solve(dnp.transpose(self.jacobian(x, theta)), ct)

        def F_wanted(*th):
            full = list(theta)
            for i, t in zip(wanted, th):
                full[i] = t
            return self.F(x, full)

        _, pullback = dr.vjp(F_wanted, *(theta[i] for i in wanted))
        return [-c for c in pullback(w)]


def _impl(x0, *theta, problem):
    x = problem.run(x0, theta)
    problem.last = ((x0, *theta), x)
    return x


def _jvp_full(primals, tangents, *, problem):
    last = problem.last
    if last is not None and len(last[0]) == len(primals) and all(a is b for a, b in zip(last[0], primals)):
        x = last[1]  # linearize pushes tangents along a recording of the solve: no need to solve again
    else:
        x = implicit_solution(*primals, problem=problem)
        problem.last = (tuple(primals), x)
    dtheta = list(tangents[1:])  # x0's tangent is dropped: x* does not depend on the starting point
    if all(d is None for d in dtheta):
        return x, None
    problem.check_differentiable()
    return x, problem.tangent(x, list(primals[1:]), dtheta)


def _vjp(ct, ans, xs, params, argnums):
    problem = params["problem"]
    wanted = [i - 1 for i in argnums if i > 0]
    if not wanted:
        return [None] * len(argnums)
    problem.check_differentiable()
    cts = dict(zip(wanted, problem.cotangent(ans, list(xs[1:]), ct, wanted)))
    return [cts.get(i - 1) for i in argnums]


def _batch(args, batched, *, problem):
    # One solve per example: a solver's iterations branch on values, so they cannot run on a whole batch at once.
    size = next(np.shape(a)[0] for a, b in zip(args, batched) if b)
    outs = [implicit_solution(*[a[k] if b else a for a, b in zip(args, batched)], problem=problem)
            for k in range(size)]
    return dnp.stack(outs)


implicit_solution = Primitive("implicit_solution", _impl, jvp_full=_jvp_full, vjp=_vjp, batch=_batch)


def _template(leaf):
    """A plain stand-in with a traced leaf's shape and dtype (for ravel_x0's structure)."""
    return np.zeros(leaf.shape, leaf.dtype) if isinstance(leaf, Tracer) else leaf


def _summary(results):
    """One result for the solves of one call: the only one, or (under vmap) success if all succeeded, the first
    failure's status and message, the largest nit and the total evaluation counts."""
    if len(results) == 1:
        return OptimizeResult(results[0])
    failed = [r for r in results if not r.success]
    first = failed[0] if failed else results[0]
    out = OptimizeResult(success=not failed, status=first.status, message=first.message)
    for key in ("nit",):
        if all(key in r for r in results):
            out[key] = max(r[key] for r in results)
    for key in ("nfev", "njev", "nhev"):
        if all(key in r for r in results):
            out[key] = sum(r[key] for r in results)
    return out


def has_traced(*trees) -> bool:
    """Whether any leaf of the pytrees is a traced value."""
    return any(isinstance(leaf, Tracer) for tree in trees for leaf in tree_flatten(tree)[0])


def solve_implicitly(caller, what, x0, args, residual, solve, value=None):
    """Run ``solve(x0, args)`` (a NumPy solver returning an OptimizeResult), differentiable w.r.t. ``args``.

    ``residual(x, args)`` is F with F(x*, args) = 0 at the solution, written with dualrev operations; ``what``
    names it in errors ("gradient", "equations"). Without traced values in ``args`` or ``x0`` this is just
    ``solve(x0, args)``. Otherwise the result's ``x`` is traced (a pytree like ``x0``), ``fun`` is
    ``value(x, args)`` recomputed on it (if given), and the solver's NumPy-only fields (jac, hess, ...) are left out.
    """
    leaves, tree = tree_flatten(args)
    traced = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tracer)]
    x0_leaves, x0_tree = tree_flatten(x0)
    x0_traced = [isinstance(leaf, Tracer) for leaf in x0_leaves]
    if not traced and not any(x0_traced):
        return solve(x0, args)
    template, unravel = ravel_x0(tree_unflatten(x0_tree, [_template(v) for v in x0_leaves]), f"{caller}: x0")
    dtype = template.dtype
    if any(x0_traced):
        x0_flat = dnp.concatenate([dnp.reshape(dnp.astype(v, dtype), (-1,)) for v in x0_leaves])
    else:
        x0_flat = ravel_x0(x0, f"{caller}: x0")[0]
    problem = _Solve(caller, what, residual, solve, unravel, dtype, leaves, tree, traced)
    x_flat = implicit_solution(x0_flat, *[leaves[i] for i in traced], problem=problem)
    res = _summary([run[0] for run in problem.runs])
    for key in _NUMPY_ONLY:
        res.pop(key, None)
    res.x = unravel(x_flat)
    if value is not None:
        res.fun = value(res.x, args)
    return res
