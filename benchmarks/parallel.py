"""dualrev.parallel on this machine: engine overhead per call, bytes moved, strong scaling against the ceiling of
two plain processes, and a cost model projecting 8 workers from the measured inputs.

    python benchmarks/parallel.py                 # about 2-4 minutes on 2 cores
    python benchmarks/parallel.py --rows 200000   # smaller and quicker (noisier scaling)
    python benchmarks/parallel.py --markdown out.md

1. Overhead: ``value_and_grad`` of a trivial loss (sum(w * w) * mean of a tiny shard) with 2 shards, params of 10^3
   and 10^6 floats, serially, on a ProcessPoolExecutor(2) and on a LocalCluster(2 workers); beside it the raw
   round trip of the engine itself (one no-op task per shard); bytes sent and received per call.
2. Strong scaling: L2-penalised logistic regression, ``--rows`` x 20 float64, 8 shards: time per value_and_grad
   and per Newton-CG solve on 1 and 2 Dask workers; the ceiling is the speed-up of two plain processes running the
   same dualrev computation on half of the shards each, with no engine at all.
3. Cost model, per call on W workers: T(W) = C / W + a + b * S + P * 8 * W / B, with C the compute of all shards
   (measured serially), a the engine's fixed round trip, b the cost per shard task, S the number of shards, P the
   parameter count and B the bandwidth of parameter shipping (all measured in 1.). Efficiency E(W) = C / (W T(W)).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

import dualrev as dr  # noqa: E402
import dualrev.numpy as dnp  # noqa: E402
from dualrev.optimize import minimize  # noqa: E402
from dualrev.parallel import ShardedObjective  # noqa: E402

FEATURES = 20
SHARDS = 8


def tiny(w, x):
    return dnp.sum(w * w) * dnp.mean(x)


def logistic(w, X, y):
    z = X @ w
    return dnp.sum(dnp.logaddexp(0.0, z) - y * z) + 0.5 * dnp.sum(w * w) * (X.shape[0] / 1e5)


def glm_data(rows, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, FEATURES))
    w = np.linspace(-1, 1, FEATURES)
    y = (rng.random(rows) < 1 / (1 + np.exp(-X @ w))).astype(float)
    return X, y


def best_time(fn, repeats, warmup=2):
    """The fastest of ``repeats`` calls: on a shared machine, the one least disturbed by other processes."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def least_cpu(obj, w, repeats):
    """The least CPU time (thread time) of the busiest process over ``repeats`` value_and_grad calls."""
    cpu = []
    for _ in range(repeats):
        obj.value_and_grad(w)
        cpu.append(obj.last_call["compute_cpu"])
    return min(cpu)


def _noop(*_):
    return 0


def engine_round_trip(engine, shards, repeats):
    """The engine alone: one no-op task per shard, all gathered."""
    if hasattr(engine, "gather"):
        return best_time(lambda: engine.gather([engine.submit(_noop, i, pure=False) for i in range(shards)]),
                           repeats)
    return best_time(lambda: [f.result() for f in [engine.submit(_noop, i) for i in range(shards)]], repeats)


def overhead(engines, repeats):
    """value_and_grad of a trivial loss: (params, shards) = (10^3, 2), (10^3, 8) and (10^6, 2) on every engine."""
    rows = []
    for size, shards in ((10**3, 2), (10**3, SHARDS), (10**6, 2)):
        w = np.full(size, 0.5)
        x = np.ones((8 * shards, 1))
        for name, engine in engines:
            with ShardedObjective(tiny, x, engine=engine, shards=shards) as obj:
                t = best_time(lambda obj=obj, w=w: obj.value_and_grad(w), repeats if size < 10**6 else 3)
                raw = engine_round_trip(engine, shards, repeats) if engine is not None else 0.0
                rows.append({"params": size, "shards": shards, "engine": name, "per_call_ms": 1e3 * t,
                             "raw_ms": 1e3 * raw, "sent": obj.last_call["sent"],
                             "received": obj.last_call["received"]})
    return rows


