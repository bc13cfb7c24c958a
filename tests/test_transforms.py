"""One test per documented API behaviour of the transforms (JAX semantics)."""

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp

rng = np.random.default_rng(0)


def rosen(x):
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_grad_matches_closed_form():
    x = rng.standard_normal(5)
    np.testing.assert_allclose(dr.grad(lambda x: dnp.sum(dnp.sin(x) ** 2))(x), np.sin(2 * x), rtol=1e-12)


def test_grad_argnums_int_tuple_and_negative():
    f = lambda x, y, z: dnp.sum(x * y**2 + z)
    x, y, z = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3)
    np.testing.assert_allclose(dr.grad(f, 1)(x, y, z), 2 * x * y)
    np.testing.assert_allclose(dr.grad(f, -1)(x, y, z), np.ones(3))
    gx, gz = dr.grad(f, (0, 2))(x, y, z)
    np.testing.assert_allclose(gx, y**2)
    np.testing.assert_allclose(gz, np.ones(3))
    with pytest.raises(ValueError, match="argnums"):
        dr.grad(f, 3)(x, y, z)


def test_grad_pytree_input_keeps_structure():
    params = {"w": [np.ones(2), np.full(3, 2.0)], "b": (np.float64(3.0), None)}
    g = dr.grad(lambda p: dnp.sum(p["w"][0]) * p["b"][0] + dnp.sum(p["w"][1] ** 2))(params)
    assert set(g) == {"w", "b"} and isinstance(g["w"], list) and isinstance(g["b"], tuple) and g["b"][1] is None
    np.testing.assert_allclose(g["w"][0], [3.0, 3.0])
    np.testing.assert_allclose(g["w"][1], [4.0, 4.0, 4.0])
    assert g["b"][0] == 2.0


def test_has_aux_and_value_and_grad():
    f = lambda x: (dnp.sum(x**2), {"norm": dnp.sqrt(dnp.sum(x**2))})
    x = np.array([3.0, 4.0])
    g, aux = dr.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g, 2 * x)
    assert aux["norm"] == 5.0 and isinstance(aux["norm"], (np.ndarray, np.generic))
    (v, aux), g2 = dr.value_and_grad(f, has_aux=True)(x)
    assert v == 25.0 and aux["norm"] == 5.0
    np.testing.assert_allclose(g2, g)


def test_keyword_arguments_pass_through_undifferentiated():
    f = lambda x, scale=1.0: dnp.sum(x) * scale
    np.testing.assert_allclose(dr.grad(f)(np.ones(2), scale=3.0), [3.0, 3.0])


def test_vjp_unused_input_gets_zeros_of_its_shape_and_dtype():
    x, y = np.ones(3), np.ones((2, 2), np.float32)
    out, f_vjp = dr.vjp(lambda x, y: dnp.sin(x), x, y)
    gx, gy = f_vjp(np.ones(3))
    np.testing.assert_allclose(gx, np.cos(1.0) * np.ones(3))
    assert gy.shape == (2, 2) and gy.dtype == np.float32 and not gy.any()


def test_vjp_can_be_called_repeatedly_and_checks_the_cotangent():
    A = rng.standard_normal((3, 4))
    out, f_vjp = dr.vjp(lambda x: A @ x, rng.standard_normal(4))
    for _ in range(2):
        ct = rng.standard_normal(3)
        np.testing.assert_allclose(f_vjp(ct)[0], A.T @ ct)
    with pytest.raises(ValueError, match="shape"):
        f_vjp(np.ones(4))
    with pytest.raises(ValueError, match="structure"):
        f_vjp((np.ones(3), np.ones(3)))


def test_vjp_pytree_output_and_has_aux():
    f = lambda x: ({"a": x * 2.0, "b": [dnp.sum(x)]}, "aux")
    out, f_vjp, aux = dr.vjp(f, np.ones(2), has_aux=True)
    assert aux == "aux"
    (g,) = f_vjp({"a": np.array([1.0, 2.0]), "b": [np.float64(1.0)]})
    np.testing.assert_allclose(g, [3.0, 5.0])


def test_jvp_pytrees_and_has_aux():
    f = lambda p: (p["x"] * p["y"], p["x"].sum())
    p = {"x": np.array([1.0, 2.0]), "y": np.array([3.0, 4.0])}
    t = {"x": np.array([1.0, 0.0]), "y": np.array([0.0, 1.0])}
    (o1, o2), (t1, t2) = dr.jvp(f, (p,), (t,))
    np.testing.assert_allclose(t1, [3.0, 2.0])
    assert t2 == 1.0
    out, tan, aux = dr.jvp(lambda x: (dnp.exp(x), 7), (0.0,), (1.0,), has_aux=True)
    assert out == 1.0 and tan == 1.0 and aux == 7


