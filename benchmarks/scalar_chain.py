"""Per-operation overhead of reverse mode on a chain of 200 scalar operations.

Times, in one run, the gradient of the same 200-operation scalar function (0-d float64 input) with
dualrev (dr.grad), autograd (autograd.grad), JAX in eager mode (jax.grad, no jit; skipped if JAX is missing),
and the plain NumPy forward pass as a baseline. Each is warmed up, then timed in several repeats of an
auto-chosen number of calls; the median repeat is reported in microseconds per operation.

    python benchmarks/scalar_chain.py            # ~20-40 s
    python benchmarks/scalar_chain.py --quick    # fewer repeats, a few seconds
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import dualrev as dr
import dualrev.numpy as dnp

N_BLOCKS = 25  # 8 operations per block
N_OPS = 8 * N_BLOCKS
X0 = 0.3


def make_chain(m):
    """The benchmark function, written against a NumPy-like module ``m`` (numpy, dualrev.numpy, autograd.numpy,
    jax.numpy). Each block adds a bounded step to x (|step| < 0.35), so exp never overflows."""

    def chain(x):
        for _ in range(N_BLOCKS):
            s = m.sin(x)          # 1 sin
            y = s * x             # 2 multiply (two traced operands; s and x fan out)
            y = m.tanh(y)         # 3 tanh
            y = m.exp(y * 0.5)    # 4 multiply, 5 exp
            y = y - s             # 6 subtract
            y = y / 8.0           # 7 divide
            x = x + y             # 8 add (a residual step keeps the gradient O(1))
        return x

    return chain


def bench(fn, arg, repeats, target):
    """Median seconds per call: warm up, choose a call count so one repeat takes ~target s, time repeats."""
    for _ in range(3):
        fn(arg)
    number, elapsed = 1, 0.0
    while True:  # timeit.Timer.autorange, with our own target
        t0 = time.perf_counter()
        for _ in range(number):
            fn(arg)
        elapsed = time.perf_counter() - t0
        if elapsed >= target:
            break
        number = max(number * 2, int(number * target / max(elapsed, 1e-9)))
    times = [elapsed / number]
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        for _ in range(number):
            fn(arg)
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times), number


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats of ~0.05 s instead of 7 of ~0.25 s")
    parser.add_argument("--no-jax", action="store_true", help="skip JAX even if installed")
    opts = parser.parse_args(argv)
    repeats, target = (3, 0.05) if opts.quick else (7, 0.25)

    x = np.asarray(X0, dtype=np.float64)
    n_prims = len(dr.make_graph(make_chain(dnp))(x).equations)
    assert n_prims == N_OPS, f"the chain records {n_prims} primitives, expected {N_OPS}"

    cases = [("numpy forward (no grad)", make_chain(np))]
    g_dr = dr.grad(make_chain(dnp))
    cases.append(("dualrev  dr.grad", g_dr))
    reference = None
    try:
        import autograd
        import autograd.numpy as anp

        g_ag = autograd.grad(make_chain(anp))
        reference = float(g_ag(x))
        cases.append(("autograd autograd.grad", g_ag))
    except ImportError:
        print("autograd not installed (pip install '.[bench]'): skipping it")
    if not opts.no_jax:
        try:
            import jax
            import jax.numpy as jnp

            jax.config.update("jax_enable_x64", True)
            jax.config.update("jax_platforms", "cpu")
            g_jax = jax.grad(make_chain(jnp))
            cases.append(("jax      jax.grad (eager)", lambda v: g_jax(v).block_until_ready()))
        except ImportError:
            print("jax not installed: skipping JAX eager")

    # correctness first: the timed functions must agree
    d = float(g_dr(x))
    if reference is not None:
        np.testing.assert_allclose(d, reference, rtol=1e-12, atol=0)
        print(f"check: dualrev grad {d!r} == autograd grad {reference!r} (|diff| = {abs(d - reference):.1e})")
    for name, fn in cases:
        if name.startswith("jax"):
            j = float(fn(x))
            np.testing.assert_allclose(j, d, rtol=1e-12, atol=0)
            print(f"check: jax grad {j!r} agrees (|diff| = {abs(j - d):.1e})")

    print(f"\nPython {platform.python_version()}, NumPy {np.__version__}, dualrev {dr.__version__}; "
          f"{N_OPS} scalar ops per call, median of {repeats} repeats")
    print(f"{'':28s}{'us/call':>12s}{'us/op':>10s}{'calls/rep':>11s}")
    results = {}
    for name, fn in cases:
        t, number = bench(fn, x, repeats, target)
        results[name.split()[0]] = t
        print(f"{name:28s}{t * 1e6:12.1f}{t * 1e6 / N_OPS:10.2f}{number:11d}")
    if "autograd" in results:
        print(f"\nratio dualrev / autograd: {results['dualrev'] / results['autograd']:.2f}x")
    if "jax" in results:
        print(f"ratio dualrev / jax eager: {results['dualrev'] / results['jax']:.2f}x")
    print(f"ratio dualrev / numpy forward: {results['dualrev'] / results['numpy']:.1f}x")


if __name__ == "__main__":
    main()
