"""dualrev.optimize: every method on Rosenbrock (n = 2 and n = 100) and on a pytree problem, results and counters,
callbacks and the report, float32, bad input (errors before iterating) and bad runs (a status, never an exception),
least squares, the scipy interop, and the charged-particle problem of Siskind & Pearlmutter."""

import importlib.util
import itertools
import pathlib

import numpy as np
import pytest

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import optimize

ROOT = pathlib.Path(__file__).resolve().parents[1]
METHODS = ["newton", "trust-exact", "newton-cg", "trust-ncg", "bfgs", "l-bfgs", "gd"]
SECOND_ORDER = {"newton", "trust-exact", "newton-cg", "trust-ncg"}


def rosenbrock(x):
    """The chained Rosenbrock function (scipy.optimize.rosen)."""
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def ext_rosenbrock(x):
    """Moré-Garbow-Hillstrom's extended Rosenbrock function: independent pairs (x_2i-1, x_2i)."""
    odd, even = x[0::2], x[1::2]
    return dnp.sum(100.0 * (even - odd ** 2) ** 2 + (1.0 - odd) ** 2)


def rosen_x0(n):
    x0 = np.empty(n)
    x0[0::2], x0[1::2] = -1.2, 1.0
    return x0


def gnorm(fun, x):
    return np.max(np.abs(dr.grad(fun)(x)))


# -- every method on Rosenbrock --


@pytest.mark.parametrize("method", METHODS)
def test_rosenbrock_2(method):
    maxiter = 20000 if method == "gd" else None
    res = optimize.minimize(rosenbrock, np.array([-1.2, 1.0]), method=method, maxiter=maxiter,
                            tol=1e-4 if method == "gd" else 1e-6)
    assert res.success and res.status == 0, res.message
    assert res.message == "Optimization terminated successfully."
    assert np.allclose(res.x, [1.0, 1.0], atol=1e-3 if method == "gd" else 1e-6)
    assert np.max(np.abs(res.jac)) <= (1e-4 if method == "gd" else 1e-6)
    assert np.isclose(res.fun, rosenbrock(res.x)) and res.x.dtype == np.float64 and res.x.shape == (2,)
    limit = {"newton": 30, "trust-exact": 30, "newton-cg": 110, "trust-ncg": 40, "bfgs": 50, "l-bfgs": 50,
             "gd": 20000}[method]
    assert 0 < res.nit <= limit
    trust = method.startswith("trust")
    assert res.nfev >= res.nit and res.njev >= (1 if trust else res.nit)  # rejected trust-region steps: f only
    assert (res.nhev > 0) == (method in SECOND_ORDER)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "gd"])
def test_extended_rosenbrock_100(method):
    res = optimize.minimize(ext_rosenbrock, rosen_x0(100), method=method, tol=1e-6)
    assert res.success, res.message
    assert np.allclose(res.x, 1.0, atol=1e-5) and res.fun < 1e-10
    assert res.nit <= {"newton": 30, "trust-exact": 30, "newton-cg": 110, "trust-ncg": 60, "bfgs": 60,
                       "l-bfgs": 60}[method]


def test_chained_rosenbrock_100_second_order():
    # The chained function has a local minimum near (-1, 1, ..., 1) besides the global one; any first-order
    # point counts. Newton-CG and trust-ncg need only Hessian-vector products at n = 100.
    for method in ("newton-cg", "trust-ncg", "l-bfgs"):
        res = optimize.minimize(rosenbrock, rosen_x0(100), method=method, tol=1e-6)
        assert res.success, (method, res.message)
        assert gnorm(rosenbrock, res.x) <= 1e-6


def test_gradient_descent_100_reports_maxiter():
    x0 = rosen_x0(100)
    res = optimize.minimize(ext_rosenbrock, x0, method="gd", maxiter=200)
    assert not res.success and res.status == 1 and res.nit == 200
    assert "Maximum number of iterations" in res.message
    assert res.fun < 0.1 * ext_rosenbrock(x0)


def test_newton_beats_first_order_on_iterations():
    x0 = np.array([-1.2, 1.0])
    nits = {m: optimize.minimize(rosenbrock, x0, method=m).nit for m in ("newton", "bfgs")}
    assert nits["newton"] < nits["bfgs"]


