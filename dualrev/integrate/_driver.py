"""The solver's own pass, on plain floats: scipy.integrate.solve_ivp's algorithm step for step (adaptive steps,
t_eval by dense output, events located by Brent's method), recording what the differentiable replay needs: the
accepted step times, which step each output point falls in, and where the events were found.

Nothing here sees a traced value. Imports numpy and the method modules of this package.
"""

from __future__ import annotations

import array
import math

import numpy as np

from dualrev.integrate import _radau, _rk

EPS = np.finfo(float).eps
TOO_SMALL_STEP = "Required step size is less than spacing between numbers."
MESSAGES = {0: "The solver successfully reached the end of the integration interval.",
            1: "A termination event occurred."}


class FunctionCounter:
    """``fun`` counted, as scipy counts ``nfev``; remembers a non-finite value for the failure message."""

    def __init__(self, fun):
        self.fun = fun
        self.nfev = 0
        self.nonfinite_at = None

    def __call__(self, t, y):
        self.nfev += 1
        f = self.fun(t, y)
        if self.nonfinite_at is None and not np.isfinite(f).all():
            self.nonfinite_at = t
        return f


class Run:
    """What the plain pass found. ``T``: step boundaries (``T[0] = t0``); ``ys``: the state there; ``coefs``: each
    step's interpolant (None where none was needed); ``eval_step``: for each returned ``t_eval`` point, the
    (1-based) step whose interpolant gives it; ``events``: (event index, step, t, y) in the order found."""

    def __init__(self):
        self.T = array.array("d")  # 8 bytes a step: the adjoint's memory stays (nearly) flat in the step count
        self.ys, self.coefs, self.eval_step, self.y_eval = [], [], [], []
        self.events, self.terminal = [], False
        self.status, self.message, self.nfev, self.njev, self.nlu = None, None, 0, 0, 0
        self.Z = []  # Radau: each accepted step's stages
        self.fs = None  # with keep_all: fun(t, y) at every step boundary (the compiled replay's residuals)


