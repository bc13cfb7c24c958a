"""dr.jit: trace a function once at the lowest level, optimise the recorded primitive calls, and replay them as
generated NumPy source.

The trace runs ``fun`` on ``JitTracer`` values under every transform the user nests inside it, so a gradient, a
Hessian or a vmap is recorded as the plain primitive calls its rules make. The recording is a list of equations
(one primitive call each) and guards (what the trace read as a concrete value: an ``if`` on a traced value,
``int()``, a rule's look at the data through ``core.concrete_test``/``primal_value``). Passes: constant folding,
exact algebraic simplification, common-subexpression elimination, dead-code elimination; the code generator frees
large values after their last use and lets a ufunc write into an intermediate that dies there. The generated Python
calls the primitives' NumPy implementations directly, one call per line, and checks each guard where the trace read
it; a failed guard retraces for the new branch and keeps both variants (``Jitted``, the cache per signature).
Imports core, tree_util.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import keyword
import linecache
import math
import numbers
import operator
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from dualrev.core import Trace, Tracer, _leaked, new_trace
from dualrev.tree_util import PyTreeDef, tree_flatten, tree_unflatten

__all__ = ["JitTrace", "JitTracer", "Jitted", "jit"]

_DUALREV_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Call primitives (Primitive.call: custom_jvp, custom_vjp, checkpoint) run user functions: at the jit level they are
# traced through (the user's function is recorded primitive by primitive), never replayed as one opaque call;
# stop_gradient, the identity there, is not recorded either.
_INLINE = frozenset({"stop_gradient"})
# Values smaller than this (in elements) are not freed with ``del``: a statement per line costs more than it saves.
_FREE_MIN_SIZE = 256


_MISS = object()  # no compiled variant applies (_replay)


class _Retrace(Exception):
    """Raised by generated code when guard ``k`` fails: the variant does not apply to these arguments."""

    def __init__(self, k):
        self.k = k


class _OuterTracer(BaseException):
    """The traced function mixed the jit trace with a tracer of a transform outside jit (a closure over it).
    A BaseException, so that a user's ``except Exception`` cannot swallow it and leave a wrong trace."""


# -- the recording --


class Var:
    """A value of the recorded program: its name in the generated code, shape, dtype and Python type."""

    __slots__ = ("dtype", "name", "pytype", "shape", "size")

    def __init__(self, name: str, value):
        self.name = name
        t = self.pytype = type(value)
        if t is np.ndarray or t is np.float64:  # the common cases, without np.shape/np.result_type
            self.shape, self.dtype, self.size = value.shape, value.dtype, value.size
        else:
            self.shape = np.shape(value)
            self.dtype = np.result_type(value)
            self.size = math.prod(self.shape)

    def __repr__(self):
        return f"{self.name}:{self.dtype}[{','.join(map(str, self.shape))}]"


class Equation:
    """One primitive call: ``outputs = prim.impl(*inputs, **params)``; inputs are Vars or constants."""

    __slots__ = ("errstate", "inputs", "outputs", "params", "prim", "site")

    def __init__(self, prim, inputs, params, outputs, site=None, errstate=None):
        self.prim, self.inputs, self.params, self.outputs = prim, list(inputs), params, outputs
        self.site, self.errstate = site, errstate

    def __repr__(self):
        ins = " ".join(i.name if isinstance(i, Var) else _short(i) for i in self.inputs)
        return f"{' '.join(map(repr, self.outputs))} = {self.prim.name} {ins}"


class Guard:
    """What the trace read as a concrete value: ``pred(*inputs)`` was ``expected``. ``pred`` ``None``: the value
    itself was read; ``bool``: its truth."""

    __slots__ = ("expected", "inputs", "pred", "site", "what")

    def __init__(self, pred, inputs, expected, site, what):
        self.pred, self.inputs, self.expected, self.site, self.what = pred, list(inputs), expected, site, what

    def __repr__(self):
        return f"guard {self.what} {' '.join(getattr(i, 'name', '?') for i in self.inputs)} == {_short(self.expected)}"


def _short(x) -> str:
    if np.ndim(x) == 0 and isinstance(x, (numbers.Number, np.generic)):
        return repr(x)
    return f"const{list(np.shape(x))}"


def _user_site(depth: int = 2):
    """Where the trace is: the innermost frame outside dualrev (filename, line) inside the traced function, and
    which rule of a backward pass runs (``"vjp of sin"``), for comments and warnings."""
    f = sys._getframe(depth)
    rule = None
    while f is not None:
        code = f.f_code
        if code is _STOP_CODE[0]:
            f = None
            break
        if not code.co_filename.startswith(_DUALREV_DIR):
            break
        if rule is None and code.co_name == "backward_pass":
            node = f.f_locals.get("node")
            prim = getattr(node, "prim", None)
            rule = f"vjp of {prim.name}" if prim is not None else None
        f = f.f_back
    if f is None:
        return (None, 0, rule)
    return (f.f_code.co_filename, f.f_lineno, rule)


_STOP_CODE: list = [None]  # the code of Jitted._trace: frames beyond it are the caller's, not the traced function's


try:  # NumPy 2 keeps its error state in a context variable: the same object means the same settings
    from numpy._core._ufunc_config import _extobj_contextvar as _EXTOBJ

    _errstate_token = _EXTOBJ.get
except ImportError:  # pragma: no cover - other NumPy versions: compare the settings every time
    def _errstate_token():
        return None


