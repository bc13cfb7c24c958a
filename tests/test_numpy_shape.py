"""The shape and indexing composites of dualrev.numpy (shape.py, indexing.py) against JAX.

Each case is one function written once for a NumPy-like module ``m``: called with ``dnp`` on plain arrays (the
value), with ``np`` on traced values (so NumPy's own functions must dispatch to dualrev) for jvp, vjp, a
Hessian-vector product (forward over reverse) and a gradient of a gradient (reverse over reverse), and with ``jnp``
for the JAX reference, in float64; dualrev also runs in float32, where every result must stay float32. The
primitives they are built from are checked one by one in tests/test_primitives.py; ``.at[...]`` updates are checked
on hypothesis-drawn indices of every kind (tests/oracle.py: ``indices``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import Tracer

from oracle import arrays, indices, shapes

jax.config.update("jax_enable_x64", True)


def _u(*shape, seed=0):
    """Fixed values in [-2, 2], exact in float32 (multiples of 1/8)."""
    return (np.random.default_rng(seed + sum(shape)).integers(-16, 17, shape) / 8).astype(np.float64)


def _directions(shapes_, seed):
    """Tangents or cotangents in {±1/4, ..., ±2}: never 0, exact in every float dtype."""
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(1, 9, s) * rng.choice([-0.25, 0.25], s) for s in shapes_)


I = np.array  # integer index arrays, short

CASES = {  # id -> (f(m, *xs) for m in np / dnp / jnp, shapes of the float operands)
    "ravel": (lambda m, x: m.ravel(x), [(2, 3)]),
    "reshape -1": (lambda m, x: m.reshape(x, (3, -1)), [(2, 3)]),
    "transpose axes": (lambda m, x: m.transpose(x, (1, 2, 0)), [(2, 3, 1)]),
    "permute_dims": (lambda m, x: m.permute_dims(x, (1, 0)), [(2, 3)]),
    "swapaxes": (lambda m, x: m.swapaxes(x, 0, -1), [(2, 1, 3)]),
    "moveaxis int": (lambda m, x: m.moveaxis(x, -1, 0), [(2, 1, 3)]),
    "moveaxis sequence": (lambda m, x: m.moveaxis(x, (0, 1), (-1, 0)), [(2, 1, 3)]),
    "expand_dims tuple": (lambda m, x: m.expand_dims(x, (0, -1)), [(2, 3)]),
    "squeeze axis": (lambda m, x: m.squeeze(x, (0, 2)), [(1, 3, 1)]),
    "squeeze all": (lambda m, x: m.squeeze(x), [(1, 3, 1)]),
    "broadcast_to": (lambda m, x: m.broadcast_to(x, (2, 3, 3)), [(3, 1)]),
    "atleast_1d 0-d": (lambda m, x: m.atleast_1d(x), [()]),
    "atleast_2d 1-d": (lambda m, x: m.atleast_2d(x), [(3,)]),
    "atleast_3d 1-d, 2-d": (lambda m, x, y: m.atleast_3d(x, y), [(3,), (2, 3)]),
    "concatenate axis -1": (lambda m, x, y: m.concatenate([x, y], axis=-1), [(2, 1), (2, 3)]),
    "concatenate axis None": (lambda m, x, y: m.concatenate((x, y), axis=None), [(2, 1), (3,)]),
    "stack axis 1": (lambda m, x, y, z: m.stack([x, y, z], axis=1), [(2, 3)] * 3),
    "stack with a constant": (lambda m, x: m.stack([x, m.ones(3, x.dtype)], axis=-1), [(3,)]),
    "hstack 1-d": (lambda m, x, y: m.hstack([x, y]), [(2,), (3,)]),
    "hstack 2-d": (lambda m, x, y: m.hstack((x, y)), [(2, 1), (2, 3)]),
    "vstack 1-d and 2-d": (lambda m, x, y: m.vstack([x, y]), [(3,), (2, 3)]),
    "dstack": (lambda m, x, y: m.dstack([x, y]), [(2,), (1, 2)]),
    "column_stack": (lambda m, x, y: m.column_stack([x, y]), [(2,), (2, 3)]),
    "split sections": (lambda m, x: m.split(x, 3, axis=1), [(2, 3)]),
    "array_split uneven": (lambda m, x: m.array_split(x, 2), [(3, 2)]),
    "array_split points": (lambda m, x: m.array_split(x, [1, 1, 2], axis=-1), [(2, 3)]),
    "hsplit": (lambda m, x: m.hsplit(x, [2]), [(2, 3)]),
    "vsplit": (lambda m, x: m.vsplit(x, 2), [(2, 3)]),
    "dsplit": (lambda m, x: m.dsplit(x, [1]), [(1, 2, 3)]),
    "unstack": (lambda m, x: m.unstack(x, axis=1), [(2, 3)]),
    "tile int": (lambda m, x: m.tile(x, 2), [(2, 3)]),
    "tile more axes": (lambda m, x: m.tile(x, (2, 1, 3)), [(2, 2)]),
    "tile 0-d": (lambda m, x: m.tile(x, (2, 3)), [()]),
    "repeat scalar flat": (lambda m, x: m.repeat(x, 2), [(2, 3)]),
    "repeat scalar axis": (lambda m, x: m.repeat(x, 3, axis=-1), [(2, 2)]),
    "repeat per element": (lambda m, x: m.repeat(x, I([2, 0, 3]), axis=0), [(3, 2)]),
    "flip all": (lambda m, x: m.flip(x), [(2, 3)]),
    "flip axes": (lambda m, x: m.flip(x, (0, 2)), [(2, 1, 3)]),
    "fliplr": (lambda m, x: m.fliplr(x), [(2, 3)]),
    "flipud": (lambda m, x: m.flipud(x), [(3,)]),
    "roll flat": (lambda m, x: m.roll(x, 4), [(2, 3)]),
    "roll axis": (lambda m, x: m.roll(x, -1, axis=1), [(2, 3)]),
    "roll tuples": (lambda m, x: m.roll(x, (1, 2, 1), axis=(0, 1, 1)), [(2, 3)]),
    "rot90": (lambda m, x: m.rot90(x), [(2, 3)]),
    "rot90 k=2": (lambda m, x: m.rot90(x, 2), [(2, 3)]),
    "rot90 k=-1 axes": (lambda m, x: m.rot90(x, -1, axes=(2, 0)), [(2, 1, 3)]),
    "pad int": (lambda m, x: m.pad(x, 1), [(2, 3)]),
    "pad (before, after)": (lambda m, x: m.pad(x, (1, 2)), [(2,)]),
    "pad per axis with constants": (lambda m, x: m.pad(x, ((1, 0), (2, 1)), constant_values=((1.5, -2), (3, 4))),
                                    [(2, 3)]),
    "pad ((b, a),) scalar constant": (lambda m, x: m.pad(x, ((0, 2),), constant_values=-0.5), [(2, 1)]),
    "pad edge": (lambda m, x: m.pad(x, ((2, 1), (0, 2)), mode="edge"), [(2, 3)]),
    "pad reflect": (lambda m, x: m.pad(x, 2, mode="reflect"), [(3,)]),
    "pad symmetric": (lambda m, x: m.pad(x, ((1, 3), (1, 0)), mode="symmetric"), [(2, 2)]),
    "pad wrap": (lambda m, x: m.pad(x, 4, mode="wrap"), [(3,)]),
    "diag 1-d k=1": (lambda m, x: m.diag(x, 1), [(3,)]),
    "diag 1-d k=-2": (lambda m, x: m.diag(x, k=-2), [(2,)]),
    "diag 2-d k=-1": (lambda m, x: m.diag(x, -1), [(3, 2)]),
    "diagonal": (lambda m, x: m.diagonal(x), [(2, 3)]),
    "diagonal offset axes": (lambda m, x: m.diagonal(x, 1, 2, 0), [(2, 2, 3)]),
    "diagonal negative offset": (lambda m, x: m.diagonal(x, -1, -1, -2), [(3, 3, 2)]),
    "trace": (lambda m, x: m.trace(x), [(3, 3)]),
    "trace offset axes": (lambda m, x: m.trace(x, -1, 1, 2), [(2, 3, 2)]),
    "triu": (lambda m, x: m.triu(x, 1), [(2, 3, 3)]),
    "tril": (lambda m, x: m.tril(x, -1), [(3, 2)]),
    "take flat repeated": (lambda m, x: m.take(x, I([5, 0, 5, -1])), [(2, 3)]),
    "take axis repeated 2-d indices": (lambda m, x: m.take(x, I([[1, 1], [0, 2]]), axis=1), [(2, 3)]),
    "take scalar index": (lambda m, x: m.take(x, 1, axis=0), [(2, 3)]),
    "take mode wrap": (lambda m, x: m.take(x, I([4, -4]), axis=-1, mode="wrap"), [(2, 3)]),
    "take_along_axis": (lambda m, x: m.take_along_axis(x, I([[0, 0], [2, 1]]), axis=1), [(2, 3)]),
    "take_along_axis broadcast": (lambda m, x: m.take_along_axis(x, I([[[1]], [[0]]]), axis=0), [(2, 2, 3)]),
    "take_along_axis None": (lambda m, x: m.take_along_axis(x, I([5, 5, 0]), axis=None), [(2, 3)]),
    "index negative steps None ...": (lambda m, x: x[::-2, None, ..., 1], [(3, 2, 2)]),
    "index repeated integers": (lambda m, x: x[I([1, 1, 0]), :2], [(2, 3)]),
    "index mask": (lambda m, x: x[I([[True, False, True], [False, True, True]])], [(2, 3)]),
    "index separated arrays": (lambda m, x: x[I([[0], [1]]), :, I([2, 2])], [(2, 2, 3)]),
    "methods": (lambda m, x: x.take(I([1, 1])) + x.diagonal() + x.trace() + x.repeat(2)[:2] + x.swapaxes(0, 1)[0],
                [(2, 2)]),
}


def _leaves(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _like(out, leaves):
    """leaves in the structure of out (a list or tuple of results, or one)."""
    return type(out)(leaves) if isinstance(out, (list, tuple)) else leaves[0]


def _scalar(m, f, ws):
    """A scalar with a non-zero second derivative: sum over the outputs of sum(w * sin(out))."""
    def g(*xs):
        return sum(m.sum(w * m.sin(o)) for w, o in zip(ws, _leaves(f(m, *xs))))

    return g


def _inputs(f, xs, seed=0):
    """Directions for xs (tangents ts) and for f's outputs (cotangents cts, weights ws of the scalar function)."""
    out_shapes = [np.shape(o) for o in _leaves(f(dnp, *xs))]
    return (tuple(np.asarray(x, np.float64) for x in xs), _directions([np.shape(x) for x in xs], seed),
            _directions(out_shapes, seed + 1), _directions(out_shapes, seed + 2))


