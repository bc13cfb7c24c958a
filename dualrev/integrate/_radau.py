"""Radau IIA of order 5, the stiff method: the solver's plain pass (Hairer & Wanner's algorithm as scipy runs it,
with the exact Jacobian ``dr.jacfwd(fun)`` in place of finite differences) and its differentiable replay.

A step solves the collocation equations Z = h (A x I) F(y + Z) by simplified Newton in the transformed variables
of Hairer & Wanner (one real and one complex linear system per iteration). The replay cannot repeat the Newton
iterations (their number is a decision of the plan): it takes the plan's converged Z and applies two full Newton
steps on the traced equations with the exact Jacobian, keeping Z's value. Their derivatives are those of the exact
collocation solution (implicit differentiation), to third order. Imports numpy, dualrev.numpy, transforms, custom.
"""

from __future__ import annotations

import numpy as np

import dualrev.numpy as dnp
from dualrev.custom import stop_gradient
from dualrev.integrate import _rk
from dualrev.transforms import jacfwd

S6 = 6 ** 0.5
C = np.array([(4 - S6) / 10, (4 + S6) / 10, 1.0])
E = np.array([-13 - 7 * S6, -13 + 7 * S6, -1]) / 3
A = np.array([[(88 - 7 * S6) / 360, (296 - 169 * S6) / 1800, (-2 + 3 * S6) / 225],
              [(296 + 169 * S6) / 1800, (88 + 7 * S6) / 360, (-2 - 3 * S6) / 225],
              [(16 - S6) / 36, (16 + S6) / 36, 1 / 9]])
# The eigenvalues of A^-1 and the transformation T^-1 A^-1 T = diag(MU_REAL, [[a, -b], [b, a]]) (MU_COMPLEX = a - ib).
MU_REAL = 3 + 3 ** (2 / 3) - 3 ** (1 / 3)
MU_COMPLEX = 3 + 0.5 * (3 ** (1 / 3) - 3 ** (2 / 3)) - 0.5j * (3 ** (5 / 6) + 3 ** (7 / 6))
T = np.array([[0.09443876248897524, -0.14125529502095421, 0.03002919410514742],
              [0.25021312296533332, 0.20412935229379994, -0.38294211275726192],
              [1, 1, 0]])
TI = np.array([[4.17871859155190428, 0.32768282076106237, 0.52337644549944951],
               [-4.17871859155190428, -0.32768282076106237, 0.47662355450055044],
               [0.50287263494578682, -2.57192694985560522, 0.59603920482822492]])
TI_REAL = TI[0]
TI_COMPLEX = TI[1] + 1j * TI[2]
# The collocation polynomial through the stages, y_old + Z^T P [x, x^2, x^3].
P = np.array([[13 / 3 + 7 * S6 / 3, -23 / 3 - 22 * S6 / 3, 10 / 3 + 5 * S6],
              [13 / 3 - 7 * S6 / 3, -23 / 3 + 22 * S6 / 3, 10 / 3 - 5 * S6],
              [1 / 3, -8 / 3, 10 / 3]])
NEWTON_MAXITER = 6


def _tableau():
    T = _rk.Tableau("Radau", A=A, B=A[2], C=C, P=P, order=5, error_order=3)
    T.implicit = True
    T.h_in_interpolant = False
    return T


_rk.TABLEAUX["Radau"] = _tableau()
MIN_FACTOR = 0.2
MAX_FACTOR = 10


