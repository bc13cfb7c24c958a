"""dualrev.optimize.root and fixed_point against scipy (values, statuses), and the implicit differentiation of roots,
fixed points and minimize's argmin against closed forms, finite differences and JAX (an unrolled Newton solve),
in both modes, at second and third order, under vmap; input kinds and errors."""

import pathlib
import sys

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st

import dualrev as dr
import dualrev.numpy as dnp
from dualrev.optimize import fixed_point, minimize, root

sys.path.append(str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))  # last: its scripts must not shadow packages
import mgh_problems

jax = pytest.importorskip("jax")
jnp = jax.numpy

MGH = {p.name: p for p in mgh_problems.problems(large=False)}
SQUARE = ["rosenbrock", "ext_rosenbrock", "powell_badly_scaled", "helical_valley", "powell_singular", "ext_powell",
          "trigonometric", "discrete_boundary", "broyden_tridiagonal"]


def cube_root(a):
    return root(lambda x, a: x**3 - a, np.array([1.0]), args=(a,)).x[0]


# -- values against scipy --


@pytest.mark.parametrize("name", SQUARE)
@pytest.mark.parametrize("method", ["hybr", "lm"])
def test_mgh_square_systems_reach_a_root(name, method):
    p = MGH[name]
    if (name, method) == ("trigonometric", "lm"):  # LM (like scipy's) stops at a local minimum of |F| there
        res = root(p.residual, p.x0, method=method)
        assert not res.success and res.status == 5 and "not a root" in res.message
        return
    res = root(p.residual, p.x0, method=method)
    assert res.success, res.message
    assert np.linalg.norm(res.fun) <= 1e-6 * max(1.0, np.linalg.norm(p.residual(p.x0)))
    assert np.allclose(res.fun, p.residual(res.x), atol=0) and res.x.shape == p.x0.shape
    assert res.nfev >= res.nit and res.njev >= 1
    if name not in ("trigonometric",):  # scipy's hybr stops at a local minimum of |F| there; dualrev's finds a root
        jac = dr.jacfwd(p.residual)
        ref = scipy.optimize.root(lambda x: np.asarray(p.residual(x)), p.x0, jac=lambda x: np.asarray(jac(x)),
                                  method=method)
        tol = 1e-3 if name in ("powell_singular", "ext_powell") else 1e-6  # a singular root: x to about sqrt(|F|)
        assert np.allclose(res.x, ref.x, atol=tol), (res.x, ref.x)


def test_scipy_documentation_example_and_result_fields():
    def fun(x):
        return [x[0] + 0.5 * (x[0] - x[1]) ** 3 - 1.0, 0.5 * (x[1] - x[0]) ** 3 + x[1]]

    res = root(fun, np.array([0.0, 0.0]))
    ref = scipy.optimize.root(fun, [0.0, 0.0], method="hybr")
    assert np.allclose(res.x, ref.x, atol=1e-10) and np.allclose(res.x, [0.8411639, 0.1588361])
    assert set(res) >= {"x", "success", "status", "message", "fun", "jac", "nfev", "njev", "nit"}
    assert res.status == 1 and res.message == "The solution converged."
    assert np.allclose(res.jac, dr.jacfwd(lambda x: dnp.stack(fun(x)))(res.x))


def test_local_minimum_of_the_residual_is_not_reported_as_a_root():
    p = MGH["freudenstein_roth"]  # from the standard start: the local minimum |F|^2 = 48.98, not a root
    for method in ("hybr", "lm"):
        res = root(p.residual, p.x0, method=method)
        assert not res.success and res.status == 5 and "not a root" in res.message
        assert np.isclose(np.sum(res.fun**2), 48.9842, rtol=1e-3)


def test_maxfev_and_callback():
    p = MGH["rosenbrock"]
    res = root(p.residual, p.x0, options={"maxfev": 3})
    assert res.status == 2 and not res.success and "maxfev = 3" in res.message
    seen = []
    res = root(p.residual, p.x0, callback=lambda r: seen.append(r.x))
    assert len(seen) == res.nit and np.allclose(seen[-1], res.x, atol=1e-6)


