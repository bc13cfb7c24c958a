"""Lotka-Volterra parameter estimation from noisy observations, through dualrev.integrate.solve_ivp.

Predators and prey follow x' = a x - b x y, y' = -c y + d x y. From noisy counts at 20 times we recover
(a, b, c, d) and the initial populations by nonlinear least squares:

- dualrev.optimize.least_squares (Levenberg-Marquardt) on the exact Jacobian of the residuals, taken by dr.jacfwd
  through the ODE solve (discretise-then-optimise: exact derivatives of the computed solution);
- scipy.optimize.least_squares (trust-region reflective) on finite-difference Jacobians of scipy's solve_ivp.

Prints iterations, residual evaluations, time and the parameters recovered, and plots the data with both fits.

    python examples/ode_parameter_estimation.py [--out DIR] [--full]
"""

import argparse
import os
import tempfile
import time

import numpy as np

import dualrev.numpy as dnp
from dualrev import optimize
from dualrev.integrate import solve_ivp

TRUE = np.array([1.5, 1.0, 3.0, 1.0, 10.0, 5.0])  # a, b, c, d, x0, y0
NAMES = ["a", "b", "c", "d", "x0", "y0"]


def lotka_volterra(t, z, a, b, c, d):
    x, y = z[0], z[1]
    return dnp.stack([a * x - b * x * y, -c * y + d * x * y])


def observations(t_obs, noise, seed=0):
    rng = np.random.default_rng(seed)
    clean = solve_ivp(lotka_volterra, (0.0, t_obs[-1]), TRUE[4:], args=tuple(TRUE[:4]), t_eval=t_obs,
                      rtol=1e-10, atol=1e-10).y
    return clean * (1 + noise * rng.standard_normal(clean.shape))


def make_residual(t_obs, data, rtol):
    # Relative residuals: prey and predator counts differ by an order of magnitude.
    def residual(theta):
        sol = solve_ivp(lotka_volterra, (0.0, t_obs[-1]), theta[4:], args=(theta[0], theta[1], theta[2], theta[3]),
                        t_eval=t_obs, rtol=rtol, atol=1e-9)
        return dnp.reshape((sol.y - data) / data, (-1,))

    return residual


def fit_dualrev(residual, theta0):
    start = time.perf_counter()
    res = optimize.least_squares(residual, theta0, method="lm", jac="fwd", xtol=1e-10, ftol=1e-10)
    return res, time.perf_counter() - start


def fit_scipy(t_obs, data, theta0, rtol):
    import scipy.integrate
    import scipy.optimize

    def residual(theta):
        sol = scipy.integrate.solve_ivp(lotka_volterra, (0.0, t_obs[-1]), theta[4:], args=tuple(theta[:4]),
                                        t_eval=t_obs, rtol=rtol, atol=1e-9)
        return ((sol.y - data) / data).ravel()

    start = time.perf_counter()
    res = scipy.optimize.least_squares(residual, theta0, xtol=1e-10, ftol=1e-10)
    return res, time.perf_counter() - start


def plot(t_obs, data, fits, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot (pip install matplotlib)")
        return None
    t = np.linspace(0.0, t_obs[-1], 300)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, (label, color) in enumerate([("prey x", "tab:blue"), ("predators y", "tab:red")]):
        ax.plot(t_obs, data[k], "o", color=color, label=f"{label}, observed")
        for (name, theta), style in zip(fits.items(), ["-", "--"]):
            y = solve_ivp(lotka_volterra, (0.0, t[-1]), theta[4:], args=tuple(theta[:4]), t_eval=t, rtol=1e-8).y
            ax.plot(t, y[k], style, color=color, label=f"{label}, {name} fit")
    ax.set_xlabel("t")
    ax.set_ylabel("population")
    ax.set_title("Lotka-Volterra fitted to noisy observations")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="directory for the plot (default: a temporary directory)")
    parser.add_argument("--full", action="store_true", help="40 observations over a longer window, tighter rtol")
    args = parser.parse_args(argv)
    n_obs, t_end, rtol = (40, 10.0, 1e-8) if args.full else (20, 5.0, 1e-6)
    t_obs = np.linspace(0.5, t_end, n_obs)
    data = observations(t_obs, noise=0.05)
    theta0 = np.array([1.0, 0.7, 2.5, 0.7, 8.0, 4.0])
    residual = make_residual(t_obs, data, rtol)

    ours, t_ours = fit_dualrev(residual, theta0)
    rows = [("dualrev LM, exact Jacobian", ours.nit, ours.nfev, ours.njev, t_ours, ours.x, ours.cost)]
    fits = {"dualrev": ours.x}
    try:
        theirs, t_theirs = fit_scipy(t_obs, data, theta0, rtol)
        rows.append(("scipy TRF, finite differences", theirs.njev, theirs.nfev + theirs.njev * len(theta0),
                     theirs.njev, t_theirs, theirs.x, theirs.cost))
        fits["scipy"] = theirs.x
    except ImportError:
        print("scipy is not installed: skipping the comparison")

    print(f"{'':32} {'iter':>5} {'resid evals':>12} {'jacobians':>10} {'time s':>7} {'cost':>10}  "
          + " ".join(f"{n:>6}" for n in NAMES))
    print(f"{'true':32} {'':>5} {'':>12} {'':>10} {'':>7} {'':>10}  " + " ".join(f"{v:6.3f}" for v in TRUE))
    for name, nit, nfev, njev, seconds, x, cost in rows:
        print(f"{name:32} {nit:5d} {nfev:12d} {njev:10d} {seconds:7.2f} {cost:10.3e}  "
              + " ".join(f"{v:6.3f}" for v in x))
    assert ours.success and np.allclose(ours.x, TRUE, rtol=0.15), ours.x
    if "scipy" in fits:
        assert abs(ours.cost - theirs.cost) <= 1e-3 * theirs.cost + 1e-9, (ours.cost, theirs.cost)

    out = args.out or tempfile.mkdtemp(prefix="dualrev-ode-")
    os.makedirs(out, exist_ok=True)
    path = plot(t_obs, data, fits, os.path.join(out, "ode_parameter_estimation.png"))
    if path:
        print(f"plot: {path}")


if __name__ == "__main__":
    main()
