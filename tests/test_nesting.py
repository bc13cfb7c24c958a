"""Transforms nest to any order, in every mode pair, without perturbation confusion."""

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp


def d_fwd(f):
    """The derivative of a scalar function by forward mode."""
    return lambda x: dr.jvp(f, (x,), (np.ones_like(x),))[1]


def d_rev(f):
    return dr.grad(f)


MODES = [d_fwd, d_rev]


@pytest.mark.parametrize("outer", MODES, ids=["fwd", "rev"])
@pytest.mark.parametrize("inner", MODES, ids=["fwd", "rev"])
def test_perturbation_confusion_classics(outer, inner):
    one, two, four = np.float64(1.0), np.float64(2.0), np.float64(4.0)
    assert outer(lambda x: x * inner(lambda y: x * y)(two))(one) == 2.0
    assert outer(lambda x: x * inner(lambda y: x + y)(one))(one) == 1.0
    assert outer(lambda x: x * inner(lambda y: x * y)(one))(four) == 8.0


@pytest.mark.parametrize("modes", [(d_rev,) * 4, (d_fwd,) * 4, (d_fwd, d_rev, d_fwd, d_rev), (d_rev, d_fwd) * 2])
def test_fourth_derivative_of_tanh(modes):
    f = dnp.tanh
    for d in modes:
        f = d(f)
    assert abs(f(np.float64(0.5)) - 3.952219563724582) < 1e-12


@pytest.mark.parametrize("d", MODES, ids=["fwd", "rev"])
def test_third_derivative_of_sin_at_zero(d):
    assert d(d(d(dnp.sin)))(np.float64(0.0)) == -1.0


def test_grad_of_grad_to_order_six():
    f = lambda x: x**7
    for _ in range(6):
        f = dr.grad(f)
    assert f(2.0) == 7 * 6 * 5 * 4 * 3 * 2 * 2.0


def test_jvp_of_grad_and_grad_of_jvp_agree_with_the_hessian():
    W = np.random.default_rng(1).standard_normal((3, 3))
    f = lambda x: dnp.sum(dnp.tanh(W @ x) ** 2)
    x, v = np.array([0.1, -0.4, 0.7]), np.array([1.0, 2.0, -1.0])
    H = dr.hessian(f)(x)
    np.testing.assert_allclose(dr.jvp(dr.grad(f), (x,), (v,))[1], H @ v, rtol=1e-10)
    np.testing.assert_allclose(dr.grad(lambda x: dr.jvp(f, (x,), (v,))[1])(x), H @ v, rtol=1e-10)
    np.testing.assert_allclose(dr.jacfwd(dr.jacrev(f))(x), H, rtol=1e-12)
    np.testing.assert_allclose(dr.jacrev(dr.jacfwd(f))(x), H, rtol=1e-12)
    np.testing.assert_allclose(dr.jacrev(dr.jacrev(f))(x), H, rtol=1e-12)
    np.testing.assert_allclose(H, H.T, rtol=1e-12)


def test_hvp_inside_grad():
    # d/dx [v . H(x) v] for f = sum(x^4): H = diag(12 x^2) so the result is 24 x v^2
    f = lambda x: dnp.sum(x**4)
    v = np.array([1.0, 2.0])
    g = dr.grad(lambda x: dnp.sum(dr.hvp(f, (x,), (v,)) * v))(np.array([0.5, -1.0]))
    np.testing.assert_allclose(g, 24 * np.array([0.5, -1.0]) * v**2)


def test_closures_over_outer_traced_values():
    def outer(a):
        inner = lambda x: dnp.sin(a * x)  # a is a tracer of the outer transform
        return dr.grad(inner)(np.float64(0.3)) + dr.jvp(inner, (np.float64(0.3),), (np.float64(1.0),))[1]

    # outer(a) = 2 a cos(0.3 a); d/da = 2 cos(0.3 a) - 0.6 a sin(0.3 a)
    a = 1.7
    expected = 2 * np.cos(0.3 * a) - 0.6 * a * np.sin(0.3 * a)
    assert abs(dr.grad(outer)(a) - expected) < 1e-12
    assert abs(dr.jvp(outer, (a,), (1.0,))[1] - expected) < 1e-12


def test_vjp_function_used_under_another_transform():
    x = np.array([0.2, 0.5])
    _, f_vjp = dr.vjp(dnp.sin, x)
    # the pullback is linear in its cotangent: its jacobian is diag(cos x)
    np.testing.assert_allclose(dr.jacfwd(lambda c: f_vjp(c)[0])(np.ones(2)), np.diag(np.cos(x)))


def test_third_order_mixed_on_vectors():
    f = lambda x: dnp.sum(dnp.exp(x[0] * x[1]) * x)
    x = np.array([0.3, -0.2])
    T = dr.jacfwd(dr.jacrev(dr.jacfwd(f)))(x)
    T2 = dr.jacrev(dr.jacrev(dr.jacrev(f)))(x)
    np.testing.assert_allclose(T, T2, rtol=1e-12)
    assert T.shape == (2, 2, 2)
    np.testing.assert_allclose(T, np.transpose(T, (1, 0, 2)), rtol=1e-12)
