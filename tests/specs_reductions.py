"""Oracle specs of the reduction and scan primitives (dualrev/numpy/reductions.py); merged into
tests/test_primitives.py's SPECS. sum's spec stays there. The composites of the family are tested in
tests/test_numpy_reductions.py.

Primitives take normalized params: ``axis`` a sorted tuple of non-negative ints (reductions) or one non-negative
int (scans), and ``keepdims`` a bool.
"""

from __future__ import annotations

from hypothesis import strategies as st
from oracle import REAL, TIES, Spec, arrays, floats, jnp, shapes

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
}
