"""Reverse mode: the tape. Each primitive call on a TapeTracer records a Node (primitive, params, operand values,
output, parent nodes); the backward pass walks the recorded nodes in reverse topological order, applies VJP rules
and accumulates cotangents of values used several times. A zero cotangent is ``None``. Imports core and
dualrev.numpy.
"""

from __future__ import annotations

import numpy as np

from dualrev.core import Trace, Tracer
from dualrev.numpy import astype
from dualrev.numpy import sum as dsum

__all__ = ["TapeTrace", "TapeTracer", "Node", "backward_pass", "forward_pass", "fit_cotangent"]


class Node:
    """One recorded primitive call. Inputs of the differentiated function are leaves (``prim is None``)."""

    __slots__ = ("prim", "params", "args", "ans", "parents", "argnums")

    def __init__(self, prim, params, args, ans, parents, argnums):
        self.prim = prim
        self.params = params
        self.args = args
        self.ans = ans
        self.parents = parents  # tuple of (parent node, parent output index), one per traced operand
        self.argnums = argnums  # the positions of those operands


class TapeTracer(Tracer):
    __slots__ = ("node", "index")

    def __init__(self, trace, primal, node, index=0):
        self._trace = trace
        self.primal = primal
        self.node = node
        self.index = index


class TapeTrace(Trace):
    """Records every primitive call on its tracers, in order, on ``tape``: a topological order for free."""

    __slots__ = ("tape",)

    def __init__(self, level):
        super().__init__(level)
        self.tape = []

    def leaf(self, x):
        node = Node(None, None, None, x, (), ())
        self.tape.append(node)
        return TapeTracer(self, x, node)

    def process(self, prim, args, params):
        primals = list(args)
        parents = []
        argnums = []
        for i, a in enumerate(args):
            if type(a) is TapeTracer and a._trace is self:
                primals[i] = a.primal
                parents.append((a.node, a.index))
                argnums.append(i)
            # anything else is a constant, or a value of a lower level: no cotangent at this level
        if prim.vjp_fwd is not None:
            ans, residuals = prim.vjp_fwd(primals, **params)
            params = dict(params, residuals=residuals)
        else:
            ans = prim(*primals, **params)
        node = Node(prim, params, primals, ans, parents, argnums)
        self.tape.append(node)
        if prim.multiple_results:
            return tuple(TapeTracer(self, a, node, k) for k, a in enumerate(ans))
        return TapeTracer(self, ans, node)


def fit_cotangent(ct, x, prim=None):
    """Sum a cotangent over the axes its operand was broadcast along, and cast it to the operand's dtype.

    Only broadcasting is undone: a cotangent of any other shape is a bug in a VJP rule, reported as such.
    """
    shape = x.shape
    if ct.shape != shape:
        lead = ct.ndim - len(shape)
        if lead > 0:
            ct = dsum(ct, axis=tuple(range(lead)))
        if lead >= 0:
            ones = tuple(i for i, n in enumerate(shape) if n == 1 and ct.shape[i] != 1)
            if ones:
                ct = dsum(ct, axis=ones, keepdims=True)
        if ct.shape != shape:
            raise ValueError(f"dualrev: the VJP rule of {prim} returned a cotangent of shape {ct.shape} for an "
                             f"operand of shape {shape}")
    dtype = x.dtype
    if ct.dtype != dtype:
        ct = astype(ct, dtype)
    return ct


def _add(a, b):
    return b if a is None else (a if b is None else a + b)


def backward_pass(tape, seeds):
    """Run VJPs backwards along ``tape`` from ``seeds`` [(node, output index, cotangent)].

    Returns {leaf node: cotangent}. Nodes the seeds do not depend on never receive a cotangent and are skipped.
    """
    cts = {}
    for node, k, ct in seeds:
        _accumulate(cts, node, k, ct)
    grads = {}
    for node in reversed(tape):
        ct = cts.pop(node, None)  # popped: intermediates are released as the pass goes
        if ct is None:
            continue
        prim = node.prim
        if prim is None:
            grads[node] = ct
            continue
        if prim.multiple_results:
            ct = tuple(np.zeros(a.shape, a.dtype) if c is None else c for c, a in zip(ct, node.ans))
        in_cts = prim.vjp(ct, node.ans, node.args, node.params, node.argnums)
        for (parent, k), i, g in zip(node.parents, node.argnums, in_cts):
            if g is not None:
                _accumulate(cts, parent, k, fit_cotangent(g, node.args[i], prim))
    return grads


def _accumulate(cts, node, k, ct):
    if node.prim is not None and node.prim.multiple_results:
        slots = cts.get(node)
        if slots is None:
            slots = cts[node] = [None] * len(node.ans)
        slots[k] = _add(slots[k], ct)
    else:
        prev = cts.get(node)
        cts[node] = ct if prev is None else prev + ct


def forward_pass(tape, leaf_tangents):
    """Push tangents {leaf node: tangent} forward along the tape (linearize's JVP, no re-tracing)."""
    from dualrev.forward import fit_tangent

    tangents = dict(leaf_tangents)
    for node in tape:
        prim = node.prim
        if prim is None:
            continue
        ts = [None] * len(node.args)
        live = False
        for (parent, k), i in zip(node.parents, node.argnums):
            t = tangents.get(parent)
            if t is not None and parent.prim is not None and parent.prim.multiple_results:
                t = t[k]
            ts[i] = t
            live = live or t is not None
        if not live:
            continue
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
