"""Reverse mode: the tape. Each primitive call on a TapeTracer records a Node (primitive, params, operand values,
output, parent nodes); the backward pass walks the recorded nodes in reverse topological order, applies VJP rules
and accumulates cotangents of values used several times. A zero cotangent is ``None``. Imports core and
dualrev.numpy.
"""

from __future__ import annotations

import numpy as np

from dualrev.core import Trace, Tracer
from dualrev.numpy import astype, reshape
from dualrev.numpy import sum as dsum

__all__ = ["TapeTrace", "TapeTracer", "Node", "backward_pass", "forward_pass", "fit_cotangent"]


class Node:
    """One recorded primitive call. Inputs of the differentiated function are leaves (``prim is None``)."""

    __slots__ = ("prim", "params", "args", "ans", "parents", "seq")

    def __init__(self, prim, params, args, ans, parents, seq):
        self.prim = prim
        self.params = params
        self.args = args
        self.ans = ans
        self.parents = parents  # tuple of (operand index, parent node, parent output index)
        self.seq = seq  # creation order: a topological order of the tape


class TapeTracer(Tracer):
    __slots__ = ("node", "index")

    def __init__(self, trace, primal, node, index=0):
        self._trace = trace
        self.primal = primal
        self.node = node
        self.index = index


class TapeTrace(Trace):
    __slots__ = ("seq",)

    def __init__(self, level):
        super().__init__(level)
        self.seq = 0

    def leaf(self, x):
        self.seq += 1
        return TapeTracer(self, x, Node(None, None, None, x, (), self.seq))

    def process(self, prim, args, params):
        primals = []
        parents = []
        for i, a in enumerate(args):
            if type(a) is TapeTracer and a._trace is self:
                primals.append(a.primal)
                parents.append((i, a.node, a.index))
            else:  # a constant, or a value of a lower level: no cotangent at this level
                primals.append(a)
        if prim.vjp_fwd is not None:
            ans, residuals = prim.vjp_fwd(primals, **params)
            params = dict(params, residuals=residuals)
        else:
            ans = prim(*primals, **params)
        self.seq += 1
        node = Node(prim, params, primals, ans, tuple(parents), self.seq)
        if prim.multiple_results:
            return tuple(TapeTracer(self, a, node, k) for k, a in enumerate(ans))
        return TapeTracer(self, ans, node)


def fit_cotangent(ct, x):
    """Sum a cotangent over the axes its operand was broadcast along, and cast it to the operand's dtype."""
    shape = x.shape
    if ct.shape != shape:
        lead = ct.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and ct.shape[lead + i] != 1
        )
        if axes:
            ct = dsum(ct, axis=axes)
        if ct.shape != shape:
            ct = reshape(ct, shape)
    dtype = x.dtype
    if ct.dtype != dtype:
        ct = astype(ct, dtype)
    return ct


def _add(a, b):
    return b if a is None else (a if b is None else a + b)


def _reachable(roots):
    """Every node the roots depend on, in reverse creation order (a reverse topological order)."""
    seen = set()
    order = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(p for _, p, _ in node.parents)
    order.sort(key=lambda n: n.seq, reverse=True)
    return order


def backward_pass(seeds):
    """Run VJPs backwards from ``seeds`` [(node, output index, cotangent)]; returns {leaf node: cotangent}."""
    cts = {}
    for node, k, ct in seeds:
        _accumulate(cts, node, k, ct)
    grads = {}
    for node in _reachable([n for n, _, _ in seeds]):
        ct = cts.pop(node, None)  # popped: intermediates are released as the pass goes
        if ct is None:
            continue
        prim = node.prim
        if prim is None:
            grads[node] = ct
            continue
        if prim.multiple_results:
            ct = tuple(np.zeros(np.shape(a), np.result_type(a)) if c is None else c
                       for c, a in zip(ct, node.ans))
        argnums = [i for i, _, _ in node.parents]
        in_cts = prim.vjp(ct, node.ans, node.args, node.params, argnums)
        for (i, parent, k), g in zip(node.parents, in_cts):
            if g is not None:
                _accumulate(cts, parent, k, fit_cotangent(g, node.args[i]))
    return grads


def _accumulate(cts, node, k, ct):
    if node.prim is not None and node.prim.multiple_results:
        slots = cts.get(node)
        if slots is None:
            slots = cts[node] = [None] * len(node.ans)
        slots[k] = _add(slots[k], ct)
    else:
        cts[node] = _add(cts.get(node), ct)


def forward_pass(roots, leaf_tangents):
    """Push tangents {leaf node: tangent} forward through the recorded tape (linearize's JVP, no re-tracing)."""
    from dualrev.forward import fit_tangent

    tangents = dict(leaf_tangents)
    for node in reversed(_reachable(roots)):
        if node.prim is None:
            continue
        ts = [None] * len(node.args)
        for i, parent, k in node.parents:
            t = tangents.get(parent)
            ts[i] = t[k] if t is not None and parent.prim is not None and parent.prim.multiple_results else t
        if all(t is None for t in ts):
            continue
        prim = node.prim
        if prim.jvp_full is not None:
            t = prim.jvp_full(node.args, ts, **{k: v for k, v in node.params.items() if k != "residuals"})[1]
        else:
            t = prim.jvp(ts, node.ans, node.args, node.params)
        if t is None:
            continue
        if prim.multiple_results:
            t = tuple(None if dt is None else fit_tangent(dt, a) for dt, a in zip(t, node.ans))
        else:
            t = fit_tangent(t, node.ans)
        tangents[node] = t
    return tangents
