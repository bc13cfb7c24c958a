"""Activations: relu, sigmoid, tanh, softplus, softmax, log_softmax, logsumexp.

Every function takes NumPy arrays or traced values, keeps the input's float dtype, and is differentiable to any
order in both modes. The numerically delicate ones are stable for any input size:

- ``sigmoid`` and ``softplus`` are ``dr.custom_jvp`` functions: the value is computed without overflow, and the
  rules (``sigmoid' = s (1 - s)``, ``softplus' = sigmoid``) are written with ``dualrev.numpy`` operations and call
  the functions themselves, so they differentiate again.
- ``softmax``, ``log_softmax`` and ``logsumexp`` subtract the maximum before ``exp``. The maximum is taken with
  ``dr.stop_gradient``: the functions are invariant to that shift, so treating it as a constant changes no
  derivative of any order, and values and gradients stay finite at inputs of +-1000.

Under ``dr.vmap`` the masks and shifts (relu's ``x > 0``, the maximum) are computed per example with dualrev
operations on ``dr.stop_gradient(x)``; without vmap they are plain NumPy on the plain value (the fast path).
"""

from __future__ import annotations

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.nn._util import reduced_shape as _reduced_shape
from dualrev.nn._util import shape as _shape

__all__ = ["log1p", "log_softmax", "logsumexp", "relu", "sigmoid", "softmax", "softplus", "tanh"]


# -- log1p: dualrev.numpy's if it has one, else a custom_jvp built on numpy.log1p --

if hasattr(dnp, "log1p"):
    log1p = dnp.log1p
else:

    @dr.custom_jvp
    def log1p(x):
        """``log(1 + x)``, accurate for small ``x``."""
        # Only plain arrays reach a custom_jvp body in practice; a traced one is handled all the same.
        return np.log1p(x) if dr.stop_gradient(x) is x else dnp.log(1.0 + x)

    @log1p.defjvp
    def _log1p_jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return log1p(x), dx / (1.0 + x)


def relu(x):
    """``max(x, 0)``; its derivative is 1 where ``x > 0`` and 0 elsewhere (0 at ``x == 0``, as in ``jax.nn.relu``).

    On traced values it is ``x * mask`` with a constant boolean mask (one multiply forward, one backward, and one
    byte per element kept for the backward pass; negative inputs give ``-0.0`` there), falling back to ``where``
    when ``x`` holds ``-inf`` or nan (where ``-inf * 0`` would be nan). Under ``dr.vmap`` the mask is a batched
    value, one per example.

    >>> relu(np.array([-1.0, 2.0]))
    array([0., 2.])
    """
    if type(x) is np.ndarray:  # not traced: nothing to differentiate
        return np.maximum(x, 0)
    c = dr.stop_gradient(x)  # a plain array, or a traced value under vmap or dr.jit
    # one fast reduction over every example: true for -inf and for nan (a guard under dr.jit)
    if dr.concrete_test(lambda v: np.size(v) and not np.min(v) > -np.inf, x):
        return dnp.where(c <= 0, 0.0, x)  # relu(nan) is nan, as in JAX
    return x * (c > 0)


def tanh(x):
    """``tanh(x)``; ``tanh' = 1 - tanh^2``."""
    return dnp.tanh(x)


@dr.custom_jvp
def softplus(x):
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``; ``softplus' = sigmoid``."""
    return dnp.maximum(x, 0.0) + log1p(dnp.exp(-dnp.abs(x)))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return softplus(x), dx * sigmoid(x)


@dr.custom_jvp
def sigmoid(x):
    """The logistic function ``1 / (1 + exp(-x))``, as ``exp(-softplus(-x))``: no overflow, and accurate in both
    tails (``sigmoid(-40)`` is 4.2e-18, not 0). ``sigmoid' = s (1 - s)``."""
    return dnp.exp(-softplus(-x))


@sigmoid.defjvp
def _sigmoid_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    s = sigmoid(x)
    return s, dx * (s * (1.0 - s))


def _shift(x, axis):
    """The maximum of ``x`` along ``axis`` (kept), as a constant; 0 where it is not finite."""
    c = dr.stop_gradient(x)
    if not isinstance(c, dr.Tracer):  # a plain array: NumPy directly
        c = np.asarray(c)
        m = c.max(axis=axis, keepdims=True)
        if not np.isfinite(m).all():
            m = np.where(np.isfinite(m), m, 0).astype(m.dtype)
        return m
    m = dnp.max(c, axis=axis, keepdims=True)  # under vmap: one maximum per example; under dr.jit: traced
    if not dr.concrete_test(lambda v: np.isfinite(v).all(), m):  # some example's maximum is not finite
        m = dnp.where(dnp.isfinite(m), m, dnp.zeros_like(m))
    return m


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x), axis))``, computed as ``m + log(sum(exp(x - m)))`` with ``m = max(x)``; its gradient is
    ``softmax(x)``.

    >>> logsumexp(np.zeros(4))   # log 4
    array(1.38629436)
    """
    m = _shift(x, axis)
    out = dnp.log(dnp.sum(dnp.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = dnp.reshape(out, _reduced_shape(_shape(x), axis))
    return out


def log_softmax(x, axis=-1):
    """``x - logsumexp(x, axis, keepdims=True)``: log-probabilities, finite even where ``softmax`` underflows."""
    shifted = x - _shift(x, axis)
    return shifted - dnp.log(dnp.sum(dnp.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, computed from ``x - max(x)``."""
    e = dnp.exp(x - _shift(x, axis))
    return e / dnp.sum(e, axis=axis, keepdims=True)
