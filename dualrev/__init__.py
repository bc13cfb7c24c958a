"""dualrev: automatic differentiation of NumPy code, forward (dual numbers) and reverse (tape), to any order.

>>> import dualrev as dr, dualrev.numpy as dnp
>>> dr.grad(lambda x: dnp.sum(dnp.sin(x) ** 2))(dnp.ones(3))
"""

from dualrev import numpy  # noqa: F401  (registers the primitives)
from dualrev.batching import vmap
from dualrev.core import LeakedTracerError, defprim  # noqa: F401
from dualrev.core import Tracer, concrete_test, concrete_value  # for code built on dualrev (dualrev.nn uses them)
from dualrev.custom import checkpoint, custom_jvp, custom_vjp, stop_gradient
from dualrev.compile import jit
from dualrev.graph import make_graph
from dualrev.testing import check_grads
from dualrev.transforms import grad, hessian, hvp, jacfwd, jacrev, jvp, linearize, value_and_grad, vjp
from dualrev import tree_util  # noqa: F401

__version__ = "0.1.0"

__all__ = [
    "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "hessian", "hvp", "vmap",
    "stop_gradient", "custom_jvp", "custom_vjp", "checkpoint", "check_grads", "make_graph", "tree_util",
    "defprim", "LeakedTracerError", "jit",
]
__all__ += ["Tracer", "concrete_test", "concrete_value"]

from dualrev import optimize  # noqa: E402,F401  (after the API it is built on)
from dualrev import nn  # noqa: E402,F401
from dualrev import integrate  # noqa: E402,F401
from dualrev import parallel  # noqa: E402,F401  (Dask only when a Client is given)

import importlib.util as _importlib_util  # noqa: E402

if _importlib_util.find_spec("scipy") is not None:  # the optional extra: plain scipy.special calls differentiate
    from dualrev import scipy  # noqa: E402,F401


def __getattr__(name):
    # dr.sparse needs scipy, an optional dependency: imported on first use, so `import dualrev` never needs it.
    if name == "sparse":
        import importlib

        return importlib.import_module("dualrev.sparse")
    raise AttributeError(f"module 'dualrev' has no attribute {name!r}")
