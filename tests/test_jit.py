"""dr.jit: compiled functions give eager dualrev's values (every primitive spec, random programs, composed
transforms), each optimisation pass does what it claims, guards retrace where a traced branch flips, and errors,
pickling and threads behave as for eager functions."""

from __future__ import annotations

import concurrent.futures
import linecache
import math
import pickle
import traceback
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_primitives import SPECS
from test_programs import build, programs

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import compile as drc
from dualrev.core import PRIMITIVES, LeakedTracerError
from dualrev.tree_util import tree_leaves

TOL = {np.dtype(np.float64): (1e-12, 1e-12), np.dtype(np.float32): (1e-5, 1e-5), np.dtype(np.float16): (1e-3, 1e-3)}


def assert_same(got, want, what=""):
    """Same structure, dtypes and shapes; values to 1e-12 (float64) / 1e-5 (float32)."""
    g_leaves, w_leaves = tree_leaves(got), tree_leaves(want)
    assert len(g_leaves) == len(w_leaves), what
    for g, w in zip(g_leaves, w_leaves):
        assert np.shape(g) == np.shape(w), what
        w = np.asarray(w)
        g = np.asarray(g)
        assert g.dtype == w.dtype, f"{what}: dtype {g.dtype} != {w.dtype}"
        if w.dtype.kind in "fc":
            rtol, atol = TOL.get(w.dtype, (1e-12, 1e-12))
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=what)
        else:
            np.testing.assert_array_equal(g, w, err_msg=what)


def code_of(source: str) -> str:
    """Generated source without its comments (which quote the user's lines)."""
    return "\n".join(line.split("#")[0] for line in source.splitlines())


def weights(shape, seed=0):
    n = math.prod(shape)
    return (np.cos(np.arange(n) + seed) + 1.5).reshape(shape)


def loss_of(fun):
    """A scalar of every float output of fun, weighted so that no derivative is trivially uniform."""
    def loss(*xs):
        out = fun(*xs)
        total = 0.0
        for k, o in enumerate(out if isinstance(out, tuple) else (out,)):
            total = total + dnp.sum(o * weights(np.shape(o), k))
        return total

    return loss


def compare(fun, xs, what):
    """fun, compiled, twice (trace, then the cached code), against fun eagerly."""
    want = fun(*xs)
    jitted = dr.jit(fun)
    assert_same(jitted(*xs), want, f"{what} (first call)")
    assert_same(jitted(*xs), want, f"{what} (cached)")
    return jitted


# -- every primitive, and its first and second derivatives --


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=3)
@given(data=st.data())
def test_every_primitive_through_jit(name, data):
    spec, prim = SPECS[name], PRIMITIVES[name]
    operands, params = data.draw(spec.operands, label="operands, params")
    dtypes = [np.float64, np.float32] if name not in ("astype",) else [np.float64]
    for dtype in dtypes:
        xs = tuple(np.asarray(x).astype(dtype) for x in operands)

        def f(*xs):
            return spec.call(prim, *xs, **params)

        compare(f, xs, f"{name} {np.dtype(dtype).name} value")
        if spec.nondiff:
            continue
        argnums = tuple(range(len(xs)))
        loss = loss_of(f)
        compare(dr.grad(loss, argnums), xs, f"{name} grad")
        if dtype == np.float64:
            compare(dr.hessian(loss, argnums), xs, f"{name} hessian")


@settings(max_examples=15)
@given(programs(), st.integers(0, 2**32 - 1))
def test_random_programs_through_jit(program, seed):
    steps, xs = program
    xs = tuple(xs)
    rng = np.random.default_rng(seed)
    f = build(steps, dnp, rng.standard_normal((xs[0].shape[-1], 3)))
    argnums = tuple(range(len(xs)))
    compare(f, xs, "value")
    compare(dr.grad(f, argnums), xs, "grad")
    compare(dr.hessian(f, argnums), xs, "hessian")
    vs = tuple(rng.standard_normal(x.shape) for x in xs)
    compare(lambda *xs: dr.hvp(f, xs, vs), xs, "hvp")


# -- composition in both directions --


def rosen(x):
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


X = np.linspace(-1.2, 1.4, 6)


