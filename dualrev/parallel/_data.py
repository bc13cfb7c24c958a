"""The data of a sharded objective -> a list of shard sources, checked before anything is sent.

Accepted: a NumPy array or a tuple of arrays with a common first axis (split along axis 0 into a fixed number of
shards, independent of the number of workers), a list of shards (each an array or a tuple of arrays), a list of
loader functions (each returns its shard's array or tuple of arrays, called where the shard will live), or a Dask
array or tuple of Dask arrays (each chunk along axis 0 is a shard). A source is ``("arrays", tuple)``,
``("loader", function)`` or ``("dask", delayed tuple)``. Imports NumPy; Dask only when given Dask arrays.
"""

from __future__ import annotations

import itertools

import numpy as np

DEFAULT_SHARDS = 8


def _is_dask_array(a) -> bool:
    return type(a).__module__.startswith("dask.array") and hasattr(a, "chunks")


def _as_array(a, where):
    if _is_dask_array(a):
        raise TypeError(f"ShardedObjective: {where} mixes Dask arrays with other data; give all data arrays as "
                        "Dask arrays (their chunks are the shards) or none")
    arr = np.asarray(a)
    if arr.dtype == object:
        raise TypeError(f"ShardedObjective: {where} is not a numeric array (dtype object); give NumPy arrays")
    if arr.ndim == 0:
        raise ValueError(f"ShardedObjective: {where} is 0-d; data arrays are split along axis 0 and need at least "
                         "one axis")
    return arr


def _shard_tuple(shard, k):
    arrays = shard if isinstance(shard, tuple) else (shard,)
    if not arrays:
        raise ValueError(f"ShardedObjective: shard {k} is an empty tuple; each shard holds one or more arrays")
    return tuple(_as_array(a, f"shard {k}, array {j}") for j, a in enumerate(arrays))


def check_layout(described, where="data"):
    """``described[k]`` = [(shape, dtype str), ...] for shard k -> the rows per shard; a ValueError if the shards
    do not agree (number of arrays, trailing shapes, dtypes) or an array's rows differ within a shard."""
    if not described:
        raise ValueError(f"ShardedObjective: {where} has no shards; give at least one")
    first = described[0]
    rows = []
    for k, arrays in enumerate(described):
        if len(arrays) != len(first):
            raise ValueError(f"ShardedObjective: shard {k} holds {len(arrays)} arrays but shard 0 holds {len(first)};"
                             " every shard must hold the same arrays")
        n = None
        for j, ((shape, dtype), (shape0, dtype0)) in enumerate(zip(arrays, first)):
            if len(shape) == 0:
                raise ValueError(f"ShardedObjective: shard {k}, array {j} is 0-d; shards are split along axis 0")
            if tuple(shape[1:]) != tuple(shape0[1:]):
                raise ValueError(f"ShardedObjective: shard {k}, array {j} has trailing shape {tuple(shape[1:])} but "
                                 f"shard 0 has {tuple(shape0[1:])}; every shard's array {j} must have the same shape "
                                 "after axis 0")
            if np.dtype(dtype) != np.dtype(dtype0):
                raise ValueError(f"ShardedObjective: shard {k}, array {j} has dtype {np.dtype(dtype)} but shard 0 has "
                                 f"{np.dtype(dtype0)}; cast the shards to one dtype")
            if n is not None and shape[0] != n:
                raise ValueError(f"ShardedObjective: shard {k}: array {j} has {shape[0]} rows but array 0 has {n}; "
                                 "the arrays of a shard are rows of the same data points")
            n = shape[0]
        if n == 0:
            raise ValueError(f"ShardedObjective: shard {k} has no rows; drop empty shards")
        rows.append(int(n))
    return rows


def shard_sources(data, shards):
    """(sources, described or None): ``described`` is known on the driver for NumPy and Dask data, and comes from
    the workers (after loading) for loader functions."""
    if shards is not None and not (isinstance(shards, (int, np.integer)) and not isinstance(shards, bool)
                                   and shards >= 1):
        raise ValueError(f"ShardedObjective: shards must be a positive integer, got {shards!r}")
    if isinstance(data, list):
        if not data:
            raise ValueError("ShardedObjective: the list of shards is empty; give at least one shard")
        if shards is not None:
            raise ValueError("ShardedObjective: shards= splits arrays; data given as a list is already sharded")
        if all(callable(d) for d in data):
            return [("loader", d) for d in data], None
        if any(callable(d) for d in data):
            raise TypeError("ShardedObjective: the list mixes loader functions and arrays; give one kind")
        sources = [("arrays", _shard_tuple(d, k)) for k, d in enumerate(data)]
        return sources, [[(a.shape, a.dtype.str) for a in s[1]] for s in sources]
    arrays = data if isinstance(data, tuple) else (data,)
    if not arrays:
        raise ValueError("ShardedObjective: data is an empty tuple; give one or more arrays")
    if any(_is_dask_array(a) for a in arrays):
        return _dask_sources(arrays, shards)
    arrays = tuple(_as_array(a, f"data array {j}") for j, a in enumerate(arrays))
    n = arrays[0].shape[0]
    for j, a in enumerate(arrays):
        if a.shape[0] != n:
            raise ValueError(f"ShardedObjective: data array {j} has {a.shape[0]} rows but array 0 has {n}; the arrays "
                             "are split together along axis 0")
    if n == 0:
        raise ValueError("ShardedObjective: the data has no rows")
    count = min(n, DEFAULT_SHARDS if shards is None else int(shards))
    bounds = np.linspace(0, n, count + 1).round().astype(int)  # fixed by the row count and the shard count only
    sources = [("arrays", tuple(a[lo:hi] for a in arrays)) for lo, hi in itertools.pairwise(bounds)]
    return sources, [[(a.shape, a.dtype.str) for a in s[1]] for s in sources]


def _dask_sources(arrays, shards):
    import dask

    from dualrev.parallel import _worker

    if not all(_is_dask_array(a) for a in arrays):
        raise TypeError("ShardedObjective: data mixes Dask arrays with other data; give all arrays as Dask arrays")
    if shards is not None:
        raise ValueError("ShardedObjective: shards= splits NumPy arrays; a Dask array's chunks along axis 0 are its "
                         "shards (rechunk it to change them)")
    chunks0 = arrays[0].chunks[0]
    for j, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"ShardedObjective: data array {j} is 0-d; shards are split along axis 0")
        if any(np.isnan(c) for c in a.chunks[0]):
            raise ValueError(f"ShardedObjective: Dask array {j} has unknown chunk sizes; call "
                             "a.compute_chunk_sizes() first")
        if a.chunks[0] != chunks0:
            raise ValueError(f"ShardedObjective: Dask array {j} has row chunks {a.chunks[0]} but array 0 has "
                             f"{chunks0}; rechunk them alike (a.rechunk({{0: array0.chunks[0]}}))")
        if any(n > 1 for n in a.numblocks[1:]):
            raise ValueError(f"ShardedObjective: Dask array {j} is chunked along axes other than 0 "
                             f"({a.numblocks}); a shard holds whole rows: a.rechunk({{1: -1}})")
    blocks = [a.to_delayed().reshape(-1) for a in arrays]
    sources = [("dask", dask.delayed(_worker.dask_pack)(*(b[k] for b in blocks))) for k in range(len(chunks0))]
    described = [[((int(chunks0[k]), *a.shape[1:]), a.dtype.str) for a in arrays] for k in range(len(chunks0))]
    return sources, described
