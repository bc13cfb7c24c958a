"""Reductions and scans (dualrev/numpy/reductions.py) through their NumPy signatures, against JAX.

The primitives (sum, prod, max, min, cumsum, cumprod) are checked on drawn operands by tests/test_primitives.py
(specs in tests/specs_reductions.py). Here: every public function, called as plain ``np.f(tracer)`` (or as a
method), with axis as int, negative int, tuple and None, and keepdims; value, JVP and VJP (first order), and the
Hessian and a reverse-over-reverse Hessian-vector product (second order), in float64 and float32, against JAX.
Conventions at non-differentiable points (ties, zeros, constant inputs, NaNs) are among the cases. The queries
(argmax, ..., all) return plain NumPy values at every nesting level.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import arrays, floats, shapes
from test_primitives import applied_at_every_level, check_against_jax

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import PRIMITIVES, Tracer

jax.config.update("jax_enable_x64", True)


def _u(*shape, lo=-3.0, hi=3.0, seed=0):
    """Fixed values in [lo, hi], exact in float32 (quarters), so every dtype sees the same input."""
    rng = np.random.default_rng(seed + 10 * len(shape) + sum(shape))
    return (np.round(rng.uniform(lo, hi, shape) * 4) / 4).astype(np.float64)


X = _u(2, 3, 2, seed=1)
ZEROS = np.array([[0.0, 2.0, -1.5], [0.5, 0.0, 0.0], [3.0, -2.0, 1.0]])  # one row with one zero, one with two
TIES = np.array([[1.0, 2.0, 2.0], [-1.0, -1.0, 0.5], [2.0, 0.5, 2.0]])  # ties for max, min, median, sort
CONST = np.full((3,), 2.0)
WITH_NAN = np.array([[1.0, np.nan, 2.5], [np.nan, np.nan, -1.0]])
# median over axes (0, 1) of a (2, 2, 2) array: JAX flattens those axes as (1, 0), so with ties the middle of the
# stable sort is another element than in C order; dualrev uses JAX's order
MEDIAN_ORDER = np.array([[[1.0, 2.0], [1.0, -1.0]], [[1.0, 0.5], [0.0, 3.0]]])

for _x in (X, ZEROS, TIES, CONST, WITH_NAN, MEDIAN_ORDER):
    _x.setflags(write=False)  # a case that sorts in place (x.sort() on a NumPy array) fails instead of corrupting

def _sorted_in_place(x, axis):
    """ndarray.sort sorts in place and returns None, on traced values as on NumPy arrays (JAX's returns a copy)."""
    assert x.sort(axis=axis) is None
    return x


# id -> (f(module, x) with module numpy (dualrev's dispatch on tracers) or jax.numpy, input)
CASES = {
    "sum axis=(0,-1) keepdims": (lambda m, x: m.sum(x, axis=(0, -1), keepdims=True), X),
    "sum axis=-2": (lambda m, x: m.sum(x, axis=-2), X),
    "prod one zero": (lambda m, x: m.prod(x[0]), ZEROS),
    "prod two zeros": (lambda m, x: m.prod(x[1]), ZEROS),
    "prod axis=None zeros": (lambda m, x: m.prod(x), ZEROS),
    "prod axis=-1 zeros": (lambda m, x: m.prod(x, axis=-1), ZEROS),
    "prod axis=(0,2) keepdims": (lambda m, x: m.prod(x, axis=(2, 0), keepdims=True), X),
    "mean axis=None": (lambda m, x: m.mean(x), X),
    "mean axis=(-1,0) keepdims": (lambda m, x: m.mean(x, axis=(-1, 0), keepdims=True), X),
    "average no weights": (lambda m, x: m.average(x, axis=1), X),
    "average weights like a": (lambda m, x: m.average(x, weights=(np.abs(X) + 0.5).astype(x.dtype)), X),
    "average 1-d weights axis=-2": (lambda m, x: m.average(x, axis=-2, weights=np.array([1.0, 2.0, 0.5], x.dtype)), X),
    "average 2-d weights axis=(2,0) keepdims": (
        lambda m, x: m.average(x, axis=(2, 0), weights=np.array([[1.0, 2.0], [0.5, 0.25]], x.dtype),
                                keepdims=True), X),
    "var axis=None": (lambda m, x: m.var(x), X),
    "var axis=(0,2) ddof=1 keepdims": (lambda m, x: m.var(x, axis=(0, 2), ddof=1, keepdims=True), X),
    "var correction=1 axis=-1": (lambda m, x: m.var(x, axis=-1, correction=1), X),
    "std axis=-1 ddof=1": (lambda m, x: m.std(x, axis=-1, ddof=1), X),
    "std axis=(0,1)": (lambda m, x: m.std(x, axis=(0, 1)), X),
    "std constant input (nan, as JAX)": (lambda m, x: m.std(x), CONST),
    "var constant input": (lambda m, x: m.var(x), CONST),
    "max ties axis=None": (lambda m, x: m.max(x), TIES),
    "max ties axis=1": (lambda m, x: m.max(x, axis=1), TIES),
    "amax ties axis=(0,-1) keepdims": (lambda m, x: m.amax(x, axis=(0, -1), keepdims=True), TIES),
    "min ties axis=0": (lambda m, x: m.min(x, axis=0), TIES),
    "amin ties axis=-1 keepdims": (lambda m, x: m.amin(x, axis=-1, keepdims=True), TIES),
    "max axis=(0,2)": (lambda m, x: m.max(x, axis=(0, 2)), X),
    "ptp axis=None": (lambda m, x: m.ptp(x), X),
    "ptp ties axis=0 keepdims": (lambda m, x: m.ptp(x, axis=0, keepdims=True), TIES),
    "ptp constant input": (lambda m, x: m.ptp(x), CONST),
    "ptp axis=(-1,0)": (lambda m, x: m.ptp(x, axis=(-1, 0)), X),
    "cumsum axis=None": (lambda m, x: m.cumsum(x), X),
    "cumsum axis=-1": (lambda m, x: m.cumsum(x, axis=-1), X),
    "cumprod axis=None zeros": (lambda m, x: m.cumprod(x), ZEROS),
    "cumprod axis=-2 zeros": (lambda m, x: m.cumprod(x, axis=-2), ZEROS),
    "nansum axis=None": (lambda m, x: m.nansum(x), WITH_NAN),
    "nansum axis=0 keepdims": (lambda m, x: m.nansum(x, axis=0, keepdims=True), WITH_NAN),
    "nanmean axis=-1": (lambda m, x: m.nanmean(x, axis=-1), WITH_NAN),
    "nanmean axis=None": (lambda m, x: m.nanmean(x), WITH_NAN),
    "nanmean axis=(1,0) keepdims": (lambda m, x: m.nanmean(x, axis=(1, 0), keepdims=True), WITH_NAN),
    "median axis=None odd": (lambda m, x: m.median(x), TIES),
    "median axis=None even": (lambda m, x: m.median(x), X),
    "median ties axis=-1 keepdims": (lambda m, x: m.median(x, axis=-1, keepdims=True), TIES),
    "median axis=(0,2) keepdims": (lambda m, x: m.median(x, axis=(0, 2), keepdims=True), X),
    "median ties axis=(0,1), JAX's order": (lambda m, x: m.median(x, axis=(0, 1)), MEDIAN_ORDER),
    "median axis=0": (lambda m, x: m.median(x, axis=0), X),
    "sort axis=-1 ties": (lambda m, x: m.sort(x), TIES),
    "sort axis=0 ties": (lambda m, x: m.sort(x, axis=0), TIES),
    "sort axis=None": (lambda m, x: m.sort(x, axis=None), X),
    # array methods on tracers reach the same functions
    "x.max(axis=0)": (lambda m, x: x.max(axis=0), TIES),
    "x.min()": (lambda m, x: x.min(), TIES),
    "x.prod(axis=1)": (lambda m, x: x.prod(axis=1), ZEROS),
    "x.var()": (lambda m, x: x.var(), X),
    "x.std(ddof=1)": (lambda m, x: x.std(ddof=1), X),
    "x.cumsum()": (lambda m, x: x.cumsum(), X),
    "x.cumprod(axis=1)": (lambda m, x: x.cumprod(axis=1), ZEROS),
    "x.sort(axis=0)": (lambda m, x: np.sort(x, 0) if type(x) is np.ndarray else
                       x.sort(axis=0) if m is not np else _sorted_in_place(x, 0), TIES),
    "x.mean(axis=-1)": (lambda m, x: x.mean(axis=-1), X),
}

TOL = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (2e-4, 1e-5)}


