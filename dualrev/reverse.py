"""Reverse mode: the tape. Each primitive call on a TapeTracer records a Node (primitive, params, operand values,
output, parent nodes); the backward pass walks the recorded nodes in reverse topological order, applies VJP rules
and accumulates cotangents of values used several times. A zero cotangent is ``None``.

A *lean* tape (grad, value_and_grad, vjp, checkpoint, custom rules' transposes) keeps only the values the VJP
rules read (each primitive's ``vjp_reads``, given to defprim next to its rules): any other output, and any other
operand computed on the tape, is replaced by an ``Aval`` (its shape and dtype, all that un-broadcasting needs). So ``relu(x @ W + b)`` keeps ``x``, ``W`` and relu's
mask, not the product or the sum. A one-shot backward pass also frees each node once its VJP has run. A full tape
(linearize) keeps everything: its forward pass runs the JVP rules. Imports core and dualrev.numpy.
"""

from __future__ import annotations

import numpy as np

from dualrev.core import Trace, Tracer, refuse_complex
from dualrev.numpy import astype
from dualrev.numpy import real as dreal
from dualrev.numpy import sum as dsum

__all__ = ["TapeTrace", "TapeTracer", "Node", "Aval", "backward_pass", "forward_pass", "fit_cotangent"]


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


_DROPPED = ("dualrev: a VJP rule read the value of an operand or output that the lean tape did not keep: the "
            "primitive's vjp_reads (see dualrev.defprim) says the rule reads less than it does")


def _refuse_dropped(*args, **kwargs):
    raise TypeError(_DROPPED)


class Aval:
    """What a lean tape keeps of a value no VJP rule reads: its shape and dtype (``np.shape``/``np.ndim`` work).

    Using it as a value raises a TypeError naming ``vjp_reads``: the primitive's entry claims its rule reads less
    than it does.
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    __array__ = __array_ufunc__ = __getitem__ = __iter__ = __bool__ = __float__ = \
        __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __pow__ = \
        __rpow__ = __matmul__ = __rmatmul__ = __neg__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse_dropped

    def __repr__(self):
        return f"Aval(shape={self.shape}, dtype={self.dtype})"


def _aval(x):
    """``x`` itself unless it is an array-like value worth dropping: then its Aval."""
    if type(x) is np.ndarray or isinstance(x, Tracer):
        return Aval(x.shape, x.dtype)
    return x


_KEEP_CACHE: dict = {}  # (primitive, traced positions, operand count) -> (keep ans?, keep operand i?, its vjp_reads)


def _keep(prim, argnums, n):
    """(keep the output?, keep operand i? for each i, vjp_reads) of a call with traced ``argnums``, from the
    primitive's ``vjp_reads`` (see defprim), which must not be None."""
    reads = prim.vjp_reads
    key = (prim, argnums, n)
    spec = _KEEP_CACHE.get(key)
    if spec is None:
        if callable(reads):
            ans, read = reads(argnums, n)
        else:
            ans, read = False, set()
            for i in argnums:
                for r in reads[i]:
                    if r == "ans":
                        ans = True
                    else:
                        read.add(r)
        spec = _KEEP_CACHE[key] = (ans, tuple(i in read for i in range(n)), reads)
    elif spec[2] is not reads:  # the primitive's vjp_reads was replaced since
        del _KEEP_CACHE[key]
        return _keep(prim, argnums, n)
    return spec


class TapeTracer(Tracer):
    __slots__ = ("node", "index")

    def __init__(self, trace, primal, node, index=0):
        self._trace = trace
        self.primal = primal
        self.node = node
        self.index = index


class TapeTrace(Trace):
    """Records every primitive call on its tracers, in order, on ``tape``: a topological order for free.

    ``lean``: keep only the values VJP rules read (enough for the backward pass, not for ``forward_pass``).
    """

    __slots__ = ("tape", "lean")

    def __init__(self, level, lean=False):
        super().__init__(level)
        self.tape = []
        self.lean = lean

    def leaf(self, x):
        if not isinstance(x, (np.ndarray, np.generic, Tracer)):  # a Python number: cotangents need its shape
            x = np.asarray(x)
        node = Node(None, None, None, x, (), ())
        self.tape.append(node)
        return TapeTracer(self, x, node)

    def process(self, prim, args, params):
        primals = list(args)
        parents = []
        argnums = []
        plain = True  # no value of a lower level among the operands: the NumPy implementation runs directly
        i = 0
        for a in args:
            if type(a) is TapeTracer and a._trace is self:
                p = primals[i] = a.primal
                parents.append((a.node, a.index))
                argnums.append(i)
                if plain and isinstance(p, Tracer):
                    plain = False
            elif plain and isinstance(a, Tracer):
                plain = False  # a value of a lower level: a constant here, with no cotangent at this level
            i += 1
        if prim.vjp_fwd is not None:
            ans, residuals = prim.vjp_fwd(primals, **params)
            params = dict(params, residuals=residuals)
        else:
            ans = prim.impl(*primals, **params) if plain else prim(*primals, **params)
        if not prim.supports_complex:
            refuse_complex(prim, ans, primals)
        argnums = tuple(argnums)
        kept_ans = ans
        if self.lean and prim.vjp_reads is not None:
            spec = _KEEP_CACHE.get((prim, argnums, i))  # _keep, inlined for the common case
            if spec is None or spec[2] is not prim.vjp_reads:
                spec = _keep(prim, argnums, i)
            keep_ans, keep_args, _ = spec
            # Only values computed on this tape are dropped (inputs and constants live on outside it anyway),
            # and what the parent keeps stands in: the value itself if the parent keeps it, else its Aval.
            for (parent, k), j in zip(parents, argnums):
                if not keep_args[j] and parent.prim is not None:
                    primals[j] = parent.ans[k] if parent.prim.multiple_results else parent.ans
            if not keep_ans and type(ans) is not np.float64:  # a scalar is no cheaper as an Aval
                if type(ans) is np.ndarray:
                    kept_ans = Aval(ans.shape, ans.dtype)
                else:
                    kept_ans = tuple([_aval(a) for a in ans]) if prim.multiple_results else _aval(ans)
        node = Node(prim, params, primals, kept_ans, parents, argnums)
        self.tape.append(node)
        if prim.multiple_results:
            return tuple([TapeTracer(self, a, node, k) for k, a in enumerate(ans)])
        return TapeTracer(self, ans, node)


