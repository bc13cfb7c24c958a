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
