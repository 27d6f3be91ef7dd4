"""Batch norm at inference: running estimates, population statistics, folding, conventions.

A *stream* is the sequence of per-batch statistics (T, C) a BatchNorm sees in training; a
*running estimate* summarises it (exponential moving average, window, or cumulative average);
the *population statistics* are the mean and variance of a BatchNorm's input over the whole
training set with the current weights: what the running estimates try to follow.
"""
import numpy as np

from ..batchnorm import BatchNorm, frozen_running_stats
from ..layers import Linear
from ..network import Sequential, make_mlp
from ..recording import PRE_BINS, density_histogram
from ..training import train

# Which value each library's `momentum` weights in the running-statistics update
# (PyTorch nn.BatchNorm docs; Keras 3 BatchNormalization source; CS231n assignment 2
# batchnorm_forward; ONNX BatchNormalization operator).
CONVENTIONS = {"pytorch": "new", "keras": "old", "cs231n": "old", "onnx": "old"}


def _weight_of_new(momentum, convention):
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {tuple(CONVENTIONS)}, got {convention!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)) \
            or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
    return float(momentum) if CONVENTIONS[convention] == "new" else 1.0 - float(momentum)


def convert_momentum(momentum, source="keras", target="pytorch"):
    """The `momentum` that gives the same running statistics in `target`'s convention."""
    a = _weight_of_new(momentum, source)            # weight of the new batch
    _weight_of_new(0.0, target)                      # validates the target's name
    return a if CONVENTIONS[target] == "new" else 1.0 - a


def ema_update(running, batch_stat, momentum, convention="pytorch"):
    """One running-statistics update, written exactly as the named library writes it."""
    _weight_of_new(momentum, convention)            # validates both arguments
    if CONVENTIONS[convention] == "old":            # Keras, CS231n, ONNX
        return momentum * running + (1 - momentum) * batch_stat
    return (1 - momentum) * running + momentum * batch_stat


def running_estimates(stream, momentum=0.1, window=None, init=0.0, convention="pytorch"):
    """The running estimate after each batch of `stream` (T, C) or (T,); same shape back.

    momentum: EMA weight in `convention`; None: cumulative average of all batches so far
    (Algorithm 2 of the paper); window=N: mean of the last N batches (the source lesson's
    "moving average over the most recent N batches"). init: value before the first batch
    (0 for running_mean, 1 for running_var), which only the EMA remembers.
    """
    stream = np.asarray(stream, dtype=float)
    if stream.ndim not in (1, 2) or len(stream) == 0:
        raise ValueError(f"stream must be (T,) or (T, C) with T >= 1, got shape {stream.shape}")
    t = np.arange(1, len(stream) + 1).reshape((-1,) + (1,) * (stream.ndim - 1))
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise ValueError(f"window must be a positive int, got {window!r}")
        c = np.cumsum(stream, axis=0)
        c[window:] = c[window:] - c[:-window].copy()
        return c / np.minimum(t, window)
    if momentum is None:
        return np.cumsum(stream, axis=0) / t
    out, r = np.empty_like(stream), np.full(stream.shape[1:], float(init))
    for i, s in enumerate(stream):
        r = out[i] = ema_update(r, s, momentum, convention)
    return out


def effective_window(momentum, convention="pytorch"):
    """Window length N whose plain average matches an EMA: same mean age, same noise, 2/a - 1.

    With weight a on the new batch, batch k steps old has weight a(1-a)^k, mean age (1-a)/a;
    a window of N batches has mean age (N-1)/2. Equal when N = 2/a - 1.
    """
    a = _weight_of_new(momentum, convention)
    if a == 0:
        raise ValueError("momentum that never takes in a new batch has no effective window")
    return 2.0 / a - 1.0


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


