"""make_graph: run a function once on graph tracers and keep the primitive calls it makes, with shapes and
dtypes, printable like a jaxpr, as Graphviz DOT text (``Graph.to_dot``) or as a picture (``Graph.render``, which
needs Graphviz's ``dot`` program). Imports core, tree_util.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
        ps = _params_text(self.params)
        ps = f"[{ps}]" if ps else ""
        ins = " ".join(i.name if isinstance(i, Var) else _literal(i) for i in self.inputs)
        outs = " ".join(o.typed() for o in self.outputs)
        return f"{outs} = {self.prim.name}{ps} {ins}"


def _literal(x) -> str:
    if np.ndim(x) == 0:
        return repr(x.item() if hasattr(x, "item") else x)
    dt = np.result_type(x).name
    return f"const:{_DTYPE_NAMES.get(dt, dt)}[{','.join(str(n) for n in np.shape(x))}]"


class Graph:
    """The primitive calls of one run of a function: ``inputs``, ``equations`` and ``outputs``.

    ``str(graph)`` prints it like a jaxpr, ``graph.to_dot()`` gives Graphviz DOT text and
    ``graph.render("g.svg")`` draws it (with Graphviz's ``dot`` program).
    """

    def __init__(self, inputs, equations, outputs):
        self.inputs, self.equations, self.outputs = inputs, equations, outputs

    def __str__(self):
        lines = ["{ lambda " + ", ".join(v.typed() for v in self.inputs) + ". let"]
        lines += ["    " + str(e) for e in self.equations]
        outs = ", ".join(o.name if isinstance(o, Var) else _literal(o) for o in self.outputs)
        lines.append(f"  in ({outs},) }}")
        return "\n".join(lines)

    __repr__ = __str__

    def to_dot(self, name: str = "dualrev") -> str:
        """The graph as Graphviz DOT text: inputs, one box per primitive call, constants, and the outputs.

        Data flows top to bottom along the edges; a box shows the primitive, its parameters and the variable it
        defines with its dtype and shape, as in ``str(graph)``. No dependency: render the text with Graphviz.

        >>> dot = dr.make_graph(lambda x: dnp.sum(dnp.sin(x)))(np.ones(3)).to_dot()
        >>> dot.splitlines()[0]
        'digraph "dualrev" {'
        """
        lines = [
            f"digraph {_dot_str(name)} {{",
            '  graph [rankdir=TB, nodesep=0.25, ranksep=0.3, fontname="Helvetica"];',
            '  node [fontname="Helvetica", fontsize=10, height=0.3];',
            '  edge [arrowsize=0.6, color="#555555", fontname="Helvetica", fontsize=9];',
        ]
        producer = {}  # Var -> (node id, label of the edge: the variable name when a node defines several)
        for v in self.inputs:
            node = f"in_{v.name}"
            producer[id(v)] = (node, None)
            lines.append(f"  {_dot_str(node)} [label={_dot_label(v.typed())}, shape=ellipse, style=filled, "
                         'fillcolor="#d7e9f7"];')
        consts = 0

        def operand(x, target, edge_label=None):
            nonlocal consts
            var_label = None
            if isinstance(x, Var) and id(x) in producer:
                src, var_label = producer[id(x)]
            else:  # a constant: a literal, a captured array, or a value from an outer trace
                src = f"const{consts}"
                consts += 1
                text = x.typed() if isinstance(x, Var) else _literal(x)
                lines.append(f"  {_dot_str(src)} [label={_dot_label(text)}, shape=plaintext, fontsize=9, "
                             'fontcolor="#666666"];')
            text = " ".join(t for t in (var_label, edge_label) if t)
            suffix = f" [label={_dot_label(text)}]" if text else ""
            lines.append(f"  {_dot_str(src)} -> {_dot_str(target)}{suffix};")

        for k, eq in enumerate(self.equations):
            node = f"eq{k}"
            ps = _params_text(eq.params, width=48)
            head = eq.prim.name + (f"[{ps}]" if ps else "")
            outs = " ".join(o.typed() for o in eq.outputs)
            lines.append(f"  {_dot_str(node)} [label={_dot_label(head, outs)}, shape=box, style=\"rounded,filled\", "
                         'fillcolor="#f2f2f2"];')
            for x in eq.inputs:
                operand(x, node)
            for o in eq.outputs:
                producer[id(o)] = (node, o.name if len(eq.outputs) > 1 else None)
        lines.append('  "out" [label="out", shape=doublecircle, style=filled, fillcolor="#fde8c8", fontsize=9];')
        for i, o in enumerate(self.outputs):
            operand(o, "out", f"#{i}" if len(self.outputs) > 1 else None)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(self, path: str | os.PathLike, format: str | None = None) -> str:
        """Draw the graph into ``path`` with Graphviz's ``dot`` program and return the path.

        ``format`` is any output format of ``dot`` (``"svg"``, ``"png"``, ``"pdf"``); by default the suffix of
        ``path``. ``".dot"``/``".gv"`` write the DOT text itself and need nothing installed. Raises a
        ``RuntimeError`` naming what to install when ``dot`` is not on the PATH.

        >>> dr.make_graph(dnp.tanh)(np.ones(2)).render("tanh.svg")
        'tanh.svg'
        """
        path = os.fspath(path)
        fmt = (format or os.path.splitext(path)[1].lstrip(".")).lower()
        if not fmt:
            raise ValueError(f"Graph.render: cannot tell the format of {path!r}: give a suffix (.svg, .png, .pdf) "
                             "or format=")
        text = self.to_dot()
        if fmt in ("dot", "gv"):
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            return path
        exe = shutil.which("dot")
        if exe is None:
            raise RuntimeError(
                "Graph.render needs the Graphviz program `dot` on the PATH, and it was not found. Install Graphviz "
                "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; conda: conda install "
                "graphviz; the pip package `graphviz` alone does not include the program), or save the text of "
                "Graph.to_dot() to a .dot file and render it elsewhere.")
        proc = subprocess.run([exe, f"-T{fmt}", "-o", path], input=text.encode("utf-8"), capture_output=True,
                              check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"Graph.render: `dot -T{fmt}` failed: {proc.stderr.decode(errors='replace').strip()}")
        return path


def _params_text(params, width: int | None = None) -> str:
    # The function of a custom rule (f) and callables are not data: leave them out.
    shown = {k: v for k, v in params.items() if k != "f" and not callable(v)}
    text = ",".join(f"{k}={v}" for k, v in shown.items())
    return text if width is None or len(text) <= width else text[: width - 3] + "..."


def _dot_str(s: str) -> str:
    """A DOT quoted string: backslashes and double quotes escaped, so any text is one token."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(*lines: str) -> str:
    # Escape each line, then join with DOT's centred line break (a backslash-n inside the quotes).
    return '"' + "\\n".join(_dot_str(line)[1:-1].replace("\n", "\\n") for line in lines) + '"'


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
            inputs = [t.var for t in tracers]  # before fun runs: it may write into its inputs (x += 1)
            out = fun(*_unflatten(tree, tracers))
            outs = [o.var if type(o) is GraphTracer and o._trace is trace else o for o in tree_flatten(out)[0]]
        return Graph(inputs, trace.equations, outs)

    return graph_fun


def _unflatten(tree, leaves) -> Any:
    from dualrev.tree_util import tree_unflatten

    return tree_unflatten(tree, leaves)
