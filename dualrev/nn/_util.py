"""Small helpers shared by dualrev.nn: the shape and dtype of an array or a traced value, and the derivative-free
value that masks and shifts are computed from (a plain array, or under ``dr.vmap`` one value per example)."""

from __future__ import annotations

import numpy as np

import dualrev as dr


def constant(x) -> tuple:
    """``(c, v)``: ``x`` without derivative, and every example's plain value of it.

    Without vmap both are the same plain array (``c is v``: NumPy fast paths may use it). Under ``dr.vmap`` the
    value differs per example: ``c`` is then ``dr.stop_gradient(x)``, a batched value to compute per-example
    masks and shifts from with dualrev operations, and ``v`` stacks every example on leading axes, for
    conservative checks over all of them (is there a nan anywhere?), never for results or shapes.

    >>> c, v = constant(np.ones(3))
    >>> c is v
    True
    """
    if type(x) is np.ndarray:
        return x, x
    v = dr.concrete_value(x)
    if type(v) is not np.ndarray:
        v = np.asarray(v)
    # A batch level keeps its batch axis in the concrete value but hides it from ``shape``: more axes means vmap.
    if v.ndim == len(shape(x)):
        return v, v
    return dr.stop_gradient(x), v


def shape(x) -> tuple:
    s = getattr(x, "shape", None)  # arrays and traced values have one
    return tuple(s) if s is not None else np.shape(x)


def reduced_shape(shape_: tuple, axis) -> tuple:
    """``shape_`` without the axes of a reduction over ``axis`` (None, an int or a tuple) that keeps no dims."""
    if axis is None:
        return ()
    axes = {a % len(shape_) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}
    return tuple(n for i, n in enumerate(shape_) if i not in axes)


def dtype(x) -> np.dtype:
    d = getattr(x, "dtype", None)
    return np.dtype(d) if d is not None else np.result_type(x)


def float_dtype(x) -> np.dtype:
    """The dtype of ``x`` if it is floating point, else float64."""
    d = dtype(x)
    return d if d.kind == "f" else np.dtype(np.float64)
