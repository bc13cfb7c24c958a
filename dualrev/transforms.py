"""The functional transforms: grad, value_and_grad, vjp, jvp, linearize, jacfwd, jacrev, hessian, hvp.

Each public function is a thin pytree/argnums wrapper around two flat cores: ``record`` (reverse mode: run the
function on tape tracers, return the outputs and a pullback) and ``jvp_flat`` (forward mode: run it on dual
numbers). Argument checking lives here, once. Imports core, tree_util, forward, reverse, dualrev.numpy.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence

import numpy as np

from dualrev import numpy as dnp
from dualrev.batching import vmap
from dualrev.core import Tracer, _leaked, new_trace
from dualrev.forward import DualTrace, DualTracer
from dualrev.reverse import TapeTrace, TapeTracer, backward_pass, forward_pass
from dualrev.tree_util import tree_flatten, tree_map, tree_unflatten

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "hessian", "hvp"]


# -- argument and output checks --


def _fun_name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


def _as_input(where: str, x: Any, holomorphic: bool = False):
    """A differentiated input as a float or complex array (or an outer tracer); anything else is a TypeError.

    ``holomorphic``: the input must be complex, as JAX requires with ``holomorphic=True``."""
    if type(x) is np.ndarray and x.dtype.kind == "f" and not holomorphic:  # the common case, first
        return x
    if isinstance(x, Tracer):
        dtype = x.dtype
    elif isinstance(x, (bool, np.bool_, numbers.Number, np.ndarray, np.generic)):
        x = np.asarray(x)
        dtype = x.dtype
    else:
        raise TypeError(f"{where} is a {type(x).__name__}; differentiated inputs must be float or complex arrays "
                        "or numbers")
    if holomorphic and dtype.kind != "c":
        raise TypeError(f"{where} has dtype {dtype}; with holomorphic=True differentiated inputs must be complex: "
                        "convert with x.astype(complex)")
    if dtype.kind not in "fc":
        raise TypeError(f"{where} has dtype {dtype}; differentiated inputs must be floating point "
                        "(float16/32/64) or complex: convert with x.astype(float)")
    return x


def _check_real_or_holomorphic(name: str, what: str, dtype, holomorphic: bool, direct: str):
    """JAX's rule for grad/jacrev outputs and jacfwd inputs: real unless ``holomorphic=True``, then complex."""
    if holomorphic:
        if dtype.kind != "c":
            raise TypeError(f"{name}: with holomorphic=True the {what} must be complex, got dtype {dtype}")
    elif dtype.kind == "c":
        raise TypeError(f"{name}: the {what} must be real-valued (floating point) to differentiate, got dtype "
                        f"{dtype}. For holomorphic differentiation, pass holomorphic=True. For a function that is "
                        f"not holomorphic, use {direct} directly (or differentiate dnp.real and dnp.imag of it)")
    elif dtype.kind != "f":
        raise TypeError(f"{name}: the {what} must be floating point to differentiate, got dtype {dtype}")


def _check_output(name: str, out: Any):
    """An output leaf must be an array, a number or a tracer; a dead tracer means one leaked out."""
    if isinstance(out, Tracer):
        if not out._trace.alive:
            raise _leaked(name)
        return out
    if isinstance(out, (np.ndarray, np.generic, numbers.Number)):
        return out
    raise TypeError(f"{name}: the function returned a {type(out).__name__}; outputs must be arrays or floats "
                    "(or pytrees of them)")


def _shape_dtype(x):
    if isinstance(x, Tracer):
        return x.shape, x.dtype
    return np.shape(x), np.result_type(x)


