"""Losses: mse, binary_cross_entropy (on probabilities), binary_cross_entropy_with_logits, cross_entropy.

Each takes predictions and targets of the same batch and returns the mean over every element (``reduction=
"mean"``, the default), the sum (``"sum"``), or the unreduced per-element values (``"none"``). The logits forms
are stable for logits of any size; ``binary_cross_entropy`` clips probabilities to ``[eps, 1 - eps]``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.nn._util import constant as _constant
from dualrev.nn._util import dtype as _dtype_of
from dualrev.nn._util import float_dtype as _dtype
from dualrev.nn._util import shape as _shape
from dualrev.nn.activations import _shift, softplus

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "mse", "one_hot"]


def _reduce(x, reduction: str, name: str):
    if reduction == "mean":
        return dnp.mean(x)
    if reduction == "sum":
        return dnp.sum(x)
    if reduction == "none":
        return x
    raise ValueError(f"dualrev.nn.{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def one_hot(labels, num_classes: int, dtype=np.float64, axis: int = -1):
    """Integer labels as one-hot vectors along a new ``axis`` (labels carry no derivative).

    A plain array for plain labels; under ``dr.vmap`` (labels that differ per example) a batched value.

    >>> one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    c = dr.stop_gradient(labels) if isinstance(labels, dr.Tracer) else np.asarray(labels)
    kind = _dtype_of(c)
    if kind.kind not in "iu":
        raise TypeError(f"dualrev.nn.one_hot: labels must be integers, got dtype {kind}")
    if not isinstance(c, dr.Tracer):  # plain labels; under vmap or dr.jit a traced value
        out = (c[..., None] == np.arange(num_classes)).astype(dtype)
        return out if axis in (-1, out.ndim - 1) else np.moveaxis(out, -1, axis)
    out = dnp.astype(dnp.expand_dims(c, -1) == np.arange(num_classes), dtype)
    return out if axis in (-1, out.ndim - 1) else dnp.moveaxis(out, -1, axis)


def mse(pred, target, reduction: str = "mean"):
    """Mean squared error ``mean((pred - target)^2)``; ``d/dpred = 2 (pred - target) / n``."""
    d = pred - target
    return _reduce(d * d, reduction, "mse")


def binary_cross_entropy(probs, targets, eps: float = 1e-7, reduction: str = "mean"):
    """``-(t log p + (1 - t) log(1 - p))`` on probabilities ``p``, clipped to ``[eps, 1 - eps]`` so the loss and
    its gradient stay finite at ``p = 0`` and ``p = 1`` (the gradient is 0 where ``p`` was clipped)."""
    p = dnp.minimum(dnp.maximum(probs, eps), 1.0 - eps)
    loss = -(targets * dnp.log(p) + (1.0 - targets) * dnp.log(1.0 - p))
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean"):
    """``binary_cross_entropy(sigmoid(z), t)`` computed from logits ``z`` as ``softplus(z) - t z``: exact and finite
    for any ``z`` (at ``z = +-1000`` too); ``d/dz = sigmoid(z) - t``."""
    loss = softplus(logits) - targets * logits
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def _xp(*xs):
    """NumPy itself when every operand is a plain array (first-order reverse mode: the common case, and the
    fastest), else dualrev.numpy (the rule is then being differentiated or transposed)."""
    for x in xs:
        if type(x) is not np.ndarray:
            return dnp
    return np


