"""Networks: a `Sequential` stack of layers, `make_mlp`, the builder every lesson uses, and
`BASE`, the one set-up every comparison in the course starts from (`make_base`)."""
from dataclasses import dataclass

import numpy as np

from .batchnorm import BatchNorm
from .layers import ACTIVATIONS, Activation, Linear
from .normalization import NORMS, make_norm


class Sequential:
    """Layers applied in order; backward runs them in reverse."""

    def __init__(self, layers):
        self.layers = list(layers)
        self.training = True

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, dout):
        """Fill every layer's grads from dout = d loss / d output; return d loss / d input
        (None when the first layer is a Linear made with input_grad=False)."""
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def train(self):
        self.training = True
        for layer in self.batchnorms:
            layer.train()
        return self

    def eval(self):
        self.training = False
        for layer in self.batchnorms:
            layer.eval()
        return self

    def parameters(self):
        """List of (name, param, grad) triples; params are updated in place by optimizers."""
        return [(f"{i}.{type(layer).__name__}.{k}", p, layer.grads[k])
                for i, layer in enumerate(self.layers) for k, p in layer.params.items()]

    @property
    def activations(self):
        """The nonlinearity layers, one per hidden layer, in order."""
        return [layer for layer in self.layers if isinstance(layer, Activation)]

    @property
    def linears(self):
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    @property
    def batchnorms(self):
        """The layers with running statistics: every BatchNorm, BatchRenorm included (a
        subclass), which train/eval switch and frozen_running_stats freezes."""
        return [layer for layer in self.layers if isinstance(layer, BatchNorm)]

    def predict(self, x, batch_size=2000):
        """Class predictions (N,) in eval mode, in chunks; the model's mode is restored."""
        was_training = self.training
        self.eval()
        try:
            logits = np.concatenate([self.forward(x[i:i + batch_size])
                                     for i in range(0, len(x), batch_size)])
        finally:
            if was_training:
                self.train()
        return logits.argmax(axis=1)

    def accuracy(self, x, y):
        """Fraction of correct eval-mode predictions on x (N, D), y (N,)."""
        return float((self.predict(x) == y).mean())

    def __repr__(self):
        return "Sequential(\n" + "\n".join(f"  {layer!r}" for layer in self.layers) + "\n)"


def make_mlp(sizes=(784, 100, 100, 100, 10), activation="sigmoid", batchnorm=False,
             init="small", scale=None, momentum=0.1, eps=1e-5, window=None, seed=0,
             input_grad=False, norm=None, norm_kwargs=None):
    """A multilayer perceptron, optionally with batch norm after each hidden Linear.

    sizes: (input, hidden..., output); the default is the BN paper's MNIST network.
    With batchnorm=True each hidden block is Linear (no bias) -> BatchNorm -> activation: the
    lesson's order, normalizing before the nonlinearity. The Linear bias is dropped because
    batch norm subtracts the batch mean, which removes any constant bias; beta takes its role.
    norm: "batch" (= batchnorm=True), "layer", "group" or "renorm" puts that normalization
    (`normalization.make_norm`, with norm_kwargs, e.g. {"num_groups": 10}) in batch norm's
    place. Batch renorm subtracts the batch mean too, so its Linear has no bias; layer and
    group norm subtract each example's own mean over its features, not a per-feature batch
    mean, so their Linear keeps its bias.
    input_grad=False (default): backward returns None, not d loss / d input, because the
    input is the data (see Linear); set it True to get the gradient with respect to the input.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
    if norm is not None and norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS} or None, got {norm!r}")
    if batchnorm and norm not in (None, "batch"):
        raise ValueError(f"batchnorm=True asks for batch norm, norm={norm!r} for another; "
                         f"give one of them")
    norm = "batch" if batchnorm else norm
    if len(sizes) < 2 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be 2 or more positive ints (input, hidden..., output), "
                         f"got {sizes!r}")
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-2], sizes[1:-1])):
        layers.append(Linear(fan_in, fan_out, bias=norm not in ("batch", "renorm"), init=init,
                             scale=scale, rng=rng, input_grad=i > 0 or input_grad))
        if norm:
            layers.append(make_norm(norm, fan_out, momentum=momentum, eps=eps, window=window,
                                    **(norm_kwargs or {})))
        layers.append(ACTIVATIONS[activation]())
    layers.append(Linear(sizes[-2], sizes[-1], init=init, scale=scale, rng=rng,
                         input_grad=len(sizes) > 2 or input_grad))
    return Sequential(layers)


@dataclass(frozen=True)
class Base:
    """The course's base: the network, initial scale and learning rate of every comparison.

    From the paper (Ioffe & Szegedy 2015, section 4.1): three hidden layers of 100 sigmoid
    units on MNIST, small Gaussian initial weights, batches of 60. The paper gives no initial
    std or learning rate for this network; those two are the course's choices, made for the
    plain network (no batch norm) on a validation split (`split_validation`: 3,000 training
    images to fit, the other 1,000 to choose; the 1,000 test images are never used to choose):
      init_std: the best of the half-decade grid 0.003 ... 3 for the plain network after 300
        steps at lr 1.0, mean over seeds 0-2 (lesson 3 runs this sweep; tests/test_lesson3_base.py).
      lr: one half-decade step below the largest rate of the grid 0.3, 1, 3, 10, 30 at
        which the plain network trains on every seed from init_std (no seed diverged by
        `divergence`'s rule): the plain network trains at 3 and diverges at 10, so 1.0. The
        step below leaves a margin, since the edge moves with the seed and the CPU.
      The two rules were applied in turn, init_std at lr 1.0 fixed in advance, then lr from
      init_std; the lr rule returns 1.0, so the two choices agree (no joint grid searched).
    Batch norm and the plain network are compared at the same init_std and lr, judged by the
    same divergence rule. A lesson that changes one of these says so where it does.
    """
    sizes: tuple = (784, 100, 100, 100, 10)
    activation: str = "sigmoid"
    init_std: float = 0.3
    lr: float = 1.0
    batch_size: int = 60


BASE = Base()


def make_base(batchnorm=False, seed=0, **kwargs):
    """The base network (`BASE`: sizes, sigmoid, N(0, init_std^2) initial weights), plain or
    with batch norm; kwargs go to `make_mlp` (e.g. momentum= for batch norm's running
    statistics, norm="layer")."""
    return make_mlp(BASE.sizes, activation=BASE.activation, batchnorm=batchnorm, init="small",
                    scale=BASE.init_std, seed=seed, **kwargs)