def _as_cotangent(where: str, ct: Any, out: Any):
    """A cotangent for the output ``out``, as JAX accepts it: a Python or NumPy scalar, a list or an array of
    the output's shape (cast to the output's dtype), or a tracer; anything else is a clear error."""
    shape, dtype = _shape_dtype(out)
    if isinstance(ct, Tracer):
        ct_shape, ct_dtype = ct.shape, ct.dtype
    elif isinstance(ct, (numbers.Number, np.ndarray, np.generic, list, tuple)):
        ct = np.asarray(ct)
        ct_shape, ct_dtype = ct.shape, ct.dtype
    else:
        raise TypeError(f"{where} is a {type(ct).__name__}; a cotangent must be an array or a number shaped "
                        f"like the output ({shape})")
    if ct_shape != tuple(shape):
        raise ValueError(f"{where} has shape {ct_shape}, the output has shape {tuple(shape)}; they must match")
    if ct_dtype.kind not in "biuf" and not (ct_dtype.kind == "c" and dtype.kind == "c"):
        raise TypeError(f"{where} has dtype {ct_dtype}; the output has dtype {dtype}, so its cotangent must be "
                        "real" + (" or complex" if dtype.kind == "c" else " (a real output's cotangent is real)"))
    if ct_dtype != dtype and dtype.kind in "fc":
        ct = dnp.astype(ct, dtype) if isinstance(ct, Tracer) else ct.astype(dtype)
    return ct


def _zeros(x):
    shape, dtype = _shape_dtype(x)
    return np.zeros(shape, dtype)


def _argnums(name: str, argnums, nargs: int) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise ValueError(f"{name}: argnums={argnums!r} is out of range for {nargs} positional arguments")
    return tuple(i % nargs for i in nums), single


def _flatten_args(name: str, fun: Callable, args: tuple, kwargs: dict, argnums, holomorphic: bool = False):
    """Flatten the differentiated arguments; returns (leaves, rebuild, flat_fun)."""
    nums, single = _argnums(name, argnums, len(args))
    diff = args[nums[0]] if single else tuple(args[i] for i in nums)
    leaves, tree = tree_flatten(diff)
    for k, x in enumerate(leaves):
        if type(x) is not np.ndarray or x.dtype.kind != "f" or holomorphic:  # the message is built only if needed
            leaves[k] = _as_input(f"{name}: argument {nums if not single else nums[0]} of {_fun_name(fun)}", x,
                                  holomorphic)

    def rebuild(flat):
        return tree_unflatten(tree, flat)

    def flat_fun(*flat):
        vals = rebuild(flat)
        full = list(args)
        for i, v in zip(nums, (vals,) if single else vals):
            full[i] = v
        return fun(*full, **kwargs)

    return leaves, rebuild, flat_fun


def _split_aux(name: str, out):
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{name}: with has_aux=True the function must return a pair (output, aux)")
    return out


# -- the two flat cores --


class _Recording:
    """A function run once on tape tracers: its flat outputs and what the pullback and pushforward need.

    ``lean``: keep only what the VJP rules read (less memory; no ``pushforward``, which needs the whole tape).
    """

    def __init__(self, name, fun, leaves, has_aux, lean=False):
        self.lean = lean
        with new_trace(TapeTrace, lean) as trace:
            tracers = [trace.leaf(x) for x in leaves]
            self.leaves = [t.node for t in tracers]  # before fun runs: it may write into its inputs (x += 1)
            out = fun(*tracers)
            aux = None
            if has_aux:
                out, aux = _split_aux(name, out)
            out_leaves, self.out_tree = tree_flatten(out)
            self.outs, self.refs = [], []
            for o in out_leaves:
                if type(o) is TapeTracer and o._trace is trace:
                    self.outs.append(o.primal)
                    self.refs.append((o.node, o.index))
                else:  # does not depend on the inputs at this level
                    self.outs.append(_check_output(name, o))
                    self.refs.append(None)
            self.aux = tree_map(lambda a: _unbox(name, trace, a), aux) if has_aux else None
        self.tape = trace.tape

    def pullback(self, cts: Sequence, release: bool = False) -> list:
        """Cotangents of the flat outputs (None = zero) -> cotangents of the flat inputs (zeros materialised).

        ``release``: free the tape as the backward pass goes (the last pullback of this recording).
        """
        seeds = [(ref[0], ref[1], ct) for ref, ct in zip(self.refs, cts) if ref is not None and ct is not None]
        grads = backward_pass(self.tape, seeds, release) if seeds else {}
        if release:
            self.tape = None
        return [grads[n] if n in grads else _zeros(n.ans) for n in self.leaves]

    def pushforward(self, tangents: Sequence) -> list:
        """Tangents of the flat inputs -> tangents of the flat outputs, along the recorded tape (no re-tracing)."""
        if self.lean:
            raise RuntimeError("dualrev: pushforward needs a full tape; this one was recorded lean")
        ts = forward_pass(self.tape, {n: t for n, t in zip(self.leaves, tangents) if t is not None})
        out = []
        for ref, o in zip(self.refs, self.outs):
            t = None
            if ref is not None:
                t = ts.get(ref[0])
                if t is not None and ref[0].prim is not None and ref[0].prim.multiple_results:
                    t = t[ref[1]]
            out.append(_zeros(o) if t is None else t)
        return out


