"""Newton's method on Rosenbrock (n=100) with derivatives from dr.jit, against eager dualrev and JAX's jit.

Pure Newton steps x <- x - H(x)^-1 g(x) from the same start until |g|_inf < 1e-9; each library's compiled
functions are warmed up first (compile time excluded, as for JAX), then the whole solve is timed (best of 7).

    python benchmarks/jit_newton.py
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import dualrev as dr
import dualrev.numpy as dnp


def make_rosen(m):
    return lambda x: m.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def newton(grad, hess, x, solve, to_float=float):
    for it in range(50):
        g = grad(x)
        if to_float(abs(g).max()) < 1e-9:
            return x, it
        x = x - solve(hess(x), g)
    return x, it


def best(f, repeats=7):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(n=100):
    x0 = np.full(n, 0.8)
    x0[::2] = 1.1
    rosen = make_rosen(dnp)
    g_jit, h_jit = dr.jit(dr.grad(rosen)), dr.jit(dr.hessian(rosen))
    newton(g_jit, h_jit, x0, np.linalg.solve)  # compile
    t_jit, (x, its) = best(lambda: newton(g_jit, h_jit, x0, np.linalg.solve))
    t_eager, _ = best(lambda: newton(dr.grad(rosen), dr.hessian(rosen), x0, np.linalg.solve), 3)
    print(f"Newton on Rosenbrock n={n}, {its} iterations: dualrev jit {t_jit * 1e3:.2f} ms, "
          f"eager dualrev {t_eager * 1e3:.2f} ms")
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        print("JAX is not installed: its column is skipped")
        return
    jax.config.update("jax_enable_x64", True)
    rj = make_rosen(jnp)
    g_j, h_j = jax.jit(jax.grad(rj)), jax.jit(jax.hessian(rj))
    newton(g_j, h_j, jnp.asarray(x0), jnp.linalg.solve)  # compile
    t_jax, (xj, _) = best(lambda: newton(g_j, h_j, jnp.asarray(x0), jnp.linalg.solve))
    assert np.allclose(x, np.asarray(xj), rtol=1e-12)
    print(f"JAX jit {t_jax * 1e3:.2f} ms; dualrev jit / JAX jit = {t_jit / t_jax:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
