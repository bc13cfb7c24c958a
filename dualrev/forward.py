"""Forward mode: dual numbers. A DualTracer carries (primal, tangent); each primitive pushes its JVP rule forward
in the same pass as the primal. A zero tangent is ``None``, never an array. Imports core and dualrev.numpy.
"""

from __future__ import annotations

import numpy as np

from dualrev.core import Trace, Tracer, refuse_complex
from dualrev.numpy import astype, broadcast_to

__all__ = ["DualTrace", "DualTracer", "fit_tangent"]


class DualTracer(Tracer):
    __slots__ = ("tangent",)

    def __init__(self, trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent


class DualTrace(Trace):
    __slots__ = ()

    def process(self, prim, args, params):
        primals = []
        tangents = []
        for a in args:
            if type(a) is DualTracer and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
            else:  # a constant, or a value of a lower level: its tangent at this level is zero
                primals.append(a)
                tangents.append(None)
        if prim.jvp_full is not None:
            ans, t = prim.jvp_full(primals, tangents, **params)
            if not prim.supports_complex:
                refuse_complex(prim, ans, primals)
        else:
            ans = prim(*primals, **params)
            if not prim.supports_complex:
                refuse_complex(prim, ans, primals)
            t = prim.jvp(tangents, ans, primals, params)
        if prim.multiple_results:
            t = t if t is not None else (None,) * len(ans)
            return tuple(self.box(a, dt) for a, dt in zip(ans, t))
        return self.box(ans, t)

    def box(self, ans, t):
        # A zero tangent leaves the value unboxed: it is a constant at this level.
        return ans if t is None else DualTracer(self, ans, fit_tangent(t, ans))


def fit_tangent(t, ans):
    """Make a rule's tangent match the primal output's shape and dtype (once, here, not in every rule).

    A real tangent of a complex output is cast (its imaginary part is 0); a complex tangent of a real output is a
    rule's error (JAX's rules take the real part themselves where the function is real-valued, as abs does)."""
    if not isinstance(t, (np.ndarray, np.generic, Tracer)):  # a Python number or list from a custom rule
        t = np.asarray(t)
    shape = ans.shape
    if t.shape != shape:
        t = broadcast_to(t, shape)
    dtype = ans.dtype
    if t.dtype != dtype and dtype.kind in "fc":
        if t.dtype.kind == "c" and dtype.kind != "c":  # casting would silently drop the imaginary part
            raise TypeError(f"dualrev: a JVP rule gave a complex tangent ({t.dtype}) for a real output ({dtype}); "
                            "a real-valued function's tangent is real (take dnp.real of it in the rule)")
        t = astype(t, dtype)
    return t
