"""helpers: the numpy engine of the Batch Normalization course.

One concept per module: data, layers, batchnorm, network, optim, training, recording,
gradcheck (and plots, widgets for the notebooks).
"""
from .batchnorm import (
    BatchNorm,
    batchnorm_backward,
    batchnorm_backward_graph,
    batchnorm_forward,
)
from .data import load_mnist, make_blobs, make_linear_regression
from .gradcheck import numerical_gradient, rel_error
from .layers import Linear, ReLU, Sigmoid, Tanh, init_weights, softmax, softmax_cross_entropy
from .network import Sequential, make_mlp
from .optim import SGD
from .recording import PERCENTILES, Recorder
from .training import (
    History,
    frozen_running_stats,
    iterate_minibatches,
    steps_per_epoch,
    train,
)

__all__ = [
    "BatchNorm", "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_graph",
    "load_mnist", "make_blobs", "make_linear_regression",
    "numerical_gradient", "rel_error",
    "Linear", "Sigmoid", "Tanh", "ReLU", "init_weights", "softmax", "softmax_cross_entropy",
    "Sequential", "make_mlp", "SGD", "PERCENTILES", "Recorder",
    "History", "frozen_running_stats", "iterate_minibatches", "steps_per_epoch", "train",
]
