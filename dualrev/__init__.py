"""dualrev: automatic differentiation of NumPy code, forward (dual numbers) and reverse (tape), to any order.

>>> import dualrev as dr, dualrev.numpy as dnp
>>> dr.grad(lambda x: dnp.sum(dnp.sin(x) ** 2))(dnp.ones(3))
"""

from dualrev import numpy  # noqa: F401  (registers the primitives)
from dualrev.batching import vmap
from dualrev.core import LeakedTracerError, defprim  # noqa: F401
from dualrev.custom import checkpoint, custom_jvp, custom_vjp, stop_gradient
from dualrev.graph import make_graph
from dualrev.testing import check_grads
from dualrev.transforms import grad, hessian, hvp, jacfwd, jacrev, jvp, linearize, value_and_grad, vjp
from dualrev import tree_util  # noqa: F401

__version__ = "0.1.0"

__all__ = [
    "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "hessian", "hvp", "vmap",
    "stop_gradient", "custom_jvp", "custom_vjp", "checkpoint", "check_grads", "make_graph", "tree_util",
    "defprim", "LeakedTracerError",
]

from dualrev import optimize  # noqa: E402,F401  (after the API it is built on)
from dualrev import nn  # noqa: E402,F401
from dualrev import integrate  # noqa: E402,F401
