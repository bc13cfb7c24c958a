"""The contractions family against JAX: the composites (dot, vdot, inner, outer, tensordot, kron, matvec, vecmat,
vecdot) and every calling form of einsum, called as plain ``np.`` functions on traced values (which tests their
dispatch too): value, JVP and VJP (first order), forward over reverse and reverse over reverse (second order), in
float64 and float32. Hand-picked einsum cases run through the primitive oracle of tests/test_primitives.py.

The einsum primitive itself is in the oracle's SPECS (tests/specs_contractions.py), on hypothesis-drawn subscripts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import arrays, shapes
from test_primitives import check_against_jax

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import NUMPY_TABLE, PRIMITIVES, Tracer
from dualrev.numpy.contractions import _strategy, canonical_subscripts

jax.config.update("jax_enable_x64", True)

TOL = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (2e-3, 5e-4)}


def _u(*shape, seed=0):
    """Fixed values in [-3, 3], exact in float32."""
    return np.random.default_rng(sum(shape) + 11 * seed).uniform(-3, 3, shape).astype(np.float32).astype(np.float64)


def _directions(rng, shape):
    return np.asarray(rng.integers(1, 9, shape) * rng.choice([-0.25, 0.25], shape), np.float64)


def _close(what, got, want, dtype, tol):
    assert isinstance(got, (np.ndarray, np.generic)) and not isinstance(got, Tracer), f"{what}: {type(got)}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, want {dtype}"
    assert np.shape(got) == np.shape(want), f"{what}: shape {np.shape(got)}, want {np.shape(want)}"
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), *tol, err_msg=what)


def check(f, f_jax, *operands, seed=0):
    """f (dualrev, through NumPy's functions) against f_jax at operands, all differentiated: the value, jvp, vjp,
    forward over reverse and reverse over reverse, for float64 and float32 operands; results keep the dtype."""
    operands = [np.asarray(x, np.float64) for x in operands]
    rng = np.random.default_rng(seed)
    t = tuple(_directions(rng, x.shape) for x in operands)
    out_shape = np.shape(f_jax(*operands))
    ct = _directions(rng, out_shape)
    ct2 = tuple(_directions(rng, x.shape) for x in operands)

    def results(jvp, vjp, f, xs, t, ct, ct2):
        value, tangent = jvp(f, xs, t)
        pull = vjp(f, *xs)[1](ct)

        def f_vjp(*xs):
            return vjp(f, *xs)[1](ct)

        return {"value": value, "jvp": tangent, "vjp": pull, "fwd-over-rev": jvp(f_vjp, xs, t)[1],
                "rev-over-rev": vjp(f_vjp, *xs)[1](ct2)}

    # one compiled JAX computation per case: much cheaper than JAX compiling each operation on its own
    want = jax.tree.map(np.asarray, jax.jit(lambda *xs: results(jax.jvp, jax.vjp, f_jax, xs, t, ct, ct2))(*operands))
    for dtype in map(np.dtype, (np.float64, np.float32)):
        got = results(dr.jvp, dr.vjp, f, *(tuple(x.astype(dtype) for x in xs) for xs in (operands, t)),
                      ct.astype(dtype), tuple(x.astype(dtype) for x in ct2))
        rtol, atol = TOL[dtype]
        for key, w in want.items():
            tol = (rtol, atol) if key in ("value", "jvp", "vjp") else (5 * rtol, 5 * atol)
            if isinstance(w, tuple):
                for i, (g, wi) in enumerate(zip(got[key], w)):
                    _close(f"{dtype} {key}[{i}]", g, wi, dtype, tol)
            else:
                _close(f"{dtype} {key}", got[key], w, dtype, tol)


# -- dot, vdot, inner, outer, matmul --

DOT_SHAPES = [((), (2, 3)), ((3,), ()), ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2)),
              ((2, 2, 3), (3,)), ((2, 2, 3), (3, 2)), ((3,), (2, 3, 2)), ((2, 3), (2, 3, 2)), ((2, 1, 3), (2, 3, 3))]


@pytest.mark.parametrize("sa, sb", DOT_SHAPES)
def test_dot(sa, sb):
    check(np.dot, jnp.dot, _u(*sa), _u(*sb, seed=1))


def test_dot_method_and_matmul_operator():
    a, b = _u(2, 3), _u(3, 2, seed=1)
    check(lambda a, b: a.dot(b), jnp.dot, a, b)
    check(lambda a, b: a @ b, jnp.matmul, a, b)
    check(lambda a, b: b.T @ a.T, lambda a, b: b.T @ a.T, a, b)
    check(lambda a: np.ones((4, 2), a.dtype) @ a, lambda a: jnp.ones((4, 2)) @ a, a)  # __rmatmul__


@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((2, 3), (3, 2)), ((2, 3), (6,)), ((), ())])
def test_vdot_flattens(sa, sb):
    check(np.vdot, jnp.vdot, _u(*sa), _u(*sb, seed=1))


@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (4, 3)), ((2, 2, 3), (3, 3)),
                                    ((), (2, 3)), ((2, 3), ())])
def test_inner_sums_over_last_axes(sa, sb):
    check(np.inner, jnp.inner, _u(*sa), _u(*sb, seed=1))


@pytest.mark.parametrize("sa, sb", [((3,), (2,)), ((2, 3), (4,)), ((), (2, 2))])
def test_outer_flattens(sa, sb):
    check(np.outer, jnp.outer, _u(*sa), _u(*sb, seed=1))


# -- tensordot: every form of axes --


@pytest.mark.parametrize("sa, sb, axes", [
    ((2, 3, 2), (3, 2, 4), 2), ((2, 3), (3, 2), 1), ((2, 3), (2,), 0), ((), (2,), 0), ((2, 3), (3, 2), 2 - 2),
    ((2, 3), (3, 2), (1, 0)), ((2, 3), (2, 4), (0, 0)), ((2, 3, 4), (4, 3), ([1, 2], [1, 0])),
    ((2, 3, 4), (4, 2), ([-1, 0], [0, -1])), ((3, 2), (2, 3), [[0, 1], [1, 0]]), ((2, 3), (3, 2), ([], [])),
])
def test_tensordot_axes_forms(sa, sb, axes):
    check(lambda a, b: np.tensordot(a, b, axes), lambda a, b: jnp.tensordot(a, b, axes), _u(*sa), _u(*sb, seed=1))


def test_tensordot_default_axes_and_errors():
    a, b = _u(2, 3, 2), _u(3, 2, 2, seed=1)
    np.testing.assert_allclose(dnp.tensordot(a, b), np.tensordot(a, b))
    with pytest.raises(ValueError, match="shape-mismatch"):
        dnp.tensordot(a, b, ([0], [0]))
    with pytest.raises(ValueError, match="out of bounds"):
        dnp.tensordot(a, b, ([3], [0]))
    with pytest.raises(ValueError, match="repeated"):
        dnp.tensordot(a, b, ([1, 1], [0, 0]))


@st.composite
def tensordot_operands(draw):
    """Operands and an axes argument in any of its forms, contracting k axes (anywhere, paired in any order)."""
    form = draw(st.sampled_from(["pair of sequences", "int", "negative", "pair of ints"]))
    sa = draw(shapes(min_dims=1 if form == "pair of ints" else 0))
    na = len(sa)
    k = 1 if form == "pair of ints" else draw(st.integers(0, na))
    free_b = list(draw(shapes(max_dims=3 - k)))
    nb = k + len(free_b)
    if form == "int":
        axes_a, axes_b = list(range(na - k, na)), list(range(k))
    else:
        axes_a, axes_b = draw(st.permutations(range(na)))[:k], draw(st.permutations(range(nb)))[:k]
    sb = [None] * nb
    for i, j in zip(axes_a, axes_b):
        sb[j] = sa[i]
    free = iter(free_b)
    sb = tuple(next(free) if n is None else n for n in sb)
    axes = {"int": k, "pair of ints": (axes_a[0], axes_b[0]) if k else None,
            "negative": ([i - na for i in axes_a], [j - nb for j in axes_b]),
            "pair of sequences": (axes_a, axes_b)}[form]
    return draw(arrays(sa)), draw(arrays(sb)), axes


@given(data=st.data())
def test_tensordot_drawn(data):
    a, b, axes = data.draw(tensordot_operands(), label="a, b, axes")
    check(lambda a, b: np.tensordot(a, b, axes), lambda a, b: jnp.tensordot(a, b, axes), a, b)


# -- kron --


@pytest.mark.parametrize("sa, sb", [((2, 3), (2, 2)), ((2,), (3,)), ((2,), (2, 3)), ((2, 2, 1), (3,)), ((), (2,)),
                                    ((), ())])
def test_kron(sa, sb):
    check(np.kron, jnp.kron, _u(*sa), _u(*sb, seed=1))


# -- matvec, vecmat, vecdot (NumPy 2 gufuncs) --


def test_matvec_vecmat_vecdot():
    check(np.matvec, jnp.matvec, _u(2, 1, 3, 2), _u(4, 2, seed=1))
    check(np.vecmat, jnp.vecmat, _u(3), _u(2, 3, 2, seed=1))
    check(np.vecdot, jnp.vecdot, _u(2, 3), _u(3, seed=1))
    check(lambda x, y: dnp.vecdot(x, y, axis=0), lambda x, y: jnp.vecdot(x, y, axis=0), _u(3, 2), _u(3, 1, seed=1))


# -- einsum: every calling form, through the public function --

EINSUM_FORMS = [
    ("ij,jk->ik", [(2, 3), (3, 2)]),  # explicit
    ("ij,jk", [(2, 3), (3, 2)]),  # implicit
    ("ji,jk", [(3, 2), (3, 2)]),  # implicit output is alphabetical: a transpose here
    ("bA,Ab", [(2, 3), (3, 2)]),  # upper case sorts first
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("ii->", [(2, 2)]), ("iij->ji", [(2, 2, 3)]), ("jii->", [(1, 2, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (2, 3, 2)]),  # broadcast batch axes
    ("...i,...i", [(2, 3), (3,)]),  # implicit output with '...'
    ("i...,i...->...", [(3, 2, 1), (3, 2)]),
    ("ij,ij->ij", [(2, 1), (2, 3)]),  # size-1 broadcasting of a letter
    ("ij->", [(2, 3)]), ("ij->j", [(2, 3)]), ("i,j->ij", [(2,), (3,)]), ("ij->ji", [(2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]), ("i,i,i->", [(3,), (3,), (3,)]), ("ab,bc,ca", [(2, 3), (3, 2), (2, 2)]),
    ("i,->i", [(3,), ()]), (",", [(), ()]),
]


@pytest.mark.parametrize("subscripts, shapes", EINSUM_FORMS)
def test_einsum_forms(subscripts, shapes):
    xs = [_u(*s, seed=i) for i, s in enumerate(shapes)]
    check(lambda *xs: np.einsum(subscripts, *xs), lambda *xs: jnp.einsum(subscripts, *xs), *xs)


def test_einsum_interleaved_form_optimize_and_dtype():
    a, b, c = _u(2, 3), _u(3, 2, seed=1), _u(2, 2, seed=2)
    check(lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), jnp.matmul, a, b)
    check(lambda a, b: np.einsum(a, [0, 1], b, [1, 2]), jnp.matmul, a, b)
    check(lambda a, b: np.einsum(a, [Ellipsis, 1], b.T, [Ellipsis, 1], [Ellipsis]),
          lambda a, b: jnp.sum(a * b.T, -1), a, b)
    path = np.einsum_path("ij,jk,kl->il", a, b, c, optimize="optimal")[0]
    check(lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c, optimize=path), lambda a, b, c: a @ b @ c, a, b, c)
    want = dr.hessian(lambda a: dnp.sum((a @ b @ c) ** 2))(a)
    for optimize in (True, False, "greedy", "optimal"):  # the same values and derivatives whatever the strategy
        h = dr.hessian(lambda a, opt=optimize: dnp.sum(np.einsum("ij,jk,kl->il", a, b, c, optimize=opt) ** 2))(a)
        np.testing.assert_allclose(h, want, rtol=1e-12)
    x = _u(2, 3).astype(np.float32)
    assert dr.grad(lambda x: np.einsum("ij->", x, dtype=np.float64))(x).dtype == np.float32
    assert np.einsum("ij->", x, dtype=np.float64).dtype == dnp.einsum("ij->", x, dtype=np.float64).dtype
    with pytest.raises(TypeError, match="cannot cast"):
        dnp.einsum("ij->", _u(2, 3), dtype=np.float32)


def test_einsum_path_is_a_query():
    a, b = _u(2, 3), _u(3, 2, seed=1)
    want = np.einsum_path("ij,jk->ik", a, b)
    seen = []
    dr.grad(lambda a: (seen.append(np.einsum_path("ij,jk->ik", a, b)), dnp.sum(a))[1])(a)
    assert seen == [want]


def test_einsum_identity_returns_its_operand():
    x = _u(2, 3)
    assert dnp.einsum("ij->ij", x) is x and dnp.einsum("...", x) is x


@pytest.mark.parametrize("subscripts, shapes, match", [
    ("ij,jk->ik", [(2, 3)], "2 operand subscripts for 1"),
    ("ij->", [(2,)], "do not match"),
    ("ij,jk->ik", [(2, 3), (4, 2)], "do not broadcast"),
    ("ii->i", [(2, 3)], "different sizes"),
    ("ij->ii", [(2, 2)], "repeat"),
    ("ij->k", [(2, 2)], "in no operand"),
    ("...i->i", [(2, 2)], "need '...'"),
    ("i.j", [(2, 2)], "invalid"),
    ("i1", [(2, 2)], "invalid"),
    ("i->j->k", [(2,)], "malformed"),
    ("ij...k", [(2, 2)], "more axes"),
])
def test_einsum_errors(subscripts, shapes, match):
    with pytest.raises(ValueError, match=match):
        canonical_subscripts(subscripts, shapes)
    with pytest.raises(ValueError):  # NumPy refuses them too
        np.einsum(subscripts, *[np.ones(s) for s in shapes])


def test_einsum_refuses_out():
    with pytest.raises(TypeError, match="out="):
        dnp.einsum("i->", _u(2), out=np.zeros(()))


def test_canonical_subscripts():
    assert canonical_subscripts("...j,jk", [(2, 1, 3), (3, 4)]) == "abc,cd->abd"
    assert canonical_subscripts("xy,yz->xz", [(2, 3), (3, 4)]) == canonical_subscripts("ij,jk", [(2, 3), (3, 4)])
    assert canonical_subscripts("ii", [(2, 2)]) == "aa->"
    assert canonical_subscripts("i,i", [(1,), (3,)]) == "a,b->"  # the size-1 axis is summed on its own
    assert canonical_subscripts("...,...", [(2, 1), (3,)]) == "ab,c->ac"


def test_einsum_uses_a_blas_path_when_it_pays_off():
    small, big = [np.ones((3, 3))] * 2, [np.ones((40, 40))] * 2
    assert _strategy("auto", "ab,bc->ac", small) is False
    assert _strategy("auto", "ab,bc->ac", big) == "greedy"
    assert _strategy("optimal", "ab,bc->ac", small) == "optimal"
    assert _strategy("greedy", "ab->", small[:1]) is False  # one operand: nothing to plan
    a, b, c = (np.random.default_rng(i).standard_normal((60, 60)) for i in range(3))
    g = dr.grad(lambda a: dnp.sum(np.einsum("ij,jk,kl->il", a, b, c)))(a)
    np.testing.assert_allclose(g, np.ones((60, 60)) @ (b @ c).T, rtol=1e-10)


# -- hand-picked einsum cases through the primitive oracle (all dtypes, all second-order mode pairs) --

EINSUM_EDGE_CASES = {
    "triple diagonal": ("iii->i", [(2, 2, 2)]),
    "diagonal times matrix": ("iij,jk->ik", [(2, 2, 3), (3, 2)]),
    "broadcast size-1 diagonal": ("ii,i->i", [(1, 1), (3,)]),
    "summed in one operand only": ("ijk,k->", [(2, 3, 2), (2,)]),
    "three operands, ellipsis, output transposed": ("...ij,...jk,k->i...", [(2, 1, 2, 3), (3, 3, 2), (2,)]),
}


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("case", list(EINSUM_EDGE_CASES))
def test_einsum_edge_cases_match_jax(case, order):
    subscripts, shapes = EINSUM_EDGE_CASES[case]
    operands = tuple(_u(*s, seed=i).astype(np.float32) for i, s in enumerate(shapes))
    check_against_jax("einsum", operands, {"subscripts": subscripts, "optimize": "auto"},
                      tuple(range(len(operands))), 0, order)


# -- dispatch --


@pytest.mark.parametrize("name", ["dot", "vdot", "inner", "outer", "tensordot", "kron", "einsum", "matvec", "vecmat",
                                  "vecdot"])
def test_numpy_functions_dispatch_here(name):
    assert NUMPY_TABLE[getattr(np, name)] is getattr(dnp, name)


def test_matmul_and_einsum_are_primitives():
    assert NUMPY_TABLE[np.matmul] is PRIMITIVES["matmul"] is dnp.matmul
    assert "einsum" in PRIMITIVES


def test_plain_values_run_numpy():
    a, b = _u(2, 3), _u(3, 2, seed=1)
    for f in (dnp.dot, dnp.inner, dnp.outer, dnp.kron, dnp.vdot):
        bb = b.T if f in (dnp.inner, dnp.vdot) else b
        np.testing.assert_allclose(f(a, bb), getattr(np, f.__name__)(a, bb), rtol=1e-12)
        assert not isinstance(f(a, bb), Tracer)
