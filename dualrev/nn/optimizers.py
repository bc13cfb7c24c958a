"""Functional optimisers on pytrees of parameters: sgd (with momentum), adam; apply_updates, global_norm,
clip_by_global_norm.

An optimiser is a pair of pure functions, as in optax::

    opt = adam(1e-3)
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)

``params``, ``grads`` and ``updates`` are pytrees of the same structure (dicts, lists, tuples of arrays). The
learning rate is a number or a function of the step count (0, 1, ...). Updates have the dtype of the gradients
(so float16 and float32 parameters keep their dtype); the optimiser's own state (momentum, Adam's moments) is kept
in at least float32, because float16 moments underflow (``1e-8`` and squared small gradients are 0 in float16).
The rules are plain array arithmetic (``dualrev.numpy`` for the square root), so an update is differentiable too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import dualrev.numpy as dnp
from dualrev.nn import _util
from dualrev.tree_util import tree_flatten, tree_leaves, tree_map, tree_unflatten

__all__ = [
    "AdamState",
    "Optimizer",
    "SGDState",
    "adam",
    "apply_updates",
    "clip_by_global_norm",
    "global_norm",
    "sgd",
]


class Optimizer(NamedTuple):
    """``init(params) -> state`` and ``update(grads, state, params=None) -> (updates, state)``."""

    init: Callable
    update: Callable


class SGDState(NamedTuple):
    step: Any  # the number of updates made so far
    velocity: Any  # a pytree like params (None without momentum)


class AdamState(NamedTuple):
    step: Any
    mu: Any  # first-moment (mean) estimates
    nu: Any  # second-moment (uncentred variance) estimates


def _dtype(x):
    return _util.dtype(x)


def _state_dtype(x):
    return np.promote_types(_dtype(x), np.float32)


def _cast(x, dtype):
    return x if _dtype(x) == dtype else dnp.astype(x, dtype)


def _zeros_state(params):
    return tree_map(lambda p: np.zeros(_util.shape(p), _state_dtype(p)), params)


def _lr(learning_rate, step):
    return learning_rate(step) if callable(learning_rate) else learning_rate


def _need_params(params, name):
    if params is None:
        raise TypeError(f"dualrev.nn.{name}: weight_decay needs params: call update(grads, state, params)")


def sgd(learning_rate, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> Optimizer:
    """Stochastic gradient descent, with heavy-ball or Nesterov momentum (PyTorch's form) and L2 weight decay.

    ``g <- g + weight_decay * p``; with momentum ``v <- momentum * v + g`` and the step is ``v`` (Nesterov:
    ``g + momentum * v``); the update is ``-learning_rate * step``.
    """
    if nesterov and not momentum:
        raise ValueError("dualrev.nn.sgd: nesterov=True needs a momentum > 0")

    def init(params):
        return SGDState(step=0, velocity=_zeros_state(params) if momentum else None)

    def update(grads, state, params=None):
        lr = _lr(learning_rate, state.step)
        if weight_decay:
            _need_params(params, "sgd")
            grads = tree_map(lambda g, p: g + weight_decay * _cast(p, _dtype(g)), grads, params)
        if not momentum:
            updates = tree_map(lambda g: _cast(-lr * g, _dtype(g)), grads)
            return updates, SGDState(state.step + 1, None)
        wide = tree_map(lambda g: _cast(g, _state_dtype(g)), grads)
        velocity = tree_map(lambda v, g: momentum * v + g, state.velocity, wide)
        if nesterov:
            direction = tree_map(lambda g, v: g + momentum * v, wide, velocity)
        else:
            direction = velocity
        updates = tree_map(lambda d, g: _cast(-lr * d, _dtype(g)), direction, grads)
        return updates, SGDState(state.step + 1, velocity)

    return Optimizer(init, update)


def adam(learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0) -> Optimizer:
    """Adam (Kingma and Ba), with bias correction; ``weight_decay`` is decoupled (AdamW).

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``, ``m^ = m / (1 - b1^t)``, ``v^ = v / (1 - b2^t)``,
    update ``-learning_rate * (m^ / (sqrt(v^) + eps) + weight_decay * p)``, with ``t`` the 1-based step.
    """

    def init(params):
        zeros = _zeros_state(params)
        return AdamState(step=0, mu=zeros, nu=tree_map(np.copy, zeros))

    def update(grads, state, params=None):
        lr = _lr(learning_rate, state.step)
        t = state.step + 1
        wide = tree_map(lambda g: _cast(g, _state_dtype(g)), grads)  # g * g in float16 underflows
        mu = tree_map(lambda m, g: b1 * m + (1.0 - b1) * g, state.mu, wide)
        nu = tree_map(lambda v, g: b2 * v + (1.0 - b2) * (g * g), state.nu, wide)
        c1, c2 = 1.0 - b1 ** t, 1.0 - b2 ** t
        direction = tree_map(lambda m, v: (m / c1) / (dnp.sqrt(v / c2) + eps), mu, nu)
        if weight_decay:
            _need_params(params, "adam")
            direction = tree_map(lambda d, p: d + weight_decay * p, direction, params)
        updates = tree_map(lambda d, g: _cast(-lr * d, _dtype(g)), direction, grads)
        return updates, AdamState(t, mu, nu)

    return Optimizer(init, update)


def apply_updates(params, updates):
    """``params + updates``, leaf by leaf, each result in its parameter's dtype."""
    return tree_map(lambda p, u: _cast(p + u, _dtype(p)), params, updates)


def _sum_of_squares(leaves):
    total = None
    for g in leaves:
        g = _cast(g, _state_dtype(g))
        s = dnp.sum(g * g)
        total = s if total is None else total + s
    return total


def global_norm(tree):
    """The 2-norm of all leaves together, ``sqrt(sum_i sum(g_i^2))``, computed in at least float32.

    >>> global_norm({"w": np.array([3.0]), "b": np.array([4.0])})
    np.float64(5.0)
    """
    leaves = tree_leaves(tree)
    if not leaves:
        return 0.0
    return dnp.sqrt(_sum_of_squares(leaves))


def clip_by_global_norm(tree, max_norm: float):
    """Scale every leaf by ``min(1, max_norm / global_norm(tree))``; returns ``(clipped tree, norm)``.

    The direction of the whole gradient is kept (unlike clipping each element); leaves keep their dtype. Under
    ``dr.vmap`` each example is clipped by its own norm.

    >>> clip_by_global_norm({"w": np.array([3.0, 4.0])}, 1.0)[0]["w"]
    array([0.6, 0.8])
    """
    leaves, treedef = tree_flatten(tree)
    if not leaves:
        return tree, 0.0
    squares = _sum_of_squares(leaves)
    norm = dnp.sqrt(squares)
    c, v = _util.constant(norm)
    if c is v:
        if not v > max_norm:  # also when the norm is nan: nothing to rescale by
            return tree, norm
        scale = max_norm / norm
    else:  # under vmap the norm differs per example: scale those above max_norm, leave the others
        clip = c > max_norm
        one = np.ones((), _dtype(norm))
        # The inner where takes the root of 1, not of a zero sum, where an example is not clipped: the derivative
        # of the unused branch stays finite (0, not 0 * inf).
        scale = dnp.where(clip, max_norm / dnp.sqrt(dnp.where(clip, squares, one)), one)
    clipped = [_cast(_cast(g, _state_dtype(g)) * scale, _dtype(g)) for g in leaves]
    return tree_unflatten(treedef, clipped), norm