@pytest.mark.parametrize("method", ["del2", "iteration"])
def test_fixed_point_matches_scipy(method):
    def func(x, c1, c2):
        return dnp.sqrt(c1 / (x + c2))

    c1, c2, x0 = np.array([10.0, 12.0]), np.array([3.0, 5.0]), np.array([1.2, 1.3])
    x = fixed_point(func, x0, args=(c1, c2), method=method)
    ref = scipy.optimize.fixed_point(lambda x: np.sqrt(c1 / (x + c2)), x0, method=method)
    assert np.allclose(x, ref, rtol=1e-7) and np.allclose(x, [1.4920333, 1.37228132])
    assert np.allclose(x, func(x, c1, c2), rtol=1e-7)


def test_fixed_point_not_converging_raises_like_scipy():
    with pytest.raises(RuntimeError, match="failed to converge after 5 iterations"):
        fixed_point(lambda x: 2.0 * x + 1.0, np.array([1.0]), method="iteration", maxiter=5)


# -- derivatives: closed forms, every transform --


def test_root_derivatives_closed_form_every_transform():
    a = 8.0  # x = a^(1/3): x' = a^(-2/3)/3, x'' = -2/9 a^(-5/3), x''' = 10/27 a^(-8/3)
    d1, d2, d3 = a ** (-2 / 3) / 3, -2 / 9 * a ** (-5 / 3), 10 / 27 * a ** (-8 / 3)
    assert np.isclose(cube_root(a), 2.0)
    assert np.isclose(dr.grad(cube_root)(a), d1)
    assert np.isclose(dr.jvp(cube_root, (a,), (1.0,))[1], d1)
    assert np.isclose(dr.jacfwd(cube_root)(a), d1) and np.isclose(dr.jacrev(cube_root)(a), d1)
    assert np.isclose(dr.grad(dr.grad(cube_root))(a), d2)
    assert np.isclose(dr.hessian(cube_root)(a), d2)
    assert np.isclose(dr.jacfwd(dr.jacrev(cube_root))(a), d2) and np.isclose(dr.jacrev(dr.jacfwd(cube_root))(a), d2)
    assert np.isclose(dr.grad(dr.grad(dr.grad(cube_root)))(a), d3)
    assert np.isclose(dr.jacfwd(dr.jacfwd(dr.jacfwd(cube_root)))(a), d3)
    _, push = dr.linearize(cube_root, a)
    assert np.isclose(push(1.0), d1)


def test_root_under_vmap_and_mixed_with_derivatives():
    a = np.array([1.0, 8.0, 27.0])
    assert np.allclose(dr.vmap(cube_root)(a), [1.0, 2.0, 3.0])
    assert np.allclose(dr.vmap(dr.grad(cube_root))(a), a ** (-2 / 3) / 3)
    assert np.allclose(dr.grad(lambda a: dnp.sum(dr.vmap(cube_root)(a)))(a), a ** (-2 / 3) / 3)
    assert np.allclose(dr.jacfwd(dr.vmap(cube_root))(a), np.diag(a ** (-2 / 3) / 3))
    assert np.allclose(dr.vmap(dr.hessian(cube_root))(a), -2 / 9 * a ** (-5 / 3))


def test_fixed_point_derivatives_closed_form():
    # x = cos(a x): x' = -x sin(a x) / (1 + a sin(a x))
    def fp(a):
        return fixed_point(lambda x, a: dnp.cos(a * x), 0.5, args=(a,))

    a = 1.0
    x = fp(a)
    assert np.isclose(x, np.cos(x))
    assert np.isclose(dr.grad(fp)(a), -x * np.sin(x) / (1 + np.sin(x)))
    assert np.isclose(dr.jvp(fp, (a,), (1.0,))[1], dr.grad(fp)(a))
    dr.check_grads(fp, (a,), order=2, atol=1e-5, rtol=1e-5)


