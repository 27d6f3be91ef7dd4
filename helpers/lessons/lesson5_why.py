"""Why does batch norm help? Tools to test the two explanations (lesson 5).

Ioffe & Szegedy (2015): batch norm reduces *internal covariate shift* (ICS), the drift of each
layer's input distribution during training. Santurkar et al. (2018) test this with "noisy batch
norm" (more drift, yet training still works), a gradient-based ICS measure, and smoothness of
the loss along the gradient. Shapes: X (N, D) inputs, y (N,) labels, unit_pct (T, U, 5).
Santurkar et al.'s measures are taken during training with train(measure=..., measure_every=...),
and at matched loss with train(callback=AtLossLevels(...)); the controls for noisy batch norm's
average scale are `gamma_control` and `accuracy_at_eval_scale`.
"""
from contextlib import contextmanager

import numpy as np

from ..batchnorm import BatchNorm, frozen_running_stats
from ..display.figures import no_run_message
from ..layers import softmax_cross_entropy
from ..network import make_base
from ..recording import unit_drift
from ..training import train


class NoisyBatchNorm(BatchNorm):
    """Batch norm followed by a random per-unit scale and shift, redrawn at every training step.

    out = scale * BN(x) + shift, scale_j ~ U(1, 1 + strength), shift_j ~ U(-strength, strength)
    for each unit j, so the next layer's input changes mean and scale at every step (a simple
    form of Santurkar et al.'s noise). rng: np.random.Generator (or seed). Eval mode applies the
    noise's average (scale 1 + strength/2, shift 0), or eval_scale if it is set (a control:
    `accuracy_at_eval_scale`). resample=False reuses the last draw.
    """

    def __init__(self, num_features, strength=1.0, rng=None, **bn_kwargs):
        super().__init__(num_features, **bn_kwargs)
        if isinstance(strength, bool) or not isinstance(strength, (int, float, np.floating)) \
                or not 0 <= strength < np.inf:
            raise ValueError(f"strength must be a finite number >= 0, got {strength!r}")
        self.strength, self.rng = float(strength), np.random.default_rng(rng)
        self.resample, self.scale, self.shift = True, None, None
        self.eval_scale = None

    def draw(self):
        """New (C,) scale and shift, as at the start of every training step."""
        n, c = self.strength, self.num_features
        self.scale = 1.0 + n * self.rng.random(c)
        self.shift = n * (2.0 * self.rng.random(c) - 1.0)

    def forward(self, x):
        out = super().forward(x)
        if not self.training:
            scale = 1.0 + self.strength / 2 if self.eval_scale is None else self.eval_scale
            self._noise = (scale, 0.0)
        else:
            if self.resample or self.scale is None:
                self.draw()
            self._noise = (self.scale, self.shift)
        return self._noise[0] * out + self._noise[1]

    def backward(self, dout):
        return super().backward(dout * self._noise[0])   # d(scale * bn + shift) / d bn = scale

    def __repr__(self):
        return f"NoisyBatchNorm({self.num_features}, strength={self.strength})"


def make_noisy_base(strength=1.0, noise_seed=0, seed=0):
    """make_base(batchnorm=True, seed=seed) with every BatchNorm replaced by a NoisyBatchNorm.

    The layers share one Generator seeded with noise_seed, so a run is reproducible.
    """
    model = make_base(batchnorm=True, seed=seed)
    rng = np.random.default_rng(noise_seed)
    for i, bn in enumerate(model.layers):
        if isinstance(bn, BatchNorm):
            model.layers[i] = NoisyBatchNorm(bn.num_features, strength, rng,
                                             momentum=bn.momentum, eps=bn.eps, window=bn.window)
    return model


@contextmanager
def measuring(model):
    """Training mode, running statistics frozen, noise held fixed: a pure function of params.

    The noise generators are restored afterwards, so a measurement taken during training
    (train's measure=) leaves the noise of every later training step as it would have been.
    """
    noisy = [bn for bn in model.batchnorms if isinstance(bn, NoisyBatchNorm)]
    was_training = model.training
    states = [bn.rng.bit_generator.state for bn in noisy]
    model.train()
    for bn in noisy:
        bn.resample = False
    try:
        with frozen_running_stats(model):
            yield model
    finally:
        for bn, state in zip(noisy, states):
            bn.resample = True
            bn.rng.bit_generator.state = state
        if not was_training:
            model.eval()


def _loss_and_grads(model, X, y):
    loss, dlogits = softmax_cross_entropy(model.forward(X), y)
    model.backward(dlogits)
    return float(loss)