@pytest.mark.parametrize("make", [
    lambda: dr.grad(rosen), lambda: dr.hessian(rosen), lambda: dr.jacrev(dr.grad(rosen)),
    lambda: dr.jacfwd(dr.grad(rosen)), lambda: (lambda x: dr.hvp(rosen, (x,), (np.ones_like(x),))),
    lambda: dr.vmap(lambda v: dr.hvp(rosen, (X,), (v,))), lambda: dr.value_and_grad(rosen),
    lambda: (lambda x: dr.jvp(rosen, (x,), (np.sin(x),))), lambda: dr.vmap(dr.grad(rosen)),
], ids=["grad", "hessian", "jacrev", "jacfwd", "hvp", "vmap_hvp", "value_and_grad", "jvp", "vmap_grad"])
def test_jit_of_transforms(make):
    fun = make()
    x = np.stack([X, X[::-1], np.cos(X)]) if getattr(fun, "__name__", "").startswith("vmap") else X
    compare(fun, (x,), "jit of a transform")


def test_transforms_of_jit():
    jr = dr.jit(rosen)
    assert_same(dr.grad(jr)(X), dr.grad(rosen)(X))
    assert_same(dr.hessian(jr)(X), dr.hessian(rosen)(X))
    xs = np.stack([X, np.cos(X)])
    assert_same(dr.vmap(jr)(xs), dr.vmap(rosen)(xs))
    assert_same(dr.vmap(dr.grad(jr))(xs), dr.vmap(dr.grad(rosen))(xs))
    jg = dr.jit(dr.grad(rosen))
    assert_same(dr.jacfwd(jg)(X), dr.hessian(rosen)(X))
    assert_same(jr(X), rosen(X))  # and it still compiles at the top level


def test_jit_inside_jit_and_closures_over_outer_tracers():
    inner = dr.jit(lambda x: dnp.sin(x) * 2.0)
    outer = dr.jit(lambda x: dnp.sum(inner(x) ** 2))
    assert_same(outer(X), dnp.sum((np.sin(X) * 2.0) ** 2))

    def f(x):  # jit called under grad with a closure over grad's tracer: traced through, derivative kept
        g = dr.jit(lambda y: dnp.sum(y * x))
        return g(np.ones(6))

    assert_same(dr.grad(f)(X), np.ones(6))


def test_custom_rules_and_checkpoint_traced_through():
    @dr.custom_jvp
    def softplus(x):
        return dnp.log(1.0 + dnp.exp(x))

    @softplus.defjvp
    def softplus_jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return softplus(x), dx / (1.0 + dnp.exp(-x))

    @dr.custom_vjp
    def clip_grad(x):
        return x

    clip_grad.defvjp(lambda x: (x, None), lambda res, ct: (dnp.clip(ct, -1.0, 1.0),))
    layer = dr.checkpoint(lambda x: dnp.tanh(x) * 3.0)

    def f(x):
        return dnp.sum(softplus(layer(clip_grad(x))) ** 2)

    for g in (f, dr.grad(f), dr.hessian(f)):
        jg = compare(g, (X,), "custom rules")
        src = jg.source(X)
        code = code_of(src)
        assert "custom" not in code and "checkpoint" not in code  # traced through to NumPy calls


# -- the passes, each on its own --


def record(fun, *args):
    """The raw recording of fun (before the passes): (body, outputs)."""
    trace_box = {}

    class Spy(drc.Jitted):
        pass

    orig = drc.optimize

    def keep(body, outputs):
        trace_box["raw"] = (list(body), list(outputs))
        return orig(body, outputs)

    drc.optimize = keep
    try:
        dr.jit(fun)(*args)
    finally:
        drc.optimize = orig
    return trace_box["raw"]


def equations(body):
    return [e for e in body if isinstance(e, drc.Equation)]


def test_dead_code_elimination_leaves_no_dead_equation():
    body, outs = record(lambda x: dr.value_and_grad(rosen)(x)[1], X)
    body, outs = drc.eliminate_dead_code(body, outs)
    used = {id(o) for o in outs} | {id(x) for e in body for x in e.inputs}
    for e in equations(body):
        assert any(id(o) in used for o in e.outputs), e
    # a gradient does not need the loss value itself: the final sum is gone
    raw, _ = record(lambda x: dr.grad(rosen)(x), X)
    assert len(equations(body)) < len(equations(raw))


def test_common_subexpression_elimination_leaves_no_duplicate_call():
    # an HVP computes cos(x) twice (forward pass and the rule of sin)
    body, outs = record(lambda x, v: dr.hvp(lambda x: dnp.sum(dnp.sin(x)), (x,), (v,)), X, np.ones(6))
    assert sum(e.prim.name == "cos" for e in equations(body)) >= 2
    body, outs = drc.eliminate_common_subexpressions(body, outs)
    keys = [(e.prim.name, tuple(drc._key(x) for x in e.inputs), drc._key(e.params)) for e in equations(body)]
    assert len(keys) == len(set(keys))
    assert sum(e.prim.name == "cos" for e in equations(body)) == 1
    # 0.0 and -0.0 are different constants
    f = dr.jit(lambda x: (x + 0.0, x + -0.0))
    a, b = f(np.array(-0.0))
    assert not np.signbit(a) and np.signbit(b)


