"""dualrev.numpy: NumPy's functions, differentiable. ``import dualrev.numpy as dnp`` and write NumPy code.

Functions here are primitives (a NumPy implementation with JVP and VJP rules, see dualrev.core.defprim) or
composites of primitives, one file per family; each family's ``__all__`` is exported here. Plain ``numpy`` calls on
traced values are routed to the same functions. NumPy's constants, dtypes and creation functions (zeros, ones,
arange, ...) are re-exported unchanged: they make plain arrays, which are constants to every transform.
"""

import sys as _sys

from numpy import (  # noqa: F401
    arange, array, asarray, e, empty, empty_like, eye, float16, float32, float64, full, full_like, identity, inf,
    int32, int64, nan, ndarray, newaxis, ones, ones_like, pi, zeros, zeros_like,
)

from dualrev.numpy.contractions import *  # noqa: F401,F403
from dualrev.numpy.indexing import *  # noqa: F401,F403
from dualrev.numpy.reductions import *  # noqa: F401,F403
from dualrev.numpy.shape import *  # noqa: F401,F403
from dualrev.numpy.ufuncs import *  # noqa: F401,F403
from dualrev.numpy.building import *  # noqa: F401,F403
from dualrev.numpy.numerical import *  # noqa: F401,F403
from dualrev.numpy.statistics import *  # noqa: F401,F403
from dualrev.numpy.inplace import *  # noqa: F401,F403  (after the families: views of theirs are tracked)
from dualrev.numpy import ufunc_methods  # noqa: F401,E402  (np.add.reduce(x) & co. on traced values)
from dualrev.numpy import linalg  # noqa: F401,E402  (dnp.linalg, like np.linalg)
from dualrev.numpy import fft  # noqa: F401,E402  (dnp.fft, like np.fft)
from dualrev.numpy.array_likes import wrap_registry as _wrap_registry  # noqa: E402

_wrap_registry([_sys.modules[__name__], linalg, fft])  # lists of traced values wherever NumPy takes array-likes
