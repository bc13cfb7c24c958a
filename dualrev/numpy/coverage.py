"""The NumPy coverage table, generated from the registry: ``python -m dualrev.numpy.coverage > docs/coverage.md``.

Every public function of NumPy's main namespace, ``numpy.linalg`` and ``numpy.fft`` gets a row: differentiable,
accepted without a derivative, a constant maker (no array input), or not supported; then the operators, methods and
syntax that reach dualrev. A test fails when docs/coverage.md is stale. Imports core and dualrev.numpy.
"""

from __future__ import annotations

import inspect
import operator
import warnings

import numpy as np

import dualrev.numpy  # noqa: F401  (fills the table)
from dualrev import core
from dualrev.core import NONDIFF_FUNCTIONS, NUMPY_TABLE, Primitive

HEADER = """# NumPy coverage

Generated from dualrev's registry by `python -m dualrev.numpy.coverage > docs/coverage.md`; a test fails when this
page is stale. Every public function of NumPy's main namespace, `numpy.linalg` and `numpy.fft` has a row, so you can
look before you hit an error:

- **differentiable**: runs on traced values, whether called as `np.f(x)`, `dnp.f(x)` or the matching operator or
  method, with a JVP rule (forward mode), a VJP rule (reverse mode) and rules written with dualrev operations so
  that they differentiate again (second and higher order); each is checked against JAX (`tests/test_primitives.py`
  for primitives, `tests/test_numpy_*.py` for composites), under vmap too;
- **no derivative**: runs on traced values and returns plain NumPy arrays (indices, masks, shapes, booleans), which
  Python control flow can use (under vmap, one per example);
- **constant**: takes no array to differentiate (creation functions such as `np.zeros`, window functions, dtype and
  string utilities); what it makes is a constant to every transform;
- **not supported**: raises a TypeError naming the function when given a traced value.

The **complex** column says whether a primitive's rules take complex values (JAX's conventions, see
[Complex numbers](complex.md)): **yes**, or **refused** (a TypeError naming the primitive and the dtype under a
derivative, never a silently wrong number); a composite follows the primitives it is made of.

Lists and tuples of traced values are accepted wherever NumPy takes an array-like when you call `dnp.f([a, b])`;
plain `np.f([a, b])` cannot work, because NumPy converts the list to an array before dualrev is asked (write
`np.f(dnp.array([a, b]))`).

"""

# Functions that take no array to differentiate (sizes, dtypes, strings, dates): what they return is a constant to
# every transform.
_CONSTANTS = {
    "arange", "empty", "eye", "full", "identity", "ones", "zeros", "tri", "indices", "fromfunction", "fromiter",
    "frombuffer", "fromfile", "fromstring", "fromregex", "loadtxt", "genfromtxt", "load", "save", "savez",
    "savez_compressed", "savetxt", "diag_indices", "tril_indices", "triu_indices", "mask_indices", "ix_",
    "fft.fftfreq", "fft.rfftfreq", "unravel_index", "ravel_multi_index",
    "get_include", "show_config", "show_runtime", "info", "set_printoptions", "get_printoptions", "printoptions",
    "seterr", "geterr", "seterrcall", "geterrcall", "setbufsize", "getbufsize", "typename", "mintypecode",
    "from_dlpack", "asmatrix", "bmat", "bartlett", "blackman", "hamming", "hanning", "kaiser", "broadcast_shapes",
    "isdtype", "issubdtype", "promote_types", "iterable", "base_repr", "binary_repr", "format_float_positional",
    "format_float_scientific", "array2string", "array_repr", "array_str", "busday_count", "busday_offset",
    "is_busday", "datetime_as_string", "datetime_data", "frompyfunc", "nested_iters", "test",
}
# NumPy functions that convert their input with np.asarray before any dispatch: dualrev.numpy has its own.
_DUALREV_ONLY = {
    "array": "`dnp.array([...])` builds differentiable arrays from traced values (np.array converts them first)",
    "asarray": "`dnp.asarray` (np.asarray converts traced values first)",
    "asanyarray": "`dnp.asarray` (np.asanyarray converts traced values first)",
}


def _numpy_name(f) -> str:
    module = getattr(f, "__module__", None) or "numpy"
    if module.startswith("numpy.linalg"):
        return f"linalg.{f.__name__}"
    if module.startswith("numpy.fft"):
        return f"fft.{f.__name__}"
    return f.__name__


