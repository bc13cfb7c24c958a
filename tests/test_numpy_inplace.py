"""In-place writes on traced arrays (dualrev/numpy/inplace.py): NumPy programs that write into arrays, run
unmodified under every transform.

Each program is plain NumPy code. It runs on NumPy arrays for the value NumPy computes (views included), and on
traced values under jvp, jacfwd, jacrev, hessian and vmap: the values must be NumPy's, and the derivatives must agree
with each other and with central finite differences of the NumPy program. The first program is also checked against
its functional JAX equivalent (``x.at[idx].set(v)``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp

jax.config.update("jax_enable_x64", True)

MASK = np.array([True, False, True, True])


def issue_example(x):
    y = x.copy()
    y[1] = x[0] * 3
    y[MASK] += x[:2].sum()
    x += 1.5 * y
    x *= 2
    out = np.zeros_like(x)
    out[1:] = x[:-1] ** 2
    return np.sum(out * y) + np.sum(np.sin(x))


def issue_example_jax(x):
    y = x.at[1].set(x[0] * 3)
    y = y.at[MASK].add(x[:2].sum())
    x = (x + 1.5 * y) * 2
    out = jnp.zeros_like(x).at[1:].set(x[:-1] ** 2)
    return jnp.sum(out * y) + jnp.sum(jnp.sin(x))


def write_through_slices(x):
    y = x.copy()
    v = y[1:]  # a view: writes through it change y, and writes to y change it
    v[0] = 5 * x[0]
    w = y.reshape(2, 2)  # a view too
    y[3] = x[2] ** 3
    v[::2] *= x[3]
    return np.sum(y * np.arange(4.0)) + np.sum(w[1] * x[:2]) + np.sum(v ** 2)


def transposes_and_copies(x):
    y = x.reshape(2, 2).copy()
    a = y.T  # a view
    a[0, 1] = x[3] ** 2
    r = y.T.reshape(-1)  # a copy: NumPy cannot lay a transposed array out flat as a view
    r[0] = 100.0 * x[1]
    f = np.flip(y, 0)  # a view
    f[0, 0] += 3.0 * x[0]
    return np.sum(y * r.reshape(2, 2)) + np.sum(np.cos(f))


def recurrence(x):
    y = np.zeros_like(x)
    y[0] = x[0]
    for i in range(1, len(x)):
        y[i] = y[i - 1] * x[i] + np.sin(y[i - 1])
    return np.sum(y ** 2)


def rows_and_splits(x):
    m = np.outer(x, x[::-1])
    for row in m:  # rows are views: the loop changes m
        row *= 0.5
        row += x
    a, b = np.split(m, 2)  # views
    a[:] = b ** 2
    z = m[...]  # a view of all of m
    z -= np.tanh(m)
    np.multiply(m, 2.0, out=m)
    np.exp(m[0], out=m[0])  # out= a view
    return np.sum(m * np.arange(16.0).reshape(4, 4))


def views_of_views(x):
    y = x * np.array([1.0, 2.0, 3.0, 4.0])
    v = y[1:]
    w = v[::2]  # y[1] and y[3]
    w[0] = x[0] * x[1]
    y[3] += 7.0
    s = y[2:3]
    s /= x[3] + 3.0
    return np.sum(v * np.sin(w[1])) + np.sum(y) * s[0]


def aliases_and_inputs(x):
    alias = x  # the same array: a write through either name changes both
    alias[0] = alias[1] * x[2]
    x **= 2  # the function's own input, written in place
    x[[1, 1, 2]] = x[3]  # repeated integer indices: the last write wins
    return np.sum(alias * np.array([1.0, -2.0, 3.0, 0.5]))


def numpy_writing_functions(x):
    m = np.outer(x, x) + np.eye(4)
    np.fill_diagonal(m, x ** 2)
    np.put(m, [1, 6, -1], [x[0], 2.0])  # values repeated, as NumPy does
    np.place(m, np.arange(16).reshape(4, 4) % 3 == 1, np.sin(x[:3]))
    np.putmask(m, m < -0.2, x[3] * np.arange(16.0))
    np.put_along_axis(m, np.array([[0], [2], [1], [3]]), x[:, None] * 3.0, axis=1)
    np.copyto(m, np.cos(m), where=np.eye(4, dtype=bool))
    np.add.at(m, (np.array([0, 0, 3]), np.array([1, 1, 2])), x[1])
    return np.sum(m * np.arange(16.0).reshape(4, 4))


def zero_d_and_steps(x):
    s = np.sum(x, keepdims=True).reshape(())  # a 0-d array
    s += x[0]
    s[...] = s * x[1]
    v = s[...]  # a 0-d view
    v += 1.0
    y = x.copy()
    y[2:2] = 5.0  # an empty selection
    y[::-2] = x[:2] * 3
    w = y[::-1]  # a view, reversed
    w[0] += 1.0
    e = y[None]  # views with new axes
    e[0, 1] = x[3] ** 2
    f = y[..., None]
    f[2, 0] -= x[0]
    return s + v + np.sum(y * np.arange(4.0)) + np.sum(w) + np.sum(e) + np.sum(f)


def indices_through_views(x):
    m = np.outer(x, x)
    r = m[1:, ::2]
    r[[0, 2], [1, 0]] = x[:2]  # integer arrays through a view
    r[1] = x[2:]
    c = m[:, 2]
    c[np.array([True, False, True, False])] = x[1]  # a mask through a view
    flat = m.ravel()  # a view of a contiguous array
    flat[5] = 100 * x[0]
    g = m.T.reshape(-1)  # a copy
    g[0] = 7.0
    s = m.reshape(2, 8)
    s[1, ::3] = x[1]
    return np.sum(m * np.arange(16.0).reshape(4, 4)) + np.sum(g)


PROGRAMS = [issue_example, numpy_writing_functions, write_through_slices, transposes_and_copies, recurrence,
            rows_and_splits, views_of_views, zero_d_and_steps, indices_through_views,
            aliases_and_inputs]
X = np.array([0.3, -1.2, 0.9, 0.7])


def numpy_value(f, x):
    return f(np.array(x, copy=True))  # the program may write into its input


def finite_differences(f, x, h=1e-6):
    return np.array([(numpy_value(f, x + h * e) - numpy_value(f, x - h * e)) / (2 * h) for e in np.eye(len(x))])


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_values_are_numpys_and_derivatives_agree(f):
    x = X.copy()
    want = numpy_value(f, x)
    value, tangent = dr.jvp(f, (x,), (np.ones(4),))
    np.testing.assert_allclose(value, want, rtol=1e-13)
    np.testing.assert_array_equal(x, X)  # a transform never writes into the caller's array
    g = dr.grad(f)(x)
    np.testing.assert_allclose(g, finite_differences(f, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dr.jacfwd(f)(x), g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tangent, g.sum(), rtol=1e-12)
    h = dr.hessian(f)(x)
    np.testing.assert_allclose(h, dr.jacrev(dr.jacrev(f))(x), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(h, dr.jacfwd(dr.jacfwd(f))(x), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(h, np.array([(dr.grad(f)(x + 1e-6 * e) - dr.grad(f)(x - 1e-6 * e)) / 2e-6
                                            for e in np.eye(4)]), rtol=1e-5, atol=1e-5)
    xs = X * np.array([[1.0], [0.5], [-1.5]])
    np.testing.assert_allclose(dr.vmap(f)(xs), [numpy_value(f, r) for r in xs], rtol=1e-13)
    np.testing.assert_allclose(dr.vmap(dr.grad(f))(xs), [dr.grad(f)(r) for r in xs], rtol=1e-12, atol=1e-12)


def test_issue_example_matches_jax_functional_code():
    x = X.copy()
    np.testing.assert_allclose(dr.grad(issue_example)(x), jax.grad(issue_example_jax)(x), rtol=1e-12)
    np.testing.assert_allclose(dr.hessian(issue_example)(x), jax.hessian(issue_example_jax)(x), rtol=1e-12)
    xs = X * np.array([[1.0], [-0.5]])
    np.testing.assert_allclose(dr.vmap(dr.grad(issue_example))(xs), jax.vmap(jax.grad(issue_example_jax))(xs),
                               rtol=1e-12)


def test_float32_stays_float32():
    x = X.astype(np.float32)
    for f in PROGRAMS:
        g = dr.grad(lambda x, f=f: f(x).astype(np.float32))(x)
        assert g.dtype == np.float32, f.__name__
        np.testing.assert_allclose(g, dr.grad(f)(X), rtol=2e-3, atol=2e-3)


def test_copies_are_new_arrays():
    def f(x):
        copies = [x.copy(), np.copy(x), dnp.copy(x), dnp.array(x), +x]
        for c in copies:
            c[0] = 10.0
        return np.sum(x) + sum(c[1] for c in copies)

    np.testing.assert_allclose(dr.grad(f)(np.ones(3)), [1.0, 6.0, 1.0])


def test_read_only_views_raise_as_in_numpy():
    for view in (lambda a: np.diagonal(a), lambda a: np.broadcast_to(a[0], (3, 3))):
        def write(a, view=view):
            view(a)[0] = 1.0
            return np.sum(a)

        with pytest.raises(ValueError, match="read-only"):
            write(np.ones((3, 3)))
        with pytest.raises(ValueError, match="read-only"):
            dr.grad(write)(np.ones((3, 3)))


def test_in_place_operator_shape_and_dtype_errors():
    def grow(x):
        x += np.ones((2, 3))
        return np.sum(x)

    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        grow(np.ones(3))
    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        dr.grad(grow)(np.ones(3))

    def to_int(i, x):
        i += x
        return np.sum(i)

    with pytest.raises(TypeError, match="same_kind"):
        dr.vmap(to_int)(np.arange(3), np.ones(3))


def test_written_values_take_the_arrays_dtype():
    def f(x):
        y = np.zeros_like(x)
        y[0] = np.float64(2.0) * x[0]  # a float64 value into a float32 buffer stays float32, as in NumPy
        y[1:] = 1
        return np.sum(y * x)

    g = dr.grad(f)(np.ones(3, np.float32))
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, [4.0, 1.0, 1.0])


def test_traced_buffers_of_another_shape():
    def f(x):
        out = dnp.zeros_like(x, shape=(2, 3))
        out[0, 1] = x
        out[1] = np.full_like(x, 2.0) * x ** 2
        return np.sum(out)

    np.testing.assert_allclose(dr.grad(f)(1.5), 1.0 + 3 * 2 * 2.0 * 1.5)
    assert np.zeros_like(np.ones(2)).__class__ is np.ndarray  # no tracer: plain NumPy


def test_writing_an_inner_value_into_an_outer_array():
    def outer(x):
        y = x.copy()

        def inner(z):
            y[0] = z * x[1]  # y is traced by the outer grad, z by the inner one
            return np.sum(y)

        return dr.grad(inner)(x[0])

    with pytest.raises(TypeError, match="nested inside"):
        dr.jvp(outer, (np.ones(2),), (np.ones(2),))
    # the same class of tracer at both levels: y becomes a value of the inner level, as in NumPy, and cannot leak
    # out of it unnoticed
    np.testing.assert_array_equal(dr.grad(outer)(np.array([1.0, 3.0])), [0.0, 1.0])


def test_graph_shows_the_functional_updates():
    text = str(dr.make_graph(issue_example)(X))
    assert "scatter_add" in text and "where" in text


def test_in_place_methods_and_masked_out():
    def f(x):
        y = x.copy()
        y.sort()  # in place, as ndarray.sort
        z = np.empty_like(x)
        z.fill(0.5)
        z.put([0, 3], y[:2] * 2.0)
        np.multiply(x, y, out=z, where=np.array([True, False, True, False]))
        w = x.copy()
        w.partition(2)
        return np.sum(z * np.arange(4.0)) + w[2]

    x = np.array([0.3, -1.2, 2.0, 0.7])
    np.testing.assert_allclose(dr.jvp(f, (x,), (np.ones(4),))[0], numpy_value(f, x), rtol=1e-14)
    np.testing.assert_allclose(dr.grad(f)(x), finite_differences(f, x), rtol=1e-6, atol=1e-6)


def test_buffers_made_like_a_traced_value():
    def f(x):
        y = np.zeros(3, like=x)  # NumPy's like= protocol: the traced x makes the array
        y[0] = x ** 2
        y[1:] = np.array([x, 1.0], like=x) * 2
        z = np.full((2,), 0.5, like=x)
        z[1] = x
        return np.sum(y) + np.sum(z) + np.sum(np.asarray([x, x], like=x))

    assert dr.grad(f)(1.5) == 2 * 1.5 + 2 + 1 + 2
    np.testing.assert_allclose(dr.vmap(dr.grad(f))(np.array([1.0, 2.0])), [7.0, 9.0])
    assert dr.hessian(f)(1.5) == 2.0
    assert type(np.zeros(3)) is np.ndarray and type(dnp.zeros(3)) is np.ndarray


def test_masks_that_differ_between_examples_under_vmap():
    def f(x):
        y = x.copy()
        y[y < 0] = 0.0  # a where, example by example
        m = np.outer(y, x)
        r = m[1:]
        r[r > 0.1] = x[0]  # through a view
        return np.sum(m * np.arange(16.0).reshape(4, 4))

    xs = np.stack([X, -X, 2 * X])
    np.testing.assert_allclose(dr.vmap(f)(xs), [numpy_value(f, r) for r in xs], rtol=1e-14)
    np.testing.assert_allclose(dr.vmap(dr.grad(f))(xs), [dr.grad(f)(r) for r in xs], rtol=1e-14)
    with pytest.raises(TypeError, match="takes one value"):
        dr.vmap(lambda x: np.sum(x.__setitem__(x > 0, x[:2]) or x))(xs)