def _unbox(name, trace, x):
    if isinstance(x, Tracer):
        if x._trace is trace:
            return x.primal
        if not x._trace.alive:
            raise _leaked(name)
    return x


def jvp_flat(name: str, fun: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False):
    """Run ``fun`` on dual numbers; returns (flat outputs, flat output tangents or None, out tree, aux)."""
    with new_trace(DualTrace) as trace:
        args = [p if t is None else DualTracer(trace, p, t) for p, t in zip(primals, tangents)]
        out = fun(*args)
        aux = None
        if has_aux:
            out, aux = _split_aux(name, out)
        out_leaves, out_tree = tree_flatten(out)
        outs, touts = [], []
        for o in out_leaves:
            o = _check_output(name, o)
            if type(o) is DualTracer and o._trace is trace:
                outs.append(o.primal)
                touts.append(o.tangent)
            else:
                outs.append(o)
                touts.append(None)
        aux = tree_map(lambda a: _unbox(name, trace, a), aux)
    return outs, touts, out_tree, aux


# -- reverse mode --


def value_and_grad(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False) -> Callable:
    """Like ``grad``, but the returned function gives ``(value, gradient)`` (``((value, aux), gradient)``).

    >>> dr.value_and_grad(lambda x: x ** 2)(3.0)
    (9.0, 6.0)
    """
    return _value_and_grad(fun, argnums, has_aux, f"value_and_grad({_fun_name(fun)})", holomorphic)


def _value_and_grad(fun: Callable, argnums, has_aux: bool, name: str, holomorphic: bool = False) -> Callable:
    def value_and_grad_fun(*args, **kwargs):
        leaves, rebuild, flat_fun = _flatten_args(name, fun, args, kwargs, argnums, holomorphic)
        rec = _Recording(name, flat_fun, leaves, has_aux, lean=True)
        if len(rec.outs) != 1:
            raise TypeError(f"{name}: the function must return a scalar, got a pytree of {len(rec.outs)} leaves")
        out = rec.outs[0]
        if isinstance(out, (np.ndarray, np.generic)):
            shape, dtype = out.shape, out.dtype
        else:
            shape, dtype = _shape_dtype(out)
        if shape != ():
            raise TypeError(f"{name}: the function must return a real scalar (shape ()), got shape {shape} "
                            f"dtype {dtype}; use jacrev or vjp for non-scalar outputs")
        if dtype.kind == "c" or holomorphic:
            _check_real_or_holomorphic(name, "output", dtype, holomorphic, "vjp")
        elif dtype.kind != "f":
            hint = ("; it does not depend on the differentiated arguments (a constant?)" if not isinstance(out, Tracer)
                    else "")
            raise TypeError(f"{name}: the function must return a floating-point scalar, got a scalar of dtype "
                            f"{dtype}{hint}; return a float, e.g. by computing in floating point")
        g = rebuild(rec.pullback([np.ones((), dtype)], release=True))
        value = tree_unflatten(rec.out_tree, rec.outs)
        return ((value, rec.aux) if has_aux else value), g

    return value_and_grad_fun


