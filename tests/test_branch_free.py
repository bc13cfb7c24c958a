"""Rules look at no data (issue 11 §3): a function through each rule that has a special point (power at 0, hypot at
(0, 0), logaddexp at +inf, sinc at 0, nan_to_num, the norms at zero vectors, cond of a singular matrix) compiles
under dr.jit with no guard, so one compiled variant serves ordinary and special inputs alike; and under vmap a batch
mixing the special point with ordinary ones gives each example the derivative it gets alone, at orders 1 and 2."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.numpy.ufuncs import _quotient_or_impl

inf, nan = np.inf, np.nan


def _pair(g):
    """A scalar function of two operands packed in v = [x, y]."""
    return lambda v: dnp.sum(g(v[0], v[1]))


# name: (f of one array v, an ordinary v, a v holding the special points)
CASES = {
    "power": (_pair(lambda x, y: x ** y), [[0.5, 2.0, 1.5], [1.5, 2.0, 0.5]], [[0.0, 0.0, 2.0], [0.0, 1.5, 0.0]]),
    "hypot": (_pair(dnp.hypot), [[0.5, -2.0, 1.5], [1.5, 2.0, 0.5]], [[0.0, -0.0, 1.5], [0.0, 0.0, 0.5]]),
    "logaddexp": (_pair(dnp.logaddexp), [[0.5, -2.0, 1000.0], [1.5, 2.0, 3.0]], [[inf, 1.0, 0.5], [0.0, -inf, 2.0]]),
    "logaddexp2": (_pair(dnp.logaddexp2), [[0.5, -2.0, 1.0], [1.5, 2.0, 3.0]], [[inf, 1.0, 0.5], [0.0, -inf, 2.0]]),
    "sinc": (lambda v: dnp.sum(dnp.sinc(v)), [0.5, -1.25, 2.0], [0.0, -0.0, 0.75]),
    "nan_to_num": (lambda v: dnp.sum(dnp.nan_to_num(v * v) * v), [0.5, -1.25, 2.0], [nan, inf, 0.75]),
    "norm": (lambda v: dnp.sum(dnp.linalg.norm(dnp.reshape(v, (2, 2)), axis=1)), [0.5, -1.0, 2.0, 1.0],
             [0.0, 0.0, 2.0, 1.0]),
    "norm inf": (lambda v: dnp.linalg.norm(v, np.inf), [0.5, -1.0, 2.0], [0.0, 0.0, 0.0]),
    "norm 3": (lambda v: dnp.linalg.norm(v, 3), [0.5, -1.0, 2.0], [0.0, 0.0, 0.0]),
    "fro": (lambda v: dnp.linalg.norm(dnp.reshape(v, (2, 2))), [0.5, -1.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0]),
    "nuc": (lambda v: dnp.linalg.norm(dnp.reshape(v, (2, 2)), "nuc"), [0.5, -1.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0]),
    "cond": (lambda v: dnp.linalg.cond(dnp.reshape(v, (2, 2)) + dnp.eye(2)), [0.5, -1.0, 2.0, 1.0],
             [0.0, 1.0, 1.0, 0.0]),  # singular: cond is inf (NumPy's NaN replaced)
}

ORDERS = {1: dr.grad, 2: dr.hessian}


def _quietly(fun, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fun(*args)


def _same(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)  # NaN equals NaN


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", CASES)
def test_jit_compiles_each_rule_without_a_guard(name, order):
    f, ordinary, special = CASES[name]
    ordinary, special = np.array(ordinary), np.array(special)
    derivative = ORDERS[order](f)
    jd = dr.jit(derivative)
    source = _quietly(jd.source, ordinary)
    assert "# guard" not in source, source
    for v in (ordinary, special, ordinary):
        _same(_quietly(jd, v), _quietly(derivative, v))
    info = jd.cache_info()
    assert (info["variants"], info["retraces"]) == (1, 0)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", CASES)
def test_vmap_gives_each_example_its_own_derivative(name, order):
    f, ordinary, special = CASES[name]
    batch = np.array([ordinary, special, ordinary[::-1]])
    derivative = ORDERS[order](f)
    want = np.stack([_quietly(derivative, v) for v in batch])
    _same(_quietly(dr.vmap(derivative), batch), want)
    # compiled: an ordinary batch first, then the mixed one runs the same code
    jv = dr.jit(dr.vmap(derivative))
    _quietly(jv, np.array([ordinary] * 3))
    _same(_quietly(jv, batch), want)
    assert jv.cache_info()["variants"] == 1


def test_special_points_keep_their_conventions_in_a_mixed_batch():
    """The values at the special points (docs/conventions.md), read off a batch that mixes them with others."""
    g = dr.vmap(dr.grad(dnp.sinc))(np.array([0.0, 0.5]))
    assert g[0] == 0.0 and g[1] == pytest.approx(-4 / np.pi)
    h = dr.vmap(dr.hessian(dnp.sinc))(np.array([0.0, 0.5]))
    assert h[0] == pytest.approx(-np.pi ** 2 / 3)
    gx, gy = dr.vmap(dr.grad(dnp.hypot, (0, 1)))(np.array([0.0, 3.0]), np.array([0.0, 4.0]))
    np.testing.assert_allclose([gx, gy], [[0.5, 0.6], [0.5, 0.8]], rtol=1e-15)
    gx, gy = dr.vmap(dr.grad(lambda x, y: x ** y, (0, 1)))(np.array([0.0, 0.0, 2.0]), np.array([0.0, 2.0, 3.0]))
    np.testing.assert_allclose(gx, [0.0, 0.0, 12.0])
    np.testing.assert_allclose(gy, [0.0, 0.0, 8.0 * np.log(2.0)])
    g = dr.vmap(dr.grad(dnp.linalg.norm))(np.array([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quotient_or_shape_and_dtype_never_depend_on_the_data(dtype):
    a = np.ones((2, 1), dtype)
    for b in (np.array([1.0, 2.0], dtype), np.array([0.0, 2.0], dtype)):
        for c in (0.5, np.full((3, 2, 2), 0.5, dtype)):
            out = _quotient_or_impl(a, b, c)
            want = np.where(b == 0, c, a / np.where(b == 0, 1, b))
            assert out.shape == want.shape and out.dtype == want.dtype == dtype
            np.testing.assert_array_equal(out, want)