def _system(x, theta):
    """A 3 x 3 nonlinear system A x + 0.1 x^3 + sin(x) c = b with parameters {A, b, c}."""
    return theta["A"] @ x + 0.1 * x**3 + dnp.sin(x) * theta["c"] - theta["b"]


def _jax_newton(theta, steps=30):
    def F(x):
        return theta["A"] @ x + 0.1 * x**3 + jnp.sin(x) * theta["c"] - theta["b"]

    def newton_step(_, x):
        return x - jnp.linalg.solve(jax.jacfwd(F)(x), F(x))

    return jax.lax.fori_loop(0, steps, newton_step, jnp.zeros(3))  # a scan: differentiable in both modes


THETA = {"A": np.array([[3.0, 0.5, 0.2], [0.1, 2.5, -0.3], [0.4, 0.0, 4.0]]), "b": np.array([1.0, -0.5, 2.0]),
         "c": np.array([0.3, 0.2, -0.1])}


def _dr_solution(theta):
    return root(_system, np.zeros(3), args=(theta,), tol=1e-13).x


def test_system_jacobians_match_jax_unrolled_newton_both_modes():
    ref = jax.jacrev(_jax_newton)(THETA)
    for transform in (dr.jacfwd, dr.jacrev):
        got = transform(_dr_solution)(THETA)
        for k in THETA:
            assert np.allclose(got[k], ref[k], atol=1e-10), (transform.__name__, k)


def test_system_second_order_matches_jax():
    def loss(b):
        return dnp.sum(_dr_solution(dict(THETA, b=b)) ** 2 * np.array([1.0, 2.0, 3.0]))

    def jloss(b):
        return jnp.sum(_jax_newton(dict(THETA, b=b)) ** 2 * jnp.array([1.0, 2.0, 3.0]))

    H = np.asarray(jax.hessian(jloss)(THETA["b"]))
    assert np.allclose(dr.hessian(loss)(THETA["b"]), H, atol=1e-9)
    assert np.allclose(dr.jacrev(dr.grad(loss))(THETA["b"]), H, atol=1e-9)
    v = np.array([0.3, -1.0, 0.5])
    assert np.allclose(dr.hvp(loss, (THETA["b"],), (v,)), H @ v, atol=1e-9)


def test_system_against_finite_differences_all_orders():
    def f(b, c):
        return _dr_solution(dict(THETA, b=b, c=c))

    dr.check_grads(f, (THETA["b"], THETA["c"]), order=2, atol=1e-5, rtol=1e-5)


def test_linearize_solves_once():
    solves = []  # the solver's iterations, through its callback

    def F(x, a):
        return x**3 - a

    _, push = dr.linearize(lambda a: root(F, np.array([1.0]), args=(a,), callback=solves.append).x[0], 8.0)
    n = len(solves)
    assert np.isclose(push(1.0), 1 / 12) and np.isclose(push(3.0), 0.25) and len(solves) == n


def test_x0_has_zero_derivative_and_can_be_traced():
    def from_start(x0):
        return root(lambda x: x**3 - 8.0, x0).x

    assert np.allclose(dr.jacfwd(from_start)(np.array([1.0])), 0.0)
    assert np.allclose(dr.grad(lambda s: from_start(s)[0])(np.array([1.0])), 0.0)
    starts = np.array([[0.5], [1.0], [3.0]])
    assert np.allclose(dr.vmap(from_start)(starts), 2.0)


# -- the argmin of minimize --


def _ridge_data(n=30, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)


X, Y = _ridge_data()


def _ridge_loss(w, log_lam, X, y):
    return 0.5 * dnp.sum((X @ w - y) ** 2) + 0.5 * dnp.exp(log_lam) * dnp.sum(w**2)


def _ridge_closed(log_lam):
    return dnp.linalg.solve(X.T @ X + dnp.exp(log_lam) * np.eye(X.shape[1]), X.T @ Y)


