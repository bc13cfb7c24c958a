"""Layers as functions of explicit parameters: linear, layer_norm, conv1d, conv2d, max_pool2d, avg_pool2d, dropout.

Layouts follow the backprop chapter and ``jax.lax.conv_general_dilated``: ``linear`` multiplies row vectors,
``x @ W + b`` with ``W`` of shape ``(in, out)``; convolutions take ``NCW`` / ``NCHW`` inputs and ``OIW`` / ``OIHW``
kernels and compute a cross-correlation (the kernel is not flipped).

Convolution is im2col: the input is padded, the ``kh * kw`` shifted, strided views that each kernel tap sees are
taken by slicing (one slice per kernel offset; nothing loops over output positions) and stacked into a patch
tensor, and one batched matrix product with the reshaped kernel gives every output. All of it is ``dualrev.numpy``
operations, so dualrev differentiates it in both modes and to any order; the backward pass is the transposed
convolution (derived in docs/nn.md).
"""

from __future__ import annotations

import math

import numpy as np

import dualrev.numpy as dnp
from dualrev.nn import random as _random
from dualrev.nn._util import constant as _constant
from dualrev.nn._util import dtype as _dtype
from dualrev.nn._util import shape as _shape

__all__ = ["avg_pool2d", "conv1d", "conv2d", "conv_output_shape", "dropout", "layer_norm", "linear", "max_pool2d"]


def linear(x, W, b=None):
    """``x @ W + b``: ``x`` of shape ``(..., in)``, ``W`` of shape ``(in, out)``, ``b`` of shape ``(out,)`` or None.

    Backward: ``dx = g W^T``, ``dW = x^T g``, ``db = sum(g, batch axes)``.
    """
    y = dnp.matmul(x, W)
    return y if b is None else y + b


