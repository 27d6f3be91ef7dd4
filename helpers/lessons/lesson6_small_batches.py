"""Lesson 6: when batches are small. Batch norm, batch renorm, layer norm and group norm on the
course's base network, with the *normalization batch* varied inside a fixed SGD batch (ghost
batch norm): every run takes the same steps of BASE.batch_size examples at the same learning
rate, so what changes between positions is only how many examples share one mean and variance.

`build` makes a method's network; `train_and_measure` trains it once and records what the
lesson shows: accuracy in both modes, the sigmoid inputs in both modes on a probe, and for
batch renorm its r and d at every step; `small_batch_grid` does that for every slider
position. X (N, D) inputs, y (N,) labels.
"""
import contextlib
import copy
import dataclasses
import itertools

import numpy as np

from ..batchnorm import frozen_running_stats
from ..batchnorm_eval import RunningStatsSweep, compare_modes, using_running_stats
from ..network import BASE, make_base
from ..progress import progress_bar
from ..recording import PRE_BINS, Recorder
from ..training import History, train

LABELS = ("batch norm", "batch renorm", "layer norm", "group norm")
NORM = {"batch norm": "batch", "batch renorm": "renorm", "layer norm": "layer",
        "group norm": "group"}
RUNNING = ("batch norm", "batch renorm")      # the methods that keep running statistics
MODES = ("training mode", "eval mode")

COARSE_BINS = np.linspace(-10.0, 10.0, 101)   # 0.2 wide: for the spiky small groups