@pytest.mark.parametrize("method", ["newton", "bfgs", "trust-exact", "l-bfgs"])
def test_argmin_derivatives_match_the_closed_form_ridge_solution(method):
    tol = 1e-10 if method in ("newton", "trust-exact") else 1e-8  # the quasi-Newton methods' precision floor

    def argmin(log_lam):
        return minimize(_ridge_loss, np.zeros(X.shape[1]), args=(log_lam, X, Y), method=method, tol=tol).x

    s = 0.3
    assert np.allclose(argmin(s), _ridge_closed(s), atol=100 * tol)
    assert np.allclose(dr.jacfwd(argmin)(s), dr.jacfwd(_ridge_closed)(s), atol=1e3 * tol)
    assert np.allclose(dr.jacrev(argmin)(s), dr.jacfwd(_ridge_closed)(s), atol=1e3 * tol)
    if method == "newton":
        def val(f):
            return lambda s: dnp.sum((X[:5] @ f(s) - Y[:5]) ** 2)

        assert np.isclose(dr.hessian(val(argmin))(s), dr.hessian(val(_ridge_closed))(s), rtol=1e-6)
        assert np.isclose(dr.grad(dr.grad(dr.grad(val(argmin))))(s), dr.grad(dr.grad(dr.grad(val(_ridge_closed))))(s),
                          rtol=1e-5)


def test_argmin_result_value_and_fields_when_traced():
    def optimum(log_lam):
        res = minimize(_ridge_loss, np.zeros(X.shape[1]), args=(log_lam, X, Y), method="newton", tol=1e-10)
        assert "hess" not in res and "jac" not in res and res.success
        return res.fun

    closed = dr.grad(lambda s: _ridge_loss(_ridge_closed(s), s, X, Y))(0.3)
    assert np.isclose(dr.grad(optimum)(0.3), closed)  # the envelope theorem, through the traced fun
    assert set(minimize(_ridge_loss, np.zeros(4), args=(0.3, X, Y), method="newton")) >= {"jac", "hess"}


def test_argmin_vmap_over_hyperparameters_and_data():
    s = np.array([-1.0, 0.0, 1.0])
    argmin = dr.vmap(lambda s: minimize(_ridge_loss, np.zeros(4), args=(s, X, Y), method="newton", tol=1e-10).x)
    assert np.allclose(argmin(s), np.stack([_ridge_closed(v) for v in s]), atol=1e-8)
    g = dr.vmap(dr.grad(lambda s: dnp.sum(minimize(_ridge_loss, np.zeros(4), args=(s, X, Y),
                                                    method="newton", tol=1e-10).x)))(s)
    assert np.allclose(g, [dr.grad(lambda v: dnp.sum(_ridge_closed(v)))(v) for v in s], atol=1e-7)


# -- input kinds --


def test_pytrees_lists_floats_and_float32():
    def F(x, p):  # x a dict, p a list of a float and an array
        return [x["u"] - p[0] * dnp.cos(x["v"][0]), x["v"] ** 3 - p[1]]

    x0 = {"u": 0.0, "v": np.array([1.0])}
    p = [2.0, np.array([8.0])]
    res = root(F, x0, args=(p,))
    assert res.success and np.isclose(res.x["v"][0], 2.0) and np.isclose(res.x["u"], 2.0 * np.cos(2.0))
    assert isinstance(res.x["u"], np.float64)
    g = dr.grad(lambda p: root(F, x0, args=(p,)).x["u"])(p)
    assert np.isclose(g[0], np.cos(2.0)) and np.allclose(g[1], -2.0 * np.sin(2.0) * 8.0 ** (-2 / 3) / 3)
    # a list x0, Python float args
    res = root(lambda x, a: [x[0] ** 2 - a, x[1] - x[0]], [1.0, 1.0], args=(4.0,))
    assert isinstance(res.x, list) and np.allclose(res.x, [2.0, 2.0])
    # float32 stays float32
    x32 = root(lambda x, a: x**3 - a, np.array([1.0], np.float32), args=(np.float32(8.0),))
    assert x32.x.dtype == np.float32 and np.isclose(x32.x[0], 2.0, rtol=1e-6)
    g32 = dr.grad(lambda a: root(lambda x, a: x**3 - a, np.array([1.0], np.float32), args=(a,)).x[0])(np.float32(8.0))
    assert np.isclose(g32, 1 / 12, rtol=1e-5)
    assert np.isclose(fixed_point(lambda x: dnp.cos(x), np.float32(0.5), xtol=1e-6), 0.7390851, rtol=1e-6)