def _jax_affine(f, xs, ts, cts, ws):
    """JAX references for an affine f (every shape and indexing function: f(x) = J x + c). The second-order results
    (hvp, and the gradient of <grad g, t>, which equals it) of g = sum(w * sin(f)) are J^T (-w sin(f) J t): one more
    pullback, far cheaper for XLA to compile than differentiating twice. A non-affine f fails the comparison."""
    fj = lambda *xs: f(jnp, *xs)  # noqa: E731
    value, tangent = jax.jvp(fj, xs, ts)
    pullback = jax.vjp(fj, *xs)[1]
    second = [-w * jnp.sin(v) * t for w, v, t in zip(ws, _leaves(value), _leaves(tangent))]
    hvp = pullback(_like(value, second))
    return {"value": value, "jvp": tangent, "vjp": pullback(_like(value, list(cts))), "hvp": hvp, "rev_rev": hvp}


def _jax_any(f, xs, ts, cts, ws):
    """JAX references for any f: value, jvp, vjp, and the hvp (forward over reverse) of g = sum(w * sin(f)), which
    is also the reference of the gradient of <grad g, t> (reverse over reverse): Hessians are symmetric."""
    fj = lambda *xs: f(jnp, *xs)  # noqa: E731
    g, argnums = _scalar(jnp, f, ws), tuple(range(len(xs)))
    value, tangent = jax.jvp(fj, xs, ts)
    hvp = jax.jvp(jax.grad(g, argnums), xs, ts)[1]
    vjp = jax.vjp(fj, *xs)[1](_like(value, list(cts)))
    return {"value": value, "jvp": tangent, "vjp": vjp, "hvp": hvp, "rev_rev": hvp}


