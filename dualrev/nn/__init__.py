"""dualrev.nn: the modules of a backpropagation chapter, as pure functions of explicit parameters.

``from dualrev import nn``. Parameters are pytrees (dicts, lists, tuples of arrays); every function here is
written with dualrev's public API, so any of them can be differentiated in both modes and to any order.

- activations: relu, sigmoid, tanh, softplus, softmax, log_softmax, logsumexp
- losses: mse, binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, one_hot
- layers: linear, layer_norm, conv1d, conv2d, max_pool2d, avg_pool2d, dropout
- initializers: glorot_uniform, glorot_normal, he_normal, he_uniform, lecun_normal, zeros, ones
- random: PRNGKey, split (explicit random keys for dropout, initialisers and shuffling)
- optimizers: sgd, adam, apply_updates, global_norm, clip_by_global_norm
- training: minibatches, split_batch, accumulate_grads
- precision: cast, all_finite, StaticLossScale, DynamicLossScale, NoOpLossScale

See docs/nn.md for examples and the derivations of the backward functions.
"""

from dualrev.nn import initializers, random
from dualrev.nn.activations import log_softmax, logsumexp, relu, sigmoid, softmax, softplus, tanh
from dualrev.nn.initializers import glorot_normal, glorot_uniform, he_normal, he_uniform, lecun_normal
from dualrev.nn.layers import avg_pool2d, conv1d, conv2d, dropout, layer_norm, linear, max_pool2d
from dualrev.nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse,
    one_hot,
)
from dualrev.nn.optimizers import adam, apply_updates, clip_by_global_norm, global_norm, sgd
from dualrev.nn.precision import DynamicLossScale, NoOpLossScale, StaticLossScale, all_finite, cast
from dualrev.nn.random import PRNGKey, split
from dualrev.nn.training import accumulate_grads, minibatches, split_batch

__all__ = [
    "DynamicLossScale",
    "NoOpLossScale",
    "PRNGKey",
    "StaticLossScale",
    "accumulate_grads",
    "adam",
    "all_finite",
    "apply_updates",
    "avg_pool2d",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cast",
    "clip_by_global_norm",
    "conv1d",
    "conv2d",
    "cross_entropy",
    "dropout",
    "global_norm",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "initializers",
    "layer_norm",
    "lecun_normal",
    "linear",
    "log_softmax",
    "logsumexp",
    "max_pool2d",
    "minibatches",
    "mse",
    "one_hot",
    "random",
    "relu",
    "sgd",
    "sigmoid",
    "softmax",
    "softplus",
    "split",
    "split_batch",
    "tanh",
]
