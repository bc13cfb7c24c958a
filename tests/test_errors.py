"""Bad input raises early and clearly; nothing is lost or corrupted (levels, threads, memory, inputs)."""

import gc
import threading
import tracemalloc

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import core


def test_grad_of_non_scalar_output():
    with pytest.raises(TypeError, match=r"grad\(<lambda>\).*scalar.*shape \(3,\)"):
        dr.grad(lambda x: x * 2.0)(np.ones(3))


# (complex inputs are differentiated as JAX does: tests/test_complex.py)
@pytest.mark.parametrize("bad", [3, True, np.arange(3), np.ones(2, bool)])
def test_non_float_inputs_are_rejected_with_their_dtype(bad):
    with pytest.raises(TypeError, match="argument 0 .*dtype"):
        dr.grad(lambda x: dnp.sum(x))(bad)


def test_non_array_outputs_are_rejected():
    with pytest.raises(TypeError, match="returned a str"):
        dr.grad(lambda x: "hello")(1.0)
    with pytest.raises(TypeError, match="returned a object"):
        dr.jvp(lambda x: object(), (1.0,), (1.0,))


def test_writing_a_tracer_into_a_numpy_array_raises():
    def assign(x):
        a = np.zeros(2)
        a[0] = x
        return dnp.sum(a)

    with pytest.raises((TypeError, ValueError)) as info:  # NumPy turns the refusal into its own ValueError
        dr.grad(assign)(1.0)
    # ... whose cause, printed first in the traceback, says what happened and what to write instead
    assert "NumPy array cannot hold a traced value" in str(info.value.__cause__ or info.value)
    assert "np.zeros_like(x)" in str(info.value.__cause__ or info.value)
    assert "np.zeros(n, like=x)" in str(info.value.__cause__ or info.value)

    def fill(x):
        a = np.zeros(3)
        a[:] = x
        return dnp.sum(a)

    with pytest.raises(TypeError, match="cannot hold a traced value"):
        dr.grad(fill)(np.ones(3))
    with pytest.raises(TypeError, match="cannot hold a traced value"):
        dr.grad(lambda x: dnp.sum(np.add(np.zeros(3), x, out=np.zeros(3))))(np.ones(3))


@pytest.mark.parametrize("convert", [float, np.asarray, np.array, lambda x: x.item(), lambda x: x.tolist()])
def test_converting_a_tracer_to_a_plain_value_raises(convert):
    with pytest.raises(TypeError, match="derivative"):
        dr.grad(lambda x: convert(x) * 2.0)(1.0)


def test_in_place_assignment_works():  # NumPy's semantics, see tests/test_numpy_inplace.py
    def f(x):
        x[0] = 1.0
        return dnp.sum(x)

    np.testing.assert_array_equal(dr.grad(f)(np.ones(3)), [0.0, 1.0, 1.0])


def test_unsupported_numpy_function_is_named_at_trace_time():
    with pytest.raises(TypeError, match="numpy.roots"):
        dr.grad(lambda x: dnp.sum(np.roots(x).real))(np.ones(4))
    with pytest.raises(TypeError, match="numpy.add.reduceat"):
        dr.grad(lambda x: np.add.reduceat(x, [0, 2]))(np.ones(4))
    with pytest.raises(TypeError, match="out"):
        dr.grad(lambda x: dnp.sum(np.sin(x, out=np.empty(4))))(np.ones(4))


def test_leaked_tracer_raises_when_used():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2.0

    dr.grad(f)(1.0)
    with pytest.raises(dr.LeakedTracerError, match="leaked"):
        leaked[0] + 1.0
    with pytest.raises(dr.LeakedTracerError):
        dr.grad(lambda y: y * leaked[0])(2.0)
    dr.jvp(f, (1.0,), (1.0,))
    with pytest.raises(dr.LeakedTracerError):
        dnp.sin(leaked[1])
    with pytest.raises(dr.LeakedTracerError):
        dr.grad(lambda y: leaked[1])(1.0)  # returning a dead tracer


def test_exception_inside_a_transform_leaves_no_level_behind():
    def bad(x):
        dr.grad(lambda y: y * x)(1.0)
        raise RuntimeError("boom")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            dr.jvp(bad, (1.0,), (1.0,))
    assert core._state.stack == []
    assert dr.grad(lambda x: x * x)(3.0) == 6.0


def test_callers_inputs_are_never_mutated():
    x = np.array([1.0, -2.0, 3.0])
    params = {"w": x.copy()}
    before = x.copy()
    dr.hessian(lambda x: dnp.sum(x[np.array([0, 0])] ** 3) + dnp.sum(dnp.maximum(x, 0.0) * x))(x)
    dr.grad(lambda p: dnp.sum(p["w"] ** 2))(params)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(params["w"], before)


def test_threads_give_the_same_results_as_one_at_a_time():
    W = np.random.default_rng(0).standard_normal((20, 20))
    f = lambda x: dnp.sum(dnp.tanh(W @ x) ** 2)
    xs = [np.random.default_rng(i).standard_normal(20) for i in range(8)]
    expected = [dr.hessian(f)(x) for x in xs]
    results = [None] * len(xs)
    barrier = threading.Barrier(len(xs))

    def work(i):
        barrier.wait()
        for _ in range(3):
            results[i] = (dr.hessian(f)(xs[i]), dr.grad(f)(xs[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (H, g), H0, x in zip(results, expected, xs):
        np.testing.assert_array_equal(H, H0)
        np.testing.assert_allclose(g, dr.grad(f)(x))


def test_tape_intermediates_are_released_after_the_backward_pass():
    def f(x):
        for _ in range(20):
            x = dnp.tanh(x) * 1.01  # every step keeps a 1 MB intermediate on the tape
        return dnp.sum(x)

    x = np.random.default_rng(0).standard_normal(125_000)
    dr.grad(f)(x)  # warm-up
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    g = dr.grad(f)(x)
    peak = tracemalloc.get_traced_memory()[1]
    del g
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert peak - base > 20e6  # the tape did hold the intermediates
    assert after - base < 1e6  # and they are gone


def test_vjp_outputs_are_plain_values_not_tracers():
    out, f_vjp = dr.vjp(lambda x: (x * 2.0, dnp.sum(x)), np.ones(2))
    assert all(not isinstance(o, core.Tracer) for o in out)
    assert not isinstance(f_vjp((np.ones(2), np.float64(1.0)))[0], core.Tracer)


def test_ndarray_dot_of_a_traced_value_names_the_way_out():
    A = np.ones((4, 3))
    with pytest.raises(TypeError, match=r"write A @ x or np.dot\(A, x\)"):
        dr.grad(lambda w: A.dot(w).sum())(np.arange(3.0))
