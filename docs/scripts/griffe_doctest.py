"""A griffe extension for the API reference: doctest lines in docstrings become fenced ``pycon`` code blocks.

dualrev's docstrings show a short example as bare ``>>>`` lines after the prose (no ``Examples:`` section). Left
alone, Markdown would read ``>>>`` as three nested block quotes; fenced, it is highlighted code. Loaded by
mkdocs.yml (mkdocstrings, ``extensions:``). A run is the ``>>>``/``...`` lines and the output lines after them, up
to a blank line; lines already inside a ``` fence are left as they are.
"""

from __future__ import annotations

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines of ``text`` in a fenced ``pycon`` block (kept at the run's indentation)."""
    out, run, indent, in_fence = [], [], "", False

    def flush():
        if run:
            out.extend([f"{indent}```pycon", *run, f"{indent}```"])
            run.clear()

    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("```"):
            flush()
            in_fence = not in_fence
            out.append(line)
        elif in_fence:
            out.append(line)
        elif stripped.startswith(">>>"):
            if not run:
                indent = line[: len(line) - len(stripped)]
            run.append(line)
        elif run and stripped:  # a continuation (...) or the output of the example
            run.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence the doctest examples of every docstring as it is loaded."""

    def on_instance(self, *, node, obj, agent, **kwargs) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
