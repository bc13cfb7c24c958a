"""The replay of an explicit Runge-Kutta solve as one primitive, for first-order reverse mode (``grad``, ``vjp``,
``jacrev``), with its forward steps and each step's VJP compiled once by ``dr.jit``.

The traced replay (``_ivp._replay``) records about a hundred tape nodes per step, mostly the user's ``fun``, and
walks them back one by one. But one step, as a function of ``(t_old, h, y, f, *args)``, has the same shapes at every
step: compiled once, it is a few microseconds of generated NumPy per call. So ``rk_replay`` takes the states ``y``
and ``fun(t, y)`` at the step boundaries from the solver's pass that has just computed them (or steps again with the
compiled step), which is all it keeps (no tape), and its VJP walks the steps backwards calling the compiled VJP of
one step (which recomputes that step's stages). Its derivatives are the traced replay's, to rounding: the exact
derivatives of the computed solution.

It is used only where every traced input is a reverse-mode tracer over plain values (see ``applies``): its VJP is
written with dualrev operations (a traced cotangent runs the step VJP eagerly, through ``dr.jit``), and every other
transform and order keeps the traced replay. Imports core, compile, reverse, transforms, numpy and this package.
"""

from __future__ import annotations

import numpy as np

import dualrev.numpy as dnp
from dualrev.compile import jit as jit_compile
from dualrev.core import Primitive, Tracer
from dualrev.integrate import _rk
from dualrev.reverse import TapeTracer
from dualrev.transforms import vjp

# Tracing and compiling the step functions costs about as much as 15 to 20 steps of the traced replay (measured on
# Lotka-Volterra: 45 ms, against 2.5 ms a step saved), once per call: shorter solves keep the traced replay.
MIN_STEPS = 32


def applies(problem, operands) -> bool:
    """Whether the compiled replay may stand for the traced one: an explicit method, ``jit=True``, ``fun`` with
    no traced closure, and every traced operand a tracer of one reverse-mode trace over plain values."""
    if not problem.jit or problem.tableau.implicit or problem.closure_traced:
        return False
    trace = None
    for x in operands:
        if isinstance(x, Tracer):
            if type(x) is not TapeTracer or isinstance(x.primal, Tracer):
                return False
            if trace is None:
                trace = x._trace
            elif x._trace is not trace:
                return False
    return trace is not None


class CompiledSteps:
    """One problem's compiled step functions, each traced on first use (one set per ``solve_ivp`` call, so that what
    ``fun`` captures is never stale)."""

    def __init__(self, problem):
        self.problem = problem
        self._fwd = {}
        self._vjp = {}

    def step(self, dense):
        fn = self._fwd.get(dense)
        if fn is None:
            fn = self._fwd[dense] = jit_compile(self._step_fun(dense))
        return fn

    def step_vjp(self, dense, diff, with_times):
        """The compiled VJP of one step with respect to ``y``, ``f``, the arguments ``diff`` and, ``with_times``,
        ``t_old`` and ``h`` first (without, the generated code leaves out their cotangents' terms)."""
        key = (dense, diff, with_times)
        fn = self._vjp.get(key)
        if fn is None:
            step = self._step_fun(dense)
            n_cts = 3 if dense else 2

            def step_vjp(t_old, h, y, f, *rest):
                leaves, cts = list(rest[:-n_cts]), tuple(rest[-n_cts:])

                def of(*xs):
                    t, dt = (xs[0], xs[1]) if with_times else (t_old, h)
                    xs = xs[2:] if with_times else xs
                    full = list(leaves)
                    for i, v in zip(diff, xs[2:]):
                        full[i] = v
                    return step(t, dt, xs[0], xs[1], *full)

                primals = ((t_old, h) if with_times else ()) + (y, f) + tuple(leaves[i] for i in diff)
                return vjp(of, *primals)[1](cts)

            fn = self._vjp[key] = jit_compile(step_vjp)
        return fn

    def _step_fun(self, dense):
        problem, T = self.problem, self.problem.tableau

        def step(t_old, h, y, f, *arg_leaves):
            fun = problem.traced_fun(arg_leaves)
            y_new, f_new, K = _rk.rk_step(fun, t_old, y, f, h, T)
            if dense:
                return y_new, f_new, _rk.dense_coefficients(fun, t_old, y, y_new, f_new, h, K, T)
            return y_new, f_new

        return step

    def initial_vjp(self, diff, with_times):
        """The compiled VJP of ``f0 = fun(t0, y0, *args)`` with respect to ``y0``, the arguments ``diff`` and,
        ``with_times``, ``t0`` first."""
        key = ("initial", diff, with_times)
        fn = self._vjp.get(key)
        if fn is None:
            problem = self.problem

            def initial_vjp(t0, y0, *rest):
                leaves, ct_f = list(rest[:-1]), rest[-1]

                def of(*xs):
                    t = xs[0] if with_times else t0
                    xs = xs[1:] if with_times else xs
                    full = list(leaves)
                    for i, v in zip(diff, xs[1:]):
                        full[i] = v
                    return problem.traced_fun(full)(t, xs[0])

                primals = ((t0,) if with_times else ()) + (y0,) + tuple(leaves[i] for i in diff)
                return vjp(of, *primals)[1](ct_f)

            fn = self._vjp[key] = jit_compile(initial_vjp)
        return fn


