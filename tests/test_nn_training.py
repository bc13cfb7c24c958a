"""dualrev.nn training tools: optimisers against hand-computed updates, clipping, gradient accumulation,
checkpoint, mixed precision and loss scaling, mini-batches."""

from __future__ import annotations

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import nn

# -- optimisers: hand-computed updates --


def test_sgd_plain_momentum_nesterov_and_weight_decay_against_hand_computed_updates():
    p = {"w": np.array([1.0, -2.0]), "b": np.array(0.5)}
    g1 = {"w": np.array([0.5, 1.0]), "b": np.array(-1.0)}
    g2 = {"w": np.array([-1.0, 2.0]), "b": np.array(0.0)}

    opt = nn.sgd(0.1)
    u, s = opt.update(g1, opt.init(p), p)
    np.testing.assert_allclose(u["w"], [-0.05, -0.1])
    np.testing.assert_allclose(u["b"], 0.1)
    assert s.step == 1

    opt = nn.sgd(0.1, momentum=0.9)
    s = opt.init(p)
    u1, s = opt.update(g1, s, p)  # v1 = g1
    u2, s = opt.update(g2, s, p)  # v2 = 0.9 g1 + g2 = [-0.55, 2.9]
    np.testing.assert_allclose(u1["w"], [-0.05, -0.1])
    np.testing.assert_allclose(u2["w"], [0.055, -0.29])
    np.testing.assert_allclose(s.velocity["w"], [-0.55, 2.9])

    opt = nn.sgd(0.1, momentum=0.9, nesterov=True)
    s = opt.init(p)
    _, s = opt.update(g1, s, p)
    u2, s = opt.update(g2, s, p)  # step = g2 + 0.9 v2 = [-1.495, 4.61]
    np.testing.assert_allclose(u2["w"], [0.1495, -0.461])

    opt = nn.sgd(0.1, weight_decay=0.01)  # g + 0.01 p
    u, _ = opt.update(g1, opt.init(p), p)
    np.testing.assert_allclose(u["w"], [-0.1 * 0.51, -0.1 * 0.98])
    with pytest.raises(TypeError, match="needs params"):
        opt.update(g1, opt.init(p))


def test_adam_against_hand_computed_updates():
    p = np.array([1.0, -1.0, 0.0])
    grads = [np.array([0.1, -2.0, 0.0]), np.array([0.3, 1.0, 0.0]), np.array([-0.2, 0.5, 1.0])]
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    opt = nn.adam(lr, b1, b2, eps)
    state = opt.init(p)
    m = v = np.zeros(3)
    for t, g in enumerate(grads, 1):
        u, state = opt.update(g, state, p)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        expected = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(u, expected, rtol=1e-12)
        p = nn.apply_updates(p, u)
    # the first step of Adam moves each coordinate by lr against the gradient's sign (0 where it is 0)
    u1, _ = opt.update(grads[0], opt.init(p), p)
    np.testing.assert_allclose(u1, [-lr, lr, 0.0], rtol=1e-6)
    # decoupled weight decay (AdamW) adds lr * wd * p to the step
    u_wd, _ = nn.adam(lr, weight_decay=0.1).update(grads[0], opt.init(p), p)
    np.testing.assert_allclose(u_wd - u1, -lr * 0.1 * p, rtol=1e-6, atol=1e-15)


def test_learning_rate_schedule_is_called_with_the_step_count():
    seen = []
    opt = nn.sgd(lambda step: seen.append(step) or 0.5)
    s = opt.init(np.zeros(2))
    for _ in range(3):
        u, s = opt.update(np.ones(2), s)
    assert seen == [0, 1, 2]
    np.testing.assert_allclose(u, [-0.5, -0.5])


def test_optimisers_minimise_a_quadratic():
    target = np.array([1.0, -3.0, 2.0])
    loss = lambda p: dnp.sum((p["x"] - target) ** 2)
    for opt, steps in ((nn.sgd(0.1, momentum=0.5), 100), (nn.adam(0.1), 300)):
        params = {"x": np.zeros(3)}
        state = opt.init(params)
        for _ in range(steps):
            updates, state = opt.update(dr.grad(loss)(params), state, params)
            params = nn.apply_updates(params, updates)
        np.testing.assert_allclose(params["x"], target, atol=1e-3)


def test_an_optimiser_step_is_differentiable():
    # d/dlr of the loss after one sgd step from p: -g . g  (g the gradient at p)
    p = np.array([1.0, 2.0])
    loss = lambda p: dnp.sum(p**2)
    g = dr.grad(loss)(p)

    def after_step(lr):
        opt = nn.sgd(lr)
        u, _ = opt.update(g, opt.init(p), p)
        return loss(nn.apply_updates(p, u))

    np.testing.assert_allclose(dr.grad(after_step)(0.1), -g @ (2 * (p - 0.1 * g)))


# -- clipping --


