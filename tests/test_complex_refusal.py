"""Never a silently wrong derivative through complex numbers.

dualrev does not differentiate complex values yet. Every primitive of the registry is run with complex operands, in
both modes and under vmap, and must either give JAX's answer or raise a TypeError that names a primitive and says
"complex" - never a number that disagrees. Complex values can reach a primitive in two ways only, both covered here:
a complex constant operand next to traced real ones (refused where the result turns complex, naming the primitive),
and a traced value made complex by an earlier operation (refused there). Complex inputs to the transforms are
refused with an error naming the argument and its dtype.
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

COMPLEX_ERROR = "complex"


def _complexify(x):
    return np.asarray(x, np.float64) * (1.0 + 0.5j) + 0.25j


def _refused_or_equal(run_dr, run_jax, what):
    """dualrev either refuses (a TypeError naming complex values) or agrees with JAX."""
    try:
        got = run_dr()
    except TypeError as e:  # dualrev's refusal, or NumPy's own (a ufunc without complex loops)
        assert COMPLEX_ERROR in str(e) or "not supported for the input types" in str(e), \
            f"{what}: a TypeError that does not say why: {e}"
        return "refused"
    want = run_jax()
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-9, atol=1e-12, err_msg=what)
    return "equal"


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@settings(max_examples=2)
@given(data=st.data())
def test_every_primitive_refuses_complex_operands_or_agrees_with_jax(name, data):
    spec, prim = SPECS[name], PRIMITIVES[name]
    operands, params = data.draw(spec.operands, label="operands, params")
    operands = [np.asarray(x, np.float64) for x in operands]
    n = len(operands)
    for k in range(n):
        complex_ops = list(operands)
        complex_ops[k] = _complexify(operands[k])
        wrt = [i for i in range(n) if i != k]  # the complex operand is a constant; the others are traced

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

        if wrt:
            xs = tuple(operands[i] for i in wrt)
            ts = tuple(np.ones_like(x) for x in xs)
            _refused_or_equal(lambda: dr.jvp(f_dr, xs, ts), lambda: jax.jvp(f_jax, xs, ts), f"{name} jvp")
            _refused_or_equal(lambda: dr.vjp(f_dr, *xs)[0], lambda: jax.vjp(f_jax, *xs)[0], f"{name} vjp")
        else:
            # a single operand: it can only turn complex through an earlier operation, which refuses
            x = operands[k]
            with pytest.raises(TypeError, match="complex"):
                dr.jvp(lambda x: spec.call(prim, x + 0.25j, **params), (x,), (np.ones_like(x),))
            with pytest.raises(TypeError, match="complex"):
                dr.vjp(lambda x: spec.call(prim, x * (1 + 0.5j), **params), x)


@pytest.mark.parametrize("transform", ["grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "hessian", "vmap-grad"])
def test_complex_inputs_are_refused_naming_the_argument(transform):
    z = np.array([1.0 + 2.0j, 0.5j])
    f = lambda x: dnp.sum(x * x)
    run = {
        "grad": lambda: dr.grad(f)(z), "vjp": lambda: dr.vjp(f, z), "jvp": lambda: dr.jvp(f, (z,), (z,)),
        "linearize": lambda: dr.linearize(f, z), "jacfwd": lambda: dr.jacfwd(f)(z),
        "jacrev": lambda: dr.jacrev(f)(z), "hessian": lambda: dr.hessian(f)(z),
        "vmap-grad": lambda: dr.vmap(dr.grad(f))(z[None]),
    }[transform]
    with pytest.raises(TypeError, match="complex128"):
        run()


# The three programs that gave wrong numbers silently before (exact derivatives 1.0, 0.5735, 1.0).
SILENTLY_WRONG_BEFORE = {
    "abs(x * 1j)": lambda x: np.abs(x * 1j),
    "abs(x + 1j)": lambda x: np.abs(x + 1j),
    "abs(exp(1j x)) * x": lambda x: np.abs(np.exp(1j * x)) * x,
    "real(x as complex)": lambda x: np.real(dnp.astype(x, np.complex128)),
}


@pytest.mark.parametrize("case", sorted(SILENTLY_WRONG_BEFORE))
@pytest.mark.parametrize("transform", ["grad", "jvp", "hessian", "vmap-grad", "grad-vmap", "jacfwd", "linearize"])
def test_complex_intermediates_are_refused_in_every_transform(case, transform):
    f = SILENTLY_WRONG_BEFORE[case]
    x = np.array([0.7, -0.3])
    run = {
        "grad": lambda: dr.grad(f)(0.7), "jvp": lambda: dr.jvp(f, (x,), (np.ones(2),)),
        "hessian": lambda: dr.hessian(f)(0.7), "vmap-grad": lambda: dr.vmap(dr.grad(f))(x),
        "grad-vmap": lambda: dr.grad(lambda x: dnp.sum(dr.vmap(f)(x)))(x), "jacfwd": lambda: dr.jacfwd(f)(x),
        "linearize": lambda: dr.linearize(f, x),
    }[transform]
    with pytest.raises(TypeError, match=r"gave a complex result \(complex128\)"):
        run()


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
    with pytest.raises(TypeError, match="complex"):
        dr.grad(g)(1.0)


def test_untraced_complex_arithmetic_still_works():
    # Only derivatives refuse complex values: dualrev.numpy on plain arrays is NumPy.
    z = np.array([1.0 + 2.0j, 3.0 - 1.0j])
    np.testing.assert_array_equal(dnp.abs(z * 1j), np.abs(z * 1j))
    assert dr.grad(lambda x: x * np.abs(1j + 1.0))(2.0) == np.sqrt(2.0)
