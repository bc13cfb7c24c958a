"""The numerical, building and ufunc-method composites of dualrev.numpy (numerical.py, building.py,
ufunc_methods.py, and where=/initial= on reductions) against JAX.

Each case is one function written once for a NumPy-like module ``m`` and run by tests/test_numpy_shape.py's harness:
``dnp`` on plain arrays for the value, ``np`` on traced values (NumPy's own functions must dispatch to dualrev) for
jvp, vjp, a Hessian-vector product and a gradient of a gradient, ``jnp`` for the reference; float64 and float32.
vmap is checked against a loop over examples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp

from test_numpy_shape import _inputs, _jax, _jax_any, _u, check

jax.config.update("jax_enable_x64", True)

I = np.array  # noqa: E741


def _size(m, n):
    """JAX needs the size of a data-dependent result under jit; NumPy and dualrev take the mask as it is."""
    return {"size": n} if m is jnp else {}


def _r(m):
    """``m.r_``/``m.c_`` live on dualrev.numpy, not on NumPy (whose r_ converts its entries with np.array)."""
    return dnp if m is np else m


def _gradient(m):
    """jnp.gradient has no edge_order: for m = jnp, NumPy's second-order one-sided formulas at the ends (its
    documented ones) around jnp's interior, along the last axis."""
    if m is not jnp:
        return m.gradient

    def gradient(f, h, axis=-1, edge_order=2):
        if jnp.ndim(h) == 0:
            inner = (f[..., 2:] - f[..., :-2]) / (2 * h)
            first = -(1.5 * f[..., :1] - 2 * f[..., 1:2] + 0.5 * f[..., 2:3]) / h
            last = (0.5 * f[..., -3:-2] - 2 * f[..., -2:-1] + 1.5 * f[..., -1:]) / h
            return jnp.concatenate([first, inner, last], axis=-1)
        d = jnp.diff(h)
        d1, d2 = d[:-1], d[1:]
        inner = (-d2 / (d1 * (d1 + d2)) * f[..., :-2] + (d2 - d1) / (d1 * d2) * f[..., 1:-1]
                 + d1 / (d2 * (d1 + d2)) * f[..., 2:])
        a, b = d[0], d[1]
        first = (-(2 * a + b) / (a * (a + b)) * f[..., :1] + (a + b) / (a * b) * f[..., 1:2]
                 - a / (b * (a + b)) * f[..., 2:3])
        a, b = d[-2], d[-1]
        last = (b / (a * (a + b)) * f[..., -3:-2] - (a + b) / (a * b) * f[..., -2:-1]
                + (2 * b + a) / (b * (a + b)) * f[..., -1:])
        return jnp.concatenate([first, inner, last], axis=-1)

    return gradient


X5 = np.array([0.1, 0.45, 1.3, 2.2, 2.6])  # sorted sample points, distinct
XP = np.array([-1.0, -0.5, 0.25, 0.5, 1.0])  # well-conditioned sample points for fits (JAX's vander: NaN at 0)
XG = np.array([0.0, 0.5, 1.25, 2.0, 3.0])  # coordinates, exact in float32

