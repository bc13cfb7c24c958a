"""dualrev.numpy.fft against jax.numpy.fft: values, first and second derivatives in both modes, real and complex
input in double and single precision, vmap, NumPy's argument forms, and plain ``np.fft.*`` on traced values.

``check_against_jax`` (also used by tests/test_complex_linalg.py) compares one function of real or complex operands
with its JAX counterpart: the value, the JVP, linearize and the VJP (order 1), or forward over forward, forward over
reverse, reverse over forward and reverse over reverse (order 2), each in float64/complex128 and in
float32/complex64 against one JAX x64 computation, with random complex tangents and cotangents (JAX's conventions:
the VJP is the transpose of the JVP, a real operand keeps the real part of its cotangent).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import Tracer

jax.config.update("jax_enable_x64", True)

TOL = {1: {64: (1e-9, 1e-11), 32: (2e-4, 2e-4)}, 2: {64: (1e-8, 1e-10), 32: (2e-3, 2e-3)}}


def _random(rng, shape, dtype):
    """Values in (-2, 2) (real and imaginary parts) of a dtype, exact in single precision."""
    x = np.round(rng.uniform(-2, 2, shape) * 64) / 64
    if np.dtype(dtype).kind == "c":
        x = x + 1j * np.round(rng.uniform(-2, 2, shape) * 64) / 64
    return np.asarray(x, dtype)


def _single(dtype):
    return np.dtype({"f": np.float32, "c": np.complex64}[np.dtype(dtype).kind])


def _derivatives(jvp, vjp, f, xs, t1, t2, ct, ct2, order):
    if order == 1:
        out, tangent = jvp(f, xs, t1)
        return {"value": out, "jvp": tangent, "vjp": vjp(f, *xs)[1](ct)}

    def f_jvp(*xs):
        return jvp(f, xs, t1)[1]

    def f_vjp(*xs):
        return vjp(f, *xs)[1](ct)

    return {"fwd-over-fwd": jvp(f_jvp, xs, t2)[1], "fwd-over-rev": jvp(f_vjp, xs, t1)[1],
            "rev-over-rev": vjp(f_vjp, *xs)[1](ct2), "rev-over-fwd": vjp(f_jvp, *xs)[1](ct)}


def check_against_jax(f_dr, f_jax, xs, order, seed=0, single=True):
    """f_dr (dualrev) and f_jax (JAX) agree at operands xs (NumPy arrays, real or complex) in value and derivatives
    of the given order, in the operands' precision and (``single``) in single precision; results keep the dtypes of
    what they stand for (an output, or an operand)."""
    rng = np.random.default_rng(seed)
    xs = tuple(np.asarray(x) for x in xs)
    out = jax.tree.map(np.asarray, f_jax(*xs))
    t1, t2, ct2 = ([_random(rng, x.shape, x.dtype) for x in xs] for _ in range(3))
    ct = jax.tree.map(lambda o: _random(rng, o.shape, o.dtype), out)
    # jitted: XLA compiles the reference's derivatives as one computation instead of many small ones
    reference = jax.jit(lambda *args: _derivatives(jax.jvp, jax.vjp, f_jax, *args, order))
    want = jax.tree.map(np.asarray, reference(xs, tuple(t1), tuple(t2), ct, tuple(ct2)))
    runs = [lambda a: a] + ([lambda a: a.astype(_single(a.dtype))] if single else [])
    for cast in runs:
        got = _derivatives(dr.jvp, dr.vjp, f_dr, tuple(map(cast, xs)), tuple(map(cast, t1)), tuple(map(cast, t2)),
                           jax.tree.map(cast, ct), tuple(map(cast, ct2)), order)
        if order == 1:
            got["linearize"] = dr.linearize(f_dr, *map(cast, xs))[1](*map(cast, t1))
            want["linearize"] = want["jvp"]
        bits = 32 if cast(xs[0]).dtype in (np.float32, np.complex64) else 64
        rtol, atol = TOL[order][bits]
        for key, w in want.items():
            g = got[key]
            assert jax.tree.structure(g) == jax.tree.structure(w), f"{key}: structure {g!r}, want that of {w!r}"
            for gl, wl in zip(jax.tree.leaves(g), jax.tree.leaves(w)):
                assert isinstance(gl, (np.ndarray, np.generic)) and not isinstance(gl, Tracer), key
                assert gl.shape == wl.shape, f"{key}: shape {gl.shape}, want {wl.shape}"
                assert gl.dtype == cast(wl).dtype, f"{key}: dtype {gl.dtype}, want {cast(wl).dtype}"
                np.testing.assert_allclose(gl, wl, rtol, atol, err_msg=f"{key} ({bits} bits)")


# -- the transforms, on hypothesis-drawn shapes, lengths, axes and norms --

ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_D = ["fftn", "ifftn", "rfftn", "irfftn", "fft2", "ifft2", "rfft2", "irfft2"]
REAL_INPUT = {"rfft", "ihfft", "rfftn", "rfft2"}  # the others take complex input too
NORMS = st.sampled_from([None, "backward", "ortho", "forward"])


@st.composite
def one_d_case(draw):
    name = draw(st.sampled_from(ONE_D))
    shape = draw(st.sampled_from([(4,), (3, 5), (2, 3)]))
    axis = draw(st.sampled_from(range(-len(shape), len(shape))))
    n = draw(st.sampled_from([None, None, 1, 2, 5, 6]))
    dtype = np.float64 if name in REAL_INPUT else draw(st.sampled_from([np.float64, np.complex128]))
    return name, shape, dtype, {"n": n, "axis": axis, "norm": draw(NORMS)}


@st.composite
def n_d_case(draw):
    name = draw(st.sampled_from(N_D))
    shape = draw(st.sampled_from([(3, 4), (2, 3, 2)]))
    ndim = len(shape)
    kind = draw(st.sampled_from(["default", "axes", "s", "both"]))
    params = {"norm": draw(NORMS)}
    k = 2 if name.endswith("2") else draw(st.integers(1, ndim))
    if kind in ("axes", "both") or name.endswith("2"):
        params["axes"] = tuple(draw(st.permutations(range(ndim)))[:k])
    if kind in ("s", "both"):
        params["s"] = tuple(draw(st.sampled_from([2, 3, 5])) for _ in range(len(params.get("axes", range(k)))))
        params.setdefault("axes", tuple(range(ndim - len(params["s"]), ndim)))
    if name.endswith("2") and kind == "default":
        params.pop("axes")
    dtype = np.float64 if name in REAL_INPUT else draw(st.sampled_from([np.float64, np.complex128]))
    return name, shape, dtype, params


def _check_transform(name, shape, dtype, params, order):
    x = _random(np.random.default_rng(len(shape)), shape, dtype)
    check_against_jax(lambda x: getattr(dnp.fft, name)(x, **params),
                      lambda x: getattr(jnp.fft, name)(x, **params), (x,), order)


@pytest.mark.parametrize("order", [1, 2])
@given(case=one_d_case())
def test_one_dimensional_transforms_match_jax(case, order):
    _check_transform(*case, order)


@pytest.mark.parametrize("order", [1, 2])
@given(case=n_d_case())
def test_n_dimensional_transforms_match_jax(case, order):
    _check_transform(*case, order)


@pytest.mark.parametrize("name", ONE_D + N_D)
def test_every_transform_at_both_orders(name):
    """Each function once at its defaults, whatever hypothesis draws: a real loss of a complex spectrum."""
    x = _random(np.random.default_rng(1), (4, 3), np.float64 if name in REAL_INPUT else np.complex128)
    w = np.cos(np.arange(24.0))

    def loss(mod, abs_):
        def f(x):
            y = getattr(mod.fft, name)(x)
            return mod.sum(abs_(y) ** 2 * w[:y.size].reshape(y.shape).astype(y.real.dtype))
        return f

    check_against_jax(loss(dnp, dnp.abs), loss(jnp, jnp.abs), (x,), 2)


def test_values_and_dtypes_match_numpy():
    x = _random(np.random.default_rng(2), (3, 4), np.float32)
    for name in ONE_D + N_D:
        for norm in (None, "ortho", "forward"):
            got, want = getattr(dnp.fft, name)(x, norm=norm), getattr(np.fft, name)(x, norm=norm)
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got, want, 1e-6, 1e-6)


# -- NumPy's calling forms and the rest of the module --


def test_plain_numpy_calls_dispatch_to_dualrev():
    x = _random(np.random.default_rng(3), (5,), np.float64)

    def f(x):
        return np.sum(np.abs(np.fft.rfft(x, n=8)) ** 2) + np.real(np.fft.ifft(np.fft.fft(x)))[1]

    def f_jax(x):
        return jnp.sum(jnp.abs(jnp.fft.rfft(x, n=8)) ** 2) + jnp.real(jnp.fft.ifft(jnp.fft.fft(x)))[1]

    np.testing.assert_allclose(dr.grad(f)(x), jax.grad(f_jax)(x), 1e-12, 1e-12)
    np.testing.assert_allclose(dr.hessian(f)(x), jax.hessian(f_jax)(x), 1e-10, 1e-10)


def test_input_kinds():
    a, b = 0.5, 1.5
    assert np.allclose(dnp.fft.fft([a, b, 2.0]), np.fft.fft([a, b, 2.0]))  # lists, Python floats
    assert np.allclose(dnp.fft.fft(np.arange(4)), np.fft.fft(np.arange(4)))  # integers: cast as NumPy does
    g = dr.grad(lambda a, b: dnp.sum(dnp.abs(dnp.fft.fft([a, b, 2.0])) ** 2), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(g, (6 * a, 6 * b))  # Parseval: sum |fft(x)|^2 = n sum x^2
    g32 = dr.grad(lambda x: dnp.sum(dnp.abs(dnp.fft.rfft(x)) ** 2))(np.float32([1, 2, 3, 4]))
    assert g32.dtype == np.float32
    x0 = np.float64(0.25)  # a NumPy scalar inside a 0-d-safe composite
    assert dr.grad(lambda d: dnp.sum(dnp.fft.fftfreq(4, d)))(x0) == pytest.approx(jax.grad(
        lambda d: jnp.sum(jnp.fft.fftfreq(4, d)))(0.25))


def test_vmap_matches_a_loop():
    xs = _random(np.random.default_rng(4), (3, 4, 5), np.complex128)
    for name, kw in [("fft", {"n": 6}), ("irfft", {}), ("fftn", {"axes": (0,)}), ("rfft2", {"s": (3, 4)}),
                     ("ifft2", {})]:
        x = xs.real if name in REAL_INPUT else xs

        def f(v, name=name, kw=kw):
            return getattr(dnp.fft, name)(v, **kw)

        np.testing.assert_allclose(dr.vmap(f)(x), np.stack([f(v) for v in x]), 1e-12, 1e-12)
        grads = dr.vmap(dr.grad(lambda v, f=f: dnp.sum(dnp.abs(f(v)) ** 2)))(x)
        np.testing.assert_allclose(grads, np.stack([dr.grad(lambda v, f=f: dnp.sum(dnp.abs(f(v)) ** 2))(v)
                                                    for v in x]), 1e-12, 1e-12)


def test_frequencies_and_shifts():
    x = _random(np.random.default_rng(5), (4, 5), np.float64)
    for axes in (None, 0, (1,), (0, 1)):
        np.testing.assert_array_equal(dnp.fft.fftshift(x, axes), np.fft.fftshift(x, axes))
        for ours, theirs in [(np.fft.fftshift, jnp.fft.fftshift), (np.fft.ifftshift, jnp.fft.ifftshift)]:
            check_against_jax(lambda x, f=ours, axes=axes: f(x, axes), lambda x, f=theirs, axes=axes: f(x, axes),
                              (x,), 1)
    for n, d in [(5, 1.0), (8, 0.1)]:
        np.testing.assert_allclose(dnp.fft.fftfreq(n, d), np.fft.fftfreq(n, d))
        np.testing.assert_allclose(dnp.fft.rfftfreq(n, d), np.fft.rfftfreq(n, d))
        for ours, theirs in [(dnp.fft.fftfreq, jnp.fft.fftfreq), (dnp.fft.rfftfreq, jnp.fft.rfftfreq)]:
            check_against_jax(lambda d, f=ours, n=n: f(n, d), lambda d, f=theirs, n=n: f(n, d), (np.float64(d),), 2,
                              single=False)


def test_errors_name_the_function_and_the_way_out():
    z = np.ones(4, complex)
    with pytest.raises(TypeError, match=r"rfft: .*complex.*fft"):
        dr.jvp(lambda x: dnp.fft.rfft(x * (1 + 1j)), (np.ones(4),), (np.ones(4),))
    with pytest.raises(ValueError, match="invalid norm"):
        dnp.fft.fft(z, norm="sideways")
    with pytest.raises(ValueError, match="different lengths"):
        dnp.fft.fftn(np.ones((2, 2)), s=(2,), axes=(0, 1))
    with pytest.raises(TypeError, match="out= cannot hold a traced value"):
        dr.grad(lambda x: dnp.sum(dnp.abs(dnp.fft.fft(x, out=np.empty(4, complex)))))(np.ones(4))
    with pytest.raises(ValueError, match="repeated axes"):
        dr.grad(lambda x: dnp.sum(dnp.abs(dnp.fft.fftn(x, axes=(0, 0)))))(np.ones((2, 2)))
    out = np.empty(4, complex)
    assert dnp.fft.fft(np.arange(4.0), out=out) is out and np.allclose(out, np.fft.fft(np.arange(4.0)))