def layer_norm(x, gamma=None, beta=None, eps: float = 1e-5, axis=-1):
    """``(x - mean) / sqrt(var + eps) * gamma + beta``, mean and (biased) variance over ``axis`` (an int or a
    tuple: the normalised trailing axes). ``gamma`` and ``beta`` (or None) broadcast against those axes."""
    mu = dnp.mean(x, axis=axis, keepdims=True)
    xc = x - mu
    var = dnp.mean(xc * xc, axis=axis, keepdims=True)
    y = xc / dnp.sqrt(var + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


# -- convolution and pooling --


def _tuple(v, n: int, name: str, what: str) -> tuple:
    t = (int(v),) * n if np.ndim(v) == 0 else tuple(int(i) for i in v)
    if len(t) != n or any(i < 1 for i in t):
        raise ValueError(f"dualrev.nn.{name}: {what} must be a positive int or {n} positive ints, got {v!r}")
    return t


def _pads(padding, in_sizes, k_sizes, strides, dilations, name: str) -> list:
    """Padding as (low, high) per spatial axis. "same" gives ceil(in / stride) outputs, the extra pad at the end
    (as in JAX and TensorFlow); the kernel size counts its dilation."""
    n = len(in_sizes)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return [(0, 0)] * n
        if mode == "same":
            pads = []
            for size, k, s, d in zip(in_sizes, k_sizes, strides, dilations):
                out = -(-size // s)
                total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
                pads.append((total // 2, total - total // 2))
            return pads
        raise ValueError(f"dualrev.nn.{name}: padding must be 'valid', 'same', an int or pairs, got {padding!r}")
    if np.ndim(padding) == 0:
        return [(int(padding), int(padding))] * n
    pads = [(int(p), int(p)) if np.ndim(p) == 0 else (int(p[0]), int(p[1])) for p in padding]
    if len(pads) != n or any(lo < 0 or hi < 0 for lo, hi in pads):
        raise ValueError(f"dualrev.nn.{name}: padding {padding!r} must give non-negative pads for {n} axes")
    return pads


def _pad(x, pads, value):
    """Pad the spatial axes (2, 3, ...) of ``x`` with a constant, by concatenation."""
    shape, dtype = list(_shape(x)), _dtype(x)
    for i, (lo, hi) in enumerate(pads):
        if lo == 0 and hi == 0:
            continue
        axis = 2 + i
        parts = []
        if lo:
            parts.append(np.full(shape[:axis] + [lo] + shape[axis + 1:], value, dtype))
        parts.append(x)
        if hi:
            parts.append(np.full(shape[:axis] + [hi] + shape[axis + 1:], value, dtype))
        x = dnp.concatenate(parts, axis=axis)
        shape[axis] += lo + hi
    return x


def conv_output_shape(in_sizes, k_sizes, strides, dilations, pads) -> tuple:
    """Spatial output sizes: ``(in + lo + hi - dilation (k - 1) - 1) // stride + 1`` per axis."""
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, d, (lo, hi) in zip(in_sizes, k_sizes, strides, dilations, pads))


def _windows(x, k_sizes, strides, dilations, pads, pad_value, name):
    """The patch tensor of ``x`` (N, C, *spatial): shape (N, C, K, *out), K = prod(k_sizes), entry
    ``[n, c, k, *o] = x_padded[n, c, *(o * stride + offset_k * dilation)]`` with offsets in C order."""
    in_sizes = _shape(x)[2:]
    out_sizes = conv_output_shape(in_sizes, k_sizes, strides, dilations, pads)
    if any(o < 1 for o in out_sizes):
        raise ValueError(f"dualrev.nn.{name}: the (dilated) window {k_sizes} does not fit the padded input "
                         f"{tuple(n + lo + hi for n, (lo, hi) in zip(in_sizes, pads))}")
    xp = _pad(x, pads, pad_value)
    taps = []
    for offset in np.ndindex(*k_sizes):
        idx = (slice(None), slice(None)) + tuple(
            slice(o * d, o * d + (m - 1) * s + 1, s) for o, d, m, s in zip(offset, dilations, out_sizes, strides))
        taps.append(xp[idx])
    patches = taps[0][:, :, None] if len(taps) == 1 else dnp.stack(taps, axis=2)
    return patches, out_sizes


def _conv(x, w, b, stride, padding, dilation, n: int, name: str):
    xs, ws = _shape(x), _shape(w)
    if len(xs) != n + 2 or len(ws) != n + 2:
        layout = "NCW and OIW" if n == 1 else "NCHW and OIHW"
        raise ValueError(f"dualrev.nn.{name}: expected {layout} arrays, got shapes {xs} and {ws}")
    (N, C), (O, I), k_sizes = xs[:2], ws[:2], ws[2:]
    if I != C:
        raise ValueError(f"dualrev.nn.{name}: the input has {C} channels but the kernel expects {I}")
    strides = _tuple(stride, n, name, "stride")
    dilations = _tuple(dilation, n, name, "dilation")
    pads = _pads(padding, xs[2:], k_sizes, strides, dilations, name)
    patches, out_sizes = _windows(x, k_sizes, strides, dilations, pads, 0.0, name)
    K, L = math.prod(k_sizes), math.prod(out_sizes)
    # (O, C K) @ (N, C K, L) -> (N, O, L): one batched matrix product for every output position
    y = dnp.matmul(dnp.reshape(w, (O, C * K)), dnp.reshape(patches, (N, C * K, L)))
    y = dnp.reshape(y, (N, O) + tuple(out_sizes))
    if b is not None:
        y = y + dnp.reshape(b, (O,) + (1,) * n)
    return y


def conv1d(x, w, b=None, stride=1, padding="valid", dilation=1):
    """1-D cross-correlation: ``x`` (N, C, W), ``w`` (O, C, K), ``b`` (O,) or None -> (N, O, W_out).

    ``padding``: "valid", "same" (output size ``ceil(W / stride)``), an int, or a ``(low, high)`` pair in a list.
    """
    return _conv(x, w, b, stride, padding, dilation, 1, "conv1d")


def conv2d(x, w, b=None, stride=1, padding="valid", dilation=1):
    """2-D cross-correlation: ``x`` (N, C, H, W), ``w`` (O, C, KH, KW), ``b`` (O,) or None -> (N, O, H_out, W_out).

    ``stride`` and ``dilation`` are ints or pairs; ``padding`` is "valid", "same", an int, or per-axis ints or
    ``(low, high)`` pairs. ``y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x_pad[n, c, i s + p d, j s + q d]``.
    """
    return _conv(x, w, b, stride, padding, dilation, 2, "conv2d")


def _pool_setup(x, window, stride, padding, name):
    xs = _shape(x)
    if len(xs) != 4:
        raise ValueError(f"dualrev.nn.{name}: expected an NCHW input, got shape {xs}")
    k_sizes = _tuple(window, 2, name, "window")
    strides = k_sizes if stride is None else _tuple(stride, 2, name, "stride")
    pads = _pads(padding, xs[2:], k_sizes, strides, (1, 1), name)
    return xs, k_sizes, strides, pads


def _tiled(x, xs, k_sizes, strides, pads):
    """Non-overlapping windows that tile the input (stride == window, no padding): a reshape, no copies."""
    if strides != k_sizes or any(p != (0, 0) for p in pads):
        return None
    (N, C, H, W), (kh, kw) = xs, k_sizes
    Ho, Wo = H // kh, W // kw
    if Ho < 1 or Wo < 1:
        return None
    if (Ho * kh, Wo * kw) != (H, W):
        x = x[:, :, :Ho * kh, :Wo * kw]
    return dnp.reshape(x, (N, C, Ho, kh, Wo, kw))


def _select(t, v, mask):
    """``t`` where ``mask``, else 0: a multiply by the 0/1 mask (``where`` if ``t`` holds infinities in any
    example)."""
    if np.isinf(v).any():
        return dnp.where(mask, t, 0.0)
    return t * mask.astype(v.dtype)


def _first_max(c, axis: int):
    """A boolean mask of the first maximum of ``c`` along ``axis``: NumPy on a plain array, dualrev operations on
    a batched value (under vmap, one mask per example)."""
    xp = np if type(c) is np.ndarray else dnp
    ndim, axis = len(c.shape), axis % len(c.shape)
    positions = np.arange(c.shape[axis]).reshape((-1,) + (1,) * (ndim - 1 - axis))
    return xp.expand_dims(xp.argmax(c, axis=axis), axis) == positions


def max_pool2d(x, window=2, stride=None, padding="valid"):
    """Max over ``window`` (int or pair) moved by ``stride`` (default: the window) over an NCHW input.

    The derivative flows to the first maximal element of each window (as in ``jax.lax.reduce_window`` max
    pooling and PyTorch): ``y = sum(patches * onehot(argmax))`` with a constant one-hot mask (under ``dr.vmap``,
    one per example).

    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4)).shape
    (1, 1, 2, 2)
    """
    xs, k_sizes, strides, pads = _pool_setup(x, window, stride, padding, "max_pool2d")
    tiles = _tiled(x, xs, k_sizes, strides, pads)
    if tiles is not None:  # (N, C, Ho, kh, Wo, kw)
        c, v = _constant(tiles)
        N, C, Ho, kh, Wo, kw = _shape(tiles)
        xp = np if c is v else dnp
        flat = xp.reshape(xp.transpose(c, (0, 1, 2, 4, 3, 5)), (N, C, Ho, Wo, kh * kw))
        mask = xp.transpose(xp.reshape(_first_max(flat, -1), (N, C, Ho, Wo, kh, kw)), (0, 1, 2, 4, 3, 5))
        return dnp.sum(_select(tiles, v, mask), axis=(3, 5))
    dtype = _dtype(x)
    # Pad with the lowest finite value, not -inf: padded positions are multiplied by 0 in the mask.
    patches, _ = _windows(x, k_sizes, strides, (1, 1), pads, np.finfo(dtype).min, "max_pool2d")
    c, v = _constant(patches)
    return dnp.sum(_select(patches, v, _first_max(c, 2)), axis=2)


def avg_pool2d(x, window=2, stride=None, padding="valid"):
    """Mean over ``window`` moved by ``stride`` (default: the window) over an NCHW input. Padded zeros count in
    the mean (``count_include_pad``, as in ``jax.lax.reduce_window`` sum pooling divided by the window size)."""
    xs, k_sizes, strides, pads = _pool_setup(x, window, stride, padding, "avg_pool2d")
    tiles = _tiled(x, xs, k_sizes, strides, pads)
    if tiles is not None:
        return dnp.mean(tiles, axis=(3, 5))
    patches, _ = _windows(x, k_sizes, strides, (1, 1), pads, 0.0, "avg_pool2d")
    return dnp.mean(patches, axis=2)


def dropout(key, x, rate: float, deterministic: bool = False):
    """Zero each element with probability ``rate`` and scale the rest by ``1 / (1 - rate)`` (inverted dropout, so
    the expectation is unchanged). ``key`` is a ``dualrev.nn.PRNGKey``: the same key drops the same elements.
    With ``deterministic=True`` (evaluation) or ``rate == 0`` it returns ``x``. The derivative is the same mask.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dualrev.nn.dropout: rate must be in [0, 1], got {rate}")
    if deterministic or rate == 0.0:
        return x
    dtype = _dtype(x)
    if rate == 1.0:
        return x * np.zeros(_shape(x), dtype)
    keep = 1.0 - rate
    mask = _random.bernoulli(key, keep, _shape(x)).astype(dtype) / np.asarray(keep, dtype)
    return x * mask
