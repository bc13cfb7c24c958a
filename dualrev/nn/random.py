"""Explicit random keys for dropout, initialisers and data shuffling, built on ``numpy.random`` seed sequences.

A key is an immutable value: the same key always gives the same numbers, and you make new keys by splitting, as
in JAX. There is no hidden global state, so a training step that takes a key is a pure function of its inputs.

>>> key = PRNGKey(0)
>>> key, sub = split(key)          # two new, independent keys; never reuse ``key`` after splitting it
>>> uniform(sub, (2, 3)).shape
(2, 3)

Under the hood a key is a ``numpy.random.SeedSequence`` (its entropy plus a spawn path); ``split(key, n)``
derives child ``i`` by appending ``i`` to the path, which is what ``SeedSequence.spawn`` does, but without
mutating the parent. Each draw builds a fresh ``numpy.random.Generator`` (PCG64) from the key.

A key is also a pytree holding one integer array (its entropy words and path), so keys go through ``dr.vmap``
like any array: ``dr.vmap(f)(stack(split(key, n)), xs)`` gives every example its own key (per-example dropout,
DP-SGD noise), and ``fold_in(key, i)`` with a batched index ``i`` does the same. Draws from a batched key are
made example by example (the ``random_draw`` primitive's batching rule), so each example gets exactly the
numbers its own key gives outside vmap.
"""

from __future__ import annotations

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.tree_util import register_pytree_node

__all__ = ["PRNGKey", "bernoulli", "fold_in", "generator", "normal", "permutation", "split", "stack", "uniform"]

_FOLD = 2**32  # fold_in's path entries are offset by this, so they never coincide with split children's


def _words(entropy: int) -> list:
    """A non-negative int as 32-bit words, least significant first (at least one)."""
    words = []
    while True:
        words.append(entropy & 0xFFFFFFFF)
        entropy >>= 32
        if not entropy:
            return words


def _seed_sequence(data) -> np.random.SeedSequence:
    """The SeedSequence a key's data stands for: ``[n, word_0 .. word_n-1, path...]``."""
    d = [int(v) for v in np.asarray(data).astype(np.uint64)]
    n = d[0]
    entropy = sum(w << (32 * i) for i, w in enumerate(d[1:1 + n]))
    return np.random.SeedSequence(entropy, spawn_key=tuple(d[1 + n:]))


class PRNGKey:
    """An immutable random key: ``PRNGKey(seed)`` with an int seed (or a ``numpy.random.SeedSequence``).

    A key holds one uint64 array, ``data`` (entropy words and spawn path), and is a pytree with that one leaf,
    so ``dr.vmap`` batches keys like arrays. ``stack(keys)`` makes one key array of several keys; indexing and
    iterating it give the keys back.
    """

    __slots__ = ("data",)

    def __init__(self, seed, _path: tuple = ()):
        if isinstance(seed, np.random.SeedSequence):
            entropy, path = seed.entropy, tuple(seed.spawn_key) + tuple(_path)
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            if seed < 0:
                raise ValueError(f"PRNGKey: the seed must be a non-negative int, got {seed}")
            entropy, path = int(seed), tuple(_path)
        else:
            raise TypeError(f"PRNGKey: the seed must be an int, got {type(seed).__name__}")
        words = _words(int(entropy))
        object.__setattr__(self, "data", np.array([len(words), *words, *path], np.uint64))

    @classmethod
    def _from_data(cls, data) -> "PRNGKey":
        key = object.__new__(cls)
        object.__setattr__(key, "data", data)
        return key

    def __setattr__(self, name, value):
        raise AttributeError("PRNGKey is immutable: make new keys with split(key)")

    def seed_sequence(self) -> np.random.SeedSequence:
        return _seed_sequence(_concrete_data(self, "seed_sequence"))

    # -- a key array (from ``stack``): one key per leading index --

    def _batch(self) -> int | None:
        return None if isinstance(self.data, dr.Tracer) or np.ndim(self.data) == 1 else np.shape(self.data)[0]

    def __len__(self):
        n = self._batch()
        if n is None:
            raise TypeError("len() of a single PRNGKey; stack(keys) makes a key array")
        return n

    def __getitem__(self, i):
        if self._batch() is None:
            raise TypeError("a single PRNGKey cannot be indexed; stack(keys) makes a key array")
        return PRNGKey._from_data(self.data[i])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other):
        if not isinstance(other, PRNGKey) or isinstance(self.data, dr.Tracer) or isinstance(other.data, dr.Tracer):
            return NotImplemented if not isinstance(other, PRNGKey) else False
        return np.shape(self.data) == np.shape(other.data) and bool(np.all(self.data == other.data))

    def __hash__(self):
        return hash(np.asarray(self.data).tobytes()) if not isinstance(self.data, dr.Tracer) else id(self)

    def __repr__(self):
        if isinstance(self.data, dr.Tracer) or self._batch() is not None:
            return f"PRNGKey(data={self.data!r})"
        seq = self.seed_sequence()
        path = "" if not seq.spawn_key else f", path={tuple(seq.spawn_key)}"
        return f"PRNGKey({seq.entropy}{path})"


register_pytree_node(PRNGKey, lambda key: ((key.data,), None), lambda aux, children: PRNGKey._from_data(children[0]))


