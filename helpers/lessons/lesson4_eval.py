"""Lesson 4: eval mode. Population statistics, precise statistics after training, the
training-mode formula at test time and its gap to eval mode, and folding batch norm away.

The *population statistics* are the mean and variance of a BatchNorm's input over the whole
training set with the current weights: what the running estimates try to follow.
"""
import numpy as np

from ..batchnorm import BatchNorm
from ..layers import Linear
from ..network import Sequential


def set_running_stats(model, stats):
    """Put [(mean (C,), var (C,)), ...], one pair per BatchNorm, into the model's running stats."""
    bns = model.batchnorms
    if len(stats) != len(bns):
        raise ValueError(f"expected {len(bns)} (mean, var) pairs, one per BatchNorm, "
                         f"got {len(stats)}")
    for bn, (mean, var) in zip(bns, stats):
        bn.running_mean, bn.running_var = np.array(mean, dtype=float), np.array(var, dtype=float)
    return model


def get_running_stats(model):
    """[(running_mean, running_var), ...] copies, one pair per BatchNorm."""
    return [(bn.running_mean.copy(), bn.running_var.copy()) for bn in model.batchnorms]


def _normalize(bn, h, mean, var):
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
            h = _normalize(layer, h, *stats[-1])
        else:
            h = layer.forward(h)
    return stats


def recompute_running_stats(model, X, batch_size=500):
    """Precise statistics, the framework recipe: with the weights frozen, reset the running
    stats and average the training-mode statistics of full batches of X (momentum=None).

    That is Algorithm 2 of the paper: E[x] = mean of batch means, Var[x] = m/(m-1) * mean of
    batch variances; PyTorch's torch.optim.swa_utils.update_bn does the same. Modifies `model`
    in place and returns it in eval mode.
    """
    if any(bn.window for bn in model.batchnorms):
        raise ValueError("recompute_running_stats needs BatchNorm layers without a window")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or not 2 <= batch_size <= len(X):
        raise ValueError(f"batch_size must be from 2 to len(X)={len(X)}, got {batch_size}")
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
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    out = []
    for start in range(0, len(X), batch_size):
        h = X[start:start + batch_size]
        for layer in model.layers:
            h = _normalize(layer, h, h.mean(axis=0), h.var(axis=0)) \
                if isinstance(layer, BatchNorm) else layer.forward(h)
        out.append(h)
    return np.concatenate(out)


def train_eval_gap(model, X, y, batch_size):
    """Training-mode outputs (statistics of chunks of `batch_size`) against eval-mode outputs
    (running statistics) on X (N, D), y (N,). Returns {"eval_acc", "train_acc", "mismatch":
    mean of |f_train - f_eval| / |f_eval| over examples (logit vectors), "disagree": fraction
    of examples whose predicted class differs}. Leaves the model in eval mode.
    """
    f_eval = model.eval().forward(X)
    f_train = forward_batch_stats(model, X, batch_size)
    norm = np.linalg.norm
    return {"eval_acc": float((f_eval.argmax(axis=1) == y).mean()),
            "train_acc": float((f_train.argmax(axis=1) == y).mean()),
            "mismatch": float((norm(f_train - f_eval, axis=1) / norm(f_eval, axis=1)).mean()),
            "disagree": float((f_train.argmax(axis=1) != f_eval.argmax(axis=1)).mean())}


def single_batch_stats(model, batch):
    """The running statistics a BatchNorm with momentum=1 holds after one training-mode pass of
    `batch` (m, D), m >= 2: each layer's batch mean and unbiased variance. This is where the
    momentum convention trap ends up: the statistics of whichever batch came last.
    """
    m = len(batch)
    if m < 2:
        raise ValueError(f"a batch needs at least 2 examples, got {m}")
    return [(mean, var * m / (m - 1)) for mean, var in population_stats(model, batch)]


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


def inference_cost(model):
    """Arithmetic per example in eval mode: {"multiply-adds", "bn ops", "bias adds", "total"}.

    A Linear costs in*out multiply-adds (+ out bias adds); an eval-mode BatchNorm as written,
    gamma * (x - mean) / std + beta, costs 4 operations per feature. Nonlinearities not counted.
    """
    macs = sum(lin.in_features * lin.out_features for lin in model.linears)
    bias = sum(lin.out_features for lin in model.linears if "b" in lin.params)
    bn = sum(4 * bn.num_features for bn in model.batchnorms)
    return {"multiply-adds": macs, "bn ops": bn, "bias adds": bias, "total": macs + bn + bias}
