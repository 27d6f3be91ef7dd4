"""Lesson 4: running estimates against the truth during one training run.

`track_running_stats` trains the paper's batch-norm network once and follows, at every step,
the running estimate that each BN momentum would give, and at checkpoints the population
statistics they chase; `tracking_error` scores an estimate against them, `variance_ratio` says
how far a running variance is off, `spread_ratio` how much eval mode squeezes a layer's input
compared with training mode.
"""
import numpy as np

from ..batchnorm import frozen_running_stats
from ..batchnorm_eval import (
    RunningStatsSweep,
    forward_batch_stats,
    population_stats,
    set_running_stats,
)
from ..network import BASE, make_mlp
from ..recording import Recorder
from ..training import train


def track_running_stats(X, y, *, batch_size, momenta=(0.001, 0.01, 0.1, 0.9, 0.99),
                        num_steps=300, lr=BASE.lr, measure_every=25, X_test=None, y_test=None,
                        probe=None, seed=0, sizes=BASE.sizes):
    """Train the course's base network with batch norm (`make_base`: sigmoid, initial std
    BASE.init_std; `sizes` may shrink it for tests) once; follow the running estimate of every
    BN momentum (PyTorch's convention: the weight of the new batch).

    The BN momentum never changes training (running stats are unused in training mode), so
    one run serves them all (`RunningStatsSweep`).
    At step 0, every `measure_every` steps and at the end (train's measure=): the population
    statistics of the current weights over all of X, and the activation statistics of each
    hidden layer on `probe` (default X[:500], see `Recorder`) in training mode and in eval
    mode with every momentum's running estimate.
    Returns a dict (L hidden layers, T steps, K checkpoints, C units): batch_size, n (len(X)),
    momenta; history (train's History); steps, loss (T,);
    batch_mean, batch_var (unbiased): L arrays (T, C); running {m: (means, vars), L arrays
    (T, C) each}; measure_steps (K,); pop_mean, pop_var: L arrays (K, C); train_activations,
    eval_activations {m: ...} (Recorder.result() dicts over the K checkpoints); final_stats
    {m: [(mean, var)] * L}; test_acc {m: eval-mode accuracy}, pop_acc, batch_acc
    (training-mode formula on test batches of 500) if X_test is given; model (final weights;
    BN momentum 0.1; running stats: the population statistics of the final weights);
    diverged (History.diverged's step, or None).
    """
    model = make_mlp(sizes, activation=BASE.activation, batchnorm=True, init="small",
                     scale=BASE.init_std, momentum=1.0, seed=seed)   # = make_base at BASE.sizes
    probe = X[:500] if probe is None else probe
    sweep = RunningStatsSweep(model, momenta)
    per_step = {"steps": [], "loss": [], "stream": [], "running": {m: [] for m in momenta}}
    in_train_mode = Recorder(model, probe)
    in_eval_mode = {m: Recorder(model, probe) for m in momenta}

    def checkpoint(model):
        """train's measure=: population statistics, and both modes' activations on the probe."""
        step = len(per_step["steps"])              # updates done so far
        with frozen_running_stats(model.train()):
            in_train_mode.record(step)
        for m in momenta:
            set_running_stats(model.eval(), sweep.stats[m])
            in_eval_mode[m].record(step)
        model.train()
        return population_stats(model, X)

    def after_update(step, model, loss):
        batch = sweep.update(model)        # momentum=1: exactly this batch's statistics
        for m in momenta:
            per_step["running"][m].append(sweep.stats[m])
        per_step["stream"].append(batch)
        per_step["steps"].append(step - 1)
        per_step["loss"].append(loss)

    history = train(model, X, y, batch_size=batch_size, lr=lr, num_steps=num_steps, seed=seed,
                    eval_every=0, measure=checkpoint, measure_every=measure_every,
                    callback=after_update, drop_last=True)
    activations = {"train": in_train_mode.result(),
                   "eval": {m: rec.result() for m, rec in in_eval_mode.items()}}
    with np.errstate(all="ignore"):        # a diverged run is reported, not warned about
        return _pack(per_step, history, activations, model, sweep.stats, momenta, len(X), X_test,
                     y_test)


