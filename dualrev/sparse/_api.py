"""``jacobian`` and ``hessian``: sparse derivatives as callables that return ``scipy.sparse`` CSR matrices.

At the first call (and whenever the recorded program changes, see ``guard``) the pattern is detected from the
trace and colored; every call then pays one vmapped pass over the seed matrix: JVPs (forward), VJPs (reverse) or
Hessian-vector products (forward over reverse), one per color, and decompresses.

With ``jit=True`` (the default) the pass is compiled by ``dr.jit``, and detection and coloring belong to its
trace: the traced function (``_Sparse._make_pass``) detects the pattern at the point it is traced at, bakes that
coloring's seeds into the program and returns, beside the compressed products, the number of its plan (a constant
of the generated code). A guard of the compiled code that fails (Python control flow on values) retraces, and the
new trace detects again, so each compiled variant carries the plan of the branch it was traced on, never the
pattern of another branch. Eagerly (``jit=False``, or when ``dr.jit`` gives up after too many variants) the same
function records the program at every call and detects again when it differs. Imports compile, transforms,
batching, sparse.detect and sparse.coloring.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import dualrev.numpy as dnp
from dualrev.batching import vmap
from dualrev.compile import JitTracer, jit
from dualrev.core import Tracer
from dualrev.sparse.coloring import ORDERINGS, color_columns, color_rows, star_coloring
from dualrev.sparse.detect import FlatInput, Propagation, flat_outputs, signature, trace, trace_generic
from dualrev.transforms import grad, jvp, vjp
from dualrev.tree_util import tree_flatten, tree_unflatten

__all__ = ["SparseHessian", "SparseJacobian", "hessian", "jacobian"]

_MODES = ("forward", "reverse")
# Eagerly, plans are kept for this many recent programs (a function whose program keeps changing, e.g. with an
# index argument that differs at every call, would otherwise keep a pattern per call).
_KEEP_PROGRAMS = 16


def _fun_name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


def _user_pattern(where, sparsity):
    if sparsity is None:
        return None
    if not sp.issparse(sparsity):
        arr = np.asarray(sparsity)
        if arr.ndim != 2:
            raise TypeError(f"{where}: sparsity must be a 2-D scipy.sparse matrix (or array), got "
                            f"{type(sparsity).__name__} of shape {arr.shape}")
        sparsity = arr
    P = sp.csr_matrix(sparsity, dtype=bool)
    P.eliminate_zeros()
    P.sort_indices()
    return P


class _Plan:
    """A pattern, its coloring and what a call needs from them: the seed matrix (colors x n, in the dtype of the
    point), where each nonzero is read in the compressed products (flat indices into the colors x length array a
    vmapped pass returns) and an empty CSR matrix with the pattern's structure to copy."""

    __slots__ = ("coloring", "mode", "pattern", "read_at", "seeds", "template")

    def __init__(self, pattern, coloring, mode, dtype):
        self.pattern, self.coloring, self.mode = pattern, coloring, mode
        self.seeds = np.ascontiguousarray(coloring.seeds(dtype).T)
        m, n = pattern.shape
        rows_or_colors, cols_or_colors = coloring._src
        if coloring.kind == "row":  # B = S'J, colors x n: read at (color of the row, column)
            color_of, pos, length = rows_or_colors, cols_or_colors, n
        else:  # B = (J S)' or (H S)', colors x m: read at (row, color)
            color_of, pos, length = cols_or_colors, rows_or_colors, m
        self.read_at = (np.asarray(color_of, np.intp) * length + np.asarray(pos, np.intp))
        P = coloring.pattern
        self.template = sp.csr_matrix((np.zeros(P.nnz, dtype), P.indices.copy(), P.indptr.copy()), shape=P.shape)

    def decompress(self, B):
        """The CSR matrix from the products ``B`` (colors x length). Built without scipy's checks, which cost more
        than a small pass (the structure is the pattern's): a shallow copy of the template with its own arrays."""
        T = self.template
        M = type(T).__new__(type(T))
        M.__dict__.update(T.__dict__)
        M.data = np.reshape(B, -1).take(self.read_at)
        M.indices, M.indptr = T.indices.copy(), T.indptr.copy()  # the caller may change them in place
        return M


def _concrete(args):
    """The arguments with the values of this trace's tracers (the point the trace is at), and those tracers."""
    leaves, tree = tree_flatten(args)
    traced = [a for a in leaves if isinstance(a, JitTracer)]
    if not traced:
        return args, traced
    return tree_unflatten(tree, [a.primal if isinstance(a, JitTracer) else a for a in leaves]), traced


