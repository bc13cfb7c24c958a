"""``solve_ivp``: scipy's interface, with derivatives by every transform in two modes.

A solve is two passes. The *plan* (``_driver.integrate``, wrapped in the primitive ``ivp_plan`` so that it sees
plain values under every transform and runs once per example under vmap) is scipy's algorithm on plain floats:
it chooses and accepts the steps, finds the events, and says which step interpolates each ``t_eval`` point. The
*replay* repeats the accepted steps on the traced values, with the step sizes fixed as the plan chose them, so its
derivatives are the exact derivatives of the computed solution (discretise-then-optimise), in blocks of steps under
``dr.checkpoint`` to bound the tape; for first-order reverse mode, ``_compiled`` stands in for the replay with
compiled steps. With nothing traced, the plan's own values are the result. The continuous
adjoint (``adjoint=True``) lives in ``_adjoint``. Imports core, custom, transforms, numpy and this package.
"""

from __future__ import annotations

import warnings

import numpy as np

import dualrev.numpy as dnp
from dualrev.compile import jit as jit_compile
from dualrev.core import Primitive, Tracer, concrete_value, primal_value
from dualrev.custom import checkpoint, stop_gradient
from dualrev.integrate import _compiled, _driver, _radau, _rk
from dualrev.optimize._result import OptimizeResult
from dualrev.transforms import jacfwd, jvp
from dualrev.tree_util import tree_flatten, tree_unflatten

__all__ = ["OdeResult", "OdeSolution", "solve_ivp"]

METHODS = ("RK23", "RK45", "DOP853", "Radau")
SCIPY_ONLY_METHODS = ("BDF", "LSODA")


class OdeResult(OptimizeResult):
    """The result of ``solve_ivp``, as scipy's: ``t``, ``y`` (shape (n, len(t))), ``sol``, ``t_events``,
    ``y_events``, ``nfev``, ``njev``, ``nlu``, ``status`` (-1 failure, 0 end reached, 1 terminal event),
    ``message`` and ``success``. ``t``, ``y``, ``t_events``, ``y_events`` and ``sol(t)`` are differentiable."""


def _has_tracer(x) -> bool:
    return isinstance(x, Tracer) or (type(x) in (list, tuple, dict) and any(isinstance(v, Tracer)
                                                                             for v in tree_flatten(x)[0]))


def _primal_float(x):
    """The plain value of a time, or None under vmap (where it differs per example)."""
    if isinstance(x, Tracer):
        v = concrete_value(x)
        return float(v) if np.ndim(v) == 0 else None
    return float(x)


