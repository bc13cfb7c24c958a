"""dualrev.integrate.solve_ivp: the same steps, values and nfev as scipy.integrate.solve_ivp; derivatives against
finite differences of scipy's solution, against JAX's odeint, between the two modes and between the transforms;
second order, vmap, the input kinds, and the errors."""

import numpy as np
import pytest
import scipy.integrate as si

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.integrate import solve_ivp


def lotka_volterra(t, z, a, b, c, d):
    x, y = z
    return dnp.stack([a * x - b * x * y, -c * y + d * x * y])


def lv_list(t, z, a, b, c, d):  # scipy's documentation example, returning a list
    x, y = z
    return [a * x - b * x * y, -c * y + d * x * y]


P = np.array([1.5, 1.0, 3.0, 1.0])
Z0 = np.array([10.0, 5.0])


def scipy_solution(p=P, z0=Z0, t_span=(0.0, 2.0), t_eval=None, **kw):
    kw.setdefault("rtol", 1e-12)
    kw.setdefault("atol", 1e-12)
    kw.setdefault("method", "DOP853")
    return si.solve_ivp(lv_list, t_span, z0, args=tuple(p), t_eval=t_eval, **kw)


def central_difference(f, x, eps=1e-6):
    x = np.asarray(x, float)
    out = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        out.append((f(x + e) - f(x - e)) / (2 * eps))
    return np.array(out).reshape(x.shape + np.shape(out[0]))


# -- the solver agrees with scipy's to the bit --


@pytest.mark.parametrize("method", ["RK45", "DOP853", "RK23"])
@pytest.mark.parametrize("kw", [{}, {"t_eval": np.linspace(0, 15, 31)}, {"dense_output": True},
                                {"rtol": 1e-6, "atol": [1e-8, 1e-9], "t_eval": np.linspace(0, 15, 7)},
                                {"max_step": 0.3, "first_step": 1e-3}, {"t_span": (15.0, 3.0)}],
                         ids=["default", "t_eval", "dense", "tight", "max_step", "backwards"])
