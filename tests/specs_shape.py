"""Oracle specs of the shape and indexing family (dualrev/numpy/shape.py, indexing.py), merged into SPECS by
tests/test_primitives.py.

The family's primitives (reshape, transpose, broadcast_to, astype, getitem, scatter_add, concatenate) have their
specs in tests/test_primitives.py. Everything else in the family is a composite of them: flips, rolls and splits are
slices; pad is concatenation (constant) or a gather (edge, reflect, symmetric, wrap); tile and scalar repeat are
broadcasts; take, take_along_axis, per-element repeat and diagonals are gathers (getitem with integer arrays, whose
transpose scatter_add accumulates repeated indices); diag of a vector and the .at updates are scatters and where.
They are checked against JAX, to second order, in tests/test_numpy_shape.py. A primitive added to the family gets
its entry here.
"""

from __future__ import annotations

from oracle import Spec

SPECS: dict[str, Spec] = {}