def _xent_forward(z, y, *, axis, reduction, labels):
    # Reductions as methods: NumPy's own on arrays (no function-wrapper overhead), dualrev's on traced values.
    xp = _xp(z, y)
    s = z - _shift(z, axis)
    e = xp.exp(s)
    se = e.sum(axis=axis, keepdims=True)
    lse = xp.log(se)
    if xp is np and reduction == "mean":
        # The same mean with fewer passes over the logits: per example, -sum(y log p) = sum(y) lse - sum(y s).
        # Both terms are >= 0 (s <= 0 after the shift, y >= 0), so nothing cancels.
        total = (lse.sum() if labels else np.vdot(y.sum(axis=axis, keepdims=True), lse)) - np.vdot(y, s)
        out = total / (s.size // s.shape[axis])
        logp = None if labels else s - lse  # the backward rule reads log p only for the targets' cotangent
    else:
        logp = s - lse
        per_example = -(y * logp).sum(axis=axis)
        out = per_example.mean() if reduction == "mean" else _reduce(per_example, reduction, "cross_entropy")
    return out, (e / se, logp, y)


def _xent_backward(res, ct, *, axis, reduction, labels):
    # d/dz_c of -sum_k y_k log p_k = (sum_k y_k) p_c - y_c, which is p - y for probability targets;
    # d/dy_c = -log p_c. Linear in ct, written with dualrev ops: forward mode transposes it, hessian
    # differentiates it (p and log p are functions of z computed by dualrev ops in the forward rule).
    p, logp, y = res
    xp = _xp(ct, p, y) if logp is None else _xp(ct, p, logp, y)
    if reduction == "mean":
        shape = _shape(p)
        ct = ct / (math.prod(shape) // shape[axis])
    elif reduction == "none":
        ct = xp.expand_dims(ct, axis)
    if labels:  # one-hot targets from integer labels: sum_k y_k = 1, and y is a constant
        return ct * (p - y), None
    return ct * (p * xp.sum(y, axis=axis, keepdims=True) - y), -ct * logp


@functools.lru_cache(maxsize=None)
def _softmax_cross_entropy(axis: int, reduction: str, labels: bool):
    """The custom_vjp cross-entropy for one static configuration (its rules take only arrays, as JAX's do)."""

    @dr.custom_vjp
    def softmax_cross_entropy(z, y):
        return _xent_forward(z, y, axis=axis, reduction=reduction, labels=labels)[0]

    def _xent_forward_(z, y):
        return _xent_forward(z, y, axis=axis, reduction=reduction, labels=labels)

    def _xent_backward_(res, ct):
        return _xent_backward(res, ct, axis=axis, reduction=reduction, labels=labels)

    _xent_forward_.__name__, _xent_backward_.__name__ = "_xent_forward", "_xent_backward"  # as drawn in the docs
    softmax_cross_entropy.defvjp(_xent_forward_, _xent_backward_)
    return softmax_cross_entropy


def cross_entropy(logits, labels, axis: int = -1, reduction: str = "mean"):
    """Softmax cross-entropy ``-sum(y * log_softmax(z), axis)`` between logits ``z`` and targets ``y``.

    ``labels`` is either an integer array of class indices (the shape of ``logits`` without ``axis``) or an array
    of target probabilities (one-hot or soft) with the shape of ``logits``. The reduction is over the remaining
    (batch) elements. ``d/dz = softmax(z) - y`` per example, the chapter's formula, which is the backward rule of
    this function (a ``dr.custom_vjp``: one node on the tape instead of a dozen, and one fused backward step).
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"dualrev.nn.cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not hasattr(logits, "shape"):  # a list or a float: one array (a list would be a pytree of leaves)
        logits = np.asarray(logits, np.float64)
    if not hasattr(labels, "shape"):  # a list or a number: one array
        labels = np.asarray(labels)
    shape = _shape(logits)
    axis = axis % len(shape)
    kind = np.dtype(labels.dtype).kind
    is_labels = kind in "iu"
    if is_labels:  # a plain array, or under vmap a batched value (labels differ per example)
        labels = one_hot(labels, shape[axis], _dtype(logits), axis=axis)
    elif kind == "b":  # boolean one-hot targets
        c, v = _constant(labels)
        labels = v.astype(_dtype(logits)) if c is v else dnp.astype(c, _dtype(logits))
    if not is_labels and _shape(labels) != shape:
        raise ValueError(f"dualrev.nn.cross_entropy: float targets must have the logits' shape {shape}, got "
                         f"{_shape(labels)}")
    return _softmax_cross_entropy(axis, reduction, is_labels)(logits, labels)
