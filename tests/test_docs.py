"""The docs cannot drift from the code: every ```python block in the README and docs/*.md runs, in order, one
namespace per file; every example script is listed, with a link, in the README and in docs/examples.md; the API
reference covers the public names.
"""

import pathlib
import re

import pytest

import dualrev

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Blocks that only show code from inside the library are not meant to run on their own.
SKIP = {"architecture.md", "coverage.md"}
# Pages of prose, tables, pictures or generated reference, with no python block to run.
NO_CODE = {"api.md", "examples.md", "benchmarks.md"}


def _blocks(page):
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in SKIP | NO_CODE], ids=lambda p: p.name)
def test_code_blocks_run(page, capsys):
    blocks = _blocks(page)
    assert blocks, f"{page.name} has no python blocks"
    namespace = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as e:  # name the block, keep the traceback
            raise AssertionError(f"{page.name}, python block {i} failed: {e!r}") from e


def test_every_example_is_listed_in_the_readme_and_the_examples_page():
    readme, page = (ROOT / "README.md").read_text(), (ROOT / "docs" / "examples.md").read_text()
    for script in sorted((ROOT / "examples").glob("*.py")):
        assert f"(examples/{script.name})" in readme, f"README.md does not link examples/{script.name}"
        assert f"`{script.name}`" in page, f"docs/examples.md does not list {script.name}"


def test_api_reference_covers_the_public_names():
    api = (ROOT / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^::: dualrev\.(\w+)", api, flags=re.M))
    missing = [n for n in dualrev.__all__ if n not in documented]
    assert not missing, f"docs/api.md has no entry for dualrev.{missing}"


def test_every_page_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f": {page.name}" in nav, f"docs/{page.name} is not in mkdocs.yml's nav"


def test_tour_covers_the_main_capabilities_quickly(capsys):
    import time

    from dualrev.__main__ import main

    start = time.perf_counter()
    main()
    elapsed = time.perf_counter() - start
    out = capsys.readouterr().out
    for section in ("== grad", "== jvp", "== hessian", "== hvp", "== Newton", "== nesting", "== vmap", "== make_graph"):
        assert section in out, section
    assert "|grad| = 0.00e+00" in out and "= 1.0   (a single shared epsilon" in out
    assert elapsed < 5.0, f"the tour took {elapsed:.1f} s"
