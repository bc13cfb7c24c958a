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
"""

from __future__ import annotations

import numpy as np

__all__ = ["PRNGKey", "bernoulli", "fold_in", "generator", "normal", "permutation", "split", "uniform"]


class PRNGKey:
    """An immutable random key: ``PRNGKey(seed)`` with an int seed (or a ``numpy.random.SeedSequence``)."""

    __slots__ = ("_entropy", "_path")

    def __init__(self, seed, _path: tuple = ()):
        if isinstance(seed, np.random.SeedSequence):
            entropy, path = seed.entropy, tuple(seed.spawn_key) + tuple(_path)
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            if seed < 0:
                raise ValueError(f"PRNGKey: the seed must be a non-negative int, got {seed}")
            entropy, path = int(seed), tuple(_path)
        else:
            raise TypeError(f"PRNGKey: the seed must be an int, got {type(seed).__name__}")
        object.__setattr__(self, "_entropy", entropy)
        object.__setattr__(self, "_path", path)

    def __setattr__(self, name, value):
        raise AttributeError("PRNGKey is immutable: make new keys with split(key)")

    def seed_sequence(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self._entropy, spawn_key=self._path)

    def __eq__(self, other):
        return isinstance(other, PRNGKey) and (self._entropy, self._path) == (other._entropy, other._path)

    def __hash__(self):
        return hash((self._entropy, self._path))

    def __repr__(self):
        path = "" if not self._path else f", path={self._path}"
        return f"PRNGKey({self._entropy}{path})"


def _check(key):
    if not isinstance(key, PRNGKey):
        raise TypeError(f"expected a dualrev.nn.PRNGKey, got {type(key).__name__}; make one with PRNGKey(seed)")
    return key


def split(key: PRNGKey, num: int = 2) -> tuple:
    """``num`` new independent keys derived from ``key`` (a tuple). ``key`` itself should not be used again."""
    _check(key)
    return tuple(PRNGKey(key._entropy, key._path + (i,)) for i in range(int(num)))


def fold_in(key: PRNGKey, data: int) -> PRNGKey:
    """A new key that depends on ``key`` and a non-negative int ``data`` (a step number, say)."""
    _check(key)
    if int(data) < 0:
        raise ValueError("fold_in: data must be a non-negative int")
    # Offset by 2**32 so folded keys never coincide with split children (whose path entries are small ints).
    return PRNGKey(key._entropy, key._path + (2**32 + int(data),))


def generator(key: PRNGKey) -> np.random.Generator:
    """A fresh ``numpy.random.Generator`` seeded by ``key`` (the same key gives the same stream)."""
    return np.random.Generator(np.random.PCG64(_check(key).seed_sequence()))


def uniform(key: PRNGKey, shape=(), dtype=np.float64, minval=0.0, maxval=1.0) -> np.ndarray:
    """Uniform samples in ``[minval, maxval)``."""
    u = generator(key).random(shape)
    return (minval + (maxval - minval) * u).astype(dtype)


def normal(key: PRNGKey, shape=(), dtype=np.float64) -> np.ndarray:
    """Standard normal samples."""
    return generator(key).standard_normal(shape).astype(dtype)


def bernoulli(key: PRNGKey, p=0.5, shape=()) -> np.ndarray:
    """Booleans that are True with probability ``p``."""
    return generator(key).random(shape) < p


def permutation(key: PRNGKey, n: int) -> np.ndarray:
    """A random permutation of ``range(n)`` (for shuffling a data set each epoch)."""
    return generator(key).permutation(int(n))
