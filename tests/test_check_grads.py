"""check_grads passes on correct derivatives and fails on wrong ones (testing the tester)."""

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp

x = np.array([0.3, -1.2, 0.8])


def test_passes_on_correct_functions_to_order_three():
    dr.check_grads(lambda x: dnp.sum(dnp.exp(dnp.sin(x)) * x**2), (x,), order=3)
    dr.check_grads(lambda x, y: (x * y, dnp.tanh(x) @ y), (x, x[::-1].copy()), order=2)


def test_float32_uses_float32_tolerances():
    dr.check_grads(lambda x: dnp.sum(dnp.tanh(x) * 2.0), (x.astype(np.float32),), order=2)


def sin_with_rule(derivative):
    """sin with the custom JVP dx * derivative(x): the rule under test (dnp.cos is the right one)."""

    @dr.custom_jvp
    def f(x):
        return dnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return dnp.sin(x), dx * derivative(x)

    return f


def test_passes_on_the_right_custom_rule():
    # the control for the two wrong rules below: with the right derivative the same helper passes
    dr.check_grads(sin_with_rule(dnp.cos), (x,), order=2)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_fails_on_a_wrong_first_derivative(mode):
    with pytest.raises(AssertionError, match="mismatch"):
        dr.check_grads(sin_with_rule(lambda x: dnp.cos(x) * 1.01), (x,), modes=(mode,))


def test_fails_on_a_wrong_primitive_rule(monkeypatch):
    good = dnp.cos.jvp
    monkeypatch.setattr(dnp.cos, "jvp", lambda ts, ans, xs, params: good(ts, ans, xs, params) * 1.001)
    dr.check_grads(dnp.cos, (x,), modes=("rev",))  # the VJP is untouched
    with pytest.raises(AssertionError, match="JVP"):
        dr.check_grads(dnp.cos, (x,), modes=("fwd",))


def test_fails_on_a_wrong_second_derivative_only():
    # the derivative's value is right at every x, but it is computed under stop_gradient, so its own derivative
    # (the second derivative of f) is wrong: zero instead of -sin
    f = sin_with_rule(lambda x: dr.stop_gradient(dnp.cos(x)))
    dr.check_grads(f, (x,), order=1)
    with pytest.raises(AssertionError, match="order"):
        dr.check_grads(f, (x,), order=2)