def test_same_steps_values_and_nfev_as_scipy(method, kw):
    kw = dict(kw)
    t_span = kw.pop("t_span", (0.0, 15.0))
    ours = solve_ivp(lotka_volterra, t_span, [10, 5], method=method, args=(1.5, 1, 3, 1), **kw)
    ref = si.solve_ivp(lv_list, t_span, [10, 5], method=method, args=(1.5, 1, 3, 1), **kw)
    assert ours.nfev == ref.nfev and ours.status == ref.status == 0 and ours.success
    assert ours.message == ref.message
    np.testing.assert_array_equal(ours.t, ref.t)
    np.testing.assert_allclose(ours.y, ref.y, rtol=1e-14, atol=1e-14)
    if kw.get("dense_output"):
        t = np.linspace(*t_span, 23)
        np.testing.assert_allclose(ours.sol(t), ref.sol(t), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(ours.sol(3.3), ref.sol(3.3), rtol=1e-13)


def test_zero_length_interval_and_sizes():
    ours = solve_ivp(lotka_volterra, (1.0, 1.0), Z0, args=tuple(P))
    ref = si.solve_ivp(lv_list, (1.0, 1.0), Z0, args=tuple(P))
    np.testing.assert_array_equal(ours.t, ref.t)
    np.testing.assert_array_equal(ours.y, ref.y)
    assert ours.nfev == ref.nfev


def upward_cannon(t, y, g):
    return dnp.stack([y[1], -g + 0.0 * y[0]])


def hit_ground(t, y, g):
    return y[0]


hit_ground.terminal = True
hit_ground.direction = -1


def apex(t, y, g):
    return y[1]


@pytest.mark.parametrize("method", ["RK45", "DOP853"])
def test_events_as_scipy(method):
    ours = solve_ivp(upward_cannon, [0, 100], [0, 10], method=method, events=(hit_ground, apex), args=(0.5,))
    ref = si.solve_ivp(lambda t, y, g: [y[1], -g], [0, 100], [0, 10], method=method, events=(hit_ground, apex),
                       args=(0.5,))
    assert ours.status == ref.status == 1 and ours.nfev == ref.nfev
    for a, b in zip(ours.t_events, ref.t_events):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    for a, b in zip(ours.y_events, ref.y_events):
        np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(ours.t, ref.t, rtol=1e-13)
    np.testing.assert_allclose(ours.y, ref.y, atol=1e-12)


def test_event_count_terminal_and_direction():
    def crossing(t, y, g):
        return y[0] - 10.0

    crossing.terminal = 2  # stop at the second crossing
    ours = solve_ivp(upward_cannon, [0, 100], [0, 10], events=crossing, args=(0.5,))
    ref = si.solve_ivp(lambda t, y, g: [y[1], -g], [0, 100], [0, 10], events=crossing, args=(0.5,))
    np.testing.assert_allclose(ours.t_events[0], ref.t_events[0], rtol=1e-12)
    assert ours.status == 1 and len(ours.t_events[0]) == 2


# -- derivatives --


T_OUT = np.linspace(0, 2, 5)


def lv_loss(p, z0=Z0, t_eval=T_OUT, t_span=(0.0, 2.0), **kw):
    kw.setdefault("rtol", 1e-10)
    kw.setdefault("atol", 1e-10)
    sol = solve_ivp(lotka_volterra, t_span, z0, args=tuple(p), t_eval=t_eval, **kw)
    return dnp.sum(sol.y ** 2) / 100


def scipy_loss(p=P, z0=Z0, t_eval=T_OUT, t_span=(0.0, 2.0)):
    return np.sum(scipy_solution(p, z0, t_span, t_eval).y ** 2) / 100


@pytest.mark.parametrize("adjoint", [False, True], ids=["discretise", "adjoint"])
def test_gradients_match_finite_differences_of_scipy(adjoint):
    g = dr.grad(lambda p: lv_loss(p, adjoint=adjoint))(P)
    np.testing.assert_allclose(g, central_difference(scipy_loss, P), rtol=1e-6)
    gz = dr.grad(lambda z: lv_loss(P, z, adjoint=adjoint))(Z0)
    np.testing.assert_allclose(gz, central_difference(lambda z: scipy_loss(P, z), Z0), rtol=1e-6)
    te = np.array([0.3, 1.0, 1.7])
    gt = dr.grad(lambda t: lv_loss(P, t_eval=t, adjoint=adjoint))(te)
    np.testing.assert_allclose(gt, central_difference(lambda t: scipy_loss(t_eval=t), te), rtol=1e-6)
    # The end time and the start time, with the output at every step (t_eval=None) and a final-value loss.
    def end_value(t0, t1):
        sol = solve_ivp(lotka_volterra, (t0, t1), Z0, args=tuple(P), rtol=1e-10, atol=1e-10, adjoint=adjoint)
        return sol.y[0, -1]

    def scipy_end(t0, t1):
        return scipy_solution(t_span=(t0, t1)).y[0, -1]

    d0, d1 = dr.grad(end_value, argnums=(0, 1))(0.0, 2.0)
    np.testing.assert_allclose(d1, (scipy_end(0, 2 + 1e-6) - scipy_end(0, 2 - 1e-6)) / 2e-6, rtol=1e-6)
    np.testing.assert_allclose(d0, (scipy_end(1e-6, 2) - scipy_end(-1e-6, 2)) / 2e-6, rtol=1e-6)


def test_the_modes_and_the_transforms_agree():
    f = dr.grad(lambda p: lv_loss(p, rtol=1e-7, atol=1e-9))
    g_dto = f(P)
    g_adj = dr.grad(lambda p: lv_loss(p, rtol=1e-7, atol=1e-9, adjoint=True))(P)
    np.testing.assert_allclose(g_adj, g_dto, rtol=1e-4)  # the adjoint is exact only to the tolerance
    # Discretise-then-optimise derivatives are exact derivatives of the computed solution: the transforms agree
    # with each other to rounding, whatever the tolerance.
    coarse = {"rtol": 1e-3, "atol": 1e-6}

    def states(p):
        return solve_ivp(lotka_volterra, (0.0, 2.0), Z0, args=(p[0], p[1], p[2], p[3]),
                         t_eval=np.linspace(0, 2, 4), **coarse).y

    J_fwd, J_rev = dr.jacfwd(states)(P), dr.jacrev(states)(P)
    assert J_fwd.shape == (2, 4, 4)
    np.testing.assert_allclose(J_fwd, J_rev, rtol=1e-12, atol=1e-12)
    v = np.array([0.1, -0.2, 0.3, 0.4])
    _, tangent = dr.jvp(states, (P,), (v,))
    np.testing.assert_allclose(tangent, J_fwd @ v, rtol=1e-12, atol=1e-12)
    # ...and a finite difference of the same computation when its steps cannot move: fixed steps (every step is
    # accepted at max_step), where the computed solution is a smooth function of the parameters.
    fixed = {"rtol": 1e3, "atol": 1e3, "first_step": 0.1, "max_step": 0.1, "t_eval": np.linspace(0, 2, 4)}
    J = dr.jacfwd(lambda p: solve_ivp(lotka_volterra, (0.0, 2.0), Z0, args=tuple(p), **fixed).y)(P)
    fd = central_difference(lambda p: solve_ivp(lotka_volterra, (0.0, 2.0), Z0, args=tuple(p), **fixed).y, P)
    np.testing.assert_allclose(np.moveaxis(fd, 0, -1), J, rtol=1e-7, atol=1e-8)


def test_matches_jax_odeint():
    jax = pytest.importorskip("jax")
    from jax.experimental.ode import odeint

    t = np.linspace(0.0, 2.0, 6)

    def jax_loss(p):
        ys = odeint(lambda z, t, p: jax.numpy.stack([p[0] * z[0] - p[1] * z[0] * z[1],
                                                     -p[2] * z[1] + p[3] * z[0] * z[1]]),
                    jax.numpy.asarray(Z0), t, p, rtol=1e-11, atol=1e-11)
        return jax.numpy.sum(ys ** 2) / 100

    ref = np.asarray(jax.grad(jax_loss)(P))
    np.testing.assert_allclose(dr.grad(lambda p: lv_loss(p, t_eval=t))(P), ref, rtol=1e-7)
    np.testing.assert_allclose(dr.grad(lambda p: lv_loss(p, t_eval=t, adjoint=True))(P), ref, rtol=1e-7)


def decay(t, y, k):
    return -k * y * (1.0 + 0.1 * dnp.sin(t))


@pytest.mark.parametrize("adjoint", [False, True], ids=["discretise", "adjoint"])
def test_second_order(adjoint):
    # hvp and hessian through a solve, against finite differences of the gradient.
    kw = {"rtol": 1e-9, "atol": 1e-11, "adjoint": adjoint}

    def loss(p):
        return lv_loss(p, t_eval=np.array([0.0, 0.7, 1.0]), t_span=(0.0, 1.0), **kw)

    v = np.array([1.0, -0.5, 0.25, 2.0])
    hv = dr.hvp(loss, (P,), (v,))
    grad = dr.grad(loss)
    fd = (grad(P + 1e-5 * v) - grad(P - 1e-5 * v)) / 2e-5
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-8)
    # A closed form: y' = -k y g(t) gives y(1) = y0 exp(-k G), G = 1 + 0.1 (1 - cos 1).
    G = 1 + 0.1 * (1 - np.cos(1.0))

    def y1(k):
        return solve_ivp(decay, (0.0, 1.0), [2.0], args=(k,), **kw).y[0, -1]

    np.testing.assert_allclose(dr.hessian(y1)(0.8), 2.0 * G ** 2 * np.exp(-0.8 * G), rtol=1e-6)


