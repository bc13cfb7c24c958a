"""Explicit Runge-Kutta pairs: one step, its error norm, the first step size and the dense-output interpolants.

The step and the interpolants are written with dualrev.numpy, so the same code runs on plain arrays (the solver's
own pass, where every number matches scipy.integrate's) and on traced values (the differentiable replay).
The error norms and step-size choices only ever see plain floats. Imports numpy and dualrev.numpy.
"""

from __future__ import annotations

import numpy as np

import dualrev.numpy as dnp
from dualrev.core import Primitive, Tracer
from dualrev.integrate import _tableaux as tab

# Step-size control constants of Hairer, Norsett & Wanner (II.4), as scipy uses them.
SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0


class Tableau:
    """One embedded pair: ``A, B, C`` of the step, ``E`` (or ``E3, E5``) of the error estimate, and the
    coefficients of its interpolant (``P`` for the polynomial in Q-form, ``D`` and extra stages for DOP853)."""

    def __init__(self, name, *, A, B, C, order, error_order, E=None, E3=None, E5=None, P=None, D=None,
                 A_extra=None, C_extra=None):
        self.name, self.A, self.B, self.C = name, A, B, C
        self.n_stages = len(C)
        self.order, self.error_order = order, error_order
        self.error_exponent = -1 / (error_order + 1)
        self.E, self.E3, self.E5, self.P, self.D = E, E3, E5, P, D
        self.A_extra, self.C_extra = A_extra, C_extra
        self.implicit = False
        self.h_in_interpolant = True  # y_old + h Q p (the explicit pairs); Radau's polynomial is y_old + Q p
        # Function evaluations a dense output costs beyond the step (DOP853's three extra stages).
        self.dense_fevals = 0 if A_extra is None else len(A_extra)


_N = tab.DOP853_N_STAGES
TABLEAUX = {
    "RK23": Tableau("RK23", A=tab.RK23_A, B=tab.RK23_B, C=tab.RK23_C, E=tab.RK23_E, P=tab.RK23_P, order=3,
                    error_order=2),
    "RK45": Tableau("RK45", A=tab.RK45_A, B=tab.RK45_B, C=tab.RK45_C, E=tab.RK45_E, P=tab.RK45_P, order=5,
                    error_order=4),
    "DOP853": Tableau("DOP853", A=tab.DOP853_A[:_N, :_N], B=tab.DOP853_B, C=tab.DOP853_C[:_N], E3=tab.DOP853_E3,
                      E5=tab.DOP853_E5, D=tab.DOP853_D, A_extra=tab.DOP853_A[_N + 1:], C_extra=tab.DOP853_C[_N + 1:],
                      order=8, error_order=7),
}


def rms_norm(x):
    return np.linalg.norm(x) / x.size ** 0.5


def rk_step(fun, t, y, f, h, T: Tableau):
    """One step of size ``h`` from ``(t, y)`` with ``f = fun(t, y)``: ``(y_new, f_new, K)``, K the stages as rows
    (the last one is ``f_new``, as the error estimators and interpolants expect)."""
    if not any(isinstance(v, Tracer) for v in (t, y, f, h)):
        # Plain values: scipy's own arithmetic, operation for operation, so that every step agrees to the bit.
        K = np.empty((T.n_stages + 1, y.shape[0]))
        K[0] = f
        for s in range(1, T.n_stages):
            K[s] = fun(t + T.C[s] * h, y + np.dot(K[:s].T, T.A[s, :s]) * h)
        y_new = y + h * np.dot(K[:-1].T, T.B)
        f_new = fun(t + h, y_new)
        K[-1] = f_new
        return y_new, f_new, K
    # Traced: the same sums as linear combinations of the stages (cheaper on a tape than growing a matrix).
    K = [f]
    for s in range(1, T.n_stages):
        K.append(fun(t + T.C[s] * h, step_sum(y, h, *K, coefs=tuple(T.A[s, :s]))))
    y_new = step_sum(y, h, *K, coefs=tuple(T.B))
    f_new = fun(t + h, y_new)
    K.append(f_new)
    return y_new, f_new, K


def _combine(K, coefficients):
    """sum_j c_j K_j over the nonzero coefficients (plain or traced)."""
    out = None
    for c, k in zip(coefficients, K):
        if c != 0:
            out = c * k if out is None else out + c * k
    return out


# -- one tape node for y + h * sum_j c_j K_j --
# A Runge-Kutta step is mostly these sums; as one primitive each costs one node on the tape instead of 2 per stage
# term. Its rules are written with dualrev operations (itself included), so it differentiates to any order. It is
# an engine-level Primitive local to the solver, not a NumPy function: it is not in the dispatch table.


def _step_sum_impl(y, h, *K, coefs):
    return y + _combine(K, coefs) * h


def _step_sum_jvp(tangents, ans, xs, params):
    y, h, K = xs[0], xs[1], xs[2:]
    dy, dh, dK = tangents[0], tangents[1], tangents[2:]
    coefs = params["coefs"]
    out = dy
    if dh is not None:
        term = dh * _combine(K, coefs)
        out = term if out is None else out + term
    live = [(c, d) for c, d in zip(coefs, dK) if c != 0 and d is not None]
    if live:
        zero = dnp.zeros_like(y if out is None else out)
        term = step_sum(zero, h, *[d for _, d in live], coefs=tuple(c for c, _ in live))
        out = term if out is None else out + term
    return out


