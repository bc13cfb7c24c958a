"""Parameter initialisers: glorot_uniform, glorot_normal, he_normal, he_uniform, lecun_normal, zeros, ones.

Each is ``init(key, shape, dtype=np.float64)`` with an explicit ``dualrev.nn.PRNGKey`` and returns a plain NumPy
array (initialisation is not traced). The scales follow ``jax.nn.initializers``:

- fans: a 2-D weight is ``(in, out)`` (the layout of ``dualrev.nn.linear``); a convolution kernel is
  ``(out, in, *window)`` (``OIW``/``OIHW``, the layout of ``conv1d``/``conv2d``) and each fan is multiplied by
  the window size. ``in_axis``/``out_axis`` override this.
- ``glorot_uniform``: ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))`` (variance ``2 / (fan_in + fan_out)``);
- ``he_normal``: a normal truncated to two standard deviations, rescaled so the variance is ``2 / fan_in``.
"""

from __future__ import annotations

import math

import numpy as np

from dualrev.nn import random as _random

__all__ = [
    "compute_fans",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "ones",
    "variance_scaling",
    "zeros",
]

_TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def compute_fans(shape, in_axis=None, out_axis=None) -> tuple[float, float]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` (see the module docstring for the layouts)."""
    shape = tuple(int(n) for n in shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if in_axis is None and out_axis is None:
        in_axis, out_axis = (0, 1) if len(shape) == 2 else (1, 0)
    elif in_axis is None or out_axis is None:
        raise ValueError("compute_fans: give both in_axis and out_axis, or neither")
    in_axis, out_axis = in_axis % len(shape), out_axis % len(shape)
    receptive = math.prod(n for i, n in enumerate(shape) if i not in (in_axis, out_axis))
    return float(shape[in_axis] * receptive), float(shape[out_axis] * receptive)


def _truncated_normal(key, shape, lower=-2.0, upper=2.0) -> np.ndarray:
    rng = _random.generator(key)
    out = rng.standard_normal(shape)
    bad = (out < lower) | (out > upper)
    while bad.any():  # rejection: about 4.6% of draws fall outside two standard deviations
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = (out < lower) | (out > upper)
    return out


def variance_scaling(key, shape, scale: float, mode: str, distribution: str, dtype=np.float64,
                     in_axis=None, out_axis=None) -> np.ndarray:
    """Samples of variance ``scale / fan`` (``fan`` = fan_in, fan_out or their mean, by ``mode``) from a
    ``"truncated_normal"``, ``"normal"`` or ``"uniform"`` distribution."""
    fan_in, fan_out = compute_fans(shape, in_axis, out_axis)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}.get(mode)
    if fan is None:
        raise ValueError(f"variance_scaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
    variance = scale / max(fan, 1.0)
    if distribution == "truncated_normal":
        out = _truncated_normal(key, shape) * (math.sqrt(variance) / _TRUNCATED_STD)
    elif distribution == "normal":
        out = _random.generator(key).standard_normal(shape) * math.sqrt(variance)
    elif distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        out = _random.generator(key).uniform(-limit, limit, shape)
    else:
        raise ValueError(f"variance_scaling: unknown distribution {distribution!r}")
    return np.asarray(out, dtype=dtype)


def glorot_uniform(key, shape, dtype=np.float64, in_axis=None, out_axis=None) -> np.ndarray:
    """Glorot (Xavier) uniform: ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``."""
    return variance_scaling(key, shape, 1.0, "fan_avg", "uniform", dtype, in_axis, out_axis)


def glorot_normal(key, shape, dtype=np.float64, in_axis=None, out_axis=None) -> np.ndarray:
    """Glorot (Xavier) normal: truncated normal of variance ``2 / (fan_in + fan_out)``."""
    return variance_scaling(key, shape, 1.0, "fan_avg", "truncated_normal", dtype, in_axis, out_axis)


def he_normal(key, shape, dtype=np.float64, in_axis=None, out_axis=None) -> np.ndarray:
    """He (Kaiming) normal, for ReLU layers: truncated normal of variance ``2 / fan_in``."""
    return variance_scaling(key, shape, 2.0, "fan_in", "truncated_normal", dtype, in_axis, out_axis)


def he_uniform(key, shape, dtype=np.float64, in_axis=None, out_axis=None) -> np.ndarray:
    """He (Kaiming) uniform: ``U(-a, a)``, ``a = sqrt(6 / fan_in)``."""
    return variance_scaling(key, shape, 2.0, "fan_in", "uniform", dtype, in_axis, out_axis)


def lecun_normal(key, shape, dtype=np.float64, in_axis=None, out_axis=None) -> np.ndarray:
    """LeCun normal: truncated normal of variance ``1 / fan_in``."""
    return variance_scaling(key, shape, 1.0, "fan_in", "truncated_normal", dtype, in_axis, out_axis)


def zeros(key, shape, dtype=np.float64) -> np.ndarray:
    """Zeros (biases); ``key`` is accepted for a uniform signature and ignored."""
    return np.zeros(shape, dtype)


def ones(key, shape, dtype=np.float64) -> np.ndarray:
    """Ones (layer-norm scales); ``key`` is ignored."""
    return np.ones(shape, dtype)
