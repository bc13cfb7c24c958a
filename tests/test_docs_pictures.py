"""The pictures committed under docs/img are what the code draws today.

The computational graphs (docs/img/graph_*.dot) are compared as DOT text, which needs nothing installed; their
SVGs are checked against a fresh rendering only where Graphviz's ``dot`` is installed (CI need not have it).
Regenerate all of them with ``python docs/scripts/pictures.py``.
"""

import importlib.util
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
REGENERATE = "stale: run `python docs/scripts/pictures.py` and commit docs/img"


def _pictures():
    spec = importlib.util.spec_from_file_location("docs_pictures", ROOT / "docs" / "scripts" / "pictures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pictures()


PICTURES = _pictures()


def test_every_picture_is_committed_and_used_by_a_page():
    pages = "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    for name in PICTURES:
        assert (IMG / f"{name}.dot").exists(), f"docs/img/{name}.dot is missing: {REGENERATE}"
        assert (IMG / f"{name}.svg").exists(), f"docs/img/{name}.svg is missing: {REGENERATE}"
        assert f"img/{name}.svg" in pages, f"no page shows docs/img/{name}.svg"


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_dot_source_is_up_to_date(name):
    assert (IMG / f"{name}.dot").read_text() == PICTURES[name], f"docs/img/{name}.dot is {REGENERATE}"


def _svg_texts(svg: str):
    """What a reader sees: node and edge titles and text labels, without layout coordinates."""
    return sorted(re.findall(r"<title>(.*?)</title>", svg)), sorted(re.findall(r">([^<>]+)</text>", svg))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
@pytest.mark.parametrize("name", sorted(PICTURES))
def test_svg_matches_its_dot_source(name):
    fresh = subprocess.run(["dot", "-Tsvg"], input=PICTURES[name].encode(), capture_output=True, check=True)
    committed = (IMG / f"{name}.svg").read_text()
    assert _svg_texts(committed) == _svg_texts(fresh.stdout.decode()), f"docs/img/{name}.svg is {REGENERATE}"
    for colour in set(re.findall(r'fillcolor="(#[0-9a-f]{6})"', PICTURES[name])):
        assert f'fill="{colour}"' in committed, (name, colour)