class Problem:
    """Everything static about one call: the user's functions and options (never traced)."""

    def __init__(self, fun, arg_tree, n, tableau, rtol, atol, first_step, max_step, dense, events, has_t_eval,
                 checkpoint_every, jit=False):
        self.fun, self.arg_tree, self.n, self.tableau = fun, arg_tree, n, tableau
        self.jit = jit
        # The plain pass calls fun thousands of times with the same shapes: compiled once, each call runs the
        # generated NumPy code (a closure over a traced value makes dr.jit run fun eagerly, as it must).
        self.compiled_fun = jit_compile(self.flat_fun) if jit else None
        self.rtol, self.atol, self.first_step, self.max_step = rtol, atol, first_step, max_step
        self.dense, self.events, self.has_t_eval = dense, events, has_t_eval
        self.checkpoint_every = checkpoint_every
        self.closure_traced = False  # fun returned a traced value for plain inputs (it closes over one)
        self.last_run = None
        self.compiled_steps = None  # _compiled.CompiledSteps, made on first use
        # The plan keeps every state and fun value when the compiled replay may use them (not the adjoint's solves,
        # whose memory stays flat)
        self.keep_all = False

    # -- the functions the two passes call --

    def flat_fun(self, t, y, *arg_leaves):
        return self.fun(t, y, *tree_unflatten(self.arg_tree, arg_leaves))

    def _call(self, fun, t, y, args, what="fun"):
        out = fun(t, y, *args)
        if _has_tracer(out):
            return dnp.asarray(out)
        out = np.asarray(out)
        if np.iscomplexobj(out):
            raise TypeError(f"solve_ivp: {what} returned complex values; dualrev.integrate.solve_ivp solves real "
                            "systems (split a complex state into real and imaginary parts)")
        return out

    def _as_state(self, out, t):
        if out.shape != (self.n,):
            raise ValueError(f"solve_ivp: fun(t, y) returned shape {tuple(out.shape)} at t={_primal_float(t)!r}; "
                             f"it must return the shape of y0, ({self.n},)")
        if out.dtype != np.float64:
            out = out.astype(np.float64)
        return out

    def plain_fun(self, arg_leaves):
        if self.compiled_fun is not None:
            # NumPy scalars as 0-d arrays and the time as a float: the jit cache's fast key (about 1 us a call)
            fun, args = self.compiled_fun, tuple(np.asarray(a) if isinstance(a, np.generic) else a
                                                 for a in arg_leaves)
        else:
            fun, args = self.fun, tree_unflatten(self.arg_tree, arg_leaves)

        compiled, shape = self.compiled_fun is not None, (self.n,)

        def f(t, y):
            if compiled:
                t = float(t)
                out = fun(t, y, *args)
                if type(out) is np.ndarray and out.dtype == np.float64 and out.shape == shape:
                    return out  # the common case, with nothing else to check
                out = self._call(lambda *_: out, t, y, args)
            else:
                out = self._call(fun, t, y, args)
            if isinstance(out, Tracer):
                self.closure_traced = True
                try:
                    out = primal_value(out)
                except TypeError:
                    raise TypeError("solve_ivp: fun uses a value batched by vmap from its closure; pass it "
                                    "through args=(...) instead") from None
            return self._as_state(out, t)

        return f

    def traced_fun(self, arg_leaves):
        args = tree_unflatten(self.arg_tree, arg_leaves)
        return lambda t, y: self._as_state(self._call(self.fun, t, y, args), t)

    def plain_events(self, arg_leaves):
        args = tree_unflatten(self.arg_tree, arg_leaves)
        out = []
        for ev, max_count, direction in self.events:
            def g(t, y, ev=ev):
                v = ev(t, y, *args)
                return float(primal_value(v)) if isinstance(v, Tracer) else float(np.asarray(v))
            out.append((g, max_count, direction))
        return out

    def plain_jac(self, arg_leaves):
        fun = self.traced_fun(arg_leaves)

        def jac(t, y):  # the exact Jacobian, by forward mode (n pushes)
            J = jacfwd(lambda v: fun(t, v))(y)
            return np.asarray(primal_value(J) if isinstance(J, Tracer) else J, np.float64)

        return jac

    def run(self, t0, t1, y0, arg_leaves, t_eval):
        events = self.plain_events(arg_leaves) if self.events else None
        jac = self.plain_jac(arg_leaves) if self.tableau.implicit else None
        run = _driver.integrate(self.plain_fun(arg_leaves), t0, t1, y0, self.tableau, self.rtol, self.atol,
                                self.first_step, self.max_step, t_eval, self.dense, events, jac, self.keep_all)
        self.last_run = run
        return run


# -- the plan: the solver's decisions as arrays, the same under every transform --


def _split_rest(rest, problem):
    return (list(rest[:-1]), rest[-1]) if problem.has_t_eval else (list(rest), None)


def _plan_impl(t0, t1, y0, *rest, problem):
    arg_leaves, t_eval = _split_rest(rest, problem)
    run = problem.run(float(t0), float(t1), np.asarray(y0, np.float64), arg_leaves,
                      None if t_eval is None else np.asarray(t_eval, np.float64))
    T = np.array(run.T, np.float64)
    at_end = (T == float(t1)) & (np.arange(len(T)) > 0)
    Z = np.array(run.Z, np.float64).reshape(-1, 3, problem.n) if problem.tableau.implicit else np.zeros(0)
    return (T, at_end, np.array(run.eval_step, np.int64), np.array(run.status), np.array(run.nfev), Z)


