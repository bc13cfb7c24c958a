"""Primitives, the trace stack with levels, tracers, and the table that routes NumPy callables to dualrev.

A ``Primitive`` pairs a NumPy implementation with a JVP rule and a VJP rule. Calling it *binds* it: with no tracer
among the operands it runs NumPy directly; otherwise the highest-level trace among the operands processes the call,
and operands of lower levels are constants to that trace. Imports only numpy; never dualrev.numpy.
"""

from __future__ import annotations

import dis
import operator
import sys
import threading
import types
from contextlib import contextmanager
from typing import Callable

import numpy as np

__all__ = ["Primitive", "defprim", "Trace", "Tracer", "new_trace", "implements", "NUMPY_TABLE", "PRIMITIVES"]

PRIMITIVES: dict[str, "Primitive"] = {}  # name -> Primitive, every primitive ever defined
NUMPY_TABLE: dict[Callable, Callable] = {}  # NumPy callable -> the dualrev function that replaces it
NONDIFF_FUNCTIONS: set = set()  # composite functions of NUMPY_TABLE whose results carry no derivative
LIKE_FUNCTIONS: set = set()  # NumPy creation functions whose like= argument (a tracer) is passed on as like=


class LeakedTracerError(TypeError):
    """A tracer was used after the transform that made it had returned."""


# -- primitives --


class Primitive:
    """A NumPy-level operation with its derivative rules.

    The engine calls ``jvp(tangents, ans, xs, params)`` with ``None`` for zero tangents and
    ``vjp(ct, ans, xs, params, argnums)`` for the traced operands ``argnums``; both may return ``None`` (zero).
    Shapes and dtypes of the results are fitted to the operands by the engine, not by the rules.
    """

    __slots__ = (
        "name", "impl", "jvp", "vjp", "batch", "vjp_reads", "nondiff", "multiple_results", "jvp_full", "vjp_fwd",
        "doc", "supports_complex",
        "__weakref__",
    )

    def __init__(self, name, impl, *, jvp=None, vjp=None, batch=None, vjp_reads=None, nondiff=False,
                 multiple_results=False, jvp_full=None, vjp_fwd=None, doc="", supports_complex=False):
        self.name = name
        self.impl = impl
        self.jvp = jvp
        self.vjp = vjp
        # vmap's rule: ``batch(args, batched, **params)`` with batched operands carrying the batch on axis 0
        # returns the output(s) batched on axis 0; or "elementwise" (operands aligned by rank, then impl).
        self.batch = batch
        # What the VJP rule reads, so that a lean tape keeps only that (see defprim); None: it keeps everything.
        self.vjp_reads = vjp_reads
        self.nondiff = nondiff
        self.multiple_results = multiple_results
        self.jvp_full = jvp_full  # (primals, tangents, **params) -> (ans, tangent): replaces impl + jvp
        self.vjp_fwd = vjp_fwd  # (primals, **params) -> (ans, residuals): residuals reach vjp as params
        self.doc = doc
        # Whether the rules are right for complex values (JAX's conventions); a derivative trace refuses complex
        # operands and results of any other primitive rather than return a silently wrong number.
        self.supports_complex = supports_complex

    def __call__(self, *args, **params):
        # This is `bind`, the one copy: the highest-level trace among the operands processes the call; with no
        # tracer, NumPy runs. (Operators reach it through the NUMPY_TABLE, like np.* and dnp.* calls.)
        top = None
        for a in args:
            if isinstance(a, Tracer):
                t = a._trace
                if top is None or t.level > top.level:
                    top = t
            elif (type(a) is list or type(a) is tuple) and _holds_tracer(a):
                return self(*_array_likes(args), **params)  # NumPy's array-likes: [x, y] as dnp.array([x, y])
        if top is None:
            return self.impl(*args, **params)
        if not top.alive:
            raise _leaked(self.name)
        if self.nondiff:
            return top.process_nondiff(self, args, params)
        return top.process(self, args, params)

    def __repr__(self):
        return f"<primitive {self.name}>"

    # NumPy's ufunc methods, for the primitives that stand for a ufunc: dnp.add.reduce(x) is np.add.reduce(x)
    def _ufunc_method(self, method, args, kwargs):
        if not isinstance(self.impl, np.ufunc):
            raise AttributeError(f"dualrev: primitive {self.name} is not a ufunc and has no .{method}")
        return _dispatch(ufunc_method, self.impl, method, *args, **kwargs)

    def reduce(self, *args, **kwargs):
        return self._ufunc_method("reduce", args, kwargs)

    def accumulate(self, *args, **kwargs):
        return self._ufunc_method("accumulate", args, kwargs)

    def outer(self, *args, **kwargs):
        return self._ufunc_method("outer", args, kwargs)

    def at(self, *args, **kwargs):
        return self._ufunc_method("at", args, kwargs)


