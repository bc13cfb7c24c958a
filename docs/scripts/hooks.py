"""MkDocs hooks for the dualrev site (loaded by mkdocs.yml, ``hooks:``).

Pages in docs/ may link to files of the repository outside docs/ (``[benchmarks/README.md](../benchmarks/README.md)``):
such links work when the Markdown is read in the repository, but the site has no page for them, and
``mkdocs build --strict`` would reject them. This hook turns each such link whose target exists into the path in
code font (``benchmarks/README.md``), so that the strict build still catches every broken link: a target that
does not exist is left as it is, and MkDocs reports it.
"""

from __future__ import annotations

import os
import re

_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\((\.\./[^)\s#]+)(#[^)\s]*)?\)")


def outside_links_to_paths(markdown: str, page_dir: str, docs_dir: str) -> str:
    """Replace links from ``page_dir`` to existing files outside ``docs_dir`` by their repository paths."""
    root = os.path.dirname(os.path.abspath(docs_dir))
    docs = os.path.abspath(docs_dir)

    def replace(m):
        text, target = m.group(1), m.group(2)
        path = os.path.normpath(os.path.join(page_dir, target))
        if path.startswith(docs + os.sep) or not os.path.exists(path):
            return m.group(0)  # inside the site, or broken: MkDocs judges it
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        shown = text.strip("`")
        return f"`{rel}`" if shown == rel else f"{text} (`{rel}`)"

    return _LINK.sub(replace, markdown)


def on_page_markdown(markdown, page, config, files, **kwargs):
    page_dir = os.path.dirname(page.file.abs_src_path)
    return outside_links_to_paths(markdown, page_dir, config["docs_dir"])
