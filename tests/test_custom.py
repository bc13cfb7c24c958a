"""custom_jvp, custom_vjp and checkpoint: the user's rule is used in every mode and at every order."""

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp

x = np.array([-0.7, 0.2, 1.5])


@dr.custom_jvp
def softplus(x):
    return dnp.log(1.0 + dnp.exp(x))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return softplus(x), dx / (1.0 + dnp.exp(-x))  # stable: no exp(x) overflow for large x


def test_custom_jvp_rule_is_used_in_both_modes():
    big = np.array([1000.0])
    with np.errstate(over="ignore"):
        assert dr.grad(lambda x: dnp.sum(softplus(x)))(big)[0] == 1.0  # the traced rule would give nan
        assert dr.jvp(softplus, (big,), (np.ones(1),))[1][0] == 1.0


def test_custom_jvp_at_second_order_in_every_mode_pair():
    sig = 1 / (1 + np.exp(-x))
    expected = np.diag(sig * (1 - sig))
    f = lambda x: dnp.sum(softplus(x))
    for H in (dr.hessian(f)(x), dr.jacrev(dr.jacrev(f))(x), dr.jacfwd(dr.jacfwd(f))(x), dr.jacrev(dr.jacfwd(f))(x)):
        np.testing.assert_allclose(H, expected, rtol=1e-12)
    dr.check_grads(softplus, (x,), order=3)


def test_custom_jvp_with_several_pytree_arguments_and_outputs():
    @dr.custom_jvp
    def f(p, y):
        return {"prod": p["a"] * y, "sum": p["b"] + y}

    @f.defjvp
    def f_jvp(primals, tangents):
        (p, y), (dp, dy) = primals, tangents
        return f(p, y), {"prod": dp["a"] * y + p["a"] * dy, "sum": dp["b"] + dy}

    p, y = {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])}, np.array([5.0, 6.0])
    loss = lambda p, y: dnp.sum(f(p, y)["prod"] ** 2 + f(p, y)["sum"])
    gp, gy = dr.grad(loss, (0, 1))(p, y)
    np.testing.assert_allclose(gp["a"], 2 * p["a"] * y**2)
    np.testing.assert_allclose(gp["b"], [1.0, 1.0])
    np.testing.assert_allclose(gy, 2 * p["a"] ** 2 * y + 1)


@dr.custom_vjp
def clip_gradient(x):
    return x


def _clip_fwd(x):
    return x, None


def _clip_bwd(res, ct):
    return (dnp.maximum(dnp.minimum(ct, 1.0), -1.0),)


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_custom_vjp_replaces_the_reverse_derivative():
    g = dr.grad(lambda x: dnp.sum(clip_gradient(x) * np.array([5.0, 0.5, -3.0])))(x)
    np.testing.assert_allclose(g, [1.0, 0.5, -1.0])


@dr.custom_vjp
def my_sin(x):
    return dnp.sin(x)


my_sin.defvjp(lambda x: (dnp.sin(x), x), lambda x, ct: (ct * dnp.cos(x),))