def array_like(a):
    """The key under which dualrev.numpy registers the conversion of a list or tuple holding traced values."""
    raise NotImplementedError


def _holds_tracer(obj) -> bool:
    for o in obj:
        if isinstance(o, Tracer) or (type(o) is list or type(o) is tuple) and _holds_tracer(o):
            return True
    return False


def _array_likes(args):
    return [_dispatch(array_like, a) if (type(a) is list or type(a) is tuple) and _holds_tracer(a) else a
            for a in args]


def _add_tangents(a, b):
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, tuple):  # several outputs: add output by output
        return tuple(_add_tangents(u, v) for u, v in zip(a, b))
    return a + b


def _sum_tangents(rules):
    def jvp(tangents, ans, xs, params):
        out = None
        for rule, dx in zip(rules, tangents):
            if dx is not None and rule is not None:
                out = _add_tangents(out, rule(dx, ans, *xs, **params))
        return out

    return jvp


def _per_operand_vjp(rules):
    def vjp(ct, ans, xs, params, argnums):
        out = []  # a loop, not a comprehension: one Python frame less per node of the backward pass
        for i in argnums:
            rule = rules[i]
            out.append(None if rule is None else rule(ct, ans, *xs, **params))
        return out

    return vjp


def _vjp_with_argnum(rule):
    def vjp(ct, ans, xs, params, argnums):
        return [rule(ct, ans, *xs, argnum=i, **params) for i in argnums]

    return vjp


def _variadic_jvp(rule):
    def jvp(tangents, ans, xs, params):
        return rule(tangents, ans, *xs, **params)

    return jvp


def _from_partials(partials):
    def jvp(tangents, ans, xs, params):
        out = None
        for p, dx in zip(partials, tangents):
            if dx is not None and p is not None:
                t = dx * p(ans, *xs)
                out = t if out is None else out + t
        return out

    def vjp(ct, ans, xs, params, argnums):
        out = []
        for i in argnums:
            p = partials[i]
            out.append(None if p is None else ct * p(ans, *xs))
        return out

    return jvp, vjp


