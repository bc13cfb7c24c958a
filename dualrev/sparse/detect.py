"""Sparsity detection from the recorded program: run ``f`` once under ``dualrev.make_graph`` and propagate boolean
patterns through its equations with the rules of ``_rules.py``.

- The Jacobian pattern of every value (rows: its elements, flattened; columns: the flattened input) is pushed
  forward: ``J_out = sum_i map_i @ J_i``.
- For a scalar ``f``, which output elements of each equation reach ``f`` (a boolean vector per value) is pulled
  back, and each nonlinear equation adds the pairs of inputs its active elements make interact; their union is the
  Hessian pattern. Linear operations add nothing, so the pattern is exact for the usual finite-difference,
  finite-element and chain structures, and never misses a nonzero.

The pattern belongs to the program that was traced: Python control flow on values (``if x[0] > 0``) is decided at
the point of detection. ``dualrev.sparse.jacobian``/``hessian`` detect again for each branch: under ``dr.jit`` when a
guard of the compiled pass fails and it is traced again, eagerly by recording the program at each call
(``guard=True``). Imports graph, numpy (dnp), tree_util, and scipy.sparse.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

import dualrev.numpy as dnp
from dualrev.core import Tracer
from dualrev.graph import Var, make_graph
from dualrev.sparse._rules import FULL, NONE, rule_for
from dualrev.tree_util import tree_flatten, tree_unflatten

__all__ = ["FlatInput", "Propagation", "hessian_sparsity", "jacobian_sparsity", "trace", "trace_generic"]


class FlatInput:
    """A point ``x`` (a float array, a Python float, a list, or a pytree of them) as one flat vector, and the map
    back to the structure ``f`` takes (``unravel``, traced or not)."""

    def __init__(self, where: str, x):
        leaves, self.treedef = tree_flatten(x)
        if not leaves:
            raise ValueError(f"{where}: x has no array leaves; there is nothing to differentiate")
        arrays = []
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, Tracer):
                raise TypeError(f"{where}: x is a traced value; sparse derivatives are computed at concrete points "
                                "and return scipy.sparse matrices, which transforms and dr.jit cannot trace: call "
                                "them outside of grad/jvp/vmap/dr.jit (dr.sparse compiles its own passes with "
                                "jit=True)")
            if isinstance(leaf, (bool, np.bool_, numbers.Integral, complex, np.complexfloating)):
                kind = np.result_type(leaf)
            else:
                leaf = np.asarray(leaf)
                kind = leaf.dtype
            if kind.kind != "f":
                raise TypeError(f"{where}: leaf {i} of x has dtype {kind}; differentiated inputs must be floating "
                                "point (float16/32/64): convert with np.asarray(x, float)")
            arrays.append(leaf)
        self.specs = [(a.shape, a.dtype, a.size) for a in arrays]
        self.dtype = np.result_type(*[a.dtype for a in arrays])
        self.vector = np.concatenate([a.reshape(-1).astype(self.dtype) for a in arrays])
        self.n = self.vector.size
        self.key = (self.treedef, tuple(self.specs))

    def unravel(self, v):
        out, start = [], 0
        single = len(self.specs) == 1
        for shape, dtype, size in self.specs:
            piece = v if single else v[start:start + size]
            start += size
            piece = dnp.reshape(piece, shape)
            out.append(piece if dtype == self.dtype else dnp.astype(piece, dtype))
        return tree_unflatten(self.treedef, out)


def flat_outputs(where: str, out):
    """The leaves of ``f``'s output, checked to be real floating point values."""
    leaves = tree_flatten(out)[0]
    if not leaves:
        raise ValueError(f"{where}: the function returned no arrays")
    for leaf in leaves:
        dtype = leaf.dtype if isinstance(leaf, Tracer) else np.result_type(leaf)
        if dtype.kind not in "fiub":
            raise TypeError(f"{where}: the function returned dtype {dtype}; outputs must be real (float)")
    return leaves