def _plan_batch(args, batched, *, problem):
    # Each example is solved on its own, as if unbatched; shorter runs are padded with steps of length zero (the
    # last time repeated), which the replay takes without changing the state.
    if problem.events:
        raise NotImplementedError("solve_ivp: events under vmap are not supported (each example would stop at its "
                                  "own time); loop over the examples instead")
    size = next(np.shape(a)[0] for a, b in zip(args, batched) if b)
    runs = [ivp_plan(*[a[i] if b else a for a, b in zip(args, batched)], problem=problem) for i in range(size)]
    steps = [np.shape(r[0])[0] for r in runs]
    if not problem.has_t_eval and len(set(steps)) > 1:
        raise ValueError("solve_ivp under vmap: the examples took different numbers of steps, so sol.t and sol.y "
                         "would differ in length; pass t_eval (the output times) to vmap over the solve")
    longest = max(steps)

    def pad(x, zeros=False):
        extra = longest - np.shape(x)[0] - (1 if zeros else 0)  # Z has one row per step, T one per time
        if extra <= 0:
            return x
        fill = dnp.zeros((extra,) + tuple(np.shape(x)[1:])) if zeros else dnp.repeat(x[-1:], extra, axis=0)
        return dnp.concatenate([x, fill])

    Z = [pad(r[5], zeros=True) for r in runs] if problem.tableau.implicit else [r[5] for r in runs]
    return (dnp.stack([pad(r[0]) for r in runs]), dnp.stack([pad(r[1]) for r in runs]),
            dnp.stack([r[2] for r in runs]), dnp.stack([r[3] for r in runs]), dnp.stack([r[4] for r in runs]),
            dnp.stack(Z))


ivp_plan = Primitive("ivp_plan", _plan_impl, nondiff=True, batch=_plan_batch, multiple_results=True)


# -- the replay --


def _gather(x, idx):
    """``x[idx]`` along axis 0, for a plain index or one that differs per example under vmap."""
    if not isinstance(idx, Tracer):
        return x[idx]
    idx = dnp.reshape(idx, (-1,) + (1,) * (len(x.shape) - 1))
    return dnp.take_along_axis(x, idx, axis=0)


def _steps(problem):
    T = problem.tableau

    def block(y, f, times, Z, *arg_leaves, dense):
        """Replay the steps between ``times``; ``dense``: for each, whether its interpolant is needed; ``Z``: the
        plan's stages of each step (implicit methods)."""
        fun = problem.traced_fun(arg_leaves)
        ys, coefs = [], []
        for i, want in enumerate(dense):
            t_old = times[i]
            h = times[i + 1] - t_old
            if T.implicit:
                y_new, Z_i = _radau.replay_step(fun, t_old, y, h, Z[i])
                f_new = f
                if want:
                    coefs.append(_radau.dense_coefficients(Z_i))
            else:
                y_new, f_new, K = _rk.rk_step(fun, t_old, y, f, h, T)
                if want:
                    coefs.append(_rk.dense_coefficients(fun, t_old, y, y_new, f_new, h, K, T))
            y, f = y_new, f_new
            ys.append(y)
        return y, f, ys, coefs

    return block