def _pack(per_step, history, activations, model, ema, momenta, n, X_test, y_test):
    """Stack the per-step and per-checkpoint lists of track_running_stats into arrays (see its
    docstring)."""
    def layers(rows, k):               # rows: per step/checkpoint, a list over layers of pairs
        return [np.array([row[l][k] for row in rows]) for l in range(len(model.batchnorms))]
    pop = history.measurements
    diverged = history.diverged["step"] if history.diverged else None
    out = {"batch_size": history.config["batch_size"], "n": n, "momenta": tuple(momenta),
           "history": history,
           "steps": np.array(per_step["steps"]), "loss": np.array(per_step["loss"]),
           "measure_steps": np.array(history.measure_steps),
           "batch_mean": layers(per_step["stream"], 0),
           "batch_var": layers(per_step["stream"], 1),
           "running": {m: (layers(per_step["running"][m], 0), layers(per_step["running"][m], 1))
                       for m in momenta},
           "pop_mean": layers(pop, 0), "pop_var": layers(pop, 1),
           "train_activations": activations["train"],
           "eval_activations": activations["eval"],
           "final_stats": ema, "model": model, "diverged": diverged}
    for bn in model.batchnorms:
        bn.momentum = 0.1
    if X_test is not None:
        def accuracy(stats):
            set_running_stats(model.eval(), stats)
            return float((model.forward(X_test).argmax(axis=1) == y_test).mean())
        out["test_acc"] = {m: accuracy(ema[m]) for m in momenta}
        out["pop_acc"] = accuracy(pop[-1]) if diverged is None else float("nan")
        out["batch_acc"] = float((forward_batch_stats(model, X_test, 500).argmax(axis=1)
                                  == y_test).mean())
    if diverged is None:
        set_running_stats(model, pop[-1])
    return out


def tracking_error(track, layer, estimate, kind="mean", from_step=1):
    """RMS over units and checkpoints (at or after `from_step`) of (estimate - population) /
    population scale, for a running `estimate` (T, C) of hidden layer `layer` (0-based) of a
    `track_running_stats` result; the scale is the population std (kind "mean") or the
    population variance ("var").
    """
    keep = track["measure_steps"] >= max(from_step, 1)
    steps = track["measure_steps"][keep]
    pop = track[f"pop_{kind}"][layer][keep]
    scale = np.sqrt(track["pop_var"][layer][keep]) if kind == "mean" else pop
    return float(np.sqrt(np.mean(((estimate[steps - 1] - pop) / scale) ** 2)))


def variance_ratio(track, momentum, layer):
    """Running variance of BN momentum `momentum` divided by the population variance, median
    over the units of hidden layer `layer` (0-based), at every checkpoint after step 0: (K-1,).
    1 means right; the start-up value 1 makes it far too large early on."""
    steps = track["measure_steps"][1:]
    running = track["running"][momentum][1][layer][steps - 1]     # after update `step`
    return np.median(running / track["pop_var"][layer][1:], axis=1)


def spread_ratio(track, momentum, layer, checkpoint):
    """Width (15th-85th percentile range, pooled over units and probe images) of hidden layer
    `layer`'s input in eval mode with this BN momentum's running statistics, divided by its
    width in training mode, at recorded checkpoint index `checkpoint`: 1 when the running
    statistics describe the batch statistics, far below 1 when the running variance is too
    large (inputs squeezed towards beta)."""
    def width(acts):
        pct = acts["pre_pct"][checkpoint, layer]
        return pct[3] - pct[1]
    return float(width(track["eval_activations"][momentum]) / width(track["train_activations"]))
