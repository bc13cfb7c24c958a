"""dualrev.sparse: sparse Jacobians and Hessians. The pattern is detected from the recorded program, colored,
and the matrix is recovered from a handful of compressed passes (one JVP, VJP or Hessian-vector product per
color), as a ``scipy.sparse`` matrix.

Needs scipy (``pip install scipy``, or the ``dualrev[sparse]`` extra); the rest of dualrev does not.

>>> hess = dr.sparse.hessian(f)      # pattern and coloring at the first call, reused after
>>> H = hess(x)                      # a scipy.sparse CSR matrix
"""

try:
    import scipy.sparse  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("dualrev.sparse needs scipy, which is not installed: pip install scipy "
                      "(or pip install 'dualrev[sparse]')") from e

from dualrev.sparse._api import SparseHessian, SparseJacobian, hessian, jacobian
from dualrev.sparse.coloring import Coloring, color_columns, color_rows, star_coloring
from dualrev.sparse.detect import hessian_sparsity, jacobian_sparsity

__all__ = [
    "Coloring",
    "SparseHessian",
    "SparseJacobian",
    "color_columns",
    "color_rows",
    "hessian",
    "hessian_sparsity",
    "jacobian",
    "jacobian_sparsity",
    "star_coloring",
]
