"""Engines: where the shards live and how one operation is run on all of them. ``SerialEngine`` (this process),
``ExecutorEngine`` (any ``concurrent.futures.Executor``: processes keep shards in a per-process cache, sent once per
process) and ``DaskEngine`` (a ``distributed.Client``: shards scattered or loaded on the workers as futures that are
reused every call). Each returns the per-shard results in shard order; the objective combines them.

Faults: a shard whose data was lost with a worker is sent again from its source (the driver's copy, the loader, the
Dask graph) and recomputed, up to ``retries`` times; otherwise ``ShardsLostError`` names the lost shards. A result
is never summed over fewer shards. Imports ``dualrev.parallel._worker``; Dask only inside ``DaskEngine``.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import time
import uuid

import numpy as np

from dualrev.parallel import _worker


class ShardsLostError(RuntimeError):
    """Some shards could not be evaluated (their worker died and they could not be recomputed): no partial sum is
    returned. ``shards`` holds their indices."""

    def __init__(self, message, shards):
        super().__init__(message)
        self.shards = list(shards)


def _payload_bytes(*arrays) -> int:
    return sum(np.asarray(a).nbytes for a in arrays if a is not None)


def _result_bytes(out) -> int:
    if isinstance(out, tuple):
        return sum(_result_bytes(o) for o in out)
    return np.asarray(out).nbytes if isinstance(out, (np.ndarray, np.generic, float)) else 0


class Engine:
    """Common bookkeeping: the per-call statistics read by ``ShardedObjective.stats``."""

    name = "engine"
    workers = 1

    def __init__(self):
        self.data_id = uuid.uuid4().hex  # names this objective's shards in the workers' caches
        self.program = None
        self.last = {}

    def set_program(self, program):
        """The function and parameter layout (known at the first call); the shards were sent by ``setup``."""
        self.program = program

    def _record(self, outputs, sent, wall, tasks):
        busy, busy_cpu = {}, {}
        received = 0
        for out, seconds, cpu, pid in outputs:
            busy[pid] = busy.get(pid, 0.0) + seconds
            busy_cpu[pid] = busy_cpu.get(pid, 0.0) + cpu
            received += _result_bytes(out)
        # the busiest process bounds the call: its time computing is the critical path, the rest is overhead
        compute = max(busy.values()) if busy else 0.0
        self.last = {"wall": wall, "compute": compute, "compute_cpu": max(busy_cpu.values()) if busy else 0.0,
                     "overhead": max(0.0, wall - compute), "sent": sent, "received": received,
                     "processes": len(busy), "tasks": tasks}


class SerialEngine(Engine):
    """All shards in this process, evaluated in order on the same code path as the workers (one BLAS thread)."""

    name = "serial"

    def setup(self, sources):
        self.shards = [_worker.load(s) for s in sources]
        return [_worker.describe(a) for a in self.shards]

    def run(self, op, x, v=None, token=None, shards=None):
        start = time.perf_counter()
        indices = range(len(self.shards)) if shards is None else shards
        with _worker.one_blas_thread():  # the workers' BLAS setting, so the sums agree bitwise
            outputs = _worker.compute_shards(self.program, indices, [self.shards[i] for i in indices], op, x, v,
                                             token)
        self._record(outputs, 0, time.perf_counter() - start, 0)
        return [o[0] for o in outputs]

    def close(self):
        self.shards = []
        _worker.forget({self.data_id, getattr(self.program, "id", None)})


class ExecutorEngine(Engine):
    """Any ``concurrent.futures.Executor``. Each call submits one task per worker (``_max_workers`` of the executor;
    one task per shard when it does not say), each over a contiguous run of shards, carrying only the parameters; a
    process that has not seen the program or a shard answers ``Missing`` for it and is sent it once, then keeps it
    (so each process holds at most the shards it has been given: up to all of them). Loader shards are loaded by
    the process itself."""

    name = "executor"

    def __init__(self, executor, timeout, retries):
        super().__init__()
        self.executor, self.timeout, self.retries = executor, timeout, retries
        self.workers = getattr(executor, "_max_workers", None)

    def setup(self, sources):
        # NumPy shards stay on the driver (the copy re-sent to a process that lacks them); loaders travel pickled
        self.sources = [s if s[0] == "arrays" else ("loader", _worker.dumps(s[1])) for s in sources]
        if all(s[0] == "arrays" for s in sources):
            return None  # known on the driver; each process gets a shard with its first task on it
        return self._run_tasks("load", None, None, None, range(len(sources)))

    def set_program(self, program):
        self.program = program
        self.program_blob = _worker.dumps(program)

    def run(self, op, x, v=None, token=None, shards=None):
        return self._run_tasks(op, x, v, token, range(len(self.sources)) if shards is None else shards)

    def _submit(self, group, op, x, v, token, send):
        """One task over the shards ``group``; ``send``: with the program and the shards' arrays."""
        # loader sources are small: always sent, so that a process loads its shard without a round trip
        sources = [self.sources[i] if send or self.sources[i][0] == "loader" else None for i in group]
        program_blob = getattr(self, "program_blob", None) if send else None
        program_id = None if self.program is None else self.program.id
        return self.executor.submit(_worker.executor_task, self.data_id, program_id, list(group), op, x, v, token,
                                    program_blob, sources if any(s is not None for s in sources) else None)

    def _groups(self, indices):
        indices = list(indices)
        count = len(indices) if self.workers is None else min(self.workers, len(indices))
        return [tuple(g.tolist()) for g in np.array_split(np.asarray(indices, dtype=int), count)]

    def _run_tasks(self, op, x, v, token, indices):
        start = time.perf_counter()
        deadline = None if self.timeout is None else start + self.timeout
        try:
            futures = {group: self._submit(group, op, x, v, token, False) for group in self._groups(indices)}
        except RuntimeError as e:  # a broken or shut-down pool refuses submissions
            raise ShardsLostError(f"ShardedObjective: the executor refused work ({e}); shards {list(indices)} "
                                  "were not evaluated", indices) from e
        sent = len(futures) * _payload_bytes(x, v)
        tasks = len(futures)
        outputs = {}
        resends = dict.fromkeys(indices, 0)
        while futures:
            remaining = None if deadline is None else max(0.0, deadline - time.perf_counter())
            done, _ = cf.wait(futures.values(), timeout=remaining, return_when=cf.FIRST_COMPLETED)
            if not done:
                for f in futures.values():
                    f.cancel()
                late = sorted(i for group in futures for i in group)
                raise TimeoutError(f"ShardedObjective: shards {late} did not finish within the timeout of "
                                   f"{self.timeout} s (a hung or overloaded worker); no partial result is returned")
            for group in [g for g, f in futures.items() if f in done]:
                f = futures.pop(group)
                try:
                    out = f.result()
                except cf.process.BrokenProcessPool as e:
                    lost = sorted([*group, *(i for g in futures for i in g)])
                    raise ShardsLostError(
                        f"ShardedObjective: a worker process died and the executor is broken; shards {lost} were "
                        "lost (no partial result is returned). Start a new executor, or use a Dask Client, which "
                        "replaces dead workers and recomputes lost shards.", lost) from e
                except cf.CancelledError as e:
                    raise ShardsLostError(f"ShardedObjective: the task of shards {list(group)} was cancelled",
                                          group) from e
                missing = []
                for i, part in zip(group, out):
                    if isinstance(part, _worker.Missing):
                        missing.append(i)
                    else:
                        outputs[i] = part
                if missing:  # this process lacks them: sent along, once
                    for i in missing:
                        resends[i] += 1
                    if any(resends[i] > self.retries + 1 for i in missing):
                        raise ShardsLostError(f"ShardedObjective: shards {missing} kept disappearing from the "
                                              "executor's processes", missing)
                    futures[tuple(missing)] = self._submit(missing, op, x, v, token, True)
                    tasks += 1
                    sent += _payload_bytes(x, v) + len(getattr(self, "program_blob", b"")) + sum(
                        _payload_bytes(*self.sources[i][1]) for i in missing if self.sources[i][0] == "arrays")
        ordered = [outputs[i] for i in indices]
        self._record(ordered, sent, time.perf_counter() - start, tasks)
        return [o[0] for o in ordered]

    def close(self):
        # this process's cache (a thread pool's); other processes belong to the user's executor and keep theirs
        # until they exit (an executor cannot address each of its processes)
        _worker.forget({self.data_id, getattr(self.program, "id", None)})


