"""Internal covariate shift, measured: how far each layer's input distribution moves.

The measure is the Wasserstein-1 ("earth mover's") distance: the least average distance the
mass of one distribution must travel to become the other. It is in the units of the values,
so "W1 = 0.5" means "the input to this sigmoid moved by 0.5 on average".
Also here: training that updates only chosen layers (cause and effect), a grid of real runs
for the sliders, and the lesson's two panels.
"""
import itertools

import numpy as np

from .layers import softmax_cross_entropy
from .network import make_mlp
from .optim import SGD
from .plots import PALETTE, new_figure, plot_histograms_over_time, show_message
from .training import frozen_running_stats, iterate_minibatches, train
from .widgets import cached_panel, selection_slider


def wasserstein1(p, q, bins):
    """W1 distance between histograms p and q (..., B) on the same `bins` (B + 1 edges).

    p, q: counts or densities (each normalised to mass 1 here). A bin's mass sits at its
    centre, so shifting a histogram by k bins gives exactly k bin widths. Leading axes
    broadcast: p (T, L, B) against q (L, B) gives (T, L).
    """
    p, q, bins = np.asarray(p, float), np.asarray(q, float), np.asarray(bins, float)
    if bins.ndim != 1 or p.shape[-1] != len(bins) - 1 or q.shape[-1] != len(bins) - 1:
        raise ValueError(f"p and q need a last axis of len(bins) - 1 = {len(bins) - 1}, "
                         f"got shapes {p.shape} and {q.shape}")
    if np.any(np.diff(bins) <= 0):
        raise ValueError("bins must be strictly increasing")
    if not (np.isfinite(p).all() and np.isfinite(q).all()) or (p < 0).any() or (q < 0).any():
        raise ValueError("histograms must be finite and non-negative")
    mass_p, mass_q = p.sum(axis=-1, keepdims=True), q.sum(axis=-1, keepdims=True)
    if np.any(mass_p == 0) or np.any(mass_q == 0):
        raise ValueError("every histogram needs some mass, got an all-zero histogram")
    cdf_gap = np.cumsum(p / mass_p - q / mass_q, axis=-1)[..., :-1]
    centres = (bins[:-1] + bins[1:]) / 2
    return np.abs(cdf_gap) @ np.diff(centres)   # integral of |F_p - F_q| between centres


