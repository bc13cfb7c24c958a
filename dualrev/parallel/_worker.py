"""What runs where the data lives: one shard's value, gradient, Hessian-vector product, Hessian or Gauss-Newton
terms at a flat parameter vector, and the per-process caches that keep shards and programs between calls.

Every engine (serial, any ``concurrent.futures.Executor``, Dask) ends in ``compute``, so the arithmetic is the same
code on every path: that is what makes the results bitwise identical across engines and worker counts.
Imports NumPy, dualrev's transforms and (optionally) threadpoolctl and cloudpickle.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp

# Per process: programs by id, shards by (program id, shard index), and the last linearisation of each shard's
# gradient (so the Hessian-vector products of one Newton-CG iteration reuse one recording of the gradient).
_PROGRAMS: dict = {}
_SHARDS: dict = {}
_LINEARIZED: dict = {}
_BLAS_PINNED = False


class Missing:
    """Returned by an executor task whose process has not yet been sent the program or the shard."""

    def __init__(self, program: bool, shard: bool):
        self.program, self.shard = program, shard


def pin_blas_threads():
    """One BLAS thread in this process (once): workers never oversubscribe the cores, and a BLAS that splits a
    dot product over threads would make the sums depend on the machine's load."""
    global _BLAS_PINNED
    if _BLAS_PINNED:
        return
    _BLAS_PINNED = True
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # effective only for BLAS libraries loaded after this point (child processes)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
            os.environ[var] = "1"
    else:
        threadpool_limits(limits=1)


_CONTROLLER = []


def one_blas_thread():
    """A context in which BLAS uses one thread (the workers' setting), for computing in the driver's process."""
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _CONTROLLER.append(None)
        else:
            _CONTROLLER.append(ThreadpoolController())  # created once: inspecting the libraries is the slow part
    return contextlib.nullcontext() if _CONTROLLER[0] is None else _CONTROLLER[0].limit(limits=1)


def dumps(obj) -> bytes:
    """Pickle with cloudpickle when installed (lambdas and local functions travel), else the standard pickle."""
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(obj)
    return cloudpickle.dumps(obj)


class Program:
    """What a worker needs besides the data: the user's function, the unravelling of the flat parameter vector,
    the working dtype and whether the function returns a scalar loss or residuals."""

    def __init__(self, program_id: str, fun, unravel, dtype, residuals: bool):
        self.id, self.fun, self.unravel, self.dtype, self.residuals = program_id, fun, unravel, dtype, residuals


def _scalar(out, name):
    shape = np.shape(out)
    if shape == ():
        return out
    if int(np.prod(shape)) == 1:
        return dnp.reshape(out, ())
    raise TypeError(f"ShardedObjective: the loss must return a scalar, but {name} returned an array of shape {shape}")


def compute(program: Program, shard_index: int, arrays: tuple, op: str, x, v=None, token=None):
    """One shard's contribution at the flat vector ``x``; returns ``(result, seconds, cpu seconds, pid)``.

    ``op``: "value" (plain NumPy, no tracing), "value_and_grad", "grad" (also records the gradient's linearisation
    for later "hvp" calls at the same ``token``), "hvp" (H v), "hessian", "probe" (the loss's output shape and
    dtype), "cost" (0.5 |r|^2 of residuals) or "gauss_newton" ((0.5 |r|^2, J'J, J'r)).
    """
    # dualrev's trace stack is per thread: threaded workers (a ThreadPoolExecutor, Dask threads) need no lock
    # thread CPU time: the engine's own threads in the worker process (communication, heartbeats) are not counted
    start, cpu = time.perf_counter(), time.thread_time()
    out = _compute(program, shard_index, arrays, op, x, v, token)
    return out, time.perf_counter() - start, time.thread_time() - cpu, os.getpid()


def annotate(error, shard_index):
    """The user's exception, with the shard it came from (a note travels with the pickled exception)."""
    if hasattr(error, "add_note") and not any("on shard" in n for n in getattr(error, "__notes__", ())):
        error.add_note(f"(raised by the loss on shard {shard_index})")
    return error


def compute_shards(program: Program, shard_indices, shard_arrays, op: str, x, v=None, token=None) -> list:
    """Several shards' contributions in one task, each computed by ``compute`` exactly as alone (so grouping the
    shards of a worker into one task changes no bit): a list of ``compute`` outputs, in the order given."""
    outputs = []
    for i, arrays in zip(shard_indices, shard_arrays):
        try:
            outputs.append(compute(program, i, arrays, op, x, v, token))
        except Exception as e:  # noqa: BLE001 - re-raised, naming the shard
            raise annotate(e, i)
    return outputs