# -- pytrees and dtypes --


def _regression():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))
    Y = X @ np.array([[1.0, -1.0], [2.0, 0.5], [-0.5, 0.0]]) + np.array([0.3, -0.2])
    Y = Y + 0.01 * rng.standard_normal(Y.shape)
    A = np.hstack([X, np.ones((40, 1))])
    coef = np.linalg.lstsq(A, Y, rcond=None)[0]
    return X, Y, coef[:3], coef[3]


def regression_loss(params, X, Y):
    W, (b, scale) = params["W"], params["bias"]
    return dnp.mean((X @ W + b * scale - Y) ** 2)


@pytest.mark.parametrize("method", METHODS)
def test_pytree_parameters(method):
    X, Y, W_star, b_star = _regression()
    params0 = {"W": np.zeros((3, 2)), "bias": (np.zeros(2), np.float64(1.0))}
    res = optimize.minimize(regression_loss, params0, method=method, args=(X, Y), tol=1e-9,
                            options=None if method.startswith("trust") else {"c1": 1e-4})
    assert res.success, res.message
    assert set(res.x) == {"W", "bias"} and isinstance(res.x["bias"], tuple)
    assert res.x["W"].shape == (3, 2) and res.x["bias"][0].shape == (2,)
    assert isinstance(res.x["bias"][1], np.float64)  # a scalar leaf stays a scalar
    assert res.jac["W"].shape == (3, 2)
    # the bias enters as b * scale: only the product is determined
    assert np.allclose(res.x["W"], W_star, atol=1e-5)
    assert np.allclose(res.x["bias"][0] * res.x["bias"][1], b_star, atol=1e-5)


def test_float32_x_keeps_its_dtype():
    x0 = np.array([-1.2, 1.0], dtype=np.float32)
    for method in ("newton", "bfgs", "trust-ncg", "trust-exact"):
        res = optimize.minimize(rosenbrock, x0, method=method, tol=1e-2)
        assert res.x.dtype == np.float32 and res.jac.dtype == np.float32, method
        assert res.status in (0, 2), res.message  # float32 may stop on precision loss, never raise
        assert np.allclose(res.x, 1.0, atol=2e-2), (method, res.x)


def test_mixed_dtype_pytree_leaves_keep_their_dtypes():
    x0 = {"a": np.array([3.0], np.float32), "b": np.array([-2.0])}
    res = optimize.minimize(lambda p: dnp.sum((p["a"] - 1.0) ** 2) + dnp.sum((p["b"] + 1.0) ** 2), x0,
                            method="newton")
    assert res.success and res.x["a"].dtype == np.float32 and res.x["b"].dtype == np.float64
    assert np.allclose(res.x["a"], 1.0) and np.allclose(res.x["b"], -1.0)


def test_scalar_x0():
    res = optimize.minimize(lambda w: (w - 2.0) ** 4 + w ** 2, 0.0, method="newton", tol=1e-10)
    assert res.success and isinstance(res.x, np.float64)
    assert abs(4 * (res.x - 2.0) ** 3 + 2 * res.x) < 1e-9


# -- results, counters, report, callback --


def test_result_fields_and_hessians():
    x0 = np.array([-1.2, 1.0])
    exact = optimize.minimize(rosenbrock, x0, method="trust-exact")
    assert np.allclose(exact.hess, dr.hessian(rosenbrock)(exact.x))
    res = optimize.minimize(rosenbrock, x0, method="newton")
    for key in ("x", "fun", "jac", "nit", "nfev", "njev", "nhev", "success", "status", "message", "hess"):
        assert key in res and getattr(res, key) is res[key]
    assert np.allclose(res.hess, dr.hessian(rosenbrock)(res.x))
    assert res.nhev == res.nit + 1  # one Hessian per iteration, one at the solution
    assert "fun:" in repr(res)
    bfgs = optimize.minimize(rosenbrock, x0, method="bfgs", tol=1e-8)
    H_inv = np.linalg.inv(dr.hessian(rosenbrock)(bfgs.x))
    assert np.allclose(bfgs.hess_inv, H_inv, rtol=0.2, atol=0.05)
    lbfgs = optimize.minimize(rosenbrock, x0, method="l-bfgs")
    v = np.array([1.0, 2.0])
    assert np.allclose(lbfgs.hess_inv @ v, lbfgs.hess_inv.todense() @ v)