class _Sparse:
    """What the Jacobian and Hessian callables share: the flat point, the plans (pattern and coloring) detected,
    the compressed pass (compiled per input structure) and the guard."""

    where = ""

    def __init__(self, fun, sparsity, ordering, guard, jit):
        if not callable(fun):
            raise TypeError(f"dualrev.sparse.{self.where}: fun must be callable, got {type(fun).__name__}")
        if ordering not in ORDERINGS:
            raise ValueError(f"dualrev.sparse.{self.where}: unknown ordering {ordering!r}; choose one of "
                             f"{', '.join(ORDERINGS)}")
        self.fun, self.ordering, self.guard, self.jit = fun, ordering, bool(guard), bool(jit)
        self.name = f"dualrev.sparse.{self.where}({_fun_name(fun)})"
        self._user = _user_pattern(self.name, sparsity)
        self.pattern = self.coloring = None  # set at each call: those of the plan the call used
        self.detections = 0  # how many times a pattern was detected (once per program: input structure, branch)
        self._plans: dict = {}  # plan number -> _Plan
        self._by_program: dict = {}  # (input structure, program signature) -> plan number, the newest last
        self._latest: dict = {}  # input structure -> the plan number last made for it (guard=False, user pattern)
        self._passes: dict = {}  # input structure -> (FlatInput, the compressed pass; a dr.jit with jit=True)
        self._in_compiled_code: set = set()  # plan numbers constants of compiled variants: kept
        self._count = 0

    @property
    def ncolors(self) -> int | None:
        """The number of compressed passes per call (None before the first call)."""
        return None if self.coloring is None else self.coloring.ncolors

    def cache_info(self) -> dict:
        """``detections`` and ``plans`` (patterns colored), and ``dr.jit``'s counts for the compiled passes
        (``traces``, ``retraces``, ``hits``, ... summed over input structures; absent with ``jit=False``)."""
        info = {"detections": self.detections, "plans": len(self._plans)}  # plans: those kept
        for _, fn in self._passes.values():
            if hasattr(fn, "cache_info"):
                for k, v in fn.cache_info().items():
                    info[k] = info.get(k, 0) + v
        return info

    # -- the call --

    def __call__(self, x, *args):
        entry = None
        if type(x) is np.ndarray and x.dtype.kind == "f":  # the common case: no flattening copy
            key, vector = (x.shape, x.dtype), x.reshape(-1)
            entry = self._passes.get(key)
        if entry is None:
            flat = FlatInput(self.name, x)
            vector = flat.vector
            key = (x.shape, x.dtype) if type(x) is np.ndarray and x.dtype.kind == "f" else flat.key
            entry = self._passes.get(key)
            if entry is None:
                entry = self._passes[key] = (flat, self._make_pass(flat, key))
        if args:
            for leaf in tree_flatten(args)[0]:
                if isinstance(leaf, Tracer):
                    raise TypeError(f"{self.name}: an argument is a traced value; sparse derivatives are computed "
                                    "at concrete values and return scipy.sparse matrices, which transforms and "
                                    "dr.jit cannot trace: call them outside of dr.jit/grad/vmap (they compile "
                                    "their own passes, jit=True)")
        B, number = entry[1](vector, *args)
        plan = self._plans[number]
        self.pattern, self.coloring = plan.pattern, plan.coloring
        self._used(plan)
        return plan.decompress(B)

    def _used(self, plan):
        """Hook: what a call records from the plan it used (the Jacobian's mode)."""

    def _make_pass(self, flat, key):
        """``(v, *args) -> (compressed products, plan number)`` for inputs of this structure."""

        def compressed(v, *args):
            if isinstance(v, JitTracer):  # dr.jit is tracing this: the plan of the program at the traced point
                concrete, traced = _concrete(args)
                number = self._plan_for(flat, key, v.primal, concrete, traced)
            else:
                number = self._plan_for(flat, key, v, args, None)
            return self._products(self._plans[number], flat, v, args), number

        name = f"sparse_{self.where}_{_fun_name(self.fun)}".replace("<lambda>", "lambda")
        compressed.__name__ = compressed.__qualname__ = name
        return jit(compressed) if self.jit else compressed

    def _plan_for(self, flat, key, point, args, traced) -> int:
        """The plan number for the program of ``fun`` at ``point``: detected and colored when that program is new.
        ``traced``: the arguments' tracers when dr.jit is tracing (the number becomes a constant of its code, and
        that plan is kept), None eagerly."""
        number = self._find_plan(flat, key, point, args, traced)
        if traced is not None:
            self._in_compiled_code.add(number)
        self._latest[key] = number
        return number

    def _find_plan(self, flat, key, point, args, traced) -> int:
        """The program is recorded with the arguments' numbers and arrays as inputs, so its pattern holds for any of
        their values (dr.jit's code takes them as inputs). When ``fun`` needs one of them as a concrete value (an
        index, ``int()``), they are recorded as constants and, under dr.jit, guarded: that compiled variant then
        runs only for these values."""
        if self._user is not None:
            number = self._latest.get(key)
            return self._new_plan(self._check_user(flat, point, args), point.dtype) if number is None else number
        if not self.guard and key in self._latest:
            return self._latest[key]
        try:
            graph = trace_generic(self.name, self.fun, flat, point, args)
        except Exception:  # noqa: BLE001 - fun needs an argument as a value (or fails, and fails again below)
            graph = trace(self.name, self.fun, flat, args, point)
            code = getattr(self.fun, "__code__", None)
            for t in traced or ():
                t._trace.guard_read(t)
                if code is not None:  # dr.jit's warning, if these values keep changing, names fun
                    t._trace.body[-1].site = (code.co_filename, code.co_firstlineno, None)
        program = (key, signature(graph))
        number = self._by_program.pop(program, None)
        if number is None:
            number = self._new_plan(self._detect(graph, flat), point.dtype)
            self.detections += 1
        self._by_program[program] = number
        if len(self._by_program) > _KEEP_PROGRAMS:  # programs that keep changing (eagerly): forget the oldest
            stale = self._by_program.pop(next(iter(self._by_program)))
            if stale not in self._in_compiled_code and stale not in self._latest.values():
                del self._plans[stale]
        return number

    def _new_plan(self, pattern, dtype) -> int:
        coloring, mode = self._color(pattern)
        number = self._count
        self._count += 1
        self._plans[number] = _Plan(pattern, coloring, mode, dtype)
        return number