def grad(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False) -> Callable:
    """The gradient of a scalar function, by reverse mode (one forward pass recorded, one backward pass).

    ``argnums`` (int or tuple) picks the differentiated positional arguments, each a float or complex array or a
    pytree of them. With ``has_aux`` the function returns ``(scalar, aux)`` and the gradient function
    ``(grad, aux)``. As in JAX, a real-valued function of a complex ``z = x + iy`` has gradient ``df/dx - i df/dy``
    (the conjugate of the steepest-ascent direction); a complex-valued one needs ``holomorphic=True`` (complex
    inputs and output), and then the gradient is the complex derivative ``f'(z)``. See docs/complex.md.

    >>> dr.grad(lambda x: dnp.sum(x ** 2))(np.array([1.0, 2.0]))
    array([2., 4.])
    """
    vg = _value_and_grad(fun, argnums, has_aux, f"grad({_fun_name(fun)})", holomorphic)

    def grad_fun(*args, **kwargs):
        (value, g) = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    grad_fun.__name__ = f"grad({_fun_name(fun)})"
    return grad_fun


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """Evaluate ``fun(*primals)`` and return ``(out, vjp_fun)``; ``vjp_fun(ct)`` pulls a cotangent of the output
    (same structure, shapes and dtypes) back to a tuple of cotangents, one per primal. (``(out, vjp_fun, aux)``
    with ``has_aux``.) ``vjp_fun`` may be called many times; the forward pass is not repeated.

    >>> out, f_vjp = dr.vjp(dnp.sin, x); f_vjp(np.ones_like(out))
    """
    name = f"vjp({_fun_name(fun)})"
    leaves, rebuild, flat_fun = _flatten_args(name, fun, primals, {}, tuple(range(len(primals))))
    rec = _Recording(name, flat_fun, leaves, has_aux, lean=True)
    out = tree_unflatten(rec.out_tree, rec.outs)

    def vjp_fun(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != rec.out_tree:
            raise ValueError(f"{name}: cotangent structure {ct_tree} does not match the output's {rec.out_tree}")
        cts = [_as_cotangent(f"{name}: cotangent {i}", c, o) for i, (c, o) in enumerate(zip(ct_leaves, rec.outs))]
        return rebuild(rec.pullback(cts))

    return (out, vjp_fun, rec.aux) if has_aux else (out, vjp_fun)


def _basis(leaves, start: int, stop: int) -> list:
    """Rows ``start:stop`` of the identity on the inputs raveled and joined: one array (rows, *leaf.shape) per leaf."""
    out, offset = [], 0
    for x in leaves:
        shape, dtype = _shape_dtype(x)
        size = int(np.prod(shape))
        e = np.zeros((stop - start, size), dtype)
        lo, hi = max(start, offset), min(stop, offset + size)
        if lo < hi:
            e[np.arange(lo - start, hi - start), np.arange(lo - offset, hi - offset)] = 1
        out.append(e.reshape((stop - start,) + tuple(shape)))
        offset += size
    return out


def _chunks(name: str, total: int, chunk_size):
    if chunk_size is None:
        chunk_size = max(total, 1)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"{name}: chunk_size must be a positive int or None, got {chunk_size!r}")
    return [(s, min(s + chunk_size, total)) for s in range(0, total, chunk_size)]


def _split_blocks(rows, row_shapes, col_shapes, rows_first: bool) -> list:
    """``rows`` (N, *col) for the N basis vectors joined over ``row_shapes`` -> one block per row leaf, of shape
    ``col + row`` (forward mode: the basis indexes inputs) or ``row + col`` (reverse: it indexes outputs)."""
    blocks, offset = [], 0
    for shape in row_shapes:
        size = int(np.prod(shape))
        part = rows[offset:offset + size] if (offset, size) != (0, rows.shape[0]) else rows
        col = tuple(part.shape[1:])
        if rows_first:
            blocks.append(dnp.reshape(part, tuple(shape) + col))
        else:
            part = dnp.moveaxis(part, 0, -1) if col else part
            blocks.append(dnp.reshape(part, col + tuple(shape)))
        offset += size
    return blocks


def _join(chunks: list):
    return chunks[0] if len(chunks) == 1 else dnp.concatenate(chunks, axis=0)


