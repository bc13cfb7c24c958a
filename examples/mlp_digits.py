"""The backprop chapter's two-layer network, trained with mini-batches on scikit-learn's handwritten digits.

The network is linear -> relu -> linear -> softmax cross-entropy, ``64 -> 128 -> 10``, on the 8x8 digit images
bundled with scikit-learn (1797 images, no download), split 80/20 into training and test sets (stratified, fixed
seed), pixels standardised. Gradients come from ``dr.value_and_grad``; the optimiser is ``nn.adam``; mini-batches
of 32 are reshuffled every epoch with an explicit random key. A progress bar (tqdm, if installed) shows the loss and test accuracy, and the
loss and accuracy curves are saved as a PNG (matplotlib, if installed).

    python examples/mlp_digits.py                      # 40 epochs: about 97.5% test accuracy in about a second
    python examples/mlp_digits.py --plot curves.png    # where to save the curves (default: the temp directory)
    python examples/mlp_digits.py --epochs 5           # a shorter run

Measured (2-core machine, float64): 97.5% test accuracy with the default seed, in about 1.1 s of training (40
epochs); over seeds 0-9: mean 97.4%, from 96.9% to 98.1% (one test image is 0.28%).
"""

import os

# The matrices here are small: one BLAS thread is faster than several (and much faster on a busy machine).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import dualrev as dr
from dualrev import nn


def load_digits_split(seed=0, test_fraction=0.2, per_pixel=True):
    """A stratified train/test split with a fixed seed, standardised with the training set's mean and standard
    deviation (the test set is not looked at): per pixel, or one mean and deviation for all pixels (images for a
    convolution, which treats every position alike)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):  # the same fraction of every class in the test set
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[:round(test_fraction * len(idx))]] = True
    axis = 0 if per_pixel else None
    mean, std = X[~test].mean(axis=axis), X[~test].std(axis=axis) + 1e-8  # some border pixels are always 0
    X = (X - mean) / std
    return X[~test], y[~test], X[test], y[test]


def init_params(key, n_in, hidden, n_out):
    k1, k2 = nn.split(key)
    return {"W1": nn.he_normal(k1, (n_in, hidden)), "b1": np.zeros(hidden),
            "W2": nn.glorot_uniform(k2, (hidden, n_out)), "b2": np.zeros(n_out)}


def predict(params, X):
    """The chapter's two layers: z1 = X W1 + b1, h = relu(z1), z2 = h W2 + b2 (the logits)."""
    h = nn.relu(nn.linear(X, params["W1"], params["b1"]))
    return nn.linear(h, params["W2"], params["b2"])


def loss_fn(params, X, y):
    return nn.cross_entropy(predict(params, X), y)


def accuracy(params, X, y):
    return float(np.mean(np.argmax(predict(params, X), axis=1) == y))


class PlainProgress:
    """What tqdm would show, as one printed line per update, for when tqdm is not installed."""

    def __init__(self, iterable, total, desc):
        self.iterable, self.total, self.desc, self.postfix = iterable, total, desc, ""

    def __iter__(self):
        start = time.perf_counter()
        for i, item in enumerate(self.iterable, 1):
            yield item
            print(f"{self.desc} {i}/{self.total} [{time.perf_counter() - start:5.1f}s] {self.postfix}", flush=True)

    def set_postfix_str(self, s):
        self.postfix = s


def progress(iterable, total, desc):
    try:
        from tqdm import tqdm
    except ImportError:
        return PlainProgress(iterable, total, desc)
    return tqdm(iterable, total=total, desc=desc, ncols=90)


def save_plot(history, path, title):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: skipping the plot")
        return
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, history["loss"], label="training loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.set_yscale("log")
    ax1.legend()
    ax2.plot(epochs, 100 * np.array(history["train_acc"]), label="training")
    ax2.plot(epochs, 100 * np.array(history["test_acc"]), label="test")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.set_ylim(80, 100.5)
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"saved the loss and accuracy curves to {path}")


def train(loss_fn, accuracy, params, opt, train_set, test_set, epochs, batch, key, keyed=False):
    """Mini-batch training with ``opt``, shuffled each epoch, with a progress bar; returns the parameters, the
    per-epoch history (loss, train and test accuracy) and the seconds it took. ``keyed``: ``loss_fn`` takes a fresh
    random key per step as its last argument (dropout)."""
    (X_train, y_train), (X_test, y_test) = train_set, test_set
    state = opt.init(params)
    value_and_grad = dr.value_and_grad(loss_fn)
    history = {"loss": [], "train_acc": [], "test_acc": []}
    start = time.perf_counter()
    bar = progress(range(epochs), epochs, "epoch")
    for _ in bar:
        if keyed:
            key, shuffle_key, step_key = nn.split(key, 3)
        else:
            key, shuffle_key = nn.split(key)
        total, count = 0.0, 0
        for i, (xb, yb) in enumerate(nn.minibatches(shuffle_key, (X_train, y_train), batch)):
            extra = (nn.random.fold_in(step_key, i),) if keyed else ()
            loss, grads = value_and_grad(params, xb, yb, *extra)
            updates, state = opt.update(grads, state, params)
            params = nn.apply_updates(params, updates)
            total, count = total + float(loss) * len(yb), count + len(yb)
        history["loss"].append(total / count)
        history["train_acc"].append(accuracy(params, X_train, y_train))
        history["test_acc"].append(accuracy(params, X_test, y_test))
        bar.set_postfix_str(f"loss {history['loss'][-1]:.4f}  test acc {100 * history['test_acc'][-1]:.1f}%")
    return params, history, time.perf_counter() - start


def report(history, elapsed, epochs, plot, title):
    """Print the final figures, save the curves; returns the final test accuracy."""
    test_acc = history["test_acc"][-1]
    print(f"{epochs} epochs in {elapsed:.1f} s: training loss {history['loss'][-1]:.4f}, "
          f"training accuracy {100 * history['train_acc'][-1]:.1f}%, test accuracy {100 * test_acc:.1f}%")
    save_plot(history, plot, f"{title}: {100 * test_acc:.1f}% test accuracy")
    return test_acc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=os.path.join(tempfile.gettempdir(), "mlp_digits.png"),
                        help="where to save the loss and accuracy curves (PNG)")
    opts = parser.parse_args(argv)
    epochs = opts.epochs

    X_train, y_train, X_test, y_test = load_digits_split()
    print(f"digits: {len(y_train)} training and {len(y_test)} test images of 8x8 pixels, 10 classes")
    key = nn.PRNGKey(opts.seed)
    key, init_key = nn.split(key)
    params = init_params(init_key, X_train.shape[1], opts.hidden, 10)
    opt = nn.adam(opts.lr)
    params, history, elapsed = train(loss_fn, accuracy, params, opt, (X_train, y_train), (X_test, y_test),
                                     epochs, opts.batch, key)
    test_acc = report(history, elapsed, epochs, opts.plot, "two-layer network on digits")
    if epochs >= 40 and test_acc < 0.97:
        print("below the 97% target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
