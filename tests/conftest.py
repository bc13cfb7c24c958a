"""Test-suite setup: JAX (the test oracle, never used by dualrev itself) on CPU in float64, and hypothesis profiles.

Profiles: ``ci`` (the default: few examples, derandomized, no example database, so every run tests the same cases)
and ``thorough`` (many more examples, random): ``HYPOTHESIS_PROFILE=thorough python -m pytest``.
"""

import os

# One BLAS thread: on a shared 2-core machine a threaded BLAS can be a thousand times slower on small matrices.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ["JAX_PLATFORMS"] = "cpu"  # before JAX is imported anywhere: no accelerator probing, same results everywhere

try:
    import jax
except ImportError:  # JAX is a test dependency; tests that need it import it and fail or skip on their own
    jax = None
else:
    jax.config.update("jax_enable_x64", True)
    # The oracle runs tiny arrays op by op, so XLA compiling each operation per shape is most of the suite's time;
    # skipping its optimisation passes makes that about a quarter faster and changes no result that matters here.
    jax.config.update("jax_disable_most_optimizations", True)
    # Compiled JAX references persist between runs (about 4x faster after the first run on a machine).
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/dualrev-tests-jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)

from hypothesis import HealthCheck, settings

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("ci", max_examples=10, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("thorough", max_examples=300, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