def _flat_fun(name, fun, unravel, args):
    """``v -> fun(unravel(v), *args)`` with its outputs as one flat vector."""

    def on_vector(v):
        leaves = flat_outputs(name, fun(unravel(v), *args))
        return dnp.concatenate([dnp.reshape(o, (-1,)) for o in leaves]) if len(leaves) > 1 else \
            dnp.reshape(leaves[0], (-1,))

    return on_vector


class SparseJacobian(_Sparse):
    """``jac(x, *args)``: the Jacobian of ``fun`` at ``x`` as a ``scipy.sparse`` CSR matrix (output elements x
    input elements, both flattened). ``jac.pattern``, ``jac.coloring``, ``jac.mode`` and ``jac.ncolors`` tell
    what was detected and how many passes a call costs."""

    where = "jacobian"

    def __init__(self, fun, sparsity=None, mode=None, ordering="largest_first", guard=True, jit=True):
        if mode is not None and mode not in _MODES:
            raise ValueError(f"dualrev.sparse.jacobian: mode must be 'forward', 'reverse' or None (the one with "
                             f"fewer colors), got {mode!r}")
        self.requested_mode = mode
        self.mode = mode
        super().__init__(fun, sparsity, ordering, guard, jit)

    def _detect(self, graph, flat):
        return Propagation(graph, flat.n).jacobian()

    def _check_user(self, flat, point, args):
        m = sum(int(np.size(o)) for o in flat_outputs(self.name, self.fun(flat.unravel(point), *args)))
        if self._user.shape != (m, flat.n):
            raise ValueError(f"{self.name}: sparsity has shape {self._user.shape}, but the Jacobian at x is "
                             f"{m} x {flat.n} (output elements x input elements)")
        return self._user

    def _color(self, pattern):
        if self.requested_mode == "forward":
            coloring = color_columns(pattern, self.ordering)
        elif self.requested_mode == "reverse":
            coloring = color_rows(pattern, self.ordering)
        else:
            cols, rows = color_columns(pattern, self.ordering), color_rows(pattern, self.ordering)
            coloring = rows if rows.ncolors < cols.ncolors else cols
        return coloring, ("forward" if coloring.kind == "column" else "reverse")

    def _used(self, plan):
        self.mode = plan.mode

    def _products(self, plan, flat, v, args):
        """The compressed products, colors x (output elements) forward or colors x (input elements) reverse."""
        m, n = plan.pattern.shape
        if plan.coloring.ncolors == 0:
            return np.zeros((0, m if plan.mode == "forward" else n), flat.dtype)
        on_vector = _flat_fun(self.name, self.fun, flat.unravel, args)
        if plan.mode == "forward":
            return vmap(lambda s: jvp(on_vector, (v,), (s,))[1])(plan.seeds)
        _, pull = vjp(on_vector, v)
        return vmap(lambda s: pull(s)[0])(plan.seeds)