def _directions(x, out_shape, seed=0):
    rng = np.random.default_rng(seed)
    one = lambda shape: rng.integers(1, 9, shape) * rng.choice([-0.25, 0.25], shape)  # exact in float32
    return one(np.shape(x)), one(out_shape), one(np.shape(x))


def _close(what, got, want, dtype, order=1):
    assert isinstance(got, (np.ndarray, np.generic)) and not isinstance(got, Tracer), f"{what}: {type(got)}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, want {dtype}"
    assert got.shape == np.shape(want), f"{what}: shape {got.shape}, want {np.shape(want)}"
    rtol, atol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(got.astype(np.float64), np.asarray(want, np.float64), rtol * 5 ** (order - 1),
                               atol * 5 ** (order - 1), err_msg=what)


def _references(f_jax, x, t, ct, v):
    """JAX's value, jvp, vjp, Hessian of sum(f * ct), and its product with v; jitted: one compilation per case."""
    scalar = lambda x: jnp.sum(f_jax(x) * ct)
    return (f_jax(x), jax.jvp(f_jax, (x,), (t,))[1], jax.vjp(f_jax, x)[1](ct)[0], jax.hessian(scalar)(x),
            jax.jvp(jax.grad(scalar), (x,), (v,))[1])


def check_function(f, x, dtypes=(np.float64, np.float32)):
    """f(np, x) on tracers (dualrev) against f(jnp, x): value, jvp, vjp, hessian, reverse-over-reverse hvp."""
    f_jax = lambda x: f(jnp, x)
    t, ct, v = _directions(x, jax.eval_shape(f_jax, jnp.asarray(x)).shape)
    want = [np.asarray(r) for r in jax.jit(lambda *args: _references(f_jax, *args))(x, t, ct, v)]
    for dtype in map(np.dtype, dtypes):
        with np.errstate(all="ignore"):  # NumPy's own warnings, e.g. for std at a constant input
            _check_dualrev(f, *(a.astype(dtype) for a in (x, t, ct, v)), want)


