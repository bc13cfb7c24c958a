"""What NumPy-style in-place code costs under dualrev (dualrev/numpy/inplace.py).

Times, under dr.grad, (1) view-making operations (a basic slice, a row, a transpose), which record where the view
sits in case a write comes later, against the same operations with the recording switched off; and (2) a recurrence
written with in-place writes (``y[i] = f(y[i-1])``) against the same recurrence written functionally
(``y = y.at[i].set(...)``) and with a Python list and ``dnp.stack``. Process CPU time, median of repeats.

    python benchmarks/inplace.py            # ~20 s
    python benchmarks/inplace.py --quick    # a few seconds, noisier
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import dualrev as dr
import dualrev.numpy as dnp
from dualrev.numpy import inplace


def per_call(fn, repeats, number):
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(number):
            fn()
        times.append((time.process_time() - t0) / number)
    return statistics.median(times)


def view_ops(n_ops):
    def run(x):
        for _ in range(n_ops):
            x[1:3]
            x[1]
            x.T
        return dnp.sum(x)

    return run


def recurrence(style, n):
    def inplace_style(x):
        y = np.zeros_like(x)
        y[0] = x[0]
        for i in range(1, n):
            y[i] = y[i - 1] * x[i] + np.sin(y[i - 1])
        return np.sum(y ** 2)

    def functional_style(x):
        y = dnp.zeros_like(x)
        y = y.at[0].set(x[0])
        for i in range(1, n):
            y = y.at[i].set(y[i - 1] * x[i] + dnp.sin(y[i - 1]))
        return dnp.sum(y ** 2)

    def list_style(x):
        ys = [x[0]]
        for i in range(1, n):
            ys.append(ys[-1] * x[i] + dnp.sin(ys[-1]))
        return dnp.sum(dnp.stack(ys) ** 2)

    return {"in place": inplace_style, "x.at[i].set": functional_style, "list + stack": list_style}[style]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats, number = (3, 3) if args.quick else (7, 10)

    x = np.random.default_rng(0).normal(size=(8, 8))
    n_ops = 100
    tracked = per_call(lambda: dr.grad(view_ops(n_ops))(x), repeats, number) / (3 * n_ops)
    saved = inplace._track
    inplace._track = lambda out, x, op: out  # recording off: what the operations cost without it
    try:
        untracked = per_call(lambda: dr.grad(view_ops(n_ops))(x), repeats, number) / (3 * n_ops)
    finally:
        inplace._track = saved
    print(f"view-making operations under dr.grad: {tracked * 1e6:.2f} us each with the recording, "
          f"{untracked * 1e6:.2f} us without (+{(tracked / untracked - 1) * 100:.0f}%)")

    v = np.random.default_rng(1).uniform(0.5, 1.0, 50)
    for style in ("in place", "x.at[i].set", "list + stack"):
        f = recurrence(style, len(v))
        t = per_call(lambda f=f: dr.grad(f)(v), repeats, max(1, number // 5))
        print(f"recurrence of {len(v)} steps, {style:>13}: {t * 1e3:.2f} ms per gradient")


if __name__ == "__main__":
    main()