def trace(where: str, fun, flat: FlatInput, args, vector=None):
    """The recorded program of ``v -> leaves of fun(unravel(v), *args)`` at the point's flat vector (or ``vector``),
    the arguments ``args`` constants of it."""

    def on_vector(v):
        return flat_outputs(where, fun(flat.unravel(v), *args))

    return make_graph(on_vector)(flat.vector if vector is None else vector)


def trace_generic(where: str, fun, flat: FlatInput, vector, args):
    """The recorded program of ``(v, *numeric leaves of args) -> leaves of fun(unravel(v), *args)``: the arguments'
    numbers and arrays are inputs of the program, so a pattern detected from it (which follows only ``v``) holds
    for every value of them that leads to the same program. Raises what ``fun`` raises when it needs them as
    concrete values (an index, ``int()``); the caller then records them as constants (``trace``)."""
    leaves, tree = tree_flatten(args)
    where_numeric = [i for i, a in enumerate(leaves) if isinstance(a, (np.ndarray, np.generic, numbers.Number))]

    def on_inputs(v, *numeric):
        full = list(leaves)
        for i, a in zip(where_numeric, numeric):
            full[i] = a
        return flat_outputs(where, fun(flat.unravel(v), *tree_unflatten(tree, full)))

    return make_graph(on_inputs)(vector, *[leaves[i] for i in where_numeric])


def signature(graph) -> tuple:
    """What the pattern depends on: the primitives, their wiring and their parameters (not the values)."""
    names = {id(v): k for k, v in enumerate(graph.inputs)}
    sig = []
    for eq in graph.equations:
        ins = tuple(names.get(id(x), -1) if isinstance(x, Var) else ("c", np.shape(x)) for x in eq.inputs)
        for o in eq.outputs:
            names[id(o)] = len(names)
        sig.append((eq.prim.name, ins, tuple(o.shape for o in eq.outputs), _key(eq.params)))
    outs = tuple(names.get(id(o), -1) if isinstance(o, Var) else ("c", np.shape(o)) for o in graph.outputs)
    return tuple(sig), outs


def _key(p):
    if isinstance(p, dict):
        return tuple((k, _key(v)) for k, v in sorted(p.items()) if k != "f")
    if isinstance(p, (tuple, list)):
        return tuple(_key(v) for v in p)
    if isinstance(p, np.ndarray):
        return ("array", p.shape, p.dtype.str, hash(p.tobytes()))
    if callable(p):
        return ("callable", id(p))
    return repr(p)


def _union_row(Js, n):
    """The columns any row of any of the patterns touches, as a 1 x n row."""
    cols = np.unique(np.concatenate([J.indices for J in Js if J is not None] or [np.zeros(0, np.int64)]))
    return sp.csr_matrix((np.ones(cols.size, bool), cols, [0, cols.size]), shape=(1, n))


def _repeat_row(u, rows):
    k = u.indices.size
    return sp.csr_matrix((np.ones(rows * k, bool), np.tile(u.indices, rows), np.arange(0, rows * k + 1, k)),
                         shape=(rows, u.shape[1]))


def _size(v):
    return int(np.prod(v.shape))