def _compiled(problem) -> CompiledSteps:
    if problem.compiled_steps is None:
        problem.compiled_steps = CompiledSteps(problem)
    return problem.compiled_steps


def _jit_args(arg_leaves):
    # NumPy scalars as 0-d arrays: the jit cache's fast key
    return [np.asarray(a) if isinstance(a, np.generic) else a for a in arg_leaves]


def _zeros_coefs(problem, n_dense):
    T, n = problem.tableau, problem.n
    shape = (n, T.P.shape[1]) if T.P is not None else (T.D.shape[0] + 3, n)
    return np.zeros((n_dense,) + shape)


def _forward(times, y0, *arg_leaves, problem, dense):
    """The accepted steps on plain values: the states (N + 1, n), fun's values there, and the interpolants of the
    steps flagged in ``dense`` (M, ...)."""
    steps = _compiled(problem)
    leaves = _jit_args(arg_leaves)
    t = [float(v) for v in times]
    dense_step = steps.step(True)
    run = problem.last_run
    if run is not None and run.fs is not None and len(run.fs) == len(t):
        # The plan has just taken these steps: its states are the forward pass; only the interpolants are needed.
        coefs = [dense_step(t[i], t[i + 1] - t[i], run.ys[i], run.fs[i], *leaves)[2]
                 for i, want in enumerate(dense) if want]
        coefs = np.stack(coefs) if coefs else _zeros_coefs(problem, 0)
        return (np.stack(run.ys), coefs), np.stack(run.fs)
    y, f = y0, problem.plain_fun(arg_leaves)(times[0], y0)
    ys, fs, coefs = [y], [f], []
    plain_step = steps.step(False)
    for i, want in enumerate(dense):
        if want:
            y, f, coef = dense_step(t[i], t[i + 1] - t[i], y, f, *leaves)
            coefs.append(coef)
        else:
            y, f = plain_step(t[i], t[i + 1] - t[i], y, f, *leaves)
        ys.append(y)
        fs.append(f)
    coefs = np.stack(coefs) if coefs else _zeros_coefs(problem, 0)
    return (np.stack(ys), coefs), np.stack(fs)


def _impl(times, y0, *arg_leaves, problem, dense):
    return _forward(times, y0, *arg_leaves, problem=problem, dense=dense)[0]


def _vjp_fwd(primals, *, problem, dense):
    return _forward(*primals, problem=problem, dense=dense)


def _vjp(ct, ans, xs, params, argnums):
    problem, dense, fs = params["problem"], params["dense"], params["residuals"]
    ys, coefs = ans
    times, y0, arg_leaves = xs[0], xs[1], list(xs[2:])
    ct_ys, ct_coefs = ct
    if ct_ys is None:
        ct_ys = np.zeros_like(ys)
    if ct_coefs is None:
        ct_coefs = np.zeros_like(coefs)
    steps = _compiled(problem)
    diff = tuple(i - 2 for i in argnums if i >= 2)
    leaves = _jit_args(arg_leaves)
    with_times = 0 in argnums  # the step times are traced (t_span)
    plain_vjp, dense_vjp = steps.step_vjp(False, diff, with_times), steps.step_vjp(True, diff, with_times)
    skip = 2 if with_times else 0
    t = [float(v) for v in times]
    n_steps = len(dense)
    ct_y, ct_f = ct_ys[n_steps], np.zeros_like(y0)
    ct_t = [0.0] * (n_steps + 1)
    ct_args = [None] * len(diff)
    row = int(sum(dense))
    for i in range(n_steps - 1, -1, -1):
        h = t[i + 1] - t[i]
        if dense[i]:
            row -= 1
            out = dense_vjp(t[i], h, ys[i], fs[i], *leaves, ct_y, ct_f, ct_coefs[row])
        else:
            out = plain_vjp(t[i], h, ys[i], fs[i], *leaves, ct_y, ct_f)
        if with_times:
            ct_t_old, ct_h = out[:2]
            ct_t[i] = ct_t[i] + ct_t_old - ct_h
            ct_t[i + 1] = ct_t[i + 1] + ct_h
        ct_y, ct_f = out[skip:skip + 2]
        for k, c in enumerate(out[skip + 2:]):
            ct_args[k] = c if ct_args[k] is None else ct_args[k] + c
        ct_y = ct_y + ct_ys[i]
    # f0 = fun(t0, y0, *args) starts the first step
    out = steps.initial_vjp(diff, with_times)(t[0], y0, *leaves, ct_f)
    if with_times:
        ct_t[0] = ct_t[0] + out[0]
    ct_y0, *ct_args0 = out[skip // 2:]
    ct_y = ct_y + ct_y0
    ct_args = [c if a is None else a + c for a, c in zip(ct_args, ct_args0)]
    out = []
    for i in argnums:
        if i == 0:
            out.append(dnp.stack(ct_t) if any(isinstance(c, Tracer) for c in ct_t) else np.array(ct_t, np.float64))
        elif i == 1:
            out.append(ct_y)
        else:
            out.append(ct_args[diff.index(i - 2)])
    return out


rk_replay = Primitive("rk_replay", _impl, vjp_fwd=_vjp_fwd, vjp=_vjp, multiple_results=True)