class JitTracer(Tracer):
    """A value traced by ``dr.jit``. Reading it as a Python value (``bool``, ``int``, ``float``, ``.item()``,
    ``np.asarray``) is allowed and becomes a guard of the compiled code."""

    __slots__ = ("var",)

    def __init__(self, trace, primal, var):
        self._trace, self.primal, self.var = trace, primal, var

    def _read(self, pred, what, *args):
        trace = self._trace
        if not trace.alive:
            raise _leaked(what)
        value = pred(self.primal, *args) if pred is not None else self.primal
        trace.guard(pred, [self.var], value, what, args)
        return value

    def __bool__(self):
        return self._read(bool, "bool()")

    def __int__(self):
        return self._read(int, "int()")

    def __float__(self):
        return self._read(float, "float()")

    def __index__(self):
        return self._read(operator.index, "an index")

    def __complex__(self):
        return self._read(complex, "complex()")

    def item(self, *args):
        return self._read(_item, ".item()", *args)

    def tolist(self):
        return self._read(_tolist, ".tolist()")

    def __array__(self, dtype=None, copy=None):
        value = np.asarray(self._trace.guard_read(self))
        return value if dtype is None else value.astype(dtype)


def _item(v, *args):
    return np.asarray(v).item(*args)


def _tolist(v):
    return np.asarray(v).tolist()


class JitTrace(Trace):
    """The recording level of ``dr.jit``: every primitive call on its tracers becomes an Equation."""

    __slots__ = ("body", "count", "err_token", "errstate", "reserved")
    guards_reads = True

    def __init__(self, level, reserved=()):
        super().__init__(level)
        self.body: list = []
        self.count = 0
        self.reserved = set(reserved)
        self.errstate = np.geterr()  # NumPy's error handling at the start; a rule may change it for its lines
        self.err_token = _errstate_token()

    def _errstate(self):
        """None where NumPy's error handling is the trace's at its start, else the settings (a quiet rule's)."""
        token = _errstate_token()
        if token is not None and token is self.err_token:
            return None
        err = np.geterr()
        return None if err == self.errstate else err

    def new_var(self, value, name: str | None = None) -> Var:
        if name is None:
            while True:
                n, name = self.count, ""
                self.count += 1
                while True:
                    name = chr(ord("a") + n % 26) + name
                    n = n // 26 - 1
                    if n < 0:
                        break
                if name not in self.reserved and not keyword.iskeyword(name):
                    break
        return Var(name, value)

    def process(self, prim, args, params):
        if prim.call or (prim.name in _INLINE and getattr(prim.impl, "__module__", None) == "dualrev.custom"):
            return prim.impl(*args, **params)
        primals, inputs = [], []
        for a in args:
            if isinstance(a, Tracer):
                if a._trace is not self:
                    raise _OuterTracer
                primals.append(a.primal)
                inputs.append(a.var)
            else:
                primals.append(a)
                inputs.append(a)
        ans = prim.impl(*primals, **params)
        if prim.multiple_results:
            outs = [JitTracer(self, o, self.new_var(o)) for o in ans]
            self.body.append(Equation(prim, inputs, params, [t.var for t in outs], _user_site(), self._errstate()))
            return tuple(outs)
        out = JitTracer(self, ans, self.new_var(ans))
        self.body.append(Equation(prim, inputs, params, [out.var], _user_site(), self._errstate()))
        return out

    process_nondiff = process  # a result without derivative is still computed by the replay

    def guard(self, pred, inputs, expected, what, args=()):
        if args:
            pred = functools.partial(_call_with, pred, args)
        self.body.append(Guard(pred, inputs, expected, _user_site(3), what))

    def guard_read(self, tracer):
        """``primal_value``/``concrete_value`` of one of this trace's tracers: the whole value is guarded."""
        value = tracer.primal
        kept = value.copy() if isinstance(value, np.ndarray) else value
        self.body.append(Guard(None, [tracer.var], kept, _user_site(3), "a concrete value"))
        return value

    def guard_test(self, pred, operands, result):
        inputs = [x.var if isinstance(x, Tracer) else x for x in operands]
        name = getattr(pred, "__name__", "<lambda>")
        what = f"np.{name}" if getattr(np, name, None) is pred else "a rule's look at the data"
        self.body.append(Guard(pred, inputs, result, _user_site(3), what))


def _call_with(pred, args, v):
    return pred(v, *args)


# -- passes: each takes and returns (body, outputs) --


def _is_var(x) -> bool:
    return type(x) is Var


def _substituted(values: list, env: dict) -> list:
    """``values`` with each variable a pass replaced (``env``: id of a variable -> what stands for it now)."""
    return [env.get(id(x), x) if type(x) is Var else x for x in values]


def fold_constants(body: list, outputs: list):
    """Evaluate now every equation whose inputs are all constants (it depends on no input); bitwise the values the
    replay would compute, by the same implementation."""
    env: dict = {}
    new = []

    for e in body:
        ins = e.inputs
        if env:
            ins = e.inputs = _substituted(ins, env)
        for x in ins:
            if type(x) is Var:
                new.append(e)
                break
        else:  # no input: evaluate it now (a guard on constants always holds)
            if isinstance(e, Equation):
                with np.errstate(**e.errstate) if e.errstate else _nullcontext():
                    ans = e.prim.impl(*ins, **e.params)
                for o, v in zip(e.outputs, ans if e.prim.multiple_results else (ans,)):
                    env[id(o)] = v
    return new, _substituted(outputs, env)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _is_literal_number(x, value) -> bool:
    """A constant equal to ``value`` everywhere (a Python number, a NumPy scalar, or an array of it: the seed of
    ones a gradient starts from)."""
    if type(x) in (int, float):
        return x == value
    if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind in "biuf":
        return bool(np.all(x == value))
    return False