CASES = {  # id -> (f(m, *xs), shapes of the float operands, or the operands themselves)
    # differences, sums
    "diff": (lambda m, x: m.diff(x), [(2, 5)]),
    "diff n=2 axis 0": (lambda m, x: m.diff(x, n=2, axis=0), [(4, 3)]),
    "diff prepend append": (lambda m, x, y: m.diff(x, prepend=y, append=1.5), [(3,), ()]),
    "ediff1d": (lambda m, x, y: m.ediff1d(x, to_begin=y, to_end=np.array([2.0, 3.0])), [(2, 3), (2,)]),
    "gradient 1-d": (lambda m, x: m.gradient(x), [(5,)]),
    "gradient spacing": (lambda m, x, h: _gradient(m)(x, h, edge_order=2), [(5,), ()]),
    "gradient coordinates": (lambda m, x, c: m.gradient(x, c, axis=-1), [(2, 5), XG]),
    "gradient coordinates edge 2": (lambda m, x, c: _gradient(m)(x, c, axis=-1, edge_order=2), [(2, 5), XG]),
    "gradient 2-d": (lambda m, x: m.gradient(x, 0.5, 2.0), [(3, 4)]),
    "trapezoid": (lambda m, y: m.trapezoid(y), [(2, 4)]),
    "trapezoid x": (lambda m, y, x: m.trapezoid(y, x, axis=0), [(5, 2), X5]),
    "trapezoid dx": (lambda m, y, d: m.trapezoid(y, dx=d), [(4,), ()]),
    # interpolation, polynomials, convolutions
    "interp": (lambda m, x, xp, fp: m.interp(x, xp, fp),
               [np.array([[-0.5, 0.3], [1.0, 2.4]]), X5, (5,)]),
    "interp left right": (lambda m, x, xp, fp, v: m.interp(x, xp, fp, left=v, right=-v),
                          [np.array([-1.0, 0.7, 3.5]), X5, (5,), ()]),
    "interp period": (lambda m, x, fp: m.interp(x, np.array([0.2, 1.0, 2.5, 4.0], x.dtype), fp, period=5.0),
                      [np.array([-1.0, 0.7, 3.5, 6.1]), (4,)]),
    "polyval": (lambda m, p, x: m.polyval(p, x), [(4,), (2, 3)]),
    "convolve full": (lambda m, a, v: m.convolve(a, v), [(5,), (3,)]),
    "convolve same longer v": (lambda m, a, v: m.convolve(a, v, mode="same"), [(3,), (4,)]),
    "convolve valid": (lambda m, a, v: m.convolve(a, v, mode="valid"), [(5,), (2,)]),
    "correlate valid": (lambda m, a, v: m.correlate(a, v), [(5,), (3,)]),
    "correlate full": (lambda m, a, v: m.correlate(a, v, mode="full"), [(3,), (4,)]),
    "correlate same": (lambda m, a, v: m.correlate(a, v, mode="same"), [(4,), (4,)]),
    "cross 3": (lambda m, a, b: m.cross(a, b), [(2, 3), (3,)]),
    "cross 2 and 3": (lambda m, a, b: m.cross(a, b), [(2,), (2, 3)]),
    "cross axes": (lambda m, a, b: m.cross(a, b, axisa=0, axisb=0, axisc=0), [(3, 2), (3, 2)]),
    # choosing
    "heaviside": (lambda m, x, y: m.heaviside(x, y), [np.array([-1.0, 0.0, 2.0]), (3,)]),
    "select": (lambda m, x, y: m.select([x < 0, x > 1], [x ** 2, m.sin(y)], default=y), [(2, 3), (2, 3)]),
    "piecewise": (lambda m, x: m.piecewise(x, [x < 0, x > 1], [lambda v: v ** 2, m.sin, lambda v: 2 * v]),
                  [(2, 3)]),
    "piecewise constants": (lambda m, x: m.piecewise(x, [x < 0], [0.5, lambda v: m.exp(v)]), [(4,)]),
    # building
    "append": (lambda m, x, y: m.append(x, y), [(2, 2), (3,)]),
    "append axis": (lambda m, x, y: m.append(x, y, axis=1), [(2, 2), (2, 1)]),
    "insert scalar": (lambda m, x, v: m.insert(x, 1, v), [(2, 2), ()]),
    "insert indices axis": (lambda m, x, v: m.insert(x, I([0, 2, 2]), v, axis=1), [(2, 3), (3,)]),
    "insert broadcast": (lambda m, x, v: m.insert(x, 1, v, axis=0), [(2, 3), (1,)]),
    "delete": (lambda m, x: m.delete(x, I([0, 2]), axis=1), [(2, 4)]),
    "delete flat": (lambda m, x: m.delete(x, 1), [(2, 3)]),
    "meshgrid xy": (lambda m, x, y: m.meshgrid(x, y), [(3,), (2,)]),
    "meshgrid ij sparse": (lambda m, x, y, z: m.meshgrid(x, y, z, indexing="ij", sparse=True), [(2,), (3,), (1,)]),
    "linspace": (lambda m, a, b: m.linspace(a, b, 5), [(), ()]),
    "linspace arrays axis": (lambda m, a, b: m.linspace(a, b, 4, endpoint=False, axis=1), [(2,), (2,)]),
    "logspace": (lambda m, a, b: m.logspace(a, b, 4, base=2.0), [(), ()]),
    "geomspace": (lambda m, a, b: m.geomspace(a, b, 5).astype(a.dtype), [np.array(0.5), np.array([2.0, 3.0])]),
    "r_": (lambda m, x, y: _r(m).r_[x, 0.5, y[1:]], [(2,), (3,)]),
    "r_ directive": (lambda m, x, y: _r(m).r_["0,2", x, y], [(3,), (2, 3)]),
    "c_": (lambda m, x, y: _r(m).c_[x, y], [(3,), (3, 2)]),
    # ufunc methods, where= and initial=
    "add.reduce": (lambda m, x: m.add.reduce(x, axis=1), [(2, 3)]),
    "add.reduce initial": (lambda m, x: m.add.reduce(x, axis=None, initial=2.0), [(2, 3)]),
    "multiply.reduce": (lambda m, x: m.multiply.reduce(x), [(3, 2)]),
    "logaddexp.reduce": (lambda m, x: m.logaddexp.reduce(x, axis=-1), [(2, 3)]),
    "logaddexp.reduce keepdims": (lambda m, x: m.logaddexp.reduce(3 * x, axis=0, keepdims=True), [(2, 3)]),
    "maximum.reduce": (lambda m, x: m.maximum.reduce(x, axis=1), [(2, 3)]),
    "subtract.reduce": (lambda m, x: m.subtract.reduce(x, axis=0), [(3, 2)]),
    "add.accumulate": (lambda m, x: m.add.accumulate(x, axis=1), [(2, 3)]),
    "multiply.accumulate": (lambda m, x: m.multiply.accumulate(x), [(3, 2)]),
    "multiply.outer": (lambda m, x, y: m.multiply.outer(x, y), [(2,), (2, 3)]),
    "subtract.outer": (lambda m, x, y: m.subtract.outer(x, y), [(3,), (2,)]),
    "sum where initial": (lambda m, x: m.sum(x, axis=1, where=I([True, False, True]), initial=1.5), [(2, 3)]),
    "prod where": (lambda m, x: m.prod(x, axis=0, where=I([[True], [False], [True]])), [(3, 2)]),
    "max where initial": (lambda m, x: m.max(x, axis=1, where=I([True, False, True]), initial=-0.5), [(2, 3)]),
    "min initial": (lambda m, x: m.min(x, initial=0.25), [(2, 3)]),
    "mean where": (lambda m, x: m.mean(x, axis=0, where=I([[True, False], [True, True]])), [(2, 2)]),
    "var where": (lambda m, x: m.var(x, axis=1, where=I([True, True, False, True])), [(2, 4)]),
    # statistics
    "quantile": (lambda m, x: m.quantile(x, 0.3), [(2, 5)]),
    "quantile q array axis": (lambda m, x: m.quantile(x, np.array([0.1, 0.5, 1.0]), axis=1, keepdims=True),
                              [(2, 5)]),
    "quantile methods": (lambda m, x: [m.quantile(x, 0.4, axis=0, method=k) for k in
                                       ("lower", "higher", "nearest", "midpoint")], [(5, 2)]),
    "percentile": (lambda m, x: m.percentile(x, np.array([25.0, 75.0]), axis=-1), [(3, 4)]),
    "nanquantile": (lambda m, x: m.nanquantile(m.where(NANS, m.nan, x), 0.6, axis=1), [(2, 5)]),
    "nanpercentile": (lambda m, x: m.nanpercentile(m.where(NANS, m.nan, x), 40.0), [(2, 5)]),
    "nanmedian": (lambda m, x: m.nanmedian(m.where(NANS, m.nan, x), axis=1), [(2, 5)]),
    "nanmax nanmin": (lambda m, x: [m.nanmax(m.where(NANS, m.nan, x), axis=1),
                                    m.nanmin(m.where(NANS, m.nan, x), axis=0)], [(2, 5)]),
    "nanprod nancumsum nancumprod": (lambda m, x: [m.nanprod(m.where(NANS, m.nan, x), axis=1),
                                                   m.nancumsum(m.where(NANS, m.nan, x), axis=1),
                                                   m.nancumprod(m.where(NANS, m.nan, x))], [(2, 5)]),
    "nanvar nanstd": (lambda m, x: [m.nanvar(m.where(NANS, m.nan, x), axis=1, ddof=1),
                                    m.nanstd(m.where(NANS, m.nan, x))], [(2, 5)]),
    "cov": (lambda m, x: m.cov(x), [(3, 5)]),
    "cov y ddof": (lambda m, x, y: m.cov(x, y, ddof=0), [(2, 4), (4,)]),
    "cov rowvar bias": (lambda m, x: m.cov(x, rowvar=False, bias=True), [(4, 2)]),
    "cov weights": (lambda m, x, w: m.cov(x, fweights=np.array([1, 2, 1, 3]), aweights=m.exp(w)), [(2, 4), (4,)]),
    "corrcoef": (lambda m, x: m.corrcoef(x), [(3, 5)]),
    # more building, choosing, scans, polynomials
    "broadcast_arrays": (lambda m, x, y: m.broadcast_arrays(x, y), [(2, 1), (3,)]),
    "block": (lambda m, x, y, z: m.block([[x, y], [z, 2.0 * z[:, :1]]]), [(2, 2), (2, 1), (1, 2)]),
    "diagflat": (lambda m, x: m.diagflat(x, 1), [(2, 2)]),
    "vander": (lambda m, x: m.vander(x, 4), [(3,)]),
    "vander increasing": (lambda m, x: m.vander(x, increasing=True), [(3,)]),
    "matrix_transpose": (lambda m, x: m.matrix_transpose(x), [(2, 3, 4)]),
    "rollaxis": (lambda m, x: m.rollaxis(x, 2, 0), [(2, 3, 4)]),
    "resize": (lambda m, x: m.resize(x, (3, 3)), [(2, 2)]),
    "choose": (lambda m, x, y: m.choose(I([[0, 1, 2], [2, 1, 0]]), [x, y, 0.5], mode="clip"), [(2, 3), (3,)]),
    "compress": (lambda m, x: m.compress(I([True, False, True]), x, axis=1, **_size(m, 2)), [(2, 3)]),
    "extract": (lambda m, x: m.extract(I([[1, 0, 1], [0, 0, 1]]), x, **_size(m, 3)), [(2, 3)]),
    "cumulative_sum": (lambda m, x: m.cumulative_sum(x, axis=1, include_initial=True), [(2, 3)]),
    "cumulative_prod": (lambda m, x: m.cumulative_prod(x), [(4,)]),
    "unwrap": (lambda m, x: m.unwrap(4.0 * x), [(6,)]),
    "bincount weights": (lambda m, x: m.bincount(I([0, 2, 2, 4]), weights=x, minlength=6,
                                                  **({"length": 6} if m is jnp else {})), [(4,)]),
    "modf": (lambda m, x: m.modf(3.0 * x), [(5,)]),
    "ldexp": (lambda m, x: m.ldexp(x, I([1, -2, 3])), [(3,)]),
    "polyadd polysub": (lambda m, p, q: [m.polyadd(p, q), m.polysub(q, p)], [(4,), (2,)]),
    "polymul": (lambda m, p, q: m.polymul(p, q), [(3,), (2,)]),
    "polyder polyint": (lambda m, p: [m.polyder(p, 2), m.polyint(p, 2, k=np.array([1.0, -0.5]))], [(4,)]),
    "polyfit": (lambda m, x, y: m.polyfit(x, y, 2), [XP, (5,)]),
    "poly": (lambda m, r: m.poly(r), [(3,)]),
    "polydiv": (lambda m, u, v: [m.polydiv(u, v)[0], m.polydiv(u, v)[1][-1:]], [(4,), (2,)]),  # JAX keeps zeros
    "apply_along_axis": (lambda m, x: m.apply_along_axis(lambda v: m.outer(v, m.sin(v)), 1, x), [(2, 3)]),
    "apply_over_axes": (lambda m, x: m.apply_over_axes(m.sum, x ** 2, [0, 2]), [(2, 3, 2)]),
    "row_stack": (lambda m, x, y: (m.row_stack if m is not jnp else m.vstack)([x, y]), [(3,), (2, 3)]),
    "i0": (lambda m, x: m.log(m.i0(4.5 * x)), [(2, 3)]),  # both branches (|x| above and below 8); log: float32
    "vectorize": (lambda m, x, y: _r(m).vectorize(lambda v, w: m.sin(v) * w + v ** 2)(x, y), [(2, 3), (3,)]),
    "polyfit weights": (lambda m, x, y, w: m.polyfit(x, y, 1, w=m.exp(w)), [XP, (5, 2), (5,)]),
}
NANS = np.array([[False, True, False, False, True], [False, False, False, False, False]])