def _compute(program, shard_index, arrays, op, x, v, token):
    fun, unravel, dtype = program.fun, program.unravel, program.dtype
    name = getattr(fun, "__name__", type(fun).__name__)
    if op == "probe":
        out = fun(unravel.numpy(x), *arrays)
        return np.shape(out), np.result_type(out).str, bool(np.all(np.isfinite(out)))
    if program.residuals:
        def r_flat(w):
            return dnp.reshape(fun(unravel(w), *arrays), (-1,))

        if op == "cost":
            with np.errstate(all="ignore"):
                r = np.asarray(r_flat(x), dtype=dtype)
            return 0.5 * float(np.dot(r, r))
        if op == "gauss_newton":
            with np.errstate(all="ignore"):
                r = np.asarray(r_flat(x), dtype=dtype)
                jac = dr.jacfwd(r_flat) if x.size <= r.size else dr.jacrev(r_flat)
                J = np.asarray(jac(x), dtype=dtype).reshape(r.size, x.size)
            return 0.5 * float(np.dot(r, r)), J.T @ J, J.T @ r
        raise ValueError(f"ShardedResiduals: unknown operation {op!r}")

    def f_flat(w):
        return _scalar(fun(unravel(w), *arrays), name)

    with np.errstate(all="ignore"):
        if op == "value":
            return np.asarray(_scalar(fun(unravel.numpy(x), *arrays), name))[()]
        if op == "value_and_grad":
            f, g = dr.value_and_grad(f_flat)(x)
            return np.asarray(f)[()], np.asarray(g, dtype=dtype)
        if op == "grad":
            g, push = dr.linearize(dr.grad(f_flat), x)
            _LINEARIZED[(program.id, shard_index)] = (token, push)
            return np.asarray(g, dtype=dtype)
        if op == "hvp":
            cached = _LINEARIZED.get((program.id, shard_index))
            if cached is None or cached[0] != token:  # another point, or a restarted worker: record again
                _, push = dr.linearize(dr.grad(f_flat), x)
                _LINEARIZED[(program.id, shard_index)] = (token, push)
            else:
                push = cached[1]
            return np.asarray(push(v), dtype=dtype)
        if op == "hessian":
            return np.asarray(dr.hessian(f_flat)(x), dtype=dtype).reshape(x.size, x.size)
    raise ValueError(f"ShardedObjective: unknown operation {op!r}")


def load(source) -> tuple:
    """A shard's arrays from its source: ("arrays", tuple) or ("loader", a function of no arguments, or it pickled)."""
    kind, payload = source
    if kind == "arrays":
        return payload
    loaded = (pickle.loads(payload) if isinstance(payload, bytes) else payload)()
    return tuple(loaded) if isinstance(loaded, (tuple, list)) else (loaded,)


def describe(arrays) -> list:
    """(shape, dtype) of each array of a shard: checked on the driver before any evaluation."""
    return [(np.shape(a), np.asarray(a).dtype.str) for a in arrays]


# -- executor tasks: the program and the shard are sent once per process and kept in the caches above --


def executor_task(data_id, program_id, shard_indices, op, x, v, token, program_blob=None, sources=None):
    """An executor task over several shards: for each, the output of ``compute`` or ``Missing`` when this process
    lacks the program or the shard (the driver then sends them along). ``op="load"`` only loads and describes."""
    pin_blas_threads()
    arrays = []
    for k, i in enumerate(shard_indices):
        shard = _SHARDS.get((data_id, i))
        if shard is None and sources is not None and sources[k] is not None:
            shard = _SHARDS[(data_id, i)] = load(sources[k])
        arrays.append(shard)
    if op == "load":
        return [(describe(a), 0.0, 0.0, os.getpid()) if a is not None else Missing(False, True) for a in arrays]
    program = _PROGRAMS.get(program_id)
    if program is None and program_blob is not None:
        program = _PROGRAMS[program_id] = pickle.loads(program_blob)
    if program is None:
        return [Missing(True, a is None) for a in arrays]
    present = [k for k, a in enumerate(arrays) if a is not None]
    outputs = compute_shards(program, [shard_indices[k] for k in present], [arrays[k] for k in present], op, x, v,
                             token)
    results = [Missing(False, True)] * len(arrays)
    for k, out in zip(present, outputs):
        results[k] = out
    return results


def forget(ids):
    """Drop programs, shards and linearisations with these ids (data or program ids) from this process."""
    for cache in (_SHARDS, _LINEARIZED):
        for key in [k for k in cache if k[0] in ids]:
            del cache[key]
    for key in ids:
        _PROGRAMS.pop(key, None)


# -- Dask tasks: the program and the shards arrive as futures (scattered or loaded on the worker) --


def dask_task(program, shard_arrays, shard_indices, op, x, v, token):
    """One task per worker and call: all the shards this worker holds, in index order."""
    pin_blas_threads()
    return compute_shards(program, shard_indices, shard_arrays, op, x, v, token)


def dask_load(source):
    pin_blas_threads()
    return load(source)


def dask_describe(arrays):
    return describe(arrays)


def dask_pack(*chunks):
    """The chunks of several Dask arrays that share a row range -> one shard tuple."""
    return tuple(np.asarray(c) for c in chunks)
