"""Choosing a ridge penalty by gradient descent on the validation loss, through the inner solve (implicit
differentiation).

The inner problem fits ridge-regression weights on the training set with dualrev.optimize.minimize,
w*(lam) = argmin 0.5 |X w - y|^2 + 0.5 lam |w|^2; the outer problem minimises the validation loss
L(s) = mean((X_val w*(e^s) - y_val)^2) over s = log lam with a trust-region Newton method (L is not convex in s,
and flat for large penalties: a trust region keeps the steps sensible). The derivatives of L come from
dr.grad and dr.hessian straight through minimize: the argmin is differentiated by the implicit function theorem
(one linear solve with the exact Hessian of the inner loss per derivative), never through its iterations. They are
checked against the closed-form ridge solution w*(lam) = (X'X + lam I)^-1 X'y, differentiated by dualrev, on a
grid of penalties. Saves a plot of the validation loss and its hypergradient against log lam (skipped with a
message when matplotlib is missing).

    python examples/ridge_hyperparameter.py [--features 40] [--out DIR]
"""

import argparse
import os
import tempfile
import time

import numpy as np

import dualrev as dr
import dualrev.numpy as dnp
from dualrev import optimize


def make_data(n_train, n_val, features, seed=0):
    """A linear model with decaying true weights and unit noise: enough features that the penalty matters."""
    rng = np.random.default_rng(seed)
    w_true = rng.standard_normal(features) * np.exp(-np.arange(features) / 8.0)
    X = rng.standard_normal((n_train + n_val, features))
    y = X @ w_true + rng.standard_normal(n_train + n_val)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def inner_loss(w, log_lam, X, y):
    return 0.5 * dnp.sum((X @ w - y) ** 2) + 0.5 * dnp.exp(log_lam) * dnp.sum(w**2)


def weights(log_lam, X, y):
    """w*(lam) by dualrev.optimize.minimize: differentiable with respect to log_lam (and X, y)."""
    res = optimize.minimize(inner_loss, np.zeros(X.shape[1]), args=(log_lam, X, y), method="newton", tol=1e-10)
    return res.x


def weights_closed_form(log_lam, X, y):
    """The same weights from the normal equations, for the check."""
    return dnp.linalg.solve(X.T @ X + dnp.exp(log_lam) * np.eye(X.shape[1]), X.T @ y)


def validation_loss(solve, data):
    X, y, X_val, y_val = data

    def loss(log_lam):
        return dnp.mean((X_val @ solve(log_lam, X, y) - y_val) ** 2)

    return loss


def tune(loss, s0):
    """Trust-region Newton on the validation loss over s = log lam (its Hessian through the inner solve too)."""
    history = []
    res = optimize.minimize(lambda s: loss(s[0]), np.array([s0]), method="trust-exact", tol=1e-8,
                            callback=lambda r: history.append((float(r.x[0]), float(r.fun))))
    return res, history


def plot(grid, values, grads, grads_closed, history, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot (pip install matplotlib)")
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(grid, values, color="C0", label="validation loss")
    s, f = zip(*history)
    ax1.plot(s, f, "o-", color="C3", ms=4, label="trust-exact iterates")
    ax1.set_xlabel("log lam")
    ax1.set_ylabel("mean squared error")
    ax1.set_title("validation loss through the inner solve")
    ax1.legend()
    ax2.plot(grid, grads_closed, color="C0", lw=3, alpha=0.4, label="closed form, differentiated")
    ax2.plot(grid, grads, "k.", label="implicit, through minimize")
    ax2.axhline(0.0, color="gray", lw=0.5)
    ax2.set_xlabel("log lam")
    ax2.set_ylabel("d loss / d log lam")
    ax2.set_title("hypergradient")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=40, help="number of features (default 40)")
    parser.add_argument("--out", default=None, help="directory for the plot (default: a temporary directory)")
    args = parser.parse_args(argv)
    data = make_data(n_train=args.features + 10, n_val=100, features=args.features)
    loss = validation_loss(weights, data)
    loss_closed = validation_loss(weights_closed_form, data)

    grid = np.linspace(-4.0, 6.0, 41)
    start = time.perf_counter()
    values, grads = zip(*[dr.value_and_grad(loss)(s) for s in grid])
    elapsed = time.perf_counter() - start
    grads_closed = [dr.grad(loss_closed)(s) for s in grid]
    err = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(grads, grads_closed))
    print(f"hypergradient on {len(grid)} penalties through minimize: {elapsed:.2f} s; largest difference from the "
          f"closed form's gradient: {err:.1e}")
    assert err < 1e-6, err
    s = 1.0
    h, h_closed = dr.hessian(loss)(s), dr.hessian(loss_closed)(s)
    print(f"second derivative at log lam = {s}: {h:.10f} (closed form {h_closed:.10f})")
    assert abs(h - h_closed) <= 1e-6 * max(1.0, abs(h_closed))

    res, history = tune(loss, s0=0.0)
    history.insert(0, (0.0, float(loss(0.0))))
    print("\niteration   log lam     validation loss")
    for k, (s, f) in enumerate(history):
        print(f"{k:9d}  {s:9.5f}  {f:14.8f}")
    best = int(np.argmin(values))
    print(f"{res.message} lam* = {np.exp(res.x[0]):.4g} (validation loss {res.fun:.6f}; best on the grid: "
          f"lam = {np.exp(grid[best]):.4g}, {values[best]:.6f}; unpenalised: {float(loss(-30.0)):.6f})")
    assert res.success and res.fun <= min(values) + 1e-12
    out_dir = args.out or tempfile.mkdtemp(prefix="dualrev_ridge_")
    os.makedirs(out_dir, exist_ok=True)
    path = plot(grid, values, grads, grads_closed, history, os.path.join(out_dir, "ridge_hyperparameter.png"))
    if path:
        print(f"plot saved to {path}")


if __name__ == "__main__":
    main()
