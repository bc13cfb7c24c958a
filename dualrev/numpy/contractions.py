"""Contractions: matmul (and ``@``), and dot and tensordot built on it. Imports core and shape."""

from __future__ import annotations

import numpy as np

from dualrev.core import defprim, implements
from dualrev.numpy.shape import expand_dims, getitem, reshape, swapaxes, transpose

__all__ = [
    "dot", "matmul", "tensordot",
]


# Batch axes that were broadcast are summed away by the engine; these rules only handle 1-D operands.
def _matmul_vjp_x(ct, ans, x, y):
    if np.ndim(y) == 1:  # ans = x @ y has x's shape without its last axis
        return expand_dims(ct, -1) * y
    if np.ndim(x) == 1:  # ct (..., m), y (..., n, m) -> (..., n); the engine sums the batch
        return getitem(matmul(y, expand_dims(ct, -1)), (Ellipsis, 0))
    return matmul(ct, swapaxes(y, -1, -2))


def _matmul_vjp_y(ct, ans, x, y):
    if np.ndim(x) == 1 and np.ndim(y) == 1:
        return ct * x
    if np.ndim(x) == 1:  # y (..., n, m): outer product of x with each ct row
        return expand_dims(x, -1) * expand_dims(ct, -2)
    if np.ndim(y) == 1:  # x (..., k, n), ct (..., k) -> (..., n)
        return getitem(matmul(expand_dims(ct, -2), x), (Ellipsis, 0, slice(None)))
    return matmul(swapaxes(x, -1, -2), ct)


matmul = defprim(np.matmul, jvp=(lambda dx, ans, x, y: matmul(dx, y), lambda dy, ans, x, y: matmul(x, dy)),
                 vjp=(_matmul_vjp_x, _matmul_vjp_y))


@implements(np.tensordot)
def tensordot(a, b, axes=2):
    """``np.tensordot``: contract ``axes`` of ``a`` with ``axes`` of ``b`` (as one matrix product)."""
    na, nb = np.ndim(a), np.ndim(b)
    if np.ndim(axes) == 0:
        axes_a, axes_b = list(range(na - axes, na)), list(range(axes))
    else:
        axes_a, axes_b = ([axes[0]] if np.ndim(axes[0]) == 0 else list(axes[0]),
                          [axes[1]] if np.ndim(axes[1]) == 0 else list(axes[1]))
    axes_a = [int(i) % na for i in axes_a]
    axes_b = [int(i) % nb for i in axes_b]
    free_a = [i for i in range(na) if i not in axes_a]
    free_b = [i for i in range(nb) if i not in axes_b]
    sa, sb = np.shape(a), np.shape(b)
    k = int(np.prod([sa[i] for i in axes_a]))
    a2 = reshape(transpose(a, free_a + axes_a), (-1, k))
    b2 = reshape(transpose(b, axes_b + free_b), (k, -1))
    return reshape(matmul(a2, b2), tuple(sa[i] for i in free_a) + tuple(sb[i] for i in free_b))


@implements(np.dot)
def dot(a, b, out=None):
    """``np.dot``: products of scalars, vector inner products, matrix products, and N-D sum-products."""
    if out is not None:
        raise TypeError("dualrev.numpy.dot: out= is not supported")
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    if np.ndim(b) <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([-1], [-2]))
