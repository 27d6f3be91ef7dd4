"""Lesson 2's figures and panels: what a run did in plain words, per-layer curves, the step
scrubber (one run, every layer, any step against step 0) and the shift panel (batch size and
momentum over a grid of real runs: every layer's input, pooled and per unit, beside every
layer's W1 from step 0 and the test accuracy).
"""
import numpy as np

from ..display.figures import activation_limits, draw_activation_grid, plot_accuracy
from ..display.panels import cached_panel, run_summary, selection_slider
from ..display.style import PALETTE, new_figure, show_message
from ..recording import end_bin_fraction
from .lesson2_shift import shift_from_start

SATURATED = 0.9      # this share of the last hidden layer saturated at the end: a warning


def describe_run(history, saturated=SATURATED):
    """What a run did, in plain words: a list of lines. First `run_summary` (steps, epochs and
    examples, the loss of the last tenth of the steps, the test accuracy; or where and why
    the run diverged), then a warning if >= `saturated` of the last hidden layer's sigmoids
    are saturated at the end, and a note naming the layers whose input lies mostly beyond
    +-10, where the recorder's histograms end (their W1 is capped near 10)."""
    lines = run_summary(history).splitlines()
    if history.diverged:
        return lines
    acts = history.activations
    sat = acts["saturation"][-1, -1]
    if sat >= saturated:
        lines.append(f"SATURATED: {sat:.0%} of the last hidden layer's sigmoids are flat at "
                     "the end, so little gradient flows")
    edge = end_bin_fraction(acts["pre_hist"][-1], acts["pre_bins"])
    beyond = [str(l + 1) for l in np.flatnonzero(edge > 0.5)]
    if beyond:
        lines.append(f"layer{'s' if len(beyond) > 1 else ''} {', '.join(beyond)}: most input "
                     "lies beyond +-10, so W1 is capped near 10")
    return lines


LINESTYLES = ("-", "--", ":")        # per layer: lines that coincide stay visible
MARKERS = ("o", "s", "^")


def plot_per_layer(ax, steps, values, ylabel, title, highlight=None):
    """One line per hidden layer: values (T, L) against steps (T,). Each layer has its own
    colour, line style, width and markers (staggered along the line), so a layer drawn
    exactly under another (two layers both 100% saturated) still shows."""
    for l in range(values.shape[1]):
        bold = highlight is None or l == highlight
        ax.plot(steps, values[:, l], color=PALETTE[l], ls=LINESTYLES[l % 3],
                lw=(2.8 - 0.6 * (l % 3)) if bold else 1, alpha=1 if bold else 0.4,
                marker=MARKERS[l % 3], ms=5, markevery=(0.04 * (l % 3), 0.12),
                label=f"hidden layer {l + 1}")
    ax.set(xlabel="step (parameter updates)", ylabel=ylabel, title=title)
    ax.legend()
    return ax


def _xlim(activations, layer):
    """x range covering a layer's 1st-99th percentiles at every checkpoint (within the bins)."""
    pct, bins = activations["pre_pct"][:, layer], activations["pre_bins"]
    lo, hi = pct[:, 0][np.isfinite(pct[:, 0])], pct[:, -1][np.isfinite(pct[:, -1])]
    return (max(lo.min() - 0.5, bins[0]) if lo.size else bins[0],
            min(hi.max() + 0.5, bins[-1]) if hi.size else bins[-1])


def step_scrubber(activations, steps=None, value=None, static=None, panel_id=None):
    """A step slider over one run: every layer's input histogram at that step (colour) drawn
    over its histogram at step 0 (grey), with the W1 distance between the two.

    steps: the recorded checkpoints the slider offers (default all); value: the initial one;
    static: the steps of the static picture saved for readers without a kernel. The axes
    stay fixed at every step: one x-axis for all layers, and per layer a y-axis fitted to the
    offered steps after step 0 (a taller step-0 spike runs off the top, labelled).
    """
    recorded, w1 = shift_from_start(activations)
    options = [int(s) for s in (recorded if steps is None else steps)]
    missing = sorted(set(options) - set(recorded.tolist()))
    if missing:
        raise ValueError(f"steps must be recorded checkpoints (every "
                         f"{recorded[1] - recorded[0]} steps), got {missing}")
    centres = (activations["pre_bins"][:-1] + activations["pre_bins"][1:]) / 2
    hist = activations["pre_hist"]
    ranges = [_xlim(activations, l) for l in range(hist.shape[1])]
    xlim = (min(lo for lo, _ in ranges), max(hi for _, hi in ranges))   # one scale: compare
    later = [int(np.searchsorted(recorded, s)) for s in options if s > 0] or [0]
    # per layer, without the end bins (where everything beyond the bins piles up)
    tops = 1.05 * hist[later][:, :, 1:-1].max(axis=(0, 2))

    def draw(step):
        t = int(np.searchsorted(recorded, step))
        fig, axes = new_figure(1, hist.shape[1], width=3.3, height=2.6, sharex=True,
                               layout="none", detached=True)
        # fixed margins (inches / figure size): constrained layout is a third of a redraw
        fig.subplots_adjust(left=0.6 / fig.get_figwidth(), right=0.99, bottom=0.5 / 2.6,
                            top=1 - 0.35 / 2.6, wspace=0.3)
        for l, ax in enumerate(axes[0]):
            ax.fill_between(centres, hist[0, l], color="0.6", alpha=0.5, label="step 0")
            ax.plot(centres, hist[t, l], color=PALETTE[l], label=f"step {step}")
            ax.set(title=f"layer {l + 1}: W1 from step 0 = {w1[t, l]:.2f}",
                   xlabel="input to the sigmoid", ylabel="density", xlim=xlim,
                   ylim=(0, tops[l]))
            ax.legend(loc="upper left")
            if hist[0, l].max() > tops[l]:
                ax.annotate("step 0: peak\nabove the scale", (0.99, 0.97), xycoords="axes fraction",
                            ha="right", va="top", fontsize=9, color="0.35")
        return fig

    return cached_panel(draw, panel_id=panel_id,
                        static=[{"step": s} for s in (static or [])] or None,
                        step=selection_slider(options, "step", value=value))


