"""The chapter's gradient check: backpropagation against central differences, parameter by parameter.

For the two-layer network of examples/mlp_digits.py (linear -> activation -> linear -> softmax cross-entropy,
here 64 -> 16 -> 10 on 32 digit images, float64), every element ``theta_i`` of every parameter is nudged by
``+-h`` and the numerical derivative ``(L(theta + h e_i) - L(theta - h e_i)) / (2 h)`` is compared with the
gradient from ``dr.grad``. For each parameter array the relative error is ``|g - n| / max(|g|, |n|)`` (2-norms);
the chapter's rule of thumb is that below 1e-7 the backward pass is right.

The check runs with sigmoid, tanh and relu hidden units. relu has a kink at 0, where the central difference is
wrong whenever a pre-activation lies within ``h`` of 0; with these data none does, and its error is as small.

    python examples/gradient_check.py
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import dualrev as dr
from dualrev import nn

H = 1e-5  # the central-difference step: truncation error ~h^2, rounding error ~eps / h


def load_batch(n=32):
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # the check itself needs no real data
        print("scikit-learn not installed: using random images")
        rng = np.random.default_rng(0)
        return rng.uniform(0, 1, (n, 64)), rng.integers(0, 10, n)
    digits = load_digits()
    return digits.data[:n] / 16.0, digits.target[:n]


def make_loss(activation):
    def loss(params, X, y):
        h = activation(nn.linear(X, params["W1"], params["b1"]))
        return nn.cross_entropy(nn.linear(h, params["W2"], params["b2"]), y)

    return loss


def numerical_gradient(loss, params, X, y, h=H):
    """Central differences, one parameter element at a time (2 loss evaluations per element)."""
    grads = {}
    for name, p in params.items():
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + h
            plus = loss(params, X, y)
            p[i] = old - h
            minus = loss(params, X, y)
            p[i] = old
            g[i] = (plus - minus) / (2 * h)
        grads[name] = g
    return grads


def relative_error(a, b):
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def main():
    X, y = load_batch()
    key = nn.PRNGKey(0)
    k1, k2 = nn.split(key)
    params = {"W1": nn.glorot_uniform(k1, (64, 16)), "b1": np.full(16, 0.1),
              "W2": nn.glorot_uniform(k2, (16, 10)), "b2": np.zeros(10)}
    n_elements = sum(p.size for p in params.values())
    print(f"two-layer network 64-16-10, {len(y)} images, {n_elements} parameters, float64, h = {H:g}")
    worst = {}
    for name, activation in (("sigmoid", nn.sigmoid), ("tanh", nn.tanh), ("relu", nn.relu)):
        loss = make_loss(activation)
        if name == "relu":  # central differences straddle the kink if a pre-activation is within h of 0
            z = X @ params["W1"] + params["b1"]
            print(f"relu: smallest |pre-activation| = {np.abs(z).min():.1e} (h = {H:g})")
        backprop = dr.grad(loss)(params, X, y)
        numeric = numerical_gradient(loss, params, X, y)
        errors = {k: relative_error(backprop[k], numeric[k]) for k in params}
        worst[name] = max(errors.values())
        print(f"{name:8s}" + "  ".join(f"{k}: {e:.1e}" for k, e in errors.items()))
    ok = all(e < 1e-7 for e in worst.values())
    print("every relative error is below 1e-7: backprop agrees with central differences" if ok
          else "relative error above 1e-7: the backward pass disagrees with central differences")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