def _same_aval(a: Var, b: Var) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.pytype is b.pytype


def simplify(body: list, outputs: list):
    """Algebraic identities exact in IEEE arithmetic, where the result has the operand's shape, dtype and type:
    ``x * 1``, ``1 * x``, ``x / 1``, ``x - 0``, ``x + (-0.0)``, ``-(-x)``, and reshapes, transposes, broadcasts and
    casts that change nothing. ``x + 0.0`` is kept (it turns -0.0 into +0.0) and ``x * 0`` always (inf * 0 is nan)."""
    env: dict = {}
    negated: dict = {}  # id(output var of a negative) -> its operand
    new = []

    for e in body:
        if env:
            e.inputs = _substituted(e.inputs, env)
        if isinstance(e, Equation) and len(e.outputs) == 1:
            out, name, ins = e.outputs[0], e.prim.name, e.inputs
            keep = None
            if name == "multiply" and len(ins) == 2:
                if _is_literal_number(ins[1], 1):
                    keep = ins[0]
                elif _is_literal_number(ins[0], 1):
                    keep = ins[1]
            elif name == "divide" and len(ins) == 2 and _is_literal_number(ins[1], 1) or name == "subtract" and len(ins) == 2 and _is_literal_number(ins[1], 0):
                keep = ins[0]
            elif name == "add" and len(ins) == 2:
                for i in (0, 1):
                    c = ins[1 - i]
                    if type(c) is float and c == 0.0 and math.copysign(1.0, c) < 0:
                        keep = ins[i]
            elif name == "negative" and _is_var(ins[0]) and id(ins[0]) in negated:
                keep = negated[id(ins[0])]
            elif name in ("reshape", "broadcast_to", "transpose", "astype") and _is_var(ins[0]):
                keep = ins[0]  # accepted only if nothing changes (checked just below)
                if name == "transpose" and e.params.get("axes") not in (None, tuple(range(len(out.shape)))):
                    keep = None
                if name == "transpose" and e.params.get("axes") is None and len(out.shape) > 1:
                    keep = None
            if keep is not None and _is_var(keep) and _same_aval(keep, out):
                env[id(out)] = keep
                continue
            if name in _OPERATORS and len(ins) == 2:
                # a constant array of one repeated value (a mean's cotangent, broadcast) against a value of the
                # output's shape: its 0-d scalar of the same dtype gives the same result without the big array
                for i in (0, 1):
                    c, other = ins[i], ins[1 - i]
                    if type(c) is np.ndarray and c.size > 1 and _is_var(other) and other.shape == out.shape \
                            and c.dtype == out.dtype and np.all(c == c.flat[0]) and not np.isnan(c.flat[0]):
                        e.inputs[i] = c.dtype.type(c.flat[0])
            if name == "negative" and _is_var(ins[0]):
                negated[id(out)] = ins[0]
        new.append(e)
    return new, _substituted(outputs, env)


def _key(x):
    """A hashable key for CSE: constants by type and exact value (0.0 and -0.0 differ), arrays by identity."""
    if _is_var(x):
        return ("var", id(x))
    t = type(x)
    if t is float:
        return (t, x.hex()) if math.isfinite(x) else (t, repr(x))
    if t in (int, bool, str, type(None)) or isinstance(x, (np.dtype, type)):
        return (t, x)
    if t is tuple or t is list:
        return (t, tuple(_key(v) for v in x))
    if t is dict:
        return (t, tuple((k, _key(v)) for k, v in sorted(x.items())))
    if t is slice:
        return (t, _key(x.start), _key(x.stop), _key(x.step))
    if isinstance(x, np.generic):
        return (t, x.tobytes())
    return ("id", id(x))


def eliminate_common_subexpressions(body: list, outputs: list):
    """One call for identical calls: same primitive, same inputs, same parameters (primitives are pure)."""
    env: dict = {}
    seen: dict = {}
    new = []

    for e in body:
        if env:
            e.inputs = _substituted(e.inputs, env)
        if isinstance(e, Equation):
            k = (id(e.prim), tuple([("var", id(x)) if type(x) is Var else _key(x) for x in e.inputs]),
                 _key(e.params) if e.params else ())
            prev = seen.get(k)
            if prev is not None:
                for o, p in zip(e.outputs, prev.outputs):
                    env[id(o)] = p
                continue
            seen[k] = e
        new.append(e)
    return new, _substituted(outputs, env)


def eliminate_dead_code(body: list, outputs: list):
    """Drop every equation none of whose outputs reaches an output or a guard."""
    live = {id(o) for o in outputs if type(o) is Var}
    kept = []
    for e in reversed(body):
        if type(e) is Equation:
            for o in e.outputs:
                if id(o) in live:
                    break
            else:
                continue
        for x in e.inputs:
            if type(x) is Var:
                live.add(id(x))
        kept.append(e)
    kept.reverse()
    return kept, outputs


PASSES = (fold_constants, simplify, eliminate_common_subexpressions, eliminate_dead_code)


def optimize(body: list, outputs: list):
    for p in PASSES:
        body, outputs = p(body, outputs)
    return body, outputs


# -- code generation --

