"""The two helpers of the documentation build (docs/scripts): the MkDocs hook that turns links to repository
files outside docs/ into paths, and the griffe extension that fences doctest examples in docstrings.
"""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", ROOT / "docs" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_links_outside_docs_become_paths_and_broken_or_inside_links_stay():
    fix = _load("hooks").outside_links_to_paths
    docs = str(ROOT / "docs")
    md = ("see [benchmarks/README.md](../benchmarks/README.md), [the script](../examples/quickstart.py#L3), "
          "[`examples/mlp_digits.py`](../examples/mlp_digits.py), [gone](../no/such_file.py), [guide](guide.md), "
          "![a picture](../examples/quickstart.py)")
    assert fix(md, docs, docs) == (
        "see `benchmarks/README.md`, the script (`examples/quickstart.py`), `examples/mlp_digits.py`, "
        "[gone](../no/such_file.py), [guide](guide.md), ![a picture](../examples/quickstart.py)"
    )


def test_doctest_runs_in_docstrings_are_fenced():
    pytest.importorskip("griffe")
    fence = _load("griffe_doctest").fence_doctests
    doc = "Sum.\n\n>>> f(1)\n2\n>>> g(\n...   3)\n\nMore text.\n\n```python\n>>> kept\n```\n    >>> indented\n    out"
    assert fence(doc) == (
        "Sum.\n\n```pycon\n>>> f(1)\n2\n>>> g(\n...   3)\n```\n\nMore text.\n\n```python\n>>> kept\n```\n"
        "    ```pycon\n    >>> indented\n    out\n    ```"
    )