def test_constant_folding_is_bitwise():
    x = drc.Var("x", np.ones(3))
    c = np.array([0.1, 0.7, 2.5])
    out = drc.Var("a", c)
    out2 = drc.Var("b", np.ones(3))
    body = [drc.Equation(PRIMITIVES["sin"], [c], {}, [out]),
            drc.Equation(PRIMITIVES["multiply"], [out, x], {}, [out2])]
    body, outs = drc.fold_constants(body, [out, out2])
    assert len(body) == 1 and body[0].inputs[1] is x
    assert np.sin(c).tobytes() == outs[0].tobytes() == body[0].inputs[0].tobytes()


def test_simplification_is_exact():
    f = dr.jit(lambda x: (x * 1.0, 1 * x, x / 1, x - 0.0, x * 0.0, x + 0.0, np.negative(-x)))
    x = np.array([-0.0, np.inf, np.nan, 2.0])
    with np.errstate(invalid="ignore"):
        got, want = f(x), (x * 1.0, 1 * x, x / 1, x - 0.0, x * 0.0, x + 0.0, np.negative(-x))
    for g, w in zip(got, want):
        assert g.tobytes() == w.tobytes()
    with np.errstate(invalid="ignore"):
        src = code_of(f.source(x))
    assert "* 0.0" in src and "+ 0.0" in src  # never x * 0 -> 0, never x + 0.0 -> x (-0.0 + 0.0 is +0.0)
    assert "* 1.0" not in src and "/ 1" not in src and "- 0.0" not in src
    # a gradient's seed of ones is not multiplied in
    assert "k0 *" not in code_of(dr.jit(dr.grad(lambda x: dnp.sum(dnp.sin(x)))).source(X))


def test_large_values_are_freed_after_their_last_use():
    big = np.linspace(0, 1, 10_000)
    src = dr.jit(dr.grad(lambda x: dnp.sum(dnp.sin(dnp.exp(x)) ** 2))).source(big)
    assert "del " in src


# -- guards --


def branchy(x, y):
    if dnp.sum(x) > 0:  # a user if on a traced value
        z = dnp.abs(x) * y
    else:
        z = dnp.maximum(x, y) ** 2
    return dnp.sum(dnp.where(z > 0.5, z, -z) + x ** y)  # pow: its special points (zeros) without a guard


KINKY = st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, 2.0, -1.5])


@settings(max_examples=40)
@given(hnp.arrays(np.float64, 3, elements=KINKY), hnp.arrays(np.float64, 3, elements=KINKY))
def test_guards_follow_every_branch(x, y):
    x = np.abs(x)  # pow of a negative base is nan
    for fun in (branchy, dr.grad(branchy, (0, 1))):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            want = fun(x, y)
            got = JITTED[fun is branchy](x, y)
        assert_same(got, want)


JITTED = {True: dr.jit(branchy), False: dr.jit(dr.grad(branchy, (0, 1)))}


def test_python_int_loop_bounds_and_int_reads():
    def f(x, n):
        for _ in range(n):
            x = dnp.sin(x)
        return x * int(n)

    jf = dr.jit(f)
    for n in (1, 3, 1, 4, 3):
        assert_same(jf(X, n), f(X, n))
    info = jf.cache_info()
    assert info["variants"] == 3 and info["retraces"] == 2 and info["signatures"] == 1
    g = dr.jit(lambda x: x * float(dnp.sum(x)) + dnp.asarray(x).item(0))
    assert_same(g(X), X * float(np.sum(X)) + X[0])
    assert_same(g(X + 1), (X + 1) * float(np.sum(X + 1)) + X[0] + 1)


def test_variant_limit_warns_once_naming_the_line_then_runs_eagerly():
    def f(x, n):
        return x * int(n)  # the line whose value changes

    jf = dr.jit(f, max_variants=2)
    with pytest.warns(RuntimeWarning, match=r"test_jit.py:\d+ .*return x \* int\(n\)"):  # noqa: PT031
        for n in range(6):
            assert_same(jf(X, n), f(X, n))
    assert jf.cache_info()["eager"] == 1


