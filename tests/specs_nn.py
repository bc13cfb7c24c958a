"""Oracle specs of dualrev.nn's primitive (merged into tests/test_primitives.py's SPECS): random_draw, which draws
from a key's data, so that under vmap every example draws from its own key.

A key's data is ``[number of entropy words, words..., path...]``; the harness casts operands to float16/32/64, so
the drawn data are small non-negative integers, exact in every float dtype (random_draw reads them as uint64).
The reference is NumPy's Generator seeded the way dualrev.nn.random documents.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from oracle import Spec


@st.composite
def key_draws(draw):
    path = draw(st.lists(st.integers(0, 60), max_size=2))
    data = np.array([1, draw(st.integers(0, 1000)), *path], np.float64)
    kind = draw(st.sampled_from(["random", "normal", "bernoulli", "permutation"]))
    shape = draw(st.integers(1, 5)) if kind == "permutation" else draw(st.sampled_from([(), (3,), (2, 2)]))
    return (data,), {"kind": kind, "shape": shape, "p": 0.5 if kind == "bernoulli" else None}


def _reference(data, *, kind, shape, p):
    d = [int(v) for v in np.asarray(data).astype(np.uint64)]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(d[1], spawn_key=tuple(d[2:]))))
    if kind == "random":
        return rng.random(shape)
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "bernoulli":
        return rng.random(shape) < p
    return rng.permutation(shape)


SPECS = {"random_draw": Spec(_reference, key_draws(), nondiff=True)}