def defprim(impl: Callable, *, name: str | None = None, partials=None, jvp=None, vjp=None, batch=None,
            vjp_reads=None, nondiff: bool = False, multiple_results: bool = False, numpy: Callable | tuple = (),
            jvp_full=None, vjp_fwd=None, note: str = "", supports_complex: bool = False) -> Primitive:
    """Define a primitive from its NumPy implementation and its derivative rules, in one place.

    Rules take ``(tangent or cotangent, ans, *operands, **params)`` and are written with dualrev operations so
    that they can be differentiated again. Give either

    - ``partials``: for elementwise operations, one ``(ans, *operands) -> local derivative`` per operand (a bare
      callable for a unary op); the JVP multiplies by the tangent, the VJP by the cotangent; or
    - ``jvp`` and ``vjp``: tuples with one rule per operand (``None`` where the derivative is identically zero), or
      single callables: ``jvp(tangents, ans, *xs)`` gets all tangents (``None`` for zeros) and
      ``vjp(ct, ans, *xs, argnum=i)`` is asked for one operand at a time (variadic operations);
    - ``nondiff=True``: the output has no derivative and is returned as a plain array even from tracers.

    ``batch``: vmap's rule, ``batch(args, batched, **params)``: the operands flagged in ``batched`` carry the
    batch on axis 0; it returns the output (or outputs) with the batch on axis 0, written with dualrev operations.
    ``"elementwise"`` (the default for ufuncs and ``partials``) aligns operand ranks and calls the primitive.

    ``vjp_reads``: the values the VJP rule reads, so that the tape keeps only those (memory): one entry per operand,
    a tuple of ``"ans"`` and/or operand positions, e.g. ``((1,), (0,))`` for multiply (each operand's cotangent
    reads the other operand). Shapes and dtypes are always kept. A callable ``(traced positions, operand count) ->
    (reads ans, positions read)`` suits variadic primitives. ``None`` (the default) keeps everything. A rule that
    reads a value its entry omits fails loudly, never silently.

    ``supports_complex``: the rules are right for complex operands and results (JAX's conventions: the VJP is the
    transpose of the JVP, not its conjugate transpose). Without it a derivative trace refuses complex operands and
    results (``refuse_complex``).

    ``numpy``: the NumPy callable(s) this primitive stands for (default: ``impl`` itself if it is a ufunc), so
    ``np.sin(tracer)`` and ``tracer.__add__`` dispatch here. ``note``: a convention worth stating (the derivative
    at a kink, say); it appears in the coverage table.

    >>> sin = defprim(np.sin, partials=lambda ans, x: cos(x))
    >>> sign = defprim(np.sign, nondiff=True)
    """
    name = name or getattr(impl, "__name__", None)
    if name is None or name in PRIMITIVES:
        raise ValueError(f"defprim: primitive name {name!r} is missing or already defined")
    if partials is not None:
        if callable(partials):
            partials = (partials,)
        jvp_rule, vjp_rule = _from_partials(tuple(partials))
    else:
        jvp_rule = vjp_rule = None
        if isinstance(jvp, tuple):
            jvp_rule = _sum_tangents(jvp)
        elif jvp is not None:
            jvp_rule = _variadic_jvp(jvp)
        if isinstance(vjp, tuple):
            vjp_rule = _per_operand_vjp(vjp)
        elif vjp is not None:
            vjp_rule = _vjp_with_argnum(vjp)
    if batch is None and (partials is not None or isinstance(impl, np.ufunc)):
        batch = "elementwise"
    prim = Primitive(name, impl, jvp=jvp_rule, vjp=vjp_rule, batch=batch, vjp_reads=vjp_reads, nondiff=nondiff,
                     multiple_results=multiple_results, jvp_full=jvp_full, vjp_fwd=vjp_fwd,
                     doc=note, supports_complex=supports_complex)
    PRIMITIVES[name] = prim
    if isinstance(impl, np.ufunc) and not numpy:
        numpy = (impl,)
    for f in numpy if isinstance(numpy, tuple) else (numpy,):
        NUMPY_TABLE[f] = prim
    return prim


def implements(*numpy_funcs: Callable, nondiff: bool = False):
    """Register a dualrev function as the replacement of NumPy callables on traced values.

    ``nondiff=True`` marks a function whose result carries no derivative (a query, an index, a plain array).
    """

    def register(f):
        for nf in numpy_funcs:
            NUMPY_TABLE[nf] = f
        if nondiff:
            NONDIFF_FUNCTIONS.add(f)
        return f

    return register


# -- traces and levels --


class Trace:
    """One transform's interpreter. ``level`` orders nested transforms: the higher level handles a primitive."""

    __slots__ = ("level", "alive", "__weakref__")
    batched = False  # a batch level's tracers stand for many values (see primal_value)
    # A recording level (dr.jit's) under which a concrete read of a value is a guard: such a trace has
    # ``guard_read(tracer) -> value`` and ``guard_test(pred, tracers_or_values, result)``.
    guards_reads = False

    def __init__(self, level: int):
        self.level = level
        self.alive = True

    def process(self, prim: Primitive, args: tuple, params: dict):
        raise NotImplementedError

    def process_nondiff(self, prim: Primitive, args: tuple, params: dict):
        # A derivative trace has nothing to add to a result without derivative: drop this level and bind again
        # (a batch trace below still has to batch it).
        return prim(*[a.primal if isinstance(a, Tracer) and a._trace is self else a for a in args], **params)


class _TraceState(threading.local):
    # The trace stack is per thread, so transforms running in several threads do not see each other's levels.
    def __init__(self):
        self.stack: list[Trace] = []


_state = _TraceState()


