"""Oracle specs of the reduction and scan primitives (dualrev/numpy/reductions.py); merged into
tests/test_primitives.py's SPECS. sum's spec stays there. The composites of the family are tested in
tests/test_numpy_reductions.py.

Primitives take normalized params: ``axis`` a sorted tuple of non-negative ints (reductions; None too for the
queries count_nonzero, any, all) or one non-negative int (scans, argmax, argmin, argsort, permute), and ``keepdims``
a bool. permute's permutation is a param of its spec (the oracle draws float operands only); tests/test_batching.py
batches it through sort.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from oracle import REAL, TIES, TRUTHY, Spec, arrays, floats, jnp, shapes

# Products of up to 27 elements: values kept within [-2, 2] so that float32 stays well within its tolerance; zeros
# are frequent, often several in one reduction (the derivative of prod and cumprod there must be exact).
WITH_MANY_ZEROS = st.sampled_from([0.0, 0.0, -0.0, 1.0, -1.0]) | floats(-2, 2)


@st.composite
def reduce_operands(draw, elements=REAL):
    """One array and the axes it is reduced over (any subset, possibly empty or all), with keepdims."""
    shape = draw(shapes())
    reduced = draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    axis = tuple(i for i, r in enumerate(reduced) if r)
    return (draw(arrays(shape, elements)),), {"axis": axis, "keepdims": draw(st.booleans())}


@st.composite
def scan_operands(draw, elements=REAL):
    """One array of at least one axis and the axis scanned."""
    shape = draw(shapes(min_dims=1))
    return (draw(arrays(shape, elements)),), {"axis": draw(st.integers(0, len(shape) - 1))}


@st.composite
def permute_operands(draw):
    """An array, an axis, and a permutation of every lane along that axis (shaped like the array)."""
    (x,), params = draw(scan_operands())
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    perm = np.argsort(rng.random(np.shape(x)), axis=params["axis"])
    return (x,), dict(params, perm=perm, inverse=draw(st.booleans()))


def _permute_ref(x, perm, axis, inverse):
    return jnp.take_along_axis(x, jnp.argsort(perm, axis=axis) if inverse else perm, axis=axis)


def _with(operands, **params):
    """An operands strategy with more params, drawn from the given strategies."""
    return st.tuples(operands, st.fixed_dictionaries(params)).map(lambda t: (t[0][0], dict(t[0][1], **t[1])))


@st.composite
def any_axes_operands(draw, elements):
    """Queries reducing over None (every axis: NumPy's scalar results) or a tuple of axes."""
    (x,), params = draw(reduce_operands(elements))
    return (x,), dict(params, axis=draw(st.sampled_from([None, params["axis"]])))


@st.composite
def searchsorted_operands(draw):
    """A sorted 1-d array (NaNs last, as np.sort puts them) and values to place, ties and infinities among them."""
    elements = TIES | st.sampled_from([np.inf, np.nan])  # not -inf too: inf - inf warns in the nondiff test's sum
    a = np.sort(draw(arrays(draw(shapes(min_dims=1, max_dims=1)), elements)))
    return (a, draw(arrays(draw(shapes(max_dims=2)), elements))), {"side": draw(st.sampled_from(["left", "right"]))}


def _query(np_func, operands):
    return Spec(lambda x, **params: np_func(x, **params), operands, nondiff=True)


def _reduction(jnp_func, elements):
    return Spec(lambda x, axis, keepdims: jnp_func(x, axis=axis, keepdims=keepdims), reduce_operands(elements))


def _scan(jnp_func, elements):
    return Spec(lambda x, axis: jnp_func(x, axis=axis), scan_operands(elements))


SPECS: dict[str, Spec] = {
    "prod": _reduction(jnp.prod, WITH_MANY_ZEROS),
    "max": _reduction(jnp.max, TIES),  # ties split the derivative evenly
    "min": _reduction(jnp.min, TIES),
    "cumsum": _scan(jnp.cumsum, REAL),
    "cumprod": _scan(jnp.cumprod, WITH_MANY_ZEROS),
    "permute": Spec(_permute_ref, permute_operands(),
                    call=lambda prim, x, perm, axis, inverse: prim(perm, x, axis=axis, inverse=inverse)),
    # no derivative: NumPy's values
    "argsort": _query(np.argsort, _with(scan_operands(TIES), kind=st.sampled_from(["stable", None]))),
    "argmax": _query(np.argmax, _with(scan_operands(TIES), keepdims=st.booleans())),
    "argmin": _query(np.argmin, _with(scan_operands(TIES), keepdims=st.booleans())),
    "count_nonzero": _query(np.count_nonzero, any_axes_operands(TRUTHY)),
    "any": _query(np.any, any_axes_operands(TRUTHY)),
    "all": _query(np.all, any_axes_operands(TRUTHY)),
    "searchsorted": Spec(lambda a, v, side: np.searchsorted(a, v, side=side), searchsorted_operands(), nondiff=True),
}
