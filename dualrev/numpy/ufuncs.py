"""Elementwise primitives: unary and binary arithmetic, transcendental functions, comparisons, where.

Rules are written with dualrev operations (never raw NumPy on operands) so that they differentiate again.
Broadcasting and dtype fitting of tangents and cotangents happen in the engine. Imports only core.
"""

from __future__ import annotations

import numpy as np

from dualrev.core import Tracer, defprim, implements, primal_value

__all__ = [
    "abs", "absolute", "add", "ceil", "cos", "divide", "equal", "exp", "floor", "floor_divide", "greater",
    "greater_equal", "isfinite", "isinf", "isnan", "less", "less_equal", "log", "logical_and", "logical_not",
    "logical_or", "maximum", "minimum", "multiply", "negative", "not_equal", "power", "sign", "sin", "sqrt",
    "subtract", "tanh", "true_divide", "where",
]

# -- binary arithmetic --

add = defprim(np.add, jvp=(lambda dx, ans, x, y: dx, lambda dy, ans, x, y: dy),
              vjp=(lambda ct, ans, x, y: ct, lambda ct, ans, x, y: ct))
subtract = defprim(np.subtract, jvp=(lambda dx, ans, x, y: dx, lambda dy, ans, x, y: -dy),
                   vjp=(lambda ct, ans, x, y: ct, lambda ct, ans, x, y: -ct))
multiply = defprim(np.multiply, partials=(lambda ans, x, y: y, lambda ans, x, y: x))
true_divide = defprim(np.true_divide, name="divide",
                      jvp=(lambda dx, ans, x, y: dx / y, lambda dy, ans, x, y: -dy * ans / y),
                      vjp=(lambda ct, ans, x, y: ct / y, lambda ct, ans, x, y: -ct * ans / y))
divide = true_divide


def _pow_dx(ans, x, y):
    # d/dx x**y = y x**(y-1); it is 0 where y == 0, as in JAX (avoids 0 * inf at x == 0).
    if not isinstance(y, Tracer) and np.ndim(y) == 0:
        if y == 0 or y == 1:
            return float(y)
        return x * y if y == 2 else y * x ** (y - 1)
    return where(y == 0, 0.0, y * x ** (y - 1))


def _pow_dy(ans, x, y):
    # d/dy x**y = log(x) x**y; at x == 0 it is taken as 0 (log replaced by log(1)), as in JAX.
    return ans * log(where(x == 0, 1.0, x))


power = defprim(np.power, partials=(_pow_dx, _pow_dy),
                note="d/dx is 0 where y == 0; d/dy is 0 where x == 0 (as in JAX)")


def _max_partials(first):
    # Ties split the derivative evenly between the operands, as JAX does.
    def partial(ans, x, y):
        a, b = (x, y) if first else (y, x)
        gt = (a > b).astype(ans.dtype)
        return gt + 0.5 * (a == b)

    return partial


maximum = defprim(np.maximum, partials=(_max_partials(True), _max_partials(False)),
                  note="ties split the derivative evenly, as in JAX")
minimum = defprim(np.minimum, partials=(_max_partials(False), _max_partials(True)),
                  note="ties split the derivative evenly, as in JAX")

# -- unary --

negative = defprim(np.negative, jvp=(lambda dx, ans, x: -dx,), vjp=(lambda ct, ans, x: -ct,))
exp = defprim(np.exp, partials=lambda ans, x: ans)
log = defprim(np.log, jvp=(lambda dx, ans, x: dx / x,), vjp=(lambda ct, ans, x: ct / x,))
sin = defprim(np.sin, partials=lambda ans, x: cos(x))
cos = defprim(np.cos, partials=lambda ans, x: -sin(x))
tanh = defprim(np.tanh, partials=lambda ans, x: 1.0 - ans * ans)
sqrt = defprim(np.sqrt, partials=lambda ans, x: 0.5 / ans, note="sqrt'(0) = +inf, as in JAX")
absolute = defprim(np.absolute, name="abs", partials=lambda ans, x: np.where(x >= 0, 1, -1).astype(ans.dtype),
                   note="abs'(0) = 1 (also at -0.0), as in JAX")
abs = absolute

# -- non-differentiable: plain arrays out, so Python control flow on them works --

sign = defprim(np.sign, nondiff=True)
floor = defprim(np.floor, nondiff=True)
ceil = defprim(np.ceil, nondiff=True)
greater = defprim(np.greater, nondiff=True)
greater_equal = defprim(np.greater_equal, nondiff=True)
less = defprim(np.less, nondiff=True)
less_equal = defprim(np.less_equal, nondiff=True)
equal = defprim(np.equal, nondiff=True)
not_equal = defprim(np.not_equal, nondiff=True)
logical_and = defprim(np.logical_and, nondiff=True)
logical_or = defprim(np.logical_or, nondiff=True)
logical_not = defprim(np.logical_not, nondiff=True)
isfinite = defprim(np.isfinite, nondiff=True)
isnan = defprim(np.isnan, nondiff=True)
isinf = defprim(np.isinf, nondiff=True)
floor_divide = defprim(np.floor_divide, nondiff=True)

# -- selection --


def _where_impl(cond, x, y):
    return np.where(cond, x, y)


_where = defprim(
    _where_impl, name="where",
    jvp=(None, lambda dx, ans, c, x, y: _where(c, dx, 0.0), lambda dy, ans, c, x, y: _where(c, 0.0, dy)),
    vjp=(None, lambda ct, ans, c, x, y: _where(c, ct, 0.0), lambda ct, ans, c, x, y: _where(c, 0.0, ct)),
)


@implements(np.where)
def where(condition, x=None, y=None):
    """``np.where``: select from ``x`` where ``condition`` holds, else from ``y``; the condition has no derivative.

    >>> where(x > 0, x, 0.0)  # relu
    """
    if x is None and y is None:
        return np.nonzero(primal_value(condition))
    if x is None or y is None:
        raise ValueError("dualrev.numpy.where: give both x and y, or neither")
    return _where(primal_value(condition), x, y)
