"""Lesson 6: when batches are small. Batch norm, batch renorm, layer norm and group norm, the
same MLP trained at every batch size, measured in training mode and in eval mode.

`build` makes the network of a method; `train_and_measure` trains it once and records what
the lesson shows: accuracy in both modes, the activations in both modes (the training-mode
ones on a probe pushed through in batches of the training size, as training saw them), and
for batch renorm its r and d at every step; `small_batch_grid` does that for every slider
position. X (N, D) inputs, y (N,) labels.
"""
import contextlib
import copy
import dataclasses
import itertools

import numpy as np

from ..batchnorm import batchnorm_forward, frozen_running_stats
from ..batchnorm_eval import RunningStatsSweep, compare_modes, using_running_stats
from ..network import make_mlp
from ..progress import progress_bar
from ..recording import Recorder
from ..training import History, train

LABELS = ("batch norm", "batch renorm", "layer norm", "group norm")
NORM = {"batch norm": "batch", "batch renorm": "renorm", "layer norm": "layer",
        "group norm": "group"}
RUNNING = ("batch norm", "batch renorm")      # the methods that keep running statistics
MODES = ("training mode", "eval mode")


def renorm_with_fixed(r, d):
    """forward(x, gamma, beta) -> (out, None): batch renorm's training output with r and d
    held at the given (C,) values instead of computed from the batch, the function whose
    gradient `batchrenorm_backward` computes."""
    def forward(x, gamma, beta):
        _, cache = batchnorm_forward(x, np.ones_like(gamma), np.zeros_like(gamma))
        shape = cache["std"].shape
        y = cache["x_hat"] * np.reshape(r, shape) + np.reshape(d, shape)
        return gamma.reshape(shape) * y + beta.reshape(shape), None
    return forward


def build(label, *, num_steps, momentum=0.1, num_groups=10, init="xavier", seed=0):
    """The lesson's MLP (784-100-100-100-10, sigmoid) with `label`'s normalization before
    every sigmoid. Batch renorm relaxes r_max and d_max over the first half of the run
    (`normalization.renorm_limits` with relax_steps = num_steps // 2); group norm splits the
    100 units of a layer into num_groups groups."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {LABELS}, got {label!r}")
    kwargs = {"batch renorm": {"relax_steps": max(1, num_steps // 2)},
              "group norm": {"num_groups": num_groups}}.get(label, {})
    return make_mlp(norm=NORM[label], norm_kwargs=kwargs, momentum=momentum, init=init,
                    seed=seed)


class _InBatches:
    """A model as training sees it, for `Recorder`: forward runs the probe in batches of
    batch_size (training mode, running statistics frozen) and keeps each nonlinearity's
    input and output over the whole probe."""

    def __init__(self, model, batch_size):
        self.model, self.batch_size = model, batch_size
        self.activations = model.activations

    def forward(self, X):
        parts = [([], []) for _ in self.model.activations]
        with frozen_running_stats(self.model.train()):
            for i in range(0, len(X), self.batch_size):
                self.model.forward(X[i:i + self.batch_size])
                for (xs, outs), layer in zip(parts, self.model.activations):
                    xs.append(layer.x)
                    outs.append(layer.out)
        self.activations = []
        for (xs, outs), layer in zip(parts, self.model.activations):
            whole = copy.copy(layer)
            whole.x, whole.out = np.concatenate(xs), np.concatenate(outs)
            self.activations.append(whole)


@dataclasses.dataclass
class Run:
    """One trained network of the grid. modes: {"training mode", "eval mode"} -> History
    whose activations were recorded in that mode; renorm: per-step r, d and limits
    (batch renorm only, see `train_and_measure`)."""
    label: str
    batch_size: int
    momentum: float
    history: History
    modes: dict
    eval_acc: float
    train_acc: float
    changed: float
    model: object
    renorm: dict = None


def train_and_measure(label, X, y, X_test, y_test, *, batch_size, num_steps, lr,
                      momenta=(0.1,), record_every=50, probe=None, seed=0, **build_kwargs):
    """Train `build(label, ...)` with plain SGD; return {momentum: Run} for the BN momenta.

    At step 0, every record_every steps and at the end, the activations of every hidden layer
    on `probe` (default X[:256]) are recorded in training mode with the probe in batches of
    batch_size, and in eval mode. For batch renorm, every step's r and d of every layer are
    kept: Run.renorm = {"steps" (T,), "r", "d" (T, L, C), "r_max", "d_max" (T,)}.

    The BN momentum never changes batch norm's training (lesson 4), so one batch-norm run
    serves every momentum: its layers keep the last batch's statistics (momentum 1) and one
    moving average per momentum is updated from them after every step, exactly as a layer
    with that momentum would. Layer and group norm keep no running statistics: one run serves
    every momentum. Batch renorm trains with its running statistics: one run per momentum.
    """
    if label == "batch renorm" and len(momenta) > 1:
        return {m: train_and_measure(label, X, y, X_test, y_test, batch_size=batch_size,
                                     num_steps=num_steps, lr=lr, momenta=(m,),
                                     record_every=record_every, probe=probe, seed=seed,
                                     **build_kwargs)[m] for m in momenta}
    shared = label == "batch norm"
    model = build(label, num_steps=num_steps, momentum=1.0 if shared else momenta[0],
                  seed=seed, **build_kwargs)
    probe = X[:256] if probe is None else probe
    sweep = RunningStatsSweep(model, momenta) if shared else None
    in_batches = Recorder(_InBatches(model, batch_size), probe)
    in_eval = {m: Recorder(model, probe) for m in momenta}
    step = [0]

    def stats_of(m, model):
        """Batch norm holds momentum m's running statistics inside the block."""
        return using_running_stats(model, sweep.stats[m]) if shared else contextlib.nullcontext()
    trace = {"steps": [], "r": [], "d": [], "r_max": [], "d_max": []}

    def record(model):
        in_batches.record(step[0])
        for m in momenta:
            with stats_of(m, model.eval()):
                in_eval[m].record(step[0])
        model.train()

    def after_update(done, model, loss):
        step[0] = done
        if shared:                        # every momentum's moving average of the batch stats
            sweep.update(model)
        if label == "batch renorm":
            layers = model.batchnorms
            trace["steps"].append(done)
            trace["r"].append([layer.r for layer in layers])
            trace["d"].append([layer.d for layer in layers])
            trace["r_max"].append(layers[0].limits()[0])
            trace["d_max"].append(layers[0].limits()[1])

    history = train(model, X, y, batch_size=batch_size, lr=lr, num_steps=num_steps, seed=seed,
                    eval_every=0, measure=record, measure_every=record_every,
                    callback=after_update)
    renorm = {k: np.array(v) for k, v in trace.items()} if label == "batch renorm" else None
    runs = {}
    for m in momenta:
        with stats_of(m, model):
            scores = compare_modes(model, X_test, y_test, batch_size)
            trained = copy.deepcopy(model.train())
        for bn in trained.batchnorms:
            bn.momentum = m
        hist = dataclasses.replace(history, eval_steps=[num_steps], test_acc=[scores["eval_acc"]])
        modes = {"training mode": dataclasses.replace(hist, activations=in_batches.result()),
                 "eval mode": dataclasses.replace(hist, activations=in_eval[m].result())}
        runs[m] = Run(label, batch_size, m, hist, modes, eval_acc=scores["eval_acc"],
                      train_acc=scores["train_acc"], changed=scores["disagree"], model=trained,
                      renorm=renorm)
    return runs


