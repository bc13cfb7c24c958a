"""dualrev.numpy.linalg: NumPy's linear algebra, differentiable in both modes and to any order.

Imports core and the other dualrev.numpy families.
"""

from __future__ import annotations

__all__: list[str] = []