def gradient_shift(model, X, y, lr):
    """Santurkar et al.'s ICS measure for each Linear layer after the first.

    G: gradient of the loss on (X, y) w.r.t. the layer's weights; G': the same gradient after
    every *earlier* layer took one SGD step of size lr (later layers unchanged). Returns
    {"l2": ||G - G'||, "cos": cos(G, G'), "rel": ||G - G'|| / ||G||}, arrays (K-1,) for K
    Linears: entry i is the Linear into hidden layer i + 2 (counted from 1; the last entry is
    the output layer). Parameters are restored afterwards.
    """
    out = {"l2": [], "cos": [], "rel": []}
    with measuring(model):
        _loss_and_grads(model, X, y)
        params = [(layer, p, g.copy()) for layer in model.layers
                  for p, g in zip(layer.params.values(), layer.grads.values())]
        for lin in model.linears[1:]:
            G = next(g for layer, p, g in params if p is lin.params["W"])   # at theta
            earlier = [(p, g) for layer, p, g in params
                       if model.layers.index(layer) < model.layers.index(lin)]
            saved = [p.copy() for p, _ in earlier]
            for p, g in earlier:
                p -= lr * g
            _loss_and_grads(model, X, y)
            G2 = lin.grads["W"].copy()
            for (p, _), s in zip(earlier, saved):
                p[...] = s
            diff, norm = np.linalg.norm(G - G2), np.linalg.norm(G) * np.linalg.norm(G2)
            out["l2"].append(diff)
            out["cos"].append(np.sum(G * G2) / norm if norm > 0 else np.nan)
            out["rel"].append(diff / max(np.linalg.norm(G), 1e-300))
    return {k: np.array(v) for k, v in out.items()}


def smoothness(model, X, y, step_sizes):
    """How the loss and its gradient change along the gradient direction (Santurkar et al.).

    For eta in step_sizes (positive), params move to theta - eta * g. Returns a dict: loss (at
    theta), losses (S,), loss_range (max - min of the loss over eta = 0 and step_sizes), grad_change
    (max ||grad(theta - eta g) - g||: small = predictive gradient), beta (max of
    grad change / ||eta g||: their "effective beta-smoothness", which does not grow with the
    size of the gradient as grad_change and loss_range do). Parameters are restored.
    """
    step_sizes = np.asarray(step_sizes, dtype=float)
    if step_sizes.ndim != 1 or not step_sizes.size or not np.all(step_sizes > 0):
        raise ValueError(f"step_sizes must be a non-empty 1-D list of positive numbers, "
                         f"got {step_sizes!r}")
    with measuring(model):
        loss0 = _loss_and_grads(model, X, y)
        params = [(p, g) for _, p, g in model.parameters()]
        theta, g0 = [p.copy() for p, _ in params], [g.copy() for _, g in params]
        gnorm = np.sqrt(sum(np.sum(g * g) for g in g0))
        losses, changes = [], []
        for eta in step_sizes:
            for (p, _), t, g in zip(params, theta, g0):
                p[...] = t - eta * g
            losses.append(_loss_and_grads(model, X, y))
            changes.append(np.sqrt(sum(np.sum((g - h) ** 2) for (_, g), h in zip(params, g0))))
        for (p, _), t in zip(params, theta):
            p[...] = t
    changes = np.array(changes)
    return {"loss": loss0, "losses": np.array(losses),
            "loss_range": max(losses + [loss0]) - min(losses + [loss0]),
            "grad_change": changes.max(), "beta": np.max(changes / (step_sizes * gnorm))}


def batch_loss(model, X, y):
    """The loss on (X, y) as the measures see it (`measuring`: training mode, statistics
    frozen, noise held fixed); nothing changes in the model."""
    with measuring(model):
        return float(softmax_cross_entropy(model.forward(X), y)[0])


class AtLossLevels:
    """A train(callback=...) hook: measure(model) the first time the loss on (X, y) falls
    below each of `levels` (decreasing), so that networks compare at matched loss.

    The step's training-batch loss (free) is the trigger: only once it is below the next level
    is the loss on (X, y) computed (one forward pass), and only once that is below it too is
    measure(model) called (a dict of numbers, e.g. `santurkar_measures` with its other
    arguments bound). rows: one dict per level reached, in order: level, step, loss (on X, y)
    and measure's entries; a level crossed together with the next one shares its row's
    numbers. X (N, D), y (N,).
    """

    def __init__(self, X, y, levels, measure):
        self.X, self.y, self.measure = X, y, measure
        self.levels = sorted(levels, reverse=True)
        self.rows = []

    def __call__(self, step, model, loss):
        if len(self.rows) == len(self.levels) or loss >= self.levels[len(self.rows)]:
            return
        here = batch_loss(model, self.X, self.y)
        if here >= self.levels[len(self.rows)]:
            return
        measured = self.measure(model)
        while len(self.rows) < len(self.levels) and here < self.levels[len(self.rows)]:
            self.rows.append(dict(measured, level=self.levels[len(self.rows)], step=step,
                                  loss=here))


