"""vmap: every primitive's batching rule against a Python loop over the batch, and vmap composed with jvp and vjp.

Each primitive of the registry takes its operands from its oracle spec (tests/test_primitives.py). A drawn
non-empty subset of the operands is batched (the others are shared by every example), and the examples differ: an
elementwise primitive's examples are permutations of the drawn elements (each stays in its domain), another's are
the drawn operands scaled by 1, 3/4, 5/4 (which keeps matrices symmetric positive definite, well conditioned, of full
rank). Results must equal the loop's in value, shape and dtype. For differentiable primitives, the JVP and VJP rules
are batched too (vmap of jvp, vmap of vjp: tangents and cotangents differ per example even where the operand is
shared), and the VJP of a vmapped function sums the shared operands' cotangents over the batch.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualrev as dr
from dualrev.core import PRIMITIVES
from test_primitives import SPECS, nonempty_subsets

SCALES = (1.0, 0.75, 1.25)


def examples(operands, prim, size, rng):
    """``size`` variants of the operands, in the domain of the primitive."""
    out = []
    for k in range(size):
        if prim.batch == "elementwise":
            out.append(tuple(np.asarray(x).ravel()[rng.permutation(np.size(x))].reshape(np.shape(x)) if k else x
                             for x in operands))
        else:
            out.append(tuple(np.asarray(x) * SCALES[k] for x in operands))
    return out


def stack(results):
    if isinstance(results[0], tuple):
        return tuple(np.stack([r[i] for r in results]) for i in range(len(results[0])))
    return np.stack(results)


def assert_same(what, got, want, dtype):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), f"{what}: {len(want)} results wanted"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(f"{what}[{i}]", g, w, dtype)
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, the loop gives {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, the loop gives {want.dtype}"
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (2e-5, 2e-6)
    np.testing.assert_allclose(got, want, rtol, atol, err_msg=what, equal_nan=True)


def test_every_primitive_has_a_batching_rule():
    missing = sorted(name for name, prim in PRIMITIVES.items() if prim.batch is None)
    assert not missing, f"primitives without a batching rule: {missing}"


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_vmap_matches_a_loop(name, data):
    spec, prim = SPECS[name], PRIMITIVES[name]
    operands, params = data.draw(spec.operands, label="operands")
    n = len(operands)
    batched = data.draw(nonempty_subsets(n), label="batched")
    size = data.draw(st.integers(1, 3), label="batch size")
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    operands = tuple(np.asarray(x, dtype) for x in operands)
    exs = [tuple(ex[i] if i in batched else operands[i] for i in range(n))
           for ex in examples(operands, prim, size, rng)]
    in_axes = tuple(0 if i in batched else None for i in range(n))
    stacked = tuple(np.stack([ex[i] for ex in exs]) if i in batched else operands[i] for i in range(n))

    def f(*xs):
        return spec.call(prim, *xs, **params)

    assert_same(f"{name} vmap", dr.vmap(f, in_axes)(*stacked), stack([f(*ex) for ex in exs]), dtype)
    if spec.nondiff:
        return

    out = f(*exs[0])
    like = (lambda a: np.asarray(rng.integers(1, 9, np.shape(a)) * 0.25, np.result_type(a)))
    ts = [tuple(like(x) for x in ex) for ex in exs]
    cts = [tuple(like(o) for o in out) if isinstance(out, tuple) else like(out) for _ in exs]
    t_stacked = tuple(np.stack([t[i] for t in ts]) for i in range(n))
    ct_stacked = stack(cts)

    got = dr.vmap(lambda xs, t: dr.jvp(f, xs, t)[1], (in_axes, 0))(stacked, t_stacked)
    assert_same(f"{name} vmap of jvp", got, stack([dr.jvp(f, ex, t)[1] for ex, t in zip(exs, ts)]), dtype)

    got = dr.vmap(lambda xs, ct: dr.vjp(f, *xs)[1](ct), (in_axes, 0))(stacked, ct_stacked)
    want = stack([dr.vjp(f, *ex)[1](ct) for ex, ct in zip(exs, cts)])
    assert_same(f"{name} vmap of vjp", got, want, dtype)

    got = dr.vjp(dr.vmap(f, in_axes), *stacked)[1](ct_stacked)
    want = tuple(w if i in batched else np.sum(w, axis=0) for i, w in enumerate(want))
    assert_same(f"{name} vjp of vmap", got, want, dtype)


# ---- linalg, contractions and indexing composites (functions built from primitives) ----

import dualrev.numpy as dnp

_RNG = np.random.default_rng(7)


def _r(*shape):
    return _RNG.normal(size=shape)


def _against_loop(f, args, in_axes=0, grad=True):
    """vmap(f) equals a loop over the batch (value, shape, dtype), and so does vmap(grad(sum of f)) for the float
    arguments when ``grad``."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    n = next(np.shape(a)[0] for a, ax in zip(args, axes) if ax == 0)

    def example(i):
        return [a[i] if ax == 0 else a for a, ax in zip(args, axes)]

    got = dr.vmap(f, in_axes)(*args)
    outs = [f(*example(i)) for i in range(n)]
    want = tuple(np.stack(o) for o in zip(*outs)) if isinstance(outs[0], tuple) else np.stack(outs)
    assert_same("vmap", got, want, np.float64)
    if grad:
        argnums = tuple(i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f")

        def total(*xs):
            out = f(*xs)
            return sum(dnp.sum(o) for o in (out if isinstance(out, tuple) else (out,)) if o.dtype.kind == "f")

        got = dr.vmap(dr.grad(total, argnums), in_axes)(*args)
        loop = [dr.grad(total, argnums)(*example(i)) for i in range(n)]
        assert_same("vmap of grad", got, tuple(np.stack(g) for g in zip(*loop)), np.float64)


_A = _r(3, 4, 4) + 4 * np.eye(4)  # well conditioned
_M = _r(3, 5, 3)
_V = _r(3, 4)


@pytest.mark.parametrize("in_axes", [(0, 0), (None, 0), (0, None)])
def test_vmap_solve_with_a_vector_right_hand_side(in_axes):
    a, b = (x[0] if ax is None else x for x, ax in zip((_A, _V), in_axes))
    _against_loop(dnp.linalg.solve, (a, b), in_axes)


@pytest.mark.parametrize("ord", [None, 1, 3, np.inf, -np.inf, 0])
def test_vmap_vector_norms_with_a_zero_example(ord):
    x = np.concatenate([_V[:2], np.zeros((1, 4))])  # derivative 0 at the zero vector, per example
    _against_loop(lambda x: dnp.linalg.norm(x, ord=ord), (x,))


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
def test_vmap_matrix_norms_with_a_zero_example(ord):
    x = np.concatenate([_M[:2], np.zeros((1, 5, 3))])
    _against_loop(lambda x: dnp.linalg.norm(x, ord=ord, axis=(0, 1), keepdims=True), (x,))


def test_vmap_cond_with_a_zero_example_is_inf():
    x = np.concatenate([_A[:2], np.zeros((1, 4, 4))])  # s_max / s_min is 0 / 0 there: inf, as NumPy's cond
    _against_loop(dnp.linalg.cond, (x,), grad=False)
    _against_loop(lambda x: dnp.linalg.cond(x, 1), (_A,))


def test_vmap_matrix_rank_per_example():
    mats = np.stack([np.eye(3), np.ones((3, 3)), np.zeros((3, 3))])
    assert list(dr.vmap(dnp.linalg.matrix_rank)(mats)) == [3, 1, 0]
    _against_loop(lambda x: dnp.linalg.matrix_rank(x, tol=np.array([0.5, 2.0])), (np.stack([_A[:2]] * 2),),
                  grad=False)
    _against_loop(dnp.linalg.matrix_rank, (np.array([[0.0, 0.0], [0.0, 2.0]]),), grad=False)  # vectors: 1 or 0


def test_vmap_lstsq_and_a_batch_of_mixed_rank():
    _against_loop(lambda a, b: tuple(dnp.linalg.lstsq(a, b)), (_M, _r(3, 5)), grad=False)
    _against_loop(lambda a, b: dnp.linalg.lstsq(a, b)[0], (_M, _r(3, 5, 2)))
    mixed = np.concatenate([_M[:2], np.ones((1, 5, 3))])  # residuals: shape (1,) for full rank, (0,) for the last
    with pytest.raises(TypeError, match="lstsq: under vmap"):
        dr.vmap(dnp.linalg.lstsq)(mixed, _r(3, 5))


@pytest.mark.parametrize("name, f, args, in_axes", [
    ("einsum ... with a shared operand", lambda x, y: dnp.einsum("...ij,j", x, y), (_M, _r(3)), (0, None)),
    ("einsum trace and dtype", lambda x: dnp.einsum("ii", x, dtype=np.float64), (_A,), 0),
    ("dot", dnp.dot, (_M, _r(3, 3, 2)), 0),
    ("vdot", dnp.vdot, (_M, _M), 0),
    ("inner", dnp.inner, (_M, _r(2, 3)), (0, None)),
    ("outer", dnp.outer, (_V, _M), 0),
    ("tensordot", lambda x, y: dnp.tensordot(x, y, axes=([0], [1])), (_M, _r(3, 3, 5)), 0),
    ("kron", dnp.kron, (_M, _A[0]), (0, None)),
    ("matvec", dnp.matvec, (_A, _V), 0),
    ("vecmat", dnp.vecmat, (_V[0], _A), (None, 0)),
    ("linalg.cross", dnp.linalg.cross, (_r(3, 3), _r(3)), (0, None)),
    ("multi_dot", lambda x, y, z: dnp.linalg.multi_dot([x, y, z]), (_V, _A, _r(4, 2)), (0, 0, None)),
])
def test_vmap_contraction_composites(name, f, args, in_axes):
    _against_loop(f, args, in_axes)


def test_vmap_einsum_without_a_free_letter_loops():
    from dualrev.numpy.contractions import _LETTERS, einsum_p

    subscripts = f"{_LETTERS[:26]},{_LETTERS[26:]}->{_LETTERS}"  # 52 letters: none left for the batch axis
    x, y = _r(2, *[1] * 25, 2), _r(*[1] * 25, 2)
    _against_loop(lambda x, y: einsum_p(x, y, subscripts=subscripts, optimize="auto"), (x, y), (0, None))


def test_vmap_einsum_path_reads_one_example_shape():
    path = dr.vmap(lambda x, y: dnp.sum(x) + len(dnp.einsum_path("ij,jk", x, y)[0]), (0, None))(_M, _A[0, :3])
    np.testing.assert_allclose(path, _M.sum(axis=(1, 2)) + 2)


_I = np.array([[0, 2, 2], [3, -1, 0], [1, 1, 1]])  # one row of indices per example


@pytest.mark.parametrize("name, f, args, in_axes", [
    ("take, batched x", lambda x: dnp.take(x, np.array([2, 0, 0]), axis=1), (_M,), 0),
    ("take, batched indices", lambda x, i: dnp.take(x, i, axis=1), (_M[0], _I % 3), (None, 0)),
    ("take, both batched, flat", lambda x, i: dnp.take(x, i), (_M, _I), (0, 0)),
    ("take, a batched scalar index", lambda x, i: dnp.take(x, i, axis=0), (_M, _I[:, 0]), (0, 0)),
    ("take, wrap", lambda x, i: dnp.take(x, i + 7, axis=0, mode="wrap"), (_V, _I), (0, 0)),
    ("take, clip", lambda x, i: dnp.take(x, 3 * i, axis=0, mode="clip"), (_V, _I), (0, 0)),
    ("take_along_axis, batched indices", lambda x, i: dnp.take_along_axis(x, i[:, None], axis=0),
     (_M[0], _I % 3), (None, 0)),
    ("take_along_axis, labels", lambda z, y: dnp.take_along_axis(z, y[None], axis=0), (_V, _I[:, 0]), (0, 0)),
    ("diag", lambda x: dnp.diag(x, 1), (_V,), 0),
    ("diagonal, trace", lambda x: (dnp.diagonal(x, 1, 1, 0), dnp.trace(x, -1)), (_M,), 0),
    ("triu, tril", lambda x: (dnp.triu(x, 1), dnp.tril(x[0])), (_M,), 0),
    (".at set, batched x", lambda x: dnp.at(x)[1:, 0].set(0.0), (_M,), 0),
    (".at set, batched values", lambda x, v: dnp.at(x)[np.array([0, 0, 2])].set(v), (_M[0], _r(3, 3, 3)), (None, 0)),
    (".at add, both batched", lambda x, v: dnp.at(x)[np.array([0, 0, 2])].add(v), (_M, _r(3, 3, 3)), 0),
    (".at multiply, repeated", lambda x, v: dnp.at(x)[np.array([0, 0, 2]), 1].multiply(v), (_M, _r(3, 3)), 0),
    (".at divide", lambda x, v: dnp.at(x)[..., 1].divide(v), (_M, 2 + _r(3, 5) ** 2), 0),
    (".at subtract, mask", lambda x, v: dnp.at(x)[np.array([True, False, True, True, False])].subtract(v),
     (_M, _r(3, 3)), (0, 0)),
    (".at get", lambda x: dnp.at(x)[np.array([1, 1])].get(), (_M,), 0),
])
def test_vmap_indexing_composites(name, f, args, in_axes):
    _against_loop(f, args, in_axes)


def test_vmap_batched_index_errors_are_clear():
    with pytest.raises(TypeError, match="batched index"):  # .at takes its index as a parameter: one for all
        dr.vmap(lambda x, i: dnp.at(x)[i].set(0.0))(_V, _I[:, 0])
    with pytest.raises(TypeError, match="traced indices must be integers"):
        dr.vmap(lambda x: dnp.take(x, x))(_V)


# ---- ufuncs and reductions composites, and the special points of their primitives' rules ----

_Z = np.array([[0.0, 0.5, -1.5, 2.0], [-0.0, 0.0, 1.0, 0.0], [2.0, -1.0, 0.25, 3.0]])  # zeros in some examples
_T = np.array([[1.0, 2.0, 2.0, 0.5], [-1.0, -1.0, -1.0, -1.0], [3.0, 0.0, 3.0, -2.0]])  # ties
_NF = np.array([[1.0, np.nan, np.inf, -2.0], [0.5, 1.5, -0.5, 2.0], [-np.inf, 0.0, np.nan, 1.0]])  # non-finite
_S = np.sort(_r(3, 5), axis=1)


@pytest.mark.parametrize("name, f, args", [
    # branches taken only where some example has a special value (a check over every example, not a shared value)
    ("sinc at 0", dnp.sinc, (_Z,)),
    ("power 0 ** 0", lambda x, y: dnp.power(x, y), (np.abs(_Z), _Z)),
    ("hypot at (0, 0)", dnp.hypot, (_Z, _Z[::-1] * _Z)),
    ("logaddexp at inf", lambda x: dnp.logaddexp(dnp.where(x > 2.5, np.inf, x), x), (_Z,)),
    ("remainder, fmod", lambda x, y: (dnp.remainder(x, y), dnp.fmod(x, y)), (_T * 1.75, _T + 4.5)),
    ("nan_to_num", lambda x: dnp.nan_to_num(x, nan=1.5, posinf=9.0), (_NF,)),
    ("fmax, fmin with NaN", lambda x, y: (dnp.fmax(x, y), dnp.fmin(x, y)), (_NF, _T)),
    ("clip traced bounds", lambda x, lo: dnp.clip(x, lo, lo + 1.0), (_Z, _T)),
    ("round, divmod", lambda x: (dnp.round(x * 1.37, 1) + x, dnp.divmod(x, 0.75)[1]), (_Z,)),
    # reductions
    ("max, min, ptp with ties", lambda x: (dnp.max(x), dnp.min(x, axis=0), dnp.ptp(x, axis=-1)), (_T[:, None] * _T,)),
    ("average, traced weights", lambda x, w: dnp.average(x, axis=0, weights=w, returned=True), (_M, _r(3, 5) ** 2 + 0.25)),
    ("average, no weights", lambda x: dnp.average(x, axis=1, returned=True), (_M,)),
    ("var, std", lambda x: (dnp.var(x, axis=0, ddof=1), dnp.std(x, keepdims=True)), (_M,)),
    ("nansum, nanmean", lambda x: (dnp.nansum(x, axis=0), dnp.nanmean(x)), (np.where(_NF == np.inf, 0.0, _NF),)),
    ("sort", lambda x: (dnp.sort(x, axis=0), dnp.sort(x, axis=None)), (_T[:, None] * _T,)),
    ("median", lambda x: (dnp.median(x, axis=(0, 1), keepdims=True), dnp.median(x[:, :2], axis=0)), (_M,)),
])
def test_vmap_elementwise_and_reduction_composites(name, f, args):
    _against_loop(f, args)


@pytest.mark.parametrize("name, f, args, in_axes", [
    ("argmax, argmin", lambda x: (dnp.argmax(x, axis=-1, keepdims=True), dnp.argmin(x)), (_T[:, None] * _T,), 0),
    ("argsort", lambda x: (dnp.argsort(x, axis=0, kind="stable"), dnp.argsort(x, axis=None)), (_M,), 0),
    ("count_nonzero, any, all", lambda x: (dnp.count_nonzero(x), dnp.count_nonzero(x, axis=0, keepdims=True),
                                           dnp.any(x < -0.5), dnp.all(x >= 0, axis=0)), (_Z,), 0),
    ("searchsorted, batched values", lambda a, v: dnp.searchsorted(a, v, side="right"), (_S[0], _T), (None, 0)),
    ("searchsorted, batched sorted arrays", lambda a, v: (dnp.searchsorted(a, v), dnp.searchsorted(a, v, "right")),
     (np.concatenate([_S[:, :2], _S[:, 1:2], _S[:, 2:]], axis=1), np.stack([_S[:, ::2], _S[:, 1:4]], axis=1)), 0),
    ("searchsorted, batched sorter", lambda a, v: dnp.searchsorted(a, v, sorter=dnp.argsort(a)), (_M[:, 0], _T), 0),
])
def test_vmap_queries_per_example(name, f, args, in_axes):
    _against_loop(f, args, in_axes, grad=False)


def test_vmap_of_vmap_sort_and_searchsorted():
    x = _r(2, 3, 6)

    def f(a):
        return dnp.sort(a), dnp.searchsorted(dnp.sort(a), a[::2])

    got = dr.vmap(dr.vmap(f))(x)
    want = [np.stack([np.stack([f(x[i, j])[k] for j in range(3)]) for i in range(2)]) for k in range(2)]
    assert_same("vmap of vmap", got, tuple(want), np.float64)


@pytest.mark.parametrize("f", [dnp.nonzero, lambda x: dnp.where(x > 0), lambda x: x.nonzero()])
def test_vmap_of_data_dependent_shapes_raises(f):
    with pytest.raises(TypeError, match="(nonzero|where): under vmap the number of selected elements differs"):
        dr.vmap(f)(_Z)