def test_clip_by_global_norm():
    tree = {"a": np.array([3.0, 0.0]), "b": [np.array([[4.0]])]}
    np.testing.assert_allclose(nn.global_norm(tree), 5.0)
    clipped, norm = nn.clip_by_global_norm(tree, 1.0)
    np.testing.assert_allclose(norm, 5.0)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0])
    np.testing.assert_allclose(clipped["b"][0], [[0.8]])
    np.testing.assert_allclose(nn.global_norm(clipped), 1.0)
    same, _ = nn.clip_by_global_norm(tree, 10.0)
    assert same is tree
    f16 = {"a": np.array([300.0, 400.0], np.float16)}  # the sum of squares overflows float16
    clipped, norm = nn.clip_by_global_norm(f16, 1.0)
    np.testing.assert_allclose(norm, 500.0)
    assert clipped["a"].dtype == np.float16
    np.testing.assert_allclose(clipped["a"], [0.6, 0.8], rtol=1e-3)


# -- gradient accumulation --


def _mlp_loss(params, x, y):
    h = nn.tanh(nn.linear(x, params["W1"], params["b1"]))
    return nn.cross_entropy(nn.linear(h, params["W2"], params["b2"]), y)


def _mlp_params(dtype=np.float64, seed=0):
    k1, k2 = nn.split(nn.PRNGKey(seed))
    return {"W1": nn.glorot_uniform(k1, (6, 5), dtype), "b1": np.full(5, 0.1, dtype),
            "W2": nn.glorot_uniform(k2, (5, 3), dtype), "b2": np.zeros(3, dtype)}


def test_gradient_accumulation_equals_the_full_batch_gradient():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((23, 6)), rng.integers(0, 3, 23)
    params = _mlp_params()
    loss, grads = dr.value_and_grad(_mlp_loss)(params, x, y)
    for parts in (1, 3, 5, 23):  # uneven micro-batches: 23 = 8 + 8 + 7, ...
        micro = nn.split_batch((x, y), parts)
        assert sum(len(b[1]) for b in micro) == 23
        acc_loss, acc_grads = nn.accumulate_grads(_mlp_loss, params, micro)
        np.testing.assert_allclose(acc_loss, loss, rtol=1e-13)
        for k in grads:
            np.testing.assert_allclose(acc_grads[k], grads[k], rtol=1e-12, atol=1e-15)
    # an unweighted mean of the micro-batch gradients would be wrong for uneven sizes
    micro = [(x[:20], y[:20]), (x[20:], y[20:])]
    naive = {k: (dr.grad(_mlp_loss)(params, *micro[0])[k] + dr.grad(_mlp_loss)(params, *micro[1])[k]) / 2
             for k in grads}
    assert not np.allclose(naive["W1"], grads["W1"])
    (acc_loss, auxes), acc_grads = nn.accumulate_grads(lambda p, x, y: (_mlp_loss(p, x, y), len(y)), params,
                                                        micro, has_aux=True)
    assert auxes == [20, 3]
    np.testing.assert_allclose(acc_grads["W1"], grads["W1"], rtol=1e-12)


def test_minibatches_cover_the_data_in_a_key_determined_order():
    x, y = np.arange(10.0), np.arange(10) * 2
    batches = list(nn.minibatches(nn.PRNGKey(1), (x, y), 4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[0] for b in batches])
    assert sorted(seen) == list(x) and not np.array_equal(seen, x)
    assert all(np.array_equal(b[1], 2 * b[0]) for b in batches)
    again = np.concatenate([b[0] for b in nn.minibatches(nn.PRNGKey(1), (x, y), 4)])
    np.testing.assert_array_equal(seen, again)
    assert [len(b[0]) for b in nn.minibatches(None, (x, y), 4, drop_last=True)] == [4, 4]


# -- checkpoint --


def test_checkpointed_layers_give_identical_gradients_and_compose_with_forward_mode():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    layers = [{"W": rng.standard_normal((5, 5)) * 0.5, "b": rng.standard_normal(5) * 0.1} for _ in range(4)]

    def layer(p, h):
        return nn.tanh(nn.layer_norm(nn.linear(h, p["W"], p["b"])))

    def loss(params, x, remat):
        f = dr.checkpoint(layer) if remat else layer
        h = x
        for p in params:
            h = f(p, h)
        return dnp.sum(nn.softplus(h))

    g = dr.grad(loss)(layers, x, False)
    g_ck = dr.grad(loss)(layers, x, True)
    for a, b in zip(g, g_ck):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])  # the same operations: bit for bit
    v = rng.standard_normal(x.shape)
    np.testing.assert_allclose(dr.jvp(lambda x: loss(layers, x, True), (x,), (v,))[1],
                               dr.jvp(lambda x: loss(layers, x, False), (x,), (v,))[1], rtol=1e-12)
    np.testing.assert_allclose(dr.hvp(lambda x: loss(layers, x, True), (x,), (v,)),
                               dr.hvp(lambda x: loss(layers, x, False), (x,), (v,)), rtol=1e-10)