_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "matmul": "@"}
# Primitives whose implementation is one NumPy call on its operand: generated code calls NumPy itself.
_TEMPLATES = {
    "sum": "np.sum({0}, axis={axis}, keepdims={keepdims})",
    "reshape": "np.reshape({0}, {shape})",
    "transpose": "np.transpose({0}, {axes})",
    "broadcast_to": "np.broadcast_to({0}, {shape})",
    "getitem": "{0}[{idx}]",
    "where": "np.where({0}, {1}, {2})",
    "max": "np.max({0}, axis={axis}, keepdims={keepdims})",
    "min": "np.min({0}, axis={axis}, keepdims={keepdims})",
    "concatenate": "np.concatenate(({args}), axis={axis})",
}


def _differs(value, expected) -> bool:
    """Whether a guarded value changed (NaN equals NaN, types and shapes count)."""
    numpy_types = (np.ndarray, np.generic)
    if type(value) is not type(expected) and not (isinstance(value, numpy_types) and isinstance(expected, numpy_types)):
        return True
    if type(value) in (bool, int, str, np.bool_):
        return value != expected
    if type(value) is float:
        return value != expected and not (math.isnan(value) and math.isnan(expected))
    a, b = np.asarray(value), np.asarray(expected)
    if a.shape != b.shape or a.dtype != b.dtype:
        return True
    try:
        return not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    except TypeError:
        return not np.array_equal(a, b)


def _plain_literal(v) -> bool:
    t = type(v)
    if t in (bool, int, str, type(None)):
        return True
    if t is float:
        return math.isfinite(v)
    if t is tuple:
        return all(_plain_literal(u) for u in v)
    return False


class _Emitter:
    def __init__(self, name: str, arg_names: Sequence[str]):
        self.name = name
        self.ns: dict = {"np": np, "_Retrace": _Retrace, "_differs": _differs, "_index": operator.index}
        self.lines: list[str] = []
        self.consts: dict = {}
        self.taken = set(arg_names) | set(self.ns)

    def const(self, v, hint: str = "k") -> str:
        if _plain_literal(v):
            return repr(v)
        key = ("id", id(v))
        if key in self.consts:
            return self.consts[key]
        for i in itertools.count():
            n = f"{hint}{i}"
            if n not in self.taken:
                break
        self.taken.add(n)
        self.ns[n] = v
        self.consts[key] = n
        return n

    def operand(self, x) -> str:
        return x.name if _is_var(x) else self.const(x)

    def call(self, e: Equation, reuse=None) -> str:
        prim, ins, params = e.prim, e.inputs, e.params
        name = prim.name
        args = [self.operand(x) for x in ins]
        if reuse is not None:  # write into an intermediate that dies here (no view of it exists): no allocation
            return f"np.{prim.impl.__name__}({', '.join(args)}, out={reuse.name})"
        op = _OPERATORS.get(name)
        if op is not None and not params and len(ins) == 2 and self._operator_safe(ins):
            return f"{args[0]} {op} {args[1]}"
        if name == "negative" and not params and self._operator_safe(ins):
            return f"-{args[0]}"
        if name == "astype" and _is_var(ins[0]) and issubclass(ins[0].pytype, (np.ndarray, np.generic)):
            return f"{args[0]}.astype({self.const(params['dtype'])})"
        template = _TEMPLATES.get(name)
        if template is not None:
            try:
                return template.format(*args, args=", ".join(args) + ("," if len(args) == 1 else ""),
                                       **{k: self.const(v) for k, v in params.items()})
            except (IndexError, KeyError):
                pass
        impl = prim.impl
        if isinstance(impl, np.ufunc) and getattr(np, impl.__name__, None) is impl:
            fn = f"np.{impl.__name__}"
        elif getattr(np.linalg, getattr(impl, "__name__", ""), None) is impl:
            fn = f"np.linalg.{impl.__name__}"
        else:
            fn = self.const(impl, "_" + "".join(c if c.isalnum() else "_" for c in name) + "_")
        kw = [f"{k}={self.const(v)}" for k, v in params.items()]
        return f"{fn}({', '.join(args + kw)})"

    @staticmethod
    def _operator_safe(ins) -> bool:
        # ``a * b`` runs np.multiply when one operand is a NumPy array or scalar; two Python numbers would not.
        numpy_typed = False
        for x in ins:
            if _is_var(x):
                if not issubclass(x.pytype, (np.ndarray, np.generic)):
                    return False
                numpy_typed = True
            elif type(x) not in (int, float) and not isinstance(x, (np.ndarray, np.generic)):
                return False
        return numpy_typed


@functools.lru_cache(maxsize=4096)
def _site_text(site) -> str:
    if site is None:
        return ""
    filename, line, rule = site
    text = ""
    if filename is not None:
        src = linecache.getline(filename, line).strip()
        if len(src) > 60:
            src = src[:57] + "..."
        text = f"{os.path.basename(filename)}:{line}: {src}"
    if rule:
        text = f"({rule}) {text}".rstrip()
    return text


def _out_expr(tree: PyTreeDef, leaves: list, em: _Emitter) -> str:
    it = iter(leaves)

    def leaf(x):
        if _is_var(x):
            return x.name
        if isinstance(x, np.ndarray):
            return f"{em.const(x)}.copy()"  # eager would return a fresh array on every call
        return em.const(x)

    def build(t):
        if t.kind == "leaf":
            return leaf(next(it))
        if t.kind == "none":
            return "None"
        parts = [build(c) for c in t.children]
        if t.kind == "tuple":
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
        if t.kind == "list":
            return "[" + ", ".join(parts) + "]"
        if t.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {p}" if _plain_literal(k) else f"{em.const(k)}: {p}"
                                   for k, p in zip(t.meta, parts)) + "}"
        return f"{em.const(t.meta, '_T')}({', '.join(parts)})"

    return build(tree)