@contextmanager
def new_trace(trace_type: type, *args):
    """Open a new level above every active one; on exit (normal or by exception) it is closed and dead."""
    stack = _state.stack
    trace = trace_type(len(stack) + 1, *args)
    stack.append(trace)
    try:
        yield trace
    finally:
        trace.alive = False
        stack.remove(trace)


def is_complex(ans) -> bool:
    """Whether a primitive's result (one value, or a tuple of them) is complex."""
    if type(ans) is tuple:
        return any(is_complex(a) for a in ans)
    dtype = getattr(ans, "dtype", None)
    return (dtype is not None and dtype.kind == "c") or isinstance(ans, complex)


def refuse_complex(prim: Primitive, ans, operands) -> None:
    """A derivative trace's check for a primitive without ``supports_complex``: a complex result or operand is a
    TypeError naming the primitive and the dtype, never a silently wrong number. (A real result of a complex operand,
    ``abs(z)``, would otherwise run a rule written for real values.)"""
    if not (is_complex(ans) or any(is_complex(v) for v in operands)):
        return
    values = [*(ans if type(ans) is tuple else (ans,)), *operands]
    dtypes = sorted({str(getattr(v, "dtype", "complex128")) for v in values if is_complex(v)})
    raise TypeError(
        f"dualrev: {prim.name} does not support complex values ({', '.join(dtypes)}) under a derivative; its "
        "rules are written for real numbers. Write this step in real arithmetic (e.g. on dnp.real(z) and "
        "dnp.imag(z)), or apply dualrev.stop_gradient to its traced operand if no derivative should flow "
        "through it. docs/complex.md lists what supports complex values."
    )


def _leaked(where: str) -> LeakedTracerError:
    return LeakedTracerError(
        f"{where}: a tracer was used after the transform that created it returned (a leaked tracer). "
        "Return values out of the transformed function instead of storing them in outer variables."
    )


def primal_value(x):
    """The plain NumPy value under every level of tracing (no derivative).

    Under vmap a value differs from example to example and has no single plain value: that is a TypeError (a
    result computed from the stack of every example would silently be taken as shared by all of them).
    """
    while isinstance(x, Tracer):
        if not x._trace.alive:
            raise _leaked("primal_value")
        if x._trace.batched:
            raise TypeError("dualrev: this operation needs a concrete value, but under vmap the value differs per "
                            "example (a NumPy function without a batching rule?)")
        if x._trace.guards_reads:
            return x._trace.guard_read(x)
        x = x.primal
    return x


def concrete_value(x):
    """Like ``primal_value``, but under vmap every example's value, stacked on leading axes: for checks over all
    examples (``np.any(concrete_value(x) == 0)``) and dtypes, never for shapes or results."""
    while isinstance(x, Tracer):
        if not x._trace.alive:
            raise _leaked("concrete_value")
        if x._trace.guards_reads:
            return x._trace.guard_read(x)
        x = x.primal
    return x


def concrete_test(pred: Callable, *xs):
    """``pred(*concrete values of xs)``: a rule's look at the data (a fast path for zeros, say), every example's
    values under vmap as in ``concrete_value``. Under ``dr.jit`` the look is a guard: the compiled code evaluates
    ``pred`` again on each call and retraces when its result changes. Prefer it to ``concrete_value`` when only a
    summary of the values matters (``np.any(v == 0)``): a guard on the whole value would retrace for every input.
    """
    values, low, recorder = [], [], None
    for x in xs:
        while isinstance(x, Tracer):
            trace = x._trace
            if not trace.alive:
                raise _leaked("concrete_test")
            if trace.guards_reads:
                recorder = trace
                break
            x = x.primal
        low.append(x)
        values.append(x.primal if isinstance(x, Tracer) else x)
    result = pred(*values)
    if recorder is not None:
        recorder.guard_test(pred, low, result)
    return result


def dtype_of(x) -> np.dtype:
    """The dtype of a value, traced or not, without reading its data (no guard under ``dr.jit``)."""
    return x.dtype if isinstance(x, Tracer) else np.result_type(x)


# -- tracers --


class BufferWriteError(TypeError):
    """A traced value written into a NumPy array (``y[i] = x``). For a single element NumPy raises its own
    ValueError ("setting an array element with a sequence") with this error as its cause, printed first."""


