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
