"""solve_ivp's compiled paths (jit=True, the default): fun compiled for the solver's pass, and the first-order
reverse-mode replay whose steps and step VJPs are compiled (dualrev/integrate/_compiled.py). Each derivative is
compared with the traced replay (jit=False) to rounding; the compiled VJP is checked to have run where it should,
and not elsewhere."""

import warnings

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.integrate import _compiled, solve_ivp


def lotka_volterra(t, z, a, b, c, d):
    x, y = z[0], z[1]
    return dnp.stack([a * x - b * x * y, -c * y + d * x * y])


P = np.array([1.5, 1.0, 3.0, 1.0])
Z0 = np.array([10.0, 5.0])


@pytest.fixture
def compiled_vjps(monkeypatch):
    """Counts the calls of the compiled replay's VJP rule, used here for solves of every length."""
    monkeypatch.setattr(_compiled, "MIN_STEPS", 1)
    calls = []
    rule = _compiled.rk_replay.vjp

    def counted(*args):
        calls.append(1)
        return rule(*args)

    monkeypatch.setattr(_compiled.rk_replay, "vjp", counted)
    return calls


def close(a, b, rtol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("method", ["RK45", "DOP853", "RK23"])
@pytest.mark.parametrize("output", ["t_eval", "steps", "dense"])
def test_gradient_equals_the_traced_replay(method, output, compiled_vjps):
    def loss(y0, p, t_span, jit):
        kw = {"t_eval": np.linspace(0.3, 2.0, 5)} if output == "t_eval" else {}
        sol = solve_ivp(lotka_volterra, (t_span[0], t_span[1]), y0, method=method, args=tuple(p), rtol=1e-6,
                        atol=1e-8, dense_output=output == "dense", jit=jit, **kw)
        if output == "dense":
            return dnp.sum(sol.sol(dnp.array([0.7, 1.9])) ** 2)
        return dnp.sum(sol.y ** 2) + dnp.sum(sol.t)

    args = (Z0, P, np.array([0.1, 2.0]))
    fast = dr.grad(lambda *a: loss(*a, True), argnums=(0, 1, 2))(*args)
    assert compiled_vjps
    slow = dr.grad(lambda *a: loss(*a, False), argnums=(0, 1, 2))(*args)
    for a, b in zip(fast, slow):
        close(a, b)


def test_t_eval_and_event_derivatives(compiled_vjps):
    def hit(t, y, g):
        return y[0]

    hit.terminal, hit.direction = True, -1

    def cannon(t, y, g):
        return dnp.stack([y[1], -g + 0.0 * y[0]])

    def landing(v0, g, jit):
        sol = solve_ivp(cannon, (0.0, 10.0), dnp.stack([0.0, v0]), args=(g,), events=hit, jit=jit)
        return sol.t_events[0][0] + dnp.sum(sol.y[:, -1])

    fast = dr.grad(lambda v0, g: landing(v0, g, True), argnums=(0, 1))(10.0, 9.81)
    assert compiled_vjps
    close(fast, dr.grad(lambda v0, g: landing(v0, g, False), argnums=(0, 1))(10.0, 9.81))
    close(fast[0], 2 / 9.81 - 1, rtol=1e-9)  # t = 2 v0 / g, and the landing state is (0, -v0)

    def at_times(te, jit):
        return dnp.sum(solve_ivp(lotka_volterra, (0.0, 2.0), Z0, args=tuple(P), t_eval=te, jit=jit).y)

    te = np.array([0.5, 1.0, 1.5])
    close(dr.grad(lambda te: at_times(te, True))(te), dr.grad(lambda te: at_times(te, False))(te))


def test_jacrev_batches_the_compiled_cotangents(compiled_vjps):
    def final(p, jit):
        return solve_ivp(lotka_volterra, (0.0, 1.5), Z0, args=tuple(p), t_eval=[0.5, 1.5], jit=jit).y

    J = dr.jacrev(lambda p: final(p, True))(P)
    assert compiled_vjps and J.shape == (2, 2, 4)
    close(J, dr.jacfwd(lambda p: final(p, False))(P), rtol=1e-11)


def test_higher_orders_and_vmap_keep_the_traced_replay(compiled_vjps):
    def loss(p, jit=True):
        return dnp.sum(solve_ivp(lotka_volterra, (0.0, 1.0), Z0, args=tuple(p), t_eval=[0.5, 1.0], jit=jit).y ** 2)

    H = dr.hessian(loss)(P)
    v = np.array([1.0, -1.0, 0.5, 0.0])
    hv = dr.grad(lambda p: dnp.dot(dr.grad(loss)(p), v))(P)  # reverse over reverse
    assert not compiled_vjps
    close(H, dr.hessian(lambda p: loss(p, False))(P), rtol=1e-10)
    close(hv, H @ v, rtol=1e-10)
    batch = np.stack([P, 1.1 * P])
    close(dr.vmap(dr.grad(loss))(batch), [dr.grad(loss)(p) for p in batch])


def test_a_traced_cotangent_differentiates_the_compiled_vjp(compiled_vjps):
    # The pullback is linear in its cotangent: its derivative along dct is the pullback of dct.
    def final(p):
        return solve_ivp(lotka_volterra, (0.0, 1.0), Z0, args=tuple(p), t_eval=[1.0]).y[:, 0]

    _, pullback = dr.vjp(final, P)
    ct, dct = np.array([1.0, 2.0]), np.array([-0.5, 3.0])
    out, dout = dr.jvp(lambda c: pullback(c)[0], (ct,), (dct,))
    assert compiled_vjps
    close(out, pullback(ct)[0])
    close(dout, pullback(dct)[0])


def test_input_kinds_and_static_arguments(compiled_vjps):
    def decay(t, y, k, n, scale):
        return -k * y ** n * scale["s"]

    def loss(y0, k, jit):
        sol = solve_ivp(decay, (0.0, 1.0), y0, args=(k, 2, {"s": np.float32(0.5)}), t_eval=[0.5, 1.0], jit=jit)
        return dnp.sum(sol.y)

    for y0, k in [(np.array([1.0, 2.0], np.float32), 0.7), (np.array([1.0, 2.0]), np.float64(0.7)),
                  ([1.0, 2.0], np.array(0.7))]:
        g = dr.grad(lambda y0, k: loss(y0, k, True), argnums=(0, 1))(y0, k)
        ref = dr.grad(lambda y0, k: loss(y0, k, False), argnums=(0, 1))(y0, k)
        close(g[0], ref[0], rtol=1e-6 if np.asarray(y0).dtype == np.float32 else 1e-12)
        close(g[1], ref[1])
        assert np.asarray(g[0]).dtype == np.asarray(y0).dtype  # float32 in, float32 gradient out
    assert compiled_vjps


def test_closures_and_branches(compiled_vjps):
    def loss(theta, jit):  # theta reaches fun through its closure: the traced replay (no compiled VJP)
        return dnp.sum(solve_ivp(lambda t, y: -theta * y, (0.0, 1.0), [1.0, 2.0], t_eval=[1.0], jit=jit).y)

    close(dr.grad(lambda th: loss(th, True))(0.3), dr.grad(lambda th: loss(th, False))(0.3))
    assert not compiled_vjps

    def kinked(t, y, k):  # a Python branch on the state: one compiled variant per branch, values as eager
        return -k * y if y[0] > 1.0 else -2 * k * y

    def reads_floats(t, y, k):  # a value read as a float changes at every call: eager after 8 variants, warned
        return -k * y if float(y[0]) > 1.0 else -2 * k * y

    sol_eager = solve_ivp(kinked, (0.0, 2.0), [2.0], args=(0.5,), jit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol_fast = solve_ivp(kinked, (0.0, 2.0), [2.0], args=(0.5,))
    with pytest.warns(RuntimeWarning, match="keeps changing"):
        sol_floats = solve_ivp(reads_floats, (0.0, 2.0), [2.0], args=(0.5,))
    for sol in (sol_fast, sol_floats):
        np.testing.assert_array_equal(sol.y, sol_eager.y)
        assert sol.nfev == sol_eager.nfev
    with pytest.raises(TypeError), pytest.warns(RuntimeWarning):  # float() of a traced value under a derivative
        dr.grad(lambda k: solve_ivp(reads_floats, (0.0, 2.0), [2.0], args=(k,)).y[0, -1])(0.5)

    def loss2(k, jit):
        return dnp.sum(solve_ivp(kinked, (0.0, 2.0), [2.0], args=(k,), t_eval=[2.0], jit=jit).y)

    close(dr.grad(lambda k: loss2(k, True))(0.5), dr.grad(lambda k: loss2(k, False))(0.5))


def test_adjoint_with_and_without_jit():
    def loss(p, jit):
        sol = solve_ivp(lotka_volterra, (0.0, 2.0), Z0, args=tuple(p), t_eval=[1.0, 2.0], adjoint=True, jit=jit,
                        rtol=1e-8, atol=1e-8)
        return dnp.sum(sol.y ** 2)

    close(dr.grad(lambda p: loss(p, True))(P), dr.grad(lambda p: loss(p, False))(P), rtol=1e-10)


@pytest.mark.parametrize("t_span", [(2.0, 0.5), (1.0, 1.0)], ids=["backwards", "zero-length"])
def test_backwards_and_zero_length_intervals(t_span, compiled_vjps):
    def loss(y0, p, t1, jit):
        sol = solve_ivp(lotka_volterra, (t_span[0], t1), y0, args=tuple(p), t_eval=[t_span[1]], jit=jit)
        return dnp.sum(sol.y ** 2)

    fast = dr.grad(lambda *a: loss(*a, True), argnums=(0, 1, 2))(Z0, P, t_span[1])
    assert compiled_vjps
    slow = dr.grad(lambda *a: loss(*a, False), argnums=(0, 1, 2))(Z0, P, t_span[1])
    for g_fast, g_slow in zip(fast, slow):
        close(g_fast, g_slow)


def test_short_solves_keep_the_traced_replay(monkeypatch):
    calls = []
    rule = _compiled.rk_replay.vjp
    monkeypatch.setattr(_compiled.rk_replay, "vjp", lambda *a: calls.append(1) or rule(*a))

    def loss(t1):
        return dr.grad(lambda p: dnp.sum(solve_ivp(lotka_volterra, (0.0, t1), Z0, args=tuple(p), t_eval=[t1]).y))(P)

    loss(0.5)  # 5 steps: tracing the step functions would cost more than it saves
    assert not calls
    loss(15.0)  # about 80 steps
    assert calls