def test_counts_match_calls():
    calls = {"n": 0}

    def f(x):
        calls["n"] += 1
        return rosenbrock(x)

    res = optimize.minimize(f, np.array([-1.2, 1.0]), method="bfgs", jit=False)
    # each plain evaluation and each gradient runs f once; the checks at x0 run it once more
    assert calls["n"] == res.nfev + res.njev
    # compiled (the default), the gradient runs f once, when it is traced
    calls["n"] = 0
    res_jit = optimize.minimize(f, np.array([-1.2, 1.0]), method="bfgs")
    assert calls["n"] == res_jit.nfev + 1 and np.allclose(res_jit.x, res.x)


def test_callback_gets_each_iteration_and_can_stop():
    seen = []
    res = optimize.minimize(rosenbrock, np.array([-1.2, 1.0]), method="newton",
                            callback=lambda r: seen.append((r.nit, float(r.fun), r.x.copy())))
    assert [s[0] for s in seen] == list(range(1, res.nit + 1))
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(seen))  # monotone decrease with a line search
    assert np.allclose(seen[-1][2], res.x)

    def stop_after_3(r):
        if r.nit == 3:
            raise StopIteration

    res = optimize.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs", callback=stop_after_3)
    assert res.status == 99 and not res.success and res.nit == 3 and "StopIteration" in res.message


def test_pytree_callback():
    got = []
    optimize.minimize(regression_loss, {"W": np.zeros((3, 2)), "bias": (np.zeros(2), np.float64(1.0))},
                      args=_regression()[:2], method="l-bfgs", callback=lambda r: got.append(r.x))
    assert got and got[0]["W"].shape == (3, 2)


def test_disp_prints_iteration_table(capsys):
    optimize.minimize(rosenbrock, np.array([-1.2, 1.0]), method="trust-ncg", disp=True)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "iter" in lines[1] and "|grad|" in lines[1] and "nfev" in lines[1]
    assert "Optimization terminated successfully." in out and "Iterations:" in out
    assert len(lines) > 20
    optimize.minimize(rosenbrock, np.array([-1.2, 1.0]), method="bfgs")
    assert capsys.readouterr().out == ""


def logistic_loss(params, X, y):
    z = X @ params["w"] + params["b"]
    return dnp.mean(dnp.log(1.0 + dnp.exp(-y * z))) + 0.01 * dnp.sum(params["w"] ** 2)


SCIPY_MATCH = {"newton": "trust-exact", "trust-exact": "trust-exact", "newton-cg": "Newton-CG", "trust-ncg": "trust-ncg", "bfgs": "BFGS",
               "l-bfgs": "L-BFGS-B", "gd": "CG"}


@pytest.mark.parametrize("method", METHODS)
def test_methods_agree_with_scipy(method):
    # a strictly convex problem: every method must find scipy's minimiser
    so = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = np.sign(X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.5 * rng.standard_normal(60))
    params0 = {"w": np.zeros(4), "b": np.float64(0.0)}
    sc = optimize.scipy_callables(logistic_loss, params0)
    ref = so.minimize(sc.fun, sc.x0, args=(X, y), jac=sc.jac, hess=sc.hess, hessp=None, method="trust-exact",
                      tol=1e-12) if method in ("newton", "trust-exact") else so.minimize(
        sc.fun, sc.x0, args=(X, y), jac=sc.jac, method=SCIPY_MATCH[method], tol=1e-12,
        **({"hessp": sc.hessp} if method in ("newton-cg", "trust-ncg") else {}))
    ref_x = sc.unravel(ref.x)
    tol, atol = (1e-7, 1e-6) if method == "gd" else (1e-9, 1e-7)
    res = optimize.minimize(logistic_loss, params0, args=(X, y), method=method, tol=tol)
    assert res.success, res.message
    assert np.allclose(res.x["w"], ref_x["w"], atol=atol) and np.isclose(res.x["b"], ref_x["b"], atol=atol)
    assert res.nit <= max(3 * ref.nit, 10)