def _natural(name: str):
    head = name.rstrip("0123456789")
    return head, int(name[len(head):] or 0)


def _describe(v) -> str:
    """A constant, for the header comment of the generated code: small ones in full, big ones by type."""
    if isinstance(v, np.ndarray) and v.size > 8:
        return f"a constant array {v.dtype}[{','.join(map(str, v.shape))}] (captured or computed at trace time)"
    text = repr(v).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def _is_ufunc_call(e) -> bool:
    impl = e.prim.impl
    return (isinstance(e, Equation) and isinstance(impl, np.ufunc) and impl.nout == 1 and not e.params
            and getattr(np, impl.__name__, None) is impl)


def _owned_arrays(body) -> set:
    """ids of intermediates that are fresh arrays no other value can see: made by a ufunc, and read only by
    ufunc calls (a reshape, a transpose or a slice of them could be a view, and views forbid writing in place)."""
    owned = set()
    for e in body:
        if isinstance(e, Equation) and _is_ufunc_call(e) and issubclass(e.outputs[0].pytype, np.ndarray):
            owned.add(id(e.outputs[0]))
    for e in body:
        if not (isinstance(e, Equation) and _is_ufunc_call(e)):
            for x in e.inputs:
                owned.discard(id(x))
    return owned


def _reusable(e, i, last, out_ids, in_ids, owned):
    """The operand of ufunc call ``e`` (line ``i``) whose array the result may be written into, or None."""
    if not _is_ufunc_call(e):
        return None
    out = e.outputs[0]
    if not issubclass(out.pytype, np.ndarray) or out.size < _FREE_MIN_SIZE:
        return None
    for x in e.inputs:
        if _is_var(x) and id(x) in owned and last.get(id(x)) == i and id(x) not in out_ids \
                and id(x) not in in_ids and x.shape == out.shape and x.dtype == out.dtype \
                and sum(y is x for y in e.inputs) == 1:
            return x
    return None


_counter = itertools.count()
_BUILTIN_NAMES = {int: "int", float: "float", complex: "complex", operator.index: "_index"}


def generate(name: str, arg_vars: list, body: list, outputs: list, out_tree: PyTreeDef, baseline=None):
    """Python source of the optimised recording, and the namespace it runs in."""
    arg_names = [v.name for v in arg_vars]
    em = _Emitter(name, arg_names)
    em.taken |= {v.name for e in body if isinstance(e, Equation) for v in e.outputs}
    # last use of each large intermediate: freed right after it
    last: dict = {}
    for i, e in enumerate(body):
        for x in e.inputs:
            if _is_var(x):
                last[id(x)] = i
    out_ids = {id(o) for o in outputs if _is_var(o)}
    in_ids = {id(v) for v in arg_vars}
    owned = _owned_arrays(body)
    baseline = np.geterr() if baseline is None else baseline
    lines = [f"def {name}({', '.join(arg_names)}):"]
    current_err = None
    indent = "    "
    for i, e in enumerate(body):
        err = e.errstate if isinstance(e, Equation) and e.errstate and e.errstate != baseline else None
        if err != current_err:
            indent = "    "
            if err is not None:
                changed = {k: v for k, v in err.items() if baseline.get(k) != v}
                lines.append(f"    with np.errstate({', '.join(f'{k}={v!r}' for k, v in sorted(changed.items()))}):")
                indent = "        "
            current_err = err
        comment = _site_text(e.site)
        if isinstance(e, Equation):
            outs = ", ".join(o.name for o in e.outputs)
            if e.prim.multiple_results and len(e.outputs) == 1:
                outs += ","
            # written in place: the operand's name is deleted below like any last use (the result keeps the array)
            reuse = _reusable(e, i, last, out_ids, in_ids, owned)
            lines.append(f"{indent}{outs} = {em.call(e, reuse)}  # {e.prim.name}  {comment}".rstrip())
        else:
            k = i
            x = em.operand(e.inputs[0]) if e.inputs else "None"
            if e.pred is bool:
                test = f"not {x}" if e.expected else x
            elif e.pred is None:
                test = f"_differs({x}, {em.const(e.expected, 'e')})"
            else:
                args = ", ".join(em.operand(v) for v in e.inputs)
                pred = _BUILTIN_NAMES.get(e.pred)
                if pred is None:
                    name = getattr(e.pred, "__name__", "")
                    pred = f"np.{name}" if getattr(np, name, None) is e.pred else em.const(e.pred, "g")
                if type(e.expected) in (bool, np.bool_):
                    test = f"not {pred}({args})" if e.expected else f"{pred}({args})"
                elif type(e.expected) in (int, str):  # equality of Python values: no NaN to worry about
                    test = f"{pred}({args}) != {e.expected!r}"
                else:
                    test = f"_differs({pred}({args}), {em.const(e.expected, 'e')})"
            lines.append(f"{indent}if {test}:  # guard: {e.what}  {comment}".rstrip())
            lines.append(f"{indent}    raise _Retrace({k})")
        dead = []
        for x in e.inputs:
            if _is_var(x) and last.get(id(x)) == i and id(x) not in out_ids and id(x) not in in_ids \
                    and x.size >= _FREE_MIN_SIZE and x.name not in dead:
                dead.append(x.name)
        if isinstance(e, Equation):  # outputs nobody reads (one of several results)
            dead += [o.name for o in e.outputs if id(o) not in last and id(o) not in out_ids and o.size >= _FREE_MIN_SIZE]
        if dead:
            lines.append(f"{indent}del {', '.join(dead)}")
    lines.append(f"    return {_out_expr(out_tree, outputs, em)}")
    header = [f"    # {n} = {_describe(em.ns[n])}" for n in sorted(em.ns, key=_natural)
              if n not in ("np", "_Retrace", "_differs", "_index") and not callable(em.ns[n])]
    lines[1:1] = header
    source = "\n".join(lines) + "\n"
    return source, em.ns


