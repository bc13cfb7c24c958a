"""Peak memory of the gradient of a 64-layer MLP, with and without ``dr.checkpoint`` around each layer.

Reverse mode keeps, on its tape, what the backward pass will read: ``dr.grad``'s tape is lean, it keeps a value only
if some VJP rule reads it (each primitive's ``vjp_reads``), and frees each node once its VJP has run.
``dr.checkpoint(layer)`` keeps only each layer's inputs and recomputes the inside of one layer at a time during the
backward pass. This script measures the peak of the memory allocated during ``dr.grad`` (``tracemalloc``: NumPy
reports its array buffers to it), the returned gradient included, for

- ``relu MLP``: ``h <- relu(h W + b)``, the plain multilayer perceptron;
- ``layer-norm MLP``: ``h <- relu(layer_norm(h W + b))``, the block of a deeper modern MLP (more intermediates);
- ``relu MLP, segments of 8``: checkpointing every 8 layers instead of each (sqrt(64) = 8: the classic choice
  that balances the stored segment inputs against the activations of the one segment being recomputed).

Checkpointing each layer keeps one activation per layer (its input), so the saving is bounded by the number of
activation-sized arrays the lean tape keeps per layer without it: for ``relu(h W + b)`` that is ``h`` (the matmul's
VJP reads it for ``W``'s gradient) and relu's one-byte mask, about 1.1 activations, so checkpointing each layer of a
relu MLP saves almost nothing; with a layer norm about 3 (the centred input, the normalised output). (The tape of
earlier versions kept every operand and output, about 3.3 activations per relu layer: checkpointing saved more
because there was more to save.) Segments of 8 layers keep 8 segment inputs instead of 64 and recompute one segment
at a time. The peak also holds the gradient being returned (8 MiB here) in every case.

The gradients with and without checkpointing are first checked equal (bit for bit: the same operations run), and
the time of one gradient is reported too (checkpointing recomputes the forward pass of each layer once).

    python benchmarks/checkpoint_memory.py                       # 64 layers, batch 1024, width 128
    python benchmarks/checkpoint_memory.py --layers 32 --batch 256 --width 64
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import gc
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import dualrev as dr
import dualrev.numpy as dnp
from dualrev import nn


def relu_layer(p, h):
    return nn.relu(nn.linear(h, p["W"], p["b"]))


def layer_norm_layer(p, h):
    return nn.relu(nn.layer_norm(nn.linear(h, p["W"], p["b"]), p["gamma"], p["beta"]))


def make_params(layers, width, seed=0):
    keys = nn.split(nn.PRNGKey(seed), layers)
    return [{"W": nn.he_normal(k, (width, width)), "b": np.full(width, 0.01),
             "gamma": np.ones(width), "beta": np.zeros(width)} for k in keys]


def make_loss(layer, every=0):
    """The mean square of the network's output; ``every``: checkpoint each segment of that many layers (0: no
    checkpointing, 1: each layer)."""
    if not every:
        def loss(params, x):
            h = x
            for p in params:
                h = layer(p, h)
            return dnp.mean(h * h)

        return loss

    @dr.checkpoint
    def segment(ps, h):
        for p in ps:
            h = layer(p, h)
        return h

    def loss(params, x):
        h = x
        for i in range(0, len(params), every):
            h = segment(params[i:i + every], h)
        return dnp.mean(h * h)

    return loss


def peak_bytes(fn):
    """Peak bytes allocated while ``fn()`` runs (its result included), above what was allocated before."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    out = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return peak - before


def seconds(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return sorted(times)[len(times) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--width", type=int, default=128)
    opts = parser.parse_args(argv)
    params = make_params(opts.layers, opts.width)
    x = np.random.default_rng(0).standard_normal((opts.batch, opts.width))
    activation_mb = opts.batch * opts.width * 8 / 2**20
    param_mb = sum(p["W"].nbytes + p["b"].nbytes for p in params) / 2**20
    print(f"{opts.layers} layers of width {opts.width}, batch {opts.batch}, float64: one activation is "
          f"{activation_mb:.2f} MiB, the weights {param_mb:.1f} MiB (the gradient returned is as large)")
    ratios = {}
    cases = (("relu MLP, each layer", relu_layer, 1), ("layer-norm MLP, each layer", layer_norm_layer, 1),
             ("relu MLP, segments of 8", relu_layer, 8))
    for name, layer, every in cases:
        plain, remat = dr.grad(make_loss(layer)), dr.grad(make_loss(layer, every))
        g1, g2 = plain(params, x), remat(params, x)
        for a, b in zip(g1, g2):
            for k in a:
                np.testing.assert_array_equal(a[k], b[k])
        del g1, g2
        m_plain = peak_bytes(lambda plain=plain: plain(params, x))
        m_remat = peak_bytes(lambda remat=remat: remat(params, x))
        t_plain = seconds(lambda plain=plain: plain(params, x))
        t_remat = seconds(lambda remat=remat: remat(params, x))
        ratios[name] = m_plain / m_remat
        print(f"\n{name} checkpointed: gradients identical with and without checkpointing")
        print(f"  peak memory   without checkpoint {m_plain / 2**20:8.1f} MiB ({m_plain / 2**20 / activation_mb:5.1f} "
              f"activations)   with {m_remat / 2**20:8.1f} MiB ({m_remat / 2**20 / activation_mb:5.1f} activations)"
              f"   ratio {m_plain / m_remat:.2f}x")
        print(f"  time per grad without checkpoint {t_plain * 1e3:8.1f} ms   with {t_remat * 1e3:8.1f} ms   "
              f"ratio {t_remat / t_plain:.2f}x")
    print("\n" + ", ".join(f"{k}: {v:.2f}x lower peak" for k, v in ratios.items()) + " (target: at least 4x)")
    return ratios


if __name__ == "__main__":
    main()