# -- the ceiling: two plain processes, no engine --


def _plain_worker(rows, shard_ids, repeats, barrier):
    os.environ["OMP_NUM_THREADS"] = "1"
    X, y = glm_data(rows)
    bounds = np.linspace(0, rows, SHARDS + 1).round().astype(int)
    shards = [(X[bounds[k]:bounds[k + 1]], y[bounds[k]:bounds[k + 1]]) for k in shard_ids]
    w = np.linspace(-0.5, 0.5, FEATURES)
    vg = [dr.value_and_grad(lambda v, s=s: logistic(v, *s)) for s in shards]
    for f in vg:
        f(w)
    barrier.wait()
    t0 = time.perf_counter()
    for _ in range(repeats):
        for f in vg:
            f(w)
    return (time.perf_counter() - t0) / repeats


def plain_processes(rows, processes, repeats):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(processes, mp_context=ctx) as pool:
        barrier = manager.Barrier(processes)
        parts = np.array_split(np.arange(SHARDS), processes)
        futures = [pool.submit(_plain_worker, rows, list(p), repeats, barrier) for p in parts]
        return max(f.result() for f in futures)


def scaling(rows, repeats):
    from distributed import Client, LocalCluster

    X, y = glm_data(rows)
    w = np.linspace(-0.5, 0.5, FEATURES)
    serial = ShardedObjective(logistic, (X, y), shards=SHARDS)
    compute = best_time(lambda: serial.value_and_grad(w), repeats)
    serial_cpu = least_cpu(serial, w, repeats)
    reference = minimize(serial, np.zeros(FEATURES), method="newton-cg")
    out = {"rows": rows, "serial_grad": compute, "serial_cpu": serial_cpu}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None) as c, \
                Client(c) as client:
            obj = ShardedObjective(logistic, (X, y), engine=client, shards=SHARDS)
            out[f"grad_{workers}"] = best_time(lambda obj=obj: obj.value_and_grad(w), repeats)
            out[f"cpu_{workers}"] = least_cpu(obj, w, repeats)
            calls = obj.stats["calls"]
            t0 = time.perf_counter()
            res = minimize(obj, np.zeros(FEATURES), method="newton-cg")
            out[f"solve_{workers}"] = time.perf_counter() - t0
            out[f"solve_calls_{workers}"] = obj.stats["calls"] - calls
            assert res.nit == reference.nit and np.array_equal(res.x, reference.x), "not the serial result"
        out[f"plain_{workers}"] = plain_processes(rows, workers, repeats)
    out["nit"] = reference.nit
    return out


def cost_model(over, scale, workers=8):
    """T(W) = C / W + a + b S + 16 P S / B: a and b from the Dask calls with 2 and 8 shards (10^3 parameters), B
    from the 10^6-parameter calls, C the serial compute of the scaling problem."""
    dask = {(r["params"], r["shards"]): r["per_call_ms"] / 1e3 for r in over if r["engine"] == "dask"}
    moved = {(r["params"], r["shards"]): r["sent"] + r["received"] for r in over if r["engine"] == "dask"}
    b = max(0.0, (dask[10**3, SHARDS] - dask[10**3, 2]) / (SHARDS - 2))
    a = max(0.0, dask[10**3, 2] - 2 * b)
    bandwidth = (moved[10**6, 2] - moved[10**3, 2]) / max(1e-9, dask[10**6, 2] - dask[10**3, 2])
    C = scale["serial_grad"]

    def T(W, C=C):
        return C / W + a + b * SHARDS + 16 * FEATURES * SHARDS / bandwidth

    fixed = T(1, 0.0)
    return {"C": C, "a": a, "b": b, "B": bandwidth, "T": T, "fixed": fixed,
            "E": {W: C / (W * T(W)) for W in (1, 2, 4, workers)},
            "E8_1e7": 10 * C / (workers * T(workers, 10 * C)) if scale["rows"] == 10**6 else None,
            "C_needed": 9 * workers * fixed}