def _jax(reference, f, inputs):
    return jax.tree.map(np.asarray, jax.jit(lambda args: reference(f, *args))(inputs))


TOL = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 2e-5, "atol": 1e-5}}


def _close(what, got, want, dtype):
    got, want = _leaves(got), _leaves(want)
    assert len(got) == len(want), f"{what}: {len(got)} results, want {len(want)}"
    for g, w in zip(got, want):
        assert isinstance(g, (np.ndarray, np.generic)) and not isinstance(g, Tracer), f"{what}: got {type(g)}"
        assert g.dtype == dtype, f"{what}: dtype {g.dtype}, want {np.dtype(dtype)}"
        assert g.shape == w.shape, f"{what}: shape {g.shape}, want {w.shape}"
        np.testing.assert_allclose(g, w, err_msg=what, **TOL[dtype])


def _dualrev(f, xs, ts, cts, ws):
    """What _jax_* compute, with dualrev: the value from dnp on plain arrays, the derivatives from np on traced
    values (so NumPy's own functions must dispatch to dualrev)."""
    argnums = tuple(range(len(xs)))
    out = f(dnp, *xs)
    g = _scalar(np, f, ws)

    def rev_rev(*xs):  # <grad g(x), t>
        return sum(dnp.sum(d * t) for d, t in zip(dr.grad(g, argnums)(*xs), ts))

    return {"value": out, "jvp": dr.jvp(lambda *xs: f(np, *xs), xs, ts)[1],
            "vjp": dr.vjp(lambda *xs: f(np, *xs), *xs)[1](_like(out, list(cts))),
            "hvp": dr.hvp(g, xs, ts), "rev_rev": dr.grad(rev_rev, argnums)(*xs)}