# -- options --


def test_options():
    x0 = np.array([-1.2, 1.0])
    eigen = optimize.minimize(rosenbrock, x0, method="newton", options={"hessian_modification": "eigen"})
    assert eigen.success
    small = optimize.minimize(rosenbrock, x0, method="l-bfgs", options={"history_size": 1})
    assert small.success
    tr = optimize.minimize(rosenbrock, x0, method="trust-ncg",
                           options={"initial_trust_radius": 0.1, "max_trust_radius": 10.0, "eta": 0.1})
    assert tr.success
    cg = optimize.minimize(rosenbrock, x0, method="newton-cg", options={"cg_maxiter": 1})
    assert cg.success  # one CG step per iteration is steepest descent scaled by curvature: slower, still there
    assert cg.nit > optimize.minimize(rosenbrock, x0, method="newton-cg").nit
    assert optimize.minimize(rosenbrock, x0, method="BFGS").success  # case-insensitive
    assert optimize.minimize(rosenbrock, x0, method="lbfgs").success
    assert optimize.minimize(rosenbrock, x0, options={"maxiter": 2}).nit == 2
    assert optimize.minimize(rosenbrock, x0, method="bfgs", tol=1e-1).nit < optimize.minimize(
        rosenbrock, x0, method="bfgs").nit


# -- bad input: a clear error before iterating --


def _never_called(x):
    raise AssertionError("fun was iterated")


@pytest.mark.parametrize("fun, x0, kwargs, exc, match", [
    (lambda x: x ** 2, np.array([1.0, 2.0]), {}, TypeError, r"must return a scalar.*shape \(2,\)"),
    (lambda x: dnp.sum(dnp.log(x)), np.array([-1.0, 2.0]), {}, ValueError, "not finite at x0"),
    (lambda x: dnp.sum(1.0 / x), np.array([0.0, 1.0]), {}, ValueError, "not finite at x0"),
    (lambda x: dnp.sum((np.ones((3, 2)) @ x) ** 2), np.ones(3), {}, ValueError, r"at x0 .*failed.*shape"),
    (rosenbrock, np.array([-1.2, 1.0]), {"method": "nelder-mead"}, ValueError, "unknown method 'nelder-mead'"),
    (rosenbrock, np.array([-1.2, 1.0]), {"method": "bfgs", "options": {"history_size": 5}}, ValueError,
     r"unknown option\(s\) \['history_size'\]"),
    (rosenbrock, np.array([-1.2, 1.0]), {"options": {"gtoll": 1e-3}}, ValueError, "unknown option"),
    (rosenbrock, np.array([-1, 1]), {}, TypeError, "dtype int64"),
    (rosenbrock, np.array([-1.2, np.nan]), {}, ValueError, "NaN or infinite"),
    (rosenbrock, np.zeros(0), {}, ValueError, "no elements"),
    (rosenbrock, {}, {}, ValueError, "nothing to optimise"),
    (rosenbrock, "x", {}, TypeError, "x0 must be a float array"),
    (rosenbrock, np.array([-1.2, 1.0]), {"args": 3.0}, TypeError, "args must be a tuple"),
    (rosenbrock, np.array([-1.2, 1.0]), {"options": {"c1": 0.9, "c2": 0.1}}, ValueError, "0 < c1 < c2 < 1"),
    (rosenbrock, np.array([-1.2, 1.0]), {"maxiter": 5, "options": {"maxiter": 6}}, ValueError, "maxiter given twice"),
    (rosenbrock, np.array([-1.2, 1.0]), {"maxiter": -1}, ValueError, "maxiter must be an integer >= 0"),
    (rosenbrock, np.array([-1.2, 1.0]), {"method": "newton", "options": {"hessian_modification": "x"}}, ValueError,
     "hessian_modification"),
    ("not callable", np.array([1.0]), {}, TypeError, "must be callable"),
])
def test_bad_input_raises_before_iterating(fun, x0, kwargs, exc, match):
    with pytest.raises(exc, match=match), np.errstate(all="ignore"):
        optimize.minimize(fun, x0, callback=_never_called, **kwargs)


