"""Logistic and Poisson regression with an L2 penalty on sharded data, solved by Newton-CG and L-BFGS on a Dask
LocalCluster with dualrev.parallel: exact gradients and Hessian-vector products, computed where the data lives.

Each shard is generated on its worker by a loader function (the driver never holds the data), the solves on the
cluster are checked bitwise against the same solves run serially, and the models are compared with scikit-learn
(and dask-ml when installed) on a subsample.

    python examples/distributed_glm.py                        # 200,000 rows x 20 features: a quick run
    python examples/distributed_glm.py --rows 10000000        # the full run: 10^7 x 20 (about 1.6 GB per model)
    python examples/distributed_glm.py --workers 4 --shards 32
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import dualrev.numpy as dnp  # noqa: E402
from dualrev.optimize import minimize  # noqa: E402
from dualrev.parallel import ShardedObjective, progress  # noqa: E402

FEATURES = 20
TRUE_W = np.linspace(-0.5, 0.5, FEATURES)
LAM = 1e-3  # the L2 penalty on the mean loss: F(w) = mean_i loss_i(w) + LAM / 2 |w|^2


# -- the models: written once, in NumPy style; dualrev differentiates them on each shard --


def logistic(w, X, y):
    z = X @ w
    return dnp.mean(dnp.logaddexp(0.0, z) - y * z) + 0.5 * LAM * dnp.sum(w * w)


def poisson(w, X, y):
    z = X @ w
    return dnp.mean(dnp.exp(z) - y * z) + 0.5 * LAM * dnp.sum(w * w)


class Shard:
    """Loader of one shard: rows generated from the shard's own seed, on whichever worker loads it."""

    def __init__(self, model, index, rows):
        self.model, self.index, self.rows = model, index, rows

    def __call__(self):
        rng = np.random.default_rng([self.index, 2026])
        X = rng.normal(scale=1 / np.sqrt(FEATURES), size=(self.rows, FEATURES)) * 2
        z = X @ TRUE_W
        y = (rng.random(self.rows) < 1 / (1 + np.exp(-z))) if self.model == "logistic" else rng.poisson(np.exp(z))
        return X, y.astype(float)


def loaders(model, rows, shards):
    sizes = np.diff(np.linspace(0, rows, shards + 1).round().astype(int))
    return [Shard(model, k, int(n)) for k, n in enumerate(sizes)]


def solve(obj, method, label):
    """One solve; returns the result, its time and the engine statistics of this solve alone."""
    before = dict(obj.stats)
    t0 = time.perf_counter()
    with progress(obj, desc=f"{label} {method}") as callback:
        res = minimize(obj, np.zeros(FEATURES), method=method, tol=1e-8, callback=callback)
    stats = {k: obj.stats[k] - before.get(k, 0) for k in ("calls", "sent", "wall", "overhead")}
    return res, time.perf_counter() - t0, stats


def compare_with_sklearn(model, shard_loaders, rows):
    """scikit-learn on a subsample (whole shards from the first, until at least 200,000 rows) against dualrev on the
    same rows."""
    try:
        from sklearn.linear_model import LogisticRegression, PoissonRegressor
    except ImportError:
        print("  scikit-learn is not installed: skipping the comparison (pip install scikit-learn)")
        return
    subsample, n = [], 0
    for load in shard_loaders:
        if n >= 200_000:
            break
        subsample.append(load())
        n += len(subsample[-1][1])
    X = np.concatenate([s[0] for s in subsample])
    y = np.concatenate([s[1] for s in subsample])
    t0 = time.perf_counter()
    if model == "logistic":  # sklearn: C sum(loss) + |w|^2 / 2, i.e. mean(loss) + |w|^2 / (2 C n)
        sk = LogisticRegression(C=1 / (LAM * len(y)), fit_intercept=False, tol=1e-10, max_iter=1000).fit(X, y)
    else:  # sklearn: mean(deviance) / 2 + alpha |w|^2 / 2 = mean(exp(z) - y z) + const + alpha |w|^2 / 2
        sk = PoissonRegressor(alpha=LAM, fit_intercept=False, tol=1e-10, max_iter=1000).fit(X, y)
    t_sk = time.perf_counter() - t0
    ours = minimize(ShardedObjective(globals()[model], subsample, reduce="mean"), np.zeros(FEATURES),
                    method="newton-cg", tol=1e-10)
    diff = float(np.max(np.abs(ours.x - sk.coef_.ravel())))
    print(f"  scikit-learn on {len(y):,} rows: {t_sk:.2f} s, max |w_dualrev - w_sklearn| = {diff:.1e} on the same rows")
    assert diff < 1e-5, "dualrev and scikit-learn disagree"
    try:
        import dask_ml  # noqa: F401
    except ImportError:
        print("  dask-ml is not installed: skipping its LogisticRegression (pip install dask-ml)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=opts.workers, processes=True, threads_per_worker=1, dashboard_address=None)
    with cluster, Client(cluster) as client:
        print(f"{opts.rows:,} rows x {FEATURES} features in {opts.shards} shards on {opts.workers} Dask workers")
        for model in ("logistic", "poisson"):
            shard_loaders = loaders(model, opts.rows, opts.shards)
            obj = ShardedObjective(globals()[model], shard_loaders, engine=client, reduce="mean")
            results = {}
            for method in ("newton-cg", "l-bfgs"):
                res, seconds, stats = solve(obj, method, model)
                results[method] = res
                print(f"  {model:8s} {method:9s}: F = {res.fun:.12f}, {res.nit:3d} iterations, {seconds:6.2f} s, "
                      f"|grad| = {np.max(np.abs(res.jac)):.1e}; {stats['calls']} calls, "
                      f"{stats['sent'] / stats['calls']:,.0f} bytes sent per call, communication and scheduling "
                      f"{stats['overhead']:.2f} s of {stats['wall']:.2f} s")
            gap = float(np.max(np.abs(results["newton-cg"].x - results["l-bfgs"].x)))
            print(f"  the two methods agree to {gap:.1e}; distance to the generating weights "
                  f"{np.max(np.abs(results['newton-cg'].x - TRUE_W)):.3f}")
            if opts.rows <= 1_000_000:  # the same solve serially, on the same shards: the same bits
                serial = minimize(ShardedObjective(globals()[model], shard_loaders, reduce="mean"),
                                  np.zeros(FEATURES), method="newton-cg", tol=1e-8)
                assert np.array_equal(serial.x, results["newton-cg"].x) and serial.nit == results["newton-cg"].nit
                print("  the serial solve on the same shards gives the same bits")
            compare_with_sklearn(model, shard_loaders, opts.rows)
            obj.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
