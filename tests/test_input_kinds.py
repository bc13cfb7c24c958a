"""Every entry point takes every input kind users pass: Python floats, NumPy scalars, 0-d arrays, float32 and
float16 values, arrays, pytrees; and the cotangents and tangents a user hands a pullback or a JVP: Python floats
and ints, NumPy scalars, 0-d arrays, arrays. A hot-path speed-up must keep all of them working: this file is the
guard (a Python-float cotangent once crashed the reverse pass).

Integers and bools are not differentiable inputs (a TypeError naming the argument and its dtype, as in JAX).
"""

from __future__ import annotations

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import optimize

SCALARS = {
    "python float": 2.0,
    "numpy float64": np.float64(2.0),
    "numpy float32": np.float32(2.0),
    "numpy float16": np.float16(2.0),
    "0-d float64 array": np.array(2.0),
    "0-d float32 array": np.array(2.0, np.float32),
}
# What the result's dtype must be: a Python float is float64
DTYPE = {k: np.result_type(v) for k, v in SCALARS.items()}

# cotangents / tangents a user may pass for a scalar output or input
DIRECTIONS = {
    "python float": 1.0,
    "python int": 1,
    "numpy float64": np.float64(1.0),
    "numpy float32": np.float32(1.0),
    "0-d array": np.array(1.0),
}


def f(x):
    return 3.0 * x * x  # f'(2) = 12, f''(2) = 6


def _value(out):
    return float(np.asarray(out))


ENTRY_POINTS = {
    "grad": (lambda x: dr.grad(f)(x), 12.0),
    "value_and_grad": (lambda x: dr.value_and_grad(f)(x)[1], 12.0),
    "vjp": (lambda x: dr.vjp(f, x)[1](1.0)[0], 12.0),
    "jvp": (lambda x: dr.jvp(f, (x,), (1.0,))[1], 12.0),
    "linearize": (lambda x: dr.linearize(f, x)[1](1.0), 12.0),
    "jacfwd": (lambda x: dr.jacfwd(f)(x), 12.0),
    "jacrev": (lambda x: dr.jacrev(f)(x), 12.0),
    "hessian": (lambda x: dr.hessian(f)(x), 6.0),
    "hvp": (lambda x: dr.hvp(f, (x,), (1.0,)), 6.0),
    "vmap(grad)": (lambda x: dr.vmap(dr.grad(f))(dnp.stack([x, x]))[1], 12.0),
    "grad(vmap)": (lambda x: dr.grad(lambda x: dnp.sum(dr.vmap(f)(dnp.stack([x, x]))))(x), 24.0),
    "grad of checkpoint": (lambda x: dr.grad(dr.checkpoint(f))(x), 12.0),
    "grad in a pytree": (lambda x: dr.grad(lambda p: f(p["a"][0]))({"a": [x]})["a"][0], 12.0),
}


@pytest.mark.parametrize("kind", sorted(SCALARS))
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_every_entry_point_takes_every_scalar_kind(entry, kind):
    run, want = ENTRY_POINTS[entry]
    out = run(SCALARS[kind])
    assert np.asarray(out).dtype == DTYPE[kind], f"{entry} on a {kind}: dtype {np.asarray(out).dtype}"
    tol = 1e-2 if DTYPE[kind] == np.float16 else 1e-6
    assert abs(_value(out) - want) <= tol * abs(want)


@pytest.mark.parametrize("kind", sorted(DIRECTIONS))
@pytest.mark.parametrize("x_kind", ["python float", "numpy float32", "0-d float64 array"])
def test_pullbacks_and_pushforwards_take_every_direction_kind(kind, x_kind):
    x, d = SCALARS[x_kind], DIRECTIONS[kind]
    (g,) = dr.vjp(f, x)[1](d)
    t = dr.jvp(f, (x,), (d,))[1] if not isinstance(d, (np.ndarray, np.generic)) or \
        np.asarray(d).dtype == DTYPE[x_kind] else None
    lin = dr.linearize(f, x)[1](d) if t is not None else None
    for out in (g, t, lin):
        if out is not None:
            assert _value(out) == 12.0 and np.asarray(out).dtype == DTYPE[x_kind]