def test_event_time_derivatives():
    # Landing time 2 v0 / g: first and second derivatives through the terminal event.
    def landing(g, v0):
        return solve_ivp(upward_cannon, [0.0, 100.0], dnp.stack([0.0, v0]), events=hit_ground, args=(g,)
                         ).t_events[0][0]

    dg, dv = dr.grad(landing, argnums=(0, 1))(0.5, 10.0)
    np.testing.assert_allclose([dg, dv], [-2 * 10 / 0.25, 2 / 0.5], rtol=1e-10)
    np.testing.assert_allclose(dr.hessian(landing)(0.5, 10.0), 4 * 10 / 0.5 ** 3, rtol=1e-9)


def test_dense_output_is_differentiable():
    def at(p, t):
        sol = solve_ivp(lotka_volterra, (0.0, 2.0), Z0, args=tuple(p), dense_output=True, rtol=1e-10, atol=1e-10)
        return sol.sol(t)

    g = dr.jacrev(lambda p: at(p, 1.234))(P)
    fd = central_difference(lambda p: scipy_solution(p, dense_output=True).sol(1.234), P)
    np.testing.assert_allclose(g, fd.T, rtol=1e-6)
    dt = dr.jacfwd(lambda t: at(P, t))(1.234)
    np.testing.assert_allclose(dt, lv_list(1.234, at(P, 1.234), *P), rtol=1e-8)


