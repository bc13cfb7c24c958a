"""Unconstrained test problems from Moré, Garbow & Hillstrom, "Testing unconstrained optimization software",
ACM TOMS 7(1), 1981 (numbered as there), written with dualrev.numpy as residual vectors r(x); the objective is
f(x) = sum(r(x)**2). Each problem has the standard starting point and the known minimum value f* from the paper.

Used by benchmarks/optimize_vs_scipy.py and by tests/test_optimize_problems.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp


@dr.custom_jvp
def arctan(x):
    """arctan with its derivative 1/(1 + x^2) (dualrev.numpy has no arctan yet)."""
    return np.arctan(x)


@arctan.defjvp
def _arctan_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return arctan(x), dx / (1.0 + x * x)


@dataclass
class Problem:
    name: str
    number: int  # in Moré, Garbow & Hillstrom
    n: int
    x0: np.ndarray
    fstar: float  # the known minimum value
    residual: Callable
    note: str = ""

    def f(self, x):
        r = self.residual(x)
        return dnp.sum(r * r)

    @property
    def label(self):
        return f"{self.name} (n={self.n})"


def _stack(*rs):
    return dnp.stack(list(rs))


# 1. Rosenbrock
def rosenbrock_r(x):
    return _stack(10.0 * (x[1] - x[0] ** 2), 1.0 - x[0])


# 2. Freudenstein and Roth
def freudenstein_roth_r(x):
    return _stack(-13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1],
                  -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1])


# 3. Powell badly scaled
def powell_badly_scaled_r(x):
    return _stack(1e4 * x[0] * x[1] - 1.0, dnp.exp(-x[0]) + dnp.exp(-x[1]) - 1.0001)


# 4. Brown badly scaled
def brown_badly_scaled_r(x):
    return _stack(x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0)


# 5. Beale
_BEALE_Y = np.array([1.5, 2.25, 2.625])


def beale_r(x):
    i = np.arange(1.0, 4.0)
    return _BEALE_Y - x[0] * (1.0 - x[1] ** i)


# 7. Helical valley
def helical_valley_r(x):
    theta = arctan(x[1] / x[0]) / (2.0 * math.pi)
    if x[0] < 0:
        theta = theta + 0.5
    return _stack(10.0 * (x[2] - 10.0 * theta), 10.0 * (dnp.sqrt(x[0] ** 2 + x[1] ** 2) - 1.0), x[2])


# 8. Bard
_BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39])
_BARD_U = np.arange(1.0, 16.0)
_BARD_V = 16.0 - _BARD_U
_BARD_W = np.minimum(_BARD_U, _BARD_V)


def bard_r(x):
    return _BARD_Y - (x[0] + _BARD_U / (_BARD_V * x[1] + _BARD_W * x[2]))


# 9. Gaussian
_GAUSS_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989, 0.3521, 0.2420, 0.1295,
                     0.0540, 0.0175, 0.0044, 0.0009])
_GAUSS_T = (8.0 - np.arange(1.0, 16.0)) / 2.0


def gaussian_r(x):
    return x[0] * dnp.exp(-x[1] * (_GAUSS_T - x[2]) ** 2 / 2.0) - _GAUSS_Y


# 12. Box three-dimensional (m = 10)
_BOX_T = 0.1 * np.arange(1.0, 11.0)


def box3d_r(x):
    t = _BOX_T
    return dnp.exp(-t * x[0]) - dnp.exp(-t * x[1]) - x[2] * (np.exp(-t) - np.exp(-10.0 * t))


# 13. Powell singular
def powell_singular_r(x):
    return _stack(x[0] + 10.0 * x[1], math.sqrt(5.0) * (x[2] - x[3]), (x[1] - 2.0 * x[2]) ** 2,
                  math.sqrt(10.0) * (x[0] - x[3]) ** 2)


# 14. Wood
def wood_r(x):
    return _stack(10.0 * (x[1] - x[0] ** 2), 1.0 - x[0], math.sqrt(90.0) * (x[3] - x[2] ** 2), 1.0 - x[2],
                  math.sqrt(10.0) * (x[1] + x[3] - 2.0), (x[1] - x[3]) / math.sqrt(10.0))


# 15. Kowalik and Osborne
_KO_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246])
_KO_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


def kowalik_osborne_r(x):
    u = _KO_U
    return _KO_Y - x[0] * (u * u + u * x[1]) / (u * u + u * x[2] + x[3])


# 16. Brown and Dennis (m = 20)
_BD_T = np.arange(1.0, 21.0) / 5.0


def brown_dennis_r(x):
    t = _BD_T
    return (x[0] + t * x[1] - np.exp(t)) ** 2 + (x[2] + x[3] * np.sin(t) - np.cos(t)) ** 2


# 18. Biggs EXP6 (m = 13)
_BIGGS_T = 0.1 * np.arange(1.0, 14.0)
_BIGGS_Y = np.exp(-_BIGGS_T) - 5.0 * np.exp(-10.0 * _BIGGS_T) + 3.0 * np.exp(-4.0 * _BIGGS_T)


def biggs_exp6_r(x):
    t = _BIGGS_T
    return x[2] * dnp.exp(-t * x[0]) - x[3] * dnp.exp(-t * x[1]) + x[5] * dnp.exp(-t * x[4]) - _BIGGS_Y


# 20. Watson (m = 31)
def watson_r(x):
    n = x.shape[0]
    t = np.arange(1.0, 30.0) / 29.0
    j = np.arange(n)
    dpow = (j[1:] * t[:, None] ** (j[1:] - 1))  # (29, n-1): (j-1) t^(j-2), 1-based j = 2..n
    pow_ = t[:, None] ** j  # (29, n): t^(j-1)
    s1 = dpow @ x[1:]
    s2 = pow_ @ x
    r = s1 - s2 ** 2 - 1.0
    return dnp.concatenate([r, dnp.stack([x[0], x[1] - x[0] ** 2 - 1.0])])


# 21. Extended Rosenbrock
def ext_rosenbrock_r(x):
    odd, even = x[0::2], x[1::2]
    return dnp.concatenate([10.0 * (even - odd ** 2), 1.0 - odd])


# 22. Extended Powell singular
def ext_powell_r(x):
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return dnp.concatenate([a + 10.0 * b, math.sqrt(5.0) * (c - d), (b - 2.0 * c) ** 2,
                            math.sqrt(10.0) * (a - d) ** 2])


# 23. Penalty function I
def penalty1_r(x):
    return dnp.concatenate([math.sqrt(1e-5) * (x - 1.0), dnp.reshape(dnp.sum(x * x) - 0.25, (1,))])


# 25. Variably dimensioned
def variably_dimensioned_r(x):
    n = x.shape[0]
    s = dnp.sum(np.arange(1.0, n + 1) * (x - 1.0))
    return dnp.concatenate([x - 1.0, dnp.stack([s, s * s])])


# 26. Trigonometric
def trigonometric_r(x):
    n = x.shape[0]
    i = np.arange(1.0, n + 1)
    return n - dnp.sum(dnp.cos(x)) + i * (1.0 - dnp.cos(x)) - dnp.sin(x)


# 28. Discrete boundary value
def discrete_boundary_r(x):
    n = x.shape[0]
    h = 1.0 / (n + 1)
    t = h * np.arange(1.0, n + 1)
    padded = dnp.concatenate([np.zeros(1), x, np.zeros(1)])
    return 2.0 * x - padded[:-2] - padded[2:] + h * h * (x + t + 1.0) ** 3 / 2.0


# 30. Broyden tridiagonal
def broyden_tridiagonal_r(x):
    padded = dnp.concatenate([np.zeros(1), x, np.zeros(1)])
    return (3.0 - 2.0 * x) * x - padded[:-2] - 2.0 * padded[2:] + 1.0


def _ext_rosen_x0(n):
    x0 = np.empty(n)
    x0[0::2], x0[1::2] = -1.2, 1.0
    return x0


def _ext_powell_x0(n):
    return np.tile([3.0, -1.0, 0.0, 1.0], n // 4)


def _discrete_boundary_x0(n):
    t = np.arange(1.0, n + 1) / (n + 1)
    return t * (t - 1.0)


def problems(large: bool = True):
    """The problem set: a list of Problem. ``large=False`` leaves out extended Rosenbrock at n = 1000."""
    ps = [
        Problem("rosenbrock", 1, 2, np.array([-1.2, 1.0]), 0.0, rosenbrock_r),
        Problem("ext_rosenbrock", 21, 100, _ext_rosen_x0(100), 0.0, ext_rosenbrock_r),
        Problem("freudenstein_roth", 2, 2, np.array([0.5, -2.0]), 0.0, freudenstein_roth_r,
                "local minimum f = 48.9842 at (11.41, -0.8968)"),
        Problem("powell_badly_scaled", 3, 2, np.array([0.0, 1.0]), 0.0, powell_badly_scaled_r),
        Problem("brown_badly_scaled", 4, 2, np.array([1.0, 1.0]), 0.0, brown_badly_scaled_r),
        Problem("beale", 5, 2, np.array([1.0, 1.0]), 0.0, beale_r),
        Problem("helical_valley", 7, 3, np.array([-1.0, 0.0, 0.0]), 0.0, helical_valley_r),
        Problem("bard", 8, 3, np.array([1.0, 1.0, 1.0]), 8.21487e-3, bard_r),
        Problem("gaussian", 9, 3, np.array([0.4, 1.0, 0.0]), 1.12793e-8, gaussian_r),
        Problem("box_3d", 12, 3, np.array([0.0, 10.0, 20.0]), 0.0, box3d_r),
        Problem("powell_singular", 13, 4, np.array([3.0, -1.0, 0.0, 1.0]), 0.0, powell_singular_r),
        Problem("wood", 14, 4, np.array([-3.0, -1.0, -3.0, -1.0]), 0.0, wood_r),
        Problem("kowalik_osborne", 15, 4, np.array([0.25, 0.39, 0.415, 0.39]), 3.07505e-4, kowalik_osborne_r),
        Problem("brown_dennis", 16, 4, np.array([25.0, 5.0, -5.0, -1.0]), 85822.2, brown_dennis_r),
        Problem("biggs_exp6", 18, 6, np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0]), 0.0, biggs_exp6_r,
                "local minimum f = 5.65565e-3"),
        Problem("watson", 20, 6, np.zeros(6), 2.28767e-3, watson_r),
        Problem("ext_powell", 22, 20, _ext_powell_x0(20), 0.0, ext_powell_r),
        Problem("penalty_1", 23, 10, np.arange(1.0, 11.0), 7.08765e-5, penalty1_r),
        Problem("variably_dimensioned", 25, 10, 1.0 - np.arange(1.0, 11.0) / 10.0, 0.0, variably_dimensioned_r),
        Problem("trigonometric", 26, 10, np.full(10, 0.1), 0.0, trigonometric_r,
                "local minima with f > 0 exist (e.g. 2.79506e-5)"),
        Problem("discrete_boundary", 28, 10, _discrete_boundary_x0(10), 0.0, discrete_boundary_r),
        Problem("broyden_tridiagonal", 30, 10, np.full(10, -1.0), 0.0, broyden_tridiagonal_r),
    ]
    if large:
        ps.insert(2, Problem("ext_rosenbrock", 21, 1000, _ext_rosen_x0(1000), 0.0, ext_rosenbrock_r))
    return ps


def ext_rosenbrock(n):
    """Extended Rosenbrock at any even n (for the large newton-cg run)."""
    return Problem("ext_rosenbrock", 21, n, _ext_rosen_x0(n), 0.0, ext_rosenbrock_r)
