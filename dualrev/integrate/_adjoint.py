"""The continuous adjoint (``solve_ivp(..., adjoint=True)``): a ``dr.custom_vjp`` whose backward pass integrates
the adjoint system backwards in time with the same method and tolerances,

    dy/dt = f(t, y, p),   da/dt = -(df/dy)^T a,   dg/dt = -(df/dp)^T a,

from each output time to the one before it, adding the output's cotangent to ``a`` there and restarting ``y``
from the stored forward value (so the backward ``y`` never drifts far). Nothing per step is kept: memory is the
outputs only. The backward pass is written with dualrev operations and solves with the differentiable replay, so
second derivatives (an HVP through the solve) work. Imports custom, transforms, numpy and this package.
"""

from __future__ import annotations

import numpy as np

import dualrev.numpy as dnp
from dualrev.core import Tracer, concrete_value
from dualrev.custom import custom_vjp
from dualrev.integrate import _ivp
from dualrev.transforms import vjp
from dualrev.tree_util import tree_flatten


def _differentiable(leaf) -> bool:
    dtype = leaf.dtype if isinstance(leaf, Tracer) else np.result_type(leaf)
    return np.issubdtype(dtype, np.floating)


def _forward(y0, t0, t1, t_eval, *arg_leaves, problem):
    sol = _ivp.dto_solve(problem, t0, t1, y0, list(arg_leaves), t_eval)
    return sol.y, sol.t


def _solve_fwd(y0, t0, t1, t_eval, *arg_leaves, problem):
    y, t = _forward(y0, t0, t1, t_eval, *arg_leaves, problem=problem)
    at_end = problem.last_run is not None and problem.last_run.status == 0
    return (y, t), (y, t, y0, t0, t1, t_eval, arg_leaves, at_end)


def _augmented(problem, diff):
    """The adjoint system's right-hand side over z = [y, a, g] (g: the cotangents of the float parameters)."""
    n = problem.n

    def aug(t, z, arg_leaves):
        y, a = z[:n], z[n:2 * n]

        def f_of(y, *p):
            leaves = list(arg_leaves)
            for i, v in zip(diff, p):
                leaves[i] = v
            return problem.traced_fun(leaves)(t, y)

        f, pullback = vjp(f_of, y, *[arg_leaves[i] for i in diff])
        cts = pullback(a)
        parts = [f, -cts[0]] + [-dnp.reshape(c, (-1,)) for c in cts[1:]]
        return dnp.concatenate(parts)

    return aug


def _solve_bwd(res, cts, *, problem):
    y_out, t_out, y0, t0, _t1, t_eval, arg_leaves, at_end = res
    ct_y, ct_t = cts
    n, m = problem.n, y_out.shape[1]
    fun = problem.traced_fun(list(arg_leaves))
    diff = [i for i, leaf in enumerate(arg_leaves) if _differentiable(leaf)]
    sizes = [int(np.size(concrete_value(arg_leaves[i]))) if not isinstance(arg_leaves[i], Tracer)
             else int(np.prod(arg_leaves[i].shape)) for i in diff]
    aug = _augmented(problem, diff)
    atol = problem.atol
    if np.ndim(atol):  # per-component: the same for y and its adjoint, the smallest for the parameters
        atol = np.concatenate([atol, atol, np.full(sum(sizes), atol.min())])
    # One problem for every interval: with jit, its right-hand side (f and the VJP of f) is compiled once.
    leaves = list(arg_leaves)
    leaves_flat, leaves_tree = tree_flatten((leaves,))
    aug_problem = _ivp.Problem(aug, leaves_tree, 2 * n + sum(sizes), problem.tableau, problem.rtol, atol, None,
                               problem.max_step, False, None, True, problem.checkpoint_every, problem.jit)
    a = dnp.zeros(n)
    g = dnp.zeros(sum(sizes))
    dts = [None] * m
    for k in range(m - 1, -1, -1):
        t_k, y_k = t_out[k], y_out[:, k]
        dt = 0.0
        if ct_y is not None:
            a = a + ct_y[:, k]
            dt = dnp.dot(ct_y[:, k], fun(t_k, y_k))
        if ct_t is not None:
            dt = dt + ct_t[k]
        dts[k] = dt
        t_prev = t_out[k - 1] if k > 0 else t0
        if isinstance(t_prev, Tracer) or isinstance(t_k, Tracer) or float(t_prev) != float(t_k):
            z = dnp.concatenate([y_k, a, g])
            # The end time as the one output: the same shape for every example under vmap.
            t_end = t_prev if isinstance(t_prev, Tracer) else float(t_prev)
            sol = _ivp.dto_solve(aug_problem, t_k if isinstance(t_k, Tracer) else float(t_k), t_end, z, leaves_flat,
                                 dnp.reshape(t_end, (1,)) if isinstance(t_end, Tracer) else np.array([t_end]))
            z = sol.y[:, -1]
            a, g = z[n:2 * n], z[2 * n:]
    ct_t0 = -dnp.dot(a, fun(t0, y0))
    ct_t1 = None
    ct_t_eval = None
    if t_eval is None:
        ct_t0 = ct_t0 + dts[0]
        if at_end:
            ct_t1 = dts[-1]
    else:
        ct_t_eval = dnp.stack(dts)
        if m < t_eval.shape[0]:  # outputs cut short by a failure: the later times have no effect
            ct_t_eval = dnp.concatenate([ct_t_eval, dnp.zeros(t_eval.shape[0] - m)])
    ct_args = [None] * len(arg_leaves)
    start = 0
    for i, size in zip(diff, sizes):
        ct_args[i] = dnp.reshape(g[start:start + size], np.shape(concrete_value(arg_leaves[i]))
                                 if not isinstance(arg_leaves[i], Tracer) else arg_leaves[i].shape)
        start += size
    return (a, ct_t0, ct_t1, ct_t_eval, *ct_args)


def _adjoint_solver(problem):
    """The custom_vjp solve of one problem: the problem is closed over, so that the rules take arrays only
    (``bwd(residuals, ct)``, as custom_vjp requires)."""

    @custom_vjp
    def adjoint_solve(y0, t0, t1, t_eval, *arg_leaves):
        return _forward(y0, t0, t1, t_eval, *arg_leaves, problem=problem)

    def fwd(y0, t0, t1, t_eval, *arg_leaves):
        return _solve_fwd(y0, t0, t1, t_eval, *arg_leaves, problem=problem)

    def bwd(res, cts):
        return _solve_bwd(res, cts, problem=problem)

    adjoint_solve.defvjp(fwd, bwd)
    return adjoint_solve


def adjoint_solve(problem, t0, t1, y0, arg_leaves, t_eval):
    y, t = _adjoint_solver(problem)(y0, t0, t1, t_eval, *arg_leaves)
    run = problem.last_run
    batched = np.ndim(concrete_value(y)) > 2
    if batched or run is None:
        status, nfev, message = None, None, "not recorded under vmap with adjoint=True"
    else:
        status, nfev, message = run.status, run.nfev, run.message
    sol = None
    if problem.dense:
        sol = _ivp.OdeSolution(_ivp.Trajectory(problem.tableau, np.array(run.T), run.ys, run.coefs, None))
    return _ivp._result(t, y, sol, None, None, nfev, status, message, None if batched else run)