def tracking_error(track, layer, estimate, kind="mean", from_step=1):
    """RMS over units and checkpoints (at or after `from_step`) of (estimate - population) /
    population scale, for a running `estimate` (T, C) of one layer of a `track_running_stats`
    result; the scale is the population std (kind "mean") or the population variance ("var").
    """
    keep = track["ckpt_steps"] >= max(from_step, 1)
    ck = track["ckpt_steps"][keep]
    pop = track[f"pop_{kind}"][layer][keep]
    scale = np.sqrt(track["pop_var"][layer][keep]) if kind == "mean" else pop
    return float(np.sqrt(np.mean(((estimate[ck - 1] - pop) / scale) ** 2)))


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
    one Linear with W' = W * s (column-wise) and b' = b * s + t. The model is unchanged.
    """
    layers, src = [], model.layers
    for i, layer in enumerate(src):
        if isinstance(layer, BatchNorm):
            if i == 0 or not isinstance(src[i - 1], Linear):
                raise ValueError(f"layer {i} ({layer!r}) does not follow a Linear: cannot fold")
            lin = layers.pop()
            s = layer.gamma / np.sqrt(layer.running_var + layer.eps)
            b = lin.params.get("b", 0.0) * s + layer.beta - s * layer.running_mean
            layers.append(_linear_with(lin.params["W"] * s, b))
        elif isinstance(layer, Linear):
            layers.append(_linear_with(layer.params["W"].copy(), layer.params.get("b")))
        else:
            layers.append(type(layer)())
    return Sequential(layers).eval()


def _linear_with(W, b):
    lin = Linear(W.shape[0], W.shape[1], bias=b is not None, rng=0)
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


def track_running_stats(X, y, *, batch_size, momenta=(0.001, 0.01, 0.1, 0.9, 0.99),
                        num_steps=300, lr=0.3, checkpoint_every=25, X_test=None, y_test=None,
                        probe=None, seed=0, sizes=(784, 100, 100, 100, 10)):
    """Train the paper's BN network once; follow the running estimate of every BN momentum.

    The BN momentum never changes training (running stats are unused in training mode), so
    one run serves them all: each BatchNorm keeps just the last batch's statistics
    (momentum=1) and one EMA per momentum is updated from that stream. At step 0, every
    `checkpoint_every` steps and at the end: the population statistics of the current weights
    over all of X, and pre-activation histograms (PRE_BINS) of each hidden layer on `probe`
    (default X[:500]) in training mode and in eval mode for every momentum.
    Returns a dict (L hidden layers, T steps, K checkpoints, C units): batch_size, n (len(X)),
    momenta; steps, loss (T,);
    batch_mean, batch_var (unbiased): L arrays (T, C); running {m: (means, vars), L arrays
    (T, C) each}; ckpt_steps (K,); pop_mean, pop_var: L arrays (K, C); train_hist (K, L, 400);
    eval_hist {m: (K, L, 400)}; final_stats {m: [(mean, var)] * L}; test_acc {m: eval-mode
    accuracy}, pop_acc, batch_acc (training-mode formula on test batches of 500) if X_test is
    given; model (final weights; BN momentum 0.1; running stats: the population statistics of
    the final weights); diverged (the step where the loss stopped being finite, or None).
    """
    model = make_mlp(sizes, batchnorm=True, momentum=1.0, seed=seed)
    probe = X[:500] if probe is None else probe
    ema = {m: [(np.zeros(c), np.ones(c)) for c in sizes[1:-1]] for m in momenta}
    r = {"n": len(X), "steps": [], "loss": [], "stream": [], "running": {m: [] for m in momenta},
         "ckpt_steps": [], "pop": [], "train_hist": [], "eval_hist": {m: [] for m in momenta}}

    def checkpoint(step):
        r["ckpt_steps"].append(step)
        r["pop"].append(population_stats(model, X))
        with frozen_running_stats(model.train()):
            model.forward(probe)
        r["train_hist"].append([density_histogram(a.x, PRE_BINS) for a in model.activations])
        for m in momenta:
            set_running_stats(model.eval(), ema[m]).forward(probe)
            r["eval_hist"][m].append([density_histogram(a.x, PRE_BINS) for a in model.activations])
        model.train()

    def after_update(step, model, loss):
        batch = get_running_stats(model)   # momentum=1: exactly this batch's statistics
        for m in momenta:
            ema[m] = [(ema_update(rm, bm, m), ema_update(rv, bv, m))
                      for (rm, rv), (bm, bv) in zip(ema[m], batch)]
            r["running"][m].append(ema[m])
        r["stream"].append(batch)
        r["steps"].append(step - 1)
        r["loss"].append(loss)
        if step % checkpoint_every == 0 and step < num_steps:
            checkpoint(step)

    checkpoint(0)
    history = train(model, X, y, batch_size=batch_size, lr=lr, num_steps=num_steps, seed=seed,
                    eval_every=0, callback=after_update, drop_last=True)
    diverged = history.diverged["step"] if history.diverged else None
    if diverged is None:
        checkpoint(num_steps)
    with np.errstate(all="ignore"):        # a diverged run is reported, not warned about
        return _pack(r, model, ema, momenta, diverged, X_test, y_test, batch_size)


def _pack(r, model, ema, momenta, diverged, X_test, y_test, batch_size):
    """Stack the per-step lists of track_running_stats into arrays (see its docstring)."""
    def layers(rows, k):               # rows: per step/checkpoint, a list over layers of pairs
        return [np.array([row[l][k] for row in rows]) for l in range(len(model.batchnorms))]
    out = {"batch_size": batch_size, "n": r["n"], "momenta": tuple(momenta),
           "steps": np.array(r["steps"]),
           "loss": np.array(r["loss"]), "ckpt_steps": np.array(r["ckpt_steps"]),
           "batch_mean": layers(r["stream"], 0), "batch_var": layers(r["stream"], 1),
           "running": {m: (layers(r["running"][m], 0), layers(r["running"][m], 1))
                       for m in momenta},
           "pop_mean": layers(r["pop"], 0), "pop_var": layers(r["pop"], 1),
           "train_hist": np.array(r["train_hist"]),
           "eval_hist": {m: np.array(r["eval_hist"][m]) for m in momenta},
           "final_stats": ema, "model": model, "diverged": diverged}
    for bn in model.batchnorms:
        bn.momentum = 0.1
    if X_test is not None:
        def accuracy(stats):
            set_running_stats(model.eval(), stats)
            return float((model.forward(X_test).argmax(axis=1) == y_test).mean())
        out["test_acc"] = {m: accuracy(ema[m]) for m in momenta}
        out["pop_acc"] = accuracy(r["pop"][-1]) if diverged is None else float("nan")
        out["batch_acc"] = float((forward_batch_stats(model, X_test, 500).argmax(axis=1)
                                  == y_test).mean())
    if diverged is None:
        set_running_stats(model, r["pop"][-1])
    return out
