"""Mixed precision: cast parameter pytrees, and loss scaling (static and dynamic) for float16 gradients.

dualrev keeps float16 and float32 values in their dtype through the forward pass, the backward pass and (with
``dualrev.nn`` optimisers) the update. Float16 has a small range: numbers below about 6e-8 round to zero, so the
small cotangents deep in a backward pass *underflow* and the gradient is lost. Loss scaling multiplies the loss by
a large factor ``S`` before differentiating (every cotangent is then ``S`` times larger and stays representable)
and divides the gradient by ``S`` afterwards::

    scale = DynamicLossScale(2.0 ** 12)
    grads = dr.grad(lambda p: scale.scale(loss(p)))(params)
    grads = scale.unscale(grads)
    finite = all_finite(grads)
    scale = scale.adjust(finite)              # halve on overflow, grow after ``period`` finite steps
    if finite:
        params = apply_updates(params, updates)   # skip the step when the scaled gradient overflowed

``StaticLossScale`` keeps ``S`` fixed; ``DynamicLossScale`` finds the largest ``S`` that does not overflow.
Compute the loss itself in float32 (``cast(logits, np.float32)`` before the loss) so that ``S * loss`` fits.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

import dualrev.numpy as dnp
from dualrev.nn import _util
from dualrev.tree_util import tree_leaves, tree_map

__all__ = ["DynamicLossScale", "NoOpLossScale", "StaticLossScale", "all_finite", "cast"]


def _dtype(x):
    return _util.dtype(x)


def cast(tree, dtype):
    """Cast every floating leaf of a pytree (traced or not) to ``dtype``; other leaves are left alone."""
    dtype = np.dtype(dtype)

    def cast_leaf(x):
        d = _dtype(x)
        if d.kind != "f" or d == dtype:
            return x
        return dnp.astype(x, dtype)

    return tree_map(cast_leaf, tree)


def all_finite(tree):
    """True if no leaf holds an inf or a nan (read on the values: no derivative).

    A Python bool; under ``dr.vmap``, where the leaves differ per example, a batched boolean (one per example).

    >>> all_finite({"w": np.ones(2), "b": np.array([np.nan])})
    False
    """
    checks = []
    for x in tree_leaves(tree):
        c, v = _util.constant(x)
        if c is v:
            if not np.isfinite(v).all():
                return False
        else:
            checks.append(dnp.all(dnp.isfinite(c)))
    if not checks:
        return True
    return checks[0] if len(checks) == 1 else dnp.all(dnp.stack(checks))


def _unscale(tree, scale):
    # A Python float is a "weak" scalar: the quotient keeps each leaf's dtype (NumPy divides float16 in float32
    # and rounds once).
    scale = float(scale)
    return tree_map(lambda g: g / scale, tree)


class NoOpLossScale(NamedTuple):
    """No scaling: ``scale`` and ``unscale`` return their input (for code written for loss scaling)."""

    @property
    def loss_scale(self):
        return 1.0

    def scale(self, tree):
        return tree

    def unscale(self, tree):
        return tree

    def adjust(self, grads_finite: bool):
        return self


class StaticLossScale(NamedTuple):
    """Multiply the loss by a fixed ``loss_scale`` and divide the gradients by it."""

    loss_scale: float

    def scale(self, tree):
        return tree_map(lambda x: x * self.loss_scale, tree)

    def unscale(self, tree):
        return _unscale(tree, self.loss_scale)

    def adjust(self, grads_finite: bool):
        return self


class DynamicLossScale(NamedTuple):
    """A loss scale that halves (``* backoff``, not below ``min_scale``) whenever the gradients are not finite and
    doubles (``* factor``) after ``period`` consecutive finite steps. Immutable: ``adjust`` returns a new one."""

    loss_scale: float = 2.0 ** 15
    counter: int = 0
    period: int = 2000
    factor: float = 2.0
    backoff: float = 0.5
    min_scale: float = 1.0

    def scale(self, tree):
        return tree_map(lambda x: x * self.loss_scale, tree)

    def unscale(self, tree):
        return _unscale(tree, self.loss_scale)

    def adjust(self, grads_finite: bool) -> DynamicLossScale:
        if not grads_finite:
            return self._replace(loss_scale=max(self.loss_scale * self.backoff, self.min_scale), counter=0)
        if self.counter + 1 >= self.period:
            return self._replace(loss_scale=self.loss_scale * self.factor, counter=0)
        return self._replace(counter=self.counter + 1)
