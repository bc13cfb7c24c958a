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
