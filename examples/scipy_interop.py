"""dualrev's exact derivatives in scipy.optimize: ``scipy_callables`` turns one function into the fun, jac, hess
and hessp that scipy.optimize.minimize takes (scipy is optional: the example says so and stops without it).

    python examples/scipy_interop.py
"""

import numpy as np

import dualrev.numpy as dnp
from dualrev import optimize


def rosenbrock(x):
    return dnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def loss(params, X, y):
    """A pytree-parameter objective with data arguments: ridge-regularised logistic regression."""
    z = X @ params["w"] + params["b"]
    return dnp.mean(dnp.log(1.0 + dnp.exp(-y * z))) + 0.01 * dnp.sum(params["w"] ** 2)


def main():
    try:
        import scipy.optimize
    except ImportError:
        print("scipy is not installed: nothing to show (pip install scipy)")
        return
    x0 = np.array([-1.2, 1.0, -1.2, 1.0])
    fun, jac, hess, hessp = optimize.scipy_callables(rosenbrock)
    print("scipy.optimize.minimize on the 4-d Rosenbrock function, derivatives from dualrev:")
    for method, kw in (("trust-exact", {"hess": hess}), ("Newton-CG", {"hessp": hessp}),
                       ("trust-krylov", {"hessp": hessp}), ("BFGS", {})):
        res = scipy.optimize.minimize(fun, x0, jac=jac, method=method, tol=1e-10, **kw)
        print(f"  {method:12s} success={res.success}  nit={res.nit:3d}  f={res.fun:.2e}  x={np.round(res.x, 6)}")
        assert np.allclose(res.x, 1.0, atol=1e-4)

    # A pytree x0 and extra arguments: scipy sees the flattened vector, unravel() gives the pytree back.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = np.sign(X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(50))
    params0 = {"w": np.zeros(3), "b": np.zeros(())}
    sc = optimize.scipy_callables(loss, params0)
    res = scipy.optimize.minimize(sc.fun, sc.x0, args=(X, y), jac=sc.jac, hessp=sc.hessp, method="trust-ncg")
    params = sc.unravel(res.x)
    ours = optimize.minimize(loss, params0, args=(X, y), method="newton")
    print(f"logistic regression, trust-ncg in scipy: w = {np.round(params['w'], 5)}, b = {params['b']:.5f}")
    print(f"the same with dualrev.optimize newton:  w = {np.round(ours.x['w'], 5)}, b = {ours.x['b']:.5f}")
    assert np.allclose(params["w"], ours.x["w"], atol=1e-5)


if __name__ == "__main__":
    main()
