"""The gradient of the two-layer network's loss: dualrev against the hand-written NumPy backward pass, autograd
and JAX, in one run.

The network is the one of examples/mlp_digits.py: ``softmax_cross_entropy(relu(X W1 + b1) W2 + b2, y)`` with
64 inputs, a hidden layer and 10 classes. Every case computes the loss value and the gradient with respect to
``{W1, b1, W2, b2}``:

- ``numpy by hand``: the forward pass and the backward pass written out from the chapter's equations
  (``dZ2 = (softmax(Z2) - Y) / N``, ``dW2 = H^T dZ2``, ``db2 = sum(dZ2)``, ``dH = dZ2 W2^T``,
  ``dZ1 = dH * [Z1 > 0]``, ``dW1 = X^T dZ1``, ``db1 = sum(dZ1)``): the floor for any NumPy tracer.
- ``dualrev``: ``dr.value_and_grad`` of the loss written with ``dualrev.nn``.
- ``autograd``: ``autograd.value_and_grad`` of the same loss in ``autograd.numpy`` (optional).
- ``jax eager`` and ``jax jit``: ``jax.value_and_grad`` without and with ``jax.jit`` (optional).

All results are checked equal (relative 1e-10 in float64) before anything is timed. Timing interleaves the cases
(one repeat of each in turn, so a busy machine slows them alike), each repeat runs an auto-chosen number of calls
(about ``--target`` seconds), and the median repeat is reported, with ratios to the hand-written NumPy time.

The allocator matters at this size: an activation (256 x 128 float64) is 256 KiB, and glibc's malloc by default
returns freed memory of that size to the system (heap trimming, mmap), so that the next allocation page-faults
and the kernel zeroes the pages again. How many faults a case takes depends on its allocation pattern and on what
ran before it, not on the work it does (it can make a case that holds less memory look faster than the same work
by hand). By default (``--allocator steady``) the script asks glibc to keep freed memory (``mallopt``), so every
case reuses its pages and the times compare the work; ``--allocator default`` leaves malloc alone. The minor page
faults per call of each case are printed either way.

    python benchmarks/nn_mlp_grad.py                 # batch 256, hidden 128, float64; ~30 s
    python benchmarks/nn_mlp_grad.py --quick         # a few seconds, noisier
    python benchmarks/nn_mlp_grad.py --hidden 64 --batch 64 --dtype float32
    python benchmarks/nn_mlp_grad.py --profile       # cProfile of the dualrev case (where its time goes)
    python benchmarks/nn_mlp_grad.py --allocator default   # glibc's malloc as configured (page faults included)
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import ctypes
import ctypes.util
import platform
import resource
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import dualrev as dr
from dualrev import nn

N_IN, N_OUT = 64, 10


def make_problem(batch, hidden, dtype, seed=0):
    rng = np.random.default_rng(seed)
    key = nn.PRNGKey(seed)
    k1, k2 = nn.split(key)
    params = {"W1": nn.he_normal(k1, (N_IN, hidden), dtype), "b1": np.full(hidden, 0.01, dtype),
              "W2": nn.glorot_uniform(k2, (hidden, N_OUT), dtype), "b2": np.zeros(N_OUT, dtype)}
    X = rng.uniform(0, 1, (batch, N_IN)).astype(dtype)  # like the digits' pixels scaled to [0, 1]
    y = rng.integers(0, N_OUT, batch)
    return params, X, y


# -- dualrev --


def loss_dualrev(params, X, y):
    h = nn.relu(nn.linear(X, params["W1"], params["b1"]))
    return nn.cross_entropy(nn.linear(h, params["W2"], params["b2"]), y)


# -- hand-written NumPy, from the chapter's equations --


def value_and_grad_numpy(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    Z1 = X @ W1 + b1
    mask = Z1 > 0
    H = Z1 * mask
    Z2 = H @ W2 + b2
    S = Z2 - Z2.max(axis=1, keepdims=True)
    E = np.exp(S)
    sumE = E.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.mean(np.log(sumE[:, 0]) - S[rows, y])
    dZ2 = E / sumE  # softmax
    dZ2[rows, y] -= 1.0
    dZ2 /= n
    dW2 = H.T @ dZ2
    db2 = dZ2.sum(axis=0)
    dH = dZ2 @ W2.T
    dZ1 = dH * mask
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(axis=0)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


# -- autograd and JAX: the same loss in their NumPy-like modules --


def make_loss_numpy_like(m, logsumexp):
    def loss(params, X, Y):
        h = m.maximum(X @ params["W1"] + params["b1"], 0.0)
        z = h @ params["W2"] + params["b2"]
        return -m.mean(m.sum(Y * (z - logsumexp(z, axis=1, keepdims=True)), axis=1))

    return loss


CLOCK = time.process_time  # CPU time of this process: a busy, shared machine slows it far less than wall time


def steady_allocator() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (no heap trimming, no mmap below 64 MiB); False if the C
    library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)) and bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 26))
    except (OSError, AttributeError, TypeError):
        return False


def faults_per_call(fn, calls=50):
    """Minor page faults per call of ``fn`` (after a few warm-up calls)."""
    for _ in range(3):
        fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def bench_interleaved(cases, repeats, target):
    """Median seconds per call of each case; one repeat of every case in turn."""
    numbers = {}
    for name, fn in cases:
        for _ in range(3):
            fn()
        number = 1
        while True:  # like timeit's autorange
            t0 = CLOCK()
            for _ in range(number):
                fn()
            elapsed = CLOCK() - t0
            if elapsed >= target / 4:
                break
            number *= 2
        numbers[name] = max(1, int(number * target / max(elapsed, 1e-9)))
    times = {name: [] for name, _ in cases}
    for _ in range(repeats):
        for name, fn in cases:
            number = numbers[name]
            t0 = CLOCK()
            for _ in range(number):
                fn()
            times[name].append((CLOCK() - t0) / number)
    return {name: statistics.median(ts) for name, ts in times.items()}, numbers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--target", type=float, default=0.2, help="seconds per repeat of each case")
    parser.add_argument("--quick", action="store_true", help="5 repeats of ~0.05 s")
    parser.add_argument("--no-jax", action="store_true")
    parser.add_argument("--no-autograd", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the dualrev case and print the top")
    parser.add_argument("--wall", action="store_true", help="time wall-clock instead of process CPU time")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time dualrev's fixed and per-operation overhead (where the extra time goes)")
    parser.add_argument("--allocator", choices=["steady", "default"], default="steady",
                        help="steady: glibc keeps freed memory (no page faults in the loop; the default); "
                             "default: malloc as configured")
    opts = parser.parse_args(argv)
    allocator = opts.allocator
    if allocator == "steady" and not steady_allocator():
        allocator = "default (mallopt unavailable)"
    global CLOCK
    if opts.wall:
        CLOCK = time.perf_counter
    if opts.quick:
        opts.repeats, opts.target = 5, 0.05
    dtype = np.dtype(opts.dtype)
    params, X, y = make_problem(opts.batch, opts.hidden, dtype)
    Y = nn.one_hot(y, N_OUT, dtype)

    loss_ref, grad_ref = value_and_grad_numpy(params, X, y)
    vg_dualrev = dr.value_and_grad(loss_dualrev)
    cases = [("numpy by hand", lambda: value_and_grad_numpy(params, X, y)),
             ("dualrev", lambda: vg_dualrev(params, X, y))]
    rtol = 1e-10 if dtype == np.float64 else 2e-4

    def agree(name, loss, grads):
        np.testing.assert_allclose(float(loss), float(loss_ref), rtol=rtol, err_msg=name)
        for k in grad_ref:
            np.testing.assert_allclose(np.asarray(grads[k], np.float64), grad_ref[k], rtol=rtol,
                                       atol=rtol * float(np.abs(grad_ref[k]).max()), err_msg=f"{name}: {k}")
            assert np.asarray(grads[k]).dtype == dtype, f"{name}: {k} has dtype {np.asarray(grads[k]).dtype}"
        print(f"check: {name} agrees with the hand-written gradient (rtol {rtol:g})")

    agree("dualrev", *vg_dualrev(params, X, y))

    if not opts.no_autograd:
        try:
            import autograd
            import autograd.numpy as anp
            from autograd.scipy.special import logsumexp as ag_logsumexp
        except ImportError:
            print("autograd not installed (pip install '.[bench]'): skipping it")
        else:
            vg_ag = autograd.value_and_grad(make_loss_numpy_like(anp, ag_logsumexp))
            agree("autograd", *vg_ag(params, X, Y))
            cases.append(("autograd", lambda: vg_ag(params, X, Y)))
    if not opts.no_jax:
        try:
            import jax
        except ImportError:
            print("jax not installed: skipping it")
        else:
            jax.config.update("jax_enable_x64", True)
            jax.config.update("jax_platforms", "cpu")
            import jax.numpy as jnp
            from jax.scipy.special import logsumexp as jax_logsumexp

            jparams = jax.tree_util.tree_map(jnp.asarray, params)
            jX, jY = jnp.asarray(X), jnp.asarray(Y)
            vg_jax = jax.value_and_grad(make_loss_numpy_like(jnp, jax_logsumexp))
            vg_jit = jax.jit(vg_jax)

            def run(f):
                out = f(jparams, jX, jY)
                jax.block_until_ready(out)
                return out

            for name, f in (("jax eager", vg_jax), ("jax jit", vg_jit)):
                loss, grads = run(f)
                agree(name, loss, jax.tree_util.tree_map(np.asarray, grads))
                cases.append((name, lambda f=f: run(f)))

    print(f"\nPython {platform.python_version()}, NumPy {np.__version__}, dualrev {dr.__version__}; "
          f"batch {opts.batch}, {N_IN}-{opts.hidden}-{N_OUT} network, {opts.dtype}; one thread; "
          f"median of {opts.repeats} interleaved repeats of {'wall' if opts.wall else 'process CPU'} time; "
          f"{allocator} allocator")
    results, numbers = bench_interleaved(cases, opts.repeats, opts.target)
    faults = {name: faults_per_call(fn) for name, fn in cases}
    base = results["numpy by hand"]
    print(f"{'':16s}{'us/call':>10s}{'x numpy':>10s}{'calls/rep':>11s}{'faults/call':>13s}")
    for name, _ in cases:
        print(f"{name:16s}{results[name] * 1e6:10.1f}{results[name] / base:10.2f}{numbers[name]:11d}"
              f"{faults[name]:13.1f}")
    ratio = results["dualrev"] / base
    print(f"\ndualrev / hand-written numpy: {ratio:.2f}x (target: at most 1.3x)")
    if "autograd" in results:
        print(f"dualrev / autograd: {results['dualrev'] / results['autograd']:.2f}x")

    if opts.breakdown:
        tiny_params, tiny_X, tiny_y = make_problem(2, 3, dtype)
        fixed = dr.value_and_grad(lambda p, X, y: p["b2"][0])
        parts = [
            ("numpy by hand", lambda: value_and_grad_numpy(params, X, y)),
            ("dualrev", lambda: vg_dualrev(params, X, y)),
            ("dualrev.nn forward, no transform", lambda: loss_dualrev(params, X, y)),
            ("value_and_grad of b2[0], hidden 3 (fixed cost)", lambda: fixed(tiny_params, tiny_X, tiny_y)),
            ("dualrev at batch 2, hidden 3 (all overhead)", lambda: vg_dualrev(tiny_params, tiny_X, tiny_y)),
            ("numpy by hand at batch 2, hidden 3", lambda: value_and_grad_numpy(tiny_params, tiny_X, tiny_y)),
        ]
        times, _ = bench_interleaved(parts, opts.repeats, opts.target / 2)
        print("\nwhere dualrev's extra time goes (us per call):")
        for name, _ in parts:
            print(f"  {name:45s}{times[name] * 1e6:9.1f}")
        overhead = times["dualrev at batch 2, hidden 3 (all overhead)"] - times["numpy by hand at batch 2, hidden 3"]
        print(f"  interpretive overhead (tiny dualrev - tiny numpy): {overhead * 1e6:.1f} us; dualrev - numpy at "
              f"this size: {(times['dualrev'] - times['numpy by hand']) * 1e6:.1f} us")

    if opts.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for _ in range(200):
            vg_dualrev(params, X, y)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    return ratio


if __name__ == "__main__":
    main()
