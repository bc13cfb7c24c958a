"""dualrev.optimize: minimisation on exact derivatives — Newton and trust-region Newton (exact Hessian), Newton-CG
and trust-region Newton-CG (Hessian-vector products), BFGS, L-BFGS, gradient descent — and nonlinear least squares
(Levenberg-Marquardt, Gauss-Newton), roots (``root``: Powell's hybrid method, LM) and fixed points
(``fixed_point``), with scipy-style results; solutions (roots, fixed points, minimize's argmin) are differentiable
with respect to ``args`` by the implicit function theorem (``_implicit``); ``scipy_callables`` hands dualrev's
derivatives to scipy.optimize.

Built on dualrev's public API (``dr.value_and_grad``, ``dr.hessian``, ``dr.linearize``, ``dr.hvp``,
``dr.jacfwd``/``dr.jacrev``, ``dualrev.tree_util``) and NumPy, and for ``_implicit``'s solve primitive on
``core.Primitive``. The sparse options (``options={"sparse": True}`` for newton and trust-exact,
``least_squares(jac="sparse")``, ``scipy_callables(sparse=True)``, ``scipy_constraint``) add ``dr.sparse`` and
scipy.sparse.linalg, imported only when used (``optimize._sparse``).

>>> from dualrev import optimize
>>> optimize.minimize(rosen, np.array([-1.2, 1.0]), method="newton").x
array([1., 1.])
"""

from dualrev.optimize._minimize import minimize
from dualrev.optimize._result import OptimizeResult
from dualrev.optimize.interop import scipy_callables, scipy_constraint
from dualrev.optimize.least_squares import least_squares
from dualrev.optimize.root import fixed_point, root

__all__ = ["OptimizeResult", "fixed_point", "least_squares", "minimize", "root", "scipy_callables",
           "scipy_constraint"]
