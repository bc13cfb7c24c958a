"""Never a silently wrong derivative through complex numbers.

Every primitive of the registry is run with complex operands, in both modes, and must either give JAX's answer or
raise a TypeError naming the primitive and saying it does not support complex values - never a number that
disagrees. Complex values reach a primitive in two ways, both covered here: a complex constant operand next to
traced real ones, and traced complex operands (complex inputs, or values made complex by an earlier operation). A
primitive marked ``supports_complex`` must give JAX's answer. (tests/test_complex.py checks the supported ones at
second order, in both complex dtypes and under vmap.)
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import PRIMITIVES
from test_primitives import DIFFERENTIABLE, SPECS

NUMPY_HAS_NO_COMPLEX_LOOP = "not supported for the input types"


def _complexify(x):
    return np.asarray(x, np.float64) * (1.0 + 0.5j) + 0.25j


def _direction(x):
    """A tangent or cotangent for ``x``: complex for a complex value (so that both parts are exercised)."""
    x = np.asarray(x)
    return x * 0.0 + (0.5 - 1.0j) if x.dtype.kind == "c" else np.ones_like(x)


def _refused_or_equal(prim, run_dr, run_jax, what):
    """dualrev either refuses (a TypeError naming the primitive) or agrees with JAX; a primitive marked
    ``supports_complex`` must agree (unless NumPy itself has no complex loop for it)."""
    try:
        got = run_dr()
    except TypeError as e:
        msg = str(e)
        if NUMPY_HAS_NO_COMPLEX_LOOP in msg:  # NumPy's own refusal: a ufunc without complex loops
            return "refused"
        assert f"{prim.name} does not support complex values" in msg, f"{what}: a TypeError that does not say why: {e}"
        assert not prim.supports_complex, f"{what}: marked supports_complex, yet refused: {e}"
        return "refused"
    want = run_jax()
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-9, atol=1e-12, err_msg=what)
    return "equal"


def _check_both_modes(prim, f_dr, f_jax, xs, what):
    ts = tuple(_direction(x) for x in xs)
    if _refused_or_equal(prim, lambda: dr.jvp(f_dr, xs, ts), lambda: jax.jvp(f_jax, xs, ts), f"{what} jvp") != "equal":
        return "refused"
    ct = jax.tree.map(_direction, f_dr(*xs))
    return _refused_or_equal(prim, lambda: dr.vjp(f_dr, *xs)[1](ct), lambda: jax.vjp(f_jax, *xs)[1](ct), f"{what} vjp")


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@settings(max_examples=2)
@given(data=st.data())
def test_every_primitive_with_a_complex_constant_operand_agrees_with_jax_or_is_refused(name, data):
    spec, prim = SPECS[name], PRIMITIVES[name]
    operands, params = data.draw(spec.operands, label="operands, params")
    operands = [np.asarray(x, np.float64) for x in operands]
    n = len(operands)
    for k in range(n):
        complex_ops = list(operands)
        complex_ops[k] = _complexify(operands[k])
        wrt = [i for i in range(n) if i != k]  # the complex operand is a constant; the others are traced
        if not wrt:
            continue  # a single operand: the next test traces it

        def f_dr(*xs):
            full = list(complex_ops)
            for i, x in zip(wrt, xs):
                full[i] = x
            return spec.call(prim, *full, **params)

        def f_jax(*xs):
            full = [jax.numpy.asarray(x) for x in complex_ops]
            for i, x in zip(wrt, xs):
                full[i] = x
            return spec.ref(*full, **params)

        _check_both_modes(prim, f_dr, f_jax, tuple(operands[i] for i in wrt), f"{name} (operand {k} complex)")


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@settings(max_examples=2)
@given(data=st.data())
def test_every_primitive_with_traced_complex_operands_agrees_with_jax_or_is_refused(name, data):
    spec, prim = SPECS[name], PRIMITIVES[name]
    operands, params = data.draw(spec.operands, label="operands, params")
    xs = tuple(_complexify(x) for x in operands)
    result = _check_both_modes(prim, lambda *xs: spec.call(prim, *xs, **params),
                               lambda *xs: spec.ref(*xs, **params), xs, name)
    assert result == "equal" or not prim.supports_complex


def test_the_count_of_primitives_that_support_complex_values():
    # The issue asks for this number; a primitive gains the mark only with its complex rules checked here.
    supported = sorted(name for name in DIFFERENTIABLE if PRIMITIVES[name].supports_complex)
    assert len(supported) >= 40, supported


# The three programs that gave wrong numbers silently before complex support (exact derivatives 1.0, 0.5735, 1.0),
# and a round trip through a complex dtype.
PROGRAMS = {
    "abs(x * 1j)": lambda m: lambda x: m.abs(x * 1j),
    "abs(x + 1j)": lambda m: lambda x: m.abs(x + 1j),
    "abs(exp(1j x)) * x": lambda m: lambda x: m.abs(m.exp(1j * x)) * x,
    "real(x as complex)": lambda m: lambda x: m.real((dnp if m is np else m).astype(x, np.complex128)) * x,
}


def test_the_issue_examples():
    assert dr.grad(lambda x: np.abs(x * 1j))(0.7) == 1.0
    np.testing.assert_allclose(dr.grad(lambda x: np.abs(x + 1j))(0.7), 0.7 / np.sqrt(1.49), rtol=1e-15)
    assert abs(dr.grad(lambda x: np.abs(np.exp(1j * x)) * x)(0.7) - 1.0) < 1e-15


@pytest.mark.parametrize("case", sorted(PROGRAMS))
@pytest.mark.parametrize("transform", ["grad", "jvp", "hessian", "vmap-grad", "grad-vmap", "jacfwd", "linearize"])
def test_complex_intermediates_give_jax_answers_in_every_transform(case, transform):
    x = np.array([0.7, -0.3])

    def run(t, m):
        f = PROGRAMS[case](m)
        return {
            "grad": lambda: t.grad(f)(0.7), "jvp": lambda: t.jvp(f, (x,), (np.ones(2),)),
            "hessian": lambda: t.hessian(f)(0.7), "vmap-grad": lambda: t.vmap(t.grad(f))(x),
            "grad-vmap": lambda: t.grad(lambda x: t.vmap(f)(x).sum())(x), "jacfwd": lambda: t.jacfwd(f)(x),
            "linearize": lambda: t.linearize(f, x)[1](np.ones(2)),
        }[transform]()

    for g, w in zip(jax.tree.leaves(run(dr, np)), jax.tree.leaves(run(jax, jax.numpy))):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-14)


def test_a_custom_rule_cannot_cast_a_complex_tangent_or_cotangent_to_real():
    @dr.custom_jvp
    def f(x):
        return x * 2.0

    f.defjvp(lambda p, t: (p[0] * 2.0, t[0] * (2.0 + 1j)))
    with pytest.raises(TypeError, match="complex tangent"):
        dr.jvp(f, (1.0,), (1.0,))

    @dr.custom_vjp
    def g(x):
        return x * 2.0

    g.defvjp(lambda x: (x * 2.0, None), lambda res, ct: (ct * (2.0 + 1j),))
    with pytest.raises(TypeError, match="complex128 cotangent for a float64 operand"):  # a bug in the rule
        dr.grad(g)(1.0)


def test_untraced_complex_arithmetic_still_works():
    z = np.array([1.0 + 2.0j, 3.0 - 1.0j])
    np.testing.assert_array_equal(dnp.abs(z * 1j), np.abs(z * 1j))
    assert dr.grad(lambda x: x * np.abs(1j + 1.0))(2.0) == np.sqrt(2.0)