def test_static_args_alongside_traced_ones():
    def F(x, a, label, power):  # a string and an int among args are left alone
        assert label == "cube" and power == 3
        return x**power - a

    g = dr.grad(lambda a: root(F, np.array([1.0]), args=(a, "cube", 3)).x[0])(8.0)
    assert np.isclose(g, 1 / 12)


# -- errors --


def test_non_square_system_is_refused():
    with pytest.raises(ValueError, match="3 values for 2 unknowns.*least_squares"):
        root(lambda x: dnp.stack([x[0], x[1], x[0] * x[1]]), np.ones(2))


def test_singular_jacobian_at_the_solution_raises_when_differentiating():
    # x0 + x1 = a (twice): a line of roots, no isolated one; dF/dx is singular everywhere
    def F(x, a):
        return dnp.stack([x[0] + x[1] - a, 2.0 * (x[0] + x[1] - a) + 0.0 * x[0] ** 2])

    res = root(F, np.array([1.0, 0.0]), args=(3.0,))
    assert res.success and np.isclose(res.x.sum(), 3.0)
    with pytest.raises(ValueError, match="singular at the solution"):
        dr.grad(lambda a: root(F, np.array([1.0, 0.0]), args=(a,)).x[0])(3.0)
    with pytest.raises(ValueError, match="singular at the solution"):
        dr.jvp(lambda a: root(F, np.array([1.0, 0.0]), args=(a,)).x, (3.0,), (1.0,))
    # x^2 = a^2 at a = 0: a double root, found to about sqrt(eps), where J = 2x -> 0
    res = root(lambda x, a: x**2 - a**2, np.array([1.0]), args=(0.0,))
    assert res.success and abs(res.x[0]) < 1e-6
    with pytest.raises(ValueError, match="multiple root"):
        dr.grad(lambda a: root(lambda x, a: x**2 - a**2, np.array([1.0]), args=(a,)).x[0])(0.0)
    assert np.isclose(dr.grad(lambda a: root(lambda x, a: x**2 - a**2, np.array([1.0]), args=(a,)).x[0])(1.0), 1.0)
    # minimize: a flat direction at the minimum (the Hessian is singular)
    with pytest.raises(ValueError, match="gradient with respect to x is singular"):
        dr.grad(lambda a: minimize(lambda x, a: (x[0] + x[1] - a) ** 2, np.zeros(2), args=(a,),
                                   method="newton").x[0])(1.0)


def test_non_convergence_is_a_status_and_its_derivative_raises():
    F = lambda x, a: x**2 + a
    res = root(F, np.array([1.0]), args=(1.0,))
    assert not res.success and res.status in (2, 3, 5)
    with pytest.raises(ValueError, match="did not converge"):
        dr.grad(lambda a: root(F, np.array([1.0]), args=(a,)).x[0])(1.0)
    res = dr.vmap(lambda a: root(F, np.array([1.0]), args=(a,)).x)(np.array([-1.0, 1.0]))
    assert res.shape == (2, 1)


