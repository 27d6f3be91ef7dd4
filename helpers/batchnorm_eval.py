"""Batch norm after training: the statistics eval mode uses, and folding it away.

`batchnorm.py` trains (Algorithm 1, its backward pass, the running averages); this module
handles a trained network's BatchNorm layers:

    population_stats         the mean and variance of each BatchNorm's input over a data set
    recompute_running_stats  Algorithm 2 of Ioffe & Szegedy: average the batch statistics of
                             the frozen network (PyTorch's swa_utils.update_bn)
    get_running_stats, set_running_stats, using_running_stats
                             read, put, or put for one block the running statistics
    RunningStatsSweep        one training run gives the running statistics of every BN momentum
    normalize_with, forward_batch_stats, train_mode_logits, compare_modes
                             eval mode with chosen statistics; the training-mode formula at
                             test time; the two modes compared
    fold_batchnorm           eval-mode BatchNorm folded into the Linear before it

Running statistics are lists [(mean (C,), var (C,)), ...], one pair per BatchNorm in order.
"""
from contextlib import contextmanager

import numpy as np

from .batchnorm import BatchNorm, ema_update, frozen_running_stats
from .layers import Linear
from .network import Sequential
from .validate import check_int


def get_running_stats(model):
    """[(running_mean, running_var), ...] copies, one pair per BatchNorm."""
    return [(bn.running_mean.copy(), bn.running_var.copy()) for bn in model.batchnorms]


def set_running_stats(model, stats):
    """Put [(mean (C,), var (C,)), ...], one pair per BatchNorm, into the model's running stats.
    Returns the model."""
    bns = model.batchnorms
    if len(stats) != len(bns):
        raise ValueError(f"expected {len(bns)} (mean, var) pairs, one per BatchNorm, "
                         f"got {len(stats)}")
    for bn, (mean, var) in zip(bns, stats):
        bn.running_mean, bn.running_var = np.array(mean, dtype=float), np.array(var, dtype=float)
    return model


@contextmanager
def using_running_stats(model, stats):
    """Inside the block the model's BatchNorm layers hold `stats` as running statistics;
    their own come back afterwards."""
    saved = [(bn.running_mean, bn.running_var) for bn in model.batchnorms]
    set_running_stats(model, stats)
    try:
        yield model
    finally:
        for bn, (mean, var) in zip(model.batchnorms, saved):
            bn.running_mean, bn.running_var = mean, var


class RunningStatsSweep:
    """The running statistics every BN momentum would give, from one training run.

    Running statistics never change training (training mode normalizes with the batch's own
    statistics), so one run serves every momentum: train a model whose BatchNorm layers have
    momentum=1 (they then hold exactly the last batch's statistics) and call `update(model)`
    after every step; `stats[m]` is then what a BatchNorm with momentum m would hold.
    start: the statistics before the first step (default: mean 0, variance 1, as BatchNorm).
    """

    def __init__(self, model, momenta, start=None):
        if any(bn.momentum != 1.0 or bn.window for bn in model.batchnorms):
            raise ValueError("RunningStatsSweep needs BatchNorm layers with momentum=1.0 "
                             "(they then hold the last batch's statistics)")
        self.momenta = tuple(momenta)
        if start is None:
            start = [(np.zeros(bn.num_features), np.ones(bn.num_features))
                     for bn in model.batchnorms]
        self.stats = {m: [(mean.copy(), var.copy()) for mean, var in start]
                      for m in self.momenta}

    def update(self, model):
        """Take in the batch the model's last training step saw; returns that batch's
        statistics [(mean, unbiased var)] * L."""
        batch = get_running_stats(model)
        for m in self.momenta:
            self.stats[m] = [(ema_update(rm, bm, m), ema_update(rv, bv, m))
                             for (rm, rv), (bm, bv) in zip(self.stats[m], batch)]
        return batch


def normalize_with(bn, h, mean, var):
    """BatchNorm `bn`'s output for input h (N, C) normalized with the given mean, var (C,):
    gamma * (h - mean) / sqrt(var + eps) + beta."""
    return bn.gamma * (h - mean) / np.sqrt(var + bn.eps) + bn.beta


def population_stats(model, X):
    """Mean and variance (1/N) of every BatchNorm's input over all of X (N, D), weights frozen.

    Layer by layer: a BatchNorm normalizes with its population statistics before the next
    one's are measured, so these are exactly what eval mode sees with them. The model's
    running stats are not changed (its layers' forward caches are). Returns
    [(mean (C,), var (C,)), ...].
    """
    stats, h = [], np.asarray(X, dtype=float)
    for layer in model.layers:
        if isinstance(layer, BatchNorm):
            stats.append((h.mean(axis=0), h.var(axis=0)))
            h = normalize_with(layer, h, *stats[-1])
        else:
            h = layer.forward(h)
    return stats