def test_non_finite_gradient_at_x0():
    with pytest.raises(ValueError, match="gradient .* not finite at x0"):
        optimize.minimize(lambda x: dnp.sum(dnp.sqrt(x)), np.array([0.0, 1.0]))


# -- bad runs: a status and a message, never an exception, never a false success --


@pytest.mark.parametrize("method", ["newton", "newton-cg", "bfgs", "l-bfgs", "gd"])
def test_unbounded_objective_is_divergence(method):
    res = optimize.minimize(lambda x: dnp.sum(x) - dnp.sum(x ** 2) * 1e-3 * (method != "gd"), np.array([0.5, 1.0]),
                            method=method)
    assert not res.success and res.status == 3, (res.status, res.message)
    assert res.message.startswith("Divergence")


@pytest.mark.parametrize("method", ["trust-ncg", "trust-exact"])
def test_unbounded_trust_region_stops_with_a_status(method):
    res = optimize.minimize(lambda x: -dnp.sum(x ** 2), np.array([0.5, 1.0]), method=method, maxiter=50)
    assert not res.success and res.status in (1, 3) and res.fun < -1e4


def test_linear_objective_diverges_for_line_search_methods():
    res = optimize.minimize(lambda x: 2.0 * x[0] - x[1], np.array([0.0, 0.0]), method="bfgs")
    assert res.status == 3 and not res.success


def test_nan_region_is_backed_off_from():
    # log is NaN for x <= 0: the first trial steps land there and the line search backs off
    f = lambda x: dnp.sum(x - 3.0 * dnp.log(x))
    for method in ("newton", "bfgs", "trust-ncg", "trust-exact", "gd"):
        res = optimize.minimize(f, np.array([0.1, 20.0]), method=method, tol=1e-8, maxiter=5000)
        assert res.success and np.allclose(res.x, 3.0), (method, res.message)


def test_linalg_error_at_a_trial_point_is_backed_off_from():
    # A Gaussian's negative log-likelihood in the covariance entries: Newton's and BFGS's first full steps leave
    # the positive-definite cone, where cholesky raises LinAlgError; that is a failed step, never a crash.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) @ np.array([[2.0, 0.0], [1.5, 0.5]])
    S = X.T @ X / len(X)

    def nll(p):
        A = dnp.stack([dnp.stack([p[0], p[1]]), dnp.stack([p[1], p[2]])])
        L = dnp.linalg.cholesky(A)
        return 2 * dnp.sum(dnp.log(dnp.diagonal(L))) + dnp.trace(dnp.linalg.solve(A, S))

    for method in ("newton", "bfgs", "trust-exact", "newton-cg", "trust-ncg", "l-bfgs"):  # gd: shares the code
        res = optimize.minimize(nll, np.array([1.0, 0.9, 1.0]), method=method)
        assert res.success, (method, res.message)
        np.testing.assert_allclose(res.x, [S[0, 0], S[0, 1], S[1, 1]], rtol=1e-4, err_msg=method)


@dr.custom_jvp
def _wrong_sign_square(x):
    return x * x


@_wrong_sign_square.defjvp
def _wrong_sign_square_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return _wrong_sign_square(x), -2.0 * x * dx  # the derivative of -x^2: the gradient points downhill


@pytest.mark.parametrize("method", ["newton-cg", "bfgs", "l-bfgs", "gd"])
def test_failed_line_search_is_reported(method):
    res = optimize.minimize(lambda x: dnp.sum(_wrong_sign_square(x)), np.array([1.0, -2.0]), method=method)
    assert not res.success and res.status == 2
    assert "line search" in res.message and "precision loss" in res.message


def test_maxiter_is_reported():
    res = optimize.minimize(rosenbrock, np.array([-1.2, 1.0]), method="newton", maxiter=3)
    assert res.status == 1 and not res.success and res.nit == 3
    assert res.message == "Maximum number of iterations has been exceeded."
    res0 = optimize.minimize(rosenbrock, np.array([-1.2, 1.0]), maxiter=0)
    assert res0.status == 1 and res0.nit == 0