_BUFFER_WRITE = (
    "dualrev: a NumPy array cannot hold a traced value: `y[i] = x` with y a NumPy array (np.zeros(n), say) would "
    "drop x's derivative. Make the buffer a traced one, y = np.zeros_like(x) or np.zeros(n, like=x) "
    "(then y[i] = x works), write the update functionally, y = dnp.at(y)[i].set(x), or build the array from "
    "traced values in one go with dnp.stack([...])."
)


# Where a traced value was converted by a library the user called, what to use instead (prefix -> advice).
_ALTERNATIVES = {
    "numpy": "call the dualrev.numpy (dnp) function of the same name on the traced values; a list of traced values "
             "must become an array first with dnp.stack([...]), since NumPy converts lists before dispatching",
    "scipy": "scipy functions convert their inputs to NumPy arrays; use dualrev.numpy (dnp) operations instead",
    "numpy.lib.vectorize": "np.vectorize calls a Python function on plain numbers; map the function over the "
                           "leading axis with dualrev.vmap(f) instead",
}


def _public_name(module: str, qualname: str) -> str:
    """``scipy.linalg._decomp_cholesky`` + ``cholesky`` -> ``scipy.linalg.cholesky``: private submodules dropped."""
    parts = []
    for p in module.split("."):
        if p.startswith("_"):
            break
        parts.append(p)
    return ".".join(parts + [qualname])


def _library_caller():
    """The library function (NumPy, SciPy, or anything installed) that the user's code called and that converted
    a traced value to a NumPy array, e.g. ``scipy.linalg.cholesky``; None if the user's code converted it itself."""
    import sysconfig

    libs = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")})
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "dualrev":
        frame = frame.f_back  # dualrev's own frames (the tracer's methods)
    found = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not frame.f_code.co_filename.startswith(libs) or module.split(".")[0] == "dualrev":
            break  # the user's code (or a dualrev transform running it): the caller of ``found``
        code = frame.f_code
        if "<locals>" not in code.co_qualname:
            found = _public_name(module, code.co_qualname)
        else:  # a decorator's wrapper: named by the function it wraps, found among its closure's variables
            for name in code.co_freevars:
                f = frame.f_locals.get(name)
                if isinstance(f, types.FunctionType) and "<locals>" not in f.__qualname__:
                    found = _public_name(f.__module__, f.__qualname__)
                    break
        frame = frame.f_back
    return found


