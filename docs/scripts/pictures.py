"""Regenerate the computational-graph pictures of the docs from dualrev itself.

    python docs/scripts/pictures.py          # writes docs/img/graph_*.dot, and .svg when Graphviz is installed

Each picture is ``dr.make_graph(...)`` of a small computation, drawn with ``Graph.to_dot``; the nodes of the
backward passes are coloured by a post-pass on the DOT text (the graph itself does not know which pass a call
belongs to, but the call count of the forward computation tells where the backward pass starts).
``tests/test_docs_pictures.py`` fails when a committed picture no longer matches the code.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # this checkout's dualrev, not an installed copy

import dualrev as dr  # noqa: E402
import dualrev.numpy as dnp  # noqa: E402
from dualrev import nn  # noqa: E402

IMG = ROOT / "docs" / "img"
# fill colours: forward pass, first backward pass, second backward pass
FORWARD, BACKWARD, BACKWARD2 = "#f2f2f2", "#fde2b8", "#f6c6c6"


def two_layer_loss(params, X, y):
    """The docs' two-layer network: relu hidden layer, softmax cross-entropy on integer labels."""
    h = nn.relu(X @ params["W1"] + params["b1"])
    return nn.cross_entropy(h @ params["W2"] + params["b2"], y)


def two_layer_args():
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((4, 8)), "b1": np.zeros(8),
              "W2": rng.standard_normal((8, 3)), "b2": np.zeros(3)}
    return params, rng.standard_normal((5, 4)), np.array([0, 1, 2, 0, 1])


def colour(dot: str, start: int, stop: int, fill: str) -> str:
    """Give the call boxes eq{start} .. eq{stop - 1} another fill colour."""

    def recolour(m):
        k = int(m.group(1))
        return m.group(0).replace(f'fillcolor="{FORWARD}"', f'fillcolor="{fill}"') if start <= k < stop else m.group(0)

    return re.sub(r'^  "eq(\d+)" \[.*$', recolour, dot, flags=re.M)


def forward_count(fun, *args) -> int:
    return len(dr.make_graph(fun)(*args).equations)


def check_prefix(small, big):
    """The calls of ``small`` are the first calls of ``big``: the colouring by position is right."""
    names = [e.prim.name for e in small.equations]
    assert [e.prim.name for e in big.equations[: len(names)]] == names, (names, big)


def pictures() -> dict[str, str]:
    """name -> DOT text of every picture in the docs."""
    out = {}
    args = two_layer_args()
    out["graph_two_layer"] = dr.make_graph(two_layer_loss)(*args).to_dot(name="two-layer network loss")

    # forward and backward pass of the same network: value_and_grad's outputs are the loss, then the gradients
    g = dr.make_graph(dr.value_and_grad(two_layer_loss))(*args)
    loss_var = g.outputs[0]
    n_fwd = next(k for k, e in enumerate(g.equations) if loss_var in e.outputs) + 1
    out["graph_two_layer_grad"] = colour(g.to_dot(name="two-layer network: loss and gradient"), n_fwd,
                                         len(g.equations), BACKWARD)

    # second order: d2/dx2 tanh(x), grad over grad; forward, first backward, second backward pass
    f = dnp.tanh
    g1, g2 = dr.make_graph(dr.grad(f))(0.5), dr.make_graph(dr.grad(dr.grad(f)))(0.5)
    check_prefix(g1, g2)
    n0, n1 = forward_count(f, 0.5), len(g1.equations)
    dot = colour(g2.to_dot(name="second derivative of tanh"), n0, n1, BACKWARD)
    out["graph_tanh_second"] = colour(dot, n1, len(g2.equations), BACKWARD2)
    return out


def main(argv):
    IMG.mkdir(exist_ok=True)
    have_dot = shutil.which("dot") is not None
    for name, dot in pictures().items():
        (IMG / f"{name}.dot").write_text(dot)
        if have_dot:
            render(dot, IMG / f"{name}.svg")
        print(f"wrote docs/img/{name}.dot" + (" and .svg" if have_dot else " (no Graphviz: .svg not redrawn)"))


def render(dot: str, path: pathlib.Path):
    """DOT text to SVG with Graphviz (as Graph.render does, but on the recoloured text)."""
    subprocess.run(["dot", "-Tsvg", "-o", str(path)], input=dot.encode(), check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