def test_already_optimal():
    res = optimize.minimize(rosenbrock, np.array([1.0, 1.0]), method="newton")
    assert res.success and res.nit == 0


def test_arithmetic_error_in_fun_is_a_bad_trial_point_not_a_crash():
    def f(x):
        if float(dr.stop_gradient(x[0])) > 2.0:
            raise ZeroDivisionError("outside the domain")
        return dnp.sum((x - 1.5) ** 2)

    res = optimize.minimize(f, np.array([0.0, 0.0]), method="bfgs")
    assert res.success and np.allclose(res.x, 1.5)


# -- least squares --


def rosen_residuals(x):
    return dnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


@pytest.mark.parametrize("method", ["lm", "gn"])
def test_least_squares_rosenbrock(method):
    res = optimize.least_squares(rosen_residuals, np.array([-1.2, 1.0]), method=method)
    assert res.success and res.status in (1, 2, 3), res.message
    assert np.allclose(res.x, 1.0, atol=1e-7) and res.cost < 1e-14
    assert res.jac.shape == (2, 2) and res.fun.shape == (2,) and np.isclose(res.optimality, np.abs(res.grad).max())
    assert res.njev >= 1 and res.nfev >= res.nit


def test_least_squares_against_scipy_and_pytree():
    so = pytest.importorskip("scipy.optimize")
    t = np.linspace(0.0, 3.0, 30)
    y = 2.5 * np.exp(-1.3 * t) + 0.5 + 0.01 * np.sin(7 * t)

    def residual(p, t, y):
        return p["a"] * dnp.exp(-p["k"] * t) + p["c"] - y

    p0 = {"a": np.float64(1.0), "k": np.float64(0.5), "c": np.float64(0.0)}
    ours = optimize.least_squares(residual, p0, args=(t, y))
    ref = so.least_squares(lambda v: v[0] * np.exp(-v[2] * t) + v[1] - y, [1.0, 0.0, 0.5], method="lm",
                           xtol=1e-12, ftol=1e-12)
    assert ours.success
    assert np.allclose([ours.x["a"], ours.x["c"], ours.x["k"]], ref.x, atol=1e-7)
    assert np.isclose(ours.cost, ref.cost, rtol=1e-8)
    gn = optimize.least_squares(residual, p0, args=(t, y), method="gn")
    assert gn.success and np.isclose(gn.cost, ref.cost, rtol=1e-8)


def test_least_squares_more_variables_than_residuals_uses_reverse_mode():
    res = optimize.least_squares(lambda x: dnp.stack([dnp.sum(x) - 1.0, x[0] - x[1]]), np.zeros(5))
    assert res.success and res.jac.shape == (2, 5) and res.cost < 1e-20
    res_fwd = optimize.least_squares(lambda x: dnp.stack([dnp.sum(x) - 1.0, x[0] - x[1]]), np.zeros(5), jac="fwd")
    assert np.allclose(res.jac, res_fwd.jac)


def test_least_squares_bad_input_and_limits():
    with pytest.raises(ValueError, match="unknown method"):
        optimize.least_squares(rosen_residuals, np.zeros(2), method="trf")
    with pytest.raises(ValueError, match="unknown option"):
        optimize.least_squares(rosen_residuals, np.zeros(2), options={"tau": 1.0})
    with pytest.raises(ValueError, match="not finite at x0"):
        optimize.least_squares(lambda x: dnp.log(x), np.array([-1.0, 1.0]))
    with pytest.raises(ValueError, match="failed"):
        optimize.least_squares(lambda x: np.ones((3, 2)) @ x, np.ones(3))
    res = optimize.least_squares(rosen_residuals, np.array([-1.2, 1.0]), max_nfev=3)
    assert res.status == 0 and not res.success and "maximum number of function evaluations" in res.message


# -- scipy interop --


