"""dualrev.parallel on this machine: engine overhead per call, bytes moved, strong scaling against the ceiling of
two plain processes, and a cost model projecting 8 workers from the measured inputs.

    python benchmarks/parallel.py --repeats 5    # about 4-6 minutes on 2 cores
    python benchmarks/parallel.py --rows 200000  # smaller and quicker (noisier scaling)
    python benchmarks/parallel.py --markdown out.md

Times are medians over the repeats; the runs being compared (the ceiling and dualrev, 1 and 2 workers) are
interleaved, repeat by repeat, so that a change in the machine's load hits them alike.

1. Overhead: ``value_and_grad`` of a trivial loss (sum(w * w) * mean of a tiny shard) with 1, 2 and 8 shards and
   params of 10^3 floats, and 2 shards with 10^6 floats, serially, on a ProcessPoolExecutor(2) and on a
   LocalCluster(2 workers); beside it the raw round trip of the engine itself (no-op tasks, as many as dualrev
   submits: one per worker holding shards on Dask, one per shard in a process pool); tasks and bytes per call.
2. Strong scaling: L2-penalised logistic regression, ``--rows`` x 20 float64, 8 shards: time per value_and_grad
   and per Newton-CG solve on 1 and 2 Dask workers; the ceiling is the speed-up of two plain processes running the
   same dualrev computation on half of the shards each, with no engine at all.
3. Cost model, per call on W workers: T(W) = C / W + a + c W + 8 P (W + S) / B, with C the compute of all shards
   (the CPU time of the serial value_and_grad), c the serial cost of each worker task (the CPU time the client and
   the scheduler spend on it, in this process on a LocalCluster), a the rest of a call's fixed cost (the latency of
   one round trip), P the parameter count, S the number of shards and B the bandwidth of the parameters (out once
   per worker) and the parts (back once per shard), all measured in 1. Efficiency E(W) = C / (W T(W)).
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


def median_time(fn, repeats, warmup=2):
    """The median of ``repeats`` timed calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _noop(*_):
    return 0


def engine_round_trip(engine, tasks, repeats):
    """The engine alone: ``tasks`` no-op tasks (on distinct Dask workers), all gathered."""
    if hasattr(engine, "gather"):
        workers = sorted(engine.scheduler_info()["workers"])[:tasks]
        return median_time(lambda: engine.gather([engine.submit(_noop, w, workers=[w], pure=False)
                                                  for w in workers]), repeats)
    return median_time(lambda: [f.result() for f in [engine.submit(_noop, i) for i in range(tasks)]], repeats)


OVERHEAD_CASES = ((10**3, 1), (10**3, 2), (10**3, SHARDS), (10**6, 2))  # (params, shards)


