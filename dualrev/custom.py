"""User-defined derivatives and memory control: stop_gradient, custom_jvp, custom_vjp, checkpoint.

Each builds one call of a registered call primitive (``core.defcall``: ``custom_jvp_call``, ``custom_vjp_call``,
``checkpoint``) carrying the user functions as params, so the engine, make_graph and the registry's tests treat it
like any other primitive:
- ``custom_jvp`` gives a JVP; its VJP is the transpose of that JVP, obtained by reverse mode over the rule's
  tangent computation (which is linear in the tangents), so the rule is used in both modes and at every order.
- ``custom_vjp`` gives a VJP; under forward mode its JVP is the transpose of the VJP, obtained the same way
  (``J t`` is the cotangent-gradient of ``<bwd(ct), t>``), so it works under jvp, jacfwd and hessian as well.
- ``checkpoint`` keeps only its inputs on the tape and recomputes its inside during the backward pass.
Imports core, tree_util, transforms.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from dualrev.batching import vmap
from dualrev.core import Primitive, Tracer, defcall, dtype_of
from dualrev.transforms import _Recording, jvp_flat
from dualrev.tree_util import tree_flatten, tree_map, tree_unflatten

__all__ = ["stop_gradient", "custom_jvp", "custom_vjp", "checkpoint"]


# Identity without derivative: each derivative level drops itself (nondiff); a batch level keeps its batch.
_stop_gradient = Primitive("stop_gradient", lambda x: x, nondiff=True,
                           batch=lambda args, batched: _stop_gradient(args[0]))


def stop_gradient(x: Any) -> Any:
    """The value of ``x`` (a pytree) with zero derivative at every level of differentiation.

    >>> dr.grad(lambda x: x * dr.stop_gradient(x))(3.0)   # 3.0, not 6.0
    """
    if type(x) is np.ndarray:  # the common cases first: a plain array, one traced value
        return x
    if isinstance(x, Tracer):
        return _stop_gradient(x)
    return tree_map(lambda v: _stop_gradient(v) if isinstance(v, Tracer) else v, x)


# What a lean tape keeps of these calls (Primitive.vjp_reads): custom_vjp's bwd reads only its residuals (params)
# and the operands' shapes; custom_jvp's transpose and checkpoint's recomputation read the operands; none reads the
# outputs.
def _reads_nothing(argnums, n):
    return False, ()


def _reads_operands(argnums, n):
    return False, range(n)


def _zeros_like(x):
    dtype = getattr(x, "dtype", None)  # arrays, tracers, and the Avals a lean tape keeps of values it dropped
    return np.zeros(np.shape(x), np.result_type(x) if dtype is None else dtype)


def _transpose_linear(linear_fun, in_examples, cts):
    """Apply the transpose of a linear function to ``cts``, by reverse mode over it at zero."""
    rec = _Recording("transpose", linear_fun, [_zeros_like(x) for x in in_examples], False, lean=True)
    return rec.pullback(cts, release=True)


def _check_kwargs(fun, kwargs):
    """Keyword arguments are static: a traced value among them (at any depth of a pytree) is refused."""
    for v in kwargs.values():
        if isinstance(v, Tracer) or (type(v) in (list, tuple, dict)
                                     and any(isinstance(u, Tracer) for u in tree_flatten(v)[0])):
            raise TypeError(f"{fun.__name__}: keyword arguments of custom_jvp/custom_vjp/checkpoint functions are "
                            "not differentiated; pass traced values positionally")


class _FlatFunction:
    """A user function of pytrees seen as a function of flat leaves; remembers the output structure."""

    __slots__ = ("fun", "in_tree", "kwargs", "out_tree")

    def __init__(self, fun, in_tree, kwargs):  # the caller checks kwargs, once per call (_check_kwargs)
        self.fun = fun
        self.in_tree = in_tree
        self.kwargs = kwargs  # static: not differentiated
        self.out_tree = None

    def __repr__(self):  # shown by make_graph for custom-rule calls
        return getattr(self.fun, "__name__", type(self.fun).__name__)

    def call(self, leaves, *extra):
        return self.fun(*extra, *tree_unflatten(self.in_tree, leaves), **self.kwargs)

    def batched(self, batched, *extra_axes) -> "_FlatFunction":
        """This function of flat leaves vmapped over the leaves flagged in ``batched`` (each leaf is also a
        positional argument of the result); ``extra_axes`` are in_axes of leading arguments (bwd's residuals)."""
        axes = tuple(0 if b else None for b in batched)

        def flat(*args):
            return self.call(args[len(extra_axes):], *args[:len(extra_axes)])

        flat.__name__ = getattr(self.fun, "__name__", "f")
        return _FlatFunction(vmap(flat, in_axes=extra_axes + axes), tree_flatten(tuple(batched))[1], {})

    def flatten_out(self, out):
        leaves, tree = tree_flatten(out)
        if self.out_tree is not None and tree != self.out_tree:
            raise TypeError(f"{self.fun.__name__}: custom rule output structure {tree} differs from {self.out_tree}")
        self.out_tree = tree
        return leaves


# -- custom_jvp --


def _call_flat(*xs, f, rule=None):
    return tuple(f.flatten_out(f.call(xs)))


def _custom_jvp_full(primals, tangents, *, f, rule):
    tangents = [_zeros_like(p) if t is None else t for p, t in zip(primals, tangents)]
    args, targs = tree_unflatten(f.in_tree, primals), tree_unflatten(f.in_tree, tangents)
    out, tout = rule.fun(tuple(args), tuple(targs), **f.kwargs)
    return tuple(f.flatten_out(out)), tuple(f.flatten_out(tout))


def _custom_jvp_vjp(ct, ans, xs, params, argnums):
    def tangent_out(*ts):  # linear in ts: the tangents of the differentiated operands
        tangents = [None] * len(xs)
        for i, t in zip(argnums, ts):
            tangents[i] = t
        return list(_custom_jvp_full(xs, tangents, **params)[1])

    return _transpose_linear(tangent_out, [xs[i] for i in argnums], list(ct))


def _custom_jvp_batch(args, batched, *, f, rule):
    # The same call on the whole batch, with the function and the rule vmapped: the rule stays in force for the
    # transforms below vmap (a stacked tangent is batched where its primal is).
    axes = tuple(0 if b else None for b in batched)

    def rule_fun(primals, tangents):
        return vmap(lambda p, t: rule.fun(tree_unflatten(f.in_tree, p), tree_unflatten(f.in_tree, t), **f.kwargs),
                    in_axes=(axes, axes))(tuple(primals), tuple(tangents))

    fb = f.batched(batched)
    outs = custom_jvp_call(*args, f=fb, rule=_FlatFunction(rule_fun, fb.in_tree, {}))
    f.out_tree = fb.out_tree
    return outs


# Complex values as in JAX: the user's JVP rule (a complex tangent of a real output is still refused by the engine),
# and its transpose as the VJP.
custom_jvp_call = defcall("custom_jvp_call", _call_flat, jvp_full=_custom_jvp_full, vjp=_custom_jvp_vjp,
                          vjp_reads=_reads_operands, batch=_custom_jvp_batch, supports_complex=True)


class custom_jvp:
    """Give a function your own JVP rule, used by every transform at every order (reverse mode transposes it).

    >>> @dr.custom_jvp
    ... def softplus(x): return dnp.log(1.0 + dnp.exp(x))
    >>> @softplus.defjvp
    ... def softplus_jvp(primals, tangents):
    ...     (x,), (dx,) = primals, tangents
    ...     return softplus(x), dx / (1.0 + dnp.exp(-x))   # finite at x = 1000

    The rule takes ``(primals, tangents)`` (tuples like the arguments) and returns ``(out, tangent_out)``. It must
    be written with dualrev operations and be linear in the tangents. Keyword arguments are not differentiated.
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.jvp_rule = None

    def defjvp(self, jvp: Callable) -> Callable:
        self.jvp_rule = jvp
        return jvp

    def __call__(self, *args, **kwargs):
        if self.jvp_rule is None:
            raise TypeError(f"custom_jvp {self.fun.__name__}: define the rule with @{self.fun.__name__}.defjvp")
        leaves, in_tree = tree_flatten(args)
        if kwargs:
            _check_kwargs(self.fun, kwargs)
        f = _FlatFunction(self.fun, in_tree, kwargs)
        outs = custom_jvp_call(*leaves, f=f, rule=_FlatFunction(self.jvp_rule, in_tree, kwargs))
        return tree_unflatten(f.out_tree, outs)


# -- custom_vjp --


def _custom_vjp_impl(*xs, f, fwd, bwd):
    return _call_flat(*xs, f=f)


def _custom_vjp_fwd(primals, *, f, fwd, bwd):
    out, res = fwd.call(primals)
    return tuple(f.flatten_out(out)), res


def _cts_in(bwd, f, res, cts, xs, zeros=True):
    """bwd's cotangents of the flat operands; ``zeros=False`` leaves None (zero) where bwd returned None."""
    ct_in = bwd.fun(res, tree_unflatten(f.out_tree, cts))
    arg_trees = f.in_tree.children  # in_tree is the tuple of positional arguments
    if not isinstance(ct_in, tuple) or len(ct_in) != len(arg_trees):
        raise TypeError(f"custom_vjp {f.fun.__name__}: bwd must return a tuple with one entry per positional "
                        f"argument ({len(arg_trees)})")
    ct_leaves = []
    for c, tree in zip(ct_in, arg_trees):
        if c is None:  # a zero cotangent of a whole argument
            ct_leaves.extend([None] * tree.num_leaves)
            continue
        leaves, ct_tree = tree_flatten(c)
        if ct_tree != tree:
            raise TypeError(f"custom_vjp {f.fun.__name__}: bwd returned structure {ct_tree} for an argument of "
                            f"structure {tree}")
        ct_leaves.extend(leaves)
    if zeros:
        ct_leaves = [_zeros_like(x) if c is None else c for c, x in zip(ct_leaves, xs)]
    return ct_leaves


def _custom_vjp_vjp(ct, ans, xs, params, argnums):
    cts = [_zeros_like(a) if c is None else c for c, a in zip(ct, ans)]  # the user's bwd gets arrays, as in JAX
    ct_leaves = _cts_in(params["bwd"], params["f"], params["residuals"], cts, xs, zeros=False)
    if not any(_is_complex(v) for v in (*cts, *ans, *xs)):
        # No complex value in the call: a complex cotangent from the user's bwd is a bug in the rule, not a
        # projection to make (with complex values around, the engine keeps a real operand's real part, as JAX).
        for i in argnums:
            if _is_complex(ct_leaves[i]):
                raise TypeError(f"dualrev.custom_vjp: bwd gave a {dtype_of(ct_leaves[i])} cotangent for a "
                                f"{dtype_of(xs[i])} operand (argument {i}) of a function of real values")
    return [ct_leaves[i] for i in argnums]


def _is_complex(v) -> bool:
    return v is not None and dtype_of(v).kind == "c"


def _custom_vjp_jvp_full(primals, tangents, *, f, fwd, bwd):
    ans, res = _custom_vjp_fwd(primals, f=f, fwd=fwd, bwd=bwd)
    live = [i for i, t in enumerate(tangents) if t is not None]

    def pullback(*cts):  # ct -> (J^T ct) restricted to the operands with tangents: linear in ct
        ct_leaves = _cts_in(bwd, f, res, list(cts), primals)
        return [ct_leaves[i] for i in live]

    touts = _transpose_linear(pullback, ans, [tangents[i] for i in live])
    return ans, tuple(touts)


def _custom_vjp_batch(args, batched, *, f, fwd, bwd):
    # fwd and bwd vmapped too (residuals and cotangents batched on axis 0); the cotangent of an operand shared by
    # the batch comes back stacked, and the engine sums it over the batch like any broadcast operand.
    fb = f.batched(batched)
    examples = [np.zeros(np.shape(a)[1:], a.dtype) if b else a for a, b in zip(args, batched)]  # for bwd's Nones

    def bwd_fun(res, ct):
        return vmap(lambda r, c: tuple(_cts_in(bwd, f, r, tree_flatten(c)[0], examples)), in_axes=(0, 0))(res, ct)

    outs = custom_vjp_call(*args, f=fb, fwd=fwd.batched(batched), bwd=_FlatFunction(bwd_fun, fb.in_tree, {}))
    f.out_tree = fb.out_tree
    return outs


custom_vjp_call = defcall("custom_vjp_call", _custom_vjp_impl, jvp_full=_custom_vjp_jvp_full,
                          vjp_fwd=_custom_vjp_fwd, vjp=_custom_vjp_vjp, vjp_reads=_reads_nothing,
                          batch=_custom_vjp_batch, supports_complex=True)


class custom_vjp:
    """Give a function your own VJP rule (JAX-style ``defvjp(fwd, bwd)``).

    ``fwd(*args)`` returns ``(out, residuals)``; ``bwd(residuals, ct)`` returns a tuple with one cotangent per
    positional argument. Unlike JAX, the function also works under ``jvp``, ``jacfwd`` and ``hessian``: forward
    mode uses the transpose of ``bwd`` (reverse mode over ``bwd``, which is linear in ``ct``), so ``bwd`` must be
    written with dualrev operations. Keyword arguments are bound to their positions, as in JAX: ``fwd`` is called
    positionally, array values given by keyword are differentiated (``bwd`` returns a cotangent for each), and
    other values (numbers, strings, flags) are static, like JAX's ``nondiff_argnums``; ``bwd`` always takes
    ``(residuals, ct)``.

    A ``bwd`` that is not linear in ``ct`` (clipping the cotangent, say) is fine for reverse mode, but has no
    Jacobian for forward mode to transpose: forward mode then sees the derivative of ``bwd`` at ``ct = 0``.

    >>> @dr.custom_vjp
    ... def my_sin(x): return dnp.sin(x)
    >>> my_sin.defvjp(lambda x: (dnp.sin(x), x), lambda x, ct: (ct * dnp.cos(x),))
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd = self.bwd = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args, **kwargs):
        if self.fwd is None:
            raise TypeError(f"custom_vjp {self.fun.__name__}: define the rules with {self.fun.__name__}.defvjp")
        fun, fwd = self.fun, self.fwd
        if kwargs:
            args, fun, fwd = _bind_keywords(self.fun, self.fwd, args, kwargs)
        leaves, in_tree = tree_flatten(args)
        f = _FlatFunction(fun, in_tree, {})
        outs = custom_vjp_call(*leaves, f=f, fwd=_FlatFunction(fwd, in_tree, {}),
                               bwd=_FlatFunction(self.bwd, in_tree, {}))
        return tree_unflatten(f.out_tree, outs)


def _is_array_value(v) -> bool:
    leaves = tree_flatten(v)[0]
    return bool(leaves) and all(isinstance(u, (np.ndarray, Tracer)) for u in leaves)


def _bind_keywords(fun, fwd, args, kwargs):
    """Keyword arguments of a custom_vjp function, as JAX resolves them: bound to their positions, so that ``fwd``
    is called positionally and ``bwd(residuals, ct)`` returns one cotangent per differentiated argument. Array
    values (and pytrees of arrays) given by keyword are differentiated like positional ones; any other value
    (a Python number, a string, a flag) is static, like JAX's ``nondiff_argnums``, and gets no cotangent.

    Returns ``(differentiated args, fun, fwd)``, the two functions taking the differentiated args only."""
    try:
        bound = inspect.signature(fun).bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"custom_vjp {getattr(fun, '__name__', 'function')}: {e}") from None
    bound.apply_defaults()
    given = set(kwargs)
    names = list(bound.arguments)
    positional = list(bound.args)
    diff = [i for i, v in enumerate(positional) if i < len(args) or (names[i] in given and _is_array_value(v))]
    static_kw = bound.kwargs  # keyword-only parameters and **kwargs: static
    _check_kwargs(fun, {k: positional[i] for i, k in enumerate(names[:len(positional)]) if i not in diff})
    _check_kwargs(fun, static_kw)

    def with_static(g):
        def call(*diff_args):
            full = list(positional)
            for i, v in zip(diff, diff_args):
                full[i] = v
            return g(*full, **static_kw)

        call.__name__ = getattr(g, "__name__", "f")
        return call

    return tuple(positional[i] for i in diff), with_static(fun), with_static(fwd)


# -- checkpoint --


def _checkpoint_jvp_full(primals, tangents, *, f):
    outs, touts, _, _ = jvp_flat("checkpoint", lambda *xs: _call_flat(*xs, f=f), primals,
                                 tangents)
    return tuple(outs), tuple(touts)


def _checkpoint_vjp(ct, ans, xs, params, argnums):
    # Recompute the inside now, recording it, and pull the cotangent back through it.
    f = params["f"]
    rec = _Recording("checkpoint", lambda *ys: _call_flat(*ys, f=f), xs, False, lean=True)
    rec.outs = None  # the recomputed outputs themselves are not needed: free them before the backward pass
    cts = rec.pullback(list(ct), release=True)
    return [cts[i] for i in argnums]


def _checkpoint_batch(args, batched, *, f):
    fb = f.batched(batched)
    outs = checkpoint_call(*args, f=fb)
    f.out_tree = fb.out_tree
    return outs


# Its rules run the primitives inside, each of which supports complex values or refuses them itself.
checkpoint_call = defcall("checkpoint", _call_flat, jvp_full=_checkpoint_jvp_full, vjp=_checkpoint_vjp,
                          vjp_reads=_reads_operands, batch=_checkpoint_batch, supports_complex=True)


def checkpoint(fun: Callable) -> Callable:
    """Rematerialisation: under reverse mode, store only ``fun``'s inputs and recompute its inside during the
    backward pass (less memory, one more forward pass). Composes with every transform, forward mode included.

    >>> layer = dr.checkpoint(lambda W, x: dnp.tanh(W @ x))
    """

    @functools.wraps(fun)
    def checkpointed(*args, **kwargs):
        leaves, in_tree = tree_flatten(args)
        if kwargs:
            _check_kwargs(fun, kwargs)
        f = _FlatFunction(fun, in_tree, kwargs)
        outs = checkpoint_call(*leaves, f=f)
        return tree_unflatten(f.out_tree, outs)

    return checkpointed


