"""vmap's API (in_axes/out_axes as ints, None and pytrees; errors), its composition with every transform in any
order, and the vectorised Jacobians (jacfwd/jacrev/hessian with chunk_size). Per-primitive batching rules are
checked against a loop in tests/test_batching.py."""

from __future__ import annotations

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp

RNG = np.random.default_rng(0)


def loss(params, x, y):
    """A small tanh MLP's squared error on one example."""
    h = dnp.tanh(params["W1"] @ x + params["b1"])
    return dnp.sum((params["W2"] @ h - y) ** 2)


PARAMS = {"W1": RNG.normal(size=(5, 3)), "b1": RNG.normal(size=5), "W2": RNG.normal(size=(2, 5))}
XS, YS = RNG.normal(size=(7, 3)), RNG.normal(size=(7, 2))


def assert_tree_close(got, want, rtol=1e-12, atol=1e-12):
    g, gt = dr.tree_util.tree_flatten(got)
    w, wt = dr.tree_util.tree_flatten(want)
    assert gt == wt, f"structure {gt} != {wt}"
    for a, b in zip(g, w):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol, atol)


def stack_trees(trees):
    return dr.tree_util.tree_map(lambda *xs: np.stack(xs), *trees)


# -- in_axes / out_axes --


def test_in_axes_ints_none_and_negative():
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=3)
    np.testing.assert_allclose(dr.vmap(lambda a, b: a * b, (0, None))(x, y), x * y)
    np.testing.assert_allclose(dr.vmap(lambda a, b: a * b, (1, 0))(x.T, x), x ** 2)
    np.testing.assert_allclose(dr.vmap(dnp.sum, -1)(x), x.sum(0))


def test_in_axes_pytrees_and_out_axes():
    params = {"a": RNG.normal(size=(3, 2)), "b": RNG.normal(size=3)}
    out = dr.vmap(lambda p: {"s": p["a"] * p["b"], "t": p["b"]}, in_axes=({"a": 1, "b": None},),
                  out_axes={"s": 1, "t": None})(params)
    np.testing.assert_allclose(out["s"], params["a"] * params["b"][:, None])
    np.testing.assert_allclose(out["t"], params["b"])


def test_unbatched_outputs_are_repeated():
    out = dr.vmap(lambda x: (x * 2, np.ones(3)))(np.arange(4.0))
    np.testing.assert_allclose(out[1], np.ones((4, 3)))


@pytest.mark.parametrize("call, match", [
    (lambda: dr.vmap(lambda x: x, in_axes=None)(np.ones(3)), "at least one"),
    (lambda: dr.vmap(lambda x, y: x + y)(np.ones(3), np.ones(4)), "different sizes"),
    (lambda: dr.vmap(lambda x: x, in_axes=2)(np.ones((3, 2))), "out of range"),
    (lambda: dr.vmap(lambda x, y: x, in_axes=(0,))(np.ones(3), np.ones(3)), "1 entries for 2"),
    (lambda: dr.vmap(lambda x: x, out_axes=None)(np.ones(3)), "differs between examples"),
])
def test_bad_axes_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_control_flow_on_a_batched_value_is_an_error():
    with pytest.raises(TypeError, match="dnp.where"):
        dr.vmap(lambda x: x if x > 0 else -x)(np.ones(3))
    np.testing.assert_allclose(dr.vmap(lambda x: dnp.where(x > 0, x, -x))(np.array([-1.0, 2.0])), [1.0, 2.0])


def test_a_leaked_batch_tracer_is_an_error():
    leaked = []
    dr.vmap(lambda x: leaked.append(x) or x)(np.ones(3))
    with pytest.raises(dr.LeakedTracerError):
        dnp.sin(leaked[0])


# -- composition with the other transforms --


def test_per_example_gradients():
    got = dr.vmap(dr.grad(loss), in_axes=(None, 0, 0))(PARAMS, XS, YS)
    assert_tree_close(got, stack_trees([dr.grad(loss)(PARAMS, x, y) for x, y in zip(XS, YS)]))


def test_grad_of_vmap_sums_over_the_batch():
    def total(params):
        return dnp.sum(dr.vmap(loss, in_axes=(None, 0, 0))(params, XS, YS))

    want = dr.grad(lambda p: sum(loss(p, x, y) for x, y in zip(XS, YS)))(PARAMS)
    assert_tree_close(dr.grad(total)(PARAMS), want, 1e-10, 1e-12)