class RadauStepper:
    """The plain pass's state between steps: step size history, Jacobian, the two iteration matrices."""

    def __init__(self, fun, jac, t0, y0, f0, h_abs, rtol, atol, max_step, direction, t_bound):
        self.fun, self.jac = fun, jac
        self.rtol, self.atol, self.max_step, self.direction, self.t_bound = rtol, atol, max_step, direction, t_bound
        self.h_abs, self.h_abs_old, self.error_norm_old = h_abs, None, None
        self.newton_tol = max(10 * np.finfo(float).eps / rtol, min(0.03, rtol ** 0.5))
        self.J = jac(t0, y0)
        self.njev, self.nlu = 1, 0
        self.M_real = self.M_complex = None  # the iteration matrices (None: to be formed again)
        self.current_jac = True
        self.prev = None  # (t_old, t, y_old, Q) of the last step: predicts the next stages

    def _matrices(self, h):
        n = self.J.shape[0]
        self.nlu += 2
        self.M_real = MU_REAL / h * np.identity(n) - self.J
        self.M_complex = MU_COMPLEX / h * np.identity(n) - self.J

    def _collocation(self, t, y, h, Z0, scale):
        M_real, M_complex = MU_REAL / h, MU_COMPLEX / h
        W = TI.dot(Z0)
        Z = Z0
        F = np.empty((3, y.shape[0]))
        ch = h * C
        dW_norm_old, dW, converged, rate = None, np.empty_like(W), False, None
        for k in range(NEWTON_MAXITER):
            for i in range(3):
                F[i] = self.fun(t + ch[i], y + Z[i])
            if not np.all(np.isfinite(F)):
                break
            f_real = F.T.dot(TI_REAL) - M_real * W[0]
            f_complex = F.T.dot(TI_COMPLEX) - M_complex * (W[1] + 1j * W[2])
            dW_complex = np.linalg.solve(self.M_complex, f_complex)
            dW[0] = np.linalg.solve(self.M_real, f_real)
            dW[1], dW[2] = dW_complex.real, dW_complex.imag
            dW_norm = _rk.rms_norm(dW / scale)
            if dW_norm_old is not None:
                rate = dW_norm / dW_norm_old
            if rate is not None and (rate >= 1 or rate ** (NEWTON_MAXITER - k) / (1 - rate) * dW_norm > self.newton_tol):
                break
            W = W + dW
            Z = T.dot(W)
            if dW_norm == 0 or rate is not None and rate / (1 - rate) * dW_norm < self.newton_tol:
                converged = True
                break
            dW_norm_old = dW_norm
        return converged, k + 1, Z, rate

    def step(self, t, y, f):
        """One accepted step: (True, (t_new, y_new, f_new, Z, h)) or (False, message)."""
        min_step = 10 * np.abs(np.nextafter(t, self.direction * np.inf) - t)
        if self.h_abs > self.max_step:
            h_abs, h_abs_old, error_norm_old = self.max_step, None, None
        elif self.h_abs < min_step:
            h_abs, h_abs_old, error_norm_old = min_step, None, None
        else:
            h_abs, h_abs_old, error_norm_old = self.h_abs, self.h_abs_old, self.error_norm_old
        rejected = False
        while True:
            if not h_abs >= min_step:
                return False, "Required step size is less than spacing between numbers."
            t_new = t + h_abs * self.direction
            if self.direction * (t_new - self.t_bound) > 0:
                t_new = self.t_bound
            h = t_new - t
            h_abs = np.abs(h)
            if self.prev is None:
                Z0 = np.zeros((3, y.shape[0]))
            else:
                Z0 = interpolate_plain(self.prev, t + h * C).T - y
            scale = self.atol + np.abs(y) * self.rtol
            converged = False
            while not converged:
                if self.M_real is None:
                    self._matrices(h)
                converged, n_iter, Z, rate = self._collocation(t, y, h, Z0, scale)
                if not converged:
                    if self.current_jac:
                        break
                    self.J = self.jac(t, y)
                    self.njev += 1
                    self.current_jac = True
                    self.M_real = None
            if not converged:
                h_abs *= 0.5
                self.M_real = None
                continue
            y_new = y + Z[-1]
            ZE = Z.T.dot(E) / h
            error = np.linalg.solve(self.M_real, f + ZE)
            scale = self.atol + np.maximum(np.abs(y), np.abs(y_new)) * self.rtol
            error_norm = _rk.rms_norm(error / scale)
            safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
            if rejected and error_norm > 1:
                error = np.linalg.solve(self.M_real, self.fun(t, y + error) + ZE)
                error_norm = _rk.rms_norm(error / scale)
            if error_norm > 1:
                factor = _predict_factor(h_abs, h_abs_old, error_norm, error_norm_old)
                h_abs *= max(MIN_FACTOR, safety * factor)
                self.M_real = None
                rejected = True
            else:
                break
        recompute_jac = n_iter > 2 and rate > 1e-3
        factor = min(MAX_FACTOR, safety * _predict_factor(h_abs, h_abs_old, error_norm, error_norm_old))
        if not recompute_jac and factor < 1.2:
            factor = 1
        else:
            self.M_real = None
        f_new = self.fun(t_new, y_new)
        if recompute_jac:
            self.J = self.jac(t_new, y_new)
            self.njev += 1
            self.current_jac = True
        else:
            self.current_jac = False
        self.h_abs_old, self.error_norm_old = self.h_abs, error_norm
        self.h_abs = h_abs * factor
        self.prev = (t, t_new, y, Z.T.dot(P))
        return True, (t_new, y_new, f_new, Z, h)


def _predict_factor(h_abs, h_abs_old, error_norm, error_norm_old):
    if error_norm_old is None or h_abs_old is None or error_norm == 0:
        multiplier = 1
    else:
        multiplier = h_abs / h_abs_old * (error_norm_old / error_norm) ** 0.25
    with np.errstate(divide="ignore"):
        return min(1, multiplier) * error_norm ** -0.25


def interpolate_plain(prev, t):
    t_old, t_new, y_old, Q = prev
    x = (np.asarray(t) - t_old) / (t_new - t_old)
    p = np.cumprod(np.tile(x, (Q.shape[1], 1)), axis=0)
    return np.dot(Q, p) + y_old[:, None]  # (n, len(t)), as a scipy DenseOutput


def replay_step(fun, t, y, h, Z_plan):
    """The step's stages as a function of the traced inputs: two Newton steps on the collocation equations from the
    plan's solution ``Z_plan`` (3, n), with the exact Jacobian; the value stays ``Z_plan``. Returns (y_new, Z)."""
    n = Z_plan.shape[1]
    ts = [t + c * h for c in C]

    def residual(Z):  # Z (3, n): Z - h (A x I) F(y + Z)
        F = [fun(ts[i], y + Z[i]) for i in range(3)]
        return dnp.stack([Z[i] - h * (A[i, 0] * F[0] + A[i, 1] * F[1] + A[i, 2] * F[2]) for i in range(3)])

    def newton(Z):
        G = dnp.reshape(residual(Z), (3 * n,))
        blocks = [jacfwd(lambda v, i=i: fun(ts[i], v))(y + Z[i]) for i in range(3)]
        rows = [dnp.concatenate([(1.0 if i == j else 0.0) * np.identity(n) - h * A[i, j] * blocks[j]
                                 for j in range(3)], axis=1) for i in range(3)]
        dZ = dnp.linalg.solve(dnp.concatenate(rows, axis=0), G)
        return Z - dnp.reshape(dZ, (3, n))

    c = newton(newton(Z_plan)) - Z_plan
    Z = Z_plan + (c - stop_gradient(c))
    return y + Z[2], Z


def dense_coefficients(Z):
    return dnp.dot(Z.T, P)