def small_batch_grid(X, y, X_test, y_test, batch_sizes, momenta, *, labels=LABELS,
                     progress="training runs", **kwargs):
    """`train_and_measure` for every slider position: {(batch_size, label, momentum): Run}.
    kwargs: num_steps, lr, record_every, seed, ... (see train_and_measure)."""
    grid = {}
    for b, label in progress_bar(list(itertools.product(batch_sizes, labels)), progress):
        runs = train_and_measure(label, X, y, X_test, y_test, batch_size=b, momenta=momenta,
                                 **kwargs)
        grid.update({(b, label, m): run for m, run in runs.items()})
    return grid


def eval_accuracies(labels, batch_sizes, X, y, X_test, y_test, *, seeds, num_steps, lr,
                    momentum=0.1, progress=False, **build_kwargs):
    """Final eval-mode test accuracy of each (label, batch_size, seed), without recording:
    {(label, batch_size): array over seeds}. The seed sets the initial weights and the
    order of the batches."""
    jobs = list(itertools.product(labels, batch_sizes, seeds))
    acc = {}
    for label, b, seed in progress_bar(jobs, progress):
        model = build(label, num_steps=num_steps, momentum=momentum, seed=seed, **build_kwargs)
        train(model, X, y, batch_size=b, lr=lr, num_steps=num_steps, seed=seed, eval_every=0)
        acc.setdefault((label, b), []).append(model.accuracy(X_test, y_test))
    return {k: np.array(v) for k, v in acc.items()}


def renorm_summary(trace, from_step):
    """What batch renorm's corrections looked like from step `from_step` on (once fully
    relaxed), over every unit of every layer: the 10th, 50th and 90th percentiles of r and
    of d, and the share of them held at a limit (clipped). trace: Run.renorm."""
    late = trace["steps"] >= from_step
    r, d = trace["r"][late], trace["d"][late]
    r_max, d_max = trace["r_max"][late, None, None], trace["d_max"][late, None, None]
    clipped = np.isclose(r, r_max) | np.isclose(r, 1 / r_max) | np.isclose(np.abs(d), d_max)
    return {"r": np.percentile(r, (10, 50, 90)), "d": np.percentile(d, (10, 50, 90)),
            "clipped": float(clipped.mean())}


def first_fall(acc_by_batch, tolerance=0.05):
    """The largest batch size whose accuracy is more than `tolerance` below the accuracy at
    the largest batch size, from {batch_size: accuracy}; None if none is."""
    sizes = sorted(acc_by_batch)
    best = acc_by_batch[sizes[-1]]
    fallen = [b for b in sizes if acc_by_batch[b] < best - tolerance]
    return max(fallen) if fallen else None


def outputs_in_two_batches(model, X, index, companions):
    """The training-mode output of example X[index] in two batches: with each row of
    `companions` (two index arrays) as its batch-mates. Returns (out_a, out_b), each (K,).
    Running statistics are not touched."""
    outs = []
    for others in companions:
        batch = X[np.concatenate([[index], others])]
        with frozen_running_stats(model.train()):
            outs.append(model.forward(batch)[0].copy())
    return tuple(outs)