def test_array_pullbacks_take_lists_numpy_scalars_and_cast_dtypes():
    x = np.array([1.0, 2.0], np.float32)
    out, pullback = dr.vjp(lambda x: x * 2.0, x)
    for ct in (np.ones(2), np.ones(2, np.float32), np.array([1, 1])):
        (g,) = pullback(ct)
        assert g.dtype == np.float32 and np.all(g == 2.0)
    out, pullback = dr.vjp(lambda x: (dnp.sum(x), x * 2.0), x)
    g = pullback((1.0, np.ones(2)))[0]
    np.testing.assert_array_equal(g, [3.0, 3.0])


def test_a_wrong_cotangent_is_named():
    _, pullback = dr.vjp(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"cotangent 0 has shape \(2,\), the output has shape \(3,\)"):
        pullback(np.ones(2))
    with pytest.raises(ValueError, match="structure"):
        pullback((np.ones(3), np.ones(3)))
    with pytest.raises(TypeError, match="cotangent 0 is a str"):
        pullback("ones")
    with pytest.raises(TypeError, match="complex"):
        pullback(np.ones(3) * 1j)


@pytest.mark.parametrize("kind", ["python int", "python bool", "int array"])
def test_integer_inputs_are_refused_naming_the_argument(kind):
    x = {"python int": 2, "python bool": True, "int array": np.arange(3)}[kind]
    with pytest.raises(TypeError, match="argument 0 of .* has dtype"):
        dr.grad(lambda x: dnp.sum(x * 1.0))(x)


@pytest.mark.parametrize("kind", ["python float", "numpy float32", "0-d float64 array", "list", "tuple pytree"])
def test_optimizers_take_every_start_kind(kind):
    x0 = {"python float": 3.0, "numpy float32": np.float32(3.0), "0-d float64 array": np.array(3.0),
          "list": [3.0, -1.0], "tuple pytree": (np.array([3.0]), np.float64(-1.0))}[kind]

    def fun(x):
        leaves = dr.tree_util.tree_flatten(x)[0]
        return sum(dnp.sum((leaf - 1.0) ** 2) for leaf in leaves)

    res = optimize.minimize(fun, x0, method="newton")
    assert res.success
    for leaf in dr.tree_util.tree_flatten(res.x)[0]:
        np.testing.assert_allclose(np.asarray(leaf, np.float64), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", sorted(SCALARS))
def test_check_grads_takes_every_scalar_kind(kind):
    dr.check_grads(lambda x: dnp.sin(x) * dnp.exp(x), (SCALARS[kind],), order=2)


def test_checkpoint_and_custom_rules_take_python_numbers_among_their_operands():
    # a Python float next to a traced operand once crashed checkpoint's backward pass (the recomputation's leaf)
    assert dr.grad(lambda x: dr.checkpoint(lambda a, b: a * b)(x, 2.0))(3.0) == 2.0
    assert dr.grad(lambda x: dr.checkpoint(lambda a, b: a * b)(2, x))(3.0) == 2.0
    assert dr.hessian(lambda x: dr.checkpoint(lambda a, b: a * b * a)(x, 2.0))(3.0) == 4.0

    @dr.custom_vjp
    def scale(x, s):
        return x * s

    scale.defvjp(lambda x, s: (x * s, s), lambda s, ct: (ct * s, None))
    assert dr.grad(lambda x: scale(x, 2.0))(3.0) == 2.0


def test_int_of_a_traced_value_reads_it_as_bool_does():
    # int() is a step function: reading the value drops no derivative (JAX agrees); float() would, and is refused.
    assert dr.grad(lambda x: x * int(x))(2.5) == 2.0
    assert dr.hessian(lambda x: x ** 3 * int(x))(2.5) == 30.0
    with pytest.raises(TypeError, match="float"):
        dr.grad(lambda x: x * float(x))(2.5)
    with pytest.raises(TypeError, match="vmap: int"):
        dr.vmap(lambda x: x * int(x))(np.ones(3))


def test_integer_conversion_of_a_traced_array_reads_it():
    # autograd's test_cast_to_int: np.int64(x) indexes with the values; integers carry no derivative.
    W = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]])

    def f(W):
        rows = np.int64(W[:, -1])
        return dnp.sum(W[:, :-1][rows] ** 2)

    np.testing.assert_allclose(dr.grad(f)(W), [[2.0, 4.0, 0.0], [6.0, 8.0, 0.0]])
    with pytest.raises(TypeError, match="derivative"):
        dr.grad(lambda x: dnp.sum(np.asarray(x, dtype=float)))(W)
    with pytest.raises(TypeError, match="vmap: converting a batched value"):
        dr.vmap(lambda w: np.int64(w))(np.stack([W, W]))