# -- mixed precision --


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("make_opt", [lambda: nn.sgd(0.1, momentum=0.9), lambda: nn.adam(1e-2)],
                         ids=["sgd", "adam"])
def test_parameters_keep_their_dtype_through_forward_backward_and_update(dtype, make_opt):
    rng = np.random.default_rng(0)
    params = _mlp_params(dtype)
    x, y = rng.standard_normal((8, 6)).astype(dtype), rng.integers(0, 3, 8)
    loss, grads = dr.value_and_grad(_mlp_loss)(params, x, y)
    assert np.result_type(loss) == dtype
    assert all(g.dtype == dtype for g in grads.values())
    opt = make_opt()
    state = opt.init(params)
    for leaf in dr.tree_util.tree_leaves(state[1:]):  # moments and velocities: at least float32
        assert leaf.dtype == np.float32
    for _ in range(3):
        loss, grads = dr.value_and_grad(_mlp_loss)(params, x, y)
        updates, state = opt.update(grads, state, params)
        assert all(u.dtype == dtype for u in updates.values())
        params = nn.apply_updates(params, updates)
        assert all(p.dtype == dtype for p in params.values())
    assert _mlp_loss(params, x, y) < _mlp_loss(_mlp_params(dtype), x, y)


def _underflow_problem():
    # Small per-example cotangents: a mean over 4096 examples of an output with weights of size 2e-4. The
    # cotangent reaching the hidden layer is about 2e-4 / 4096 = 5e-8, below float16's smallest subnormal step
    # (6e-8), although the gradient of W1 itself (about 1e-4) is a normal float16 number.
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4096, 8)).astype(np.float16)
    params = {"W1": (rng.standard_normal((8, 8)) * 0.5).astype(np.float16),
              "w2": (rng.standard_normal((8, 1)) * 2e-4).astype(np.float16)}

    def loss(p, x):
        return dnp.mean(nn.tanh(x @ p["W1"]) @ p["w2"])

    reference = dr.grad(loss)(nn.cast(params, np.float64), x.astype(np.float64))
    return loss, params, x, reference


def _relative_error(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b))


def test_float16_gradients_underflow_without_loss_scaling_and_not_with_it():
    loss, params, x, reference = _underflow_problem()
    plain = dr.grad(loss)(params, x)
    assert plain["W1"].dtype == np.float16
    assert np.mean(plain["W1"] == 0) > 0.5  # most of the gradient is lost
    assert _relative_error(plain["W1"], reference["W1"]) > 0.2
    for scale in (nn.StaticLossScale(2.0**12), nn.DynamicLossScale(2.0**12)):
        grads = scale.unscale(dr.grad(lambda p, x, s=scale: s.scale(loss(p, x)))(params, x))
        assert grads["W1"].dtype == np.float16 and nn.all_finite(grads)
        assert _relative_error(grads["W1"], reference["W1"]) < 2e-3
        assert _relative_error(grads["w2"], reference["w2"]) < 2e-3


def test_dynamic_loss_scale_backs_off_on_overflow_and_grows_after_a_period():
    loss, params, x, reference = _underflow_problem()
    scale = nn.DynamicLossScale(2.0**30, period=3)  # 2^30 overflows float16 (max 65504)
    history = []
    for _ in range(40):
        with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point
            grads = scale.unscale(dr.grad(lambda p, x, s=scale: s.scale(loss(p, x)))(params, x))
        finite = nn.all_finite(grads)
        history.append((scale.loss_scale, finite))
        scale = scale.adjust(finite)
        if finite:
            break
    assert not history[0][1] and history[-1][1]  # overflowed at first, then found a scale that fits
    assert [s for s, _ in history] == [2.0**30 / 2**i for i in range(len(history))]
    assert _relative_error(grads["W1"], reference["W1"]) < 2e-3
    grown = nn.DynamicLossScale(4.0, period=3)
    for _ in range(3):
        grown = grown.adjust(True)
    assert grown.loss_scale == 8.0 and grown.counter == 0
    assert nn.DynamicLossScale(1.0).adjust(False).loss_scale == 1.0  # never below min_scale
    assert nn.NoOpLossScale().scale(3.0) == 3.0 and nn.NoOpLossScale().adjust(False).loss_scale == 1.0


def test_cast_and_all_finite():
    tree = {"w": np.ones(2), "n": np.array([1, 2]), "h": [np.zeros(1, np.float32)]}
    half = nn.cast(tree, np.float16)
    assert half["w"].dtype == np.float16 and half["h"][0].dtype == np.float16 and half["n"].dtype == tree["n"].dtype
    assert nn.all_finite(tree) and not nn.all_finite({"a": np.array([1.0, np.inf])})
    # cast is differentiable: a float32 loss of float16 parameters
    g = dr.grad(lambda w: dnp.sum(nn.cast(w, np.float32) ** 2))(np.array([1.5, -2.0], np.float16))
    assert g.dtype == np.float16
    np.testing.assert_array_equal(g, [3.0, -4.0])