def test_static_arguments():
    def f(x, mode, *, scale):
        return dnp.tanh(x) * scale if mode == "tanh" else dnp.sin(x) * scale

    jf = dr.jit(f, static_argnums=1, static_argnames="scale")
    assert_same(jf(X, "tanh", scale=2.0), f(X, "tanh", scale=2.0))
    assert_same(jf(X, "sin", scale=3.0), f(X, "sin", scale=3.0))
    assert jf.cache_info()["signatures"] == 2
    with pytest.raises(TypeError, match="static argument 1 is a list"):
        jf(X, [1], scale=1.0)


def test_input_kinds_and_pytrees():
    def f(p, x):
        return {"out": dnp.tanh(p["w"] * x + p["b"]), "n": p["w"] ** 2}

    jf = dr.jit(f)
    def loss(p, x):
        return dnp.sum(f(p, x)["out"])

    cases = [({"w": 2.0, "b": np.float64(0.5)}, X), ({"w": np.array(2.0), "b": 0.5}, 1.5),
             ({"w": np.float32(2.0), "b": np.zeros(6, np.float32)}, X.astype(np.float32)),
             ({"w": 2, "b": 1}, np.array([1.0, 2.0]))]
    jg = dr.jit(dr.grad(loss))
    for p, x in cases:
        assert_same(jf(p, x), f(p, x))
        hits = jf.cache_info()["hits"]
        assert_same(jf(p, x), f(p, x))  # the cached code, found by the pytree fast path
        assert jf.cache_info()["hits"] == hits + 1
        assert jf.source(p, x).startswith("def f(p_b, p_w, x):")
        if not isinstance(p["w"], int):  # integer parameters have no gradient
            assert_same(jg(p, x), dr.grad(loss)(p, x))


# -- errors, source, pickling, threads --


def test_leaked_tracer_and_unsupported_function_errors_match_eager():
    leaked = []

    def keep(x):
        leaked.append(x)
        return x * 2.0

    dr.jit(keep)(X)
    with pytest.raises(LeakedTracerError):
        dr.jit(lambda x: x + leaked[0])(X)

    def unsupported(x):
        return np.nextafter(x, 1.0)  # no derivative rule (see docs/coverage.md)

    with pytest.raises(TypeError) as eager:
        dr.grad(lambda x: dnp.sum(unsupported(x)))(X)
    with pytest.raises(TypeError) as jitted:
        dr.jit(unsupported)(X)
    assert str(jitted.value) == str(eager.value)


def test_source_names_comments_and_tracebacks():
    def model(W, x):
        h = dnp.tanh(W @ x)
        return dnp.sum(h ** 2)

    jg = dr.jit(dr.grad(model))
    W, x = np.ones((3, 4)), np.linspace(0, 1, 4)
    src = dr.jit(model).source(W, x)
    assert "def model(W, x):" in src and "np.tanh(" in src and "h = dnp.tanh(W @ x)" in src
    assert "vjp of tanh" in jg.source(W, x)

    def bad(A):
        return dnp.linalg.inv(A)

    jb = dr.jit(bad)
    jb(np.eye(2))
    with pytest.raises(np.linalg.LinAlgError) as err:
        jb(np.zeros((2, 2)))
    frame = next(f for f in traceback.extract_tb(err.value.__traceback__) if f.filename.startswith("<dr.jit"))
    assert "inv" in linecache.getline(frame.filename, frame.lineno)


def test_pickle_with_cloudpickle():
    cloudpickle = pytest.importorskip("cloudpickle")
    jg = dr.jit(dr.grad(rosen))
    jg(X)
    clone = pickle.loads(cloudpickle.dumps(jg))
    assert clone.cache_info()["variants"] == 0  # compiled code is dropped, rebuilt on use
    assert_same(clone(X), dr.grad(rosen)(X))
    # and in another process, from a function pickled by value
    import os
    import subprocess
    import sys

    blob = cloudpickle.dumps(dr.jit(dr.hessian(lambda x: dnp.sum(dnp.sin(x) ** 3))))
    code = ("import pickle, sys, numpy as np; f = pickle.loads(sys.stdin.buffer.read()); "
            "print(repr(f(np.linspace(0, 1, 3)).tolist()))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(dr.__file__)))
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True, cwd=root,
                         env=dict(os.environ, PYTHONPATH=root)).stdout
    want = dr.hessian(lambda x: dnp.sum(dnp.sin(x) ** 3))(np.linspace(0, 1, 3))
    np.testing.assert_allclose(eval(out), want, rtol=1e-12)


