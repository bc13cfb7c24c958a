"""dualrev.numpy: NumPy's functions, differentiable. ``import dualrev.numpy as dnp`` and write NumPy code.

Functions here are primitives (a NumPy implementation with JVP and VJP rules, see dualrev.core.defprim) or
composites of primitives. Plain ``numpy`` calls on traced values are routed to the same functions. NumPy's
constants, dtypes and creation functions (zeros, ones, arange, ...) are re-exported unchanged: they make constants.
"""

import numpy as _np

from dualrev.numpy.contractions import dot, matmul, tensordot
from dualrev.numpy.reductions import mean, sum
from dualrev.numpy.shape import (
    astype, broadcast_to, concatenate, expand_dims, moveaxis, ravel, reshape, squeeze, stack, swapaxes,
    transpose,
)
from dualrev.numpy.ufuncs import (
    abs, absolute, add, ceil, cos, divide, equal, exp, floor, floor_divide, greater, greater_equal, isfinite,
    isinf, isnan, less, less_equal, log, logical_and, logical_not, logical_or, maximum, minimum, multiply,
    negative, not_equal, power, sign, sin, sqrt, subtract, tanh, true_divide, where,
)

# Constants, dtypes and array creation: these make plain arrays, which are constants to every transform.
from numpy import (  # noqa: F401
    arange, array, asarray, e, empty, eye, float16, float32, float64, full, identity, inf, int32, int64, linspace,
    nan, ndarray, newaxis, ones, pi, zeros,
)
from numpy import empty_like, full_like, ones_like, zeros_like  # noqa: F401  (dispatch strips tracers)

del _np
