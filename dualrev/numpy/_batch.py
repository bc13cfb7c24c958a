"""Shared pieces of vmap's batching rules, for the family files.

A batching rule gets the operands with a flag per operand: a batched operand carries the batch on axis 0 (its
other axes are one example's), an unbatched one is the same for every example. It returns the output with the
batch on axis 0, computed with dualrev operations so that it can be differentiated (and batched) again.
Imports core only at module level; the dnp functions it needs are imported when a rule runs (the family files
import this module while they are being defined).
"""

from __future__ import annotations

import numpy as np

from dualrev.core import Tracer

__all__ = ["batch_size", "example_ndim", "shift_axis", "elementwise", "batch_loop", "bring_batch", "align"]


def _ndim(x) -> int:
    return x.ndim if isinstance(x, Tracer) else np.ndim(x)


def batch_size(args, batched) -> int:
    """The batch size: axis 0 of the first batched operand."""
    for a, b in zip(args, batched):
        if b:
            return a.shape[0] if isinstance(a, Tracer) else np.shape(a)[0]
    raise ValueError("a batching rule was called without batched operands")


def example_ndim(x, batched: bool) -> int:
    """The number of axes of one example of ``x``."""
    return _ndim(x) - 1 if batched else _ndim(x)


def shift_axis(axis, ndim: int):
    """An example's ``axis`` argument (None, int or tuple, negatives allowed) as axes of the batched array."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) % max(ndim, 1) + 1 for a in axis)
    return int(axis) % max(ndim, 1) + 1


def bring_batch(x, batched: bool, size: int):
    """``x`` with the batch on axis 0: an unbatched operand is broadcast along a new leading axis."""
    from dualrev.numpy import broadcast_to

    if batched:
        return x
    shape = x.shape if isinstance(x, Tracer) else np.shape(x)
    return broadcast_to(x, (size,) + tuple(shape))


def align(args, batched):
    """Operands of a broadcasting operation, with batched ones given singleton axes after the batch axis so that
    every operand lines up with the others' example axes from the right."""
    from dualrev.numpy import reshape

    nd = max(example_ndim(a, b) for a, b in zip(args, batched))
    out = []
    for a, b in zip(args, batched):
        if b:
            missing = nd - (_ndim(a) - 1)
            if missing:
                shape = a.shape if isinstance(a, Tracer) else np.shape(a)
                a = reshape(a, (shape[0],) + (1,) * missing + tuple(shape[1:]))
        out.append(a)
    return out


def elementwise(prim):
    """The rule of a broadcasting elementwise primitive: align the operands, then apply it once to the batch."""

    def rule(args, batched, **params):
        return prim(*align(args, batched), **params)

    return rule


def batch_loop(prim):
    """The fallback rule: apply the primitive example by example and stack the results (slow, always right)."""

    def rule(args, batched, **params):
        from dualrev.numpy import stack

        n = batch_size(args, batched)
        outs = [prim(*[a[i] if b else a for a, b in zip(args, batched)], **params) for i in range(n)]
        if prim.multiple_results:
            return tuple(stack([o[k] for o in outs]) for k in range(len(outs[0])))
        return stack(outs)

    return rule