def _step_sum_vjp(ct, ans, xs, params, argnums):
    h, K, coefs = xs[1], xs[2:], params["coefs"]
    out = []
    for i in argnums:
        if i == 0:
            out.append(ct)
        elif i == 1:
            out.append(ct * _combine(K, coefs))  # the engine sums it down to h's shape
        else:
            c = coefs[i - 2]
            out.append(None if c == 0 else ct * (h * c))
    return out


def _step_sum_batch(args, batched, *, coefs):
    y, h, K = args[0], args[1], args[2:]
    if batched[1]:
        h = dnp.reshape(h, (-1,) + (1,) * max(len(np.shape(a)) - 1 for a in args if np.ndim(a) > 0))
    return step_sum(y, h, *K, coefs=coefs)


step_sum = Primitive("rk_step_sum", _step_sum_impl, jvp=_step_sum_jvp, vjp=_step_sum_vjp, batch=_step_sum_batch)


def error_norm(K, h, scale, T: Tableau) -> float:
    """The scaled RMS error estimate of a step (plain floats only): below 1 accepts it."""
    K = np.asarray(K)
    if T.E is not None:
        return rms_norm(np.dot(K.T, T.E) * h / scale)
    # DOP853's blend of its 5th- and 3rd-order estimates (Hairer's dop853).
    err5 = np.dot(K.T, T.E5) / scale
    err3 = np.dot(K.T, T.E3) / scale
    err5_2, err3_2 = np.linalg.norm(err5) ** 2, np.linalg.norm(err3) ** 2
    if err5_2 == 0 and err3_2 == 0:
        return 0.0
    return np.abs(h) * err5_2 / np.sqrt((err5_2 + 0.01 * err3_2) * len(scale))


def initial_step(fun, t0, y0, t_bound, max_step, f0, direction, order, rtol, atol):
    """Hairer, Norsett & Wanner's starting step (II.4): one extra evaluation of ``fun``. Plain floats."""
    if y0.size == 0:
        return np.inf
    interval = abs(t_bound - t0)
    if interval == 0.0:
        return 0.0
    scale = atol + np.abs(y0) * rtol
    d0, d1 = rms_norm(y0 / scale), rms_norm(f0 / scale)
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    h0 = min(h0, interval)
    f1 = fun(t0 + h0 * direction, y0 + h0 * direction * f0)
    d2 = rms_norm((f1 - f0) / scale) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1 / (order + 1))
    return min(100 * h0, h1, interval, max_step)


def dense_coefficients(fun, t_old, y_old, y, f, h, K, T: Tableau):
    """The interpolant of one step as one array: Q (n, p) for the Q-form polynomials, F (7, n) for DOP853 (whose
    three extra stages evaluate ``fun``)."""
    if T.P is not None:
        return dnp.dot(dnp.stack(K).T if isinstance(K, list) else K.T, T.P)
    if isinstance(K, list):  # traced stages
        K = list(K)
        for a, c in zip(T.A_extra, T.C_extra):
            K.append(fun(t_old + c * h, step_sum(y_old, h, *K, coefs=tuple(a[:len(K)]))))
        K = dnp.stack(K)
    else:
        for a, c in zip(T.A_extra, T.C_extra):
            K = np.vstack([K, fun(t_old + c * h, y_old + np.dot(K.T, a[:K.shape[0]]) * h)])
    f_old = K[0]
    delta_y = y - y_old
    rest = h * dnp.dot(T.D, K)
    return dnp.concatenate([dnp.stack([delta_y, h * f_old - delta_y, 2 * delta_y - h * (f + f_old)]), rest])


def interpolate(coef, y_old, t_old, h, t, T: Tableau):
    """The interpolants at points ``t`` (M,), each with its own step: ``coef`` (M, ...), ``y_old`` (M, n),
    ``t_old``, ``h`` (M,). Returns (M, n)."""
    zero = h == 0  # a step of length zero (t_span with t0 == t1): the interpolant is the constant y_old
    x = dnp.where(zero, 0.0, (t - t_old) / dnp.where(zero, 1.0, h))
    if T.P is not None:  # y_old + h * Q @ [x, x^2, ...]
        powers, p = [], x
        for _ in range(coef.shape[-1]):
            powers.append(p)
            p = p * x
        p = dnp.stack(powers, axis=-1)  # (M, k)
        Qp = dnp.matmul(coef, p[:, :, None])[:, :, 0]
        return y_old + (h[:, None] * Qp if T.h_in_interpolant else Qp)
    x = x[:, None]
    y = dnp.zeros_like(y_old)
    for i in range(coef.shape[1] - 1, -1, -1):  # Horner-like in x and (1 - x), from the last coefficient
        y = y + coef[:, i, :]
        y = y * x if (coef.shape[1] - 1 - i) % 2 == 0 else y * (1 - x)
    return y + y_old
