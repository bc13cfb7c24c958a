"""Oracle specs of dualrev.numpy.indexing's primitives (merged into tests/test_primitives.py's SPECS).

take_along_axis and scatter_along_axis take integer indices as an operand; the harness draws and casts float operands
only, so the indices travel as a parameter and ``call`` hands them to the primitive as its operand. Indices repeat
and count from the end too; the other axes broadcast (size-1 axes on either side).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oracle import MAX_SIDE, Spec, arrays, jnp, shapes


@st.composite
def along_axis(draw):
    """(array shape, indices, axis): the same number of axes, either side's non-axis axes possibly 1."""
    full = draw(shapes(min_dims=1))
    axis = draw(st.integers(0, len(full) - 1))
    k = draw(st.integers(1, MAX_SIDE))  # how many indices along the axis

    def thinned(shape):
        return tuple(1 if d != axis and draw(st.sampled_from([False, False, True])) else n for d, n in enumerate(shape))

    shape = thinned(full)
    n = shape[axis]
    index_shape = thinned(full[:axis] + (k,) + full[axis + 1:])
    indices = draw(hnp.arrays(np.intp, index_shape, elements=st.integers(-n, n - 1)))
    return shape, indices, axis


@st.composite
def take_along_axis_operands(draw):
    shape, indices, axis = draw(along_axis())
    return (draw(arrays(shape)),), {"indices": indices, "axis": axis}


@st.composite
def scatter_along_axis_operands(draw):
    """A cotangent of take_along_axis's output (or one that broadcasts against the indices), and n = the length of
    the gathered axis."""
    shape, indices, axis = draw(along_axis())
    out = np.broadcast_shapes(tuple(1 if d == axis else s for d, s in enumerate(shape)), indices.shape)
    ct_shape = tuple(1 if d != axis and draw(st.sampled_from([False, False, True])) else s for d, s in enumerate(out))
    return (draw(arrays(ct_shape)),), {"indices": indices, "axis": axis, "n": shape[axis]}


def _fancy(shape, indices, axis):
    nd = len(shape)
    return tuple(indices if d == axis else np.arange(shape[d]).reshape((1,) * d + (-1,) + (1,) * (nd - d - 1))
                 for d in range(nd))


def scatter_along_axis_ref(ct, indices, axis, n):
    shape = list(np.broadcast_shapes(ct.shape, indices.shape))
    shape[axis] = n
    idx = _fancy(shape, indices, axis)
    target = np.broadcast_shapes(*(np.shape(i) for i in idx))
    return jnp.zeros(shape, ct.dtype).at[idx].add(jnp.broadcast_to(ct, target))


SPECS = {
    "take_along_axis": Spec(lambda x, indices, axis: jnp.take_along_axis(x, indices, axis=axis),
                            take_along_axis_operands(),
                            call=lambda prim, x, indices, axis: prim(x, indices, axis=axis)),
    "scatter_along_axis": Spec(scatter_along_axis_ref, scatter_along_axis_operands(),
                               call=lambda prim, ct, indices, axis, n: prim(ct, indices, axis=axis, n=n)),
}