def _check_dualrev(f, x, t, ct, v, want):
    dtype = x.dtype
    f_dr = lambda x: f(np, x)
    scalar_dr = lambda x: np.sum(f_dr(x) * ct)
    _close("value (plain, NumPy)", np.asarray(f(np, x)), want[0], dtype)
    _close("value (plain, dnp)", np.asarray(f(dnp, x)), want[0], dtype)
    out, tangent = dr.jvp(f_dr, (x,), (t,))
    _close("value (jvp)", out, want[0], dtype)
    _close("jvp", tangent, want[1], dtype)
    _close("vjp", dr.vjp(f_dr, x)[1](ct)[0], want[2], dtype)
    _close("hessian", dr.hessian(scalar_dr)(x), want[3], dtype, order=2)
    hvp = dr.grad(lambda x: np.sum(dr.grad(scalar_dr)(x) * v))(x)  # reverse over reverse
    _close("hvp (rev over rev)", hvp, want[4], dtype, order=2)


@pytest.mark.parametrize("case", list(CASES))
def test_against_jax(case):
    f, x = CASES[case]
    check_function(f, x)


def test_cases_cover_what_they_claim():
    assert np.sum(ZEROS[1] == 0) == 2 and np.sum(ZEROS[0] == 0) == 1
    g = dr.grad(lambda x: np.prod(x))(ZEROS[0])
    assert g[0] == 2.0 * -1.5 and g[1] == g[2] == 0.0  # exact: the derivative at the zero is the others' product
    assert np.all(dr.hessian(lambda x: np.prod(x))(ZEROS[1])[1:, 1:] == np.array([[0.0, 0.5], [0.5, 0.0]]))
    assert np.all(dr.grad(lambda x: np.max(x))(TIES) == np.where(TIES == 2.0, 0.25, 0.0))  # four tied maxima
    with np.errstate(invalid="ignore"):
        assert np.all(np.isnan(dr.grad(np.std)(CONST)))  # as JAX
    # the JAX-order median case really differs from C order: C order would give the derivative to other elements
    g = dr.grad(lambda x: np.sum(np.median(x, axis=(0, 1))))(MEDIAN_ORDER)
    c_order = np.zeros_like(MEDIAN_ORDER)
    flat = MEDIAN_ORDER.reshape(4, 2)
    for j in range(2):
        perm = np.argsort(flat[:, j], kind="stable")
        for k in (1, 2):
            c_order.reshape(4, 2)[perm[k], j] += 0.5
    assert not np.array_equal(g, c_order)