@pytest.mark.parametrize("adjoint", [False, True], ids=["discretise", "adjoint"])
def test_vmap_over_initial_states_and_parameters(adjoint):
    z0s = np.array([[10.0, 5.0], [8.0, 4.0], [3.0, 2.0]])
    loss = dr.grad(lambda z: lv_loss(P, z, rtol=1e-6, atol=1e-8, adjoint=adjoint))
    np.testing.assert_allclose(dr.vmap(loss)(z0s), [loss(z) for z in z0s], rtol=1e-12)
    ps = np.array([P, P * 1.1, P * 0.9])
    vals = dr.vmap(lambda p: lv_loss(p, rtol=1e-6, atol=1e-8, adjoint=adjoint))(ps)
    np.testing.assert_allclose(vals, [lv_loss(p, rtol=1e-6, atol=1e-8) for p in ps], rtol=1e-12)
    if not adjoint:
        grads = dr.grad(lambda ps: dnp.sum(dr.vmap(lambda p: lv_loss(p, rtol=1e-6, atol=1e-8))(ps)))(ps)
        np.testing.assert_allclose(grads, [dr.grad(lambda p: lv_loss(p, rtol=1e-6, atol=1e-8))(p) for p in ps],
                                   rtol=1e-12)


def test_vmap_without_t_eval_needs_equal_step_counts():
    f = dr.vmap(lambda k: solve_ivp(decay, (0.0, 1.0), [1.0], args=(k,)).y[0, -1])
    with pytest.raises(ValueError, match="pass t_eval"):
        f(np.array([0.1, 30.0]))


def test_checkpointing_and_closures_give_the_same_derivatives():
    g = [dr.grad(lambda p, every=every: lv_loss(p, rtol=1e-6, atol=1e-8, checkpoint_every=every))(P)
         for every in (0, 3, 64)]
    np.testing.assert_allclose(g[1], g[0], rtol=1e-13)
    np.testing.assert_allclose(g[2], g[0], rtol=1e-13)

    def closure_loss(p):  # the parameters reach fun by its closure, not by args
        sol = solve_ivp(lambda t, z: lotka_volterra(t, z, *p), (0.0, 2.0), Z0, t_eval=np.linspace(0, 2, 5),
                        rtol=1e-6, atol=1e-8)
        return dnp.sum(sol.y ** 2) / 100

    np.testing.assert_allclose(dr.grad(closure_loss)(P), g[0], rtol=1e-13)
    np.testing.assert_allclose(closure_loss(P), lv_loss(P, rtol=1e-6, atol=1e-8), rtol=1e-15)


# -- input kinds --