class DaskEngine(Engine):
    """A ``distributed.Client``: the program and the shards are futures on the workers (NumPy shards scattered
    from the driver, loader shards and Dask-array chunks computed on the workers), reused by every call.

    Each call submits ONE task per worker holding shards, which evaluates all of that worker's shards in index
    order and returns their parts one by one (the driver adds them in shard order, so the grouping changes no
    bit). Dask's cost is per task and per message, not per float: a call costs a fixed round trip plus a little per
    worker, whatever the number of shards. Where each shard lives is asked once (``who_has``) and asked again
    only after a loss; Dask runs each task on the worker holding its shards (or elsewhere if that worker has gone)."""

    name = "dask"
    SCATTER_PARAMS_BYTES = 1 << 17  # larger parameter vectors are scattered once per call, not embedded per task
    # Finished calls' futures (their results stay on the workers until released) are released together, once
    # there are this many or they hold this many bytes: each release is a message on the client's batched stream
    # to the scheduler, and a message sent soon after another waits for the next batch (10 ms in distributed).
    # Releasing after every call delayed the next call's submission: 22 -> 17 ms per call with one task, measured.
    RELEASE_FUTURES, RELEASE_BYTES = 16, 1 << 25

    def __init__(self, client, timeout, retries):
        super().__init__()
        self.client, self.timeout, self.retries = client, timeout, retries
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))
        self._counter = itertools.count()
        self._holders = None  # shard index -> the address of the worker holding it (None: to be asked)
        self._previous = []  # finished calls' futures, released together (RELEASE_FUTURES)
        self._held_bytes = 0  # the bytes of their results, held on the workers

    def setup(self, sources):
        from distributed import wait

        self.program_future = None
        self.sources = sources
        arrays = [i for i, (kind, _) in enumerate(sources) if kind == "arrays"]
        scattered = {}
        if arrays:  # all at once, so Dask spreads them over the workers
            scattered = dict(zip(arrays, self.client.scatter([sources[i][1] for i in arrays], hash=False)))
        self.shard_futures = [scattered[i] if i in scattered else self._shard_future(i) for i in range(len(sources))]
        if any(kind != "loader" for kind, _ in sources):
            return None  # NumPy and Dask-array shards are described on the driver
        described = [self.client.submit(_worker.dask_describe, f, pure=False) for f in self.shard_futures]
        try:
            wait(described, timeout=self.timeout)
        except TimeoutError:
            raise TimeoutError(f"ShardedObjective: the loaders did not finish within the timeout of {self.timeout} s"
                               ) from None
        return self.client.gather(described)

    def set_program(self, program):
        if self.program_future is not None:
            self.program_future.release()
        self.program = program
        self.program_future = self.client.scatter(program, broadcast=True, hash=False)

    def _shard_future(self, i):
        kind, payload = self.sources[i]
        if kind == "arrays":  # one future for the shard's tuple (scatter would split a bare tuple)
            return self.client.scatter([payload], hash=False)[0]
        if kind == "dask":  # the chunks' graph: Dask recomputes them itself if a worker is lost
            return self.client.compute(payload)
        return self.client.submit(_worker.dask_load, (kind, _worker.dumps(payload)), pure=False)

    # -- placement: which worker holds which shard --

    def _locate(self, deadline):
        """Ask the scheduler where the shards are (after those being loaded or recomputed have arrived)."""
        from distributed import wait

        pending = [f for f in self.shard_futures if f.status == "pending"]
        if pending:
            remaining = None if deadline is None else max(0.0, deadline - time.perf_counter())
            try:
                wait(pending, timeout=remaining)
            except TimeoutError:
                late = [i for i, f in enumerate(self.shard_futures) if f.status == "pending"]
                raise TimeoutError(f"ShardedObjective: shards {late} were not loaded within the timeout of "
                                   f"{self.timeout} s; no partial result is returned") from None
        who_has = self.client.who_has(self.shard_futures)
        load = {}
        holders = {}
        for i, f in enumerate(self.shard_futures):
            candidates = sorted(who_has.get(f.key, ()))
            if candidates:  # a replicated shard: the holder with the fewest shards so far
                holders[i] = min(candidates, key=lambda w: load.get(w, 0))
                load[holders[i]] = load.get(holders[i], 0) + 1
            else:  # lost, or not yet anywhere: placed by the scheduler
                holders[i] = None
        self._holders = holders

    def _groups(self, indices, deadline):
        """The shards to evaluate, grouped by the worker holding them: [(address or None, [shard indices])]."""
        if self._holders is None:
            self._locate(deadline)
        groups = {}
        for i in indices:
            groups.setdefault(self._holders[i], []).append(i)
        return list(groups.items())

    # -- one call --

    def run(self, op, x, v=None, token=None, shards=None):
        from distributed import wait

        indices = list(range(len(self.sources)) if shards is None else shards)
        start = time.perf_counter()
        deadline = None if self.timeout is None else start + self.timeout
        groups = self._groups(indices, deadline)
        big = x is not None and _payload_bytes(x, v) > self.SCATTER_PARAMS_BYTES
        x_arg, v_arg = self._scatter_params(x, v) if big else (x, v)
        sent = _payload_bytes(x, v) * (min(self.workers, len(groups)) if big else len(groups))
        futures = self._submit_groups(groups, op, x_arg, v_arg, token)
        tasks = len(futures)
        # released after this call's submission, so that the release never travels ahead of (and delays) the tasks
        if len(self._previous) >= self.RELEASE_FUTURES or self._held_bytes >= self.RELEASE_BYTES:
            self._release_previous()
        outputs, attempts = {}, dict.fromkeys(indices, 0)
        while futures:
            remaining = None if deadline is None else max(0.0, deadline - time.perf_counter())
            try:  # all at once in the common case (one round trip); task by task after a loss
                wait(list(futures.values()), timeout=remaining, return_when="ALL_COMPLETED")
            except TimeoutError:
                late = sorted(i for group, f in futures.items() if f.status != "finished" for i in group)
                for f in futures.values():
                    f.cancel()
                raise TimeoutError(f"ShardedObjective: shards {late} did not finish within the timeout of "
                                   f"{self.timeout} s (a hung or overloaded worker); no partial result is returned"
                                   ) from None
            except Exception:  # cancelled futures (lost data): handled below, one by one
                pass
            finished = [group for group, f in futures.items() if f.status == "finished"]
            if finished:  # one gather for all of them (result() one by one is a round trip each)
                try:
                    for group, parts in zip(finished, self.client.gather([futures[g] for g in finished])):
                        outputs.update(zip(group, parts))
                    for group in finished:
                        self._previous.append(futures.pop(group))
                except Exception:  # noqa: BLE001 - lost while being fetched: handled below by status
                    pass
            lost = []
            for group in list(futures):
                f = futures[group]
                if f.status == "finished":
                    continue
                if f.status == "error":
                    error = f.exception()
                    if type(error).__name__ == "KilledWorker":
                        raise ShardsLostError(f"ShardedObjective: the task of shards {list(group)} killed every "
                                              f"worker it ran on ({error})", group) from error
                    raise error  # the loss's own error, with a note naming its shard (added on the worker)
                if f.status in ("cancelled", "lost"):
                    del futures[group]
                    lost.extend(group)
            if lost:
                for i in lost:
                    attempts[i] += 1
                if any(attempts[i] > self.retries for i in lost):
                    raise ShardsLostError(f"ShardedObjective: shards {sorted(lost)} were lost with their workers "
                                          f"{self.retries + 1} times; no partial result is returned", sorted(lost))
                self._recover(lost)
                if big and any(f is not None and f.status != "finished" for f in (x_arg, v_arg)):
                    x_arg, v_arg = self._scatter_params(x, v)
                regrouped = self._groups(sorted(lost), deadline)
                futures.update(self._submit_groups(regrouped, op, x_arg, v_arg, token))
                tasks += len(regrouped)
                sent += _payload_bytes(x, v) * len(regrouped)
        if big:  # released with this call's tasks
            self._previous += [f for f in (x_arg, v_arg) if f is not None]
        ordered = [outputs[i] for i in indices]
        self._record(ordered, sent, time.perf_counter() - start, tasks)
        self._held_bytes += self.last["received"] + (sent if big else 0)
        return [o[0] for o in ordered]

    def _release_previous(self):
        for f in self._previous:
            f.release()
        self._previous, self._held_bytes = [], 0

    def _scatter_params(self, x, v):
        futures = self.client.scatter([a for a in (x, v) if a is not None], hash=False)
        return futures[0], (futures[1] if v is not None else None)

    def _recover(self, lost):
        """Shards (or the program) lost with a worker: rebuild what is gone from its source, then ask again where
        everything is."""
        if self.program_future.status != "finished":
            self.program_future = self.client.scatter(self.program, broadcast=True, hash=False)
        for i in lost:
            if self.shard_futures[i].status != "finished":
                self.shard_futures[i] = self._shard_future(i)
        self._holders = None

    def _submit_groups(self, groups, op, x, v, token):
        """{shard indices: future}: one task per group, all in one message to the scheduler (``client.map``: half
        the client's and scheduler's CPU time per task of one ``submit`` each). Each task goes where its shards are:
        Dask places a task on the worker holding its inputs, and elsewhere only if that worker has gone."""
        n = next(self._counter)
        keys = [f"dualrev-{op}-{group[0]}-{n}-{self.program.id[:8]}" for _, group in groups]
        count = len(groups)
        futures = self.client.map(_worker.dask_task, [self.program_future] * count,
                                  [[self.shard_futures[i] for i in group] for _, group in groups],
                                  [list(group) for _, group in groups], [op] * count, [x] * count, [v] * count,
                                  [token] * count, key=keys, pure=False)
        return {tuple(group): f for (_, group), f in zip(groups, futures)}

    def close(self):
        self._release_previous()
        for f in [self.program_future, *self.shard_futures]:
            if f is not None:
                f.release()
        if self.program is not None:  # the workers' recordings of the gradient (their shards go with the futures)
            try:
                self.client.run(_worker.forget, {self.data_id, self.program.id})
            except Exception:  # noqa: BLE001 - a closed or unreachable cluster holds nothing more to free
                pass