class Trajectory:
    """The replayed solution: ``times`` (N + 1,), the states ``ys`` at every step boundary (a list, or an (N + 1, n)
    array from the compiled replay), and the interpolants ``coefs`` of the steps listed in ``dense_steps``
    (1-based; None: every step)."""

    def __init__(self, tableau, times, ys, coefs, dense_steps):
        self.tableau, self.times, self.ys, self.coefs = tableau, times, ys, coefs
        self.row = None if dense_steps is None else {s: i for i, s in enumerate(dense_steps)}

    def states(self):
        return dnp.stack(self.ys) if isinstance(self.ys, list) else self.ys

    def __call__(self, steps, t):
        """The solution at times ``t`` (M,) from the interpolants of ``steps`` (M,): shape (M, n)."""
        if isinstance(steps, Tracer):  # differs per example under vmap: gather from every step
            idx = steps - 1
            coefs, y_old = dnp.stack(self.coefs), dnp.stack(self.ys[:-1])
            t_old = _gather(self.times, idx)
            h = _gather(self.times, idx + 1) - t_old
            return _rk.interpolate(_gather(coefs, idx), _gather(y_old, idx), t_old, h, t, self.tableau)
        steps = np.asarray(steps)
        rows = steps - 1 if self.row is None else [self.row[s] for s in steps]
        if isinstance(self.ys, list):
            coefs = dnp.stack([self.coefs[r] for r in rows])
            y_old = dnp.stack([self.ys[s - 1] for s in steps])
        else:  # the compiled replay's arrays
            coefs, y_old = self.coefs[np.asarray(rows, np.intp)], self.ys[steps - 1]
        t_old = self.times[steps - 1]
        h = self.times[steps] - t_old
        return _rk.interpolate(coefs, y_old, t_old, h, t, self.tableau)


def _replay(problem, t0, t1, y0, arg_leaves, plan, dense_steps):
    T_plan, at_end = plan[0], plan[1]
    T = problem.tableau
    if isinstance(t0, Tracer) or isinstance(t1, Tracer) or isinstance(T_plan, Tracer):
        # Interior step times move with t0 (the steps are kept); the last one is t_bound itself.
        shift = t0 - stop_gradient(t0)
        times = dnp.where(at_end, t1, T_plan + shift)
        times = dnp.concatenate([dnp.reshape(dnp.asarray(t0, dtype=np.float64), (1,)), times[1:]])
    else:
        times = T_plan
    n_steps = times.shape[0] - 1
    wanted = set(range(1, n_steps + 1)) if dense_steps is None else set(dense_steps)
    if n_steps >= _compiled.MIN_STEPS and _compiled.applies(problem, [times, y0, *arg_leaves]):
        dense = tuple(s in wanted for s in range(1, n_steps + 1))
        ys, coefs = _compiled.rk_replay(times, y0, *arg_leaves, problem=problem, dense=dense)
        return Trajectory(problem.tableau, times, ys, coefs, dense_steps)
    block = _steps(problem)
    every = problem.checkpoint_every
    if every and not problem.closure_traced and n_steps > every:
        block = checkpoint(block)
        # Python floats as NumPy scalars: the checkpoint's recomputation records its inputs as arrays.
        arg_leaves = [np.float64(a) if type(a) is float else a for a in arg_leaves]
    size = every or n_steps
    y = y0
    f = problem.traced_fun(arg_leaves)(times[0], y0)
    ys, coefs = [y0], []
    for start in range(0, n_steps, max(size, 1)):
        stop = min(start + size, n_steps)
        dense = tuple(s in wanted for s in range(start + 1, stop + 1))
        Z = plan[5][start:stop] if T.implicit else None
        y, f, ys_block, coefs_block = block(y, f, times[start:stop + 1], Z, *arg_leaves, dense=dense)
        ys.extend(ys_block)
        coefs.extend(coefs_block)
    return Trajectory(problem.tableau, times, ys, coefs, dense_steps)


def _event_time(problem, arg_leaves, ev, trajectory, step, root):
    """The event time as a function of the traced inputs: two Newton steps on g(t, y(t)) = 0 from the root the plan
    found (plain), along the step's interpolant. Its value stays the plan's root; its derivatives are those of the
    root to third order (the Newton error is quartic in the perturbation)."""
    args = tree_unflatten(problem.arg_tree, arg_leaves)
    steps = np.array([step])

    def y_at(t):
        return trajectory(steps, dnp.reshape(t, (1,)))[0]

    def g(t):
        return dnp.asarray(ev(t, y_at(t), *args), dtype=np.float64)

    def newton(t):
        value, slope = jvp(g, (t,), (np.ones((), np.float64),))
        return t - value / slope

    root = np.asarray(root, np.float64)
    c = newton(newton(root))
    t_event = root + (c - stop_gradient(c))
    return t_event, y_at(t_event)


