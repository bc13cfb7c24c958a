"""Lists and tuples of traced values wherever NumPy takes an array-like: ``dnp.mean([a, b])``,
``dnp.linalg.det([[a, b], [c, d]])``, ``x @ [a, b]``, ``y[:2] = [a, b]``. Imports core and the families.

Primitives convert such operands themselves (dualrev.core). The composites of the registry are wrapped here, once
every family is loaded: a positional or keyword argument that is a list or tuple holding a traced value becomes
``dnp.asarray(arg)`` before the function runs, and so does a plain list as the first argument (the array operand of
nearly every NumPy function: ``dnp.linalg.norm([3.0, 4.0])``). Functions that take a sequence of arrays
(concatenate, stack, ...) build from the sequence themselves and are left alone. Plain ``np.f([a, b])`` cannot be
helped: NumPy converts the list to an array before dualrev is asked, and the error says what to write instead
(``dnp.f`` or ``dnp.array``).
"""

from __future__ import annotations

import functools
import operator

import numpy as np

from dualrev import core
from dualrev.core import NUMPY_TABLE, Primitive, _holds_tracer
from dualrev.numpy.shape import asarray

__all__: list = []

# functions whose arguments are sequences of arrays, or indices: converted by the function itself, or never
_SEQUENCES = {np.concatenate, np.stack, np.hstack, np.vstack, np.dstack, np.column_stack, np.linalg.multi_dot,
              operator.getitem, core.index_write, core.index_update, core.array_like, core.ufunc_method,
              core.inplace_operator, np.select, np.piecewise, np.block, np.choose, np.lexsort, np.row_stack}


def _convert(a):
    return asarray(a) if (type(a) is list or type(a) is tuple) and _holds_tracer(a) else a


def accepting_array_likes(f):
    """``f`` with its list and tuple arguments that hold traced values turned into arrays first."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        if args and type(args[0]) is list:  # the array operand, given as a plain list: as NumPy takes it
            args = (asarray(args[0]),) + args[1:]
        for a in args:
            if type(a) is list or type(a) is tuple:
                args = [_convert(b) for b in args]
                break
        for a in kwargs.values():
            if type(a) is list or type(a) is tuple:
                kwargs = {k: _convert(v) for k, v in kwargs.items()}
                break
        return f(*args, **kwargs)

    wrapper.accepts_array_likes = True
    return wrapper


def wrap_registry(namespaces):
    """Wrap every composite of NUMPY_TABLE (once), and rebind the wrapped functions' names in ``namespaces`` (the
    dualrev.numpy modules users call them from)."""
    wrapped = {}
    for np_func, f in list(NUMPY_TABLE.items()):
        if isinstance(f, Primitive) or np_func in _SEQUENCES or getattr(f, "accepts_array_likes", False):
            continue
        w = wrapped.get(f)
        if w is None:
            w = wrapped[f] = accepting_array_likes(f)
            if f in core.NONDIFF_FUNCTIONS:
                core.NONDIFF_FUNCTIONS.add(w)
        NUMPY_TABLE[np_func] = w
    for ns in namespaces:
        for name, value in list(vars(ns).items()):
            if not name.startswith("_") and callable(value) and value in wrapped:
                setattr(ns, name, wrapped[value])