def _operands(spec, k):
    return np.asarray(spec, np.float64) if isinstance(spec, np.ndarray) else _u(*spec, seed=k)


def _case_inputs(case):
    f, specs = CASES[case]
    return _inputs(f, tuple(_operands(s, k) for k, s in enumerate(specs)))


@pytest.mark.parametrize("case", list(CASES))
def test_composite_matches_jax(case):
    inputs = _case_inputs(case)
    check(CASES[case][0], inputs, _jax(_jax_any, CASES[case][0], inputs))


VMAPPED = ["i0", "vectorize", "poly", "apply_along_axis", "block", "vander", "choose", "unwrap", "polyfit weights",
           "polymul", "resize", "cumulative_sum", "quantile q array axis", "nanquantile", "cov weights", "corrcoef",
           "nanvar nanstd", "diff prepend append", "gradient coordinates", "trapezoid x", "interp",
           "interp left right", "polyval", "convolve same longer v", "correlate full", "cross 2 and 3", "select",
           "insert indices axis", "linspace", "geomspace", "r_", "logaddexp.reduce", "add.accumulate",
           "max where initial", "var where", "ediff1d"]


@pytest.mark.parametrize("case", VMAPPED)
def test_vmap_matches_a_loop(case):
    f, specs = CASES[case]
    xs = [_operands(s, k) for k, s in enumerate(specs)]
    batches = [np.stack([x * (1.0 + 0.25 * b) for b in range(3)]) for x in xs]

    def g(*xs):
        out = f(np, *xs)
        return out if not isinstance(out, (list, tuple)) else dnp.concatenate([dnp.ravel(o) for o in out])

    want = np.stack([np.asarray(g(*[b[i] for b in batches])) for i in range(3)])
    np.testing.assert_allclose(dr.vmap(g)(*batches), want, rtol=1e-12, atol=1e-12)
    # and per-example derivatives
    scalar = lambda *xs: dnp.sum(dnp.sin(g(*xs)))  # noqa: E731
    want = [dr.grad(scalar, tuple(range(len(xs))))(*[b[i] for b in batches]) for i in range(3)]
    got = dr.vmap(dr.grad(scalar, tuple(range(len(xs)))))(*batches)
    for k in range(len(xs)):
        np.testing.assert_allclose(got[k], np.stack([w[k] for w in want]), rtol=1e-12, atol=1e-12)