def test_bad_arguments():
    F = lambda x: x - 1.0
    with pytest.raises(ValueError, match="Jacobian-free"):
        root(F, np.zeros(1), method="broyden1")
    with pytest.raises(ValueError, match="unknown method"):
        root(F, np.zeros(1), method="newton")
    with pytest.raises(ValueError, match="jac must be None"):
        root(F, np.zeros(1), jac=True)
    with pytest.raises(ValueError, match="unknown option"):
        root(F, np.zeros(1), options={"eps": 1e-3})
    with pytest.raises(TypeError, match="args must be a tuple"):
        root(F, np.zeros(1), args=1.0)
    with pytest.raises(TypeError, match="float"):
        root(F, np.zeros(1, int))
    with pytest.raises(ValueError, match="not finite at x0"):
        root(lambda x: dnp.log(x), np.zeros(1))
    with pytest.raises(ValueError, match="method must be 'del2' or 'iteration'"):
        fixed_point(F, np.zeros(1), method="newton")
    with pytest.raises(ValueError, match="shaped like x0"):
        fixed_point(lambda x: dnp.concatenate([x, x]), np.zeros(2))


def test_closure_over_a_traced_value_is_refused_with_the_way_out():
    with pytest.raises(TypeError, match="args="):
        dr.grad(lambda a: root(lambda x: x**3 - a, np.array([1.0])).x[0])(8.0)
    with pytest.raises(TypeError, match="args="):
        dr.grad(lambda a: minimize(lambda x: dnp.sum((x - a) ** 2), np.zeros(1)).x[0])(1.0)
    with pytest.raises(TypeError, match="args="):
        dr.grad(lambda a: fixed_point(lambda x: dnp.cos(a * x), 0.5))(1.0)
    from dualrev.optimize import least_squares

    with pytest.raises(TypeError, match="args="):
        dr.grad(lambda a: least_squares(lambda x: x - a, np.zeros(1)).x[0])(1.0)


# -- more solvers and kinds under the transforms --


def test_fixed_point_pytree_against_jax_unrolled_iteration():
    # x = 0.5 tanh(W x + b), y = 0.3 cos(x) + c: a contraction on a dict of two vectors
    W = np.array([[0.4, -0.2], [0.1, 0.3]])

    def func(z, b, c):
        x = 0.5 * dnp.tanh(W @ z["x"] + b)
        return {"x": x, "y": 0.3 * dnp.cos(x) + c * z["y"]}

    def jfunc(z, b, c):
        x = 0.5 * jnp.tanh(W @ z["x"] + b)
        return {"x": x, "y": 0.3 * jnp.cos(x) + c * z["y"]}

    def solve(b, c):
        return fixed_point(func, {"x": np.zeros(2), "y": np.zeros(2)}, args=(b, c), xtol=1e-14)

    def jsolve(b, c):
        return jax.lax.fori_loop(0, 100, lambda _, z: jfunc(z, b, c), {"x": jnp.zeros(2), "y": jnp.zeros(2)})

    b, c = np.array([0.3, -0.7]), 0.5
    z = solve(b, c)
    ref = jsolve(b, c)
    assert np.allclose(z["x"], ref["x"], atol=1e-12) and np.allclose(z["y"], ref["y"], atol=1e-12)
    J, Jref = dr.jacrev(solve, argnums=(0, 1))(b, c), jax.jacrev(jsolve, argnums=(0, 1))(b, c)
    for k in ("x", "y"):
        for i in range(2):
            assert np.allclose(J[k][i], Jref[k][i], atol=1e-10), (k, i)
    H = dr.hessian(lambda b: dnp.sum(solve(b, c)["y"] ** 2))(b)
    assert np.allclose(H, jax.hessian(lambda b: jnp.sum(jsolve(b, c)["y"] ** 2))(b), atol=1e-9)


def test_lm_roots_are_differentiated_too():
    def solution(b):
        return root(_system, np.zeros(3), args=(dict(THETA, b=b),), method="lm",
                    options={"xtol": 1e-14, "ftol": 1e-14}).x

    ref = jax.jacfwd(lambda b: _jax_newton(dict(THETA, b=b)))(THETA["b"])
    assert np.allclose(dr.jacrev(solution)(THETA["b"]), ref, atol=1e-8)
    assert np.allclose(dr.jacfwd(solution)(THETA["b"]), ref, atol=1e-8)


