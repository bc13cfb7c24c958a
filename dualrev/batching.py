"""Batching: vmap. A BatchTracer holds a whole batch of values, stacked on axis 0; each primitive applied to it
runs its batching rule once for the batch instead of once per example. An operand that is the same for every
example is simply not boxed. Imports core, tree_util and dualrev.numpy.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np

from dualrev import numpy as dnp
from dualrev.core import Trace, Tracer, _leaked, new_trace
from dualrev.numpy._batch import elementwise
from dualrev.tree_util import tree_flatten, tree_unflatten

__all__ = ["BatchTrace", "BatchTracer", "vmap"]

_elementwise_rules: dict = {}  # primitive -> its generic rule, made on first use


class BatchTracer(Tracer):
    """A batch of values stacked on axis 0 of ``primal``; it looks like one example (shape without the batch)."""

    __slots__ = ()

    def __init__(self, trace, primal):
        self._trace = trace
        self.primal = primal

    @property
    def shape(self):
        p = self.primal
        return (p.shape if isinstance(p, Tracer) else np.shape(p))[1:]

    def __bool__(self):
        raise TypeError("vmap: Python control flow (if/while/bool()) on a batched value would take one branch for "
                        "the whole batch; use dnp.where to choose per example")

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype).kind in "biu":
            raise TypeError(f"vmap: converting a batched value to a NumPy {np.dtype(dtype)} array would read the "
                            "whole batch as one value; use x.astype(...) to convert per example")
        return super().__array__(dtype, copy)

    def __int__(self):
        raise TypeError("vmap: int() of a batched value would read one number for the whole batch; use "
                        "x.astype(int) (or dnp.floor) to convert per example")


class BatchTrace(Trace):
    __slots__ = ()
    batched = True

    def process(self, prim, args, params):
        vals, batched = [], []
        any_batched = False
        for a in args:
            if type(a) is BatchTracer and a._trace is self:
                vals.append(a.primal)
                batched.append(True)
                any_batched = True
            else:  # the same for every example (a constant, or a value of a lower level)
                vals.append(a)
                batched.append(False)
        if not any_batched:
            return prim(*vals, **params)
        rule = prim.batch
        if rule is None:
            raise NotImplementedError(f"vmap: primitive {prim.name} has no batching rule")
        if rule == "elementwise":
            rule = _elementwise_rules.get(prim) or _elementwise_rules.setdefault(prim, elementwise(prim))
        out = rule(vals, tuple(batched), **params)
        if prim.multiple_results:
            return tuple(BatchTracer(self, o) for o in out)
        return BatchTracer(self, out)

    process_nondiff = process  # a result without derivative still differs from example to example


# -- vmap --


def _is_leaf_axis(a) -> bool:
    return a is None or isinstance(a, numbers.Integral)


def _axes_for(name: str, what: str, axes, tree_value) -> list:
    """Broadcast an ``in_axes``/``out_axes`` prefix tree to one axis (int or None) per leaf of ``tree_value``."""
    if _is_leaf_axis(axes):
        return [axes] * len(tree_flatten(tree_value)[0])
    if isinstance(axes, (tuple, list)) and isinstance(tree_value, (tuple, list)):
        if len(axes) != len(tree_value):
            raise ValueError(f"{name}: {what} has {len(axes)} entries for {len(tree_value)} values")
        return [a for ax, v in zip(axes, tree_value) for a in _axes_for(name, what, ax, v)]
    if isinstance(axes, dict) and isinstance(tree_value, dict):
        if set(axes) != set(tree_value):
            raise ValueError(f"{name}: {what} has keys {sorted(axes)}, the value has keys {sorted(tree_value)}")
        return [a for k in sorted(tree_value) for a in _axes_for(name, what, axes[k], tree_value[k])]  # tree order
    raise ValueError(f"{name}: {what}={axes!r} does not match the structure of the values "
                     f"({type(tree_value).__name__}); use an int, None, or a matching tuple/list/dict of them")


def vmap(fun: Callable, in_axes=0, out_axes=0) -> Callable:
    """Vectorise ``fun`` over an axis of its arguments: ``vmap(f)(xs)`` is ``stack([f(x) for x in xs])``, computed
    for the whole batch at once.

    ``in_axes``: the batched axis of each positional argument (an int, ``None`` for an argument shared by every
    example, or a tuple/list/dict prefix of the arguments' pytrees). ``out_axes``: where the batch axis goes in
    each output (``None`` for an output that must be the same for every example). Keyword arguments are batched
    along axis 0. Composes with every transform:
    ``vmap(grad(loss), in_axes=(None, 0, 0))`` gives per-example gradients.

    >>> dr.vmap(lambda x: dnp.sum(x ** 2))(np.arange(6.0).reshape(3, 2))
    array([ 1., 13., 41.])
    """
    name = f"vmap({getattr(fun, '__name__', type(fun).__name__)})"

    def batched_fun(*args, **kwargs):
        # Keyword arguments are batched along axis 0, as in JAX (in_axes covers the positional ones only).
        leaves, tree = tree_flatten((args, kwargs))
        axes = _axes_for(name, "in_axes", tuple(in_axes) if isinstance(in_axes, list) else in_axes, args)
        axes += [0] * (len(leaves) - len(axes))
        size = None
        moved = []
        for i, (x, ax) in enumerate(zip(leaves, axes)):
            if ax is None:
                moved.append(x)
                continue
            shape = x.shape if isinstance(x, Tracer) else np.shape(x)
            if not -len(shape) <= ax < len(shape):
                raise ValueError(f"{name}: in_axes={ax} is out of range for argument leaf {i} of shape "
                                 f"{tuple(shape)}")
            ax %= len(shape)
            if size is not None and shape[ax] != size:
                raise ValueError(f"{name}: batched axes have different sizes ({size} and {shape[ax]} in argument "
                                 f"leaf {i}); every batched argument must have the same batch size")
            size = shape[ax]
            moved.append(dnp.moveaxis(x, ax, 0) if ax else x)
        if size is None:
            raise ValueError(f"{name}: in_axes batches no argument (all None); at least one must be batched")
        with new_trace(BatchTrace) as trace:
            boxed = [x if ax is None else BatchTracer(trace, x) for x, ax in zip(moved, axes)]
            args, kwargs = tree_unflatten(tree, boxed)
            out = fun(*args, **kwargs)
            out_leaves, out_tree = tree_flatten(out)
            o_axes = _axes_for(name, "out_axes", out_axes, out)
            results = [_unbatch(name, trace, o, ax, size) for o, ax in zip(out_leaves, o_axes)]
        return tree_unflatten(out_tree, results)

    batched_fun.__name__ = name
    return batched_fun


def _unbatch(name: str, trace, o: Any, axis, size: int):
    """One output leaf as a plain value of the level below, with the batch moved to ``axis``."""
    if isinstance(o, Tracer) and not o._trace.alive:
        raise _leaked(name)
    batched = type(o) is BatchTracer and o._trace is trace
    if axis is None:
        if batched:
            raise ValueError(f"{name}: out_axes=None for an output that differs between examples")
        return o
    if not batched:  # the same for every example: repeat it
        if not isinstance(o, (Tracer, np.ndarray, np.generic, numbers.Number)):
            raise TypeError(f"{name}: the function returned a {type(o).__name__}; outputs must be arrays or "
                            "numbers (or pytrees of them)")
        o = dnp.broadcast_to(o, (size,) + tuple(o.shape if isinstance(o, Tracer) else np.shape(o)))
    else:
        o = o.primal
    nd = o.ndim if isinstance(o, Tracer) else np.ndim(o)
    if not -nd <= axis < nd:
        raise ValueError(f"{name}: out_axes={axis} is out of range for an output with {nd - 1} axes")
    return dnp.moveaxis(o, 0, axis) if axis % nd else o
