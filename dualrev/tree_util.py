"""Pytrees: nested tuples, lists, dicts and None around array leaves.

Flatten to a list of leaves plus a ``PyTreeDef``, map over leaves, rebuild; ravel a pytree into one vector.
Imports nothing from dualrev (traced leaves are handled through their NumPy-like methods and NumPy's dispatch).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["PyTreeDef", "tree_flatten", "tree_unflatten", "tree_map", "tree_leaves", "tree_structure",
           "register_pytree_node"]
__all__ += ["ravel_pytree"]

# Types registered as pytree nodes: type -> (flatten: node -> (children, aux), unflatten: (aux, children) -> node)
_NODES: dict = {}


def register_pytree_node(nodetype: type, flatten: Callable, unflatten: Callable) -> None:
    """Make instances of ``nodetype`` pytree nodes (as JAX's ``register_pytree_node``): ``flatten(node)`` returns
    ``(children, aux)`` with ``children`` an iterable of pytrees and ``aux`` hashable static data;
    ``unflatten(aux, children)`` rebuilds the node. Transforms then see through it to its array leaves.

    >>> register_pytree_node(Params, lambda p: ((p.w, p.b), None), lambda aux, ch: Params(*ch))
    """
    if not isinstance(nodetype, type):
        raise TypeError(f"register_pytree_node: expected a class, got {nodetype!r}")
    if nodetype in (tuple, list, dict, type(None)) or nodetype in _NODES:
        raise ValueError(f"register_pytree_node: {nodetype.__name__} is already a pytree node type")
    _NODES[nodetype] = (flatten, unflatten)


class PyTreeDef:
    """The shape of a pytree without its leaves: a node kind, its metadata and child treedefs."""

    __slots__ = ("kind", "meta", "children", "num_leaves", "flat")

    def __init__(self, kind: str, meta: Any, children: tuple, num_leaves: int | None = None):
        self.kind = kind  # "leaf", "none", "tuple", "list", "dict", "namedtuple", "node" (registered)
        self.meta = meta  # dict keys, namedtuple class, or (registered type, its aux data)
        self.children = children
        if num_leaves is None:
            num_leaves = 1 if kind == "leaf" else sum(c.num_leaves for c in children)
        self.num_leaves = num_leaves
        # a tuple, list or dict of leaves only (arguments, parameters): rebuilt without recursion
        self.flat = kind in ("tuple", "list", "dict") and all(c.kind == "leaf" for c in children)

    def __eq__(self, other):
        return self is other or (
            isinstance(other, PyTreeDef)
            and self.kind == other.kind
            and self.meta == other.meta
            and self.children == other.children
        )

    def __hash__(self):
        return hash((self.kind, str(self.meta), self.children))

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = [repr(c) for c in self.children]
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(self.meta, inner)) + "}"
        if self.kind == "list":
            return "[" + ", ".join(inner) + "]"
        if self.kind == "node":
            return f"{self.meta[0].__name__}(" + ", ".join(inner) + ")"
        return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"


_LEAF = PyTreeDef("leaf", None, ())
_NONE = PyTreeDef("none", None, ())


_LEAVES = (_LEAF,) * 8
_FLAT: dict = {}  # (kind, n) -> the shared treedef of a tuple or list of n leaves


def _flat(kind: str, n: int) -> PyTreeDef:
    treedef = _FLAT.get((kind, n))
    if treedef is None:
        treedef = _FLAT[kind, n] = PyTreeDef(kind, None, (_LEAF,) * n, n)
    return treedef


def _child(c: Any, leaves: list) -> PyTreeDef:
    # A leaf is appended here, without a recursive call: most children are leaves.
    t = type(c)
    if t is tuple or t is list or t is dict or c is None or isinstance(c, tuple) or t in _NODES:
        return _flatten(c, leaves)
    leaves.append(c)
    return _LEAF


def _flatten(tree: Any, leaves: list) -> PyTreeDef:
    if tree is None:
        return _NONE
    t = type(tree)
    start = len(leaves)
    if t is tuple or t is list:
        children = tuple([_child(c, leaves) for c in tree])
        n = len(children)
        if n <= 8 and children == _LEAVES[:n]:  # leaves only: one shared treedef, compared by identity
            return _flat(t.__name__, n)
        return PyTreeDef(t.__name__, None, children, len(leaves) - start)
    if t is dict:
        # Sorted keys, as JAX does, so {'b':..,'a':..} and {'a':..,'b':..} share one structure.
        keys = tuple(sorted(tree))
        return PyTreeDef("dict", keys, tuple([_child(tree[k], leaves) for k in keys]), len(leaves) - start)
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return PyTreeDef("namedtuple", t, tuple([_flatten(c, leaves) for c in tree]), len(leaves) - start)
    node = _NODES.get(t)
    if node is not None:
        children, aux = node[0](tree)
        return PyTreeDef("node", (t, aux), tuple([_flatten(c, leaves) for c in children]), len(leaves) - start)
    leaves.append(tree)
    return _LEAF


def tree_flatten(tree: Any) -> tuple[list, PyTreeDef]:
    """Split a pytree into its list of leaves and its structure.

    >>> tree_flatten({"w": 1.0, "b": (2.0, None)})
    ([2.0, 1.0], {'b': (*, None), 'w': *})
    """
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _unflatten(treedef: PyTreeDef, it) -> Any:
    kind = treedef.kind
    if kind == "leaf":
        return next(it)
    if kind == "none":
        return None
    children = [_unflatten(c, it) for c in treedef.children]
    if kind == "tuple":
        return tuple(children)
    if kind == "list":
        return children
    if kind == "dict":
        return dict(zip(treedef.meta, children))
    if kind == "node":
        t, aux = treedef.meta
        return _NODES[t][1](aux, children)
    return treedef.meta(*children)


def tree_unflatten(treedef: PyTreeDef, leaves) -> Any:
    """Rebuild a pytree of structure ``treedef`` from a sequence of leaves."""
    if type(leaves) is not list and type(leaves) is not tuple:
        leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree_unflatten: structure {treedef} needs {treedef.num_leaves} leaves, got {len(leaves)}")
    kind = treedef.kind
    if kind == "leaf":
        return leaves[0]
    if treedef.flat:
        if kind == "dict":
            return dict(zip(treedef.meta, leaves))
        return tuple(leaves) if kind == "tuple" else list(leaves)
    return _unflatten(treedef, iter(leaves))


def tree_leaves(tree: Any) -> list:
    return tree_flatten(tree)[0]


def tree_structure(tree: Any) -> PyTreeDef:
    return tree_flatten(tree)[1]


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``f`` leafwise to one pytree, or to several pytrees of the same structure.

    >>> tree_map(lambda x: 2 * x, {"a": 1.0, "b": [2.0]})
    {'a': 2.0, 'b': [4.0]}
    """
    leaves, treedef = tree_flatten(tree)
    others = []
    for r in rest:
        r_leaves, r_def = tree_flatten(r)
        if r_def != treedef:
            raise ValueError(f"tree_map: pytree structures differ: {treedef} vs {r_def}")
        others.append(r_leaves)
    return tree_unflatten(treedef, [f(*xs) for xs in zip(leaves, *others)])


def ravel_pytree(tree: Any) -> tuple[Any, Callable]:
    """Flatten a pytree of arrays into one 1-D vector, as JAX's ``jax.flatten_util.ravel_pytree``; returns
    ``(flat, unravel)``.

    The leaves (arrays, scalars, traced values) are raveled in ``tree_leaves`` order and promoted to their common
    dtype; ``unravel`` maps a vector of the same size (a NumPy array or a traced value) back to the pytree, each
    leaf in its own shape and dtype. A tree without leaves gives an empty float64 vector.

    >>> flat, unravel = ravel_pytree({"w": np.ones((2, 2)), "b": np.zeros(2)})
    >>> flat.shape, unravel(flat)["w"].shape
    ((6,), (2, 2))
    """
    leaves, treedef = tree_flatten(tree)
    # traced values keep their class (they have reshape/astype/dtype); everything else becomes an array
    leaves = [leaf if hasattr(leaf, "reshape") and hasattr(leaf, "dtype") else np.asarray(leaf) for leaf in leaves]
    specs = [(np.shape(leaf), np.dtype(leaf.dtype), int(np.prod(np.shape(leaf), dtype=np.int64))) for leaf in leaves]
    dtype = np.result_type(*[dt for _, dt, _ in specs]) if specs else np.dtype(np.float64)
    pieces = [leaf.reshape(-1) if dt == dtype else leaf.reshape(-1).astype(dtype) for leaf, (_, dt, _) in
              zip(leaves, specs)]
    flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype)  # a copy: never a view of the caller's array
    size = sum(n for _, _, n in specs)
    offsets = np.cumsum([0] + [n for _, _, n in specs]).tolist()

    def unravel(v):
        """A vector of the raveled size (NumPy or traced) -> the pytree, leaves in their own shapes and dtypes."""
        if not hasattr(v, "reshape"):
            v = np.asarray(v)
        if np.shape(v) != (size,):
            raise ValueError(f"ravel_pytree's unravel: expected a vector of shape ({size},), got shape "
                             f"{np.shape(v)}")
        out = []
        for (shape, dt, _), a, b in zip(specs, offsets[:-1], offsets[1:]):
            piece = (v if len(specs) == 1 else v[a:b]).reshape(shape)  # one leaf: no slice to record
            out.append(piece if dt == dtype else piece.astype(dt))
        return tree_unflatten(treedef, out)

    return flat, unravel