def test_input_kinds():
    ref = solve_ivp(decay, (0.0, 1.0), np.array([2.0]), args=(0.5,))
    for y0 in ([2.0], [2], (2.0,), np.array([2.0], np.float32), np.array([2])):
        sol = solve_ivp(decay, (0, 1), y0, args=(0.5,))
        np.testing.assert_array_equal(sol.y, ref.y)
        assert sol.y.dtype == np.float64  # as scipy
    # float32 y0 under grad: the cotangent comes back in the input's dtype
    g = dr.grad(lambda y0: solve_ivp(decay, (0.0, 1.0), y0, args=(0.5,)).y[0, -1])(np.array([2.0], np.float32))
    assert g.dtype == np.float32
    # a list of traced values as y0, a Python float parameter, NumPy scalar times
    g = dr.grad(lambda a: solve_ivp(decay, (np.float64(0), 1), [a, 2.0 * a], args=(0.5,)).y[1, -1])(1.0)
    np.testing.assert_allclose(g, 2 * np.exp(-0.5 * (1 + 0.1 * (1 - np.cos(1)))), rtol=1e-3)
    # a pytree of parameters, and integer ones (not differentiated)
    def tree_fun(t, y, params, power):
        return -params["k"] * y ** power

    g = dr.grad(lambda k: solve_ivp(tree_fun, (0.0, 1.0), [1.0], args=({"k": k}, 1), rtol=1e-9,
                                    atol=1e-12).y[0, -1])(0.5)
    np.testing.assert_allclose(g, -np.exp(-0.5), rtol=1e-6)
    g = dr.grad(lambda k: solve_ivp(tree_fun, (0.0, 1.0), [1.0], args=({"k": k}, 1), rtol=1e-9, atol=1e-12,
                                    adjoint=True).y[0, -1])(0.5)
    np.testing.assert_allclose(g, -np.exp(-0.5), rtol=1e-6)


# -- errors and failures --


def test_errors():
    with pytest.raises(ValueError, match="1-dimensional"):
        solve_ivp(decay, (0, 1), [[1.0]], args=(1.0,))
    with pytest.raises(ValueError, match=r"returned shape \(2,\)"):
        solve_ivp(lambda t, y: dnp.stack([y[0], y[0]]), (0, 1), [1.0])
    with pytest.raises(TypeError, match="complex"):
        solve_ivp(decay, (0, 1), [1.0 + 1j], args=(1.0,))
    with pytest.raises(ValueError, match="finite"):
        solve_ivp(decay, (0, 1), [np.nan], args=(1.0,))
    with pytest.raises(ValueError, match="within `t_span`"):
        solve_ivp(decay, (0, 1), [1.0], args=(1.0,), t_eval=[0.5, 2.0])
    with pytest.raises(ValueError, match="sorted"):
        solve_ivp(decay, (0, 1), [1.0], args=(1.0,), t_eval=[0.5, 0.2])
    with pytest.raises(ValueError, match="method"):
        solve_ivp(decay, (0, 1), [1.0], args=(1.0,), method="Euler")
    with pytest.raises(NotImplementedError, match="Radau"):
        solve_ivp(decay, (0, 1), [1.0], args=(1.0,), method="BDF")
    with pytest.raises(ValueError, match="atol"):
        solve_ivp(decay, (0, 1), [1.0], args=(1.0,), atol=[1e-6, 1e-6])
    with pytest.raises(TypeError, match="args"):
        solve_ivp(decay, (0, 1), [1.0], args=1.0)
    with pytest.raises(ValueError, match="first_step"):
        solve_ivp(decay, (0, 1), [1.0], args=(1.0,), first_step=2.0)
    with pytest.raises(ValueError, match="terminal"):
        bad = lambda t, y, k: y[0]
        bad.terminal = 0.5
        solve_ivp(decay, (0, 1), [1.0], args=(1.0,), events=bad)


def test_failure_is_a_status():
    # A non-finite derivative (blow-up of y' = y^2 at t = 1) ends with status -1 and a message, not an exception.
    sol = solve_ivp(lambda t, y: y ** 2, (0.0, 2.0), [1.0])
    ref = si.solve_ivp(lambda t, y: y ** 2, (0.0, 2.0), [1.0])
    assert sol.status == ref.status == -1 and not sol.success
    assert sol.message.startswith(ref.message)
    np.testing.assert_array_equal(sol.t, ref.t)
    bad = solve_ivp(lambda t, y: y * np.nan, (0.0, 1.0), [1.0])
    assert bad.status == -1 and "non-finite" in bad.message
    # ...and under differentiation too: the derivative of what was computed up to the failure.
    g = dr.grad(lambda a: solve_ivp(lambda t, y: y ** 2, (0.0, 2.0), dnp.stack([a])).y[0, -1])(1.0)
    assert np.isfinite(g)