class OdeSolution:
    """The continuous solution (``dense_output=True``): ``sol(t)`` for a float or a 1-D array of times, shape (n,)
    or (n, len(t)), from the method's own interpolant of the step that covers each time (scipy's selection rule).
    Differentiable in ``t`` and in everything the solve depended on."""

    def __init__(self, trajectory):
        self._trajectory = trajectory
        self.ts = trajectory.times
        ts_plain = primal_value(self.ts) if isinstance(self.ts, Tracer) else np.asarray(self.ts)
        self._ts_plain = ts_plain
        self.n_segments = len(ts_plain) - 1
        self.ascending = ts_plain[-1] >= ts_plain[0]
        self.t_min, self.t_max = (ts_plain[0], ts_plain[-1]) if self.ascending else (ts_plain[-1], ts_plain[0])

    def __call__(self, t):
        scalar = np.ndim(t) == 0
        t = dnp.reshape(dnp.asarray(t, dtype=np.float64), (-1,))
        tp = primal_value(t) if isinstance(t, Tracer) else t
        if self.ascending:
            seg = np.searchsorted(self._ts_plain, tp, side="left") - 1
        else:
            seg = np.searchsorted(self._ts_plain[::-1], tp, side="right") - 1
            seg = self.n_segments - 1 - np.clip(seg, 0, self.n_segments - 1)
        seg = np.clip(seg, 0, self.n_segments - 1)
        y = self._trajectory(seg + 1, t)
        return y[0] if scalar else y.T


# -- input checks, as scipy makes them --


def _check_tol(rtol, atol, n):
    rtol = np.asarray(rtol, np.float64)
    if np.any(rtol < 100 * _driver.EPS):
        warnings.warn(f"solve_ivp: at least one element of `rtol` is too small; using "
                      f"`rtol = np.maximum(rtol, {100 * _driver.EPS})`.", stacklevel=3)
        rtol = np.maximum(rtol, 100 * _driver.EPS)
    atol = np.asarray(atol, np.float64)
    if atol.ndim > 0 and atol.shape != (n,):
        raise ValueError(f"solve_ivp: `atol` has shape {atol.shape}; it must be a scalar or of shape ({n},)")
    if np.any(atol < 0):
        raise ValueError("solve_ivp: `atol` must be positive.")
    return rtol, atol


def _check_y0(y0):
    if _has_tracer(y0) and not isinstance(y0, Tracer):
        y0 = dnp.asarray(y0)  # a list of traced values
    if isinstance(y0, Tracer):
        plain = concrete_value(y0)  # every example's value, for the finiteness check
        if np.issubdtype(y0.dtype, np.complexfloating):
            raise TypeError("solve_ivp: complex `y0` is not supported; split the state into real and imaginary "
                            "parts")
        if y0.dtype != np.float64:
            y0 = y0.astype(np.float64)
    else:
        plain = np.asarray(y0)
        if np.issubdtype(plain.dtype, np.complexfloating):
            raise TypeError("solve_ivp: complex `y0` is not supported; split the state into real and imaginary "
                            "parts")
        if not (np.issubdtype(plain.dtype, np.floating) or np.issubdtype(plain.dtype, np.integer)
                or plain.dtype == bool):
            raise TypeError(f"solve_ivp: `y0` must be real numbers, not dtype {plain.dtype}")
        y0 = plain = plain.astype(np.float64)
    if y0.ndim != 1:
        raise ValueError(f"solve_ivp: `y0` must be 1-dimensional, got shape {tuple(y0.shape)} (flatten the state, "
                         "and reshape it inside fun)")
    if plain is not None and not np.all(np.isfinite(plain)):
        raise ValueError("solve_ivp: all components of the initial state `y0` must be finite.")
    return y0


