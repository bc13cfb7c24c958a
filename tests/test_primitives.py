"""Every primitive in ``dualrev.core.PRIMITIVES`` checked against JAX: values, first and second derivatives.

``SPECS`` has one entry per primitive: the function it must agree with (JAX for differentiable primitives, NumPy for
the others), a hypothesis strategy that draws its float operands (shapes, values inside its domain) together with
its parameters, and, where needed, how the primitive takes them. Adding a primitive to dualrev without an entry here
fails ``test_every_primitive_has_a_spec_and_both_rules``.

Each example is drawn once, as float32-representable values. dualrev runs on it with the operands in float64, in
float32, and (for several operands) in float32 and float64 mixed, and every run is compared with a single JAX float64
computation: the inputs are exact in every dtype, so a float32 run differs from the reference by its own rounding
only, and each result must have the dtype of what it stands for (the output, or its operand). Tangents and
cotangents are drawn from {±1/4, ±1/2, ..., ±2}, exact in every float dtype. Every example differentiates a drawn
non-empty subset of the float operands (the others are constants), so the zero-tangent and constant-operand paths of
the rules run as well. ``EDGE_CASES`` adds hand-picked cases (ties, repeated indices, masks, ...) checked every run.

Second order covers forward over forward, reverse over forward, forward over reverse and reverse over reverse.
Speed: nearly all the time is XLA compiling JAX's operations once per new shape, hence the small shapes.
"""

from __future__ import annotations

import importlib
import itertools
import pathlib
import os
import subprocess
import sys
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.core import PRIMITIVES, Primitive, Tracer

jax.config.update("jax_enable_x64", True)  # conftest does it too; repeated so that this file stands on its own

from oracle import (
    AWAY_FROM_ZERO, EXPONENT, POSITIVE, REAL, SPECIAL, TIES, TRUTHY, WITH_ZEROS, Spec, astype_operands,
    binary, broadcast_to_operands, concatenate_operands, dtype_runs, getitem_operands, matmul_operands, nondiff,
    reshape_operands, scatter_add_operands, sum_operands, transpose_operands, unary, where_operands,
)

SPECS: dict[str, Spec] = {
    # elementwise
    "add": binary(jnp.add),
    "subtract": binary(jnp.subtract),
    "multiply": binary(jnp.multiply),
    "divide": binary(jnp.divide, REAL, AWAY_FROM_ZERO),
    "power": binary(jnp.power, POSITIVE, EXPONENT),
    "maximum": binary(jnp.maximum, TIES, TIES),
    "minimum": binary(jnp.minimum, TIES, TIES),
    "negative": unary(jnp.negative),
    "exp": unary(jnp.exp),
    "log": unary(jnp.log, POSITIVE),
    "sin": unary(jnp.sin),
    "cos": unary(jnp.cos),
    "tanh": unary(jnp.tanh),
    "sqrt": unary(jnp.sqrt, POSITIVE),
    "abs": unary(jnp.abs, WITH_ZEROS),
    "where": Spec(lambda x, y, cond: jnp.where(cond, x, y), where_operands(),
                  call=lambda prim, x, y, cond: prim(cond, x, y)),  # the condition is a constant operand
    # reductions, shapes, indexing, contractions
    "sum": Spec(lambda x, axis, keepdims: jnp.sum(x, axis=axis, keepdims=keepdims), sum_operands()),
    "reshape": Spec(lambda x, shape: jnp.reshape(x, shape), reshape_operands()),
    "transpose": Spec(lambda x, axes: jnp.transpose(x, axes), transpose_operands()),
    "broadcast_to": Spec(lambda x, shape: jnp.broadcast_to(x, shape), broadcast_to_operands()),
    "astype": Spec(lambda x, dtype: x.astype(dtype), astype_operands(),
                   out_dtype=lambda dtypes, params: params["dtype"]),
    "getitem": Spec(lambda x, idx: x[idx], getitem_operands()),
    "scatter_add": Spec(lambda ct, idx, shape: jnp.zeros(shape, ct.dtype).at[idx].add(ct), scatter_add_operands()),
    "concatenate": Spec(lambda *xs, axis: jnp.concatenate(xs, axis=axis), concatenate_operands()),
    "matmul": Spec(jnp.matmul, matmul_operands()),
    # non-differentiable: NumPy values, plain arrays out even from traced operands
    "sign": nondiff(np.sign, SPECIAL),
    "floor": nondiff(np.floor, SPECIAL),
    "ceil": nondiff(np.ceil, SPECIAL),
    "greater": nondiff(np.greater, TIES, TIES),
    "greater_equal": nondiff(np.greater_equal, TIES, TIES),
    "less": nondiff(np.less, TIES, TIES),
    "less_equal": nondiff(np.less_equal, TIES, TIES),
    "equal": nondiff(np.equal, TIES, TIES),
    "not_equal": nondiff(np.not_equal, TIES, TIES),
    "logical_and": nondiff(np.logical_and, TRUTHY, TRUTHY),
    "logical_or": nondiff(np.logical_or, TRUTHY, TRUTHY),
    "logical_not": nondiff(np.logical_not, TRUTHY),
    "isfinite": nondiff(np.isfinite, SPECIAL),
    "isnan": nondiff(np.isnan, SPECIAL),
    "isinf": nondiff(np.isinf, SPECIAL),
    "floor_divide": nondiff(np.floor_divide, REAL, AWAY_FROM_ZERO),
}

