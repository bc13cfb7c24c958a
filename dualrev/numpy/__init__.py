"""dualrev.numpy: NumPy's functions, differentiable. ``import dualrev.numpy as dnp`` and write NumPy code.

Functions here are primitives (a NumPy implementation with JVP and VJP rules, see dualrev.core.defprim) or
composites of primitives, one file per family; each family's ``__all__`` is exported here. Plain ``numpy`` calls on
traced values are routed to the same functions. NumPy's constants, dtypes and creation functions (zeros, ones,
arange, ...) are re-exported unchanged: they make plain arrays, which are constants to every transform.

Every other public name of NumPy's namespace is here too, so ``import dualrev.numpy as np`` runs NumPy code as it
is written: a function NumPy code calls on traced values (``unique``, ``argwhere``, the NumPy 2 aliases ``acos``,
``pow`` ...) is the same entry ``np.f(tracer)`` reaches; dtypes, constants, index helpers (``s_``, ``ix_``,
``tril_indices``), ``errstate``, ``finfo`` and ``numpy.random`` are NumPy's own, since they take nothing to
differentiate; the rest is NumPy's function, which raises a TypeError naming itself when given a traced value
(docs/coverage.md lists which is which).
"""

import inspect as _inspect
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


def _complete_namespace(namespace: dict) -> None:
    """Give every public NumPy name that the families do not define: the registry's entry, or NumPy's own."""
    import numpy as np

    from dualrev.core import NUMPY_TABLE

    # Submodules that hold no array maths to differentiate; the others (linalg, fft) are dualrev's own.
    submodules = {"random", "testing", "exceptions", "dtypes"}
    for name in dir(np):
        if name.startswith("_") or name in namespace:
            continue
        obj = getattr(np, name)
        if _inspect.ismodule(obj):
            if name in submodules:
                namespace[name] = obj
            continue
        try:
            entry = NUMPY_TABLE.get(obj)
        except TypeError:  # an unhashable constant
            entry = None
        namespace[name] = obj if entry is None else entry


_complete_namespace(globals())
