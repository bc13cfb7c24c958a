from collections import namedtuple

import pytest

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import tree_util
from dualrev.tree_util import tree_flatten, tree_leaves, tree_map, tree_structure, tree_unflatten

Point = namedtuple("Point", "x y")


def test_round_trip_of_nested_containers():
    tree = {"b": [1, (2, None, Point(3, 4))], "a": 5, "c": {}}
    leaves, treedef = tree_flatten(tree)
    assert leaves == [5, 1, 2, 3, 4]  # dict keys sorted
    assert tree_unflatten(treedef, leaves) == tree
    assert tree_structure({"a": 0, "b": 0}) == tree_structure({"b": 1, "a": 1})


def test_tree_map_over_several_trees_and_mismatch():
    assert tree_map(lambda a, b: a + b, {"x": 1, "y": [2]}, {"x": 10, "y": [20]}) == {"x": 11, "y": [22]}
    with pytest.raises(ValueError, match="differ"):
        tree_map(lambda a, b: a, [1, 2], (1, 2))
    with pytest.raises(ValueError, match="leaves"):
        tree_unflatten(tree_structure([1, 2]), [1])
    assert tree_leaves(None) == []


class _Params:
    def __init__(self, w, b, name="layer"):
        self.w, self.b, self.name = w, b, name


tree_util.register_pytree_node(_Params, lambda p: ((p.w, p.b), p.name), lambda name, ch: _Params(*ch, name=name))


def test_registered_nodes_flatten_rebuild_and_go_through_transforms():
    p = _Params(np.ones(2), (3.0, None), name="a")
    leaves, tree = tree_util.tree_flatten(p)
    assert len(leaves) == 2 and repr(tree) == "_Params(*, (*, None))"
    q = tree_util.tree_unflatten(tree, [1, 2])
    assert isinstance(q, _Params) and q.name == "a" and q.b == (2, None)
    assert tree != tree_util.tree_structure(_Params(np.ones(2), (3.0, 1.0), name="b"))  # aux data is structure
    g = dr.grad(lambda p: dnp.sum(p.w ** 2) * p.b[0])(_Params(np.ones(2), (3.0,)))
    assert isinstance(g, _Params) and np.allclose(g.w, 6.0) and g.b[0] == 2.0
    out = dr.vmap(lambda p: p.w * p.b[0])(_Params(np.ones((3, 2)), (np.arange(3.0),)))
    np.testing.assert_array_equal(out, np.arange(3.0)[:, None] * np.ones((3, 2)))
    with pytest.raises(ValueError, match="already"):
        tree_util.register_pytree_node(_Params, None, None)


# -- ravel_pytree (JAX's jax.flatten_util.ravel_pytree is the oracle) --


def _mixed_tree():
    return {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.array([0.5, -1.0]), 3.0],
            "n": np.int64(7), "s": Point(np.float32(2.0), np.ones((1, 0, 2)))}


def test_ravel_pytree_matches_jax():
    import jax
    import jax.flatten_util

    tree = _mixed_tree()
    flat, unravel = tree_util.ravel_pytree(tree)
    jflat, junravel = jax.flatten_util.ravel_pytree(jax.tree_util.tree_map(np.asarray, tree))
    assert flat.dtype == jflat.dtype == np.float64
    np.testing.assert_array_equal(flat, np.asarray(jflat))
    back, jback = tree_leaves(unravel(flat + 1)), jax.tree_util.tree_leaves(junravel(jflat + 1))
    assert [(b.shape, b.dtype) for b in back] == [(b.shape, b.dtype) for b in jback]
    for b, jb in zip(back, jback):
        np.testing.assert_array_equal(b, np.asarray(jb))
    assert tree_structure(unravel(flat)) == tree_structure(tree)
    assert dr.tree_util.ravel_pytree is tree_util.ravel_pytree


def test_ravel_pytree_edge_cases():
    flat, unravel = tree_util.ravel_pytree(())
    assert flat.shape == (0,) and unravel(flat) == ()
    x = np.ones(3, np.float32)
    flat, unravel = tree_util.ravel_pytree(x)
    assert flat.dtype == np.float32 and flat is not x and not np.shares_memory(flat, x)  # a copy
    np.testing.assert_array_equal(unravel([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0])  # lists are accepted
    with pytest.raises(ValueError, match=r"unravel: expected a vector of shape \(3,\), got shape \(4,\)"):
        unravel(np.ones(4))


def test_ravel_pytree_is_differentiable_and_batches():
    import jax
    import jax.flatten_util
    import jax.numpy as jnp

    def loss(tree, ravel, np_):
        flat, unravel = ravel(tree)
        back = unravel(np_.sin(flat))
        return np_.sum(flat**2) + np_.sum(back["w"] * back["b"][0][0])

    tree = {"w": np.linspace(0.1, 1.0, 6).reshape(2, 3), "b": [np.array([0.5, -1.0])]}
    g = dr.grad(lambda t: loss(t, tree_util.ravel_pytree, dnp))(tree)
    jg = jax.grad(lambda t: loss(t, jax.flatten_util.ravel_pytree, jnp))(tree)
    for a, b in zip(tree_leaves(g), jax.tree_util.tree_leaves(jg)):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-12)

    flat, unravel = tree_util.ravel_pytree(tree)
    vs = np.stack([flat, 2 * flat])
    batched = dr.vmap(lambda v: dnp.sum(unravel(v)["w"], axis=0))(vs)
    np.testing.assert_allclose(batched, [unravel(v)["w"].sum(0) for v in vs])
    np.testing.assert_allclose(dr.jit(lambda v: unravel(v)["b"][0] * 2)(flat), 2 * tree["b"][0])