# Each family of dualrev.numpy adds the specs of its primitives in tests/specs_<family>.py.
for _path in sorted(pathlib.Path(__file__).parent.glob("specs_*.py")):
    _family = importlib.import_module(_path.stem).SPECS
    assert not set(_family) & set(SPECS), f"{_path.name} redefines specs: {sorted(set(_family) & set(SPECS))}"
    SPECS.update(_family)

DIFFERENTIABLE = sorted(name for name, spec in SPECS.items() if not spec.nondiff)
NONDIFF = sorted(name for name, spec in SPECS.items() if spec.nondiff)

# -- completeness --


def check_registry(prims: dict, specs: dict, names=None):
    """Every primitive has a spec and vice versa; every differentiable one has a JVP and a VJP rule."""
    names = set(prims) if names is None else set(names)
    assert names == set(specs), (f"primitives without a spec in SPECS: {sorted(names - set(specs))}; specs "
                                 f"without a primitive: {sorted(set(specs) - names)}")
    for name in sorted(names):
        prim = prims[name]
        assert prim.nondiff == specs[name].nondiff, f"{name}: nondiff={prim.nondiff} but the spec says otherwise"
        if not prim.nondiff:  # a JVP rule, or for a call primitive jvp_full (output and tangent together)
            assert (prim.jvp or prim.jvp_full) is not None and prim.vjp is not None, f"{name}: differentiable but " \
                f"misses a rule (jvp={prim.jvp}, vjp={prim.vjp})"