class Propagation:
    """The patterns of every value of one recorded program, from the flat input of size ``n``."""

    def __init__(self, graph, n: int):
        self.graph, self.n = graph, n
        self.patterns = {id(graph.inputs[0]): sp.identity(n, dtype=bool, format="csr")}
        self.records = []  # (equation, Local or None for the dense rule, operand patterns, union row)
        for eq in graph.equations:
            Js = [self.patterns.get(id(x)) if isinstance(x, Var) else None for x in eq.inputs]
            traced = [J is not None for J in Js]
            if not any(traced):
                continue
            rule = rule_for(eq.prim)
            local = rule(eq, traced) if rule is not None else None
            if local is None:  # the dense rule: everything the operands depend on, for every output element
                u = _union_row(Js, n)
                for o in eq.outputs:
                    self.patterns[id(o)] = _repeat_row(u, _size(o))
                self.records.append((eq, None, Js, u))
                continue
            J = None
            for L, Ji in zip(local.maps, Js):
                if L is not None and Ji is not None:
                    term = L @ Ji
                    J = term if J is None else J + term
            self.patterns[id(eq.outputs[0])] = J if J is not None else sp.csr_matrix((_size(eq.outputs[0]), n), dtype=bool)
            self.records.append((eq, local, Js, None))

    def pattern_of(self, out):
        size = int(np.prod(np.shape(out)))
        J = self.patterns.get(id(out)) if isinstance(out, Var) else None
        return J if J is not None else sp.csr_matrix((size, self.n), dtype=bool)

    def jacobian(self):
        """The Jacobian pattern of the outputs (their elements stacked in order) with respect to the input."""
        J = sp.vstack([self.pattern_of(o) for o in self.graph.outputs], format="csr")
        return _tidy(J)

    def hessian(self, where: str):
        """The Hessian pattern of the (single, scalar) output."""
        outs = self.graph.outputs
        if len(outs) != 1 or int(np.prod(np.shape(outs[0]))) != 1:
            shapes = [tuple(np.shape(o)) for o in outs]
            raise TypeError(f"{where}: the function must return a scalar (one element), got output shapes {shapes}")
        n = self.n
        active = {id(outs[0]): np.ones(1, bool)}
        parts = []
        for eq, local, Js, u in reversed(self.records):
            ly = [active.get(id(o)) for o in eq.outputs]
            if not any(a is not None and a.any() for a in ly):
                continue
            if local is None:
                for x, J in zip(eq.inputs, Js):
                    if J is not None:
                        active[id(x)] = np.ones(_size(x), bool)
                parts.append(u.T @ u)
                continue
            ly = ly[0]
            for x, L in zip(eq.inputs, local.maps):
                if L is not None and isinstance(x, Var):
                    reached = (L.T @ ly.astype(np.int8)) > 0
                    prev = active.get(id(x))
                    active[id(x)] = reached if prev is None else prev | reached
            if local.curvature == NONE:
                continue
            rows = np.flatnonzero(ly)
            if local.curvature == FULL:
                A = self.patterns[id(eq.outputs[0])][rows]
                parts.append(A.T @ A)
                continue
            pieces = [L[rows] @ J if L is not None and J is not None else None for L, J in zip(local.maps, Js)]
            for A, B in local.curvature(pieces, rows, Js):
                AB = A.T @ B
                parts.append(AB if A is B else AB + AB.T)
        H = sp.csr_matrix((n, n), dtype=bool)
        for P in parts:
            H = H + P
        return _tidy((H + H.T).tocsr())


def _tidy(P):
    P = sp.csr_matrix(P, dtype=bool)
    P.eliminate_zeros()
    P.sum_duplicates()
    P.sort_indices()
    return P


def jacobian_sparsity(fun, x, *args):
    """The Jacobian pattern of ``fun`` at ``x``: a boolean ``scipy.sparse`` CSR matrix (outputs x inputs, both
    flattened; a pytree ``x`` is flattened leaf by leaf), detected from one recorded evaluation.

    >>> dr.sparse.jacobian_sparsity(lambda x: x[1:] - x[:-1], np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]])
    """
    flat = FlatInput("jacobian_sparsity", x)
    return Propagation(trace("jacobian_sparsity", fun, flat, args), flat.n).jacobian()


def hessian_sparsity(fun, x, *args):
    """The Hessian pattern of the scalar ``fun`` at ``x``: a symmetric boolean ``scipy.sparse`` CSR matrix.

    >>> dr.sparse.hessian_sparsity(lambda x: dnp.sum((x[1:] - x[:-1]) ** 2), np.ones(4)).nnz
    10
    """
    flat = FlatInput("hessian_sparsity", x)
    return Propagation(trace("hessian_sparsity", fun, flat, args), flat.n).hessian("hessian_sparsity")
