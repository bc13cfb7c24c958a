"""Lists and tuples of traced values wherever NumPy takes an array-like (dualrev/numpy/array_likes.py, and the
primitives' own conversion in dualrev.core): each call with lists must give the value and the derivatives of the
same call with ``dnp.array`` of the lists, under grad, jvp, hessian and vmap. Plain ``np.f([a, b])`` cannot work
(NumPy converts first), and its error says what to write.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp

A = dnp.array  # the explicit spelling each list call is compared with

CALLS = {  # id -> (with lists, with arrays), functions of two scalars
    "mean": (lambda a, b: dnp.mean([a, b]), lambda a, b: dnp.mean(A([a, b]))),
    "sum axis": (lambda a, b: dnp.sum(dnp.sum([[a, b], [b, 1.0]], axis=0) ** 2),
                 lambda a, b: dnp.sum(dnp.sum(A([[a, b], [b, 1.0]]), axis=0) ** 2)),
    "exp (a primitive)": (lambda a, b: dnp.sum(dnp.exp((a, b))), lambda a, b: dnp.sum(dnp.exp(A((a, b))))),
    "dot": (lambda a, b: dnp.dot([a, b], [b, 2.0]), lambda a, b: dnp.dot(A([a, b]), A([b, 2.0]))),
    "operator": (lambda a, b: dnp.sum(a * [a, b] + [b, 1.0]), lambda a, b: dnp.sum(a * A([a, b]) + A([b, 1.0]))),
    "matmul": (lambda a, b: dnp.sum(np.eye(2) @ A([a, b]) @ [[a, 0.0], [1.0, b]]),
               lambda a, b: dnp.sum(np.eye(2) @ A([a, b]) @ A([[a, 0.0], [1.0, b]]))),
    "norm": (lambda a, b: dnp.linalg.norm([a, b]), lambda a, b: dnp.linalg.norm(A([a, b]))),
    "det": (lambda a, b: dnp.linalg.det([[a, 1.0], [0.5, b]]), lambda a, b: dnp.linalg.det(A([[a, 1.0], [0.5, b]]))),
    "solve": (lambda a, b: dnp.sum(dnp.linalg.solve([[a, 0.1], [0.0, b]], [1.0, b])),
              lambda a, b: dnp.sum(dnp.linalg.solve(A([[a, 0.1], [0.0, b]]), A([1.0, b])))),
    "max": (lambda a, b: dnp.max([a, b, 0.1]), lambda a, b: dnp.max(A([a, b, 0.1]))),
    "where": (lambda a, b: dnp.sum(dnp.where([True, False], [a, b], [b, a])),
              lambda a, b: dnp.sum(dnp.where([True, False], A([a, b]), A([b, a])))),
    "clip": (lambda a, b: dnp.sum(dnp.clip([a, b], 0.0, 0.6)), lambda a, b: dnp.sum(dnp.clip(A([a, b]), 0.0, 0.6))),
    "einsum": (lambda a, b: dnp.einsum("i,i->", [a, b], [a, 2.0]),
               lambda a, b: dnp.einsum("i,i->", A([a, b]), A([a, 2.0]))),
    "std": (lambda a, b: dnp.std([a, b, 1.0]), lambda a, b: dnp.std(A([a, b, 1.0]))),
    "average weights": (lambda a, b: dnp.average([a, b], weights=[1.0, b]),
                        lambda a, b: dnp.average(A([a, b]), weights=A([1.0, b]))),
    "cumsum": (lambda a, b: dnp.sum(dnp.cumsum([a, b]) ** 2), lambda a, b: dnp.sum(dnp.cumsum(A([a, b])) ** 2)),
    "reshape": (lambda a, b: dnp.sum(dnp.reshape([a, b], (2, 1)) * [1.0, 2.0]),
                lambda a, b: dnp.sum(dnp.reshape(A([a, b]), (2, 1)) * A([1.0, 2.0]))),
    "interp": (lambda a, b: dnp.interp(0.5, [0.0, 1.0], [a, b]),
               lambda a, b: dnp.interp(0.5, A([0.0, 1.0]), A([a, b]))),
    "r_ and c_": (lambda a, b: dnp.sum(dnp.r_[a, 0.5, [b, a]] ** 2) + dnp.sum(dnp.c_[[a, b], [b, a]] ** 3),
                  lambda a, b: dnp.sum(dnp.concatenate([A([a]), A([0.5]), A([b, a])]) ** 2)
                  + dnp.sum(dnp.stack([A([a, b]), A([b, a])], axis=1) ** 3)),
    "write a list": (lambda a, b: _written(a, b, lambda y: y.__setitem__(slice(0, 2), [a * b, b])),
                     lambda a, b: _written(a, b, lambda y: y.__setitem__(slice(0, 2), A([a * b, b])))),
    "asarray tuple": (lambda a, b: dnp.sum(dnp.asarray((a, b)) ** 2), lambda a, b: a ** 2 + b ** 2),
}


def _written(a, b, write):
    y = dnp.zeros_like(a, shape=(3,))
    write(y)
    return dnp.sum(y * np.array([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("case", list(CALLS))
def test_lists_are_arrays(case):
    with_lists, with_arrays = CALLS[case]
    a, b = np.array(0.3), np.array(0.7)  # 0-d arrays: `a * [a, b]` is NumPy's, as it is for tracers
    np.testing.assert_allclose(with_lists(a, b), with_arrays(a, b), rtol=1e-14)
    both = (0, 1)
    np.testing.assert_allclose(dr.grad(with_lists, both)(a, b), dr.grad(with_arrays, both)(a, b), rtol=1e-13)
    np.testing.assert_allclose(dr.jvp(with_lists, (a, b), (1.0, -0.5))[1],
                               dr.jvp(with_arrays, (a, b), (1.0, -0.5))[1], rtol=1e-13)
    np.testing.assert_allclose(dr.hessian(with_lists, both)(a, b), dr.hessian(with_arrays, both)(a, b), rtol=1e-12,
                               atol=1e-14)
    xs, ys = np.array([0.3, 0.4]), np.array([0.7, 0.2])
    np.testing.assert_allclose(dr.vmap(dr.grad(with_lists, both))(xs, ys), dr.vmap(dr.grad(with_arrays, both))(xs, ys),
                               rtol=1e-13)


def test_float32_lists_stay_float32():
    g = dr.grad(lambda a, b: dnp.mean([a, b, 1.0]) + dnp.sum(dnp.exp([a, b])), (0, 1))(np.float32(0.3),
                                                                                     np.float32(0.7))
    assert all(x.dtype == np.float32 for x in g)


@pytest.mark.parametrize("call", [lambda a, b: np.sum([a, b]), lambda a, b: np.exp([a, b]),
                                  lambda a, b: np.dot([a, b], np.ones(2)), lambda a, b: np.array([a, b])])
def test_plain_numpy_with_lists_says_what_to_write(call):
    with pytest.raises(TypeError, match=r"dnp\.f\(\[\.\.\.\]\)"):
        dr.grad(lambda a, b: dnp.sum(call(a, b)), (0, 1))(0.3, 0.7)
