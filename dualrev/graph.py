"""make_graph: run a function once on graph tracers and keep the primitive calls it makes, with shapes and
dtypes, printable like a jaxpr. Imports core, tree_util.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from dualrev.core import Trace, Tracer, new_trace
from dualrev.tree_util import tree_flatten

__all__ = ["make_graph", "Graph"]

_DTYPE_NAMES = {"float64": "f64", "float32": "f32", "float16": "f16", "int64": "i64", "int32": "i32", "bool": "bool"}


class Var:
    __slots__ = ("name", "shape", "dtype")

    def __init__(self, name, value):
        self.name = name
        self.shape = np.shape(value)
        self.dtype = np.result_type(value.dtype if isinstance(value, Tracer) else value)

    def typed(self) -> str:
        dt = _DTYPE_NAMES.get(self.dtype.name, self.dtype.name)
        return f"{self.name}:{dt}[{','.join(str(n) for n in self.shape)}]"


class Equation:
    __slots__ = ("prim", "inputs", "params", "outputs")

    def __init__(self, prim, inputs, params, outputs):
        self.prim, self.inputs, self.params, self.outputs = prim, inputs, params, outputs

    def __str__(self):
        params = {k: v for k, v in self.params.items() if k != "f" and not callable(v)}
        ps = "[" + ",".join(f"{k}={v}" for k, v in params.items()) + "]" if params else ""
        ins = " ".join(i.name if isinstance(i, Var) else _literal(i) for i in self.inputs)
        outs = " ".join(o.typed() for o in self.outputs)
        return f"{outs} = {self.prim.name}{ps} {ins}"


def _literal(x) -> str:
    if np.ndim(x) == 0:
        return repr(x.item() if hasattr(x, "item") else x)
    return f"const:{np.result_type(x)}{list(np.shape(x))}"


class Graph:
    """The primitive calls of one run of a function: ``inputs``, ``equations`` and ``outputs``."""

    def __init__(self, inputs, equations, outputs):
        self.inputs, self.equations, self.outputs = inputs, equations, outputs

    def __str__(self):
        lines = ["{ lambda " + ", ".join(v.typed() for v in self.inputs) + ". let"]
        lines += ["    " + str(e) for e in self.equations]
        outs = ", ".join(o.name if isinstance(o, Var) else _literal(o) for o in self.outputs)
        lines.append(f"  in ({outs},) }}")
        return "\n".join(lines)

    __repr__ = __str__


class GraphTracer(Tracer):
    __slots__ = ("var",)

    def __init__(self, trace, primal, var):
        self._trace, self.primal, self.var = trace, primal, var


class GraphTrace(Trace):
    __slots__ = ("equations", "count")

    def __init__(self, level):
        super().__init__(level)
        self.equations = []
        self.count = 0

    def new_var(self, value) -> Var:
        n, name = self.count, ""
        while True:
            name = chr(ord("a") + n % 26) + name
            n = n // 26 - 1
            if n < 0:
                break
        self.count += 1
        return Var(name, value)

    def process(self, prim, args, params):
        primals, inputs = [], []
        for a in args:
            if type(a) is GraphTracer and a._trace is self:
                primals.append(a.primal)
                inputs.append(a.var)
            else:
                primals.append(a)
                inputs.append(a)
        ans = prim(*primals, **params)
        outs = ans if prim.multiple_results else (ans,)
        tracers = [GraphTracer(self, o, self.new_var(o)) for o in outs]
        self.equations.append(Equation(prim, inputs, params, [t.var for t in tracers]))
        return tuple(tracers) if prim.multiple_results else tracers[0]


def make_graph(fun: Callable) -> Callable[..., Graph]:
    """``make_graph(f)(*args)`` runs ``f`` once and returns the primitive calls it made, as a printable Graph.

    >>> print(dr.make_graph(lambda x: dnp.sum(dnp.sin(x) * 2.0))(np.ones(3)))
    { lambda a:f64[3]. let
        b:f64[3] = sin a
        c:f64[3] = multiply b 2.0
        d:f64[] = sum[axis=(0,),keepdims=False] c
      in (d,) }
    """

    def graph_fun(*args) -> Graph:
        leaves, tree = tree_flatten(args)
        with new_trace(GraphTrace) as trace:
            tracers = [GraphTracer(trace, x, trace.new_var(x)) for x in leaves]
            out = fun(*_unflatten(tree, tracers))
            outs = [o.var if type(o) is GraphTracer and o._trace is trace else o for o in tree_flatten(out)[0]]
        return Graph([t.var for t in tracers], trace.equations, outs)

    return graph_fun


def _unflatten(tree, leaves) -> Any:
    from dualrev.tree_util import tree_unflatten

    return tree_unflatten(tree, leaves)