def jacrev(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False, *,
           chunk_size: int | None = None) -> Callable:
    """The Jacobian by reverse mode: one recorded forward pass, then the pullback vmapped over the output basis.

    For each output leaf of shape ``S_out`` and input leaf of shape ``S_in`` the block has shape
    ``S_out + S_in``; the result is the output pytree with the input pytree at each leaf. ``chunk_size`` bounds how
    many basis vectors are pulled back at once (memory), ``None`` for all. Outputs must be real (inputs may be
    complex), unless ``holomorphic=True``: complex inputs and outputs, and the Jacobian of complex derivatives.

    >>> dr.jacrev(lambda x: dnp.tanh(A @ x))(x)   # shape (m, n)
    """
    name = f"jacrev({_fun_name(fun)})"

    def jac_fun(*args, **kwargs):
        leaves, rebuild, flat_fun = _flatten_args(name, fun, args, kwargs, argnums, holomorphic)
        rec = _Recording(name, flat_fun, leaves, has_aux, lean=True)  # pullbacks only: keep what VJPs read
        out_shapes = []
        for o in rec.outs:
            shape, dtype = _shape_dtype(o)
            _check_real_or_holomorphic(name, "output", dtype, holomorphic, "vjp")
            out_shapes.append(shape)
        total = sum(int(np.prod(s)) for s in out_shapes)
        in_shapes = [_shape_dtype(x)[0] for x in leaves]
        if total == 1:  # a scalar output (a gradient, the inner half of a Hessian): one plain pullback
            ct = [np.ones(s, _shape_dtype(o)[1]) for s, o in zip(out_shapes, rec.outs)]
            rows = [dnp.reshape(g, (1,) + tuple(s)) for g, s in zip(rec.pullback(ct), in_shapes)]
        else:
            pull = vmap(lambda *cts: rec.pullback(list(cts)))
            parts = [pull(*_basis(rec.outs, a, b)) for a, b in _chunks(name, total, chunk_size)]
            rows = [_join([p[i] for p in parts]) if parts else np.zeros((0,) + tuple(s)) for i, s in
                    enumerate(in_shapes)]
        per_input = [_split_blocks(r, out_shapes, s, rows_first=True) for r, s in zip(rows, in_shapes)]
        blocks = [rebuild([p[j] for p in per_input]) for j in range(len(rec.outs))]
        jac = tree_unflatten(rec.out_tree, blocks)
        return (jac, rec.aux) if has_aux else jac

    return jac_fun


# -- forward mode --


def _check_tangents(name, primals, tangents):
    p_leaves, p_tree = tree_flatten(primals)
    t_leaves, t_tree = tree_flatten(tangents)
    if p_tree != t_tree:
        raise ValueError(f"{name}: tangents structure {t_tree} does not match primals structure {p_tree}")
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        p = _as_input(f"{name}: primal {i}", p)
        if isinstance(t, (int, float, complex)) and not isinstance(t, bool):
            t = np.asarray(t, _shape_dtype(p)[1])  # a Python number is weakly typed: it takes the primal's dtype
        t = _as_input(f"{name}: tangent {i}", t)
        (ps, pd), (ts, td) = _shape_dtype(p), _shape_dtype(t)
        if ps != ts or pd != td:
            raise ValueError(f"{name}: tangent {i} has shape {ts} dtype {td}, its primal has shape {ps} "
                             f"dtype {pd}; they must match")
        p_leaves[i], t_leaves[i] = p, t
    return p_leaves, t_leaves, p_tree


def jvp(fun: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False):
    """Forward mode: ``(fun(*primals), J @ tangents)`` by dual numbers, in one pass.

    ``primals`` and ``tangents`` are tuples (or lists) of the same pytree structure, shapes and dtypes.

    >>> dr.jvp(dnp.sin, (0.0,), (1.0,))
    (0.0, 1.0)
    """
    name = f"jvp({_fun_name(fun)})"
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"{name}: primals and tangents must be tuples or lists of arguments")
    p_leaves, t_leaves, p_tree = _check_tangents(name, tuple(primals), tuple(tangents))

    def flat_fun(*flat):
        return fun(*tree_unflatten(p_tree, flat))

    outs, touts, out_tree, aux = jvp_flat(name, flat_fun, p_leaves, t_leaves, has_aux)
    touts = [_zeros(o) if t is None else t for o, t in zip(outs, touts)]
    result = tree_unflatten(out_tree, outs), tree_unflatten(out_tree, touts)
    return result + (aux,) if has_aux else result


def linearize(fun: Callable, *primals):
    """Evaluate ``fun(*primals)`` once and return ``(out, f_jvp)``: ``f_jvp(*tangents)`` pushes tangents
    through the recorded computation (the linearised function) without running ``fun`` again.

    >>> out, f_jvp = dr.linearize(dnp.sin, x); f_jvp(dx)
    """
    name = f"linearize({_fun_name(fun)})"
    leaves, rebuild, flat_fun = _flatten_args(name, fun, primals, {}, tuple(range(len(primals))))
    rec = _Recording(name, flat_fun, leaves, False)

    def f_jvp(*tangents):
        if len(tangents) != len(primals):
            raise TypeError(f"{name}: f_jvp takes {len(primals)} tangents, one per primal, got {len(tangents)}")
        _, t_leaves, _ = _check_tangents(name, tuple(primals), tuple(tangents))
        return tree_unflatten(rec.out_tree, rec.pushforward(t_leaves))

    return tree_unflatten(rec.out_tree, rec.outs), f_jvp


