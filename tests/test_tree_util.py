from collections import namedtuple

import pytest

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