class SparseHessian(_Sparse):
    """``hess(x, *args)``: the Hessian of the scalar ``fun`` at ``x`` as a symmetric ``scipy.sparse`` CSR matrix
    (input elements flattened). ``hess.pattern``, ``hess.coloring`` (a star coloring) and ``hess.ncolors``."""

    where = "hessian"

    def __init__(self, fun, sparsity=None, ordering="largest_first", guard=True, jit=True):
        super().__init__(fun, sparsity, ordering, guard, jit)
        if self._user is not None:
            if self._user.shape[0] != self._user.shape[1]:
                raise ValueError(f"{self.name}: a Hessian sparsity pattern is square, got shape {self._user.shape}")
            self._user = (self._user + self._user.T).tocsr()

    def _detect(self, graph, flat):
        return Propagation(graph, flat.n).hessian(self.name)

    def _check_user(self, flat, point, args):
        if self._user.shape != (flat.n, flat.n):
            raise ValueError(f"{self.name}: sparsity has shape {self._user.shape}, but x has {flat.n} elements")
        return self._user

    def _color(self, pattern):
        return star_coloring(pattern, self.ordering), None

    def _products(self, plan, flat, v, args):
        """The Hessian-vector products, colors x n: forward over reverse, the seeds batched (faster than vmapping a
        linearized gradient, measured 30 vs 50 ms at n = 10^5 for the Rosenbrock chain, which keeps a separate
        unbatched recording)."""
        if plan.coloring.ncolors == 0:
            return np.zeros((0, flat.n), flat.dtype)
        fun, name, unravel = self.fun, self.name, flat.unravel

        def scalar(u):
            leaves = flat_outputs(name, fun(unravel(u), *args))
            if len(leaves) != 1 or int(np.prod(np.shape(leaves[0]))) != 1:
                raise TypeError(f"{name}: the function must return a scalar, got shapes "
                                f"{[tuple(np.shape(o)) for o in leaves]}")
            return dnp.reshape(leaves[0], ())

        g = grad(scalar)
        return vmap(lambda s: jvp(g, (v,), (s,))[1])(plan.seeds)


def jacobian(fun, sparsity=None, *, mode: str | None = None, ordering: str = "largest_first",
             guard: bool = True, jit: bool = True) -> SparseJacobian:
    """The sparse Jacobian of ``fun``: ``jacobian(fun)(x, *args)`` is a ``scipy.sparse`` CSR matrix of shape
    (output elements, input elements), both flattened in order (a pytree ``x`` leaf by leaf).

    The pattern is detected from the recorded program at the first call (or given as ``sparsity``, a scipy.sparse
    matrix or boolean array, which skips detection) and colored once; each call then costs one forward pass per
    column color (``mode="forward"``) or one reverse pass per row color (``"reverse"``); ``None`` picks the mode
    with fewer colors. ``ordering``: the greedy coloring order.

    ``jit=True`` compiles the pass with ``dr.jit``: the first call for an input shape traces it, detects and colors
    the pattern of the traced program and bakes the seeds in; later calls run the generated code and decompress.
    Python control flow on values is guarded: a point taking another branch traces a new variant, which detects
    that branch's pattern. Numbers and arrays in ``args`` are inputs of the compiled code (the pattern holds for all
    their values); one the function needs as a concrete value (an index) is a guarded constant. ``jit=False`` runs
    the pass eagerly; then ``guard=True`` records the program at each call and detects again when it is new.
    ``guard=False`` trusts the first pattern for every branch. Not traceable itself (it returns scipy matrices):
    calling it under ``dr.jit`` or a transform raises a TypeError.

    >>> jac = dr.sparse.jacobian(lambda x: x[1:] ** 2 - x[:-1])
    >>> jac(np.ones(5)).toarray().shape, jac.ncolors
    ((4, 5), 2)
    """
    return SparseJacobian(fun, sparsity, mode, ordering, guard, jit)


def hessian(fun, sparsity=None, *, ordering: str = "largest_first", guard: bool = True,
            jit: bool = True) -> SparseHessian:
    """The sparse Hessian of the scalar ``fun``: ``hessian(fun)(x, *args)`` is a symmetric ``scipy.sparse`` CSR
    matrix (input elements flattened). The pattern is detected once from the trace (or given as ``sparsity``), star
    colored, and each call costs one Hessian-vector product per color (forward over reverse, vmapped), with every
    nonzero read directly from the products. ``jit``, ``guard`` and ``ordering`` as for ``jacobian``.

    >>> hess = dr.sparse.hessian(lambda x: dnp.sum((x[1:] - x[:-1] ** 2) ** 2))
    >>> hess(np.ones(6)).nnz, hess.ncolors
    (16, 3)
    """
    return SparseHessian(fun, sparsity, ordering, guard, jit)
