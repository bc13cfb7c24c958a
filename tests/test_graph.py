import numpy as np

import dualrev as dr
import dualrev.numpy as dnp


def test_make_graph_lists_primitive_calls_with_shapes_and_dtypes():
    g = dr.make_graph(lambda x, W: dnp.sum(dnp.tanh(W @ x) * 2.0))(np.ones(3, np.float32), np.ones((2, 3), np.float32))
    text = str(g)
    assert [e.prim.name for e in g.equations] == ["matmul", "tanh", "multiply", "sum"]
    assert "a:f32[3], b:f32[2,3]" in text
    assert "c:f32[2] = matmul b a" in text
    assert "multiply d 2.0" in text
    assert text.strip().endswith("in (f,) }")


def test_make_graph_of_a_gradient_shows_the_backward_pass():
    g = dr.make_graph(dr.grad(lambda x: dnp.sum(dnp.sin(x) ** 2)))(np.ones(2))
    names = [e.prim.name for e in g.equations]
    assert names[:3] == ["sin", "power", "sum"]  # forward pass
    assert names[3:] == ["multiply", "multiply", "cos", "multiply"]  # backward: power's and sin's VJPs


# -- Graphviz: to_dot and render --

import re  # noqa: E402
import shutil  # noqa: E402

import pytest  # noqa: E402

from dualrev.core import Primitive  # noqa: E402
from dualrev.graph import Equation, Graph, Var  # noqa: E402


def _edges(dot):
    return re.findall(r'^\s*"([^"]+)" -> "([^"]+)"', dot, flags=re.M)


def test_to_dot_has_one_node_per_input_call_and_constant_and_the_data_flow_edges():
    g = dr.make_graph(lambda x, W: dnp.sum(dnp.tanh(W @ x) * 2.0))(np.ones(3), np.ones((2, 3)))
    dot = g.to_dot()
    assert dot.startswith('digraph "dualrev" {') and dot.rstrip().endswith("}")
    assert '"in_a" [label="a:f64[3]"' in dot and '"in_b" [label="b:f64[2,3]"' in dot
    assert '"eq0" [label="matmul\\nc:f64[2]"' in dot
    assert '"eq3" [label="sum[axis=(0,),keepdims=False]\\nf:f64[]"' in dot
    assert '"const0" [label="2.0"' in dot
    assert _edges(dot) == [("in_b", "eq0"), ("in_a", "eq0"), ("eq0", "eq1"), ("eq1", "eq2"), ("const0", "eq2"),
                           ("eq2", "eq3"), ("eq3", "out")]


def test_to_dot_labels_the_edges_of_several_outputs():
    g = dr.make_graph(lambda A: dnp.linalg.eigh(A))(np.eye(2))
    dot = g.to_dot()
    k = len(g.equations) - 1  # eigh, after the ops that mirror the triangle NumPy reads
    w, v = (o.name for o in g.equations[k].outputs)
    assert f'"eq{k}" -> "out" [label="{w} #0"];' in dot and f'"eq{k}" -> "out" [label="{v} #1"];' in dot


def test_to_dot_escapes_quotes_backslashes_and_newlines():
    prim = Primitive('say "hi"\\now', np.negative)  # not registered: a name no real primitive has
    x = Var('x"', np.ones(2))
    y = Var("y", np.ones(2))
    g = Graph([x], [Equation(prim, [x, 'a "quoted"\nconst'], {"mode": 'c:\\tmp "q"'}, [y])], [y])
    dot = g.to_dot(name='my "graph"')
    assert dot.startswith('digraph "my \\"graph\\"" {')
    assert '"in_x\\"" [label="x\\":f64[2]"' in dot
    assert 'label="say \\"hi\\"\\\\now[mode=c:\\\\tmp \\"q\\"]\\ny:f64[2]"' in dot
    # every quoted string closes on its line: an even number of unescaped quotes per line
    for line in dot.splitlines():
        assert len(re.findall(r'(?<!\\)(?:\\\\)*"', line)) % 2 == 0, line


def test_render_writes_dot_text_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    g = dr.make_graph(dnp.tanh)(np.ones(2))
    path = g.render(tmp_path / "g.dot")
    assert open(path).read() == g.to_dot()


def test_render_without_graphviz_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    g = dr.make_graph(dnp.tanh)(np.ones(2))
    with pytest.raises(RuntimeError, match=r"Graph.render needs the Graphviz program `dot`.*apt-get install graphviz"):
        g.render(tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    with pytest.raises(ValueError, match="cannot tell the format"):
        g.render(tmp_path / "g")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_render_svg_and_png_with_graphviz(tmp_path):
    g = dr.make_graph(lambda x: dnp.sum(dnp.sin(x) * x))(np.ones(3))
    svg = open(g.render(tmp_path / "g.svg")).read()
    assert "<svg" in svg and ">sin</text>" in svg and svg.count('class="node"') == 1 + 3 + 1  # in, 3 calls, out
    png = g.render(str(tmp_path / "g.out"), format="png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_graphviz_reads_escaped_labels_back(tmp_path):
    prim = Primitive('say "hi"\\now', np.negative)
    x, y = Var("x", np.ones(2)), Var("y", np.ones(2))
    svg = open(Graph([x], [Equation(prim, [x], {}, [y])], [y]).render(tmp_path / "g.svg")).read()
    assert "say &quot;hi&quot;\\now" in svg