def _check(key):
    if not isinstance(key, PRNGKey):
        raise TypeError(f"expected a dualrev.nn.PRNGKey, got {type(key).__name__}; make one with PRNGKey(seed)")
    return key


def _concrete_data(key, where: str):
    if isinstance(key.data, dr.Tracer):
        raise TypeError(f"dualrev.nn.random.{where}: under vmap each example has its own key, so there is no single "
                        "generator; draw with uniform, normal, bernoulli or permutation, which draw per example")
    if np.ndim(key.data) != 1:
        raise TypeError(f"dualrev.nn.random.{where}: got a key array of {len(key)} keys; index it or vmap over it")
    return key.data


def _append(key: PRNGKey, entry) -> PRNGKey:
    """The key whose path is ``key``'s followed by ``entry`` (an int, or under vmap a batched int)."""
    if not isinstance(key.data, dr.Tracer) and not isinstance(entry, dr.Tracer):
        return PRNGKey._from_data(np.append(key.data, np.uint64(entry)))
    tail = dnp.reshape(dnp.astype(entry, np.uint64), (1,))
    return PRNGKey._from_data(dnp.concatenate([dnp.astype(key.data, np.uint64), tail]))


def split(key: PRNGKey, num: int = 2) -> tuple:
    """``num`` new independent keys derived from ``key`` (a tuple). ``key`` itself should not be used again.
    ``stack(split(key, n))`` is one key array of them, for ``dr.vmap``."""
    _check(key)
    return tuple(_append(key, i) for i in range(int(num)))


def stack(keys) -> PRNGKey:
    """One key array of several keys (``split``'s tuple, say), to batch over with ``dr.vmap``:
    ``dr.vmap(step)(stack(split(key, n)), xs)``."""
    keys = [_check(k) for k in keys]
    if not keys:
        raise ValueError("dualrev.nn.random.stack: no keys")
    shapes = {np.shape(k.data) for k in keys}
    if len(shapes) != 1:
        raise ValueError("dualrev.nn.random.stack: keys of different depths (made by different numbers of splits) "
                         "cannot be stacked; split one key n times instead")
    return PRNGKey._from_data(np.stack([k.data for k in keys]))


def fold_in(key: PRNGKey, data) -> PRNGKey:
    """A new key that depends on ``key`` and a non-negative int ``data`` (a step number, or under vmap a batched
    example index)."""
    _check(key)
    if isinstance(data, dr.Tracer):
        if np.asarray(dr.concrete_value(data)).dtype.kind not in "iu" or np.any(dr.concrete_value(data) < 0):
            raise ValueError("fold_in: data must be a non-negative int (an integer array under vmap)")
        return _append(key, data + _FOLD)
    if int(data) < 0:
        raise ValueError("fold_in: data must be a non-negative int")
    return _append(key, _FOLD + int(data))


def generator(key: PRNGKey) -> np.random.Generator:
    """A fresh ``numpy.random.Generator`` seeded by ``key`` (the same key gives the same stream)."""
    return np.random.Generator(np.random.PCG64(_check(key).seed_sequence()))


# -- draws: one primitive, so that under vmap every example draws from its own key --


def _draw_impl(data, *, kind, shape, p=None):
    rng = np.random.Generator(np.random.PCG64(_seed_sequence(data)))
    if kind == "random":
        return rng.random(shape)
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "bernoulli":
        return rng.random(shape) < p
    return rng.permutation(shape)


def _draw_batch(args, batched, **params):
    (data,) = args  # the only operand, so it is the batched one: draw example by example
    return np.stack([_draw_impl(d, **params) for d in dr.concrete_value(data)])


random_draw = dr.defprim(_draw_impl, name="random_draw", nondiff=True, batch=_draw_batch,
                         note="draws from a key's data; under vmap, example by example")


def _draw(key, kind, shape, p=None):
    key = _check(key)
    if isinstance(key.data, dr.Tracer):
        return random_draw(key.data, kind=kind, shape=shape, p=p)
    if np.ndim(key.data) != 1:
        raise TypeError(f"dualrev.nn.random: got a key array of {len(key)} keys; index it or vmap over it")
    return _draw_impl(key.data, kind=kind, shape=shape, p=p)


def _astype(x, dtype):
    return dnp.astype(x, dtype) if isinstance(x, dr.Tracer) else x.astype(dtype)


def uniform(key: PRNGKey, shape=(), dtype=np.float64, minval=0.0, maxval=1.0) -> np.ndarray:
    """Uniform samples in ``[minval, maxval)``."""
    u = _draw(key, "random", shape)
    return _astype(minval + (maxval - minval) * u, dtype)


def normal(key: PRNGKey, shape=(), dtype=np.float64) -> np.ndarray:
    """Standard normal samples."""
    return _astype(_draw(key, "normal", shape), dtype)


def bernoulli(key: PRNGKey, p=0.5, shape=()) -> np.ndarray:
    """Booleans that are True with probability ``p``."""
    return _draw(key, "bernoulli", shape, p)


def permutation(key: PRNGKey, n: int) -> np.ndarray:
    """A random permutation of ``range(n)`` (for shuffling a data set each epoch)."""
    return _draw(key, "permutation", int(n))