def test_traced_result_fields_and_vmap_summary():
    def F(x, a):
        return x**2 + a  # a root for a < 0 only

    res = dr.vmap(lambda a: root(F, np.array([1.0]), args=(a,)).x)(np.array([-4.0, -9.0]))
    assert np.allclose(res[:, 0], [2.0, 3.0])
    out = {}

    def solve(a):
        out["res"] = r = root(F, np.array([1.0]), args=(a,))
        return r.x

    dr.vmap(solve)(np.array([-4.0, 1.0]))
    r = out["res"]
    assert not r.success and r.status != 1 and "jac" not in r and r.nfev > 0


def test_float32_argmin_and_make_graph():
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)

    def argmin(log_lam):
        return minimize(_ridge_loss, np.zeros(4, np.float32), args=(log_lam, X32, Y32), method="newton", tol=1e-4).x

    w = argmin(np.float32(0.3))
    assert w.dtype == np.float32
    g = dr.jacfwd(argmin)(np.float32(0.3))
    assert g.dtype == np.float32 and np.allclose(g, dr.jacfwd(_ridge_closed)(0.3), rtol=1e-3, atol=1e-4)
    graph = dr.make_graph(lambda a: root(lambda x, a: x**3 - a, np.array([1.0]), args=(a,)).x)(8.0)
    assert "implicit_solution" in str(graph)


def test_least_squares_fit_differentiated_with_respect_to_the_data():
    from dualrev.optimize import least_squares

    t = np.linspace(0.0, 3.0, 20)

    def residual(p, t, y):
        return p["a"] * dnp.exp(-p["k"] * t) + p["c"] - y

    def fit(y):
        return least_squares(residual, {"a": 1.0, "k": 1.0, "c": 0.0}, args=(t, y), ftol=1e-14, xtol=1e-14,
                             gtol=1e-14).x["k"]

    y = 2.0 * np.exp(-1.5 * t) + 0.5 + 0.01 * np.sin(7.0 * t)
    g = dr.grad(fit)(y)
    eps = 1e-4  # a fit is exact to rounding only: a larger step keeps the differences above its noise
    fd = np.array([(fit(y + eps * e) - fit(y - eps * e)) / (2 * eps) for e in np.eye(t.size)])
    assert np.allclose(g, fd, atol=1e-5) and np.allclose(dr.jacfwd(fit)(y), g)
    res = least_squares(residual, {"a": 1.0, "k": 1.0, "c": 0.0}, args=(t, y))
    cost_grad = dr.grad(lambda y: least_squares(residual, {"a": 1.0, "k": 1.0, "c": 0.0}, args=(t, y)).cost)(y)
    assert np.allclose(cost_grad, -res.fun)  # the envelope theorem: d cost / dy = -r


@given(n=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
def test_random_systems_jacobian_is_the_inverse_of_dF_dx(n, seed):
    # F(x) = A x + 0.3 tanh(x) - b with A diagonally dominant: dx*/db = (A + 0.3 diag(1 - tanh(x*)^2))^-1
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) + (n + 1.0) * np.eye(n)
    b = rng.standard_normal(n)

    def solve(A, b):
        return root(lambda x, A, b: A @ x + 0.3 * dnp.tanh(x) - b, np.zeros(n), args=(A, b), tol=1e-14).x

    x = solve(A, b)
    K = A + 0.3 * np.diag(1.0 - np.tanh(x) ** 2)
    assert np.allclose(A @ x + 0.3 * np.tanh(x), b, atol=1e-12)
    assert np.allclose(dr.jacrev(solve, argnums=1)(A, b), np.linalg.inv(K), atol=1e-10)
    assert np.allclose(dr.jacfwd(solve, argnums=0)(A, b), -np.einsum("ij,k->ijk", np.linalg.inv(K), x), atol=1e-10)