def build(label, *, norm_batch, num_steps, momentum=0.1, num_groups=10, seed=0):
    """The course's base network (`make_base`: 784-100-100-100-10, sigmoid, N(0, 0.3^2)
    weights) with `label`'s normalization before every sigmoid, or label "plain" for none.
    Batch norm and renorm normalize groups of norm_batch examples of each SGD batch
    (ghost_batch_size; norm_batch = BASE.batch_size is ordinary batch norm). Batch renorm
    relaxes r_max and d_max over the first half of the run (relax_steps = num_steps // 2);
    group norm splits the 100 units of a layer into num_groups groups."""
    if label == "plain":
        return make_base(seed=seed)
    if label not in LABELS:
        raise ValueError(f"label must be 'plain' or one of {LABELS}, got {label!r}")
    kwargs = {"batch renorm": {"relax_steps": max(1, num_steps // 2)},
              "group norm": {"num_groups": num_groups}}.get(label, {})
    if label in RUNNING and norm_batch != BASE.batch_size:
        kwargs["ghost_batch_size"] = norm_batch
    return make_base(norm=NORM[label], norm_kwargs=kwargs, momentum=momentum, seed=seed)


def fit(model, X, y, *, num_steps, seed=0, eval_every=0, **kwargs):
    """Plain SGD on the base's batches (BASE.batch_size, BASE.lr, every batch full: the last
    40 of the 4,000 training images are skipped each epoch, so every group is complete)."""
    return train(model, X, y, batch_size=BASE.batch_size, lr=BASE.lr, num_steps=num_steps,
                 seed=seed, drop_last=True, eval_every=eval_every, **kwargs)


class _InBatches:
    """A model as training sees it, for `Recorder`: forward runs the probe in SGD batches
    (training mode, running statistics frozen; a ghost model splits each into its groups)
    and keeps each nonlinearity's input and output over the whole probe."""

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
    whose activations were recorded in that mode; renorm: per-step r, d, limits and the first
    layer's statistics (batch renorm only, see `train_and_measure`)."""
    label: str
    norm_batch: int
    momentum: float
    history: History
    modes: dict
    eval_acc: float
    train_acc: float
    changed: float
    model: object
    renorm: dict = None


def train_and_measure(label, X, y, X_test, y_test, *, norm_batch, num_steps, momenta=(0.1,),
                      record_every=50, probe=None, seed=0):
    """Train `build(label, ...)` with `fit`; return {momentum: Run} for the BN momenta.

    At step 0, every record_every steps and at the end, the sigmoid inputs of every hidden
    layer on `probe` (default X[:120]; histograms on bins 0.2 wide for norm_batch <= 4, 0.05
    otherwise) are recorded in training mode (the probe in SGD
    batches, normalized as training normalizes) and in eval mode. Test accuracy in training
    mode pushes the test images through in SGD batches too. For batch renorm, every step's
    r and d of every layer are kept, and for its first layer the running mean it corrected
    toward, the first group's batch mean and the batch's average: Run.renorm = {"steps" (T,),
    "r", "d" (T, L, [groups,] C), "r_max", "d_max" (T,), "running_mean", "group_mean",
    "batch_mean" (T, C)}.

    The BN momentum never changes batch norm's training (lesson 4), so one batch-norm run
    serves every momentum (`RunningStatsSweep`). Layer and group norm keep no running
    statistics. Batch renorm trains with its running statistics: one run per momentum.
    """
    if label == "batch renorm" and len(momenta) > 1:
        return {m: train_and_measure(label, X, y, X_test, y_test, norm_batch=norm_batch,
                                     num_steps=num_steps, momenta=(m,),
                                     record_every=record_every, probe=probe, seed=seed)[m]
                for m in momenta}
    shared = label == "batch norm"
    model = build(label, norm_batch=norm_batch, num_steps=num_steps,
                  momentum=1.0 if shared else momenta[0], seed=seed)
    probe = X[:120] if probe is None else probe
    sweep = RunningStatsSweep(model, momenta) if shared else None
    # groups of 2-4 make spiky histograms (section 1): 0.2-wide bins there, else 0.05
    bins = COARSE_BINS if norm_batch <= 4 else PRE_BINS
    in_batches = Recorder(_InBatches(model, BASE.batch_size), probe, pre_bins=bins)
    in_eval = {m: Recorder(model, probe, pre_bins=bins) for m in momenta}
    step = [0]
    trace = {k: [] for k in ("steps", "r", "d", "r_max", "d_max", "running_mean",
                             "group_mean", "batch_mean")}

    def stats_of(m, model):
        """Batch norm holds momentum m's running statistics inside the block."""
        return using_running_stats(model, sweep.stats[m]) if shared else contextlib.nullcontext()

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
            first = layers[0]
            cache = first._cache[1]
            means = cache["mu"].reshape(cache.get("groups", 1), -1)     # (groups, C)
            trace["group_mean"].append(means[0])
            trace["batch_mean"].append(means.mean(axis=0))
            trace["running_mean"].append(before[0])      # what this step corrected toward
            before[0] = first.running_mean.copy()

    before = [model.batchnorms[0].running_mean.copy()] if label == "batch renorm" else None
    # test accuracy halfway and at the end; batch norm's shared run holds the last batch's
    # statistics (momentum 1), so its eval-mode accuracy is measured per momentum below
    history = fit(model, X, y, num_steps=num_steps, seed=seed, measure=record,
                  measure_every=record_every, callback=after_update, X_test=X_test,
                  y_test=y_test, eval_every=0 if shared else num_steps // 2)
    renorm = {k: np.array(v) for k, v in trace.items()} if label == "batch renorm" else None
    runs = {}
    for m in momenta:
        with stats_of(m, model):
            scores = compare_modes(model, X_test, y_test, BASE.batch_size)
            trained = copy.deepcopy(model.train())
        for bn in trained.batchnorms:
            bn.momentum = m
        hist = dataclasses.replace(history, eval_steps=[num_steps],
                                   test_acc=[scores["eval_acc"]]) if shared else history
        modes = {"training mode": dataclasses.replace(hist, activations=in_batches.result()),
                 "eval mode": dataclasses.replace(hist, activations=in_eval[m].result())}
        runs[m] = Run(label, norm_batch, m, hist, modes, eval_acc=scores["eval_acc"],
                      train_acc=scores["train_acc"], changed=scores["disagree"], model=trained,
                      renorm=renorm)
    return runs


def small_batch_grid(X, y, X_test, y_test, norm_batches, momenta, *, labels=LABELS,
                     progress="training runs", **kwargs):
    """`train_and_measure` for every slider position: {(norm_batch, label, momentum): Run}.
    Layer and group norm do not depend on the normalization batch: one run each, shared by
    every position. kwargs: num_steps, record_every, probe, seed (see train_and_measure)."""
    jobs = [(b, label) for label in labels
            for b in (norm_batches if label in RUNNING else norm_batches[-1:])]
    grid = {}
    for b, label in progress_bar(jobs, progress):
        runs = train_and_measure(label, X, y, X_test, y_test, norm_batch=b, momenta=momenta,
                                 **kwargs)
        for size in (norm_batches if label not in RUNNING else (b,)):
            grid.update({(size, label, m): run for m, run in runs.items()})
    return grid


def eval_accuracies(labels, norm_batches, X, y, X_test, y_test, *, seeds, num_steps,
                    momentum=0.1, progress=False):
    """Final eval-mode test accuracy of each (label, norm_batch, seed), without recording:
    {(label, norm_batch): array over seeds}. The seed sets the initial weights and the order
    of the batches. label may be "plain"."""
    jobs = list(itertools.product(labels, norm_batches, seeds))
    acc = {}
    for label, b, seed in progress_bar(jobs, progress):
        model = build(label, norm_batch=b, num_steps=num_steps, momentum=momentum, seed=seed)
        fit(model, X, y, num_steps=num_steps, seed=seed)
        acc.setdefault((label, b), []).append(model.accuracy(X_test, y_test))
    return {k: np.array(v) for k, v in acc.items()}


def renorm_summary(trace, from_step):
    """What batch renorm's corrections looked like from step `from_step` on (once fully
    relaxed), over every unit of every layer (and group): the 10th, 50th and 90th
    percentiles of r and of d, and the share of them held at a limit (clipped).
    trace: Run.renorm."""
    late = trace["steps"] >= from_step
    r, d = trace["r"][late], trace["d"][late]
    shape = (-1,) + (1,) * (r.ndim - 1)
    r_max, d_max = trace["r_max"][late].reshape(shape), trace["d_max"][late].reshape(shape)
    clipped = np.isclose(r, r_max) | np.isclose(r, 1 / r_max) | np.isclose(np.abs(d), d_max)
    return {"r": np.percentile(r, (10, 50, 90)), "d": np.percentile(d, (10, 50, 90)),
            "clipped": float(clipped.mean())}


def variance_ratios(trace, from_step):
    """How noisy the running mean is that batch renorm corrects toward, from step
    `from_step` on, in its first layer: the variance over those steps of the running mean,
    of the batch's average of its groups' means (what the running average takes in) and of
    one group's mean, per unit. Returns the medians over units of running / batch and
    running / group."""
    late = trace["steps"] >= from_step

    def var(a):
        return np.var(a[late], axis=0)

    running = var(trace["running_mean"])
    return {"running / batch": float(np.median(running / var(trace["batch_mean"]))),
            "running / group": float(np.median(running / var(trace["group_mean"])))}