def test_threads_share_one_compiled_function():
    jh = dr.jit(dr.hessian(rosen))
    xs = [X + k / 10 for k in range(16)]
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        got = list(ex.map(jh, xs))
    for g, x in zip(got, xs):
        assert_same(g, dr.hessian(rosen)(x))
    assert jh.cache_info()["signatures"] == 1


# -- dualrev.optimize compiles its derivatives --


def test_optimize_uses_jit_by_default_and_matches_eager():
    from dualrev import optimize

    for method in ("newton", "trust-exact", "newton-cg", "bfgs"):
        a = optimize.minimize(rosen, np.zeros(4), method=method)
        b = optimize.minimize(rosen, np.zeros(4), method=method, jit=False)
        assert a.success and b.success and a.nit == b.nit
        np.testing.assert_allclose(a.x, b.x, rtol=1e-10, atol=1e-12)

    def residual(p, t, y):
        return p[0] * dnp.exp(-p[1] * t) - y

    t = np.linspace(0, 2, 9)
    y = 2.0 * np.exp(-1.3 * t)
    for jac in ("fwd", "rev"):
        a = optimize.least_squares(residual, np.array([1.0, 1.0]), args=(t, y), jac=jac)
        b = optimize.least_squares(residual, np.array([1.0, 1.0]), args=(t, y), jac=jac, jit=False)
        np.testing.assert_allclose(a.x, b.x, rtol=1e-10)
        np.testing.assert_allclose(a.x, [2.0, 1.3], rtol=1e-6)


def test_optimize_falls_back_to_eager_when_guards_keep_failing():
    from dualrev import optimize

    def wobbly(x):  # a Python branch on a value that changes at every iterate
        k = int(1e6 * float(dr.stop_gradient(dnp.sum(x * x)))) % 3
        return rosen(x) * (1.0 + 0.0 * k)

    with pytest.warns(RuntimeWarning, match="keeps changing"):
        res = optimize.minimize(wobbly, np.zeros(3), method="bfgs")
    np.testing.assert_allclose(res.x, optimize.minimize(rosen, np.zeros(3), method="bfgs").x, rtol=1e-10)


def test_first_traces_racing_in_threads_agree():
    jg = dr.jit(dr.grad(branchy, (0, 1)))
    xs = [(np.abs(X[:3]) * s, X[3:] + s) for s in (-1.0, 1.0) * 8]
    def quiet(a):  # NumPy's error state is per thread
        with np.errstate(all="ignore"):
            return jg(*a)

    with concurrent.futures.ThreadPoolExecutor(4) as ex, np.errstate(all="ignore"):
        got = list(ex.map(quiet, xs))
        want = [dr.grad(branchy, (0, 1))(*a) for a in xs]
    for g, w in zip(got, want):
        assert_same(g, w)


def test_in_place_reuse_never_writes_into_a_visible_array():
    def f(x):
        a = dnp.exp(x)          # a fresh array...
        view = a.T              # ...seen through a view: never written in place
        b = dnp.sin(x) * 2.0    # a fresh array read only by ufuncs: its memory is reused
        c = b + 1.0
        return view, c * 3.0, x

    x = np.linspace(0, 1, 600).reshape(20, 30)
    jf = compare(f, (x,), "in place")
    assert "out=" in code_of(jf.source(x))
    out = jf(x)
    assert out[2] is x and np.array_equal(x, np.linspace(0, 1, 600).reshape(20, 30))


def test_data_dependent_indices_are_guarded():
    def f(x):
        return dnp.sum(x[x > 0.5] ** 2) + x[dnp.argmax(x)]

    jf, jg = dr.jit(f), dr.jit(dr.grad(f))
    for x in (X, X[::-1], X - 0.3, X):
        assert_same(jf(x), f(x))
        assert_same(jg(x), dr.grad(f)(x))
    assert jf.cache_info()["retraces"] >= 1


def test_peak_memory_not_above_the_eager_lean_tape():
    import tracemalloc

    def f(x):
        for _ in range(12):
            x = dnp.tanh(x) * 1.1 + 0.1
        return dnp.sum(x ** 2)

    x = np.linspace(-1, 1, 50_000)
    g = dr.grad(f)
    jg = dr.jit(g)
    jg(x)
    peaks = []
    for fn in (g, jg):
        tracemalloc.start()
        fn(x)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] <= peaks[0], f"jit peak {peaks[1]} bytes > eager {peaks[0]}"