def test_average_traced_weights_and_returned():
    a, w = X, np.abs(_u(3, seed=2)) + 0.25

    def f(m, a, w):
        avg, scl = m.average(a, axis=1, weights=w, returned=True)
        return m.sum(avg * avg) + m.sum(scl * a[:, 0])

    f_jax = lambda a, w: f(jnp, a, w)
    f_dr = lambda a, w: f(np, a, w)
    want_value, want_grad, want_hessian = jax.jit(
        lambda a, w: (f_jax(a, w), jax.grad(f_jax, (0, 1))(a, w), jax.hessian(f_jax, (0, 1))(a, w)))(a, w)
    for dtype in (np.float64, np.float32):
        ad, wd = a.astype(dtype), w.astype(dtype)
        _close("value", np.asarray(f(dnp, ad, wd)), want_value, dtype)
        for got, want in zip(dr.grad(f_dr, (0, 1))(ad, wd), want_grad):
            _close("grad", got, want, dtype)
        for got, want in zip(dr.hessian(f_dr, (0, 1))(ad, wd), want_hessian):
            for g, h in zip(got, want):
                _close("hessian", g, h, dtype, order=2)
    _, scl = np.average(X, axis=(0, 2), returned=True)  # no weights: the count, broadcast
    assert np.array_equal(scl, np.full(3, 4.0)) and np.array_equal(dnp.average(X, axis=(0, 2), returned=True)[1],
                                                                     scl)


# -- drawn axes: int, negative int, tuple (unsorted), None, with keepdims --


