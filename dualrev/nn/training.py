"""Training-loop helpers: shuffled mini-batches, and gradient accumulation over micro-batches.

``accumulate_grads`` computes the loss and gradient of a batch too large to run at once, one micro-batch at a
time: for a loss that is a mean over examples, the full-batch mean is ``sum_i (n_i / N) mean_i``, so the
micro-batch gradients are summed with weights ``n_i / N``. The result equals the full-batch gradient (up to
rounding), and only one micro-batch's tape is alive at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

import dualrev as dr
from dualrev.nn import _util
from dualrev.nn import random as _random
from dualrev.tree_util import tree_leaves, tree_map

__all__ = ["accumulate_grads", "minibatches", "split_batch"]


def _batch_size(batch) -> int:
    leaves = tree_leaves(batch)
    if not leaves:
        raise ValueError("dualrev.nn: a batch needs at least one array")
    n = np.shape(leaves[0])[0]
    if any(np.shape(x)[0] != n for x in leaves):
        raise ValueError("dualrev.nn: every array of a batch needs the same leading (batch) size")
    return int(n)


def minibatches(key, data: Sequence, batch_size: int, drop_last: bool = False) -> Iterator[tuple]:
    """Yield tuples of mini-batches of the arrays in ``data`` (same leading size), in an order shuffled by
    ``key`` (a ``dualrev.nn.PRNGKey``; ``None`` keeps the order). The last batch may be smaller unless
    ``drop_last``."""
    data = tuple(data)
    n = _batch_size(data)
    order = np.arange(n) if key is None else _random.permutation(key, n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tuple(np.asarray(a)[idx] for a in data)


def split_batch(batch: Sequence, num: int) -> list:
    """Split a batch (a tuple of arrays with the same leading size) into ``num`` micro-batches of nearly equal
    sizes (``numpy.array_split``)."""
    batch = tuple(batch)
    _batch_size(batch)
    parts = [np.array_split(np.asarray(a), num) for a in batch]
    return [tuple(p[i] for p in parts) for i in range(num) if len(parts[0][i])]


def accumulate_grads(loss_fn: Callable, params, micro_batches: Sequence, has_aux: bool = False):
    """``(loss, grads)`` of the mean loss over the union of ``micro_batches``, one micro-batch at a time.

    ``loss_fn(params, *micro_batch)`` must return the *mean* loss over its micro-batch (a scalar; with
    ``has_aux``, ``(loss, aux)``, and the aux values come back as a list). Micro-batch ``i`` of size ``n_i`` is
    weighted by ``n_i / N``. Gradients are summed in at least float32 and returned in the parameters' dtype.
    """
    micro_batches = [tuple(b) if isinstance(b, (tuple, list)) else (b,) for b in micro_batches]
    sizes = [_batch_size(b) for b in micro_batches]
    total = float(sum(sizes))
    vg = dr.value_and_grad(loss_fn, has_aux=has_aux)
    loss, grads, auxes = 0.0, None, []
    for batch, n in zip(micro_batches, sizes):
        value, g = vg(params, *batch)
        if has_aux:
            value, aux = value
            auxes.append(aux)
        w = n / total
        loss = loss + w * np.asarray(value, np.promote_types(np.result_type(value), np.float32))
        g = tree_map(lambda x, w=w: w * np.asarray(x, np.promote_types(np.result_type(x), np.float32)), g)
        grads = g if grads is None else tree_map(np.add, grads, g)
    grads = tree_map(lambda a, p: a.astype(_util.dtype(p), copy=False), grads, params)
    loss = np.asarray(loss).astype(np.result_type(value), copy=False)
    return ((loss, auxes) if has_aux else loss), grads