def shift_panel(runs, batch_sizes, momenta, value=None, static=None, label="sigmoid MLP",
                panel_id=None):
    """Sliders batch size and momentum over {(batch_size, momentum): History} (`train_grid`).

    Each position shows, for every hidden layer, its input over training pooled over all
    units (histograms) and per unit (one unit's 15th-85th percentile band and five more
    units' medians, `draw_activation_grid`), and beside them every layer's W1 distance from
    step 0 and the test accuracy over training. All positions share their axes, fixed from
    the runs that did not diverge; a diverged run is hatched, and no W1 is drawn for it. The
    histograms have a log density axis: the paper's small initial weights make the early
    distributions narrow spikes, and the late, wide ones would be flat lines under them. A
    layer whose input lies mostly beyond the recorder's bins (+-10) says so. The printed lines
    are `describe_run`'s. value, static: (batch_size, momentum) positions.
    """
    first = next(iter(runs.values()))
    bins = first.activations["pre_bins"]
    # the density scale leaves out the end bins, where every value beyond the bins piles up
    limits = activation_limits([{label: h} for h in runs.values()],
                               xlim=(bins[1], bins[-2]))
    lim = limits[label]
    lim["x"] = (bins[0] - 0.5, bins[-1] + 0.5)          # the end bins' spikes stay in view
    lim["bands"] = (max(lim["bands"][0], bins[0]), min(lim["bands"][1], bins[-1]))
    lim["density"] *= 10                                # a decade of room for the legend
    n_layers = first.activations["pre_hist"].shape[1]
    w1_top = 1.05 * max(shift_from_start(h.activations)[1].max() for h in runs.values()
                        if not h.diverged)
    extra = 3.4                                   # inches for the W1 and accuracy column

    def draw(batch_size, momentum):
        history = runs[(batch_size, momentum)]
        print("\n".join(describe_run(history)))
        c = history.config
        fig = draw_activation_grid(
            {label: history}, limits=limits, detached=True,
            title=f"Batch size {batch_size}, momentum {momentum}, lr {c['lr']:g}, "
                  f"{c['num_steps']} steps: inputs to the sigmoids (colour: step, early to late)")
        if not history.diverged:
            edge = end_bin_fraction(history.activations["pre_hist"][-1], bins)
            for layer, ax in enumerate(fig.axes[:n_layers]):
                ax.set_yscale("log")
                ax.set_ylim(1e-4 * lim["density"], lim["density"])
                if edge[layer] > 0.5:
                    for a in (ax, fig.axes[n_layers + layer]):
                        a.annotate(f"{edge[layer]:.0%} of the input\nbeyond +-10 at the end",
                                   (0.5, 0.3), xycoords="axes fraction", ha="center",
                                   va="center", fontsize=9, color="0.35")
            fig.axes[0].legend(loc="upper left", fontsize=9, ncol=3, handlelength=1.0,
                               columnspacing=0.8)
            # the per-unit legend off layer 1, whose units can spread over the whole range
            handles, labels = fig.axes[n_layers].get_legend_handles_labels()
            fig.axes[n_layers].get_legend().remove()
            fig.axes[n_layers + 1].legend(handles, labels, loc="lower left", fontsize=9,
                                          handlelength=1.2)
        width, height = fig.get_size_inches()
        fig.set_size_inches(width + extra, height)
        fig.subplots_adjust(left=0.6 / (width + extra), right=(width - 0.1) / (width + extra))
        top, bottom = fig.axes[0].get_position(), fig.axes[n_layers].get_position()
        x0, w = (width + 0.6) / (width + extra), (extra - 0.75) / (width + extra)
        ax_w = fig.add_axes((x0, top.y0, w, top.height))
        ax_a = fig.add_axes((x0, bottom.y0, w, bottom.height))
        if history.diverged:
            show_message(ax_w, f"diverged at step {history.diverged['step']}:\nno shift to "
                               "measure")
            ax_w.set_title("shift of every layer")
        else:
            steps, w1 = shift_from_start(history.activations)
            plot_per_layer(ax_w, steps, w1, "W1 from step 0", "shift of every layer")
            ax_w.legend(loc="upper left", fontsize=9)
        plot_accuracy(ax_a, history, color=PALETTE[7])
        ax_w.set(xlim=(0, lim["steps"]), ylim=(0, w1_top), xlabel="step")
        ax_a.set(xlim=(0, lim["steps"]), ylim=(0, 100), xlabel="step",
                 title="test accuracy over training")
        return fig

    b0, m0 = value or (batch_sizes[0], momenta[0])
    return cached_panel(
        draw, panel_id=panel_id,
        static=[{"batch_size": b, "momentum": m} for b, m in (static or [(b0, m0)])],
        batch_size=selection_slider(batch_sizes, "batch size", value=b0),
        momentum=selection_slider(momenta, "momentum", value=m0))