def test_scipy_callables():
    so = pytest.importorskip("scipy.optimize")
    x0 = np.array([-1.2, 1.0, 0.3])
    fun, jac, hess, hessp = optimize.scipy_callables(rosenbrock)
    assert np.isclose(fun(x0), so.rosen(x0)) and isinstance(fun(x0), float)
    assert np.allclose(jac(x0), so.rosen_der(x0))
    assert np.allclose(hess(x0), so.rosen_hess(x0))
    p = np.array([0.5, -1.0, 2.0])
    assert np.allclose(hessp(x0, p), so.rosen_hess_prod(x0, p))
    for method, kw in (("trust-exact", {"hess": hess}), ("Newton-CG", {"hessp": hessp}),
                       ("trust-krylov", {"hessp": hessp})):
        res = so.minimize(fun, x0, jac=jac, method=method, tol=1e-10, **kw)
        assert res.success and np.allclose(res.x, 1.0, atol=1e-6), method
    sc = optimize.scipy_callables(rosenbrock)
    res = so.minimize(sc.value_and_grad, x0, jac=True, method="BFGS")
    assert res.success and np.allclose(res.x, 1.0, atol=1e-4)


def test_scipy_callables_pytree_and_args():
    so = pytest.importorskip("scipy.optimize")
    X, Y, W_star, _ = _regression()
    params0 = {"W": np.zeros((3, 2)), "bias": (np.zeros(2), np.float64(1.0))}
    sc = optimize.scipy_callables(regression_loss, params0)
    assert sc.x0.shape == (9,)
    res = so.minimize(sc.fun, sc.x0, args=(X, Y), jac=sc.jac, hess=sc.hess, method="trust-exact", tol=1e-12)
    params = sc.unravel(res.x)
    assert np.allclose(params["W"], W_star, atol=1e-6)
    assert np.allclose(sc.hessp(res.x, np.ones(9), X, Y), sc.hess(res.x, X, Y) @ np.ones(9))


# -- Siskind & Pearlmutter: Newton through nested derivatives and a while loop --


def _load_example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_charged_particle_newton_converges_in_4_iterations():
    cp = _load_example("charged_particle")
    steps = cp.newton(cp.impact_x_squared, 0.0)
    ws = [float(w) for w, _, _ in steps]
    w_star = ws[-1]
    # the fixed point of this formulation (Euler steps of 0.1, acceleration at the current position, the last
    # step cut back to y = 0); the paper quotes w* ~ -0.266521
    assert abs(w_star - (-0.2665234052)) < 1e-9
    assert abs(ws[4] - w_star) < 1e-6 < abs(ws[3] - w_star)  # four Newton steps give six digits
    assert len(steps) == 6  # |E'(w_5)| <= 1e-8
    # E' by forward over forward mode agrees with reverse over forward and with finite differences
    w = -0.25
    d1, d2 = cp.first_and_second_derivative(cp.impact_x_squared, w)
    assert np.isclose(d1, dr.grad(cp.impact_x_squared)(w), rtol=1e-10)
    h = 1e-6
    fd2 = (dr.grad(cp.impact_x_squared)(w + h) - dr.grad(cp.impact_x_squared)(w - h)) / (2 * h)
    assert np.isclose(d2, fd2, rtol=1e-5)


def test_charged_particle_hessian_forward_over_reverse():
    # dr.hessian (what minimize(method="newton") uses) is forward over reverse over the inner reverse-mode force:
    # it must agree with forward over forward
    cp = _load_example("charged_particle")
    w = np.float64(-0.25)
    _, d2 = cp.first_and_second_derivative(cp.impact_x_squared, w)
    assert np.isclose(dr.hessian(cp.impact_x_squared)(w), d2, rtol=1e-12)


@pytest.mark.parametrize("fun, x0, options", [
    (lambda x: -dnp.sum(dnp.exp(x)), [0.5, 2.0], {"maxiter": 20}),  # unbounded below: a flat multiplier slope
    (lambda x: dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2), [-1.2, 1.0],
     {"initial_trust_radius": 1e-300}),  # |p(l)| overflows near the bracket's end
])
def test_trust_exact_subproblem_degenerate_cases_end_with_a_status(fun, x0, options):
    res = optimize.minimize(fun, np.array(x0), method="trust-exact", options=options)
    assert res.status in (1, 2, 3) and not res.success
    assert np.all(np.isfinite(res.x))