def _check_time(x, what):
    if isinstance(x, Tracer):
        if x.shape != ():
            raise ValueError(f"solve_ivp: {what} must be a scalar, got shape {x.shape}")
        return x if x.dtype == np.float64 else x.astype(np.float64)
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"solve_ivp: {what} must be a real number, got {x!r}") from None


def _prepare_events(events):
    if events is None:
        return None
    if callable(events):
        events = (events,)
    out = []
    for ev in events:
        terminal = getattr(ev, "terminal", None)
        direction = float(getattr(ev, "direction", 0))
        if terminal is None or terminal == 0:
            count = np.inf
        elif int(terminal) == terminal and terminal > 0:
            count = terminal
        else:
            raise ValueError("solve_ivp: the `terminal` attribute of each event must be a boolean or positive "
                             "integer.")
        out.append((ev, count, direction))
    return out


def solve_ivp(fun, t_span, y0, method="RK45", t_eval=None, dense_output=False, events=None, vectorized=False,
              args=None, *, adjoint=False, checkpoint_every=64, jit=True, **options):
    """Solve an initial value problem ``dy/dt = fun(t, y, *args)``, ``y(t_span[0]) = y0``, like
    ``scipy.integrate.solve_ivp``, with derivatives by every dualrev transform.

    Methods ``"RK45"`` (default), ``"DOP853"`` and ``"RK23"``: scipy's tableaux and step-size control, so the same
    tolerances give the same steps, values and ``nfev``. ``"Radau"`` (implicit, for stiff problems): scipy's
    Radau IIA with the exact Jacobian ``dr.jacfwd(fun)`` in its Newton iterations (the same steps as scipy's given
    ``jac=`` the exact Jacobian). ``fun`` must be written with ``dualrev.numpy`` (or plain
    ``np.*`` calls, which dispatch on traced values). Options as scipy: ``rtol``, ``atol``, ``first_step``,
    ``max_step``. The state is computed in float64 (as scipy does).

    Derivatives with respect to ``y0``, ``args`` (any pytree), ``t_span`` and ``t_eval``:

    - ``adjoint=False`` (default), discretise-then-optimise: the accepted steps are replayed on the traced values
      with the step sizes the solver chose held fixed, so derivatives are the exact derivatives of the computed
      solution, at every order. The tape is bounded by ``dr.checkpoint`` over blocks of ``checkpoint_every``
      steps (0 or None: no checkpointing).
    - ``adjoint=True``, the continuous adjoint: the backward pass integrates the adjoint ODE backwards with the
      same method and tolerances, so memory does not grow with the number of steps; derivatives agree with the
      exact ones to the solver's tolerance. Second order works (the adjoint solve is itself differentiable).

    ``jit`` (default True), as in ``dualrev.optimize.minimize``: ``fun`` is compiled with ``dr.jit`` for the
    solver's own pass, and a first-order reverse-mode derivative (``grad``, ``vjp``, ``jacrev``) of an explicit
    method through 32 steps or more runs each accepted step's VJP as code compiled once per call, with the
    derivatives of the traced replay. Arrays ``fun`` captures are constants of the compiled code within the call,
    and side effects in ``fun`` happen when it is traced; ``jit=False`` runs ``fun`` eagerly throughout.

    A closure over traced values works too, but then is not checkpointed; pass parameters through ``args`` to keep
    the memory bound (and under vmap, a batched parameter must come through ``args``).

    >>> sol = solve_ivp(lambda t, y, k: -k * y, (0.0, 1.0), [1.0], args=(2.0,), t_eval=[1.0])
    >>> dr.grad(lambda k: solve_ivp(lambda t, y, k: -k * y, (0.0, 1.0), [1.0], args=(k,)).y[0, -1])(2.0)
    """
    if method in SCIPY_ONLY_METHODS:
        raise NotImplementedError(f"solve_ivp: method {method!r} is not implemented in dualrev yet; use 'Radau' for "
                                  "stiff problems, 'RK45' or 'DOP853' otherwise")
    if method not in METHODS:
        raise ValueError(f"solve_ivp: `method` must be one of {METHODS}, got {method!r}")
    if vectorized:
        raise ValueError("solve_ivp: `vectorized=True` is not supported (the explicit methods never need it); "
                         "use dr.vmap to solve many problems")
    unknown = set(options) - {"rtol", "atol", "first_step", "max_step"}
    if unknown:
        warnings.warn(f"solve_ivp: the following arguments have no effect for a chosen solver: "
                      f"{', '.join(sorted(unknown))}.", stacklevel=2)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        try:
            args = tuple(args)
        except TypeError:
            raise TypeError(f"solve_ivp: supplied 'args' cannot be unpacked; supply `args` as a tuple "
                            f"(e.g. `args=({args!r},)`)") from None
    try:
        t0, t1 = t_span
    except (TypeError, ValueError):
        raise ValueError("solve_ivp: `t_span` must be a pair (t0, tf)") from None
    t0, t1 = _check_time(t0, "t_span[0]"), _check_time(t1, "t_span[1]")
    t0p, t1p = _primal_float(t0), _primal_float(t1)
    y0 = _check_y0(y0)
    n = y0.shape[0]
    rtol, atol = _check_tol(options.get("rtol", 1e-3), options.get("atol", 1e-6), n)
    max_step = options.get("max_step", np.inf)
    if max_step <= 0:
        raise ValueError("solve_ivp: `max_step` must be positive.")
    first_step = options.get("first_step")
    if first_step is not None:
        if first_step <= 0:
            raise ValueError("solve_ivp: `first_step` must be positive.")
        if None not in (t0p, t1p) and first_step > abs(t1p - t0p):
            raise ValueError("solve_ivp: `first_step` exceeds bounds.")
        first_step = float(first_step)
    if t_eval is not None:
        if _has_tracer(t_eval) and not isinstance(t_eval, Tracer):
            t_eval = dnp.asarray(t_eval)
        if not isinstance(t_eval, Tracer):
            t_eval = np.asarray(t_eval, np.float64)
        elif t_eval.dtype != np.float64:
            t_eval = t_eval.astype(np.float64)
        if t_eval.ndim != 1:
            raise ValueError("solve_ivp: `t_eval` must be 1-dimensional.")
        if None not in (t0p, t1p) and not (isinstance(t_eval, Tracer) and np.ndim(concrete_value(t_eval)) > 1):
            te = concrete_value(t_eval)
            if np.any(te < min(t0p, t1p)) or np.any(te > max(t0p, t1p)):
                raise ValueError("solve_ivp: values in `t_eval` are not within `t_span`.")
            d = np.diff(te)
            if (t1p > t0p and np.any(d <= 0)) or (t1p < t0p and np.any(d >= 0)):
                raise ValueError("solve_ivp: values in `t_eval` are not properly sorted.")
    events = _prepare_events(events)
    arg_leaves, arg_tree = tree_flatten(args)
    problem = Problem(fun, arg_tree, n, _rk.TABLEAUX[method], rtol, atol, first_step, max_step, bool(dense_output),
                      events, t_eval is not None, checkpoint_every, bool(jit))
    if adjoint:
        if events:
            raise NotImplementedError("solve_ivp: events with adjoint=True are not supported; use the default "
                                      "adjoint=False (discretise-then-optimise), which differentiates events")
        from dualrev.integrate._adjoint import adjoint_solve
        return adjoint_solve(problem, t0, t1, y0, arg_leaves, t_eval)
    return dto_solve(problem, t0, t1, y0, arg_leaves, t_eval)


