"""dualrev.integrate: ``solve_ivp`` with scipy's interface and methods (RK45, DOP853, RK23, and Radau for stiff
problems on the exact Jacobian: the same steps and ``nfev`` as scipy.integrate), differentiable with respect to
the initial state, the parameters and the times by every transform, as discretise-then-optimise (exact
derivatives of the computed solution, checkpointed) or as the continuous adjoint (memory independent of the
number of steps).

Built on dualrev's public API (``dr.checkpoint``, ``dr.custom_vjp``, ``dr.stop_gradient``, ``dr.vjp``,
``dr.jacfwd``) plus the core ``Primitive`` for the solver's plain pass and its stage sums, and NumPy.

>>> from dualrev.integrate import solve_ivp
>>> solve_ivp(lambda t, y: -y, (0.0, 1.0), [1.0]).y[0, -1]
"""

from dualrev.integrate._ivp import OdeResult, OdeSolution, solve_ivp

__all__ = ["OdeResult", "OdeSolution", "solve_ivp"]
