"""dualrev.nn against JAX (jax.nn, jax.lax.conv_general_dilated, reduce_window), float32 and float64.

For each module, ``check`` compares with JAX: the value and its dtype, first order in both modes (a VJP with a
random cotangent, a JVP with random tangents), and second order in the four mode pairs (forward-over-reverse,
reverse-over-reverse, reverse-over-forward: Hessian-vector products ``H t`` of ``<f, ct>``; forward-over-forward:
``u^T H t``). Then: stability at +-1000, the backward formulas of docs/nn.md checked numerically, random keys and
initialisers.
"""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import nn

DTYPES = [np.float64, np.float32]
TOL = {np.float64: {"rtol": 1e-9, "atol": 1e-11}, np.float32: {"rtol": 2e-4, "atol": 2e-5}}


def _vdot(a, b):
    return dnp.sum(a * b)


def _close(actual, expected, dtype, what, scale=1.0):
    tol = TOL[dtype]
    expected = np.asarray(expected)
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected.astype(np.float64), rtol=tol["rtol"],
                               atol=tol["atol"] * max(scale, 1.0), err_msg=what)


_ORACLE_CACHE: dict = {}


def _f32(x):
    """Values that float32 represents exactly, held in float64: the float32 and float64 runs see the same inputs."""
    return np.asarray(x, np.float32).astype(np.float64)


def check(f, jf, args, diff, dtype, order=2, seed=0, key=None):
    """Compare ``f`` (dualrev, run in ``dtype``) with ``jf`` (JAX, run once per ``key`` in float64) at ``args``.

    ``diff``: positions of the differentiated arguments. All float inputs, cotangents and tangents are rounded to
    float32 first, so one float64 JAX oracle serves both dtypes; float32 results are held to float32 tolerances.
    """
    rng = np.random.default_rng(seed)
    args = [_f32(a) if i in diff else a for i, a in enumerate(args)]
    dargs64 = [args[i] for i in diff]

    def bind(fun, xs):
        full = list(args)
        for i, x in zip(diff, xs):
            full[i] = x
        return fun(*full)

    fd = lambda *xs: bind(f, xs)
    fj = lambda *xs: bind(jf, xs)
    out_shape = np.shape(fd(*dargs64))
    ct = _f32(rng.standard_normal(out_shape))
    ts = [_f32(rng.standard_normal(np.shape(x))) for x in dargs64]
    us = [_f32(rng.standard_normal(np.shape(x))) for x in dargs64]
    argnums = tuple(range(len(dargs64)))

    def oracle(xs, ct, ts):  # everything JAX computes, compiled once
        out, pull = jax.vjp(fj, *xs)
        tout = jax.jvp(fj, tuple(xs), tuple(ts))[1]
        Ht = jax.jvp(jax.grad(lambda *a: jnp.sum(fj(*a) * ct), argnums), tuple(xs), tuple(ts))[1]
        return out, pull(ct), tout, Ht

    if key is None or key not in _ORACLE_CACHE:
        result = jax.jit(oracle)(dargs64, ct, ts)
        result = jax.tree_util.tree_map(np.asarray, result)
        if key is not None:
            _ORACLE_CACHE[key] = result
    else:
        result = _ORACLE_CACHE[key]
    jout, jcts, jtout, jHt = result

    dargs = [x.astype(dtype) for x in dargs64]
    args = [a.astype(dtype) if i in diff else a for i, a in enumerate(args)]
    ct, ts, us = ct.astype(dtype), [t.astype(dtype) for t in ts], [u.astype(dtype) for u in us]
    out = fd(*dargs)
    assert np.result_type(out) == dtype, f"output dtype {np.result_type(out)} for {dtype.__name__} inputs"
    _close(out, jout, dtype, "value", float(np.max(np.abs(jout), initial=1.0)))

    # first order: VJP (reverse) and JVP (forward)
    _, pull = dr.vjp(fd, *dargs)
    for k, (g, jg) in enumerate(zip(pull(ct), jcts)):
        assert np.result_type(g) == dtype
        _close(g, jg, dtype, f"vjp wrt argument {diff[k]}", float(np.max(np.abs(jg), initial=1.0)))
    _, tout = dr.jvp(fd, tuple(dargs), tuple(ts))
    assert np.result_type(tout) == dtype
    _close(tout, jtout, dtype, "jvp", float(np.max(np.abs(jtout), initial=1.0)))
    if order < 2:
        return

    # second order: g(x) = <f(x), ct>; H t in three mode pairs, u^T H t in forward-over-forward
    g = lambda *xs: _vdot(fd(*xs), ct)
    fwd_rev = dr.jvp(dr.grad(g, argnums), tuple(dargs), tuple(ts))[1]
    rev_rev = dr.grad(lambda *xs: sum(_vdot(a, t) for a, t in zip(dr.grad(g, argnums)(*xs), ts)), argnums)(*dargs)
    rev_fwd = dr.grad(lambda *xs: dr.jvp(g, xs, tuple(ts))[1], argnums)(*dargs)
    for name, Ht in (("fwd-over-rev", fwd_rev), ("rev-over-rev", rev_rev), ("rev-over-fwd", rev_fwd)):
        for k, (a, e) in enumerate(zip(Ht, jHt)):
            assert np.result_type(a) == dtype, name
            _close(a, e, dtype, f"{name} H t wrt argument {diff[k]}", float(np.max(np.abs(e), initial=1.0)))
    uHt = dr.jvp(lambda *xs: dr.jvp(g, xs, tuple(ts))[1], tuple(dargs), tuple(us))[1]
    juHt = sum(float(np.sum(u.astype(np.float64) * e)) for u, e in zip(us, jHt))
    _close(uHt, juHt, dtype, "fwd-over-fwd u^T H t", max(abs(juHt), 1.0))


