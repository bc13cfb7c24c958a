"""check_grads: compare forward- and reverse-mode derivatives with central finite differences in random
directions, recursively to any order. Imports transforms, tree_util.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from dualrev.transforms import jvp, vjp
from dualrev.tree_util import tree_flatten, tree_unflatten

__all__ = ["check_grads"]


# (step, tolerance) of the finite differences by the inputs' dtype: float16 has 3 significant digits, so its
# differences are coarse and its comparisons loose.
_DEFAULTS = {np.dtype(np.float64): (1e-6, 1e-5), np.dtype(np.float32): (1e-2, 2e-2),
             np.dtype(np.float16): (2e-2, 1e-1)}


def _real_dtype(dtype) -> np.dtype:
    """complex64 -> float32, complex128 -> float64: a complex dtype's steps and tolerances are its parts'."""
    dtype = np.dtype(dtype)
    return np.finfo(dtype).dtype if dtype.kind == "c" else dtype


def _default_eps(dtype) -> float:
    return _DEFAULTS.get(_real_dtype(dtype), _DEFAULTS[np.dtype(np.float32)])[0]


def _default_tol(dtype) -> float:
    return _DEFAULTS.get(_real_dtype(dtype), _DEFAULTS[np.dtype(np.float32)])[1]


def _wide(x):
    return np.asarray(x, np.complex128 if np.iscomplexobj(x) else np.float64)


def _inner(xs, ys) -> float:
    # Re(sum x y), bilinear (no conjugate): the pairing under which a VJP is the transpose of the JVP, as in JAX
    return float(sum(np.real(np.sum(_wide(x) * _wide(y))) for x, y in zip(xs, ys)))


def _axpy(a, xs, ys):
    return [np.asarray(y + a * x).astype(np.result_type(y)) for x, y in zip(xs, ys)]


def _random_like(rng, leaves):
    def one(x):
        dtype = np.result_type(x)
        v = rng.standard_normal(np.shape(x))
        return (v + 1j * rng.standard_normal(np.shape(x)) if dtype.kind == "c" else v).astype(dtype)

    return [one(x) for x in leaves]


def check_grads(fun: Callable, args: Sequence, order: int = 1, modes: Sequence[str] = ("fwd", "rev"),
                atol: float | None = None, rtol: float | None = None, eps: float | None = None,
                seed: int = 0) -> None:
    """Check ``fun``'s derivatives at ``args`` against central finite differences, up to ``order``.

    "fwd" compares ``jvp`` with the difference quotient along a random direction; "rev" checks the ``vjp`` by the
    identity <ct, J v> = <J^T ct, v>. Complex values get complex directions, paired by ``Re(sum(x * y))``, under
    which the VJP is the transpose of the JVP, as in JAX. For ``order > 1`` the same checks run on the derivative functions themselves.
    Raises ``AssertionError`` naming the mode, order and the two numbers on mismatch.

    >>> dr.check_grads(dnp.sin, (np.array([0.3, 1.2]),), order=2)
    """
    args = tuple(args)
    rng = np.random.default_rng(seed)
    leaves, tree = tree_flatten(args)
    leaves = [np.asarray(x) for x in leaves]
    dtype = np.result_type(*leaves)
    eps = eps or _default_eps(dtype)
    atol = atol or _default_tol(dtype)
    rtol = rtol or _default_tol(dtype)

    def f_flat(*flat):
        return tree_flatten(fun(*tree_unflatten(tree, flat)))[0]

    def close(name, a, b):
        if not abs(a - b) <= atol + rtol * abs(b):
            raise AssertionError(f"check_grads: {name} mismatch at order {order}: autodiff {a!r}, "
                                 f"finite differences {b!r}")

    v = _random_like(rng, leaves)
    plus, minus = f_flat(*_axpy(eps, v, leaves)), f_flat(*_axpy(-eps, v, leaves))
    fd = [(_wide(p) - _wide(m)) / (2 * eps) for p, m in zip(plus, minus)]
    out = f_flat(*leaves)
    u = _random_like(rng, out)
    if "fwd" in modes:
        _, t_out = jvp(lambda *xs: f_flat(*xs), leaves, v)
        close("JVP (forward mode)", _inner(u, t_out), _inner(u, fd))
    if "rev" in modes:
        _, pullback = vjp(lambda *xs: f_flat(*xs), *leaves)
        close("VJP (reverse mode)", _inner(pullback(u), v), _inner(u, fd))
    if order > 1:
        if "fwd" in modes:
            def f_jvp(*xs):
                return jvp(lambda *ys: f_flat(*ys), xs, v)[1]

            check_grads(lambda *xs: f_jvp(*tree_flatten(xs)[0]), args, order - 1, modes, atol, rtol, eps, seed + 1)
        if "rev" in modes:
            def f_vjp(*xs):
                return vjp(lambda *ys: f_flat(*ys), *xs)[1](u)

            check_grads(lambda *xs: f_vjp(*tree_flatten(xs)[0]), args, order - 1, modes, atol, rtol, eps, seed + 1)
