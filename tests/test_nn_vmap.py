"""dualrev.nn under dr.vmap: every public function of dualrev.nn that takes arrays, batched against a Python loop
over the examples, and composed with differentiation in every order: per-example gradients ``vmap(grad(f))`` and
Hessians ``vmap(hessian(f))`` against a loop of ``grad``/``hessian``, ``grad(vmap(f))`` against the gradient of
the looped sum, and ``vmap(jvp(f))`` against a loop of ``jvp``.

Special values (nan, +-inf, +-1000) sit in one example only: the conservative checks over every example (relu's
``where`` fallback, the softmax shift's non-finite maximum) must not change the other examples' results.

Not batched here, because they take no arrays: the initialisers and ``random`` (keys and shapes), the data
helpers ``minibatches``/``split_batch``/``accumulate_grads`` (Python loops over a data set), and
``DynamicLossScale.adjust`` (a Python bool per training step). ``test_every_public_function_is_covered`` keeps
that list honest.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import nn

RNG = np.random.default_rng(0)
# nan, inf and 0/0 in the special-value cases are intended (the loop gives the same)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
B = 3  # examples per batch
TOL = {"rtol": 1e-10, "atol": 1e-12}


def _normal(*shape):
    return RNG.standard_normal(shape)


def _example(args, in_axes, i):
    return [a if ax is None else dr.tree_util.tree_map(lambda v, ax=ax: np.take(v, i, axis=ax), a)
            for a, ax in zip(args, in_axes)]


def _stack(outs):
    return dr.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *outs)


def _assert_close(got, want, what, tol=TOL):
    g, gt = dr.tree_util.tree_flatten(got)
    w, wt = dr.tree_util.tree_flatten(want)
    assert gt == wt, f"{what}: structure {gt} != {wt}"
    for a, b in zip(g, w):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
        assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
        np.testing.assert_allclose(a, b, err_msg=what, equal_nan=True, **tol)


def _loop(f, args, in_axes):
    return _stack([f(*_example(args, in_axes, i)) for i in range(B)])


def _total(out):
    """A scalar that depends nonlinearly on every output element (a wrong element shows in the gradient)."""
    return sum(dnp.sum(dnp.sin(leaf) * (1.0 + 0.1 * k)) for k, leaf in enumerate(dr.tree_util.tree_leaves(out)))


# -- the cases: (name, f, args, in_axes, differentiated argnums) --

X = _normal(B, 5)
X_SPECIAL = np.stack([_normal(5), np.array([np.nan, -np.inf, 1.0, np.inf, -2.0]), _normal(5)])
X_LARGE = np.stack([_normal(4), np.array([1000.0, -1000.0, 999.0, 0.0]), np.full(4, -np.inf)])
LABELS = RNG.integers(0, 5, size=B)
LABELS_2D = RNG.integers(0, 5, size=(B, 2))
LOGITS_2D = _normal(B, 2, 5)
PROBS = 1.0 / (1.0 + np.exp(-_normal(B, 5)))
TARGETS = (RNG.random((B, 5)) > 0.5).astype(np.float64)
SOFT = np.exp(_normal(B, 2, 5))
SOFT /= SOFT.sum(-1, keepdims=True)
W, BIAS = _normal(5, 4), _normal(4)
WS = _normal(B, 5, 4)  # one weight matrix per example
IMG = _normal(B, 2, 2, 6, 6)  # per example: N=2, C=2, 6x6
K2, B2 = _normal(3, 2, 3, 3), _normal(3)
SIG = _normal(B, 2, 2, 7)
K1 = _normal(3, 2, 3)
TIES = np.repeat(np.round(_normal(B, 1, 1, 4, 4)), 2, axis=-1)  # equal neighbours: the first maximum wins
TREE = {"w": _normal(B, 3, 2), "b": _normal(B, 2)}
TREE_BIG = {"w": _normal(B, 3, 2) * np.array([1.0, 10.0, 0.01])[:, None, None], "b": _normal(B, 2)}
KEY = nn.PRNGKey(7)
SGD = nn.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
ADAM = nn.adam(0.01, weight_decay=0.01)
ONE_PARAMS = {"w": _normal(3, 2), "b": _normal(2)}


def _opt_update(opt):
    state = opt.update(ONE_PARAMS, opt.init(ONE_PARAMS), ONE_PARAMS)[1]  # a state after one step: shared

    def update(grads, params):
        return opt.update(grads, state, params)[0]

    update.__name__ = f"update_{type(state).__name__}"
    return update


CASES = [
    ("relu", nn.relu, (X,), (0,), (0,)),
    ("relu_special", nn.relu, (X_SPECIAL,), (0,), ()),
    ("sigmoid", nn.sigmoid, (X,), (0,), (0,)),
    ("tanh", nn.tanh, (X,), (0,), (0,)),
    ("softplus", nn.softplus, (X,), (0,), (0,)),
    ("softmax", nn.softmax, (LOGITS_2D,), (0,), (0,)),
    ("softmax_axis0", lambda z: nn.softmax(z, axis=0), (LOGITS_2D,), (0,), (0,)),
    ("softmax_large", nn.softmax, (X_LARGE,), (0,), ()),
    ("log_softmax", nn.log_softmax, (LOGITS_2D,), (0,), (0,)),
    ("log_softmax_large", nn.log_softmax, (X_LARGE,), (0,), ()),
    ("logsumexp", nn.logsumexp, (LOGITS_2D,), (0,), (0,)),
    ("logsumexp_axis", lambda z: nn.logsumexp(z, axis=-1, keepdims=True), (LOGITS_2D,), (0,), (0,)),
    ("logsumexp_large", lambda z: nn.logsumexp(z, axis=0), (X_LARGE,), (0,), ()),
    ("mse", nn.mse, (X, PROBS), (0, 0), (0, 1)),
    ("mse_none", lambda p, t: nn.mse(p, t, reduction="none"), (X, PROBS), (0, None), (0,)),
    ("binary_cross_entropy", nn.binary_cross_entropy, (PROBS, TARGETS), (0, 0), (0,)),
    ("binary_cross_entropy_with_logits", nn.binary_cross_entropy_with_logits, (X, TARGETS), (0, 0), (0, 1)),
    ("cross_entropy_labels", nn.cross_entropy, (X, LABELS), (0, 0), (0,)),
    ("cross_entropy_labels_2d", nn.cross_entropy, (LOGITS_2D, LABELS_2D), (0, 0), (0,)),
    ("cross_entropy_shared_logits", nn.cross_entropy, (X[0], LABELS), (None, 0), (0,)),
    ("cross_entropy_sum_axis0", lambda z, y: nn.cross_entropy(z, y, axis=0, reduction="sum"),
     (np.swapaxes(LOGITS_2D, 1, 2), LABELS_2D), (0, 0), (0,)),
    ("cross_entropy_one_hot", nn.cross_entropy, (X, nn.one_hot(LABELS, 5)), (0, 0), (0,)),
    ("cross_entropy_bool", nn.cross_entropy, (X, nn.one_hot(LABELS, 5, bool)), (0, 0), (0,)),
    ("cross_entropy_soft_none", lambda z, y: nn.cross_entropy(z, y, reduction="none"), (LOGITS_2D, SOFT),
     (0, 0), (0, 1)),
    ("cross_entropy_large", nn.cross_entropy, (X_LARGE, LABELS % 3), (0, 0), ()),
    ("one_hot", lambda y: nn.one_hot(y, 5), (LABELS_2D,), (0,), ()),
    ("one_hot_axis0", lambda y: nn.one_hot(y, 5, np.float32, axis=0), (LABELS_2D,), (0,), ()),
    ("linear", nn.linear, (X, W, BIAS), (0, None, None), (0, 1, 2)),
    ("linear_per_example_weights", nn.linear, (X, WS, BIAS), (0, 0, None), (0, 1, 2)),
    ("layer_norm", nn.layer_norm, (LOGITS_2D, _normal(5), _normal(5)), (0, None, None), (0, 1, 2)),
    ("conv1d", lambda x, w, b: nn.conv1d(x, w, b, stride=2, padding="same", dilation=1), (SIG, K1, B2),
     (0, None, None), (0, 1, 2)),
    ("conv2d", lambda x, w, b: nn.conv2d(x, w, b, padding=1, dilation=(1, 2)), (IMG, K2, B2), (0, None, None),
     (0, 1, 2)),
    ("conv2d_per_example_kernels", nn.conv2d, (IMG, np.stack([K2] * B) + _normal(B, *K2.shape)), (0, 0),
     (0, 1)),
    ("max_pool2d_tiled", nn.max_pool2d, (IMG,), (0,), (0,)),
    ("max_pool2d_ties", nn.max_pool2d, (TIES,), (0,), (0,)),
    ("max_pool2d_overlapping", lambda x: nn.max_pool2d(x, 3, 2, "same"), (IMG,), (0,), (0,)),
    ("max_pool2d_inf", lambda x: nn.max_pool2d(x, 2, 1),
     (np.where((np.arange(B) == 1)[:, None, None, None, None] & (IMG > 1.0), np.inf, IMG),), (0,), ()),
    ("avg_pool2d", nn.avg_pool2d, (IMG,), (0,), (0,)),
    ("avg_pool2d_padded", lambda x: nn.avg_pool2d(x, (2, 3), 1, 1), (IMG,), (0,), (0,)),
    ("dropout", lambda x: nn.dropout(KEY, x, 0.4), (LOGITS_2D,), (0,), (0,)),
    ("dropout_eval", lambda x: nn.dropout(KEY, x, 0.4, deterministic=True), (X,), (0,), (0,)),
    ("apply_updates", nn.apply_updates, (TREE, TREE_BIG), (0, 0), (0, 1)),
    ("global_norm", nn.global_norm, (TREE,), (0,), (0,)),
    ("clip_by_global_norm", lambda t: nn.clip_by_global_norm(t, 3.0), (TREE_BIG,), (0,), (0,)),
    ("sgd_update", _opt_update(SGD), (TREE, TREE_BIG), (0, 0), (0, 1)),
    ("adam_update", _opt_update(ADAM), (TREE, TREE_BIG), (0, None), (0,)),
    ("cast", lambda t: nn.cast(t, np.float32), (TREE,), (0,), ()),
    ("static_loss_scale", lambda t: nn.StaticLossScale(8.0).unscale(nn.StaticLossScale(8.0).scale(t)), (TREE,),
     (0,), (0,)),
    ("dynamic_loss_scale", lambda t: nn.DynamicLossScale(4.0).scale(t), (TREE,), (0,), (0,)),
    ("no_op_loss_scale", lambda t: nn.NoOpLossScale().unscale(t), (TREE,), (0,), (0,)),
]
IDS = [c[0] for c in CASES]
DIFF_CASES = [c for c in CASES if c[4]]

# Public names of dualrev.nn that take no batchable arrays (see the module docstring).
NOT_BATCHED = {"PRNGKey", "split", "random", "initializers", "glorot_normal", "glorot_uniform", "he_normal",
               "he_uniform", "lecun_normal", "minibatches", "split_batch", "accumulate_grads"}
COVERED = {"relu", "sigmoid", "tanh", "softplus", "softmax", "log_softmax", "logsumexp", "mse",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "one_hot", "linear",
           "layer_norm", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "dropout", "apply_updates",
           "global_norm", "clip_by_global_norm", "sgd", "adam", "cast", "all_finite", "StaticLossScale",
           "DynamicLossScale", "NoOpLossScale"}


def test_every_public_function_is_covered():
    assert set(nn.__all__) == NOT_BATCHED | COVERED
    names = " ".join(IDS) + " all_finite"
    for name in COVERED:
        key = {"StaticLossScale": "static_loss_scale", "DynamicLossScale": "dynamic_loss_scale",
               "NoOpLossScale": "no_op_loss_scale", "sgd": "sgd_update", "adam": "adam_update"}.get(name, name)
        assert key in names, f"no vmap case for dualrev.nn.{name}"


@pytest.mark.parametrize("name,f,args,in_axes,diff", CASES, ids=IDS)
def test_vmap_matches_a_loop(name, f, args, in_axes, diff):
    _assert_close(dr.vmap(f, in_axes)(*args), _loop(f, args, in_axes), f"vmap({name})")


@pytest.mark.parametrize("name,f,args,in_axes,diff", DIFF_CASES, ids=[c[0] for c in DIFF_CASES])
def test_per_example_gradients_match_a_loop_of_grad(name, f, args, in_axes, diff):
    g = dr.grad(lambda *a: _total(f(*a)), argnums=diff)
    _assert_close(dr.vmap(g, in_axes)(*args), _loop(g, args, in_axes), f"vmap(grad({name}))")


@pytest.mark.parametrize("name,f,args,in_axes,diff", DIFF_CASES, ids=[c[0] for c in DIFF_CASES])
def test_grad_of_vmap_matches_the_gradient_of_the_looped_sum(name, f, args, in_axes, diff):
    got = dr.grad(lambda *a: _total(dr.vmap(f, in_axes)(*a)), argnums=diff)(*args)

    def looped(*a):
        return sum(_total(f(*_example(a, in_axes, i))) for i in range(B))

    want = dr.grad(looped, argnums=diff)(*args)
    _assert_close(got, want, f"grad(vmap({name}))")


@pytest.mark.parametrize("name,f,args,in_axes,diff", DIFF_CASES, ids=[c[0] for c in DIFF_CASES])
def test_vmap_of_jvp_matches_a_loop(name, f, args, in_axes, diff):
    tangents = [dr.tree_util.tree_map(lambda v: RNG.standard_normal(np.shape(v)), args[i]) for i in diff]

    def pushed(*a):
        # the differentiated arguments and their tangents, batched alike
        primals, ts = list(a[:len(args)]), a[len(args):]

        def fd(*xs):
            full = list(primals)
            for i, x in zip(diff, xs):
                full[i] = x
            return f(*full)

        return dr.jvp(fd, tuple(primals[i] for i in diff), tuple(ts))

    t_axes = tuple(in_axes[i] for i in diff)
    all_args, all_axes = tuple(args) + tuple(tangents), tuple(in_axes) + t_axes
    _assert_close(dr.vmap(pushed, all_axes)(*all_args), _loop(pushed, all_args, all_axes), f"vmap(jvp({name}))")


SECOND_ORDER = ["relu", "softplus", "softmax", "logsumexp", "cross_entropy_labels", "cross_entropy_one_hot",
                "cross_entropy_soft_none", "layer_norm", "max_pool2d_overlapping", "clip_by_global_norm",
                "linear_per_example_weights"]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_per_example_hessians_match_a_loop(name):
    _, f, args, in_axes, _ = CASES[IDS.index(name)]
    h = dr.hessian(lambda x, *rest: _total(f(x, *rest)))  # with respect to the first argument
    _assert_close(dr.vmap(h, in_axes)(*args), _loop(h, args, in_axes), f"vmap(hessian({name}))")


@pytest.mark.parametrize("name", ["softmax", "cross_entropy_labels", "max_pool2d_tiled"])
def test_vmap_of_jacobians_match_a_loop(name):
    _, f, args, in_axes, _ = CASES[IDS.index(name)]
    for jac in (dr.jacfwd, dr.jacrev):
        j = jac(f)
        _assert_close(dr.vmap(j, in_axes)(*args), _loop(j, args, in_axes), f"vmap({jac.__name__}({name}))")


NESTED = ["relu_special", "softmax_large", "logsumexp_large", "cross_entropy_labels_2d", "cross_entropy_bool",
          "one_hot", "max_pool2d_overlapping", "max_pool2d_inf", "clip_by_global_norm", "layer_norm"]


@pytest.mark.parametrize("name", NESTED)
def test_vmap_of_vmap_matches_a_double_loop(name):
    _, f, args, in_axes, _ = CASES[IDS.index(name)]
    # two batches: the examples, and the examples rotated by one
    outer = [a if ax is None else dr.tree_util.tree_map(lambda v: np.stack([v, np.roll(v, 1, axis=0)]), a)
             for a, ax in zip(args, in_axes)]
    got = dr.vmap(dr.vmap(f, in_axes), in_axes)(*outer)
    want = _stack([_loop(f, _example(outer, in_axes, j), in_axes) for j in range(2)])
    _assert_close(got, want, f"vmap(vmap({name}))")


@pytest.mark.parametrize("name", ["relu_special", "softmax_large", "logsumexp_large", "cross_entropy_labels",
                                  "cross_entropy_bool", "max_pool2d_inf", "clip_by_global_norm", "layer_norm"])
def test_float32_keeps_its_dtype_under_vmap(name):
    _, f, args, in_axes, diff = CASES[IDS.index(name)]
    args = [dr.tree_util.tree_map(lambda v: v.astype(np.float32) if v.dtype == np.float64 else v, a) for a in args]
    tol = {"rtol": 2e-6, "atol": 1e-6}
    _assert_close(dr.vmap(f, in_axes)(*args), _loop(f, args, in_axes), f"vmap({name}) float32", tol)
    if diff:
        g = dr.grad(lambda *a: _total(f(*a)), argnums=diff)
        _assert_close(dr.vmap(g, in_axes)(*args), _loop(g, args, in_axes), f"vmap(grad({name})) float32", tol)


def test_all_finite_per_example():
    tree = {"w": _normal(B, 3, 2), "b": _normal(B, 2)}
    tree["b"][1, 0] = np.nan
    got = dr.vmap(nn.all_finite)(tree)
    np.testing.assert_array_equal(got, [True, False, True])
    assert nn.all_finite({"w": np.ones(2)}) is True
    # a leaf shared by every example that holds an inf: False for all of them
    np.testing.assert_array_equal(dr.vmap(nn.all_finite, ({"w": 0, "b": None},))(
        {"w": tree["w"], "b": np.array([np.inf])}), False)


def test_clip_by_global_norm_clips_only_the_examples_above_the_norm():
    norms = dr.vmap(nn.global_norm)(TREE_BIG)
    clipped, _ = dr.vmap(lambda t: nn.clip_by_global_norm(t, 3.0))(TREE_BIG)
    after = dr.vmap(nn.global_norm)(clipped)
    assert (norms > 3.0).any() and (norms <= 3.0).any(), "the test data must hold both kinds of example"
    np.testing.assert_allclose(after, np.minimum(norms, 3.0), rtol=1e-12)
    # a zero gradient is left alone, with a finite derivative
    zero = {"w": np.zeros((B, 3, 2)), "b": np.zeros((B, 2))}
    g = dr.vmap(dr.grad(lambda t: _total(nn.clip_by_global_norm(t, 3.0)[0])))(zero)
    assert all(np.isfinite(leaf).all() for leaf in dr.tree_util.tree_leaves(g))


# -- per-example gradients of whole models --


def _mlp_loss(params, x, y):
    h = nn.relu(nn.linear(x, params["W1"], params["b1"]))
    return nn.cross_entropy(nn.linear(h, params["W2"], params["b2"]), y)


def _cnn_loss(params, x, y):
    h = nn.conv2d(x[None], params["k"], params["kb"], padding="same")
    h = nn.max_pool2d(nn.softplus(h), 2)
    h = nn.layer_norm(dnp.reshape(h, (1, -1)))
    h = nn.dropout(KEY, h, 0.25)
    z = nn.linear(h, params["W"], params["b"])[0]
    return nn.binary_cross_entropy_with_logits(z, y) + 0.1 * nn.mse(nn.sigmoid(z), y) - 0.01 * dnp.sum(
        nn.log_softmax(z))


MLP = {"W1": _normal(5, 6), "b1": _normal(6), "W2": _normal(6, 4), "b2": _normal(4)}
CNN = {"k": _normal(3, 2, 3, 3), "kb": _normal(3), "W": _normal(27, 2), "b": _normal(2)}


@pytest.mark.parametrize("loss,params,data", [
    (_mlp_loss, MLP, (_normal(4, 5), RNG.integers(0, 4, size=4))),  # one example: a vector and a label
    (_mlp_loss, MLP, (_normal(4, 2, 5), RNG.integers(0, 4, size=(4, 2)))),  # micro-batches of two
    (_mlp_loss, MLP, (_normal(4, 5), nn.one_hot(RNG.integers(0, 4, size=4), 4))),
    (_cnn_loss, CNN, (_normal(4, 2, 6, 6), TARGETS[:, :2].repeat(2, 0)[:4])),
], ids=["mlp_labels", "mlp_microbatches", "mlp_one_hot", "cnn"])
def test_per_example_gradients_of_a_model(loss, params, data):
    X_, Y_ = data
    per_example = dr.vmap(dr.grad(loss), in_axes=(None, 0, 0))(params, X_, Y_)
    want = _stack([dr.grad(loss)(params, X_[i], Y_[i]) for i in range(len(X_))])
    _assert_close(per_example, want, "vmap(grad(loss))")
    # their mean is the gradient of the mean loss, computed by grad of vmap
    mean = dr.grad(lambda p: dnp.mean(dr.vmap(loss, in_axes=(None, 0, 0))(p, X_, Y_)))(params)
    _assert_close(mean, dr.tree_util.tree_map(lambda g: g.mean(0), want), "grad(mean(vmap(loss)))")


# -- batched random keys: per-example dropout and noise --


def test_vmap_over_a_key_array_draws_what_each_key_draws_alone():
    key = nn.PRNGKey(7)
    keys = nn.split(key, 4)
    stacked = nn.random.stack(keys)
    assert len(stacked) == 4 and stacked[2] == keys[2] and list(stacked) == list(keys)
    for draw in (lambda k: nn.random.normal(k, (2, 3), np.float32), lambda k: nn.random.uniform(k, (3,), minval=-1.0),
                 lambda k: nn.random.bernoulli(k, 0.3, (5,)), lambda k: nn.random.permutation(k, 6)):
        out = dr.vmap(draw)(stacked)
        want = np.stack([draw(k) for k in keys])
        assert out.dtype == want.dtype
        np.testing.assert_array_equal(out, want)


def test_vmap_over_fold_in_indices_and_split_inside_vmap():
    key = nn.PRNGKey(3)
    out = dr.vmap(lambda i: nn.random.normal(nn.random.fold_in(key, i), (2,)))(np.arange(5))
    np.testing.assert_array_equal(out, np.stack([nn.random.normal(nn.random.fold_in(key, i), (2,)) for i in range(5)]))
    out = dr.vmap(lambda k: nn.random.uniform(nn.split(k)[1], (2,)))(nn.random.stack(nn.split(key, 3)))
    want = np.stack([nn.random.uniform(nn.split(k)[1], (2,)) for k in nn.split(key, 3)])
    np.testing.assert_array_equal(out, want)


def test_per_example_dropout_gradients_match_a_loop():
    rng = np.random.default_rng(0)
    W, xs = rng.normal(size=(5, 3)), rng.normal(size=(4, 5))
    keys = nn.split(nn.PRNGKey(0), 4)

    def loss(W, key, x):
        return dnp.sum(nn.dropout(key, dnp.tanh(x @ W), 0.5) ** 2)

    got = dr.vmap(dr.grad(loss), in_axes=(None, 0, 0))(W, nn.random.stack(keys), xs)
    want = np.stack([dr.grad(loss)(W, k, x) for k, x in zip(keys, xs)])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_batched_key_has_no_single_generator():
    with pytest.raises(TypeError, match="each example has its own key"):
        dr.vmap(lambda k: nn.random.generator(k).random())(nn.random.stack(nn.split(nn.PRNGKey(0), 2)))
    with pytest.raises(ValueError, match="non-negative"):
        dr.vmap(lambda i: nn.random.normal(nn.random.fold_in(nn.PRNGKey(0), i)))(np.array([1, -1]))