def test_results_match_numpy_on_plain_arrays():
    """Without tracers, dnp's value is NumPy's own (the harness compares with JAX, which differs in corners)."""
    for case in CASES:
        f, specs = CASES[case]
        xs = [_operands(s, k) for k, s in enumerate(specs)]
        got, want = f(dnp, *xs), f(np if "r_" not in case and "c_" not in case else np, *xs)
        for g, w in zip(got if isinstance(got, (list, tuple)) else [got],
                        want if isinstance(want, (list, tuple)) else [want]):
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15, err_msg=case)


def test_isclose_and_allclose():
    x = np.array([1.0, 2.0, np.nan, np.inf])
    y = np.array([1.0 + 1e-9, 2.1, np.nan, np.inf])

    def f(x):
        close = np.isclose(x, y, equal_nan=True)
        assert isinstance(close, np.ndarray) and close.tolist() == [True, False, True, True]
        assert np.allclose(x[:1], y[:1]) is True and dnp.allclose(x, y) is False
        return dnp.sum(dnp.where(close, 0.0, x))

    np.testing.assert_array_equal(dr.grad(f)(x), [0.0, 1.0, 0.0, 0.0])
    got = dr.vmap(lambda x: dnp.isclose(x, y))(np.stack([x, y]))
    np.testing.assert_array_equal(got, [np.isclose(x, y), np.isclose(y, y)])