def dto_solve(problem, t0, t1, y0, arg_leaves, t_eval):
    """Discretise-then-optimise: the plan's values when nothing is traced, else the replay."""
    inputs = [t0, t1, y0, *arg_leaves] + ([t_eval] if t_eval is not None else [])
    if not any(isinstance(x, Tracer) for x in inputs):
        try:
            return _plain_result(problem, t0, t1, y0, arg_leaves, t_eval)
        except _NeedsTrace:
            pass
    return _traced_result(problem, t0, t1, y0, arg_leaves, t_eval)


class _NeedsTrace(Exception):
    """fun closes over a traced value: the plain pass alone cannot give the result."""


def _plain_result(problem, t0, t1, y0, arg_leaves, t_eval):
    run = problem.run(t0, t1, y0, arg_leaves, t_eval)
    if problem.closure_traced:
        raise _NeedsTrace
    T = problem.tableau
    if t_eval is None:
        t, ys = np.array(run.T), list(run.ys)
        if run.terminal:
            t[-1], ys[-1] = run.t_final, run.y_final
        y = np.stack(ys).T
    else:
        t = t_eval[:len(run.eval_step)]
        y = np.concatenate(run.y_eval).T if run.y_eval else np.zeros((problem.n, 0))
    sol = None
    if problem.dense:
        sol = OdeSolution(Trajectory(T, np.array(run.T), run.ys, run.coefs, None))
    t_events = y_events = None
    if problem.events:
        t_events = [np.array([te for e, _, te, _ in run.events if e == k]) for k in range(len(problem.events))]
        y_events = [np.array([ye for e, _, _, ye in run.events if e == k]).reshape(-1, problem.n)
                    for k in range(len(problem.events))]
    return _result(t, y, sol, t_events, y_events, run.nfev, run.status, run.message, run)


