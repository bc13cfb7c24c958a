"""docs/comparison.md and the README's feature table state only what the libraries do today: their tables are
checked against the programs of docs/scripts/compare.py, run here for every library that is installed (dualrev and
JAX always are in the test environment; autograd and PyTorch when present), and every API name they cite must
import.
"""

import functools
import importlib
import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "comparison.md").read_text()
README = (ROOT / "README.md").read_text()
LIBS = ["dualrev", "JAX", "autograd", "torch.func"]
MODULES = {"dualrev": "dualrev", "JAX": "jax", "autograd": "autograd", "torch.func": "torch"}


@functools.lru_cache(maxsize=None)
def _outcomes(lib):
    """{probe: outcome} of compare.py's programs in ``lib``, run once per session."""
    return _compare().run((lib,))[lib]


def _compare():
    spec = importlib.util.spec_from_file_location("docs_compare", ROOT / "docs" / "scripts" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(header_start, text=PAGE):
    """The rows of the Markdown table whose header begins with ``header_start``, as lists of cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _installed(lib):
    return importlib.util.find_spec(MODULES[lib]) is not None


@pytest.mark.parametrize("lib", LIBS)
def test_measured_behaviour_table_matches_the_programs(lib):
    if not _installed(lib):
        pytest.skip(f"{lib} is not installed")
    rows = _table("| behaviour |")
    assert len(rows) >= 9
    column = 1 + LIBS.index(lib)
    outcomes = _outcomes(lib)
    assert [r[0] for r in rows] == list(outcomes), "the page's rows differ from compare.py's probes"
    for row in rows:
        assert row[column] == str(outcomes[row[0]]), f"{lib}, {row[0]!r}: page says {row[column]!r}"


def _resolve(name):
    """Import a dotted name such as ``jax.test_util.check_grads`` (``dr.`` is dualrev)."""
    parts = ("dualrev" + name[2:] if name.startswith("dr.") else name).split(".")
    for cut in range(1, len(parts) + 1):  # the shortest importable module, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            return obj
        except (ImportError, AttributeError):
            continue
    raise ImportError(name)


@pytest.mark.parametrize("text", [PAGE, README], ids=["comparison.md", "README.md"])
@pytest.mark.parametrize("lib", LIBS)
def test_every_api_name_in_the_tables_exists(lib, text):
    if not _installed(lib):
        pytest.skip(f"{lib} is not installed")
    column = 1 + LIBS.index(lib)
    names = [n for row in _table("| | dualrev |", text) for n in re.findall(r"`([\w.]+)`", row[column])]
    assert len(names) >= 5
    for name in names:
        assert callable(_resolve(name)), name


# The README's yes/no rows: the probe behind each, and what a "yes" outcome is.
README_ROWS = {
    "plain `np.*` functions on traced values": ("`np.sin(x)` (plain NumPy) on a traced x: d/dx at 0", {1.0}),
    "forward mode through a custom VJP rule": ("`jvp` through a custom VJP rule for sin: d/dx at 0", {1.0}),
    "float64 gradient for a float64 input, by default": ("dtype of the gradient at a float64 input",
                                                         {"float64", "torch.float64"}),
    "nested derivatives without perturbation confusion": ("nested: d/dx [x · d/dy (x + y)] at x = 1 (1 is right)",
                                                          {1.0}),
}


@pytest.mark.parametrize("lib", LIBS)
def test_readme_yes_no_rows_match_the_programs(lib):
    if not _installed(lib):
        pytest.skip(f"{lib} is not installed")
    rows = {r[0]: r for r in _table("| | dualrev |", README)}
    outcomes = _outcomes(lib)
    column = 1 + LIBS.index(lib)
    for label, (probe, yes) in README_ROWS.items():
        expected = "yes" if outcomes[probe] in yes else "no"
        assert rows[label][column] == expected, f"README, {label!r}, {lib}: the program gives {outcomes[probe]!r}"
