"""Every ```python block in the README and docs/*.md runs, in order, one namespace per file."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Blocks that only show code from inside the library are not meant to run on their own.
SKIP = {"architecture.md", "coverage.md"}


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in SKIP], ids=lambda p: p.name)
def test_code_blocks_run(page, capsys):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks, f"{page.name} has no python blocks"
    namespace = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as e:  # name the block, keep the traceback
            raise AssertionError(f"{page.name}, python block {i} failed: {e!r}") from e