def check(f, inputs, want):
    """dualrev in float64 and float32 against the JAX float64 results ``want``; float32 stays float32."""
    for dtype in (np.float64, np.float32):
        got = _dualrev(f, *(tuple(np.asarray(a, dtype) for a in arrays) for arrays in inputs))
        for key in want:
            _close(f"{key} {np.dtype(dtype).name}", got[key], want[key], dtype)


def check_against_jax(f, xs, seed=0):
    inputs = _inputs(f, xs, seed)
    check(f, inputs, _jax(_jax_any, f, inputs))


def _case_inputs(case):
    f, in_shapes = CASES[case]
    return _inputs(f, tuple(_u(*s, seed=i) for i, s in enumerate(in_shapes)))


@pytest.fixture(scope="module")
def case_references():
    """The JAX references of every case, compiled as one function: XLA compiling is nearly all the time."""
    inputs = {case: _case_inputs(case) for case in CASES}
    return jax.tree.map(np.asarray, jax.jit(
        lambda inputs: {case: _jax_affine(CASES[case][0], *args) for case, args in inputs.items()})(inputs))


@pytest.mark.parametrize("case", list(CASES))
def test_composite_matches_jax(case, case_references):
    check(CASES[case][0], _case_inputs(case), case_references[case])


# -- arrays from lists that mix traced values and numbers --


def test_array_and_stack_of_mixed_lists():
    def f(m, x):  # np.array cannot dispatch (it converts with __array__, which refuses): dnp.array on traced values
        a = jnp if m is jnp else dnp
        return a.array([[x[0] * x[1], 1.0], [2, m.sin(x[1])]]) + a.asarray([x[1], 0.5]) + m.stack([x[0], 2.0])

    check_against_jax(f, (_u(2),))
    for dtype in (np.float32, np.float64):
        x = np.asarray([0.5, -1.0], dtype)
        out = dr.jvp(lambda x: dnp.array([x[0], 1.0, 2]), (x,), (np.ones_like(x),))
        assert out[0].dtype == out[1].dtype == dtype  # numbers are weakly typed, as in NumPy 2 and JAX
        assert dr.grad(lambda x: dnp.sum(dnp.array([[x[0], 3.0]], dtype=np.float64, ndmin=3)))(x).dtype == dtype
    assert dr.jvp(lambda x: dnp.array([x, x], dtype=np.float32), (np.ones(2),), (np.ones(2),))[1].dtype == np.float32
    # np.stack dispatches when a traced value is one of the elements
    assert np.array_equal(dr.grad(lambda x: dnp.sum(np.stack([x, 2.0]) * np.array([3.0, 1.0])))(1.5), 3.0)