def compile_source(name: str, source: str, ns: dict) -> Callable:
    filename = f"<dr.jit {name} #{next(_counter)}>"
    # Tracebacks and debuggers show the generated lines (linecache holds the source of this pseudo-file).
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec")
    exec(code, ns)  # noqa: S102 - our own generated source, compiled just above
    return ns[name]


# -- the cache and the public wrapper --


class _Variant:
    __slots__ = ("body", "fn", "guards", "source")

    def __init__(self, fn, source, guards, body):
        self.fn, self.source, self.guards, self.body = fn, source, guards, body


class _Entry:
    __slots__ = ("eager", "failures", "hits", "retraces", "variants")

    def __init__(self):
        self.variants: tuple = ()
        self.eager = False
        self.hits = 0
        self.retraces = 0
        self.failures: dict = {}  # site -> failed guard count


def _leaf_names(base: str, tree: PyTreeDef) -> list:
    """``params_W1`` for the leaf under key "W1" of argument ``params``, ``xs_0`` for the first of a tuple."""
    if tree.kind == "leaf":
        return [base]
    if tree.kind == "none":
        return []
    keys = tree.meta if tree.kind == "dict" else (
        tree.meta._fields if tree.kind == "namedtuple" else range(len(tree.children)))
    out = []
    for k, c in zip(keys, tree.children):
        out += _leaf_names(f"{base}_{k}", c)
    return out


def _positional_params(fun, depth: int = 0) -> list:
    """The parameters of ``fun``; for a transform's wrapper taking ``*args`` (grad, hessian, ...), those of the
    function it wraps (found in its closure as ``fun``), so that generated code uses the user's names."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        return []
    if depth < 8 and params and params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        code, cells = getattr(fun, "__code__", None), getattr(fun, "__closure__", None)
        if code is not None and cells:
            names = sorted(code.co_freevars, key=lambda n: n != "fun")  # the wrapped function first
            for n in names:
                try:
                    inner = cells[code.co_freevars.index(n)].cell_contents
                except ValueError:  # an empty cell
                    continue
                if callable(inner) and not isinstance(inner, type):
                    inner_params = _positional_params(inner, depth + 1)
                    if inner_params and inner_params[0].kind is not inspect.Parameter.VAR_POSITIONAL:
                        return inner_params
    return params


def _identifier(s: str, fallback: str) -> str:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in str(s))
    if not s or s[0].isdigit() or keyword.iskeyword(s):
        s = fallback if not s else "_" + s
    return s


_SCALARS = (bool, int, float, complex)


def _quick_key(tree, leaves: list):
    """The cache key of a pytree of arrays and numbers in one pass, appending its leaves in ``tree_flatten``'s
    order; None when something else is in it (the general key then applies). A tuple of plain arrays gives the
    tuple of their (shape, dtype): the first fast path's key."""
    t = type(tree)
    if t is np.ndarray:
        leaves.append(tree)
        return (tree.shape, tree.dtype)
    if t is tuple or t is list:
        parts = []
        for c in tree:
            k = _quick_key(c, leaves)
            if k is None:
                return None
            parts.append(k)
        return tuple(parts) if t is tuple else ("list", tuple(parts))
    if t is dict:
        try:
            keys = sorted(tree)
        except TypeError:
            return None
        parts = []
        for k in keys:
            v = _quick_key(tree[k], leaves)
            if v is None:
                return None
            parts.append(v)
        return ("dict", tuple(keys), tuple(parts))
    if t is float or t is int or t is bool:
        leaves.append(tree)
        return t
    if tree is None:
        return ("none",)
    return None