# -- the stiff method --


def robertson(t, y, k1, k2, k3):
    return dnp.stack([-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2], k2 * y[1] ** 2])


def robertson_jac(t, y, k1, k2, k3):
    return np.array([[-k1, k3 * y[2], k3 * y[1]], [k1, -2 * k2 * y[1] - k3 * y[2], -k3 * y[1]], [0, 2 * k2 * y[1], 0]])


K_ROBER = (0.04, 3e7, 1e4)


@pytest.mark.parametrize("kw", [{}, {"rtol": 1e-6, "atol": 1e-10, "t_eval": np.logspace(-4, 2, 7)},
                                {"dense_output": True}], ids=["default", "t_eval", "dense"])
def test_radau_matches_scipy_given_the_exact_jacobian(kw):
    # scipy's Radau with the exact Jacobian (jac=...) takes the same steps as ours, whose Jacobian is dr.jacfwd(fun).
    ours = solve_ivp(robertson, (0.0, 100.0), [1.0, 0.0, 0.0], method="Radau", args=K_ROBER, **kw)
    ref = si.solve_ivp(robertson, (0.0, 100.0), [1.0, 0.0, 0.0], method="Radau", args=K_ROBER, jac=robertson_jac,
                       **kw)
    assert (ours.nfev, ours.njev, ours.nlu) == (ref.nfev, ref.njev, ref.nlu)
    np.testing.assert_array_equal(ours.t, ref.t)
    np.testing.assert_allclose(ours.y, ref.y, rtol=1e-13, atol=1e-16)
    if kw.get("dense_output"):
        t = np.linspace(0.0, 100.0, 17)
        np.testing.assert_allclose(ours.sol(t), ref.sol(t), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("adjoint", [False, True], ids=["discretise", "adjoint"])
def test_radau_derivatives(adjoint):
    # A stiff linear decay with a closed form: y(1) = y0 exp(-k G); first and second derivatives in k.
    G = 1 + 0.1 * (1 - np.cos(1.0))

    def y1(k, y0=2.0):
        return solve_ivp(decay, (0.0, 1.0), dnp.stack([y0]), method="Radau", args=(k,), rtol=1e-8, atol=1e-12,
                         t_eval=[1.0], adjoint=adjoint).y[0, 0]

    k = 5.0
    np.testing.assert_allclose(dr.grad(y1)(k), -2.0 * G * np.exp(-k * G), rtol=1e-5)
    np.testing.assert_allclose(dr.grad(y1, argnums=1)(k, 2.0), np.exp(-k * G), rtol=1e-5)
    if not adjoint:
        np.testing.assert_allclose(dr.hessian(y1)(k), 2.0 * G ** 2 * np.exp(-k * G), rtol=1e-4)


def test_radau_robertson_sensitivities_against_finite_differences():
    t_eval = np.array([1e-3, 1e-1, 1.0])

    def ours(logk):
        sol = solve_ivp(robertson, (0.0, 1.0), [1.0, 0.0, 0.0], method="Radau", args=tuple(dnp.exp(logk)),
                        t_eval=t_eval, rtol=1e-7, atol=1e-12)
        return sol.y[1] * 1e4 + sol.y[0]

    def scipy_value(logk):
        sol = si.solve_ivp(robertson, (0.0, 1.0), [1.0, 0.0, 0.0], method="Radau", args=tuple(np.exp(logk)),
                           jac=robertson_jac, t_eval=t_eval, rtol=1e-11, atol=1e-15)
        return sol.y[1] * 1e4 + sol.y[0]

    logk = np.log(np.array(K_ROBER))
    J = dr.jacrev(ours)(logk)
    np.testing.assert_allclose(J, central_difference(scipy_value, logk).T, rtol=1e-4, atol=1e-7)
