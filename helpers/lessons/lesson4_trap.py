"""Lesson 4: what the momentum convention trap costs, and why eval mode's scale matches training's.

`accuracies_with_stats` scores many sets of running statistics on one network (the layers
before the first BatchNorm run once); `settle_running_stats` continues a tracked run at a small
learning rate, as training schedules end, and scores each BN momentum's running statistics
after every one of the last steps: each step is a possible end of training, so the spread over
them is the lottery the trap plays. `normalized_scale` compares what the two modes output.
"""
import copy

import numpy as np

from ..batchnorm import BatchNorm
from ..batchnorm_eval import RunningStatsSweep, normalize_with, population_stats
from ..training import train
from ..validate import check_int


def accuracies_with_stats(model, X, y, stats_list):
    """Eval-mode accuracy on X (N, D), y (N,) with each set of running statistics in
    `stats_list` (each [(mean (C,), var (C,))] * L, one pair per BatchNorm): an array
    (len(stats_list),). The same numbers as putting each set into the model and calling
    `model.accuracy`, but the layers before the first BatchNorm run once. The model is not
    changed (its layers' forward caches are)."""
    layers = model.layers
    first = next(i for i, layer in enumerate(layers) if isinstance(layer, BatchNorm))
    h0 = np.asarray(X, dtype=float)
    for layer in layers[:first]:
        h0 = layer.forward(h0)
    out = []
    for stats in stats_list:
        if len(stats) != len(model.batchnorms):
            raise ValueError(f"expected {len(model.batchnorms)} (mean, var) pairs, "
                             f"got {len(stats)}")
        h, k = h0, 0
        for layer in layers[first:]:
            if isinstance(layer, BatchNorm):
                h, k = normalize_with(layer, h, *stats[k]), k + 1
            else:
                h = layer.forward(h)
        out.append(np.mean(h.argmax(axis=1) == y))
    return np.array(out)


def settle_running_stats(track, X, y, X_test, y_test, *, momenta=(0.1, 0.9), num_steps=40,
                         lr=0.03, evaluate_from=21, evaluate_every=1, seed=1):
    """Continue a `track_running_stats` run for `num_steps` more SGD steps at learning rate
    `lr` (its batch size; the batch order from `seed`), each momentum's running statistics
    continuing from where the run left them, and score them (eval-mode test accuracy) after
    step `evaluate_from` and every `evaluate_every` steps after it.

    Returns {"batch_size", "steps" (K,), "acc": {m: (K,)}, "pop_acc": accuracy with the
    population statistics of the final weights}.
    The track is not changed.
    """
    if not 1 <= evaluate_from <= num_steps:
        raise ValueError(f"evaluate_from must be from 1 to num_steps={num_steps}, "
                         f"got {evaluate_from}")
    b = track["batch_size"]
    model = copy.deepcopy(track["model"])
    for bn in model.batchnorms:
        bn.momentum = 1.0                    # running stats = exactly the last batch's
    sweeps = {m: RunningStatsSweep(model, (m,), start=track["final_stats"][m]) for m in momenta}
    steps, acc = [], {m: [] for m in momenta}

    def after_update(step, model, loss):
        for sweep in sweeps.values():
            sweep.update(model)
        if step >= evaluate_from and (step - evaluate_from) % evaluate_every == 0:
            steps.append(step)
            for m, a in zip(momenta, accuracies_with_stats(model, X_test, y_test,
                                                            [sweeps[m].stats[m] for m in momenta])):
                acc[m].append(a)

    train(model, X, y, batch_size=b, lr=lr, num_steps=num_steps, seed=seed, eval_every=0,
          callback=after_update, drop_last=True)
    pop_acc = accuracies_with_stats(model, X_test, y_test, [population_stats(model, X)])[0]
    return {"batch_size": b, "steps": np.array(steps),
            "acc": {m: np.array(a) for m, a in acc.items()}, "pop_acc": float(pop_acc)}


def normalized_scale(h, batch_size, mean, var, eps=1e-5, seed=0):
    """What the two modes make of one BatchNorm's input h (N, C), drawn from its population:
    training mode normalizes random batches of `batch_size` rows with their own mean and
    biased variance, eval mode every row with fixed statistics (mean (C,), var (C,)).
    N // batch_size batches of distinct rows, in an order from `seed`. Returns a dict:
      batch_var: mean over batches and units of (biased batch variance) / var;
      train_rms, eval_rms: root mean square of x_hat over all values in each mode;
      train_near_1, eval_near_1: share of values with |x_hat| within 1% of 1.
    """
    h = np.asarray(h, dtype=float)
    check_int("batch_size", batch_size, 2, len(h))
    n = len(h) // batch_size * batch_size
    rows = np.random.default_rng(seed).permutation(len(h))[:n]
    batches = h[rows].reshape(-1, batch_size, h.shape[1])            # (n/b, b, C)
    mu_b, var_b = batches.mean(axis=1, keepdims=True), batches.var(axis=1, keepdims=True)
    x_train = (batches - mu_b) / np.sqrt(var_b + eps)
    x_eval = (h[rows] - mean) / np.sqrt(var + eps)

    def near_1(x):
        return float(np.mean(np.abs(np.abs(x) - 1) < 0.01))
    return {"batch_var": float(np.mean(var_b / var)),
            "train_rms": float(np.sqrt(np.mean(x_train ** 2))),
            "eval_rms": float(np.sqrt(np.mean(x_eval ** 2))),
            "train_near_1": near_1(x_train), "eval_near_1": near_1(x_eval)}