def _result(t, y, sol, t_events, y_events, nfev, status, message, run=None):
    success = None if status is None or isinstance(status, Tracer) else status >= 0
    njev, nlu = (run.njev, run.nlu) if run is not None else (None, None)
    return OdeResult(t=t, y=y, sol=sol, t_events=t_events, y_events=y_events, nfev=nfev, njev=njev, nlu=nlu,
                     status=status, message=message, success=success)


def _traced_result(problem, t0, t1, y0, arg_leaves, t_eval):
    inputs = [t0, t1, y0, *arg_leaves] + ([t_eval] if t_eval is not None else [])
    problem.keep_all = _compiled.applies(problem, inputs)
    plan = ivp_plan(*inputs, problem=problem)
    eval_step, status, nfev = plan[2], plan[3], plan[4]
    batched = any(isinstance(p, Tracer) for p in plan)
    run = None if batched else problem.last_run
    if batched or problem.dense:
        dense_steps = None
    else:  # only the steps that give an output or an event need their interpolant
        dense_steps = sorted(set(run.eval_step) | {step for _, step, _, _ in run.events})
    trajectory = _replay(problem, t0, t1, y0, arg_leaves, plan, dense_steps)
    t_events = y_events = None
    t_final = y_final = None
    if problem.events:
        t_events, y_events = [[] for _ in problem.events], [[] for _ in problem.events]
        for e, step, root, _ in run.events:
            te, ye = _event_time(problem, arg_leaves, problem.events[e][0], trajectory, step, root)
            t_events[e].append(te)
            y_events[e].append(ye)
            t_final, y_final = te, ye
        t_events = [dnp.stack(v) if v else np.zeros(0) for v in t_events]
        y_events = [dnp.stack(v) if v else np.zeros((0, problem.n)) for v in y_events]
    if t_eval is None:
        t, y = trajectory.times, trajectory.states()
        if run is not None and run.terminal:
            t = dnp.concatenate([t[:-1], dnp.reshape(t_final, (1,))])
            y = dnp.concatenate([y[:-1], dnp.reshape(y_final, (1, -1))])
        y = y.T
    else:
        m = eval_step.shape[0]
        t = t_eval[:m]
        y = trajectory(eval_step, t).T if m else np.zeros((problem.n, 0))
    sol = OdeSolution(trajectory) if problem.dense else None
    message = run.message if run is not None else "see `status` (one per example)"
    if run is not None:
        status, nfev = run.status, run.nfev
    return _result(t, y, sol, t_events, y_events, nfev, status, message, run)