def report(over, scale, model, out=sys.stdout):
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p("### Engine overhead per value_and_grad call (best of the repeats)\n")
    p("| params | shards | engine | per call (ms) | the engine's own round trip (ms) | bytes sent | bytes received |")
    p("|---:|---:|---|---:|---:|---:|---:|")
    for r in over:
        p(f"| {r['params']:.0e} | {r['shards']} | {r['engine']} | {r['per_call_ms']:.2f} | {r['raw_ms']:.2f} | "
          f"{r['sent']:,} | {r['received']:,} |")
    p(f"\n### Strong scaling: logistic regression, {scale['rows']:,} x {FEATURES}, {SHARDS} shards\n")
    p("| | 1 worker | 2 workers | speed-up | share of the ceiling |")
    p("|---|---:|---:|---:|---:|")
    ceiling = scale["plain_1"] / scale["plain_2"]
    grad_speedup = scale["grad_1"] / scale["grad_2"]
    solve_speedup = scale["solve_1"] / scale["solve_2"]
    p(f"| two plain processes (the ceiling), one gradient | {1e3 * scale['plain_1']:.1f} ms | "
      f"{1e3 * scale['plain_2']:.1f} ms | {ceiling:.2f} | 1.00 |")
    p(f"| value_and_grad on Dask | {1e3 * scale['grad_1']:.1f} ms | {1e3 * scale['grad_2']:.1f} ms | "
      f"{grad_speedup:.2f} | {grad_speedup / ceiling:.2f} |")
    p(f"| Newton-CG solve on Dask ({scale['nit']} iterations, {scale['solve_calls_2']} calls) | "
      f"{scale['solve_1']:.2f} s | {scale['solve_2']:.2f} s | {solve_speedup:.2f} | {solve_speedup / ceiling:.2f} |")
    p(f"| CPU time of the busiest worker per value_and_grad (load-independent) | {1e3 * scale['cpu_1']:.1f} ms | "
      f"{1e3 * scale['cpu_2']:.1f} ms | {scale['cpu_1'] / scale['cpu_2']:.2f} | |")
    p(f"\nSerial value_and_grad of all shards (C): {1e3 * scale['serial_grad']:.1f} ms "
      f"({1e3 * scale['serial_cpu']:.1f} ms of CPU).\n")
    p("### Cost model (Dask), per call: T(W) = C / W + a + b S + 16 P S / B\n")
    p(f"- measured: C = {1e3 * model['C']:.1f} ms (all shards on one core), a = {1e3 * model['a']:.2f} ms, "
      f"b = {1e3 * model['b']:.2f} ms per shard task, B = {model['B'] / 1e6:.0f} MB/s; S = {SHARDS}, P = {FEATURES}: "
      f"a fixed {1e3 * model['fixed']:.1f} ms per call")
    p("- projected efficiency E(W) = C / (W T(W)): " + ", ".join(f"E({W}) = {e:.2f}" for W, e in model["E"].items()))
    if model["E8_1e7"] is not None:
        p(f"- the same model at 10^7 rows (C ten times larger): E(8) = {model['E8_1e7']:.2f}")
    p(f"- E(8) >= 0.9 needs C >= 72 x {1e3 * model['fixed']:.1f} ms = {1e3 * model['C_needed']:.0f} ms of compute "
      f"per call (about {model['C_needed'] / model['C'] * scale['rows']:,.0f} rows of this model)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--markdown", help="also write the tables to this file")
    opts = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    ctx = multiprocessing.get_context("spawn")
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c, \
            Client(c) as client, ProcessPoolExecutor(2, mp_context=ctx) as pool:
        over = overhead([("serial", None), ("process pool", pool), ("dask", client)], opts.repeats)
    scale = scaling(opts.rows, opts.repeats)
    model = cost_model(over, scale)
    print(f"load average before the run's end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    report(over, scale, model)
    if opts.markdown:
        with open(opts.markdown, "w") as f:
            report(over, scale, model, f)


if __name__ == "__main__":
    main()
