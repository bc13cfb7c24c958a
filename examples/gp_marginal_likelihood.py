"""Fitting a Gaussian process's hyperparameters by the exact gradient of its log marginal likelihood.

The data are noisy samples of sin(2x). The model is a Gaussian process with a squared-exponential kernel; its three
hyperparameters (length scale, signal and noise standard deviations, on a log scale) maximize

    log p(y) = -1/2 y^T K^-1 y - 1/2 log det K - n/2 log 2 pi,    K = k(X, X) + noise^2 I,

written twice: with dualrev.scipy.linalg.cho_factor / cho_solve, and as dualrev.scipy.stats.multivariate_normal.logpdf.
dr.grad gives the exact gradient (through the Cholesky factorization), checked against central finite differences;
dualrev.optimize.minimize (BFGS) fits the hyperparameters, and the posterior mean with a two-standard-deviation band
is plotted as PNG (skipped with a message when matplotlib is missing).

    python examples/gp_marginal_likelihood.py [--n 40] [--plot PATH]
"""

import argparse
import os
import tempfile

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import optimize
from dualrev.scipy import linalg, stats


def kernel(theta, xa, xb):
    """The squared-exponential kernel sigma_f^2 exp(-(xa - xb)^2 / (2 length^2)), theta = log(length, sigma_f, .)."""
    length, sigma_f = dnp.exp(theta[0]), dnp.exp(theta[1])
    d = xa[:, None] - xb[None, :]
    return sigma_f**2 * dnp.exp(-0.5 * d**2 / length**2)


def covariance(theta, x):
    return kernel(theta, x, x) + (dnp.exp(2.0 * theta[2]) + 1e-8) * np.eye(len(x))


def log_marginal_likelihood(theta, x, y):
    """By the Cholesky factor: -1/2 y^T alpha - sum(log diag L) - n/2 log 2 pi, alpha = K^-1 y."""
    c, lower = linalg.cho_factor(covariance(theta, x), lower=True)
    alpha = linalg.cho_solve((c, lower), y)
    return -0.5 * dnp.dot(y, alpha) - dnp.sum(dnp.log(dnp.diagonal(c))) - 0.5 * len(x) * np.log(2 * np.pi)


def log_marginal_likelihood_stats(theta, x, y):
    """The same, as the log density of y under N(0, K)."""
    return stats.multivariate_normal.logpdf(y, np.zeros(len(x)), covariance(theta, x))


def finite_difference_gradient(f, theta, h=1e-6):
    return np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])


def posterior(theta, x, y, xs):
    """The posterior mean and standard deviation of the latent function at xs."""
    c = linalg.cho_factor(covariance(theta, x), lower=True)
    ks = kernel(theta, x, xs)
    mean = ks.T @ linalg.cho_solve(c, y)
    v = linalg.solve_triangular(c[0], ks, lower=True)
    var = np.exp(2 * theta[1]) - np.sum(v**2, axis=0)
    return mean, np.sqrt(np.maximum(var, 0.0))


def plot(theta, x, y, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot (pip install matplotlib)")
        return
    xs = np.linspace(x.min() - 0.5, x.max() + 0.5, 200)
    mean, sd = posterior(theta, x, y, xs)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(xs, mean - 2 * sd, mean + 2 * sd, alpha=0.25, label="posterior mean ± 2 sd")
    ax.plot(xs, mean, label="posterior mean")
    ax.plot(xs, np.sin(2 * xs), "k--", lw=1, label="sin(2x)")
    ax.plot(x, y, "o", ms=4, label="data")
    ax.set_xlabel("x")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("Gaussian process, hyperparameters by exact gradients")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot saved to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="number of data points")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=os.path.join(tempfile.gettempdir(), "gp_marginal_likelihood.png"))
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x = np.sort(rng.uniform(0.0, 5.0, args.n))
    y = np.sin(2.0 * x) + 0.1 * rng.normal(size=args.n)
    theta0 = np.log([1.0, 1.0, 0.5])  # length scale, signal sd, noise sd

    value, grad = dr.value_and_grad(log_marginal_likelihood)(theta0, x, y)
    value_stats, grad_stats = dr.value_and_grad(log_marginal_likelihood_stats)(theta0, x, y)
    fd = finite_difference_gradient(lambda t: log_marginal_likelihood(t, x, y), theta0)
    error = np.max(np.abs(grad - fd)) / np.max(np.abs(fd))
    print(f"log p(y) at the start: {value:.6f} (cho_solve), {value_stats:.6f} (multivariate_normal.logpdf)")
    print(f"gradient:           {np.array2string(grad, precision=6)}")
    print(f"finite differences: {np.array2string(fd, precision=6)}   relative difference {error:.1e}")
    assert abs(value - value_stats) < 1e-8 and np.allclose(grad, grad_stats, rtol=1e-8, atol=1e-10)
    assert error < 1e-6, "the exact gradient disagrees with finite differences"

    res = optimize.minimize(lambda t: -log_marginal_likelihood(t, x, y), theta0, method="bfgs")
    length, sigma_f, sigma_n = np.exp(res.x)
    print(f"BFGS: {res.nit} iterations, log p(y) = {-res.fun:.4f}; length scale {length:.3f}, signal sd "
          f"{sigma_f:.3f}, noise sd {sigma_n:.3f} (the data's noise sd is 0.1)")
    assert res.success and -res.fun > value
    plot(res.x, x, y, args.plot)


if __name__ == "__main__":
    main()