def test_vmap_of_hessian_and_hessian_of_vmap():
    xs = RNG.normal(size=(4, 3))

    def f(x):
        return dnp.sum(dnp.sin(x) * x[0] ** 2)

    want = np.stack([dr.hessian(f)(x) for x in xs])
    np.testing.assert_allclose(dr.vmap(dr.hessian(f))(xs), want, 1e-12, 1e-12)
    h = dr.hessian(lambda xs: dnp.sum(dr.vmap(f)(xs)))(xs)  # block diagonal
    for i in range(4):
        np.testing.assert_allclose(h[i, :, i, :], want[i], 1e-12, 1e-12)


def test_vmap_of_jvp_and_jvp_of_vmap():
    xs, ts = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))
    want = np.stack([dr.jvp(lambda x: dnp.tanh(x) * x[1], (x,), (t,))[1] for x, t in zip(xs, ts)])
    got = dr.vmap(lambda x, t: dr.jvp(lambda x: dnp.tanh(x) * x[1], (x,), (t,))[1])(xs, ts)
    np.testing.assert_allclose(got, want, 1e-12)
    got = dr.jvp(dr.vmap(lambda x: dnp.tanh(x) * x[1]), (xs,), (ts,))[1]
    np.testing.assert_allclose(got, want, 1e-12)


def test_nested_vmap_is_an_outer_product():
    x, y = np.arange(3.0), np.arange(4.0)
    np.testing.assert_allclose(dr.vmap(lambda a: dr.vmap(lambda b: a * b)(y))(x), np.outer(x, y))


def test_no_perturbation_confusion_through_vmap():
    # d/dx [x * d/dy (x + y)] = 1, per example
    got = dr.vmap(dr.grad(lambda x: x * dr.grad(lambda y: x + y)(1.0)))(np.array([2.0, 3.0]))
    np.testing.assert_allclose(got, [1.0, 1.0])


def test_custom_rules_and_checkpoint_under_vmap():
    @dr.custom_jvp
    def softplus(x):
        return dnp.log1p(dnp.exp(x))

    @softplus.defjvp
    def softplus_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t / (1.0 + dnp.exp(-x))

    xs = np.array([[1000.0, -2.0], [0.5, 3.0]])
    g = dr.grad(lambda xs: dnp.sum(dr.vmap(softplus)(xs)))(xs)  # the rule stays in force below vmap
    np.testing.assert_allclose(g, 1 / (1 + np.exp(-xs)))
    layer = dr.checkpoint(lambda W, x: dnp.tanh(W @ x))
    W = RNG.normal(size=(3, 2))
    got = dr.grad(lambda W: dnp.sum(dr.vmap(layer, (None, 0))(W, xs / 1000)))(W)
    want = dr.grad(lambda W: dnp.sum(dnp.tanh(xs / 1000 @ W.T)))(W)
    np.testing.assert_allclose(got, want, 1e-12)


# -- vectorised Jacobians --


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
def test_jacobians_with_chunks(chunk_size):
    A = RNG.normal(size=(6, 4))

    def f(x, y):
        return {"u": dnp.tanh(A @ x) * y[0], "v": dnp.sum(x) * y[1]}

    x, y = RNG.normal(size=4), RNG.normal(size=2)
    fwd = dr.jacfwd(f, argnums=(0, 1), chunk_size=chunk_size)(x, y)
    rev = dr.jacrev(f, argnums=(0, 1), chunk_size=chunk_size)(x, y)
    assert fwd["u"][0].shape == (6, 4) and fwd["u"][1].shape == (6, 2) and fwd["v"][0].shape == (4,)
    assert_tree_close(fwd, rev, 1e-12, 1e-12)
    u = np.tanh(A @ x)
    np.testing.assert_allclose(fwd["u"][0], (1 - u ** 2)[:, None] * A * y[0], 1e-12)


def test_hessian_in_chunks_matches_scipy():
    from scipy.optimize import rosen_hess

    def rosen(x):
        return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    x = RNG.normal(size=60)
    for chunk in (None, 16):
        np.testing.assert_allclose(dr.hessian(rosen, chunk_size=chunk)(x), rosen_hess(x), 1e-12, 1e-9)
    with pytest.raises(ValueError, match="chunk_size"):
        dr.hessian(rosen, chunk_size=0)(x)


def test_jacobian_of_matrix_input_and_output_shapes():
    X = RNG.normal(size=(2, 3))
    J = dr.jacrev(lambda X: X @ X.T)(X)
    assert J.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(J, dr.jacfwd(lambda X: X @ X.T)(X), 1e-12)


def test_keyword_arguments_are_batched_along_axis_0():
    x, scale = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    got = dr.vmap(lambda x, w=None: x * w, in_axes=(0,))(x, w=scale)
    np.testing.assert_allclose(got, x * scale)