def _writing_into_a_buffer() -> bool:
    """Whether NumPy is converting a traced value for a subscript assignment written in Python (``y[i] = x``):
    the first frame outside dualrev is executing a STORE_SUBSCR (or STORE_SLICE) instruction."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "dualrev":
        frame = frame.f_back
    if frame is None:
        return False
    code, i = frame.f_code.co_code, frame.f_lasti
    return 0 <= i < len(code) and dis.opname[code[i]] in ("STORE_SUBSCR", "STORE_SLICE")


# Where dualrev mirrors a library's functions: scipy.integrate.solve_ivp -> dualrev.integrate.solve_ivp, ...
_COUNTERPARTS = {"numpy": "dualrev.numpy", "scipy.integrate": "dualrev.integrate", "scipy.optimize": "dualrev.optimize",
                 "scipy": "dualrev.scipy"}


def _dualrev_counterpart(name: str):
    """The dualrev function that stands for the library function ``name`` (``scipy.linalg.cholesky`` ->
    ``dualrev.scipy.linalg.cholesky``), if dualrev has one; else None."""
    import importlib

    for prefix in sorted(_COUNTERPARTS, key=len, reverse=True):
        if name == prefix or not name.startswith(prefix + "."):
            continue
        module, _, attr = (_COUNTERPARTS[prefix] + name[len(prefix):]).rpartition(".")
        try:
            if callable(getattr(importlib.import_module(module), attr, None)):
                return f"{module}.{attr}"
        except ImportError:
            pass
        return None
    return None


def conversion_error(what: str) -> TypeError:
    """The error for a traced value turned into a plain one (float(), np.asarray, ...): it would drop the
    derivative. Names the library function that tried, when it was one, and what to use instead."""
    caller = _library_caller()
    if caller is None:
        lists = (" A list or tuple of traced values given to a NumPy function is converted by NumPy before dualrev "
                 "sees it: write dnp.f([...]) or np.f(dnp.array([...])) instead." if "array" in what else "")
        return TypeError(f"dualrev: {what} of a traced value would silently drop its derivative. Use dualrev.numpy "
                         "(dnp) operations on it, or dualrev.stop_gradient(x) if you mean to drop the derivative."
                         + lists)
    replacement = _dualrev_counterpart(caller)
    if replacement is not None:
        advice = f"call {replacement} instead, which takes traced values"
        if caller.startswith("numpy"):
            advice += (" (NumPy converts a list or tuple of traced values before dualrev sees it: write dnp.f([...]) "
                       "or np.f(dnp.array([...])))")
    else:
        prefixes = [p for p in _ALTERNATIVES if caller == p or caller.startswith(p + ".")]
        advice = (_ALTERNATIVES[max(prefixes, key=len)] if prefixes
                  else "use dualrev.numpy (dnp) operations on traced values")
    return TypeError(f"dualrev: {caller} tried {what} of a traced value, which would silently drop its "
                     f"derivative: {advice}; or apply dualrev.stop_gradient(x) first if no derivative should flow.")


def index_update(x):
    """The key under which dualrev.numpy registers the ``x.at[...]`` helper."""
    raise NotImplementedError


def _ufunc_module(f) -> str:
    """Where a ufunc without ``__module__`` lives: NumPy, or scipy.special (whose functions are ufuncs too)."""
    special = sys.modules.get("scipy.special")
    if getattr(np, f.__name__, None) is not f and special is not None and getattr(special, f.__name__, None) is f:
        return "scipy.special"
    return "numpy"


def index_write(x, idx, value):
    """The key under which dualrev.numpy registers ``x[idx] = value`` on a traced ``x`` (dualrev.numpy.inplace)."""
    raise NotImplementedError


def inplace_operator(x, np_func, value):
    """The key under which dualrev.numpy registers ``x += value`` and the other in-place operators."""
    raise NotImplementedError


def ufunc_method(ufunc, method, *inputs, **kwargs):
    """The key under which dualrev.numpy registers ufunc methods on traced values (``np.add.reduce(x)``)."""
    raise NotImplementedError


def _outs(out):
    return out if isinstance(out, tuple) else (out,)


def _no_rule(np_func: Callable):
    module = getattr(np_func, "__module__", None) or (_ufunc_module(np_func) if isinstance(np_func, np.ufunc)
                                                      else "numpy")
    module = "numpy" if module.startswith("numpy._core") or module == "numpy.core" else module
    if module.startswith("scipy"):
        raise TypeError(f"dualrev: {module}.{np_func.__name__} has no derivative rule, so it cannot take traced "
                        "values; see dualrev.scipy and the coverage table (docs/coverage.md) for what is supported")
    raise TypeError(f"dualrev: {module}.{np_func.__name__} has no derivative rule, so it cannot take traced "
                    "values; see dualrev.numpy for the supported functions")


def _dispatch(np_func: Callable, *args, **kwargs):
    f = NUMPY_TABLE.get(np_func)
    if f is None:
        _no_rule(np_func)
    return f(*args, **kwargs)


def _binary(np_func, reflected=False):
    """An operator of Tracer: NumPy's function for it from the table, called directly when it is a primitive (its
    call is bind). A second, inlined copy of bind here bought 3% on benchmarks/scalar_chain.py (5.22 against 5.36
    us/op), under the 10% it would need; going through _dispatch would cost 5%."""
    table = NUMPY_TABLE

    def op(self, other):
        f = table.get(np_func)
        if type(f) is not Primitive:
            return _dispatch(np_func, *((other, self) if reflected else (self, other)))
        return f(other, self) if reflected else f(self, other)

    return op


def _inplace(np_func):
    def op(self, other):
        return _dispatch(inplace_operator, self, np_func, other)

    return op


def _method(np_func):
    def method(self, *args, **kwargs):
        return _dispatch(np_func, self, *args, **kwargs)

    method.__name__ = np_func.__name__
    return method


class Tracer:
    """A value being traced by a transform. Behaves like a NumPy array; every operation is a primitive call."""

    # ``_alias``: unset, or what dualrev.numpy.inplace knows of the arrays sharing memory with this one in NumPy
    # (a view's root and position, or a root's live views), so that writes follow NumPy's semantics.
    __slots__ = ("_trace", "primal", "_alias", "__weakref__")
    __array_priority__ = 1000
    __hash__ = None  # equality is elementwise, as for arrays

    # the value, without derivative information
    @property
    def aval(self):
        return primal_value(self)

    # Asked level by level (not of primal_value) because a batch level hides its batch axis.
    @property
    def shape(self):
        p = self.primal
        return p.shape if isinstance(p, Tracer) else np.shape(p)

    @property
    def dtype(self):
        p = self.primal
        return p.dtype if isinstance(p, Tracer) else np.result_type(p)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __len__(self):
        shape = self.shape
        if not shape:
            raise TypeError("len() of unsized (0-d) traced value")
        return shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        # Control flow on a traced value is allowed: it reads the value and carries no derivative.
        if not self._trace.alive:
            raise _leaked("bool()")
        return bool(self.primal)

    def _refuse(self, what):
        raise conversion_error(what)

    def __float__(self):
        if _writing_into_a_buffer():  # `y[i] = x` with y a NumPy array: NumPy asks for float(x)
            raise BufferWriteError(_BUFFER_WRITE)
        self._refuse("float()")

    def __int__(self):
        self._refuse("int()")

    def __index__(self):
        self._refuse("using as an index")

    def __complex__(self):
        self._refuse("complex()")

    def __array__(self, dtype=None, copy=None):
        if _writing_into_a_buffer():  # `y[1:] = x` with y a NumPy array
            raise BufferWriteError(_BUFFER_WRITE)
        self._refuse("converting to a NumPy array")

    def item(self, *args):
        self._refuse(".item()")

    def tolist(self):
        self._refuse(".tolist()")

    def __setitem__(self, idx, value):
        # NumPy's semantics: this object (and every traced view of the same memory) is rebound to x.at[idx].set(v)
        _dispatch(index_write, self, idx, value)

    __iadd__ = _inplace(np.add)
    __isub__ = _inplace(np.subtract)
    __imul__ = _inplace(np.multiply)
    __itruediv__ = _inplace(np.true_divide)
    __ifloordiv__ = _inplace(np.floor_divide)
    __imod__ = _inplace(np.remainder)
    __ipow__ = _inplace(np.power)
    __imatmul__ = _inplace(np.matmul)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            return _dispatch(ufunc_method, ufunc, method, *inputs, **kwargs)
        if "out" in kwargs and all(isinstance(o, Tracer) for o in _outs(kwargs["out"])):
            # NumPy's out= on traced outputs: compute, then write the results into them (in place, as NumPy)
            outs = _outs(kwargs.pop("out"))
            mask = kwargs.pop("where", True)  # with out=, the elements where= leaves out keep out's values
            res = _dispatch(ufunc, *inputs, **kwargs)
            for o, r in zip(outs, res if len(outs) > 1 else (res,)):
                _dispatch(index_write, o, Ellipsis, r if mask is True else _dispatch(np.where, mask, r, o))
            return outs if len(outs) > 1 else outs[0]
        if "out" in kwargs:
            raise TypeError(f"dualrev: numpy.{ufunc.__name__} with a traced operand cannot write into a NumPy "
                            "array (out=, or an in-place operator such as y += x on a NumPy y): a NumPy buffer "
                            "cannot hold a traced value; write y = y + x, or make y traced with np.zeros_like(x)")
        refused = sorted(k for k in kwargs if k in ("out", "where"))
        if refused:
            raise TypeError(f"dualrev: numpy.{ufunc.__name__} on traced values takes no {refused} argument: "
                            "results are new arrays, never written into `out`")
        return _dispatch(ufunc, *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func in LIKE_FUNCTIONS:  # NEP 35: np.zeros(3, like=x) asks the traced x to make the array
            kwargs = dict(kwargs, like=self)
        return _dispatch(func, *args, **kwargs)

    __add__ = _binary(np.add)
    __radd__ = _binary(np.add, True)
    __sub__ = _binary(np.subtract)
    __rsub__ = _binary(np.subtract, True)
    __mul__ = _binary(np.multiply)
    __rmul__ = _binary(np.multiply, True)
    __truediv__ = _binary(np.true_divide)
    __rtruediv__ = _binary(np.true_divide, True)
    __floordiv__ = _binary(np.floor_divide)
    __rfloordiv__ = _binary(np.floor_divide, True)
    __mod__ = _binary(np.remainder)
    __rmod__ = _binary(np.remainder, True)
    __divmod__ = _binary(np.divmod)
    __rdivmod__ = _binary(np.divmod, True)
    __pow__ = _binary(np.power)
    __rpow__ = _binary(np.power, True)
    __matmul__ = _binary(np.matmul)
    __rmatmul__ = _binary(np.matmul, True)
    __lt__ = _binary(np.less)
    __le__ = _binary(np.less_equal)
    __gt__ = _binary(np.greater)
    __ge__ = _binary(np.greater_equal)
    __eq__ = _binary(np.equal)
    __ne__ = _binary(np.not_equal)

    def __neg__(self):
        return _dispatch(np.negative, self)

    def __pos__(self):
        return _dispatch(np.copy, self)  # a new array, as in NumPy

    def __abs__(self):
        return _dispatch(np.absolute, self)

    def __getitem__(self, idx):
        return _dispatch(operator.getitem, self, idx)

    # array methods, routed to the same functions as their NumPy counterparts
    sum = _method(np.sum)
    mean = _method(np.mean)
    prod = _method(np.prod)
    max = _method(np.max)
    min = _method(np.min)
    var = _method(np.var)
    std = _method(np.std)
    cumsum = _method(np.cumsum)
    dot = _method(np.dot)
    ravel = _method(np.ravel)
    squeeze = _method(np.squeeze)
    swapaxes = _method(np.swapaxes)
    clip = _method(np.clip)
    argmax = _method(np.argmax)
    argmin = _method(np.argmin)
    cumprod = _method(np.cumprod)
    argsort = _method(np.argsort)
    def sort(self, axis=-1, kind=None, order=None, *, stable=None):
        """Sorts in place and returns None, as ``ndarray.sort`` (``np.sort(x)`` returns a sorted copy)."""
        _dispatch(index_write, self, Ellipsis, _dispatch(np.sort, self, axis=axis, kind=kind, order=order))

    def partition(self, kth, axis=-1, kind="introselect", order=None):
        """Partitions in place and returns None, as ``ndarray.partition``."""
        _dispatch(index_write, self, Ellipsis, _dispatch(np.partition, self, kth, axis=axis, kind=kind, order=order))

    def fill(self, value):
        """Sets every element to ``value``, in place, as ``ndarray.fill``."""
        _dispatch(index_write, self, Ellipsis, value)

    def put(self, indices, values, mode="raise"):
        """``self.flat[indices] = values``, in place, as ``ndarray.put``."""
        _dispatch(np.put, self, indices, values, mode=mode)
    round = _method(np.round)
    conj = conjugate = _method(np.conj)
    trace = _method(np.trace)
    diagonal = _method(np.diagonal)
    nonzero = _method(np.nonzero)
    take = _method(np.take)
    repeat = _method(np.repeat)
    any = _method(np.any)
    all = _method(np.all)

    @property
    def real(self):
        return _dispatch(np.real, self)

    @property
    def imag(self):
        return _dispatch(np.imag, self)

    @property
    def at(self):
        """Functional index updates, JAX-style: ``x.at[idx].set(v)``, ``.add(v)``, ``.multiply(v)``."""
        return _dispatch(index_update, self)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return _dispatch(np.reshape, self, shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return _dispatch(np.transpose, self, axes or None)

    def astype(self, dtype):
        return _dispatch(np.ndarray.astype, self, dtype)

    def flatten(self):
        return _dispatch(np.ravel, self)

    def copy(self, order="C"):
        return _dispatch(np.copy, self)

    @property
    def T(self):
        return _dispatch(np.transpose, self)

    @property
    def mT(self):
        return _dispatch(np.swapaxes, self, -1, -2)

    def __repr__(self):
        return f"{type(self).__name__}(level={self._trace.level}, primal={self.primal!r})"
