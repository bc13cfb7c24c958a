"""Oracle specs of the contractions family (merged into tests/test_primitives.py's SPECS; matmul's spec is there).

einsum is drawn in NumPy's own forms (implicit or explicit output, '...', repeated letters, size-1 broadcasting,
1-3 operands) and reaches the primitive through the same canonicalisation as ``dnp.einsum``; JAX's einsum, called
with the original subscripts, is the reference.
"""

from __future__ import annotations

from hypothesis import strategies as st
from oracle import MAX_SIDE, Spec, arrays, broadcastable, jnp

from dualrev.numpy.contractions import canonical_subscripts

LETTERS = "ijkl"


@st.composite
def einsum_operands(draw):
    sizes = {c: draw(st.integers(1, MAX_SIDE)) for c in LETTERS}
    n = draw(st.sampled_from([2, 3, 1]))
    ellipsis = draw(st.sampled_from([False, True, False]))
    batch = draw(broadcastable(n, max_dims=2)) if ellipsis else [()] * n
    subs, operands, used = [], [], []
    for k in range(n):
        ndim = draw(st.sampled_from([2, 1, 3, 0]))
        letters = draw(st.lists(st.sampled_from(LETTERS), min_size=ndim, max_size=ndim))  # repeats: diagonals
        shape = [sizes[c] for c in letters]
        if letters and draw(st.sampled_from([False, False, True])):  # one letter broadcast from size 1 here
            c = draw(st.sampled_from(letters))
            shape = [1 if d == c else side for d, side in zip(letters, shape)]
        sub = "".join(letters)
        if ellipsis and draw(st.sampled_from([True, True, False])):
            at = draw(st.integers(0, len(letters)))
            sub = sub[:at] + "..." + sub[at:]
            shape = shape[:at] + list(batch[k]) + shape[at:]
        subs.append(sub)
        operands.append(draw(arrays(tuple(shape))))
        used += letters
    subscripts = ",".join(subs)
    if draw(st.sampled_from([True, False, True])):  # explicit output: some of the letters, in any order
        out = draw(st.permutations(sorted(set(used))))
        out = "".join(out[:draw(st.integers(0, len(out)))])
        if "..." in subscripts:
            at = draw(st.integers(0, len(out)))
            out = out[:at] + "..." + out[at:]
        subscripts += "->" + out
    optimize = draw(st.sampled_from(["auto", "greedy", "optimal"]))  # small shapes: "auto" never plans a path
    return tuple(operands), {"subscripts": subscripts, "optimize": optimize}


def _call_einsum(prim, *xs, subscripts, optimize):
    return prim(*xs, subscripts=canonical_subscripts(subscripts, [x.shape for x in xs]), optimize=optimize)


SPECS = {
    "einsum": Spec(lambda *xs, subscripts, optimize: jnp.einsum(subscripts, *xs), einsum_operands(),
                   call=_call_einsum),
}