def test_piecewise_sees_only_its_piece():
    """sqrt below zero would be NaN (and so its derivative): NumPy never evaluates it there, nor does dualrev."""
    f = lambda x: dnp.sum(np.piecewise(x, [x >= 0], [np.sqrt, lambda v: -v]))  # noqa: E731
    x = np.array([-1.0, 4.0, 0.25])
    np.testing.assert_allclose(dr.grad(f)(x), [-1.0, 0.25, 1.0])


def test_errors_name_the_function():
    with pytest.raises(TypeError, match="delete: the indices cannot be traced"):
        dr.vmap(lambda i: dnp.delete(np.ones(3), i))(np.array([0, 1]))
    with pytest.raises(ValueError, match="mode must be one of"):
        dnp.convolve(np.ones(3), np.ones(2), mode="bad")
    with pytest.raises(ValueError, match="does not have an identity"):
        dr.grad(lambda x: dnp.sum(np.maximum.reduce(x, where=x > 0)))(np.ones(3))
    with pytest.raises(TypeError, match="reduceat is not supported"):
        dr.grad(lambda x: dnp.sum(np.add.reduceat(x, [0, 1])))(np.ones(3))
    with pytest.raises(TypeError, match="NumPy array cannot hold a traced value"):
        dr.grad(lambda x: np.add.at(np.zeros(3), [0], x))(1.0)