def wasserstein1_samples(a, b, axis=None):
    """Exact W1 between two equal-size samples: the mean distance between sorted values.

    axis=None pools all values of a and b (any shape); axis=0 compares column j of a (N, U)
    with column j of b (N, U), one unit at a time, and returns (U,).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need two non-empty samples of equal shape, got {a.shape} and {b.shape}")
    if axis is None:
        return float(np.abs(np.sort(a, axis=None) - np.sort(b, axis=None)).mean())
    return np.abs(np.sort(a, axis=axis) - np.sort(b, axis=axis)).mean(axis=axis)


def shift_between_checkpoints(activations):
    """W1 between consecutive recorded checkpoints of the inputs to each nonlinearity.

    activations: History.activations. Returns (steps (T-1,), W1 (T-1, L)); row t compares
    checkpoints t and t + 1 and is placed at the later step.
    """
    hist, bins = activations["pre_hist"], activations["pre_bins"]
    return activations["steps"][1:], wasserstein1(hist[1:], hist[:-1], bins)


def shift_from_start(activations):
    """W1 between every checkpoint and the first, per layer: (steps (T,), W1 (T, L))."""
    hist, bins = activations["pre_hist"], activations["pre_bins"]
    return activations["steps"], wasserstein1(hist, hist[0], bins)


def pre_activations(model, X):
    """The input to every hidden nonlinearity for X (N, D): a list of (N, units) arrays."""
    with frozen_running_stats(model):
        model.forward(X)
    return [a.x.copy() for a in model.activations]


def grad_at_nonlinearity(model, X, y):
    """Backpropagate the loss of one batch X (N, D), y (N,) and return, per hidden layer,
    (dL/dx (N, units), saturated (N, units) bool): the gradient at the input x of each
    nonlinearity, and where that nonlinearity is saturated."""
    with frozen_running_stats(model):
        _, dout = softmax_cross_entropy(model.forward(X), y)
    acts, out = model.activations, {}
    for layer in reversed(model.layers):
        dout = layer.backward(dout)
        if any(layer is a for a in acts):
            out[id(layer)] = dout
    return [(out[id(a)], a.saturated(a.out)) for a in acts]


def train_layers(model, X, y, *, layers, batch_size, lr, num_steps, check_every, probe, seed=0):
    """Mini-batch SGD on X (N, D), y (N,) that updates ONLY the hidden layers in `layers`.

    layers: 0-based hidden-layer indices, e.g. (0,) = first layer only, () = nothing learns
    (the control), or "all". Every other weight, the output layer's included, stays exactly
    as it was. Every `check_every` steps the exact W1 between each layer's input on `probe`
    (P, D) now and at step 0 is measured, per unit (then averaged over the units) and pooled
    over all units. Returns {"steps" (T,), "w1_unit" (T, L), "w1_pooled" (T, L), "start",
    "end"}, start/end being the per-layer inputs (P, units) before and after.
    """
    hidden = model.linears[:len(model.activations)]
    if layers == "all":
        params = model.parameters()
    elif all(isinstance(i, (int, np.integer)) and 0 <= i < len(hidden) for i in layers):
        params = [(f"hidden{i}.{k}", p, hidden[i].grads[k])
                  for i in layers for k, p in hidden[i].params.items()]
    else:
        raise ValueError(f"layers must be 'all' or indices 0..{len(hidden) - 1}, got {layers!r}")
    opt, rng = SGD(params, lr=lr), np.random.default_rng(seed)
    start = pre_activations(model, probe)
    steps, w1_unit, w1_pooled, step = [], [], [], 0
    model.train()
    while True:
        for idx in iterate_minibatches(len(X), batch_size, rng):
            if step % check_every == 0 or step == num_steps:
                now = pre_activations(model, probe)
                steps.append(step)
                w1_unit.append([wasserstein1_samples(a, b, 0).mean() for a, b in zip(start, now)])
                w1_pooled.append([wasserstein1_samples(a, b) for a, b in zip(start, now)])
            if step == num_steps:
                return {"steps": np.array(steps), "w1_unit": np.array(w1_unit),
                        "w1_pooled": np.array(w1_pooled), "start": start, "end": now}
            model.backward(softmax_cross_entropy(model.forward(X[idx]), y[idx])[1],
                           input_grad=False)
            opt.step()
            step += 1


def run_grid(X, y, batch_sizes, lrs, momenta, *, num_steps, record_every, probe, seed=0,
             progress="training runs"):
    """One real training run of make_mlp(seed=seed) per (batch_size, lr, momentum).

    Returns {(batch_size, lr, momentum): History} with activations recorded on probe (P, D).
    """
    keys = list(itertools.product(batch_sizes, lrs, momenta))
    if progress:
        from tqdm.auto import tqdm
        keys = tqdm(keys, desc=progress, leave=False)
    return {(b, lr, m): train(make_mlp(seed=seed), X, y, batch_size=b, lr=lr, momentum=m,
                              num_steps=num_steps, seed=seed, eval_every=0,
                              record_every=record_every, probe=probe) for b, lr, m in keys}


def describe_run(history, saturated=0.9):
    """Plain-words verdict on a grid run: (warning or None, [lines]), lines[0] a summary.

    The warning names what broke: a non-finite loss, a loss that ended (mean of the last 10%
    of steps) above twice its first value, or >= `saturated` of the last hidden layer's
    sigmoids saturated at the end. Notes on extreme settings follow the summary.
    """
    loss, acts = np.asarray(history.loss), history.activations
    sat = acts["saturation"][-1, -1]
    warnings = []
    if history.diverged:
        lines = [history.message()]
        warnings.append("DIVERGED: the loss overflowed (lr or momentum far too large)")
    else:
        first, last = loss[0], loss[-max(1, len(loss) // 10):].mean()
        lines = [f"loss {first:.2f} -> {last:.2f} after {len(loss)} steps; "
                 f"last hidden layer {sat:.0%} saturated"]
        if last > 2 * first:
            warnings.append("FAILED: the loss rose instead of falling (lr or momentum too large)")
        if sat >= saturated:
            warnings.append("SATURATED: the last hidden layer's sigmoids are flat, "
                            "little gradient flows")
    edge = acts["pre_hist"][-1][:, [0, -1]].sum(axis=1) * np.diff(acts["pre_bins"][:2])
    if (edge > 0.5).any():                      # mass piled up in the end bins at +-10
        lines.append(f"layers {', '.join(str(l + 1) for l in np.flatnonzero(edge > 0.5))}: most "
                     "input lies beyond +-10, so their W1 is capped near 10")
    if history.config["batch_size"] == 1:
        lines.append("batch size 1: every step follows one example, so the distributions jump")
    if history.config["momentum"] >= 0.99:
        lines.append("momentum 0.99: a step adds up ~100 past gradients (about 100x the lr)")
    return (warnings[0] if warnings else None), lines[:1] + warnings + lines[1:]


def plot_per_layer(ax, steps, values, ylabel, title, highlight=None):
    """One line per hidden layer: values (T, L) against steps (T,)."""
    for l in range(values.shape[1]):
        bold = highlight is None or l == highlight
        ax.plot(steps, values[:, l], color=PALETTE[l], lw=2 if bold else 1,
                alpha=1 if bold else 0.4, label=f"hidden layer {l + 1}")
    ax.set(xlabel="step (parameter updates)", ylabel=ylabel, title=title)
    ax.legend()
    return ax


def _xlim(activations, layer):
    """x range covering a layer's 1st-99th percentiles at every checkpoint (within the bins)."""
    pct, bins = activations["pre_pct"][:, layer], activations["pre_bins"]
    lo, hi = pct[:, 0][np.isfinite(pct[:, 0])], pct[:, -1][np.isfinite(pct[:, -1])]
    return (max(lo.min() - 0.5, bins[0]) if lo.size else bins[0],
            min(hi.max() + 0.5, bins[-1]) if hi.size else bins[-1])


