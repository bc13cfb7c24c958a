"""dualrev.scipy: SciPy's special functions, distributions and linear algebra, differentiable (optional extra).

``pip install "dualrev[scipy]"``. scipy.special's functions are NumPy ufuncs, so once this package is imported
(``import dualrev`` imports it when SciPy is installed) a plain ``scipy.special.gammaln(x)`` on a traced value is
differentiated like ``np.sin(x)``. ``special``, ``stats`` and ``linalg`` mirror jax.scipy's functions of the same
names. Lives at the level of dualrev.numpy: imports core, dualrev.numpy and SciPy.

>>> import scipy.special, dualrev as dr
>>> dr.grad(scipy.special.gammaln)(3.0)  # digamma(3)
"""

try:
    import scipy.special  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only where SciPy is missing
    raise ImportError('dualrev.scipy needs SciPy: pip install "dualrev[scipy]" (or pip install scipy)') from e

from dualrev.scipy import linalg, special, stats  # noqa: E402

__all__ = ["REPLACEMENTS", "linalg", "special", "stats"]

# SciPy functions that convert their input with np.asarray (so a traced value refuses them), and what to call instead:
# for the error message of that refusal.
REPLACEMENTS = {
    **{f"scipy.linalg.{name}": f"dualrev.scipy.linalg.{name}" for name in linalg.__all__ if name != "LinAlgError"},
    **{f"scipy.special.{name}": f"dualrev.scipy.special.{name}"
       for name in ("logsumexp", "softmax", "log_softmax", "polygamma", "multigammaln")},
    **{f"scipy.stats.{name}": f"dualrev.scipy.stats.{name}" for name in stats.__all__},
}
