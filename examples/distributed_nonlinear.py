"""The model on sharded data is arbitrary NumPy code, not a GLM: a small neural network fitted by trust-region
Newton-CG (exact Hessian-vector products of the network, summed over shards), and a nonlinear least-squares model
fitted by Levenberg-Marquardt (J'J and J'r summed over shards), both on a ProcessPoolExecutor.

    python examples/distributed_nonlinear.py [--rows 40000] [--workers 2] [--maxiter 300]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

import dualrev.numpy as dnp  # noqa: E402
from dualrev.optimize import least_squares, minimize  # noqa: E402
from dualrev.parallel import ShardedObjective, ShardedResiduals  # noqa: E402

HIDDEN = 8


def network(params, X):
    h = dnp.tanh(X @ params["W1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


def mse(params, X, y):
    """Mean squared error over the shard, plus a small weight decay (so the Hessian is positive definite)."""
    decay = 1e-4 * (dnp.sum(params["W1"] ** 2) + dnp.sum(params["w2"] ** 2))
    return dnp.mean((network(params, X) - y) ** 2) + decay


def hill(p, conc, rate):
    """Residuals of the Hill equation v = vmax c^n / (k^n + c^n): nonlinear in all three parameters."""
    vmax, k, n = p
    cn = conc ** n
    return vmax * cn / (k ** n + cn) - rate


def init(rng):
    return {"W1": rng.normal(size=(2, HIDDEN)), "b1": np.zeros(HIDDEN), "w2": rng.normal(size=HIDDEN) / HIDDEN,
            "b2": 0.0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--maxiter", type=int, default=40, help="trust-ncg iterations (300: to convergence)")
    opts = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    # a smooth surface in 2-D, sampled with noise
    X = rng.uniform(-2, 2, size=(opts.rows, 2))
    y = np.sin(X[:, 0]) * np.cos(0.7 * X[:, 1]) + 0.05 * rng.normal(size=opts.rows)
    # a dose-response curve
    conc = rng.uniform(0.05, 10, size=opts.rows)
    rate = hill((3.0, 2.0, 1.7), conc, 0.0) + 0.02 * rng.normal(size=opts.rows)

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(opts.workers, mp_context=ctx) as pool:
        net = ShardedObjective(mse, (X, y), engine=pool, reduce="mean", shards=8)
        t0 = time.perf_counter()
        res = minimize(net, init(rng), method="trust-ncg", tol=1e-7, maxiter=opts.maxiter)
        print(f"network 2 -> {HIDDEN} -> 1 on {opts.rows:,} points, trust-ncg: loss {res.fun:.6f} (noise floor "
              f"{0.05 ** 2:.4f}), {res.nit} iterations, {res.nhev} Hessian-vector products, "
              f"{time.perf_counter() - t0:.1f} s, {res.message}")
        assert res.fun < 0.05 * np.var(y), "the network did not fit"

        curve = ShardedResiduals(hill, (conc, rate), engine=pool, shards=8)
        t0 = time.perf_counter()
        fit = least_squares(curve, np.array([1.0, 1.0, 1.0]), method="lm")
        vmax, k, n = fit.x
        print(f"Hill curve on {opts.rows:,} points, Levenberg-Marquardt: vmax {vmax:.3f}, k {k:.3f}, n {n:.3f} "
              f"(true 3, 2, 1.7), cost {fit.cost:.4f}, {fit.nit} iterations, {time.perf_counter() - t0:.1f} s")
        assert np.allclose(fit.x, [3.0, 2.0, 1.7], rtol=0.02), "the curve fit is off"
        dense = least_squares(lambda p: hill(p, conc, rate), np.array([1.0, 1.0, 1.0]), method="lm")
        gap = np.max(np.abs(dense.x - fit.x))
        print(f"  the same fit on the whole data in one process: max |difference| {gap:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
