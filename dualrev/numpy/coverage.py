"""The NumPy coverage table, generated from the registry: ``python -m dualrev.numpy.coverage > docs/coverage.md``.

A test fails when docs/coverage.md is stale. Imports core and dualrev.numpy.
"""

from __future__ import annotations

import numpy as np

import dualrev.numpy  # noqa: F401  (fills the table)
from dualrev.core import NONDIFF_FUNCTIONS, NUMPY_TABLE, Primitive

HEADER = """# NumPy coverage

Generated from dualrev's registry by `python -m dualrev.numpy.coverage > docs/coverage.md`; a test fails when this
page is stale. Every function listed runs on traced values, whether called as `np.f(x)`, `dnp.f(x)` or the
matching operator or method. "yes" in the derivative columns means a JVP rule (forward mode), a VJP rule (reverse
mode), and rules written with dualrev operations so that they differentiate again (second and higher order); each is
checked against JAX by `tests/test_primitives.py`. "no derivative" functions return plain NumPy arrays (indices,
masks, shapes), which Python control flow can use.

"""


def _numpy_name(f) -> str:
    module = getattr(f, "__module__", None) or "numpy"
    if f is np.ndarray.astype:
        return "ndarray.astype"
    if module.startswith("numpy.linalg"):
        return f"linalg.{f.__name__}"
    if module == "_operator" or module == "operator":
        return f"x[idx] ({f.__name__})"
    if f.__name__ == "index_update":
        return "x.at[idx]"
    return f.__name__


def _note(f) -> str:
    doc = (getattr(f, "doc", None) if isinstance(f, Primitive) else f.__doc__) or ""
    return " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "`").replace("|", "\\|")


def rows():
    out = []
    for np_func, f in NUMPY_TABLE.items():
        if isinstance(np_func, np.ufunc) and getattr(np, np_func.__name__, None) is not np_func:
            continue  # another library's ufunc (scipy.special's: docs/scipy.md), not NumPy's
        diff = not (f.nondiff if isinstance(f, Primitive) else f in NONDIFF_FUNCTIONS)
        kind = f"primitive `{f.name}`" if isinstance(f, Primitive) else "composite"
        marks = "yes | yes | yes" if diff else "no derivative | | "
        out.append((_numpy_name(np_func), kind, marks, _note(f)))
    return sorted(out)


def table() -> str:
    lines = [HEADER.rstrip("\n"), "",
             f"{sum(1 for r in rows() if r[2].startswith('yes'))} differentiable NumPy functions, "
             f"{sum(1 for r in rows() if not r[2].startswith('yes'))} more accepted without a derivative.", "",
             "| NumPy | dualrev | forward | reverse | second order | notes |", "|---|---|---|---|---|---|"]
    lines += [f"| `{name}` | {kind} | {marks} | {note} |" for name, kind, marks, note in rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(), end="")