def test_array_without_traced_values_is_numpy():
    for f in (dnp.array, dnp.asarray):
        a = f([[1, 2], [3, 4]])
        assert type(a) is np.ndarray and a.dtype == np.array([1]).dtype
    assert dnp.array([1.0], ndmin=2).shape == (1, 1)
    x = np.ones(2)
    assert dnp.asarray(x) is x and dnp.array(x) is not x


def test_ragged_lists_with_traced_values_raise():
    with pytest.raises(ValueError, match="same shape"):
        dr.grad(lambda x: dnp.sum(dnp.array([x, [1.0, 2.0]])))(1.0)


# -- .at[...] functional updates --


def _at(m, op, x, v, idx, kw=None):
    ref = (x.at if m is jnp or isinstance(x, Tracer) else dnp.at(x))[idx]
    return getattr(ref, op)(v, **(kw or {}))


def _unique(x_shape, idx):
    positions = np.arange(int(np.prod(x_shape))).reshape(x_shape)[idx].ravel()
    return len(np.unique(positions)) == positions.size


def _sequential(op, x, v, idx):
    """JAX reference for repeated positions, one update at a time in C order (each update has a unique index)."""
    positions = np.arange(x.size).reshape(x.shape)[idx].ravel()
    flat, vs = x.ravel(), jnp.broadcast_to(v, np.shape(np.empty(x.shape)[idx])).ravel()
    for k, p in enumerate(positions):
        flat = getattr(flat.at[p], op)(vs[k])
    return flat.reshape(x.shape)


@st.composite
def at_operands(draw):
    shape = draw(shapes(min_dims=1))
    idx = draw(indices(shape))
    target = np.empty(shape)[idx].shape
    v_shape = target[draw(st.integers(0, len(target))):]  # v broadcasts to x[idx]
    return draw(arrays(shape)), draw(arrays(v_shape, st.sampled_from([0.5, -1.5, 2.0, 1.25]))), idx


UPDATES = ("set", "add", "subtract", "multiply", "divide")


@given(operands=at_operands())
@example(operands=(_u(3, 2), np.float32([[0.5, -1.5]]), (I([[2, 0], [2, 2]]), None, slice(None, None, -1))))
def test_at_updates_match_jax(operands):
    """x.at[idx].op(v) for every op and indices of every kind: value, jvp, vjp, hvp and reverse over reverse, in x
    and v. With repeated positions, JAX cannot differentiate multiply and divide: the reference is then one update
    at a time."""
    x, v, idx = operands
    unique = _unique(x.shape, idx)

    def f(m, x, v):
        if m is not jnp:
            return [_at(m, op, x, v, idx) for op in UPDATES]
        return [_at(m, op, x, v, idx) if op in ("set", "add", "subtract")
                else _at(m, op, x, v, idx, {"unique_indices": True}) if unique  # JAX needs the hint to differentiate
                else _sequential(op, x, v, idx) for op in UPDATES]

    check_against_jax(f, (x.astype(np.float64), v.astype(np.float64)))


def test_at_get_and_traced_at():
    x = _u(2, 3)
    idx = (I([1, 1]), slice(None, None, -1))
    check_against_jax(lambda m, x: (x.at[idx].get() if m is not dnp else dnp.at(x)[idx].get()), (x,))
    # on traced values .at works directly; values cast to x's dtype
    y = dr.jvp(lambda x: x.at[0, I([2, 2, 0])].set(np.array([1.0, 2.0, 3.0])), (x.astype(np.float32),),
               (np.ones((2, 3), np.float32),))
    assert y[0].dtype == y[1].dtype == np.float32
    np.testing.assert_array_equal(y[0][0], [3.0, x[0, 1], 2.0])  # the last update wins
    np.testing.assert_array_equal(y[1], [[0, 1, 0], [1, 1, 1]])