def jacfwd(fun: Callable, argnums=0, has_aux: bool = False, holomorphic: bool = False, *,
           chunk_size: int | None = None) -> Callable:
    """The Jacobian by forward mode: dual numbers vmapped over the input basis (best for few inputs).

    Block shapes and pytree structure are as for ``jacrev``: output structure outside, input structure inside.
    ``chunk_size`` bounds how many basis vectors are pushed at once (memory), ``None`` for all. Inputs must be real
    (outputs may be complex), unless ``holomorphic=True``: complex inputs and outputs, complex derivatives.

    >>> dr.jacfwd(lambda x: dnp.tanh(A @ x))(x)   # shape (m, n)
    """
    name = f"jacfwd({_fun_name(fun)})"

    def jac_fun(*args, **kwargs):
        leaves, rebuild, flat_fun = _flatten_args(name, fun, args, kwargs, argnums, holomorphic)
        for i, x in enumerate(leaves):
            if not holomorphic and _shape_dtype(x)[1].kind == "c":
                _check_real_or_holomorphic(name, f"input {i}", _shape_dtype(x)[1], holomorphic, "jvp")
        primal = {}  # the outputs, their structure and aux: the same for every basis vector

        def push(*tangents):
            outs, touts, primal["tree"], primal["aux"] = jvp_flat(name, flat_fun, leaves, tangents, has_aux)
            primal["outs"] = outs
            return [_zeros(o) if t is None else t for o, t in zip(outs, touts)]

        in_shapes = [_shape_dtype(x)[0] for x in leaves]
        total = sum(int(np.prod(s)) for s in in_shapes)
        parts = [vmap(push)(*_basis(leaves, a, b)) for a, b in _chunks(name, total, chunk_size)]
        if not parts:  # no input elements at all: one plain evaluation gives the output shapes
            push(*[None] * len(leaves))
        blocks = []
        for j, o in enumerate(primal["outs"]):
            o_shape, o_dtype = _shape_dtype(o)
            if holomorphic:
                _check_real_or_holomorphic(name, "output", o_dtype, holomorphic, "jvp")
            elif o_dtype.kind not in "fc":
                raise TypeError(f"{name}: outputs must be floating point to differentiate, got dtype {o_dtype}")
            cols = _join([p[j] for p in parts]) if parts else np.zeros((0,) + tuple(o_shape), o_dtype)
            blocks.append(rebuild(_split_blocks(cols, in_shapes, o_shape, rows_first=False)))
        jac = tree_unflatten(primal["tree"], blocks)
        return (jac, primal["aux"]) if has_aux else jac

    return jac_fun


# -- second order --


def hessian(fun: Callable, argnums=0, *, holomorphic: bool = False, chunk_size: int | None = None) -> Callable:
    """The Hessian of a scalar function: forward over reverse, ``jacfwd(jacrev(fun))``: one recorded gradient,
    its dual numbers vmapped over the input basis (``chunk_size`` basis vectors at a time; ``None`` for all).

    >>> dr.hessian(lambda x: dnp.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.], [ 0., 12.]])
    """
    return jacfwd(jacrev(fun, argnums, holomorphic=holomorphic), argnums, holomorphic=holomorphic,
                  chunk_size=chunk_size)


def hvp(fun: Callable, primals: Sequence, tangents: Sequence):
    """The Hessian-vector product ``H @ v`` of a scalar function, forward over reverse, no Hessian formed.

    Differentiates with respect to every primal; returns a pytree like ``primals[0]`` for one primal, else a
    tuple with one entry per primal.

    >>> dr.hvp(f, (x,), (v,))   # == dr.hessian(f)(x) @ v
    """
    primals, tangents = tuple(primals), tuple(tangents)
    argnums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(fun, argnums), primals, tangents)[1]
