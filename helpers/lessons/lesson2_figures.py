"""Lesson 2's figures and panels: a run described in plain words, per-layer curves, the step
scrubber (one run, every layer, any step against step 0) and the shift panel (batch size, lr,
momentum, layer over a grid of real runs).
"""
import numpy as np

from ..display.figures import plot_histograms_over_time
from ..display.panels import cached_panel, selection_slider
from ..display.style import PALETTE, new_figure, show_message
from ..recording import end_bin_fraction
from .lesson2_shift import shift_from_start


def describe_run(history, saturated=0.9):
    """Plain-words verdict on a grid run: (warning or None, [lines]), lines[0] a summary.

    The warning names what broke: the run diverged (History.diverged, the course's one rule:
    see helpers.divergence), or >= `saturated` of the last hidden layer's sigmoids are
    saturated at the end. Notes on extreme settings follow the summary.
    """
    loss, acts = np.asarray(history.loss), history.activations
    sat = acts["saturation"][-1, -1]
    lines = [f"loss {loss[0]:.2f} -> {loss[-max(1, len(loss) // 10):].mean():.2f} after "
             f"{len(loss)} steps; last hidden layer {sat:.0%} saturated"]
    warnings, notes = [], []
    if history.diverged:
        warnings.append(f"DIVERGED at step {history.diverged['step']} "
                        "(lr or momentum too large)")
        notes.append(f"diverged: {history.diverged['reason']}")
    if sat >= saturated:
        warnings.append("SATURATED: the last hidden layer's sigmoids are flat, "
                        "little gradient flows")
    edge = end_bin_fraction(acts["pre_hist"][-1], acts["pre_bins"])
    if (edge > 0.5).any():                      # mass piled up in the end bins at +-10
        notes.append(f"layers {', '.join(str(l + 1) for l in np.flatnonzero(edge > 0.5))}: "
                     "most input lies beyond +-10, so their W1 is capped near 10")
    if history.config["batch_size"] == 1:
        notes.append("batch size 1: every step follows one example, so the distributions jump")
    if history.config["momentum"] >= 0.99:
        notes.append("momentum 0.99: a step adds up ~100 past gradients (about 100x the lr)")
    return (warnings[0] if warnings else None), lines + warnings + notes


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
    """Sliders batch size, lr, momentum, layer over a precomputed `train_grid`: the layer's
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