def drift_summary(unit_pct):
    """One number for a layer: the median over its units of their drift (recording.unit_drift:
    how far the 15th/50th/85th percentiles move between recordings). unit_pct: (T, U, 5)."""
    return float(np.median(unit_drift(unit_pct)))


def typical_unit(unit_pct):
    """Index of the unit whose drift is the layer's median: "one typical sigmoid"."""
    d = unit_drift(unit_pct)
    return int(np.argsort(d, kind="stable")[len(d) // 2])


def santurkar_measures(model, X, y, lr, step_sizes):
    """`gradient_shift` and `smoothness` at the current parameters, in one dict: shift_l2,
    shift_cos, shift_rel (arrays, one per Linear after the first: see gradient_shift),
    loss (on X, y), loss_range, grad_change, beta (floats)."""
    shift, smooth = gradient_shift(model, X, y, lr), smoothness(model, X, y, step_sizes)
    return {**{f"shift_{k}": v for k, v in shift.items()},
            **{k: smooth[k] for k in ("loss", "loss_range", "grad_change", "beta")}}


LABELS = ("plain", "batch norm", "noisy batch norm")
PANEL_NAMES = {"plain": "plain", "batch norm": "batch norm", "noisy batch norm": "noisy BN"}


def build(label, strength=1.0, seed=0):
    """A fresh network of the course's base (`helpers.BASE`, `make_base`) for a run label."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {LABELS}, got {label!r}")
    if label == "noisy batch norm":
        return make_noisy_base(strength, noise_seed=seed, seed=seed)
    return make_base(batchnorm=label == "batch norm", seed=seed)


def gamma_control(strength, seed=0):
    """The control for noisy batch norm's average scale: a batch-norm network (no noise)
    whose every gamma starts at 1 + strength / 2, the mean of the noise's scale, instead of 1.
    Same weights as build("batch norm", seed=seed) otherwise."""
    model = build("batch norm", seed=seed)
    for bn in model.batchnorms:
        bn.gamma[:] = 1.0 + strength / 2
    return model


def accuracy_at_eval_scale(model, X, y, scale):
    """Eval-mode accuracy on X (N, D), y (N,) with every NoisyBatchNorm multiplying by
    `scale` instead of the noise's average 1 + strength / 2 (the other control); the model's
    eval scales are restored (Sequential.accuracy restores its mode)."""
    noisy = [bn for bn in model.batchnorms if isinstance(bn, NoisyBatchNorm)]
    saved = [bn.eval_scale for bn in noisy]
    for bn in noisy:
        bn.eval_scale = scale
    try:
        return model.accuracy(X, y)
    finally:
        for bn, s in zip(noisy, saved):
            bn.eval_scale = s


def beta_ratios(rows, reference):
    """{level: beta / reference beta} for every loss level both `AtLossLevels` row lists
    reached: how many times rougher (> 1) or smoother (< 1) at matched loss."""
    ref = {r["level"]: r["beta"] for r in reference}
    return {r["level"]: r["beta"] / ref[r["level"]] for r in rows if r["level"] in ref}


def grid_runner(X, y, *, lr, num_steps, record_every, strength=1.0, probe=None, X_test=None,
                y_test=None, seed=0):
    """run(batch_size, momentum) -> {name: History, or the engine's batch-of-one message for
    a batch-norm network at batch size 1} for panels.run_positions, one per LABELS entry,
    named by PANEL_NAMES. SGD runs at lr * (1 - momentum), so every position takes steps of
    the same average size lr / (1 - momentum) = lr. With X_test, y_test each run is evaluated
    at its start and end. seed: the networks' weights, the noise and the batches."""
    def run(batch_size, momentum):
        out = {}
        for label in LABELS:
            model = build(label, strength, seed=seed)
            name = PANEL_NAMES[label]
            if batch_size < 2 and model.batchnorms:
                out[name] = no_run_message(model, batch_size)
                continue
            out[name] = train(model, X, y, batch_size=batch_size, lr=lr * (1 - momentum),
                              momentum=momentum, num_steps=num_steps, X_test=X_test,
                              y_test=y_test, eval_every=num_steps if X_test is not None else 0,
                              record_every=record_every, probe=probe, seed=seed)
        return out
    return run