# -- qr(mode="complete") of tall matrices: LAPACK's Householder reflections, so all of Q is NumPy's --


@pytest.mark.parametrize("shape", [(3, 2), (5, 2), (2, 4, 3)])
def test_qr_complete_is_numpys_and_differentiable(shape):
    a = np.random.default_rng(sum(shape)).normal(size=shape)
    weights = np.random.default_rng(1).normal(size=shape[:-1] + (shape[-2],))

    def f(m, a):
        q, r = m.linalg.qr(a, mode="complete")
        return m.sum(m.sin(q) * weights) + m.sum(r ** 3)

    q, r = dr.jvp(lambda a: tuple(np.linalg.qr(a, mode="complete")), (a,), (np.ones(shape),))[0]
    want_q, want_r = np.linalg.qr(a, mode="complete")
    np.testing.assert_allclose(q, want_q, atol=1e-14)
    np.testing.assert_allclose(r, want_r, atol=1e-14)
    g = dr.grad(lambda a: f(np, a))(a)
    fd = np.zeros(shape)
    for i in np.ndindex(shape):
        e = np.zeros(shape)
        e[i] = 1e-6
        fd[i] = (f(np, a + e) - f(np, a - e)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dr.jacfwd(lambda a: f(np, a))(a), g, rtol=1e-12, atol=1e-12)
    h = dr.hessian(lambda a: f(np, a))(a)
    np.testing.assert_allclose(h, dr.jacfwd(dr.jacfwd(lambda a: f(np, a)))(a), rtol=1e-9, atol=1e-9)
    batch = np.stack([a, 2 * a])
    np.testing.assert_allclose(dr.vmap(dr.grad(lambda a: f(np, a)))(batch),
                               [dr.grad(lambda a: f(np, a))(b) for b in batch], rtol=1e-12, atol=1e-12)
    g32 = dr.grad(lambda a: f(np, a))(a.astype(np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g, rtol=1e-3, atol=1e-3)