class Jitted:
    """A function compiled by ``dr.jit``; call it like the function. See ``dr.jit``."""

    def __init__(self, fun: Callable, static_argnums=(), static_argnames=(), max_variants: int = 8):
        if not callable(fun):
            raise TypeError(f"dr.jit: expected a function, got a {type(fun).__name__}")
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.static_argnames = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        self.max_variants = int(max_variants)
        self._init_state()

    def _init_state(self):
        self._cache: dict = {}
        self._lock = threading.RLock()
        self._warned = False
        self._traces = 0
        params = _positional_params(self.fun)
        self._param_names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self._fast = not self.static_argnums and not self.static_argnames

    # pickling: the compiled variants are dropped and rebuilt on first use
    def __getstate__(self):
        return {"fun": self.fun, "static_argnums": self.static_argnums, "static_argnames": self.static_argnames,
                "max_variants": self.max_variants}

    def __setstate__(self, state):
        self.__init__(state["fun"], state["static_argnums"], state["static_argnames"], state["max_variants"])

    def __get__(self, obj, objtype=None):  # a jitted method binds like a function
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self):
        return f"<dr.jit of {getattr(self.fun, '__name__', self.fun)!r}>"

    # -- signature --

    def _split(self, args, kwargs):
        """(dynamic args, dynamic kwargs, static key) with the static arguments taken out."""
        nargs = len(args)
        static_nums = tuple(sorted({i % nargs for i in self.static_argnums if -nargs <= i < nargs}))
        for i in self.static_argnums:
            if not -nargs <= i < nargs:
                raise ValueError(f"dr.jit({self.__name__}): static_argnums={self.static_argnums} is out of range "
                                 f"for {nargs} positional arguments")
        static = tuple((i, args[i]) for i in static_nums)
        static += tuple(sorted((k, v) for k, v in kwargs.items() if k in self.static_argnames))
        for k, v in static:
            try:
                hash(v)
            except TypeError:
                raise TypeError(f"dr.jit({self.__name__}): static argument {k!r} is a {type(v).__name__}, which is "
                                "not hashable; pass a tuple instead of a list, or make it a traced array") from None
        dyn_args = tuple(a for i, a in enumerate(args) if i not in static_nums)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        return dyn_args, dyn_kwargs, static_nums, static

    @staticmethod
    def _leaf_key(x):
        t = type(x)
        if t is np.ndarray:
            return (x.shape, x.dtype)
        if t in _SCALARS:
            return t
        if isinstance(x, np.generic):
            return (t,)
        if isinstance(x, np.ndarray):  # a subclass: traced as its array
            return (t, x.shape, x.dtype)
        try:
            hash(x)
        except TypeError:
            raise TypeError(f"dr.jit: an argument leaf of type {t.__name__} is neither an array nor hashable; pass "
                            "it with static_argnums/static_argnames (hashable) or as arrays") from None
        return ("static", t, x)

    # -- calling --

    def __call__(self, *args, **kwargs):
        if self._fast and not kwargs:
            # the common case: a few plain arrays
            key = []
            for a in args:
                if type(a) is np.ndarray:
                    key.append((a.shape, a.dtype))
                else:
                    break
            else:
                entry = self._cache.get(tuple(key))
                if entry is not None and not entry.eager:
                    out = self._replay(entry, args)
                    if out is not _MISS:
                        return out
                return self._call_slow(args, kwargs)
            # pytrees of arrays and numbers (parameters as lists of dicts): one pass builds key and leaves
            leaves: list = []
            key = _quick_key(args, leaves)
            if key is not None:
                entry = self._cache.get(key)
                if entry is not None and not entry.eager:
                    out = self._replay(entry, leaves)
                    if out is not _MISS:
                        return out
        return self._call_slow(args, kwargs)

    def _call_slow(self, args, kwargs):
        dyn_args, dyn_kwargs, static_nums, static = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        if any(isinstance(x, Tracer) for x in leaves):
            # Under an outer transform: trace through (the outer transform sees every primitive of fun).
            return self.fun(*args, **kwargs)
        leaf_keys = tuple(self._leaf_key(x) for x in leaves)
        key = _quick_key(args, []) if self._fast and not kwargs else None  # the fast paths' key (__call__)
        if key is None:
            key = (in_tree, leaf_keys, static)
        dyn_leaves = [x for x, k in zip(leaves, leaf_keys) if not (type(k) is tuple and k[:1] == ("static",))]
        entry = self._cache.get(key)
        if entry is not None:
            if entry.eager:
                return self.fun(*args, **kwargs)
            out = self._replay(entry, dyn_leaves)
            if out is not _MISS:
                return out
        tried = entry.variants if entry is not None else ()
        with self._lock:  # one trace at a time; calls of compiled code never wait for it
            entry = self._cache.setdefault(key, _Entry())
            # another thread may have just compiled the variant these arguments need
            out = self._replay(entry, dyn_leaves, skip=tried)
            if out is not _MISS:
                return out
            eager = entry.eager or len(entry.variants) >= self.max_variants
            if not eager:
                if entry.variants:
                    entry.retraces += 1
                try:
                    variant, out = self._trace(args, kwargs, static_nums, leaves, in_tree, leaf_keys)
                except _OuterTracer:
                    eager = True
                else:
                    entry.variants = entry.variants + (variant,)
                    return out
            elif not entry.eager:
                self._give_up(entry)
        return self.fun(*args, **kwargs)

    def _replay(self, entry, leaves, skip=()):
        """The output of the first compiled variant of ``entry`` whose guards hold for ``leaves`` (those in ``skip``
        left out), or _MISS."""
        for v in entry.variants:
            if v in skip:
                continue
            try:
                out = v.fn(*leaves)
            except _Retrace as r:
                self._note_failure(entry, v, r.k)
                continue
            entry.hits += 1
            return out
        return _MISS

    def _note_failure(self, entry, variant, k):
        g = variant.body[k]
        site = g.site
        entry.failures[site] = entry.failures.get(site, 0) + 1

    def _give_up(self, entry):
        entry.eager = True
        if not self._warned:
            self._warned = True
            site = max(entry.failures, key=entry.failures.get) if entry.failures else None
            where = f"{site[0]}:{site[1]} ({_site_text(site)})" if site else "an unknown line"
            warnings.warn(f"dr.jit({self.__name__}): {self.max_variants} compiled variants for one signature and "
                          f"a guard still fails: the value read at {where} keeps changing. Running this function "
                          "eagerly from now on (pass such values with static_argnums, or use dnp.where instead of "
                          "a Python if).", RuntimeWarning, stacklevel=4)

    def _arg_names(self, in_tree, n_dyn_args, static_nums, leaves):
        names = []
        pos_names = [n for i, n in enumerate(self._param_names) if i not in static_nums]
        args_tree, kwargs_tree = in_tree.children
        for i, t in enumerate(args_tree.children):
            base = pos_names[i] if i < len(pos_names) else f"arg{i}"
            names += _leaf_names(base, t)
        for key, t in zip(kwargs_tree.meta or (), kwargs_tree.children):
            names += _leaf_names(str(key), t)
        seen, out = set(), []
        for n in names:
            n = _identifier(n, "arg")
            if n in ("np",) or n.startswith("_") and n[1:2].isupper():
                n = n + "_"
            while n in seen:
                n += "_"
            seen.add(n)
            out.append(n)
        return out

    def _trace(self, args, kwargs, static_nums, leaves, in_tree, leaf_keys):
        names = self._arg_names(in_tree, len(args), static_nums, leaves)
        static_leaf = [type(k) is tuple and k[:1] == ("static",) for k in leaf_keys]
        with new_trace(JitTrace, set(names) | {"np"}) as trace:
            tracers, arg_vars = [], []
            for x, n, s in zip(leaves, names, static_leaf):
                if s:
                    tracers.append(x)
                    continue
                t = JitTracer(trace, x, trace.new_var(x, n))
                tracers.append(t)
                arg_vars.append(t.var)
            dyn_args, dyn_kwargs = tree_unflatten(in_tree, tracers)
            full_args = list(dyn_args)
            for i in static_nums:
                full_args.insert(i, args[i])
            full_kwargs = dict(dyn_kwargs)
            full_kwargs.update((k, v) for k, v in kwargs.items() if k in self.static_argnames)
            out = self.fun(*full_args, **full_kwargs)
            out_leaves, out_tree = tree_flatten(out)
            outputs, values = [], []
            for o in out_leaves:
                if isinstance(o, Tracer):
                    if o._trace is not trace:
                        if not o._trace.alive:
                            raise _leaked(f"dr.jit({self.__name__})")
                        raise _OuterTracer
                    outputs.append(o.var)
                    values.append(o.primal)
                else:
                    outputs.append(o)
                    values.append(o)
        self._traces += 1
        body, outputs = optimize(trace.body, outputs)
        fname = _identifier(str(getattr(self.fun, "__name__", "f")).replace("<lambda>", "lambda").strip("_()<>"), "f")
        source, ns = generate(fname, arg_vars, body, outputs, out_tree, trace.errstate)
        fn = compile_source(fname, source, ns)
        result = tree_unflatten(out_tree, [v.copy() if isinstance(v, np.ndarray) and not _is_var(o) else v
                                           for v, o in zip(values, outputs)])
        return _Variant(fn, source, [e for e in body if isinstance(e, Guard)], body), result

    # -- introspection --

    def source(self, *args, **kwargs) -> str:
        """The generated Python of this function for the signature of ``args`` (traced now if needed); one block
        per variant when guards made several.

        >>> print(dr.jit(dr.grad(lambda x: dnp.sum(dnp.sin(x)))).source(np.ones(3)))
        """
        dyn_args, dyn_kwargs, _, static = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
        self(*args, **kwargs)
        key = _quick_key(args, []) if self._fast and not kwargs else None  # as in _call_slow
        if key is None:
            key = (in_tree, tuple(self._leaf_key(x) for x in leaves), static)
        entry = self._cache.get(key)
        if entry is not None and entry.variants:
            return "\n".join(v.source for v in entry.variants)
        raise RuntimeError(f"dr.jit({self.__name__}).source: this signature runs eagerly (too many variants)")

    def cache_info(self) -> dict:
        """Counts: ``signatures``, ``variants`` (compiled functions), ``traces``, ``retraces`` (guard failures that
        traced a new variant), ``hits`` (calls answered by compiled code) and ``eager`` (signatures given up)."""
        entries = list(self._cache.values())
        return {
            "signatures": len(entries),
            "variants": sum(len(e.variants) for e in entries),
            "traces": self._traces,
            "retraces": sum(e.retraces for e in entries),
            "hits": sum(e.hits for e in entries),
            "eager": sum(e.eager for e in entries),
        }

    def cache_clear(self) -> None:
        """Forget every compiled variant (the next call traces again)."""
        with self._lock:
            self._cache.clear()


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), max_variants: int = 8) -> Jitted:
    """Compile ``fun``: trace it once per signature (pytree structure, leaf types, shapes and dtypes, static
    arguments) into NumPy calls, optimise them and run the generated Python from then on.

    Composes with every transform (``dr.jit(dr.grad(f))``, ``dr.grad(dr.jit(f))``). What the trace reads as a
    Python value (an ``if`` on a traced value, ``int(n)``) becomes a guard: when it changes, ``fun`` is traced
    again and both variants are kept, up to ``max_variants`` per signature, then ``fun`` runs eagerly (with one
    warning naming the line). Captured arrays are constants; side effects (print, NumPy's global random state)
    happen at trace time only. ``f.source(*args)`` shows the generated code, ``f.cache_info()`` the cache.

    >>> g = dr.jit(dr.grad(lambda x: dnp.sum(dnp.sin(x) ** 2)))
    >>> g(np.ones(3))
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, static_argnames=static_argnames,
                                 max_variants=max_variants)
    return Jitted(fun, static_argnums, static_argnames, max_variants)


_STOP_CODE[0] = Jitted._trace.__code__