def rand(rng, *shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape)


R = np.random.default_rng(1234)  # for module-level case data only: tests must not draw from it


def case_rng(key):
    """A generator seeded by a case's name: the float32 and float64 runs of a case see the same data."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))

# -- activations --

ACTIVATIONS = {
    "relu": (nn.relu, jax.nn.relu),
    "sigmoid": (nn.sigmoid, jax.nn.sigmoid),
    "tanh": (nn.tanh, jnp.tanh),
    "softplus": (nn.softplus, jax.nn.softplus),
    "softmax": (nn.softmax, jax.nn.softmax),
    "log_softmax": (nn.log_softmax, jax.nn.log_softmax),
    "logsumexp": (lambda x: nn.logsumexp(x, axis=-1), lambda x: jax.nn.logsumexp(x, axis=-1)),
    "softmax_axis0": (lambda x: nn.softmax(x, axis=0), lambda x: jax.nn.softmax(x, axis=0)),
    "logsumexp_all": (nn.logsumexp, jax.nn.logsumexp),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_jax(name, dtype):
    f, jf = ACTIVATIONS[name]
    x = rand(case_rng(name), 3, 4, lo=-6, hi=6)
    x[0, 0] = 0.3  # relu: keep away from the kink at 0
    check(f, jf, [x], (0,), dtype, key=name)


# -- losses --


def _jax_bce(p, t, eps=1e-7):
    p = jnp.clip(p, eps, 1 - eps)
    return -jnp.mean(t * jnp.log(p) + (1 - t) * jnp.log1p(-p))


def _jax_bce_logits(z, t):  # the definition through log-sigmoid: an independent formula
    return -jnp.mean(t * jax.nn.log_sigmoid(z) + (1 - t) * jax.nn.log_sigmoid(-z))


def _jax_ce_int(z, labels):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), labels[:, None], axis=-1))


LABELS = np.array([0, 3, 1, 4, 2])
TARGETS = R.dirichlet(np.ones(5), size=5)  # soft targets, rows sum to 1
BINARY = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.5]])

LOSSES = {
    "mse": (nn.mse, lambda p, t: jnp.mean((p - t) ** 2), [rand(R, 4, 3), rand(R, 4, 3)], (0, 1)),
    "bce": (nn.binary_cross_entropy, _jax_bce, [R.uniform(0.05, 0.95, (2, 3)), BINARY], (0, 1)),
    "bce_with_logits": (nn.binary_cross_entropy_with_logits, _jax_bce_logits, [rand(R, 2, 3, lo=-5, hi=5), BINARY],
                        (0, 1)),
    "cross_entropy_int": (nn.cross_entropy, _jax_ce_int, [rand(R, 5, 5, lo=-4, hi=4), LABELS], (0,)),
    "cross_entropy_soft": (nn.cross_entropy, lambda z, y: -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z), -1)),
                           [rand(R, 5, 5, lo=-4, hi=4), TARGETS], (0, 1)),
    "cross_entropy_sum": (lambda z, y: nn.cross_entropy(z, y, reduction="sum"),
                          lambda z, y: -jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=-1)),
                          [rand(R, 5, 5), LABELS], (0,)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_matches_jax(name, dtype):
    f, jf, args, diff = LOSSES[name]
    check(f, jf, args, diff, dtype, key=name)


# -- layers --


def _jax_layer_norm(x, gamma, beta, eps=1e-5):
    mu = jnp.mean(x, -1, keepdims=True)
    return (x - mu) * lax.rsqrt(jnp.var(x, -1, keepdims=True) + eps) * gamma + beta


def _jax_conv(x, w, b, stride, padding, dilation):
    n = x.ndim - 2
    if not isinstance(padding, str):
        padding = [(padding, padding)] * n if np.ndim(padding) == 0 else padding
    dims = ("NCW", "OIW", "NCW") if n == 1 else ("NCHW", "OIHW", "NCHW")
    stride = (stride,) * n if np.ndim(stride) == 0 else stride
    dilation = (dilation,) * n if np.ndim(dilation) == 0 else dilation
    y = lax.conv_general_dilated(x, w, stride, padding.upper() if isinstance(padding, str) else padding,
                                 rhs_dilation=dilation, dimension_numbers=dims,
                                 precision=lax.Precision.HIGHEST)
    return y + b.reshape((-1,) + (1,) * n)


LAYERS = {
    "linear": (nn.linear, lambda x, W, b: x @ W + b, [rand(R, 4, 3), rand(R, 3, 2), rand(R, 2)], (0, 1, 2)),
    "linear_no_bias": (nn.linear, lambda x, W: x @ W, [rand(R, 2, 4, 3), rand(R, 3, 2)], (0, 1)),
    "layer_norm": (nn.layer_norm, _jax_layer_norm, [rand(R, 3, 5), rand(R, 5), rand(R, 5)], (0, 1, 2)),
}

CONVS = [  # (x shape, w shape, stride, padding, dilation)
    ((2, 3, 7), (4, 3, 3), 1, "valid", 1),
    ((2, 2, 9), (3, 2, 2), 2, "same", 2),
    ((1, 2, 6), (2, 2, 3), 1, 1, 1),
    ((1, 2, 8), (2, 2, 2), 1, "same", 1),  # an odd total pad: (0, 1), the extra at the end
    ((2, 3, 5, 6), (4, 3, 3, 3), 1, "valid", 1),
    ((2, 2, 7, 6), (3, 2, 3, 2), 2, "same", 1),
    ((1, 2, 7, 7), (2, 2, 2, 3), (2, 1), [(1, 2), (0, 1)], (2, 1)),
    ((2, 3, 5, 5), (2, 3, 3, 3), 1, 1, 2),
    ((2, 1, 4, 4), (3, 1, 1, 1), 1, "valid", 1),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_jax(name, dtype):
    f, jf, args, diff = LAYERS[name]
    check(f, jf, args, diff, dtype, key=name)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", range(len(CONVS)))
def test_conv_matches_lax_conv_general_dilated(case, dtype):
    xs, ws, stride, padding, dilation = CONVS[case]
    conv = nn.conv1d if len(xs) == 3 else nn.conv2d
    f = lambda x, w, b: conv(x, w, b, stride=stride, padding=padding, dilation=dilation)
    jf = lambda x, w, b: _jax_conv(x, w, b, stride, padding, dilation)
    rng = case_rng(("conv", case))
    check(f, jf, [rand(rng, *xs), rand(rng, *ws), rand(rng, ws[0])], (0, 1, 2), dtype, seed=case, key=("conv", case))


def _jax_pool(x, op, window, stride, padding):
    kh, kw = window
    pads = padding.upper() if isinstance(padding, str) else [(0, 0), (0, 0), (padding, padding), (padding, padding)]
    if op == "max":
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, kh, kw), (1, 1) + stride, pads)
    return lax.reduce_window(x, 0.0, lax.add, (1, 1, kh, kw), (1, 1) + stride, pads) / (kh * kw)


POOLS = [  # (x shape, window, stride, padding)
    ((2, 3, 4, 6), (2, 2), (2, 2), "valid"),  # tiles: the reshape path
    ((1, 2, 5, 5), (2, 2), (2, 2), "valid"),  # tiles after cropping
    ((2, 2, 5, 6), (3, 2), (1, 2), "valid"),  # overlapping windows: the patch path
    ((1, 2, 5, 5), (3, 3), (2, 2), "same"),
    ((1, 1, 4, 4), (2, 2), (2, 2), 1),
    ((1, 2, 4, 5), (2, 2), (1, 1), "same"),  # odd total pads
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("case", range(len(POOLS)))
def test_pool_matches_reduce_window(case, op, dtype):
    xs, window, stride, padding = POOLS[case]
    f = nn.max_pool2d if op == "max" else nn.avg_pool2d
    x = case_rng(("pool", case)).permutation(np.prod(xs)).reshape(xs) / 7.0 - 3.0  # distinct values: no ties in max windows
    check(lambda x: f(x, window, stride, padding), lambda x: _jax_pool(x, op, window, stride, padding),
          [x], (0,), dtype, key=("pool", case, op))


def test_max_pool_ties_go_to_the_first_maximum_as_in_jax():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = 1.0  # a tie in the first window
    g = dr.grad(lambda x: dnp.sum(nn.max_pool2d(x) * np.arange(1.0, 5.0).reshape(1, 1, 2, 2)))(x)
    jg = jax.grad(lambda x: jnp.sum(_jax_pool(x, "max", (2, 2), (2, 2), "valid")
                                    * jnp.arange(1.0, 5.0).reshape(1, 1, 2, 2)))(x)
    np.testing.assert_array_equal(g, jg)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_dropout_matches_its_mask_in_every_mode(dtype):
    key = nn.PRNGKey(3)
    x = rand(case_rng("dropout"), 4, 5)
    y = nn.dropout(key, x.astype(dtype), 0.4)
    mask = np.asarray(y, np.float64) / x.astype(dtype).astype(np.float64)
    kept = np.isin(np.round(mask, 4), [np.round(1 / 0.6, 4)])
    assert np.all(kept | (mask == 0)) and 0 < kept.sum() < x.size
    jmask = jnp.asarray(np.where(kept, 1 / 0.6, 0.0))
    check(lambda x: nn.dropout(key, x, 0.4), lambda x: x * jmask.astype(x.dtype), [x], (0,), dtype, key="dropout")
    np.testing.assert_array_equal(nn.dropout(key, x, 0.4), nn.dropout(key, x, 0.4))  # same key, same mask
    assert not np.array_equal(nn.dropout(nn.split(key)[0], x, 0.4), nn.dropout(key, x, 0.4))
    assert nn.dropout(key, x, 0.4, deterministic=True) is x and nn.dropout(key, x, 0.0) is x


# -- stability at +-1000 --

BIG = np.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -999.0]])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ["logsumexp", "log_softmax", "softmax", "sigmoid", "softplus"])
def test_values_and_gradients_are_finite_and_exact_at_1000(name, dtype):
    f, jf = ACTIVATIONS[name]
    x = BIG.astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow, 0 * inf, log(0)
        out = f(x)
        g = dr.grad(lambda x: _vdot(f(x), np.linspace(0.5, 1.5, out.size).reshape(out.shape).astype(dtype)))(x)
        t = dr.jvp(f, (x,), (np.ones_like(x),))[1]
    jg = jax.jit(jax.grad(lambda x: jnp.sum(jf(x) * jnp.linspace(0.5, 1.5, out.size).reshape(out.shape))))(x)
    for a in (out, g, t):
        assert np.all(np.isfinite(a)) and np.result_type(a) == dtype
    np.testing.assert_allclose(out, jax.jit(jf)(x), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(g, jg, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_losses_on_logits_are_finite_and_exact_at_1000(dtype):
    z = BIG.astype(dtype)
    t = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]], dtype)
    labels = np.array([1, 0, 2])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        bce, g_bce = dr.value_and_grad(nn.binary_cross_entropy_with_logits)(z, t)
        ce, g_ce = dr.value_and_grad(nn.cross_entropy)(z, labels)
        h_ce = dr.hessian(lambda z: nn.cross_entropy(z, labels))(z)
    jbce, jg_bce = jax.jit(jax.value_and_grad(_jax_bce_logits))(z, t)
    jce, jg_ce = jax.jit(jax.value_and_grad(_jax_ce_int))(z, labels)
    np.testing.assert_allclose(bce, jbce, rtol=1e-6)
    np.testing.assert_allclose(g_bce, jg_bce, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(ce, jce, rtol=1e-6)
    np.testing.assert_allclose(g_ce, jg_ce, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(h_ce, jax.jit(jax.hessian(_jax_ce_int))(z.astype(np.float64), labels), atol=1e-6)
    assert np.result_type(bce) == np.result_type(ce) == dtype
    # probabilities of exactly 0 and 1 are clipped: finite loss, zero gradient where clipped
    p = np.array([0.0, 1.0, 0.5], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, g = dr.value_and_grad(nn.binary_cross_entropy)(p, np.array([1.0, 0.0, 1.0], dtype))
    assert np.isfinite(loss) and np.all(np.isfinite(g)) and g[0] == 0 and g[1] == 0


def test_sigmoid_and_softplus_are_accurate_in_the_tails():
    x = np.array([-40.0, -20.0, 20.0, 40.0])
    np.testing.assert_allclose(nn.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-15)  # 4.2e-18 at -40, not 0
    np.testing.assert_allclose(nn.softplus(x), np.logaddexp(0, x), rtol=1e-15)
    assert nn.relu(np.array([-np.inf, np.nan, 2.0]))[0] == 0 and np.isnan(nn.relu(np.array([np.nan]))[0])
    g = dr.grad(lambda x: dnp.sum(nn.relu(x)))(np.array([-np.inf, -1.0, 0.0, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0, 1.0])
    g = dr.grad(lambda x: dnp.sum(nn.relu(x)))(np.array([-1.0, 0.0, 3.0]))  # relu'(0) = 0, as in jax.nn.relu
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])
    assert dr.jvp(nn.relu, (np.array([0.0, 2.0]),), (np.ones(2),))[1].tolist() == [0.0, 1.0]


def test_cross_entropy_reductions_axes_and_errors():
    z = rand(case_rng("ce"), 2, 4, 3)  # classes on axis 1
    labels = np.array([[0, 2, 1], [1, 1, 0]])
    per = nn.cross_entropy(z, labels, axis=1, reduction="none")
    assert per.shape == (2, 3)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = -np.take_along_axis(log_p, labels[:, None, :], axis=1)[:, 0]
    np.testing.assert_allclose(per, expected, rtol=1e-12)
    np.testing.assert_allclose(nn.cross_entropy(z, labels, axis=1), per.mean(), rtol=1e-12)
    np.testing.assert_allclose(nn.cross_entropy(z, labels, axis=1, reduction="sum"), per.sum(), rtol=1e-12)
    check(lambda z: nn.cross_entropy(z, labels, axis=1, reduction="none"),
          lambda z: -jnp.take_along_axis(jax.nn.log_softmax(z, axis=1), labels[:, None, :], axis=1)[:, 0],
          [z], (0,), np.float64)
    with pytest.raises(ValueError, match="reduction"):
        nn.cross_entropy(z, labels, reduction="avg")
    with pytest.raises(ValueError, match="shape"):
        nn.cross_entropy(z, np.ones((2, 4)))
    with pytest.raises(ValueError, match="channels"):
        nn.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 1, 3, 3)))
    with pytest.raises(ValueError, match="does not fit"):
        nn.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="padding"):
        nn.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 3)), padding="full")


# -- the backward formulas of docs/nn.md, checked numerically against dualrev --


def _pullback(f, *args):
    out, pull = dr.vjp(f, *args)
    G = case_rng(("G", np.shape(out))).standard_normal(np.shape(out))
    return G, pull(G)


def test_formula_linear():
    rng = case_rng("linear formula")
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    G, (dx, dW, db) = _pullback(nn.linear, x, W, b)
    np.testing.assert_allclose(dx, G @ W.T, rtol=1e-13)
    np.testing.assert_allclose(dW, x.T @ G, rtol=1e-13)
    np.testing.assert_allclose(db, G.sum(axis=0), rtol=1e-13)


def test_formula_relu_sigmoid_tanh():
    x = rand(case_rng("act formula"), 5, 4, lo=-4, hi=4)
    G, (dx,) = _pullback(nn.relu, x)
    np.testing.assert_allclose(dx, G * (x > 0))
    s = 1 / (1 + np.exp(-x))
    G, (dx,) = _pullback(nn.sigmoid, x)
    np.testing.assert_allclose(dx, G * s * (1 - s), rtol=1e-13)
    G, (dx,) = _pullback(nn.tanh, x)
    np.testing.assert_allclose(dx, G * (1 - np.tanh(x) ** 2), rtol=1e-13)


def test_formula_mse_and_binary_cross_entropy():
    rng = case_rng("loss formula")
    p, t = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
    n = p.size
    dp, dt = dr.grad(nn.mse, (0, 1))(p, t)
    np.testing.assert_allclose(dp, 2 * (p - t) / n, rtol=1e-13)
    np.testing.assert_allclose(dt, -2 * (p - t) / n, rtol=1e-13)
    dp = dr.grad(nn.binary_cross_entropy)(p, t)
    np.testing.assert_allclose(dp, (p - t) / (p * (1 - p)) / n, rtol=1e-12)
    z = rand(rng, 4, 3, lo=-6, hi=6)
    dz, dt = dr.grad(nn.binary_cross_entropy_with_logits, (0, 1))(z, t)
    np.testing.assert_allclose(dz, (1 / (1 + np.exp(-z)) - t) / n, rtol=1e-12)
    np.testing.assert_allclose(dt, -z / n, rtol=1e-13)


def test_formula_cross_entropy():
    rng = case_rng("ce formula")
    z, labels = rand(rng, 6, 4, lo=-5, hi=5), np.array([0, 3, 1, 1, 2, 0])
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    Y = np.eye(4)[labels]
    np.testing.assert_allclose(dr.grad(nn.cross_entropy)(z, labels), (p - Y) / 6, rtol=1e-12, atol=1e-16)
    soft = rng.dirichlet(np.ones(4), 6)  # soft targets: d/dz = (p - y) / N too, and d/dy = -log p / N
    dz, dy = dr.grad(nn.cross_entropy, (0, 1))(z, soft)
    np.testing.assert_allclose(dz, (p - soft) / 6, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(dy, -np.log(p) / 6, rtol=1e-12)


def test_formula_layer_norm():
    rng = case_rng("ln formula")
    x, gamma, beta, eps = rng.standard_normal((5, 6)), rng.standard_normal(6), rng.standard_normal(6), 1e-5
    G, (dx, dgamma, dbeta) = _pullback(lambda x, g, b: nn.layer_norm(x, g, b, eps), x, gamma, beta)
    sigma = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - x.mean(axis=1, keepdims=True)) / sigma
    gh = G * gamma  # the cotangent of xhat
    expected = (gh - gh.mean(axis=1, keepdims=True) - xhat * (gh * xhat).mean(axis=1, keepdims=True)) / sigma
    np.testing.assert_allclose(dx, expected, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(dgamma, (G * xhat).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dbeta, G.sum(axis=0), rtol=1e-12)


def test_formula_conv2d():
    # y = conv(x, w), stride 2, padding 1, dilation 1: dw is the correlation of x with G, and dx is the "full"
    # correlation of G (with stride-1 zeros inserted between its elements) with the flipped, transposed kernel.
    rng = case_rng("conv formula")
    s, pad, k = 2, 1, 3
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, k, k)), rng.standard_normal(4)
    G, (dx, dw, db) = _pullback(lambda x, w, b: nn.conv2d(x, w, b, stride=s, padding=pad), x, w, b)
    N, O, Ho, Wo = G.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dw_expected = np.zeros_like(w)
    for p in range(k):
        for q in range(k):
            window = xp[:, :, p:p + s * (Ho - 1) + 1:s, q:q + s * (Wo - 1) + 1:s]  # (N, C, Ho, Wo)
            dw_expected[:, :, p, q] = np.einsum("nohw,nchw->oc", G, window)
    np.testing.assert_allclose(dw, dw_expected, rtol=1e-12)
    np.testing.assert_allclose(db, G.sum(axis=(0, 2, 3)), rtol=1e-12)
    Gd = np.zeros((N, O, s * (Ho - 1) + 1, s * (Wo - 1) + 1))
    Gd[:, :, ::s, ::s] = G  # insert stride - 1 zeros
    w_t = np.transpose(w[:, :, ::-1, ::-1], (1, 0, 2, 3))  # flip the window, swap in and out channels
    dxp = nn.conv2d(Gd, w_t, padding=k - 1)  # the transposed convolution, written with conv2d itself
    dxp = np.pad(dxp, ((0, 0), (0, 0), (0, xp.shape[2] - dxp.shape[2]), (0, xp.shape[3] - dxp.shape[3])))
    np.testing.assert_allclose(dx, dxp[:, :, pad:-pad, pad:-pad], rtol=1e-11, atol=1e-13)


# -- random keys and initialisers --


def test_keys_are_values_split_deterministically():
    key = nn.PRNGKey(42)
    a, b = nn.split(key)
    assert a != b and a == nn.split(nn.PRNGKey(42))[0] and hash(a) == hash(nn.split(key)[0])
    np.testing.assert_array_equal(nn.random.uniform(a, (3,)), nn.random.uniform(a, (3,)))  # same key, same draw
    assert not np.array_equal(nn.random.uniform(a, (3,)), nn.random.uniform(b, (3,)))
    assert len(nn.split(key, 5)) == 5 and len(set(nn.split(key, 5))) == 5
    assert nn.random.fold_in(key, 3) not in nn.split(key, 10)
    with pytest.raises(AttributeError):
        key._entropy = 1
    with pytest.raises(TypeError):
        nn.split(0)
    assert sorted(nn.random.permutation(a, 6)) == list(range(6))
    assert nn.random.normal(a, (2, 2), np.float32).dtype == np.float32


def test_initialisers_have_the_documented_scales():
    key = nn.PRNGKey(0)
    assert nn.initializers.compute_fans((30, 50)) == (30, 50)
    assert nn.initializers.compute_fans((8, 4, 3, 3)) == (36, 72)  # OIHW: in = 4 * 9, out = 8 * 9
    w = nn.glorot_uniform(key, (300, 500), np.float32)
    assert w.shape == (300, 500) and w.dtype == np.float32
    limit = np.sqrt(6 / 800)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    np.testing.assert_allclose(w.var(), 2 / 800, rtol=0.02)
    w = nn.he_normal(key, (64, 16, 5, 5))
    fan_in = 16 * 25
    np.testing.assert_allclose(w.var(), 2 / fan_in, rtol=0.03)
    assert np.abs(w).max() <= 2 * np.sqrt(2 / fan_in) / 0.87962566103423978  # truncated at two deviations
    assert abs(w.mean()) < 0.01 * np.sqrt(2 / fan_in) * 10
    np.testing.assert_array_equal(nn.he_normal(key, (3, 4)), nn.he_normal(key, (3, 4)))
    jw = jax.nn.initializers.he_normal()(jax.random.PRNGKey(0), (400, 300))  # the same distribution as JAX's
    np.testing.assert_allclose(nn.he_normal(key, (400, 300)).std(), np.std(jw), rtol=0.02)