def recompute_running_stats(model, X, batch_size=500):
    """Precise statistics, Algorithm 2 of the paper: with the weights frozen, reset the running
    stats and average the training-mode statistics of full batches of X (momentum=None).

    E[x] = mean of batch means, Var[x] = m/(m-1) * mean of batch variances; PyTorch's
    torch.optim.swa_utils.update_bn does the same. Modifies `model` in place and returns it in
    eval mode.
    """
    if any(bn.window for bn in model.batchnorms):
        raise ValueError("recompute_running_stats needs BatchNorm layers without a window")
    check_int("batch_size", batch_size, 2, len(X))
    saved = [bn.momentum for bn in model.batchnorms]
    for bn in model.batchnorms:
        bn.momentum, bn.num_batches_tracked = None, 0
        bn.running_mean, bn.running_var = np.zeros(bn.num_features), np.ones(bn.num_features)
    model.train()
    for start in range(0, len(X) - batch_size + 1, batch_size):   # full batches only
        model.forward(X[start:start + batch_size])
    for bn, momentum in zip(model.batchnorms, saved):
        bn.momentum = momentum
    return model.eval()


def forward_batch_stats(model, X, batch_size):
    """Logits (N, K) when each BatchNorm normalizes every chunk of `batch_size` examples with
    that chunk's own mean and biased variance: the training-mode formula used at test time.

    Unlike BatchNorm.forward it allows a chunk of one (then x - mean = 0 and the layer outputs
    beta whatever the input). Running statistics are not touched.
    """
    check_int("batch_size", batch_size)
    out = []
    for start in range(0, len(X), batch_size):
        h = X[start:start + batch_size]
        for layer in model.layers:
            h = normalize_with(layer, h, h.mean(axis=0), h.var(axis=0)) \
                if isinstance(layer, BatchNorm) else layer.forward(h)
        out.append(h)
    return np.concatenate(out)


def train_mode_logits(model, X, batch_size):
    """Logits (N, K) of X pushed through in consecutive batches of batch_size in training
    mode (each batch normalized with its own statistics, batch renorm with its corrections),
    running statistics untouched. Leaves the model in training mode."""
    with frozen_running_stats(model.train()):
        return np.concatenate([model.forward(X[i:i + batch_size])
                               for i in range(0, len(X), batch_size)])


def compare_modes(model, X, y, batch_size):
    """Training mode (`train_mode_logits`, batches of batch_size) against eval mode (running
    statistics) on X (N, D), y (N,). Returns {"eval_acc", "train_acc", "disagree": share of
    examples whose predicted class differs, "mismatch": mean over examples of
    |f_train - f_eval| / |f_eval| (logit vectors)}. Leaves the model in eval mode."""
    f_train = train_mode_logits(model, X, batch_size)
    f_eval = model.eval().forward(X)
    norm = np.linalg.norm
    return {"eval_acc": float(np.mean(f_eval.argmax(axis=1) == y)),
            "train_acc": float(np.mean(f_train.argmax(axis=1) == y)),
            "disagree": float(np.mean(f_train.argmax(axis=1) != f_eval.argmax(axis=1))),
            "mismatch": float((norm(f_train - f_eval, axis=1) / norm(f_eval, axis=1)).mean())}


def fold_batchnorm(model):
    """A new Sequential with every eval-mode BatchNorm folded into the Linear before it.

    In eval mode BN is the affine map y = s * x + t, s = gamma / sqrt(running_var + eps),
    t = beta - s * running_mean; after x = h @ W + b that is y = h @ (W * s) + (b * s + t),
    one Linear with W' = W * s (column-wise) and b' = b * s + t. The model is unchanged; each
    new Linear keeps its original's input_grad.
    """
    layers, src = [], model.layers
    for i, layer in enumerate(src):
        if isinstance(layer, BatchNorm):
            if i == 0 or not isinstance(src[i - 1], Linear):
                raise ValueError(f"model.layers[{i}] ({layer!r}) does not follow a Linear: "
                                 f"cannot fold")
            lin = layers.pop()
            s = layer.gamma / np.sqrt(layer.running_var + layer.eps)
            b = lin.params.get("b", 0.0) * s + layer.beta - s * layer.running_mean
            layers.append(_linear_with(lin.params["W"] * s, b, lin.input_grad))
        elif isinstance(layer, Linear):
            layers.append(_linear_with(layer.params["W"].copy(), layer.params.get("b"),
                                       layer.input_grad))
        else:
            layers.append(type(layer)())
    return Sequential(layers).eval()


def _linear_with(W, b, input_grad):
    lin = Linear(W.shape[0], W.shape[1], bias=b is not None, rng=0, input_grad=input_grad)
    lin.params["W"] = W
    if b is not None:
        lin.params["b"] = np.array(b, dtype=float)
    lin.grads = {k: np.zeros_like(v) for k, v in lin.params.items()}
    return lin