def test_custom_vjp_works_under_forward_mode_and_hessian():
    # unlike JAX: forward mode transposes the user's bwd rule
    np.testing.assert_allclose(dr.jvp(my_sin, (x,), (np.ones(3),))[1], np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(dr.jacfwd(my_sin)(x), np.diag(np.cos(x)), rtol=1e-14)
    f = lambda x: dnp.sum(my_sin(x))
    np.testing.assert_allclose(dr.hessian(f)(x), np.diag(-np.sin(x)), rtol=1e-14)
    np.testing.assert_allclose(dr.jacfwd(dr.jacfwd(f))(x), np.diag(-np.sin(x)), rtol=1e-14)
    dr.check_grads(my_sin, (x,), order=2)


def test_custom_vjp_forward_mode_uses_the_user_rule():
    # a deliberately different (linear) rule: forward mode follows it, not the traced derivative of fun
    @dr.custom_vjp
    def f(x):
        return dnp.sin(x)

    f.defvjp(lambda x: (dnp.sin(x), x), lambda x, ct: (2.0 * ct * dnp.cos(x),))
    np.testing.assert_allclose(dr.jvp(f, (x,), (np.ones(3),))[1], 2 * np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(dr.grad(lambda x: dnp.sum(f(x)))(x), 2 * np.cos(x), rtol=1e-14)


def test_custom_vjp_none_cotangent_and_residual_pytrees():
    @dr.custom_vjp
    def scale(x, s):
        return x * s

    scale.defvjp(lambda x, s: (x * s, {"s": s}), lambda res, ct: (ct * res["s"], None))
    gx, gs = dr.grad(lambda x, s: dnp.sum(scale(x, s)), (0, 1))(x, np.float64(3.0))
    np.testing.assert_allclose(gx, [3.0, 3.0, 3.0])
    assert gs == 0.0


def test_custom_rules_without_definitions_raise():
    f = dr.custom_jvp(lambda x: x)
    with pytest.raises(TypeError, match="defjvp"):
        f(1.0)
    g = dr.custom_vjp(lambda x: x)
    with pytest.raises(TypeError, match="defvjp"):
        g(1.0)


def test_traced_keyword_arguments_are_refused():
    f = dr.custom_jvp(lambda x, y=1.0: x * y)
    f.defjvp(lambda p, t, y=1.0: (p[0] * y, t[0] * y))
    with pytest.raises(TypeError, match="positionally"):
        dr.grad(lambda y: f(2.0, y=y))(1.0)


def mlp(params, x):
    for W in params:
        x = dnp.tanh(W @ x)
    return dnp.sum(x**2)


def mlp_checkpointed(params, x):
    layer = dr.checkpoint(lambda W, x: dnp.tanh(W @ x))
    for W in params:
        x = layer(W, x)
    return dnp.sum(x**2)


@pytest.mark.parametrize("transform", ["grad", "hessian_x", "jvp", "grad_of_grad"])
def test_checkpoint_composes_with_every_transform(transform):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((4, 4)) * 0.5 for _ in range(3)]
    x0 = rng.standard_normal(4)
    run = {
        "grad": lambda f: dr.grad(f)(params, x0),
        "hessian_x": lambda f: dr.hessian(f, 1)(params, x0),
        "jvp": lambda f: dr.jvp(lambda x: f(params, x), (x0,), (np.ones(4),))[1],
        "grad_of_grad": lambda f: dr.grad(lambda x: dnp.sum(dr.grad(f, 1)(params, x) ** 2))(x0),
    }[transform]
    a, b = run(mlp), run(mlp_checkpointed)
    for u, v in zip(dr.tree_util.tree_leaves(a), dr.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(u, v, rtol=1e-12)


def test_checkpoint_recomputes_during_the_backward_pass():
    calls = []

    def inner(x):
        calls.append(1)
        return dnp.sin(x)

    f = dr.checkpoint(inner)
    dr.grad(lambda x: dnp.sum(f(x)))(x)
    assert len(calls) == 2  # forward, then again in the backward pass


# -- what reverse mode keeps: the lean tape of grad/vjp/checkpoint --


def _peak_mib(fn):
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        tracemalloc.stop()


def test_grad_keeps_only_the_values_vjp_rules_read():
    # 40 adds of 1 MiB arrays: add's VJP reads no value, so the tape keeps none of the 40 intermediates; the
    # products need their other operand, a constant here (kept outside the tape anyway).
    x0 = np.ones(2**17)
    c = np.full(2**17, 0.5)

    def chain(x):
        for _ in range(40):
            x = (x + 1.0) * c
        return dnp.sum(x)

    assert _peak_mib(lambda: dr.grad(chain)(x0)) < 6  # a few arrays alive at a time, not 80
    # linearize needs the whole tape (its forward pass runs the JVP rules): it is not lean
    np.testing.assert_allclose(dr.linearize(chain, x0)[1](np.ones(2**17)), dr.grad(chain)(x0).sum(), rtol=1e-12)


def test_checkpointed_layers_keep_only_their_inputs():
    rng = np.random.default_rng(0)
    Ws = [rng.standard_normal((64, 64)) / 8 for _ in range(16)]
    x0 = rng.standard_normal((64, 2048))  # 1 MiB activations

    def net(Ws, x, layer):
        for W in Ws:
            x = layer(W, x)
        return dnp.sum(x * x)

    def layer(W, x):  # keeps x (for W's gradient and sin's), tanh's output and sin(x): 3 activations
        return dnp.tanh(W @ x) * dnp.sin(x)

    plain = _peak_mib(lambda: dr.grad(net)(Ws, x0, layer))
    remat = _peak_mib(lambda: dr.grad(net)(Ws, x0, dr.checkpoint(layer)))
    assert plain > 40 and remat < 0.5 * plain, (plain, remat)  # 16 layers: about 48 vs about 16 activations


def test_vjp_pullback_can_run_twice_on_a_lean_tape():
    _, pull = dr.vjp(lambda x: dnp.tanh(x) * x + x, x)
    first = pull(np.ones(3))
    np.testing.assert_array_equal(first[0], pull(np.ones(3))[0])


def test_a_wrong_vjp_reads_entry_fails_loudly():
    from dualrev.core import Primitive

    square = Primitive("test_square", lambda x: x * x, vjp=lambda ct, ans, xs, params, argnums: [2.0 * xs[0] * ct])
    f = dr.grad(lambda x: dnp.sum(square(dnp.sin(x))))
    np.testing.assert_allclose(f(x), 2 * np.sin(x) * np.cos(x))
    square.vjp_reads = ((),)  # wrong: the rule reads x, which the tape then replaces by its shape
    with pytest.raises(TypeError, match="vjp_reads"):
        f(x)


def test_custom_vjp_bwd_structure_is_checked():
    @dr.custom_vjp
    def f(x, pair):
        return x * pair[0] * pair[1]

    f.defvjp(lambda x, pair: (f(x, pair), (x, pair)), lambda res, ct: (ct, ct))  # pair's cotangent is no pair
    with pytest.raises(TypeError, match="structure"):
        dr.grad(lambda x: dnp.sum(f(x, (x, x))))(x)


# -- keyword arguments of custom_vjp functions: bound to positions, as in JAX --


@dr.custom_vjp
def _scaled(x, scale=1.0, mode="plain"):
    return x * scale if mode == "plain" else -x * scale


def _scaled_fwd(x, scale=1.0, mode="plain"):
    return (x * scale if mode == "plain" else -x * scale), (scale, mode)


def _scaled_bwd(res, ct):  # JAX's documented signature: (residuals, ct), never keyword arguments
    scale, mode = res
    return (ct * scale if mode == "plain" else -ct * scale,)


_scaled.defvjp(_scaled_fwd, _scaled_bwd)


def test_custom_vjp_static_keywords_reach_fwd_positionally_and_bwd_gets_two_arguments():
    assert dr.grad(lambda x: _scaled(x, scale=3.0, mode="neg"))(2.0) == -3.0
    assert dr.grad(lambda x: _scaled(x, mode="neg"))(2.0) == -1.0
    out, t = dr.jvp(lambda x: _scaled(x, scale=3.0), (2.0,), (1.0,))  # forward mode transposes bwd
    assert (out, t) == (6.0, 3.0)
    assert dr.hessian(lambda x: _scaled(x, scale=3.0) ** 2)(2.0) == 18.0


def test_custom_vjp_array_keywords_are_differentiated():
    @dr.custom_vjp
    def dot(x, w):
        return dnp.sum(x * w)

    dot.defvjp(lambda x, w: (dnp.sum(x * w), (x, w)), lambda res, ct: (ct * res[1], ct * res[0]))
    x, w = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_array_equal(dr.grad(lambda w: dot(x, w=w))(w), x)
    np.testing.assert_array_equal(dr.grad(lambda x: dot(x, w=w))(x), w)
    gx, gw = dr.grad(lambda x, w: dot(w=w, x=x), argnums=(0, 1))(x, w)
    np.testing.assert_array_equal(gx, w)
    np.testing.assert_array_equal(gw, x)
    with pytest.raises(TypeError, match="custom_vjp dot"):
        dot(x, v=w)


def test_custom_rules_and_checkpoint_are_registered_call_primitives():
    from dualrev.core import PRIMITIVES

    @dr.custom_jvp
    def f(x):
        return dnp.sin(x) * 2.0

    f.defjvp(lambda p, t: (f(*p), 2.0 * dnp.cos(p[0]) * t[0]))

    @dr.custom_vjp
    def g(x):
        return dnp.exp(x)

    g.defvjp(lambda x: (g(x), x), lambda x, ct: (ct * dnp.exp(x),))
    h = dr.checkpoint(lambda x: dnp.tanh(x) * x)
    for name, fun in (("custom_jvp_call", f), ("custom_vjp_call", g), ("checkpoint", h)):
        prim = PRIMITIVES[name]
        assert prim.call and prim.multiple_results
        graph = dr.make_graph(fun)(np.ones(3))  # one primitive call, the user function a param
        assert [eq.prim for eq in graph.equations] == [prim], name
        assert f"= {name}" in str(graph)
        jitted = dr.jit(dr.grad(lambda x, fun=fun: dnp.sum(fun(x))))  # jit traces through the call
        np.testing.assert_allclose(jitted(np.ones(3)), dr.grad(lambda x, fun=fun: dnp.sum(fun(x)))(np.ones(3)))
        assert f"# {name} " not in jitted.source(np.ones(3))  # no line of the generated code is the call itself
