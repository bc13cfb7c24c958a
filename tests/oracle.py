"""The JAX-oracle harness shared by tests/test_primitives.py and the family spec modules tests/specs_*.py:
element domains, shape and operand strategies, and ``Spec`` (how to test one primitive).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp  # noqa: F401  (re-exported for spec modules)
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

jax.config.update("jax_enable_x64", True)

RUN_DTYPES = (np.float64, np.float32)


def dtype_runs(n):
    """Operand dtypes of the dualrev runs: all float64, all float32, and float32 with float64 for several operands."""
    runs = [(dtype,) * n for dtype in RUN_DTYPES]
    return runs + [tuple(RUN_DTYPES[(i + 1) % 2] for i in range(n))] if n > 1 else runs


# -- values: element domains --


def floats(lo, hi):
    """Floats in [lo, hi] (bounds exact in float32) that float32 represents exactly: every run sees the same values."""
    return st.floats(lo, hi, width=32, allow_subnormal=False)


REAL = floats(-3, 3)
POSITIVE = floats(0.125, 3)  # log, sqrt, the base of power
WITH_ZEROS = st.sampled_from([0.0, -0.0]) | REAL  # abs'(0) = abs'(-0.0) = 1 in JAX and in dualrev
AWAY_FROM_ZERO = floats(-3, -0.5) | floats(0.5, 3)  # denominators
EXPONENT = st.sampled_from([0.0, 1.0, 2.0, -1.0, 0.5]) | floats(-2, 3)
TIES = st.sampled_from([-1.0, 0.0, 2.0]) | REAL  # equal elements are common (maximum/minimum split ties 0.5/0.5)
SPECIAL = st.sampled_from([np.inf, -np.inf, np.nan, 0.0, -0.0]) | REAL
TRUTHY = st.sampled_from([0.0, -0.0, 1.0, -2.5, np.nan])

# -- shapes --

MAX_SIDE = 3  # small sides: JAX compiles each operation once per shape; examples that share shapes run faster


def shapes(min_dims=0, max_dims=3):
    """Shapes of min_dims..max_dims axes of sides 1..MAX_SIDE; 0-d is one choice of a few (not half the examples)."""
    ndims = [n for n in (2, 0, 1, 3) if min_dims <= n <= max_dims]  # hypothesis favours the ends of a list
    return st.sampled_from(ndims).flatmap(lambda n: st.tuples(*[st.integers(1, MAX_SIDE)] * n))


@st.composite
def broadcastable(draw, n, max_dims=3):
    """n shapes that broadcast together, e.g. (3, 1) with (2,): one shape, minus leading axes, some axes set to 1."""
    full = draw(shapes(max_dims=max_dims))
    out = []
    for _ in range(n):
        kept = full[min(draw(st.sampled_from([0, 1, 0, 2, 0])), len(full)):]  # drop leading axes
        out.append(tuple(1 if draw(st.sampled_from([False, True, False])) else side for side in kept))
    return out


def arrays(shape, elements=REAL):
    return hnp.arrays(np.float32, shape, elements=elements)


# -- operands and params: each strategy draws (tuple of float operands, dict of params) --


@st.composite
def elementwise(draw, *domains):
    """One operand per domain, with mutually broadcastable shapes."""
    return tuple(draw(arrays(s, d)) for s, d in zip(draw(broadcastable(len(domains))), domains)), {}


@st.composite
def where_operands(draw):
    cond_shape, x_shape, y_shape = draw(broadcastable(3))
    return (draw(arrays(x_shape)), draw(arrays(y_shape))), {"cond": draw(hnp.arrays(np.bool_, cond_shape))}


@st.composite
def sum_operands(draw):
    shape = draw(shapes())
    reduced = draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    axis = tuple(i for i, r in enumerate(reduced) if r)  # sorted, non-negative, possibly empty
    return (draw(arrays(shape)),), {"axis": axis, "keepdims": draw(st.booleans())}


def _prime_factors(n):
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


@st.composite
def reshape_operands(draw):
    shape = draw(shapes())
    factors = draw(st.permutations(_prime_factors(int(np.prod(shape)))))
    cuts = sorted(draw(st.sets(st.integers(1, len(factors) - 1)))) if len(factors) > 1 else []
    new = [int(np.prod(factors[a:b])) for a, b in zip([0] + cuts, cuts + [len(factors)])] if factors else []
    for _ in range(draw(st.integers(0, 2))):  # size-1 axes anywhere
        new.insert(draw(st.integers(0, len(new))), 1)
    return (draw(arrays(shape)),), {"shape": tuple(new)}


@st.composite
def transpose_operands(draw):
    shape = draw(shapes())
    return (draw(arrays(shape)),), {"axes": tuple(draw(st.permutations(range(len(shape)))))}


@st.composite
def broadcast_to_operands(draw):
    target = draw(shapes())
    kept = target[draw(st.integers(0, len(target))):]  # drop leading axes, then turn some axes into 1s
    shape = tuple(n if draw(st.booleans()) else 1 for n in kept)
    return (draw(arrays(shape)),), {"shape": target}


@st.composite
def astype_operands(draw):
    return (draw(arrays(draw(shapes()))),), {"dtype": np.dtype(draw(st.sampled_from([np.float32, np.float64,
                                                                                     np.float16])))}


@st.composite
def indices(draw, shape):
    """An index tuple for an array of this shape: basic (slices with negative steps, ints, None, ...), integer
    arrays (with repeats, mixed with slices and ints), or a boolean mask, with None and ... around them."""
    kind = draw(st.sampled_from(["integer arrays", "mask", "basic"] if shape else ["basic"]))
    if kind == "basic":
        idx = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
        return idx if isinstance(idx, tuple) else (idx,)
    k = draw(st.integers(1, len(shape)))  # index the first k axes (maybe "..." after) or the last k (after "...")
    from_back = draw(st.booleans())
    sides = shape[len(shape) - k:] if from_back else shape[:k]
    if kind == "mask":
        j = draw(st.integers(0, k - 1))  # slices, then one mask over the remaining axes
        parts = [draw(st.slices(n)) for n in sides[:j]] + [draw(hnp.arrays(np.bool_, sides[j:]))]
    else:
        index_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))  # shared: they broadcast
        kinds = draw(st.lists(st.sampled_from(["array", "slice", "int"]), min_size=k, max_size=k))
        kinds[draw(st.integers(0, k - 1))] = "array"
        parts = [draw(hnp.arrays(np.intp, index_shape, elements=st.integers(-n, n - 1))) if kd == "array"
                 else draw(st.slices(n)) if kd == "slice" else draw(st.integers(-n, n - 1))
                 for kd, n in zip(kinds, sides)]
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), None)
    if from_back:
        parts.insert(0, Ellipsis)
    elif draw(st.booleans()):
        parts.append(Ellipsis)
    return tuple(parts)


@st.composite
def getitem_operands(draw):
    shape = draw(shapes())
    return (draw(arrays(shape)),), {"idx": draw(indices(shape))}


@st.composite
def scatter_add_operands(draw):
    shape = draw(shapes())
    idx = draw(indices(shape))
    return (draw(arrays(np.empty(shape)[idx].shape)),), {"idx": idx, "shape": shape}


@st.composite
def concatenate_operands(draw):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(0, len(shape) - 1))
    sizes = draw(st.lists(st.sampled_from([2, 1, 3, 0]), min_size=2, max_size=3) | st.tuples(st.integers(0, 3)))
    return tuple(draw(arrays(shape[:axis] + (n,) + shape[axis + 1:])) for n in sizes), {"axis": axis}


@st.composite
def matmul_operands(draw):
    """1-D and N-D operands, with broadcast batch axes: (k,) @ (k,), (..., n, k) @ (k,), (k,) @ (..., k, m), ..."""
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    x_batch, y_batch = draw(broadcastable(2, max_dims=2))
    x_shape = (k,) if draw(st.booleans()) else x_batch + (n, k)
    y_shape = (k,) if draw(st.booleans()) else y_batch + (k, m)
    return (draw(arrays(x_shape)), draw(arrays(y_shape))), {}


# -- the table --


def _call(prim, *operands, **params):
    return prim(*operands, **params)


@dataclass(frozen=True)
class Spec:
    """How to test one primitive. A new primitive needs one entry in SPECS, usually through unary / binary / nondiff
    (a reference and element domains), or a Spec with an operands strategy when it has parameters.

    Several outputs (``multiple_results`` primitives): ``call`` and ``ref`` return a tuple of arrays, each compared
    with its own cotangent and dtype; ``out_dtype`` may then give one dtype per output, or one for all."""

    ref: Callable  # (*operands, **params) -> expected: a JAX function, or NumPy for non-differentiable primitives
    operands: st.SearchStrategy  # draws (float operands, params)
    call: Callable = _call  # how the primitive takes them: call(prim, *operands, **params)
    out_dtype: Callable = lambda dtypes, params: np.result_type(*dtypes)  # the output dtype for operand dtypes
    nondiff: bool = False


def unary(ref, domain=REAL):
    return Spec(ref, elementwise(domain))


def binary(ref, x_domain=REAL, y_domain=REAL):
    return Spec(ref, elementwise(x_domain, y_domain))


def nondiff(ref, *domains):
    return Spec(ref, elementwise(*domains), nondiff=True)