def _note(f) -> str:
    doc = (getattr(f, "doc", None) if isinstance(f, Primitive) else f.__doc__) or ""
    return " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "`").replace("|", "\\|")


def _status(f):
    """(status, dualrev's function, note, complex support) of a NUMPY_TABLE entry."""
    diff = not (f.nondiff if isinstance(f, Primitive) else f in NONDIFF_FUNCTIONS)
    kind = f"primitive `{f.name}`" if isinstance(f, Primitive) else "composite"
    complex_ = ("yes" if f.supports_complex else "refused") if isinstance(f, Primitive) and diff else ""
    return ("differentiable" if diff else "no derivative"), kind, _note(f), complex_


def _public(module, prefix):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in sorted(dir(module)):
            if name.startswith("_"):
                continue
            obj = getattr(module, name, None)
            if obj is None or isinstance(obj, type) or inspect.ismodule(obj) or not callable(obj):
                continue
            yield prefix + name, obj


def _row(name, obj):
    f = NUMPY_TABLE.get(obj)
    if f is not None:
        return (name, *_status(f))
    if name in _DUALREV_ONLY:
        return name, "differentiable", "composite", _DUALREV_ONLY[name], ""
    if name in _CONSTANTS:
        return name, "constant", "", "", ""
    return name, "not supported", "", "", ""


SECTIONS = [("NumPy's main namespace", np, ""), ("numpy.linalg", np.linalg, "linalg."), ("numpy.fft", np.fft, "fft.")]

# Operators, methods and syntax that dualrev handles, under the registry key that stands for them.
_SYNTAX = [
    ("`x[idx]`", operator.getitem), ("`x[idx] = v` (in place, NumPy's semantics, views included)", core.index_write),
    ("`x += v`, `x *= v`, ... (in place)", core.inplace_operator),
    ("`ufunc.reduce`, `.accumulate`, `.outer`, `.at`", core.ufunc_method), ("`x.at[idx]`", core.index_update),
    ("`x.astype(dtype)`", np.ndarray.astype), ("lists and tuples of traced values", core.array_like),
]


def rows():
    """[(section, [(NumPy name, status, dualrev, note, complex)])], every public NumPy function in its section."""
    out = []
    for title, module, prefix in SECTIONS:
        out.append((title, [_row(name, obj) for name, obj in _public(module, prefix)]))
    syntax = [(label, *_status(NUMPY_TABLE[key])) for label, key in _SYNTAX if key in NUMPY_TABLE]
    syntax += [("`dnp.r_[...]`, `dnp.c_[...]`", "differentiable", "composite",
                "NumPy's index tricks for traced entries (np.r_ converts its entries with np.array first)", ""),
               ("`dnp.vectorize(f)`", "differentiable", "composite",
                "np.vectorize for functions of traced values: a loop over the elements, each call differentiated "
                "(np.vectorize converts its arguments with np.asarray first)", ""),
               ("`x.sort()`, `x.partition(k)`, `x.fill(v)`, `x.put(i, v)`", "differentiable", "composite",
                "in place, as the ndarray methods (sort returns None, as NumPy's; JAX's returns a copy)", "")]
    out.append(("Operators, methods and syntax", syntax))
    return out


def counts():
    """{status: number of public NumPy functions (main namespace, linalg, fft) with it}."""
    out: dict = {}
    for title, rs in rows()[:-1]:
        for r in rs:
            out[r[1]] = out.get(r[1], 0) + 1
    return out


def complex_counts() -> tuple[int, int]:
    """(primitives accepting complex operands, differentiable primitives) among those behind this table's rows:
    deterministic, whatever other families (dualrev.scipy) a process has imported."""
    prims = {f for f in NUMPY_TABLE.values() if isinstance(f, Primitive) and not f.nondiff}
    keys = {obj for _, module, prefix in SECTIONS for _, obj in _public(module, prefix)}
    keys |= {key for _, key in _SYNTAX}
    prims = {NUMPY_TABLE[k] for k in keys if k in NUMPY_TABLE and NUMPY_TABLE[k] in prims}
    return sum(p.supports_complex for p in prims), len(prims)


def table() -> str:
    c = counts()
    lines = [HEADER.rstrip("\n"), "",
             f"{c.get('differentiable', 0)} differentiable NumPy functions, {c.get('no derivative', 0)} more "
             f"accepted without a derivative, {c.get('constant', 0)} constant makers, {c.get('not supported', 0)} "
             "not supported (of NumPy's public functions in the main namespace, `linalg` and `fft`).", "",
             "{} of the {} differentiable primitives behind these functions accept complex operands.".format(
                 *complex_counts()), ""]
    for k, (title, rs) in enumerate(rows()):
        syntax = k == len(SECTIONS)  # the last section's names are written out already
        lines += [f"## {title}", "", "| NumPy | status | dualrev | complex | notes |", "|---|---|---|---|---|"]
        lines += [f"| {name if syntax else f'`{name}`'} | {status} | {kind} | {complex_} | {note} |"
                  for name, status, kind, note, complex_ in rs]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(), end="")
