"""The elementwise family beyond the oracle's per-primitive table (tests/specs_ufuncs.py): composites (square, sinc,
clip, fmax, nan_to_num, ...) against JAX at first and second order, called through plain ``np.`` functions, and the
numerics and conventions at special points (sqrt'(0), logaddexp at ±1000, hypot and sinc at 0, power at y == 0).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import NUMPY_TABLE

jax.config.update("jax_enable_x64", True)

nan, inf = np.nan, np.inf
X = np.array([-1.5, -0.0, 0.0, 0.5, 2.0])  # signed zeros: abs'(0) = abs'(-0.0) = 1
NONZERO = np.array([-1.5, -0.5, 0.25, 2.0, 3.0])
AT_BOUNDS = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])  # clip to [0, 1]: two values on a bound
FX, FY = np.array([1.0, 2.0, nan, 0.0, nan]), np.array([1.0, 0.0, 3.0, nan, nan])  # fmax, fmin: a tie, NaNs
LO, HI = np.array([0.0, 0.0, 0.5, -1.0, 2.5]), np.array([1.0, 0.5, 0.5, 1.0, 2.0])  # ties, and lo > hi at the end

# id -> (function of NumPy calls (dualrev dispatches them), the same with jax.numpy, float64 inputs)
CASES = {
    "positive": (np.positive, jnp.positive, (X,)),
    "fabs": (np.fabs, jnp.fabs, (X,)),
    "square": (np.square, jnp.square, (X,)),
    "reciprocal": (np.reciprocal, jnp.reciprocal, (NONZERO,)),
    "deg2rad": (np.deg2rad, jnp.deg2rad, (X,)),
    "radians": (np.radians, jnp.radians, (X,)),
    "rad2deg": (np.rad2deg, jnp.rad2deg, (X,)),
    "degrees": (np.degrees, jnp.degrees, (X,)),
    "sinc": (np.sinc, jnp.sinc, (np.array([0.0, 0.5, -1.25, 1.0, -0.0]),)),
    "sinc 0-d at 0": (np.sinc, jnp.sinc, (np.array(0.0),)),
    "real": (np.real, jnp.real, (X,)),
    "imag": (lambda x: np.imag(x) + x, lambda x: jnp.imag(x) + x, (X,)),
    "conj": (np.conj, jnp.conj, (X,)),
    "conjugate method": (lambda x: x.conjugate(), jnp.conjugate, (X,)),
    "nan_to_num": (np.nan_to_num, jnp.nan_to_num, (np.array([1.0, nan, inf, -inf, -2.0]),)),
    "nan_to_num values": (lambda x: np.nan_to_num(x, nan=1.5, posinf=9.0, neginf=-9.0),
                          lambda x: jnp.nan_to_num(x, nan=1.5, posinf=9.0, neginf=-9.0),
                          (np.array([1.0, nan, inf, -inf, -2.0]),)),
    "nan_to_num finite": (np.nan_to_num, jnp.nan_to_num, (X,)),
    "float_power": (np.float_power, jnp.float_power, (np.array([0.5, 1.0, 2.0, 3.0, 1.5]), NONZERO)),
    "fmax ties and nans": (np.fmax, jnp.fmax, (FX, FY)),
    "fmin ties and nans": (np.fmin, jnp.fmin, (FX, FY)),
    "clip constant bounds": (lambda x: np.clip(x, 0.0, 1.0), lambda x: jnp.clip(x, 0.0, 1.0), (AT_BOUNDS,)),
    "clip method, min= only": (lambda x: x.clip(min=0.0), lambda x: jnp.clip(x, min=0.0), (AT_BOUNDS,)),
    "clip max only": (lambda x: np.clip(x, None, 1.0), lambda x: jnp.clip(x, None, 1.0), (AT_BOUNDS,)),
    "clip array bounds": (lambda x: np.clip(x, LO, HI), lambda x: jnp.clip(x, LO, HI), (AT_BOUNDS,)),
    "clip traced bounds": (np.clip, jnp.clip, (AT_BOUNDS, LO, HI)),
    "clip traced bound, constant x": (lambda lo: np.clip(AT_BOUNDS, lo, 1.0), lambda lo: jnp.clip(AT_BOUNDS, lo, 1.0),
                                      (LO,)),
    "mod": (np.mod, jnp.mod, (np.array([-5.0, -4.0, 0.5, 4.0, 5.0]), np.array([2.0, 2.0, -1.5, -3.0, 2.0]))),
    "divmod": (lambda x, y: np.divmod(x, y)[1], lambda x, y: jnp.divmod(x, y)[1],
               (np.array([-5.0, -4.0, 0.5, 4.0, 5.0]), np.array([2.0, 2.0, -1.5, -3.0, 2.0]))),
    "where broadcast": (lambda x, y: np.where(x > 0, x, y), lambda x, y: jnp.where(x > 0, x, y), (X, np.array(0.5))),
    # primitives at their special points
    "logaddexp at ±1000": (np.logaddexp, jnp.logaddexp, (np.array([1000.0, -1000.0, 1000.0, 1000.0, -inf]),
                                                          np.array([-1000.0, -1000.0, 1000.0, 999.0, 1.0]))),
    "logaddexp2 at ±1000": (np.logaddexp2, jnp.logaddexp2, (np.array([1000.0, -1000.0, 1000.0, 1000.0, -inf]),
                                                            np.array([-1000.0, -1000.0, 1000.0, 999.0, 1.0]))),
    "hypot at 0": (np.hypot, jnp.hypot, (np.array([0.0, -0.0, 0.0, 3.0, -2.0]), np.array([0.0, 0.0, 2.0, 0.0, 1.0]))),
    "power at y == 0": (np.power, jnp.power, (np.array([0.5, 2.0, 3.0, 1.0, 0.25]),
                                              np.array([0.0, 0.0, 1.0, 0.0, 2.0]))),
    "sqrt at 0": (np.sqrt, jnp.sqrt, (np.array([0.0, 0.25, 4.0, 1.0, 2.0]),)),
    "copysign signed zeros": (np.copysign, jnp.copysign, (np.array([0.0, -0.0, 1.5, -2.0, 0.0]),
                                                          np.array([-0.0, 0.0, -1.0, -0.0, -3.0]))),
}


def _weights(shape):
    return np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)  # distinct weights per output element


def _derivatives(fun, xs, w, ts, grad, jvp, vdot):
    """Value, reverse gradient of sum(w * fun), forward JVP, and the Hessian-vector product of sum(w * fun)."""
    argnums = tuple(range(len(xs)))

    def s(*xs):
        return vdot(w, fun(*xs))

    g = grad(s, argnums)
    out = {"value": fun(*xs), "grad": g(*xs), "jvp": jvp(fun, xs, ts)[1], "hvp (fwd over rev)": jvp(g, xs, ts)[1]}
    return out, g, argnums


def _dr_vdot(w, y):
    return dnp.sum(w * y)


def _jax_vdot(w, y):
    return jnp.sum(w * y)


@pytest.mark.parametrize("case", sorted(CASES))
def test_against_jax(case):
    np_fun, jax_fun, xs = CASES[case]
    out_shape = np.shape(jax_fun(*xs))
    w = _weights(out_shape)
    ts = tuple(np.linspace(-1.0, 2.0, x.size).reshape(x.shape) for x in xs)
    with np.errstate(all="ignore"):  # the NaN and inf inputs warn in NumPy, as they should
        want, _, _ = _derivatives(jax_fun, xs, w, ts, jax.grad, jax.jvp, _jax_vdot)
        got, g, argnums = _derivatives(np_fun, xs, w, ts, dr.grad, dr.jvp, _dr_vdot)
        # reverse over reverse: the gradient of <grad, t> is H t, H being symmetric
        got["hvp (rev over rev)"] = dr.grad(lambda *xs: sum(_dr_vdot(t, gi) for t, gi in zip(ts, g(*xs))),
                                            argnums)(*xs)
        want["hvp (rev over rev)"] = want["hvp (fwd over rev)"]
    for key in want:
        got_k, want_k = (v if isinstance(v, tuple) else (v,) for v in (got[key], want[key]))
        assert len(got_k) == len(want_k), f"{case}: {key}"
        for gi, wi in zip(got_k, want_k):
            assert isinstance(gi, (np.ndarray, np.generic)), f"{case}: {key} is a {type(gi).__name__}"
            np.testing.assert_allclose(gi, np.asarray(wi), rtol=1e-12, atol=1e-12, err_msg=f"{case}: {key}")


@pytest.mark.parametrize("case", ["sinc", "clip traced bounds", "fmax ties and nans", "float_power", "square",
                                  "nan_to_num"])
def test_float32_stays_float32(case):
    np_fun, jax_fun, xs = CASES[case]
    xs32 = tuple(x.astype(np.float32) for x in xs)
    want_dtype = np_fun(*xs32).dtype  # NumPy's: float64 for float_power, float32 otherwise
    value, tangent = dr.jvp(np_fun, xs32, tuple(np.ones_like(x) for x in xs32))
    assert value.dtype == tangent.dtype == want_dtype
    grads = dr.grad(lambda *xs: dnp.sum(np_fun(*xs)), tuple(range(len(xs))))(*xs32)
    assert all(gr.dtype == np.float32 for gr in grads)
    hvp = dr.hvp(lambda *xs: dnp.sum(np_fun(*xs)), xs32, tuple(np.ones_like(x) for x in xs32))
    assert all(h.dtype == np.float32 for h in (hvp if isinstance(hvp, tuple) else (hvp,)))
    _, want = jax.jvp(jax_fun, xs, tuple(np.ones_like(x) for x in xs))
    np.testing.assert_allclose(tangent, want, rtol=1e-5, atol=1e-5)


COMPOSITES = {
    np.positive: "positive", np.fabs: "fabs", np.square: "square", np.reciprocal: "reciprocal",
    np.deg2rad: "deg2rad", np.radians: "radians", np.rad2deg: "rad2deg", np.degrees: "degrees", np.sinc: "sinc",
    np.real: "real", np.imag: "imag", np.conjugate: "conjugate", np.nan_to_num: "nan_to_num",
    np.float_power: "float_power", np.fmax: "fmax", np.fmin: "fmin", np.clip: "clip", np.round: "round",
    np.around: "around", np.mod: "mod", np.divmod: "divmod", np.where: "where",
}


def test_numpy_functions_dispatch_to_the_dnp_functions():
    for np_func, name in COMPOSITES.items():
        assert NUMPY_TABLE[np_func] is getattr(dnp, name) or getattr(NUMPY_TABLE[np_func], "name", None) == name, name


@pytest.mark.parametrize("f", [np.round, np.around, lambda x: x.round(), lambda x: np.round(x, 1), np.trunc, np.rint,
                               np.signbit, lambda x: np.logical_xor(x > 0, x < 1)])
def test_rounding_gives_plain_arrays_at_every_level(f):
    x = np.array([-1.25, -0.5, 0.5, 1.5, 2.75])
    results = []

    def g(x):
        results.append(f(x))
        return dnp.sum(x * x)

    dr.grad(g)(x)
    dr.jvp(g, (x,), (x,))
    dr.hessian(g)(x)
    for r in results:
        assert type(r) is np.ndarray and r.dtype == f(x).dtype
        np.testing.assert_array_equal(r, f(x))


def test_divmod_quotient_is_a_plain_array():
    x, y = np.float32([-5.0, 4.5]), np.float32(2.0)
    value, tangent = dr.jvp(lambda x: np.divmod(x, y)[1], (x,), (np.ones_like(x),))
    assert value.dtype == tangent.dtype == np.float32
    assert value.tolist() == [1.0, 0.5] and tangent.tolist() == [1.0, 1.0]
    results = []
    dr.grad(lambda x: results.append(np.divmod(x, y)) or dnp.sum(x))(x)
    assert type(results[0][0]) is np.ndarray and results[0][0].tolist() == [-3.0, 2.0]


def test_imag_of_a_real_value_is_a_plain_zero_array():
    x = np.float32([1.0, -2.0])
    assert dr.grad(lambda x: dnp.sum(np.imag(x) + np.real(x)))(x).tolist() == [1.0, 1.0]
    value, tangent = dr.jvp(lambda x: np.imag(x) * x, (x,), (x,))
    assert value.dtype == tangent.dtype == np.float32 and not value.any() and not tangent.any()


def test_sqrt_at_zero_is_inf_without_warnings_or_exceptions():
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        assert dr.grad(dnp.sqrt)(0.0) == inf
        assert dr.jvp(dnp.sqrt, (0.0,), (1.0,))[1] == inf
        assert dr.grad(dr.grad(dnp.sqrt))(0.0) == -inf
        assert dr.grad(lambda x: x ** 0.5)(0.0) == inf
        assert dr.grad(dnp.cbrt)(np.float32(0.0)) == inf
        assert dr.grad(dnp.arcsin)(1.0) == inf


def test_logaddexp_is_finite_at_1000():
    for f in (dnp.logaddexp, dnp.logaddexp2):
        for x, y in [(1000.0, -1000.0), (-1000.0, 1000.0), (1000.0, 1000.0), (-1000.0, -1000.0)]:
            g = dr.grad(f, (0, 1))(x, y)
            h = dr.hessian(lambda v, f=f: f(v[0], v[1]))(np.array([x, y]))
            assert np.isfinite(f(x, y)) and np.all(np.isfinite(g)) and np.all(np.isfinite(h))
            assert np.sum(g) == pytest.approx(1.0)


def test_sinc_derivatives_at_zero_to_fourth_order():
    f, fj = dnp.sinc, jnp.sinc
    for order in range(1, 5):
        f, fj = dr.grad(f), jax.grad(fj)
        assert f(0.0) == pytest.approx(float(fj(0.0)), abs=1e-12), order
    assert dr.hessian(dnp.sinc)(0.0) == pytest.approx(-np.pi ** 2 / 3)


def test_hypot_at_zero_and_ties():
    grad = dr.grad(dnp.hypot, (0, 1))
    assert grad(0.0, 0.0) == (0.5, 0.5) and grad(-0.0, 0.0) == (0.5, 0.5)  # as JAX: max(|x|, |y|) there
    assert np.all(dr.hessian(lambda v: dnp.hypot(v[0], v[1]))(np.zeros(2)) == 0)
    # at an infinite result: x / hypot(x, y), so 0 for a finite operand (JAX: nan for both)
    assert np.isnan(grad(inf, 1.0)[0]) and grad(inf, 1.0)[1] == 0.0
    # where |x| == |y|, the true Hessian (JAX's max/min formulation gives 0 there)
    v = np.array([1.0, -1.0])
    want = jax.hessian(lambda v: jnp.sqrt(v[0] ** 2 + v[1] ** 2))(v)
    np.testing.assert_allclose(dr.hessian(lambda v: dnp.hypot(v[0], v[1]))(v), want, rtol=1e-12)


def test_power_second_derivative_at_zero_exponent():
    # d2(x**y)/dx dy = x**(y-1) (1 + y log x) = 1/x at y == 0; d/dx at x == y == 0 is 0 (x**0 == 1)
    dxdy = dr.grad(dr.grad(dnp.power, 0), 1)
    assert dxdy(2.0, 0.0) == pytest.approx(0.5)
    assert dr.grad(dr.grad(dnp.power, 1), 0)(2.0, 0.0) == pytest.approx(0.5)
    assert dr.jvp(lambda y: dr.grad(dnp.power, 0)(4.0, y), (0.0,), (1.0,))[1] == pytest.approx(0.25)
    with np.errstate(all="raise"):
        assert dr.grad(dnp.power, 0)(0.0, 0.0) == 0.0
        y = np.array([0.0, 1.0, 2.0])
        assert dr.grad(lambda x: dnp.sum(dnp.power(x, y)))(np.zeros(3)).tolist() == [0.0, 1.0, 0.0]