def brent_root(g, a, b, ga, gb, xtol=4 * EPS, rtol=4 * EPS, maxiter=100):
    """Brent's method for a root of ``g`` bracketed by [a, b] (``ga``, ``gb`` of opposite signs or zero)."""
    if ga == 0:
        return a
    if gb == 0:
        return b
    c, gc = a, ga
    d = e = b - a
    for _ in range(maxiter):
        if gb * gc > 0:
            c, gc = a, ga
            d = e = b - a
        if abs(gc) < abs(gb):
            a, b, c = b, c, b
            ga, gb, gc = gb, gc, gb
        tol = 2 * EPS * abs(b) + 0.5 * xtol + 0.5 * rtol * abs(b)
        m = 0.5 * (c - b)
        if abs(m) <= tol or gb == 0:
            return b
        if abs(e) >= tol and abs(ga) > abs(gb):
            s = gb / ga
            if a == c:  # secant
                p, q = 2 * m * s, 1 - s
            else:  # inverse quadratic interpolation
                q, r = ga / gc, gb / gc
                p = s * (2 * m * q * (q - r) - (b - a) * (r - 1))
                q = (q - 1) * (r - 1) * (s - 1)
            if p > 0:
                q = -q
            p = abs(p)
            if 2 * p < min(3 * m * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q
            else:
                d = e = m
        else:
            d = e = m
        a, ga = b, gb
        b = b + (d if abs(d) > tol else math.copysign(tol, m))
        gb = g(b)
    return b


def active_events(g, g_new, direction):
    g, g_new = np.asarray(g), np.asarray(g_new)
    up = (g <= 0) & (g_new >= 0)
    down = (g >= 0) & (g_new <= 0)
    return np.nonzero(up & (direction > 0) | down & (direction < 0) | (up | down) & (direction == 0))[0]


def integrate(fun, t0, t1, y0, T: _rk.Tableau, rtol, atol, first_step, max_step, t_eval, dense, events, jac=None,
              keep_all=False):
    """Run the solver on plain values. ``fun(t, y)`` returns a float64 array shaped like ``y0``; ``events`` is a
    list of ``(g(t, y), max_count, direction)``; ``jac(t, y)`` the exact Jacobian (implicit methods);
    ``keep_all``: keep the state and ``fun(t, y)`` at every step boundary."""
    run = Run()
    fcount = FunctionCounter(fun)
    n = y0.size
    direction = np.sign(t1 - t0) if t1 != t0 else 1.0
    t, y = t0, y0
    f = fcount(t, y)
    if first_step is None:
        h_abs = _rk.initial_step(fcount, t, y, t1, max_step, f, direction, T.error_order, rtol, atol)
    else:
        h_abs = first_step
    stepper = None
    if T.implicit:
        stepper = _radau.RadauStepper(fcount, jac, t0, y0, f, h_abs, rtol, atol, max_step, direction, t1)
    keep_states = t_eval is None or dense or keep_all  # else the step times are all the replay needs
    run.T.append(t)
    run.ys.append(y)
    if keep_all:
        run.fs = [f]
    eval_i = 0
    if events:
        g = [ev(t0, y0) for ev, _, _ in events]
        counts = np.zeros(len(events))
        maxes = np.array([m for _, m, _ in events])
        dirs = np.array([d for _, _, d in events])

    status = None
    while status is None:
        t_old, y_old, _f_old = t, y, f
        if n == 0 or t == t1:  # nothing to integrate: one step of length zero
            t = t1
            K, h = [f] * (T.n_stages + 1), 0.0
            if T.implicit:
                run.Z.append(np.zeros((3, n)))
            status = 0
        else:
            if stepper is not None:
                ok, out = stepper.step(t, y, f)
                if ok:
                    run.Z.append(out[3])
                    out = out + (None,)
            else:
                ok, out = _adaptive_step(fcount, t, y, f, h_abs, t1, direction, T, rtol, atol, max_step)
            if not ok:
                status = -1
                run.message = out
                if fcount.nonfinite_at is not None:
                    run.message = (f"{out} (fun returned a non-finite value at t={fcount.nonfinite_at!r}; check "
                                   "fun's formula and the initial state)")
                break
            t, y, f, K, h, h_abs = out
            if direction * (t - t1) >= 0:
                status = 0
        run.T.append(t)
        if keep_states:
            run.ys.append(y)
        if keep_all:
            run.fs.append(f)
        step = len(run.T) - 1

        sol = StepInterpolant(fcount, t_old, y_old, y, f, h, K, T)
        if dense:
            sol.coef()
        t_out = t
        if events:
            g_new = [ev(t, y) for ev, _, _ in events]
            active = active_events(g, g_new, dirs)
            if active.size > 0:
                counts[active] += 1
                roots = np.array([brent_root(lambda s, e=e, sol=sol: events[e][0](s, sol(s)[0]), t_old, t, g[e],
                                             g_new[e]) for e in active])
                terminate = bool(np.any(counts[active] >= maxes[active]))
                if terminate:
                    order = np.argsort(roots) if t > t_old else np.argsort(-roots)
                    active, roots = active[order], roots[order]
                    last = np.nonzero(counts[active] >= maxes[active])[0][0]
                    active, roots = active[:last + 1], roots[:last + 1]
                for e, te in zip(active, roots):
                    run.events.append((int(e), step, float(te), sol(te)[0]))
                if terminate:
                    status = 1
                    run.terminal = True
                    t_out = roots[-1]
            g = g_new
        if t_eval is not None:
            j = eval_i
            while j < len(t_eval) and direction * (t_eval[j] - t_out) <= 0:
                j += 1
            if j > eval_i:
                run.y_eval.append(sol(t_eval[eval_i:j]))
                run.eval_step.extend([step] * (j - eval_i))
                eval_i = j
        if dense:
            run.coefs.append(sol.coef())
        if run.terminal:
            run.t_final, run.y_final = t_out, sol(t_out)[0]
    run.status = status
    run.nfev = fcount.nfev
    if stepper is not None:
        run.njev, run.nlu = stepper.njev, stepper.nlu
    if run.message is None:
        run.message = MESSAGES[status]
    return run


class StepInterpolant:
    """The method's interpolant over one accepted step, built on first use (DOP853's costs three evaluations)."""

    def __init__(self, fun, t_old, y_old, y, f, h, K, T):
        self.fun, self.t_old, self.y_old, self.y, self.f, self.h, self.K, self.T = fun, t_old, y_old, y, f, h, K, T
        self._coef = None

    def coef(self):
        if self._coef is None:
            T, n = self.T, self.y_old.size
            if self.h == 0:  # a step of length zero: the constant y_old
                self._coef = np.zeros((T.D.shape[0] + 3, n) if T.P is None else (n, T.P.shape[1]))
            elif T.implicit:
                self._coef = _radau.dense_coefficients(self.K)
            else:
                self._coef = _rk.dense_coefficients(self.fun, self.t_old, self.y_old, self.y, self.f, self.h, self.K,
                                                    T)
        return self._coef

    def __call__(self, ts):
        ts = np.atleast_1d(np.asarray(ts, float))
        m, coef = ts.size, self.coef()
        y_old = np.broadcast_to(self.y_old, (m, self.y_old.size))
        return _rk.interpolate(np.broadcast_to(coef, (m, *coef.shape)), y_old, np.full(m, self.t_old),
                               np.full(m, self.h), ts, self.T)


def _adaptive_step(fun, t, y, f, h_abs, t_bound, direction, T, rtol, atol, max_step):
    """One accepted step with scipy's error control, or (False, message)."""
    min_step = 10 * np.abs(np.nextafter(t, direction * np.inf) - t)
    if h_abs > max_step:
        h_abs = max_step
    elif h_abs < min_step:
        h_abs = min_step
    rejected = False
    while True:
        if not h_abs >= min_step:  # also a NaN step size, from a non-finite fun (where scipy loops forever)
            return False, TOO_SMALL_STEP
        t_new = t + h_abs * direction
        if direction * (t_new - t_bound) > 0:
            t_new = t_bound
        h = t_new - t
        h_abs = np.abs(h)
        y_new, f_new, K = _rk.rk_step(fun, t, y, f, h, T)
        scale = atol + np.maximum(np.abs(y), np.abs(y_new)) * rtol
        err = _rk.error_norm(K, h, scale, T)
        if err < 1:
            factor = _rk.MAX_FACTOR if err == 0 else min(_rk.MAX_FACTOR, _rk.SAFETY * err ** T.error_exponent)
            if rejected:
                factor = min(1, factor)
            return True, (t_new, y_new, f_new, K, h, h_abs * factor)
        h_abs *= max(_rk.MIN_FACTOR, _rk.SAFETY * err ** T.error_exponent)
        rejected = True