def overhead(engines, repeats):
    """value_and_grad of a trivial loss for each (params, shards) case on every engine, the engines interleaved."""
    rows = []
    for size, shards in OVERHEAD_CASES:
        w = np.full(size, 0.5)
        x = np.ones((8 * shards, 1))
        objs = [(name, engine, ShardedObjective(tiny, x, engine=engine, shards=shards)) for name, engine in engines]
        n = repeats if size < 10**6 else max(3, repeats // 3)
        times = {name: [] for name, _, _ in objs}
        cpu = dict.fromkeys(times, 0.0)
        for obj in (o for _, _, o in objs):
            obj.value_and_grad(w)  # the first call sends the program (and, in a pool, the shards)
            obj.value_and_grad(w)
        for _ in range(n):
            for name, _, obj in objs:
                cpu0 = time.process_time()
                times[name].append(median_time(lambda obj=obj, w=w: obj.value_and_grad(w), 3, warmup=0))
                cpu[name] += (time.process_time() - cpu0) / (3 * n)
        for name, engine, obj in objs:
            tasks = obj.last_call["tasks"]
            raw = engine_round_trip(engine, tasks, n) if engine is not None else 0.0
            rows.append({"params": size, "shards": shards, "engine": name, "per_call_ms": 1e3 * np.median(times[name]),
                         "raw_ms": 1e3 * raw, "driver_cpu_ms": 1e3 * cpu[name], "tasks": tasks,
                         "sent": obj.last_call["sent"],
                         "received": obj.last_call["received"]})
            obj.close()
    return rows


# -- the ceiling: two plain processes, no engine --

_PLAIN = {}


def _plain_setup(rows, shard_ids):
    """In a plain process: its shards and their value_and_grad, built once."""
    os.environ["OMP_NUM_THREADS"] = "1"
    X, y = glm_data(rows)
    bounds = np.linspace(0, rows, SHARDS + 1).round().astype(int)
    shards = [(X[bounds[k]:bounds[k + 1]], y[bounds[k]:bounds[k + 1]]) for k in shard_ids]
    _PLAIN["vg"] = [dr.value_and_grad(lambda v, s=s: logistic(v, *s)) for s in shards]
    _PLAIN["w"] = np.linspace(-0.5, 0.5, FEATURES)
    for f in _PLAIN["vg"]:
        f(_PLAIN["w"])
    return os.getpid()


def _plain_run(barrier, repeats):
    barrier.wait()
    t0 = time.perf_counter()
    for _ in range(repeats):
        for f in _PLAIN["vg"]:
            f(_PLAIN["w"])
    return (time.perf_counter() - t0) / repeats


class PlainProcesses:
    """``processes`` plain processes, each holding its part of the shards: one gradient = each computes its part."""

    def __init__(self, rows, processes, manager):
        ctx = multiprocessing.get_context("spawn")
        self.processes = processes
        self.pool = ProcessPoolExecutor(processes, mp_context=ctx)
        self.barrier = manager.Barrier(processes)
        parts = np.array_split(np.arange(SHARDS), processes)
        # the barrier makes each process take one part: none starts before all have taken theirs
        setup_barrier = manager.Barrier(processes)
        pids = [self.pool.submit(_plain_setup_once, rows, list(p), setup_barrier) for p in parts]
        assert len({f.result() for f in pids}) == processes

    def gradient_time(self, repeats=2):
        futures = [self.pool.submit(_plain_run, self.barrier, repeats) for _ in range(self.processes)]
        return max(f.result() for f in futures)

    def close(self):
        self.pool.shutdown()


def _plain_setup_once(rows, shard_ids, barrier):
    pid = _plain_setup(rows, shard_ids)
    barrier.wait()
    return pid


def scaling(rows, repeats, solve_repeats):
    from distributed import Client, LocalCluster

    X, y = glm_data(rows)
    w = np.linspace(-0.5, 0.5, FEATURES)
    serial = ShardedObjective(logistic, (X, y), shards=SHARDS)
    serial.value_and_grad(w)
    compute, cpu = [], []
    for _ in range(repeats):
        compute.append(median_time(lambda: serial.value_and_grad(w), 1, warmup=0))
        cpu.append(serial.last_call["compute_cpu"])
    reference = minimize(serial, np.zeros(FEATURES), method="newton-cg")
    out = {"rows": rows, "serial_grad": float(np.median(compute)), "serial_cpu": float(np.median(cpu)),
           "nit": reference.nit}
    clusters = {W: LocalCluster(n_workers=W, processes=True, threads_per_worker=1, dashboard_address=None)
                for W in (1, 2)}
    clients = {W: Client(c) for W, c in clusters.items()}
    manager = multiprocessing.get_context("spawn").Manager()
    plain = {W: PlainProcesses(rows, W, manager) for W in (1, 2)}
    try:
        objs = {W: ShardedObjective(logistic, (X, y), engine=clients[W], shards=SHARDS) for W in (1, 2)}
        for W in (1, 2):
            for _ in range(2):
                objs[W].value_and_grad(w)
            plain[W].gradient_time(1)
        times = {key: [] for key in ("plain_1", "plain_2", "grad_1", "grad_2", "cpu_1", "cpu_2")}
        for _ in range(repeats):  # interleaved: the ceiling and dualrev, 1 and 2 workers, in each repeat
            for W in (1, 2):
                times[f"plain_{W}"].append(plain[W].gradient_time())
                times[f"grad_{W}"].append(median_time(lambda W=W: objs[W].value_and_grad(w), 2, warmup=0))
                times[f"cpu_{W}"].append(objs[W].last_call["compute_cpu"])
        out.update({key: float(np.median(t)) for key, t in times.items()})
        solves = {1: [], 2: []}
        for _ in range(solve_repeats):
            for W in (1, 2):
                before = dict(objs[W].stats)
                t0 = time.perf_counter()
                res = minimize(objs[W], np.zeros(FEATURES), method="newton-cg")
                solves[W].append(time.perf_counter() - t0)
                assert res.nit == reference.nit and np.array_equal(res.x, reference.x), "not the serial result"
                calls = objs[W].stats["calls"] - before["calls"]
                out[f"solve_calls_{W}"] = calls
                out.setdefault(f"solve_overhead_{W}", []).append((objs[W].stats["overhead"] - before["overhead"]) / calls)
                out[f"solve_tasks_{W}"] = (objs[W].stats["tasks"] - before["tasks"]) / calls
        for W in (1, 2):
            out[f"solve_{W}"] = float(np.median(solves[W]))
            out[f"solve_overhead_{W}"] = float(np.median(out[f"solve_overhead_{W}"]))
    finally:
        for W in (1, 2):
            plain[W].close()
            clients[W].close()
            clusters[W].close()
        manager.shutdown()
    return out


def cost_model(over, scale, workers=8):
    """T(W) = C / W + a + c W + 8 P (W + S) / B: a and c from the Dask calls with 1 and 2 worker tasks (10^3
    parameters), B from the 10^6-parameter calls, C the serial compute (CPU time) of the scaling problem."""
    dask = {(r["params"], r["shards"]): r for r in over if r["engine"] == "dask"}
    one, two = dask[10**3, 1], dask[10**3, 2]
    assert one["tasks"] == 1 and two["tasks"] == 2, (one["tasks"], two["tasks"])
    # the serial cost of a task is the client's and the scheduler's work for it, both in this process on a
    # LocalCluster: their CPU time, not the wall time (the second task's wall time also pays for two worker processes
    # waking on two busy cores); the rest of a call, whatever the number of workers, is a
    c = max(0.0, (two["driver_cpu_ms"] - one["driver_cpu_ms"]) / 1e3)
    a = max(0.0, one["per_call_ms"] / 1e3 - c)
    big = dask[10**6, 2]
    moved = big["sent"] + big["received"] - two["sent"] - two["received"]
    bandwidth = moved / max(1e-9, (big["per_call_ms"] - two["per_call_ms"]) / 1e3)
    C = scale["serial_cpu"]  # CPU seconds: the compute on a core of its own, whatever else the machine is running

    def T(W, C=C):
        return C / W + a + c * W + 8 * FEATURES * (W + SHARDS) / bandwidth

    def fixed(W):
        return T(W, 0.0)

    return {"C": C, "a": a, "c": c, "B": bandwidth, "T": T, "fixed": fixed(workers), "fixed_2": fixed(2),
            "E": {W: C / (W * T(W)) for W in (1, 2, 4, workers)},
            "E8_1e7": 10**7 / scale["rows"] * C / (workers * T(workers, 10**7 / scale["rows"] * C)),
            "C_needed": 9 * workers * fixed(workers), "shards_8": dask[10**3, SHARDS]["per_call_ms"] / 1e3}


def report(over, scale, model, out=sys.stdout):
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p("### Engine overhead per value_and_grad call (median of the repeats)\n")
    p("| params | shards | engine | tasks per call | per call (ms) | the engine's own round trip, same tasks (ms) | "
      "CPU of the driver's process per call (ms) | bytes sent | bytes received |")
    p("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in over:
        p(f"| {r['params']:.0e} | {r['shards']} | {r['engine']} | {r['tasks']} | {r['per_call_ms']:.2f} | "
          f"{r['raw_ms']:.2f} | {r['driver_cpu_ms']:.2f} | {r['sent']:,} | {r['received']:,} |")
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
    p(f"| time outside the shards' arithmetic per call of the solve | {1e3 * scale['solve_overhead_1']:.1f} ms | "
      f"{1e3 * scale['solve_overhead_2']:.1f} ms | | |")
    p(f"| worker tasks per call of the solve | {scale['solve_tasks_1']:.1f} | {scale['solve_tasks_2']:.1f} | | |")
    p(f"| CPU time of the busiest worker per value_and_grad (load-independent) | {1e3 * scale['cpu_1']:.1f} ms | "
      f"{1e3 * scale['cpu_2']:.1f} ms | {scale['cpu_1'] / scale['cpu_2']:.2f} | |")
    p(f"\nSerial value_and_grad of all shards (C): {1e3 * scale['serial_grad']:.1f} ms "
      f"({1e3 * scale['serial_cpu']:.1f} ms of CPU).\n")
    p("### Cost model (Dask), per call: T(W) = C / W + a + c W + 8 P (W + S) / B\n")
    p(f"- measured: C = {1e3 * model['C']:.1f} ms (CPU time of all shards on one core), a = {1e3 * model['a']:.2f} ms per call, "
      f"c = {1e3 * model['c']:.2f} ms per worker task (the driver's CPU), B = {model['B'] / 1e6:.0f} MB/s; S = {SHARDS}, "
      f"P = {FEATURES}: a fixed {1e3 * model['fixed_2']:.1f} ms per call on 2 workers, {1e3 * model['fixed']:.1f} ms "
      f"on 8 (a call with {SHARDS} shards on 2 workers measured {1e3 * model['shards_8']:.1f} ms)")
    p("- projected efficiency E(W) = C / (W T(W)): " + ", ".join(f"E({W}) = {e:.2f}" for W, e in model["E"].items()))
    p(f"- the same model at 10^7 rows (C = {1e4 * model['C'] * 10**6 / scale['rows']:.0f} ms): "
      f"E(8) = {model['E8_1e7']:.2f}")
    p(f"- E(8) >= 0.9 needs C >= 72 x {1e3 * model['fixed']:.1f} ms = {1e3 * model['C_needed']:.0f} ms of compute "
      f"per call (about {model['C_needed'] / model['C'] * scale['rows']:,.0f} rows of this model)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--solve-repeats", type=int, default=3)
    parser.add_argument("--markdown", help="also write the tables to this file")
    opts = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    ctx = multiprocessing.get_context("spawn")
    load = [os.getloadavg()[0]]
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c, \
            Client(c) as client, ProcessPoolExecutor(2, mp_context=ctx) as pool:
        over = overhead([("serial", None), ("process pool", pool), ("dask", client)], opts.repeats)
    scale = scaling(opts.rows, opts.repeats, opts.solve_repeats)
    model = cost_model(over, scale)
    load.append(os.getloadavg()[0])
    print(f"load average at the start and the end of the run: {load[0]:.1f}, {load[1]:.1f} on {os.cpu_count()} cores")
    report(over, scale, model)
    if opts.markdown:
        with open(opts.markdown, "w") as f:
            report(over, scale, model, f)


if __name__ == "__main__":
    main()