@st.composite
def axis_cases(draw):
    shape = draw(shapes(min_dims=1, max_dims=3))
    nd = len(shape)
    kind = draw(st.sampled_from(["int", "tuple", "none"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axis = tuple(draw(st.permutations(range(nd)))[:draw(st.integers(1, nd))])
        axis = tuple(a - nd if draw(st.booleans()) else a for a in axis)
    return draw(arrays(shape, floats(-3, 3))).astype(np.float64), axis, draw(st.booleans())


REDUCTIONS = {
    "prod": lambda m, x, axis, keepdims: m.prod(x, axis=axis, keepdims=keepdims),
    "mean": lambda m, x, axis, keepdims: m.mean(x, axis=axis, keepdims=keepdims),
    "var ddof=1": lambda m, x, axis, keepdims: m.var(x, axis=axis, keepdims=keepdims, ddof=1),
    "max": lambda m, x, axis, keepdims: m.max(x, axis=axis, keepdims=keepdims),
    "median": lambda m, x, axis, keepdims: m.median(x, axis=axis, keepdims=keepdims),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(case=axis_cases())
def test_drawn_axes_against_jax(name, case):
    x, axis, keepdims = case
    if name == "var ddof=1" and np.mean(x, axis=axis, keepdims=keepdims).size == x.size:
        return  # one element reduced: n - ddof = 0
    check_function(lambda m, x: REDUCTIONS[name](m, x, axis, keepdims), x, dtypes=(np.float64,))


# -- hand-picked cases of the primitives, with the oracle of tests/test_primitives.py --

EDGE_CASES = {
    "prod several zeros": ("prod", (np.float32([[0, 2, 0], [0, 0, 0]]),), {"axis": (0, 1), "keepdims": False}),
    "prod one zero per row": ("prod", (np.float32([[0, 2, 3], [1.5, 0, -1]]),), {"axis": (1,), "keepdims": True}),
    "prod no axis": ("prod", (np.float32([[0, 2], [1.5, -1]]),), {"axis": (), "keepdims": False}),
    "cumprod zeros": ("cumprod", (np.float32([[0, 2, 0, 3], [1.5, 0, -1, 2]]),), {"axis": 1}),
    "cumprod one element": ("cumprod", (np.float32([[0.0], [2.0]]),), {"axis": 1}),
    "max ties over two axes": ("max", (np.float32([[[1, 2], [2, 0]], [[2, 2], [-1, 2]]]),),
                               {"axis": (0, 2), "keepdims": False}),
    "min ties keepdims 0-d": ("min", (np.float32(1.5),), {"axis": (), "keepdims": True}),
    "cumsum length 1": ("cumsum", (np.float32([[1.5, 2.0]]),), {"axis": 0}),
}


@pytest.mark.parametrize("order", (1, 2))
@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_primitive_edge_cases(case, order):
    name, operands, params = EDGE_CASES[case]
    check_against_jax(name, operands, params, (0,), 0, order)


def test_primitives_of_the_family():
    assert {"sum", "prod", "max", "min", "cumsum", "cumprod"} <= set(PRIMITIVES)


# -- no derivative: plain NumPy values from traced operands, at every nesting level --

QUERIES = {
    "argmax": (lambda x: np.argmax(x), TIES),
    "argmax axis=-1 keepdims": (lambda x: np.argmax(x, axis=-1, keepdims=True), TIES),
    "argmin axis=0": (lambda x: np.argmin(x, axis=0), TIES),
    "x.argmax()": (lambda x: x.argmax(), TIES),
    "x.argmin(axis=1)": (lambda x: x.argmin(axis=1), TIES),
    "argsort": (lambda x: np.argsort(x, kind="stable"), TIES),
    "x.argsort(axis=0)": (lambda x: x.argsort(axis=0), TIES),
    "nonzero": (lambda x: np.nonzero(x), ZEROS),
    "x.nonzero()": (lambda x: x.nonzero(), ZEROS),
    "count_nonzero": (lambda x: np.count_nonzero(x), ZEROS),
    "count_nonzero axis=1 keepdims": (lambda x: np.count_nonzero(x, axis=1, keepdims=True), ZEROS),
    "any": (lambda x: np.any(x), ZEROS),
    "all axis=-1": (lambda x: np.all(x, axis=-1), ZEROS),
    "x.any(axis=0)": (lambda x: x.any(axis=0), ZEROS),
    "x.all()": (lambda x: x.all(), ZEROS),
    "searchsorted traced sorted array": (lambda x: np.searchsorted(x, np.array([0.0, 1.5, 9.0])),
                                         np.array([-1.0, 0.0, 1.0, 2.0])),
    "searchsorted traced values": (lambda x: np.searchsorted(np.array([-1.0, 0.0, 1.0]), x, side="right"), TIES),
}


@pytest.mark.parametrize("case", list(QUERIES))
def test_queries_give_plain_values_at_every_level(case):
    f, x = QUERIES[case]
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        want = f(xd)
        for got in applied_at_every_level(f, (xd,)):
            for g, w in zip(got, want) if isinstance(want, tuple) else [(got, want)]:
                assert isinstance(g, (np.ndarray, np.generic)) and not isinstance(g, Tracer), type(g)
                assert g.dtype == w.dtype and g.shape == w.shape
                np.testing.assert_array_equal(g, w)


def test_searchsorted_with_both_operands_traced():
    a, v = np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0.5, -3.0, 2.0])
    got = applied_at_every_level(lambda a, v: dnp.searchsorted(a, v), (a, v))
    for g in got:
        assert type(g) is np.ndarray and np.array_equal(g, np.searchsorted(a, v))


# -- errors --


def test_unsupported_arguments_and_bad_weights_raise():
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match="out="):
        dr.grad(lambda x: np.max(x, out=np.empty(())))(x)
    with pytest.raises(TypeError, match="where="):  # sum, prod, max, min, mean, var, std take where= (numerical)
        dr.grad(lambda x: np.nansum(x, where=x > 0))(x)
    with pytest.raises(ZeroDivisionError, match="sum to zero"):
        dr.grad(lambda x: np.average(x, axis=1, weights=np.array([1.0, -1.0, 0.0])))(x)
    with pytest.raises(ValueError, match="consistent"):
        dr.grad(lambda x: np.average(x, axis=0, weights=np.ones(3)))(x)
    with pytest.raises(TypeError, match="axis must be specified"):
        dr.grad(lambda x: np.average(x, weights=np.ones(3)))(x)
    with pytest.raises(ValueError, match="out of bounds"):
        dr.grad(lambda x: np.sum(np.cumsum(x, axis=2)))(x)
    with pytest.raises(ValueError, match="repeated axis"):
        dr.grad(lambda x: np.median(x, axis=(0, -2)))(x)