def step_scrubber(activations, value=None):
    """A step slider over one run: every layer's input histogram at that step (colour) drawn
    over its histogram at step 0 (grey), with the W1 distance between the two. value: the
    initial step (one of activations["steps"])."""
    steps, w1 = shift_from_start(activations)
    centres = (activations["pre_bins"][:-1] + activations["pre_bins"][1:]) / 2
    hist = activations["pre_hist"]
    ranges = [_xlim(activations, l) for l in range(hist.shape[1])]
    xlim = (min(lo for lo, _ in ranges), max(hi for _, hi in ranges))   # one scale: compare

    def draw(step):
        t = int(np.searchsorted(steps, step))
        fig, axes = new_figure(1, hist.shape[1], width=3.3, height=2.6, sharex=True,
                               layout="none", detached=True)
        # fixed margins (inches / figure size): constrained layout is a third of a redraw
        fig.subplots_adjust(left=0.6 / fig.get_figwidth(), right=0.99, bottom=0.5 / 2.6,
                            top=1 - 0.35 / 2.6, wspace=0.3)
        for l, ax in enumerate(axes[0]):
            ax.fill_between(centres, hist[0, l], color="0.6", alpha=0.5, label="step 0")
            ax.plot(centres, hist[t, l], color=PALETTE[l], label=f"step {step}")
            ax.set(title=f"layer {l + 1}: W1 from step 0 = {w1[t, l]:.2f}",
                   xlabel="input to the sigmoid", ylabel="density", xlim=xlim)
            ax.legend(loc="upper left")
        return fig

    options = [int(s) for s in steps]
    return cached_panel(draw, step=selection_slider(options, "step", value=value))


def shift_panel(grid, batch_sizes, lrs, momenta, value=None):
    """Sliders batch size, lr, momentum, layer over a precomputed `run_grid`: the layer's
    input histograms early -> late, and every layer's W1 from step 0 over training."""
    b0, lr0, m0 = value or (batch_sizes[0], lrs[0], momenta[0])
    n_layers = next(iter(grid.values())).activations["pre_hist"].shape[1]

    def draw(batch_size, lr, momentum, layer):
        history = grid[(batch_size, lr, momentum)]
        warning, lines = describe_run(history)
        print("\n".join(lines))
        fig, axes = new_figure(1, 2, width=4.2, height=3.0, layout="none", detached=True)
        fig.subplots_adjust(left=0.6 / 8.4, right=0.99, bottom=0.5 / 3.0, top=1 - 0.55 / 3.0,
                            wspace=0.22)
        ax_h, ax_w = axes[0]
        plot_histograms_over_time(ax_h, history.activations, layer - 1, max_curves=5)
        ax_h.set(title=f"hidden layer {layer}: input over training",
                 xlim=_xlim(history.activations, layer - 1))
        ax_h.legend(loc="upper left")
        steps, w1 = shift_from_start(history.activations)
        plot_per_layer(ax_w, steps, w1, "W1 distance from step 0", "shift of every layer",
                       highlight=layer - 1)
        if warning:
            show_message(ax_h, warning)
        fig.suptitle(f"batch size {batch_size}, lr {lr}, momentum {momentum}")
        return fig

    return cached_panel(
        draw, batch_size=selection_slider(batch_sizes, "batch size", value=b0),
        lr=selection_slider(lrs, "lr", value=lr0),
        momentum=selection_slider(momenta, "momentum", value=m0),
        layer=selection_slider(list(range(1, n_layers + 1)), "layer", value=n_layers))