def test_at_set_repeated_last_update_gets_the_derivative():
    v = np.array([1.0, 2.0, 3.0])
    g = dr.grad(lambda v: dnp.sum(dnp.at(np.zeros(4))[I([1, 1, 2])].set(v) * np.arange(4.0)))(v)
    np.testing.assert_array_equal(g, [0.0, 1.0, 2.0])  # as JAX


def test_at_on_plain_arrays_does_not_modify_them():
    x = np.zeros((2, 2))
    y = dnp.at(x)[0].set(1.0)
    z = dnp.at(x)[I([0, 0]), 1].add(1.0)
    assert type(y) is np.ndarray and not x.any()
    np.testing.assert_array_equal(y, [[1, 1], [0, 0]])
    np.testing.assert_array_equal(z, [[0, 2], [0, 0]])


def test_at_errors():
    with pytest.raises(TypeError, match="traced"):
        dr.grad(lambda x: dnp.sum(x.at[x].set(0.0)))(np.ones(2))
    with pytest.raises(IndexError):
        dnp.at(np.ones(2))[5].set(0.0)
    with pytest.raises(IndexError):
        def f(x):
            x[5] = 1.0  # in-place writes are x.at[idx].set(v) (tests/test_numpy_inplace.py), errors included
            return dnp.sum(x)
        dr.grad(f)(np.ones(2))


# -- argument handling and errors --


def test_non_integer_indices_and_traced_counts_raise():
    x = np.ones(3)
    with pytest.raises(IndexError, match="integers"):
        dnp.take(x, np.array([0.5]))
    with pytest.raises(TypeError, match="traced"):
        dr.grad(lambda x: dnp.sum(dnp.take(x, x)))(x)
    with pytest.raises(TypeError, match="traced"):
        dr.grad(lambda x: dnp.sum(dnp.repeat(x, x)))(x)
    with pytest.raises(ValueError, match="equal division"):
        dnp.split(x, 2)
    with pytest.raises(NotImplementedError, match="mode"):
        dnp.pad(x, 1, mode="mean")
    with pytest.raises(ValueError, match="negative"):
        dnp.pad(x, -1)


def test_pad_with_traced_constant():
    # JAX cannot differentiate jnp.pad in constant_values; the derivative is the number of padded elements
    x = np.ones((2, 3))
    g = dr.grad(lambda c: dnp.sum(dnp.pad(x, ((1, 0), (0, 2)), constant_values=c)))(2.0)
    assert g == 3 * 5 - 6
    g = dr.grad(lambda c: dnp.sum(dnp.pad(x, 1, constant_values=dnp.stack([c, 2 * c]))))(np.float32(2.0))
    assert g.dtype == np.float32 and g == 3 * (4 * 5 - 6) / 2


def test_results_match_numpy_on_plain_arrays():
    """dnp on plain arrays gives exactly NumPy's results and dtypes (integers included)."""
    x = np.arange(24).reshape(2, 3, 4)
    for case, (f, in_shapes) in CASES.items():
        xs = tuple(_u(*s, seed=i) for i, s in enumerate(in_shapes))
        for got, want in zip(_leaves(f(dnp, *xs)), _leaves(f(np, *xs))):
            assert got.dtype == want.dtype and np.array_equal(got, want), case
    for f in (lambda m: m.pad(x, 1, constant_values=7), lambda m: m.roll(x, 3), lambda m: m.diag(x[0]),
              lambda m: m.tile(x[0], 2), lambda m: m.repeat(x, [1, 2], axis=0), lambda m: m.tril(x),
              lambda m: m.trace(x), lambda m: m.take(x, [-1]), lambda m: m.rot90(x, 1, (1, 2)),
              lambda m: m.array_split(x, [1, 5, -1], axis=-1), lambda m: m.hstack([x[0], x[1]])):
        for got, want in zip(_leaves(f(dnp)), _leaves(f(np)), strict=True):
            assert got.dtype == want.dtype and np.array_equal(got, want)
