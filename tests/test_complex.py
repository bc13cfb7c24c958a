"""Complex numbers, as JAX defines them: every primitive marked ``supports_complex`` against JAX at first and second
order, in both modes, in complex128 and complex64; vmap; and the entry points' conventions (grad of a real-valued
function of complex inputs, ``holomorphic=True``, complex cotangents, the errors that name the argument).

The oracle is the registry's: each primitive's spec (tests/test_primitives.py and tests/specs_*.py) draws its real
operands and parameters, and this file's complex variant adds imaginary parts to a drawn subset of them (at least
one), with tangents and cotangents complex where their value is. Imaginary parts are drawn away from the real axis
and inside the unit strip, which keeps every principal branch cut (log, sqrt, power, arcsin, arctan, ...) away.
tests/test_complex_refusal.py checks that every other primitive refuses complex values by name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import arrays, floats
from test_primitives import SPECS, Directions, derivatives, restrict

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import PRIMITIVES, Primitive, Tracer

# Call primitives (checkpoint, custom rules) carry user functions: their complex values are tested as composites below.
# Several outputs (eigh, qr, slogdet, svd) and the specs that return real and imaginary parts (fft, eig, eigvals):
# tests/test_complex_linalg.py and tests/test_fft.py check them against JAX with complex values, at both orders.
ELSEWHERE = {"fft", "eig", "eigvals"}
SUPPORTED = sorted(name for name, spec in SPECS.items()
                   if not spec.nondiff and PRIMITIVES[name].supports_complex and not PRIMITIVES[name].call
                   and not PRIMITIVES[name].multiple_results and name not in ELSEWHERE)
IMAG = floats(0.25, 0.875) | floats(-0.875, -0.25)  # off the real axis, inside |Im| < 1: no branch cut nearby
RUNS = {np.complex128: np.float64, np.complex64: np.float32}  # complex dtype -> the real operands' dtype
TOLERANCES = {np.complex128: (1e-9, 1e-12), np.complex64: (2e-3, 2e-4)}
ORDER_2_LOOSER = 5
# astype's drawn float dtypes, as casts to and from complex: complex -> real keeps the real part, as in JAX
ASTYPE_TO = {np.dtype(np.float16): np.dtype(np.float64), np.dtype(np.float32): np.dtype(np.complex64),
             np.dtype(np.float64): np.dtype(np.complex128)}


def _one(rng, shape, dtype):
    """Values in {±1/4, ..., ±2} (exact in every dtype); complex ones with an imaginary part of the same kind."""
    def part():
        return rng.integers(1, 9, shape) * rng.choice([-0.25, 0.25], shape)

    return np.asarray(part() + 1j * part() if np.dtype(dtype).kind == "c" else part(), dtype)


def _complex_directions(seed, xs, out) -> Directions:
    rng = np.random.default_rng(seed)
    ts = [tuple(_one(rng, np.shape(x), x.dtype) for x in xs) for _ in range(3)]
    return Directions(ts[0], ts[1], _one(rng, np.shape(out), out.dtype), ts[2])


def _assert_close(what, got, want, dtype, tol):
    assert isinstance(got, (np.ndarray, np.generic)) and not isinstance(got, Tracer), f"{what}: got {type(got)}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, want {dtype}"
    assert got.shape == np.shape(want), f"{what}: shape {got.shape}, want {np.shape(want)}"
    np.testing.assert_allclose(got.astype(np.complex128), np.asarray(want, np.complex128), *tol, err_msg=what)


def check_complex_against_jax(name, operands, imags, params, wrt, seed, order):
    """dualrev on complex operands (those with an imaginary part in ``imags``) against one JAX complex128
    computation, run in complex128 and in complex64 (with the real operands in float64 or float32)."""
    spec, prim = SPECS[name], PRIMITIVES[name]
    if name == "astype":
        params = dict(params, dtype=ASTYPE_TO[np.dtype(params["dtype"])])

    def operands_as(complex_dtype):
        return [np.asarray(x + 1j * im, complex_dtype) if im is not None else np.asarray(x, RUNS[complex_dtype])
                for x, im in zip(operands, imags)]

    def setup(fun, complex_dtype):
        xs = operands_as(complex_dtype)
        out = spec.call(prim, *xs, **params)  # NumPy's result: its dtype is the output's
        f = restrict(lambda *xs: fun(*xs, **params), xs, wrt)
        wrt_xs = tuple(xs[i] for i in wrt)
        return f, wrt_xs, _complex_directions(seed, wrt_xs, np.asarray(out)), np.asarray(out).dtype

    f, xs, d, _ = setup(spec.ref, np.complex128)
    want = jax.tree.map(np.asarray, derivatives(jax.jvp, jax.vjp, f, xs, d, order, rev_over_fwd=False))
    for complex_dtype in RUNS:
        f, xs, d, out_dtype = setup(lambda *xs, **params: spec.call(prim, *xs, **params), complex_dtype)
        got = derivatives(dr.jvp, dr.vjp, f, xs, d, order)
        if order == 1:
            got["linearize"], want["linearize"] = dr.linearize(f, *xs)[1](*d.t1), want["jvp"]
        rtol, atol = TOLERANCES[complex_dtype]
        tol = (rtol, atol) if order == 1 else (ORDER_2_LOOSER * rtol, ORDER_2_LOOSER * atol)
        for key, value in want.items():
            what = f"{name} {np.dtype(complex_dtype).name} {key}"
            if key in ("value", "jvp", "linearize", "fwd-over-fwd"):
                _assert_close(what, got[key], value, out_dtype, tol)
            else:  # cotangents of the differentiated operands, one per operand, in its dtype
                for i, (g, w, x) in enumerate(zip(got[key], value, xs)):
                    _assert_close(f"{what}[{i}]", g, w, x.dtype, tol)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", SUPPORTED)
@settings(max_examples=2)
@given(data=st.data())
def test_complex_derivatives_match_jax(name, order, data):
    operands, params = data.draw(SPECS[name].operands, label="operands, params")
    n = len(operands)
    complex_mask = data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any) if n > 1
                             else st.just([True]), label="complex operands")
    imags = [data.draw(arrays(np.shape(x), IMAG), label=f"imaginary part {i}") if c else None
             for i, (x, c) in enumerate(zip(operands, complex_mask))]
    wrt = tuple(i for i in range(n) if data.draw(st.booleans(), label=f"differentiate {i}")) or tuple(range(n))
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label="directions seed")
    check_complex_against_jax(name, operands, imags, params, wrt, seed, order)


def test_every_arithmetic_and_holomorphic_function_supports_complex():
    expected = {"add", "subtract", "multiply", "divide", "power", "negative", "exp", "exp2", "expm1", "log", "log2",
                "log10", "log1p", "sqrt", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                "arcsinh", "arccosh", "arctanh", "abs", "real", "imag", "conjugate", "where", "astype", "reshape",
                "transpose", "broadcast_to", "getitem", "scatter_add", "concatenate", "sum", "prod", "cumsum",
                "cumprod", "matmul", "einsum", "permute", "take_along_axis", "scatter_along_axis",
                "maximum", "minimum", "max", "min"}  # the last four order complex values lexicographically, as JAX
    assert expected <= set(SUPPORTED), sorted(expected - set(SUPPORTED))
    for name in ("copysign", "arctan2", "hypot", "logaddexp", "remainder"):  # NumPy has no complex loops for them
        assert not PRIMITIVES[name].supports_complex, name


# -- edge cases checked every run --


def test_abs_at_complex_zero_has_derivative_zero_as_in_jax():
    z = np.array([0j, 3 + 4j])
    got = dr.grad(lambda z: dnp.sum(dnp.abs(z)))(z)
    np.testing.assert_allclose(got, jax.grad(lambda z: jnp.sum(jnp.abs(z)))(z), rtol=1e-15)
    np.testing.assert_allclose(got, [0, (3 - 4j) / 5], rtol=1e-15)
    assert got[0] == 0
    assert dr.grad(lambda x: dnp.abs(x))(0.0) == 1.0  # the real kink: abs'(0) = 1, as in JAX


def test_arccosh_follows_numpy_principal_branch():
    # 1 / (sqrt(z - 1) sqrt(z + 1)): the derivative of NumPy's arccosh everywhere off its cut; JAX's
    # 1 / sqrt((z - 1)(z + 1)) has the wrong sign for Re z < 0 (checked here against finite differences).
    z, h = -0.5 + 0.25j, 1e-7
    fd = (np.arccosh(z + h) - np.arccosh(z - h)) / (2 * h)
    np.testing.assert_allclose(dr.grad(np.arccosh, holomorphic=True)(z), fd, rtol=1e-7)


# -- the entry points: JAX's conventions --


def test_grad_of_a_real_function_of_complex_input_is_jaxs():
    assert dr.grad(lambda z: np.abs(z) ** 2)(3 + 4j) == pytest.approx(6 - 8j)
    f = lambda z: dnp.real(z * z) + 3 * dnp.imag(z) + dnp.angle(z)
    z = np.array([3 + 4j, -1 + 0.5j])
    np.testing.assert_allclose(dr.grad(lambda z: dnp.sum(f(z)))(z), jax.grad(lambda z: jnp.sum(
        jnp.real(z * z) + 3 * jnp.imag(z) + jnp.angle(z)))(z), rtol=1e-13)
    value, g = dr.value_and_grad(lambda z: dnp.sum(dnp.abs(z)))(z)
    assert value == pytest.approx(np.sum(np.abs(z))) and g.dtype == np.complex128


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_holomorphic_derivatives_match_jax(dtype):
    f_dr = lambda z: dnp.sin(z) * z ** 2 + dnp.exp(z) / (z + 2)
    f_jax = lambda z: jnp.sin(z) * z ** 2 + jnp.exp(z) / (z + 2)
    z0 = dtype(0.5 + 0.25j)
    zs = np.array([0.5 + 0.25j, -1 + 1j], dtype)
    tol = TOLERANCES[dtype][0]
    g = dr.grad(f_dr, holomorphic=True)(z0)
    assert g.dtype == dtype
    np.testing.assert_allclose(g, jax.grad(f_jax, holomorphic=True)(z0), rtol=tol)
    np.testing.assert_allclose(dr.value_and_grad(f_dr, holomorphic=True)(z0)[1], g, rtol=tol)
    for ours, theirs in [(dr.jacfwd, jax.jacfwd), (dr.jacrev, jax.jacrev)]:
        J = ours(f_dr, holomorphic=True)(zs)
        assert J.dtype == dtype and J.shape == (2, 2)
        np.testing.assert_allclose(J, theirs(f_jax, holomorphic=True)(zs), rtol=tol)
    H = dr.hessian(lambda z: dnp.sum(f_dr(z)), holomorphic=True)(zs)
    np.testing.assert_allclose(H, jax.hessian(lambda z: jnp.sum(f_jax(z)), holomorphic=True)(zs), rtol=5 * tol)


def test_non_holomorphic_use_is_refused_naming_the_argument_and_the_way_out():
    with pytest.raises(TypeError, match=r"grad\(<lambda>\): the output must be real-valued.*complex128.*"
                                        r"pass holomorphic=True"):
        dr.grad(lambda z: z * z)(1j)
    with pytest.raises(TypeError, match=r"jacrev\(<lambda>\): the output .*pass holomorphic=True"):
        dr.jacrev(lambda x: x * 1j)(np.ones(2))
    with pytest.raises(TypeError, match=r"jacfwd\(<lambda>\): the input 0 .*complex128.*pass holomorphic=True"):
        dr.jacfwd(lambda z: dnp.abs(z))(np.ones(2, complex))
    with pytest.raises(TypeError, match=r"hessian|jacfwd"):
        dr.hessian(lambda z: dnp.abs(z) ** 2)(1j)
    with pytest.raises(TypeError, match=r"argument 0 of <lambda> has dtype float64; with holomorphic=True"):
        dr.grad(lambda z: z * z, holomorphic=True)(1.0)
    with pytest.raises(TypeError, match=r"with holomorphic=True the output must be complex"):
        dr.grad(lambda z: dnp.abs(z), holomorphic=True)(1j)
    # as in JAX: jacfwd differentiates a complex output of real inputs; the Jacobian is complex
    np.testing.assert_allclose(dr.jacfwd(lambda x: dnp.exp(1j * x))(np.array([0.5, 1.0])),
                               jax.jacfwd(lambda x: jnp.exp(1j * x))(np.array([0.5, 1.0])), rtol=1e-14)


def test_vjp_and_jvp_take_complex_cotangents_and_tangents():
    out, pullback = dr.vjp(lambda x: x * (1 + 2j), 0.5)
    assert out == 0.5 + 1j
    _, pullback_jax = jax.vjp(lambda x: x * (1 + 2j), 0.5)
    for ct in (1.0, 1j, np.complex64(2 - 1j), np.array(1j)):
        np.testing.assert_allclose(pullback(ct)[0], pullback_jax(np.complex128(ct))[0])
    with pytest.raises(TypeError, match="cotangent 0 has dtype complex128; the output has dtype float64"):
        dr.vjp(lambda x: x * 2.0, 0.5)[1](1j)
    z = np.array([1 + 1j, 2 - 1j])
    _, pullback = dr.vjp(lambda z: dnp.exp(z), z)
    np.testing.assert_allclose(pullback(np.array([1j, 1.0]))[0], np.exp(z) * [1j, 1.0])
    _, tangent = dr.jvp(dnp.exp, (z,), (np.array([1.0, 1j]),))
    np.testing.assert_allclose(tangent, np.exp(z) * [1.0, 1j])
    assert dr.jvp(dnp.exp, (1j,), (1.0,))[1] == pytest.approx(np.exp(1j))  # a Python number takes z's dtype
    _, f_jvp = dr.linearize(lambda z: dnp.sin(z) * z, z)
    np.testing.assert_allclose(f_jvp(np.array([1.0, 1j])), (np.cos(z) * z + np.sin(z)) * [1.0, 1j])


@pytest.mark.parametrize("kind", ["python complex", "numpy complex64 scalar", "0-d array", "list", "pytree"])
def test_complex_input_kinds(kind):
    x = {"python complex": 3 + 4j, "numpy complex64 scalar": np.complex64(3 + 4j), "0-d array": np.array(3 + 4j),
         "list": [3 + 4j, 1j], "pytree": {"a": np.array([3 + 4j]), "b": 1j}}[kind]

    def f(x):
        return sum(dnp.sum(dnp.abs(v) ** 2) for v in jax.tree.leaves(x, is_leaf=lambda v: isinstance(v, list)))

    f_jax = lambda x: sum(jnp.sum(jnp.abs(jnp.asarray(v)) ** 2) for v in jax.tree.leaves(
        x, is_leaf=lambda v: isinstance(v, list)))
    if kind == "list":
        f, f_jax = (lambda x: dnp.sum(dnp.abs(dnp.asarray(x)) ** 2)), (lambda x: jnp.sum(jnp.abs(jnp.asarray(x)) ** 2))
        x = np.array(x)
    got, want = dr.grad(f)(x), jax.grad(f_jax)(x)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    if kind == "numpy complex64 scalar":
        assert got.dtype == np.complex64  # complex64 stays complex64


def test_hvp_of_a_real_function_of_complex_input():
    # the Hessian-vector product of f(z) = sum |z|^4 along v: JAX's jvp of its grad
    z, v = np.array([1 + 2j, -0.5j]), np.array([0.5 - 1j, 1 + 0j])
    f_dr, f_jax = (lambda z: dnp.sum(dnp.abs(z) ** 4)), (lambda z: jnp.sum(jnp.abs(z) ** 4))
    np.testing.assert_allclose(dr.hvp(f_dr, (z,), (v,)), jax.jvp(jax.grad(f_jax), (z,), (v,))[1], rtol=1e-12)


# -- vmap --


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_vmap_of_complex_derivatives_matches_jax(dtype):
    def program(m):
        def f(z, w):
            y = m.exp(1j * m.real(z)) * w + m.conj(z) * m.sum(w * w) / (z + 2)
            return m.sum(m.abs(m.stack([y, y * m.sqrt(z)])) ** 2) + m.angle(z)

        return f

    zs = np.array([0.5 + 0.25j, -1 + 1j, 2 - 0.5j], dtype)
    ws = np.array([[1 + 1j, 0.5], [2j, -1], [1, 1 - 1j]], dtype)
    tol = TOLERANCES[dtype][0]
    for transform in ("grad", "jvp"):
        if transform == "grad":
            got = dr.vmap(dr.grad(program(dnp), (0, 1)))(zs, ws)
            want = jax.vmap(jax.grad(program(jnp), (0, 1)))(zs, ws)
        else:
            got = dr.vmap(lambda z, w: dr.jvp(program(dnp), (z, w), (z * 0 + 1j, w))[1])(zs, ws)
            want = jax.vmap(lambda z, w: jax.jvp(program(jnp), (z, w), (z * 0 + 1j, w))[1])(zs, ws)
        for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=10 * tol, atol=tol)
    J = dr.vmap(dr.jacfwd(lambda z: dnp.sin(z) * z, holomorphic=True))(ws)
    np.testing.assert_allclose(J, jax.vmap(jax.jacfwd(lambda z: jnp.sin(z) * z, holomorphic=True))(ws),
                               rtol=10 * tol)


# -- NumPy functions composed of the primitives --

COMPOSITES = {  # name -> (program on (z, w), with m = np or jnp)
    "var": lambda m, z, w: m.var(z) + m.std(w),
    "mean": lambda m, z, w: m.abs(m.mean(z * w)),
    "vdot": lambda m, z, w: m.real(m.vdot(z, w)) + 2 * m.imag(m.vdot(z, w)),
    "dot inner outer": lambda m, z, w: m.abs(m.dot(z, w)) + m.abs(m.inner(z, w)) + m.sum(m.abs(m.outer(z, w))),
    "tensordot einsum trace": lambda m, z, w: m.abs(m.tensordot(z, w, 1)) + m.abs(m.trace(m.einsum("i,j->ij", z, w))),
    "moveaxis stack concatenate": lambda m, z, w: m.sum(m.abs(m.moveaxis(m.stack([z, w]), 0, 1) ** 2)) + m.sum(
        m.abs(m.concatenate([z, w]) ** 3)),
    "prod cumsum cumprod": lambda m, z, w: m.abs(m.prod(z)) + m.sum(m.abs(m.cumsum(w))) + m.sum(m.abs(m.cumprod(z))),
    "at updates": lambda m, z, w: m.sum(m.abs(z.at[1].set(w[0] * 2).at[np.array([0, 0])].add(w[:2]).at[2].multiply(w[1]))),
    "complex construction": lambda m, z, w: m.sum(m.abs(m.real(z) + 1j * m.imag(w))),
    "square reciprocal": lambda m, z, w: m.sum(m.abs(m.square(z) + m.reciprocal(w))),
    "cov corrcoef": lambda m, z, w: m.sum(m.abs(m.cov(m.stack([z, w * z])))) + m.sum(m.abs(m.corrcoef(
        m.stack([z, w])))),
    "nanvar nanstd": lambda m, z, w: m.nanvar(z) + m.nanstd(w, ddof=1),
    "float_power": lambda m, z, w: m.sum(m.abs(m.float_power(z, 2) + m.float_power(2.0, w))),
    "sort diff cross": lambda m, z, w: m.sum(m.abs(m.diff(m.sort(z * w)))) + m.sum(m.abs(m.cross(z, w))),
}


@pytest.mark.parametrize("case", sorted(COMPOSITES))
def test_numpy_composites_of_complex_values_match_jax(case):
    z, w = np.array([1 + 2j, 3 - 1j, -0.5 + 0.25j]), np.array([0.3 - 1j, 2 + 0.5j, 1j])
    program = COMPOSITES[case]
    got = dr.grad(lambda z, w: program(np, z, w), (0, 1))(z, w)
    want = jax.grad(lambda z, w: program(jnp, z, w), (0, 1))(z, w)
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=1e-12)


def test_fabs_refuses_complex_values_as_numpy_does():
    with pytest.raises(TypeError, match="fabs.*complex.*use dnp.abs"):
        dr.grad(lambda z: dnp.sum(dnp.fabs(z)))(np.array([1j]))


def test_in_place_writes_of_complex_values():
    def f(z, w):
        y = z.copy()
        y[1] = w[2] * 3
        y += w
        y *= 2j
        return np.sum(np.abs(y))

    def f_jax(z, w):
        return jnp.sum(jnp.abs((z.at[1].set(w[2] * 3) + w) * 2j))

    z, w = np.array([1 + 2j, 3 - 1j, -0.5 + 0.25j]), np.array([0.3 - 1j, 2 + 0.5j, 1j])
    for g, w_ in zip(dr.grad(f, (0, 1))(z, w), jax.grad(f_jax, (0, 1))(z, w)):
        np.testing.assert_allclose(g, w_, rtol=1e-12)


# -- check_grads --


def test_check_grads_takes_complex_values_and_catches_a_wrong_complex_rule():
    z = np.array([0.5 + 0.25j, -1 + 1j])
    dr.check_grads(lambda z: dnp.sin(z) * dnp.conj(z) + dnp.abs(z) * z, (z,), order=2)
    dr.check_grads(lambda x: dnp.abs(dnp.exp(1j * x) + x), (np.array([0.3, 1.2]),), order=2)
    dr.check_grads(lambda z: dnp.real(z) * dnp.imag(z), (z.astype(np.complex64),), order=1)

    # the conjugate with its tangent taken as dz: right for real values, wrong for complex ones
    conj_forgotten = Primitive("conj_forgotten", np.conjugate, jvp=lambda ts, ans, xs, params: ts[0],
                               vjp=lambda ct, ans, xs, params, argnums: [ct], supports_complex=True)
    dr.check_grads(conj_forgotten, (np.array([0.5, 2.0]),))
    for mode in ("fwd", "rev"):
        with pytest.raises(AssertionError, match="JVP" if mode == "fwd" else "VJP"):
            dr.check_grads(conj_forgotten, (z,), modes=(mode,))


def test_sparse_hessians_through_complex_intermediates():
    # |z| of a complex z is curved (|x| of a real x is piecewise linear): the sparsity pattern must say so
    x = np.array([0.7, -0.3, 0.2])
    for f in [lambda x: dnp.sum(dnp.abs(x + 1j)), lambda x: dnp.sum(dnp.abs(dnp.exp(1j * x) * x[::-1])),
              lambda x: dnp.sum(dnp.real(x * (1 + 2j)) ** 2 + dnp.imag(dnp.conj(x * 1j) * x))]:
        np.testing.assert_allclose(dr.sparse.hessian(f)(x).toarray(), dr.hessian(f)(x), rtol=1e-12, atol=1e-14)


# -- custom rules --


def test_checkpoint_and_custom_jvp_carry_complex_values_as_in_jax():
    z = np.array([0.5 + 0.25j, -1 + 1j])

    def inner(m):
        return lambda z: m.sin(z) * m.conj(z)

    f_dr, f_jax = dr.checkpoint(inner(dnp)), jax.checkpoint(inner(jnp))
    np.testing.assert_allclose(dr.grad(lambda z: dnp.sum(dnp.abs(f_dr(z))))(z),
                               jax.grad(lambda z: jnp.sum(jnp.abs(f_jax(z))))(z), rtol=1e-12)

    def with_rule(custom_jvp, m):
        @custom_jvp
        def g(z):
            return m.exp(z)

        g.defjvp(lambda primals, tangents: (m.exp(primals[0]), m.exp(primals[0]) * tangents[0]))
        return g

    g_dr, g_jax = with_rule(dr.custom_jvp, dnp), with_rule(jax.custom_jvp, jnp)
    for transform in (lambda t, g, m: t.grad(lambda z: m.sum(m.abs(g(z * 1j))))(z),
                      lambda t, g, m: t.jvp(g, (z,), (z,))[1],
                      lambda t, g, m: t.vjp(g, z)[1](z)[0]):
        np.testing.assert_allclose(transform(dr, g_dr, dnp), transform(jax, g_jax, jnp), rtol=1e-12)

    @dr.custom_vjp
    def h(z):
        return z * 2.0

    h.defvjp(lambda z: (z * 2.0, None), lambda res, ct: (ct * 2.0,))
    assert dr.grad(lambda z: dnp.abs(h(z)))(1j) == jax.grad(lambda z: jnp.abs(z * 2.0))(1j)


def test_custom_vjp_with_complex_values_matches_jax():
    def make(lib):
        @lib.custom_vjp
        def f(z, w):
            return z ** 2 * w

        f.defvjp(lambda z, w: (f(z, w), (z, w)), lambda r, ct: (ct * 2 * r[0] * r[1], ct * r[0] ** 2))
        return f

    f, fj = make(dr), make(jax)
    z, w = np.array([1 + 2j, 0.5 - 1j]), np.array([0.3, -1.2])
    np.testing.assert_allclose(dr.grad(lambda z: dnp.sum(dnp.abs(f(z, w)) ** 2))(z),
                               jax.grad(lambda z: jnp.sum(jnp.abs(fj(z, w)) ** 2))(z), rtol=1e-12)
    np.testing.assert_allclose(dr.jacrev(lambda z: f(z, w), holomorphic=True)(z),
                               jax.jacrev(lambda z: fj(z, w), holomorphic=True)(z), rtol=1e-12)
    # a complex cotangent for the real w keeps its real part (JAX passes the user's complex value through)
    g = dr.grad(lambda w: dnp.sum(dnp.real(f(z, w))))(w)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, np.real(z ** 2))
    # forward mode transposes the backward rule
    np.testing.assert_allclose(dr.jvp(lambda z: f(z, w), (z,), (np.array([1j, 1 + 0j]),))[1],
                               2 * z * w * np.array([1j, 1]), rtol=1e-12)