def test_jvp_of_constant_output_is_zero_of_its_shape():
    out, t = dr.jvp(lambda x: np.ones((2, 3)), (np.ones(2),), (np.ones(2),))
    assert t.shape == (2, 3) and not t.any()


def test_jvp_rejects_mismatched_tangents():
    with pytest.raises(ValueError, match="tangent"):
        dr.jvp(dnp.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(ValueError, match="dtype"):
        dr.jvp(dnp.sin, (np.ones(3),), (np.ones(3, np.float32),))
    with pytest.raises(TypeError, match="tuples"):
        dr.jvp(dnp.sin, np.ones(3), np.ones(3))


def test_linearize_matches_jvp_without_rerunning():
    calls = []

    def f(x, y):
        calls.append(1)
        return dnp.tanh(x) * y + dnp.sum(x)

    x, y = rng.standard_normal(3), rng.standard_normal(3)
    out, f_jvp = dr.linearize(f, x, y)
    np.testing.assert_allclose(out, f(x, y))
    n = len(calls)
    for _ in range(3):
        dx, dy = rng.standard_normal(3), rng.standard_normal(3)
        np.testing.assert_allclose(f_jvp(dx, dy), dr.jvp(f, (x, y), (dx, dy))[1], rtol=1e-12)
    assert len(calls) == n + 3  # only the three reference jvp calls ran f


@pytest.mark.parametrize("jac", [dr.jacfwd, dr.jacrev])
@pytest.mark.parametrize("in_shape,out_shape", [((3,), (2,)), ((2, 2), ()), ((), (3,)), ((2, 3), (4, 1))])
def test_jacobian_shape_is_out_plus_in(jac, in_shape, out_shape):
    n_out = int(np.prod(out_shape))
    A = rng.standard_normal((n_out, int(np.prod(in_shape))))
    f = lambda x: dnp.reshape(A @ dnp.reshape(x, (-1,)), out_shape)
    x = rng.standard_normal(in_shape)
    J = jac(f)(x)
    assert J.shape == out_shape + in_shape
    np.testing.assert_allclose(np.reshape(J, A.shape), A, rtol=1e-12)


@pytest.mark.parametrize("jac", [dr.jacfwd, dr.jacrev])
def test_jacobian_pytrees_on_both_sides(jac):
    f = lambda x, y: {"s": x * y[0], "t": dnp.sum(y)}
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    J = jac(f, argnums=(0, 1))(x, y)
    assert set(J) == {"s", "t"}
    Jsx, Jsy = J["s"]
    np.testing.assert_allclose(Jsx, np.diag([3.0, 3.0]))
    assert Jsy.shape == (2, 3)
    np.testing.assert_allclose(Jsy[:, 0], x)
    assert J["t"][0].shape == (2,) and J["t"][1].shape == (3,)
    np.testing.assert_allclose(J["t"][1], np.ones(3))


def test_jacfwd_equals_jacrev():
    W = rng.standard_normal((4, 3))
    f = lambda x: dnp.tanh(W @ x) * dnp.exp(x[0])
    x = rng.standard_normal(3)
    np.testing.assert_allclose(dr.jacfwd(f)(x), dr.jacrev(f)(x), rtol=1e-12)


def test_rosenbrock_hessian_and_hvp():
    H = dr.hessian(rosen)(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(H, [[802.0, -400.0], [-400.0, 200.0]])
    x, v = rng.standard_normal(6), rng.standard_normal(6)
    np.testing.assert_allclose(dr.hvp(rosen, (x,), (v,)), dr.hessian(rosen)(x) @ v, rtol=1e-10)


def test_hvp_with_several_primals_and_hessian_argnums():
    f = lambda x, y: dnp.sum(x**2 * y)
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    hx, hy = dr.hvp(f, (x, y), (np.array([1.0, 0.0]), np.array([0.0, 0.0])))
    np.testing.assert_allclose(hx, [6.0, 0.0])  # d2f/dx2 = diag(2y)
    np.testing.assert_allclose(hy, [2.0, 0.0])  # d2f/dydx = diag(2x)
    H = dr.hessian(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(H[0][1], np.diag(2 * x))


def test_stop_gradient():
    f = lambda x: x * dr.stop_gradient(x)
    assert dr.grad(f)(3.0) == 3.0
    assert dr.jvp(f, (3.0,), (1.0,))[1] == 3.0
    assert dr.grad(dr.grad(lambda x: x**2 * dr.stop_gradient(x**2)))(2.0) == 8.0


def test_float32_is_kept_everywhere():
    x = np.ones(3, np.float32)
    f = lambda x: dnp.sum(dnp.sin(x) * 2.0 + x**2 / 3.0 + dnp.exp(-x) * 0.5)
    assert dr.grad(f)(x).dtype == np.float32
    assert dr.jvp(f, (x,), (x,))[1].dtype == np.float32
    assert dr.hessian(f)(x).dtype == np.float32
    assert dr.jacrev(lambda x: x * 3.0)(x).dtype == np.float32
    assert dr.vjp(lambda x: x + np.float32(1), x)[1](x)[0].dtype == np.float32
    # an operand of another dtype: the cotangent is cast back to each input's dtype
    assert dr.grad(lambda x: dnp.sum(x * np.ones(3)))(x).dtype == np.float32


def test_python_float_and_0d_inputs():
    assert dr.grad(lambda x: x**3)(2.0) == 12.0
    g = dr.grad(lambda x: x**3)(np.array(2.0))
    assert np.shape(g) == () and g == 12.0


def test_broadcasting_cotangents_are_summed_back():
    f = lambda a, b: dnp.sum((a + b) ** 2)
    a, b = rng.standard_normal((3, 1)), rng.standard_normal(4)
    ga, gb = dr.grad(f, (0, 1))(a, b)
    assert ga.shape == (3, 1) and gb.shape == (4,)
    np.testing.assert_allclose(ga[:, 0], (2 * (a + b)).sum(1))
    np.testing.assert_allclose(gb, (2 * (a + b)).sum(0))


def test_comparisons_are_plain_arrays_so_python_control_flow_works():
    def f(x):
        assert isinstance(x > 0, (np.ndarray, np.bool_))
        y = x
        while y < 10.0:  # runs on traced values
            y = y * 2.0
        return y if x > 0 else -y

    assert dr.grad(f)(3.0) == 4.0  # 3 -> 6 -> 12
    assert dr.jvp(f, (3.0,), (1.0,))[1] == 4.0
    relu = lambda x: dnp.sum(dnp.where(x > 0, x, 0.0))
    np.testing.assert_allclose(dr.grad(relu)(np.array([-1.0, 2.0])), [0.0, 1.0])


def test_plain_numpy_calls_dispatch_to_dualrev():
    W = rng.standard_normal((3, 3))

    def f(x):
        h = np.tanh(W @ x) + np.maximum(x, 0.0)
        return np.sum(np.exp(h) * np.sin(x)) / np.mean(np.sqrt(x * x + 1.0)) + np.dot(x, x)

    def f_dr(x):
        h = dnp.tanh(W @ x) + dnp.maximum(x, 0.0)
        return dnp.sum(dnp.exp(h) * dnp.sin(x)) / dnp.mean(dnp.sqrt(x * x + 1.0)) + dnp.dot(x, x)

    x = rng.standard_normal(3)
    np.testing.assert_allclose(dr.grad(f)(x), dr.grad(f_dr)(x), rtol=1e-12)
    dr.check_grads(f, (x,), order=2)


def test_array_methods_and_properties_on_tracers():
    def f(x):
        assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.dtype == np.float64 and len(x) == 2
        return x.T.reshape(3, 2).sum(axis=0).mean() + x[0, ::-1].sum() + x.reshape(-1)[-1]

    g = dr.grad(f)(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(g, [[1.5, 1.5, 1.5], [0.5, 0.5, 1.5]])
    dr.check_grads(f, (np.arange(6.0).reshape(2, 3),), order=2)


def test_indexing_with_repeated_integer_arrays_accumulates():
    g = dr.grad(lambda x: dnp.sum(x[np.array([0, 0, 2])] * np.array([1.0, 2.0, 3.0])))(np.ones(3))
    np.testing.assert_allclose(g, [3.0, 0.0, 3.0])
    g = dr.grad(lambda x: dnp.sum(x[x > 0] ** 2))(np.array([-1.0, 2.0, 3.0]))
    np.testing.assert_allclose(g, [0.0, 4.0, 6.0])