def fit_cotangent(ct, x, prim=None):
    """Sum a cotangent over the axes its operand was broadcast along, and cast it to the operand's dtype.

    A complex cotangent of a real operand keeps its real part, as JAX transposes the conversion of a real value to
    a complex one (``x * 1j`` pulls ``ct`` back to ``real(ct * 1j)``); a real cotangent of a complex operand is cast.
    A custom rule (a primitive without ``supports_complex``) giving a complex cotangent for a real operand is refused.

    Only broadcasting is undone: a cotangent of any other shape is a bug in a VJP rule, reported as such.
    """
    if not isinstance(ct, (np.ndarray, np.generic, Tracer)):  # a Python number or list from a custom rule
        ct = np.asarray(ct)
    shape = x.shape
    plain = type(ct) is np.ndarray  # no tracer: NumPy directly (nothing to differentiate, less overhead)
    if ct.shape != shape:
        lead = ct.ndim - len(shape)
        if lead > 0:
            axes = tuple(range(lead))
            ct = ct.sum(axis=axes) if plain else dsum(ct, axis=axes)
        if lead >= 0:
            ones = tuple(i for i, n in enumerate(shape) if n == 1 and ct.shape[i] != 1)
            if ones:
                ct = ct.sum(axis=ones, keepdims=True) if plain else dsum(ct, axis=ones, keepdims=True)
        if ct.shape != shape:
            raise ValueError(f"dualrev: the VJP rule of {prim} returned a cotangent of shape {ct.shape} for an "
                             f"operand of shape {shape}")
    dtype = x.dtype
    if ct.dtype != dtype:
        if ct.dtype.kind == "c" and dtype.kind != "c":
            if prim is not None and not prim.supports_complex:
                raise TypeError(f"dualrev: the VJP rule of {prim} gave a {ct.dtype} cotangent for a {dtype} "
                                "operand; a real operand's cotangent is real")
            ct = ct.real if plain else dreal(ct)
            if ct.dtype == dtype:
                return ct
        ct = ct.astype(dtype) if plain else astype(ct, dtype)
    return ct


def _add(a, b):
    return b if a is None else (a if b is None else a + b)


def backward_pass(tape, seeds, release=False):
    """Run VJPs backwards along ``tape`` from ``seeds`` [(node, output index, cotangent)].

    Returns {leaf node: cotangent}. Nodes the seeds do not depend on never receive a cotangent and are skipped.
    ``release``: empty each node of its values once its VJP has run, so that they are freed as the pass goes (for a
    tape pulled back once).
    """
    cts = {}
    for node, k, ct in seeds:
        _accumulate(cts, node, k, ct)
    grads = {}
    pop, get = cts.pop, cts.get
    for node in reversed(tape):
        ct = pop(node, None)  # popped: intermediates are released as the pass goes
        prim = node.prim
        if prim is None:
            if ct is not None:
                grads[node] = ct
            continue
        if ct is not None:
            if prim.multiple_results:  # None stands for a zero: the rules of several outputs take symbolic zeros
                ct = tuple(ct)
            args = node.args
            in_cts = prim.vjp(ct, node.ans, args, node.params, node.argnums)
            for (parent, k), i, g in zip(node.parents, node.argnums, in_cts):
                if g is None:
                    continue
                x = args[i]
                tg = type(g)
                if (tg is not np.ndarray and tg is not np.float64) or g.shape != x.shape or g.dtype != x.dtype:
                    g = fit_cotangent(g, x, prim)
                if parent.prim is not None and parent.prim.multiple_results:
                    _accumulate(cts, parent, k, g)
                else:
                    prev = get(parent)
                    cts[parent] = g if prev is None else prev + g
            args = in_cts = ct = x = g = None  # no reference outlives this node's turn
        if release:
            # The graph stays reachable from the outputs through ``parents``: empty the node of its values so
            # that they are freed now, not when the whole pass is over (the small node objects stay till then).
            node.args = node.ans = node.params = None
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
