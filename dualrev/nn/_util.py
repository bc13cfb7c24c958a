"""Small helpers shared by dualrev.nn: the plain value, shape and dtype of an array or a traced value."""

from __future__ import annotations

import numpy as np

import dualrev as dr


def value(x) -> np.ndarray:
    """The plain value of ``x`` (traced or not) as an array: for masks and shifts that carry no derivative."""
    if type(x) is np.ndarray:
        return x
    v = dr.stop_gradient(x)
    return v if type(v) is np.ndarray else np.asarray(v)


def shape(x) -> tuple:
    s = getattr(x, "shape", None)  # arrays and traced values have one
    return tuple(s) if s is not None else np.shape(x)


def dtype(x) -> np.dtype:
    d = getattr(x, "dtype", None)
    return np.dtype(d) if d is not None else np.result_type(x)


def float_dtype(x) -> np.dtype:
    """The dtype of ``x`` if it is floating point, else float64."""
    d = dtype(x)
    return d if d.kind == "f" else np.dtype(np.float64)