def _primitives_registered_by_import():
    # In a fresh interpreter: other test files may register primitives of their own with dr.defprim.
    root = os.path.dirname(os.path.dirname(os.path.abspath(dr.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", "import dualrev.core as c, dualrev; print(*c.PRIMITIVES)"],
                         capture_output=True, text=True, check=True, env=env, cwd=root).stdout
    return out.split()


def test_every_primitive_has_a_spec_and_both_rules():
    check_registry(PRIMITIVES, SPECS, _primitives_registered_by_import())


def test_registry_check_fails_on_a_missing_spec_or_rule():
    with pytest.raises(AssertionError, match="cube"):  # a new primitive, no spec
        check_registry(dict(PRIMITIVES, cube=Primitive("cube", lambda x: x ** 3)), SPECS)
    with pytest.raises(AssertionError, match="sin: differentiable but misses a rule"):  # no VJP rule
        check_registry(dict(PRIMITIVES, sin=Primitive("sin", np.sin, jvp=PRIMITIVES["sin"].jvp)), SPECS)


# -- derivatives in either framework (dualrev and JAX share the jvp / vjp API) --


@dataclass(frozen=True)
class Directions:
    t1: tuple  # tangents of the differentiated operands
    t2: tuple  # a second set, for the outer tangent of forward over forward
    ct: np.ndarray  # a cotangent of the output
    ct2: tuple  # cotangents of the differentiated operands' cotangents (reverse over reverse)

    @classmethod
    def draw(cls, seed, in_shapes, out_shape):
        """``out_shape``: the output's shape, or a list of shapes for a primitive with several outputs (then ``ct``
        is a tuple with one cotangent per output)."""
        rng = np.random.default_rng(seed)

        def one(shape):  # {±1/4, ±1/2, ..., ±2}: never 0, exact in float16/32/64
            return np.asarray(rng.integers(1, 9, shape) * rng.choice([-0.25, 0.25], shape), np.float64)

        ct = tuple(one(s) for s in out_shape) if isinstance(out_shape, list) else one(out_shape)
        return cls(*(tuple(one(s) for s in in_shapes) for _ in range(2)), ct, tuple(one(s) for s in in_shapes))

    def astype(self, in_dtypes, out_dtype):
        """For differentiated operands of in_dtypes and an output of out_dtype (a tuple: one per output)."""
        def cast(ts):
            return tuple(t.astype(dtype) for t, dtype in zip(ts, in_dtypes))

        ct = (tuple(c.astype(t) for c, t in zip(self.ct, out_dtype)) if isinstance(self.ct, tuple)
              else self.ct.astype(out_dtype))
        return Directions(cast(self.t1), cast(self.t2), ct, cast(self.ct2))


# results with the output's dtype; the others are cotangents of the operands, with their dtypes
OUTPUT_LIKE = {"value", "value (no tracer)", "jvp", "linearize", "fwd-over-fwd"}


def derivatives(jvp, vjp, f, xs, d: Directions, order: int, rev_over_fwd=True) -> dict:
    """The value and first (order 1) or second (order 2) derivatives of f at xs in the directions d.

    Reverse over forward (pull ct back through x -> f'(x) t1) equals forward over reverse in direction t1 (push t1
    through x -> f'(x)^T ct), as second derivatives are symmetric: the JAX reference computes it once.
    """
    if order == 1:
        out, tangent = jvp(f, xs, d.t1)
        return {"value": out, "jvp": tangent, "vjp": vjp(f, *xs)[1](d.ct)}

    def f_jvp(*xs):
        return jvp(f, xs, d.t1)[1]

    def f_vjp(*xs):
        return vjp(f, *xs)[1](d.ct)

    second = {
        "fwd-over-fwd": jvp(f_jvp, xs, d.t2)[1],
        "fwd-over-rev": jvp(f_vjp, xs, d.t1)[1],
        "rev-over-rev": vjp(f_vjp, *xs)[1](d.ct2),
    }
    second["rev-over-fwd"] = vjp(f_jvp, *xs)[1](d.ct) if rev_over_fwd else second["fwd-over-rev"]
    return second


def restrict(f, operands, wrt):
    """f as a function of the operands numbered ``wrt``; the others are constants."""

    def g(*args):
        full = list(operands)
        for i, a in zip(wrt, args):
            full[i] = a
        return f(*full)

    return g


TOLERANCES = {  # (rtol, atol), by the least precise dtype involved; second order is looser
    np.dtype(np.float64): (1e-9, 1e-12),
    np.dtype(np.float32): (1e-3, 1e-4),
    np.dtype(np.float16): (4e-3, 4e-3),
}
ORDER_2_LOOSER = 5


def assert_close(what, got, want, dtype, tol):
    """got (dualrev) matches want (JAX) in value and shape, and has dtype (one per entry for tuples of results)."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), f"{what}: got {got!r}, want {len(want)} results"
        for i, (g, w, t) in enumerate(zip(got, want, dtype)):
            assert_close(f"{what}[{i}]", g, w, t, tol)
        return
    assert isinstance(got, (np.ndarray, np.generic)) and not isinstance(got, Tracer), \
        f"{what}: got a {type(got).__name__}, want a NumPy array"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, want {dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), *tol, err_msg=what)


def nonempty_subsets(n):
    """Which operands to differentiate: all of them first (hypothesis' simplest choice), then any other subset."""
    subsets = [s for r in range(n, 0, -1) for s in itertools.combinations(range(n), r)]
    return st.sampled_from(subsets)


def check_against_jax(name, operands, params, wrt, seed, order):
    """dualrev against one JAX float64 computation: the primitive's value and derivatives of the given order with
    respect to the operands numbered ``wrt``, for operands in float64, in float32 and in both mixed; every result
    must have the dtype of what it stands for (the output, or its operand)."""
    spec, prim = SPECS[name], PRIMITIVES[name]
    out = spec.call(prim, *operands, **params)
    # several outputs (a tuple, e.g. eigh's (w, v)): a list of shapes, a cotangent and a dtype per output
    n_out = len(out) if isinstance(out, tuple) else None
    out_shape = [np.shape(o) for o in out] if n_out is not None else np.shape(out)
    directions = Directions.draw(seed, [np.shape(operands[i]) for i in wrt], out_shape)

    def run(fun, dtypes):
        xs = [np.asarray(x).astype(dtype) for x, dtype in zip(operands, dtypes)]
        wrt_dtypes = tuple(np.dtype(dtypes[i]) for i in wrt)
        out_dtype = spec.out_dtype(dtypes, params)
        if n_out is None:
            out_dtype = np.dtype(out_dtype)
        else:  # out_dtype gives one dtype per output, or one dtype for all of them
            out_dtype = tuple(map(np.dtype, out_dtype if isinstance(out_dtype, tuple) else (out_dtype,) * n_out))
        f = restrict(lambda *xs: fun(*xs, **params), xs, wrt)
        return f, tuple(xs[i] for i in wrt), directions.astype(wrt_dtypes, out_dtype), wrt_dtypes, out_dtype

    f, xs, d, _, _ = run(spec.ref, (np.float64,) * len(operands))
    want = jax.tree.map(np.asarray, derivatives(jax.jvp, jax.vjp, f, xs, d, order, rev_over_fwd=False))
    if order == 1:
        want["linearize"], want["value (no tracer)"] = want["jvp"], want["value"]

    for dtypes in dtype_runs(len(operands)):
        f, xs, d, wrt_dtypes, out_dtype = run(lambda *xs, **params: spec.call(prim, *xs, **params), dtypes)
        got = derivatives(dr.jvp, dr.vjp, f, xs, d, order)
        if order == 1:
            got["linearize"] = dr.linearize(f, *xs)[1](*d.t1)  # the tape's forward pass: the same JVP rules
            got["value (no tracer)"] = f(*xs)
        out_dtypes = out_dtype if n_out is not None else (out_dtype,)
        least_precise = max(*out_dtypes, *map(np.dtype, dtypes), key=lambda t: np.finfo(t).eps)
        rtol, atol = TOLERANCES[least_precise]
        tol = (rtol, atol) if order == 1 else (ORDER_2_LOOSER * rtol, ORDER_2_LOOSER * atol)
        run_name = "/".join(np.dtype(t).name for t in dtypes)
        for key, value in want.items():
            assert_close(f"{name} {run_name} {key}", got[key], value, out_dtype if key in OUTPUT_LIKE else wrt_dtypes,
                         tol)


# Rules known to be wrong: (primitive, order) -> the bug. Their tests are expected to fail (strictly: once the rule
# is fixed they pass, the run fails with XPASS, and the entry must be removed).
KNOWN_BUGS: dict = {}


def with_known_bugs(cases):
    """pytest params for (name, order, ...) tuples, those in KNOWN_BUGS marked xfail(strict)."""
    return [pytest.param(*case, marks=pytest.mark.xfail(reason=KNOWN_BUGS[case[:2]], strict=True))
            if case[:2] in KNOWN_BUGS else case for case in cases]


@pytest.mark.parametrize("name, order", with_known_bugs([(n, o) for n in DIFFERENTIABLE for o in (1, 2)]))
@given(data=st.data())
def test_derivatives_match_jax(name, order, data):
    """Value, jvp, linearize and vjp (order 1), or fwd/fwd, rev/fwd, fwd/rev and rev/rev (order 2), in float64,
    float32 and mixed, on hypothesis-drawn operands and parameters."""
    operands, params = data.draw(SPECS[name].operands, label="operands, params")
    wrt = data.draw(nonempty_subsets(len(operands)), label="differentiated operands")
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label="directions seed")
    check_against_jax(name, operands, params, wrt, seed, order)


# -- hand-picked cases, checked on every run whatever hypothesis draws --


def _u(*shape, lo=-3.0, hi=3.0):
    """Fixed values in [lo, hi], exact in float32."""
    return np.random.default_rng(sum(shape) + 7).uniform(lo, hi, shape).astype(np.float32)


_MASK = np.array([[True, False, True, True], [False, False, False, False], [True, True, False, True]])
_SEPARATED = (np.array([[0], [1]]), slice(None), np.array([3, 3, 0]))  # (2, 1) and (3,) arrays around a slice


def _scatter(shape, idx):
    """A scatter_add case: a cotangent shaped like ``zeros(shape)[idx]``."""
    return "scatter_add", (_u(*np.empty(shape)[idx].shape),), {"idx": idx, "shape": shape}


EDGE_CASES = {  # id -> (primitive, operands, params)
    "maximum ties broadcast": ("maximum", (np.float32([[-1, 0, 2.5]]), np.float32([[-1], [0]])), {}),
    "minimum ties broadcast": ("minimum", (np.float32([[-1, 0, 2.5]]), np.float32([[-1], [0]])), {}),
    "abs at 0 and -0": ("abs", (np.float32([[0.0, -0.0], [1.5, -2.0]]),), {}),
    "add (3,1)+(4,)": ("add", (_u(3, 1), _u(4)), {}),
    "divide by 0-d": ("divide", (_u(2, 3), np.float32(-0.75)), {}),
    "power zero and integer exponents": ("power", (_u(2, 3, lo=0.25), np.float32([[0, 1, 2], [-1, 0.5, 0]])), {}),
    "where 0-d x, cond (2,1)": ("where", (_u(), _u(2, 3)), {"cond": np.array([[True], [False]])}),
    "sum all axes keepdims": ("sum", (_u(2, 3, 4),), {"axis": (0, 1, 2), "keepdims": True}),
    "sum 0-d": ("sum", (_u(),), {"axis": (), "keepdims": False}),
    "reshape to 0-d": ("reshape", (_u(1, 1),), {"shape": ()}),
    "transpose 3-d": ("transpose", (_u(2, 3, 4),), {"axes": (2, 0, 1)}),
    "broadcast_to new and size-1 axes": ("broadcast_to", (_u(3, 1),), {"shape": (2, 3, 4)}),
    "astype float16": ("astype", (_u(2, 2),), {"dtype": np.dtype(np.float16)}),
    "getitem repeated integers": ("getitem", (_u(3, 4),), {"idx": (np.array([2, 0, 2, -1]),)}),
    "getitem negative steps None ...": ("getitem", (_u(3, 4, 2),),
                                        {"idx": (slice(None, None, -2), None, Ellipsis, slice(None, None, -1))}),
    "getitem mask": ("getitem", (_u(3, 4),), {"idx": (_MASK,)}),
    "getitem separated integer arrays": ("getitem", (_u(2, 3, 4),), {"idx": _SEPARATED}),
    "scatter_add repeated integers": _scatter((3, 4), (np.array([2, 0, 2, -1]),)),
    "scatter_add mask": _scatter((3, 4), (_MASK,)),
    "scatter_add separated integer arrays": _scatter((2, 3, 4), _SEPARATED),
    "scatter_add negative step int None": _scatter((3, 4), (slice(None, None, -2), 1, None)),
    "concatenate with an empty piece": ("concatenate", (_u(2, 1), _u(2, 0), _u(2, 3)), {"axis": 1}),
    "matmul vector vector": ("matmul", (_u(3), _u(3)), {}),
    "matmul vector batch": ("matmul", (_u(3), _u(2, 3, 4)), {}),
    "matmul batch vector": ("matmul", (_u(2, 3, 4), _u(4)), {}),
    "matmul broadcast batch": ("matmul", (_u(2, 1, 2, 3), _u(4, 3, 2)), {}),
}


@pytest.mark.parametrize("name, order, case", with_known_bugs(
    [(name, order, case) for case, (name, _, _) in EDGE_CASES.items() for order in (1, 2)]))
def test_edge_cases_match_jax(name, order, case):
    _, operands, params = EDGE_CASES[case]
    check_against_jax(name, operands, params, tuple(range(len(operands))), 0, order)


def test_edge_cases_cover_what_they_claim():
    x, y = EDGE_CASES["maximum ties broadcast"][1]
    assert np.sum(x == y) == 2
    assert 0.5 in dr.grad(lambda x: dnp.sum(dnp.maximum(x, y)))(x), "no tie split"
    assert np.shape(_u(2, 3, 4)[_SEPARATED]) == (2, 3, 3)  # advanced axes first: they are separated by a slice
    assert {name for name, _, _ in EDGE_CASES.values()} <= set(DIFFERENTIABLE)


# -- non-differentiable primitives --


def applied_at_every_level(fun, xs):
    """fun's results when called on plain operands, tape tracers, dual numbers, and tape tracers in dual numbers."""
    results = []

    def f(*xs):
        results.append(fun(*xs))
        return sum(dnp.sum(x) for x in xs)

    argnums = tuple(range(len(xs)))
    f(*xs)
    dr.grad(f, argnums)(*xs)
    dr.jvp(f, xs, xs)
    dr.jvp(dr.grad(f, argnums), xs, xs)
    assert len(results) == 4
    return results


@pytest.mark.parametrize("name", NONDIFF)
@given(data=st.data())
def test_nondiff_values_and_plain_arrays_from_tracers(name, data):
    """The NumPy value, and a plain NumPy array (never a tracer) when applied to traced values, at any nesting."""
    spec, prim = SPECS[name], PRIMITIVES[name]
    operands, params = data.draw(spec.operands, label="operands, params")
    for dtypes in dtype_runs(len(operands)):
        xs = tuple(x.astype(dtype) for x, dtype in zip(operands, dtypes))
        want = spec.ref(*xs, **params)
        for r in applied_at_every_level(lambda *xs: spec.call(prim, *xs, **params), xs):
            assert isinstance(r, (np.ndarray, np.generic)) and not isinstance(r, Tracer), \
                f"{name}: got a {type(r).__name__} from traced operands, want a plain NumPy value"
            assert r.dtype == want.dtype and r.shape == want.shape
            np.testing.assert_array_equal(r, want)
