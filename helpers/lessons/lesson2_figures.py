"""Lesson 2's figures and panels: what a run did in plain words (and its state: learns,
saturated, diverged, untrained), per-layer curves, the step scrubber (one run, every layer, any
step against step 0), the paper's percentile bands, the shift panel (batch size and momentum
over a grid of real runs) with a one-picture overview of all its positions, and the chart of
where a layer's shift comes from (`lesson2_sources`, for Going deeper 2a).
"""

import numpy as np
from matplotlib.ticker import NullLocator

from ..display.figures import (
    activation_limits,
    draw_activation_grid,
    hatched,
    plot_accuracy,
    plot_percentile_bands,
)
from ..display.panels import cached_panel, run_summary, selection_slider
from ..display.style import PALETTE, new_figure, show_message
from ..recording import end_bin_fraction
from .lesson2_shift import shift_from_start

SATURATED = 0.5      # this share of the last hidden layer saturated at the end: "saturated"
LEARNS = 0.8         # this test accuracy at the end: "learns"
SATURATED_X = 4.6    # |x| beyond this: sigmoid output below 0.01 or above 0.99


def run_state(history, learns=LEARNS, saturated=SATURATED):
    """What a run is, in one word: "diverged" (`divergence`'s rule), "learns" (final test
    accuracy >= learns), "saturated" (under that, and >= saturated of the last hidden layer's
    sigmoids flat at the end), else "undertrained" (under `learns`, neither of the others)."""
    if history.diverged:
        return "diverged"
    if history.test_acc and history.test_acc[-1] >= learns:
        return "learns"
    if history.activations is not None and history.activations["saturation"][-1, -1] >= saturated:
        return "saturated"
    return "undertrained"


def shade_saturated(ax, lo, hi, axis="x"):
    """Grey bands where |x| > SATURATED_X, within (lo, hi), on the x (or y) axis of ax."""
    span = ax.axvspan if axis == "x" else ax.axhspan
    for a, b in ((lo, -SATURATED_X), (SATURATED_X, hi)):
        if b > a:
            span(a, b, color="0.88", lw=0, zorder=0)


def describe_run(history, saturated=SATURATED):
    """What a run did, in plain words: a list of lines. First its state (`run_state`), then
    `run_summary` (steps, epochs and
    examples, the loss of the last tenth of the steps, the test accuracy; or where and why
    the run diverged), then a warning if >= `saturated` of the last hidden layer's sigmoids
    are saturated at the end, and a note naming the layers whose input lies mostly beyond
    +-10, where the recorder's histograms end (their W1 is capped near 10)."""
    lines = [f"state: {run_state(history)}"] + run_summary(history).splitlines()
    if history.diverged:
        return lines
    acts = history.activations
    sat = acts["saturation"][-1, -1]
    if sat >= saturated:
        lines.append(f"SATURATED: {sat:.0%} of the last hidden layer's values are in the flat "
                     "zone (|x| > 4.6) at the end")
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
    offered steps after step 0, with headroom for the labels (a taller step-0 spike runs off
    the top, labelled).
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
    tops = np.where(tops > 0, tops, 1.0)      # a layer with every value beyond +-10: any scale

    bins = activations["pre_bins"]
    edge = end_bin_fraction(hist, bins)                                 # (T, L)

    def draw(step):
        t = int(np.searchsorted(recorded, step))
        fig, axes = new_figure(1, hist.shape[1], width=3.3, height=2.6, sharex=True,
                               layout="none", detached=True)
        # fixed margins (inches / figure size): constrained layout is a third of a redraw
        fig.subplots_adjust(left=0.75 / fig.get_figwidth(), right=0.99, bottom=0.5 / 2.6,
                            top=1 - 0.35 / 2.6, wspace=0.3)
        for l, ax in enumerate(axes[0]):
            shade_saturated(ax, *xlim)
            ax.fill_between(centres, hist[0, l], color="0.6", alpha=0.5, label="step 0")
            ax.plot(centres, hist[t, l], color=PALETTE[l], label=f"step {step}")
            ax.set(title=f"layer {l + 1}: W1 from step 0 = {w1[t, l]:.2f}",
                   xlabel="input to the sigmoid (grey: |x| > 4.6)", ylabel="density",
                   xlim=xlim, ylim=(0, 1.45 * tops[l]))     # headroom: labels above the curves
            ax.legend(loc="upper left", fontsize=9)
            if hist[0, l, 1:-1].max() > 1.45 * tops[l]:
                ax.annotate("step 0: peak\nabove the scale", (0.99, 0.97), xycoords="axes fraction",
                            ha="right", va="top", fontsize=9, color="0.35")
            if edge[t, l] >= 0.005:          # the end bins hold every value beyond +-10
                ax.annotate(f"{edge[t, l]:.0%} of values\nbeyond +-10,\nin the end bins",
                            (0.99, 0.72 if hist[0, l, 1:-1].max() > 1.45 * tops[l] else 0.97),
                            xycoords="axes fraction", ha="right", va="top",
                            fontsize=9, color="0.3")
        return fig

    return cached_panel(draw, panel_id=panel_id,
                        static=[{"step": s} for s in (static or [])] or None,
                        step=selection_slider(options, "step", value=value))


def shift_panel(runs, batch_sizes, momenta, value=None, static=None, label="sigmoid MLP",
                panel_id=None):
    """Sliders batch size and momentum over {(batch_size, momentum): History}, one run each.

    Each position shows, for every hidden layer, its input over training pooled over all
    units (histograms) and per unit (one unit's 15th-85th percentile band and five more
    units' medians, `draw_activation_grid`, units numbered from 0), and beside them every
    layer's pooled W1 distance from step 0 (log axis; the end values written) and the test
    accuracy over training. All positions share their axes, fixed from
    the runs that did not diverge; a diverged run is hatched, and no W1 is drawn for it. The
    histograms have a log density axis, so that thin tails and the spikes of saturated
    layers both show; the saturated zones |x| > 4.6 are shaded, and the share of the input
    piled in the end bins (beyond +-10) is written in the title where it is 0.5% or more. The
    printed lines are `describe_run`'s, the run's state first (`run_state`), which the accuracy
    panel also shows in capitals. value, static: (batch_size, momentum) positions.
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
    w1s = [shift_from_start(h.activations)[1][1:] for h in runs.values() if not h.diverged]
    w1_top = 4 * max(w.max() for w in w1s)                    # log axis: room for the legend
    w1_bottom = 0.5 * min(w[w > 0].min() for w in w1s)
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
                ax.yaxis.set_minor_locator(NullLocator())     # a fifth less drawing time
                ax.set_ylim(1e-4 * lim["density"], lim["density"])
                shade_saturated(ax, *lim["x"])
                shade_saturated(fig.axes[n_layers + layer], *lim["bands"], axis="y")
                if edge[layer] >= 0.005:     # the spikes at the edges: every value beyond
                    ax.set_title(ax.get_title()[:-1] + f"; {edge[layer]:.0%} beyond ±10)")
            fig.axes[0].legend(loc="upper left", fontsize=9, ncol=3, handlelength=1.0,
                               columnspacing=0.8)
            # the per-unit legend under the figure, off the lines; units numbered from 0
            handles, names = fig.axes[n_layers].get_legend_handles_labels()
            fig.axes[n_layers].get_legend().remove()
            fig.legend(handles, names,
                       loc="lower left", bbox_to_anchor=(0.0, 0.0), fontsize=9, ncol=2,
                       handlelength=1.2, frameon=False)
        for ax in fig.axes:                  # the lesson's words: "the input to the sigmoid"
            ax.set_title(ax.get_title().replace(f"{label}, ", ""))
            if ax.get_xlabel() == "input to the nonlinearity":
                ax.set_xlabel("input to the sigmoid")
        width, height = fig.get_size_inches()
        fig.set_size_inches(width + extra, height + 0.3)     # 0.3 in: the per-unit legend
        grown = height / (height + 0.3)
        fig.subplots_adjust(left=0.6 / (width + extra), right=(width - 0.1) / (width + extra),
                            bottom=fig.subplotpars.bottom * grown + 0.3 / (height + 0.3),
                            top=1 - (1 - fig.subplotpars.top) * grown)
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
            plot_per_layer(ax_w, steps[1:], w1[1:], "pooled W1 from step 0",
                           "shift of every layer")
            ax_w.set_yscale("log")           # curves from 0.2 to 8 all readable
            ax_w.legend(loc="upper left", fontsize=9, ncol=3, handlelength=1.5,
                        columnspacing=0.6, labels=["layer 1", "layer 2", "layer 3"])
            ax_w.annotate("end: " + ", ".join(f"{v:.2f}" for v in w1[-1]), (0.98, 0.04),
                          xycoords="axes fraction", ha="right", va="bottom", fontsize=9)
        plot_accuracy(ax_a, history, color=PALETTE[7])
        ax_a.axhline(100 * LEARNS, color="0.5", ls=":", lw=1)
        state = run_state(history)
        ax_a.text(0.97, 0.5 if state == "learns" else 0.9, state.upper(),
                  transform=ax_a.transAxes, ha="right", va="center", fontsize=12,
                  fontweight="bold", color=PALETTE[2] if state == "learns" else PALETTE[3])
        ax_w.set(xlim=(0, lim["steps"]), ylim=(w1_bottom, w1_top), xlabel="step")
        ax_a.set(xlim=(0, lim["steps"]), ylim=(0, 100), xlabel="step",
                 title=f"test accuracy (dotted: {LEARNS:.0%})")
        return fig

    b0, m0 = value or (batch_sizes[0], momenta[0])
    return cached_panel(
        draw, panel_id=panel_id,
        static=[{"batch_size": b, "momentum": m} for b, m in (static or [(b0, m0)])],
        batch_size=selection_slider(batch_sizes, "batch size", value=b0),
        momentum=selection_slider(momenta, "momentum", value=m0))


def grid_overview(runs, batch_sizes, momenta):
    """Every position of the shift panel in one picture: a small test-accuracy curve per
    (batch_size, momentum), rows batch sizes, columns momenta, each labelled with its state
    (`run_state`) and final accuracy; a diverged run is hatched. Returns the figure."""
    fig, axes = new_figure(len(batch_sizes), len(momenta), width=2.6, height=1.55,
                           sharex=True, sharey=True)
    for i, b in enumerate(batch_sizes):
        for j, m in enumerate(momenta):
            ax, history = axes[i, j], runs[(b, m)]
            state = run_state(history)
            ax.set_title(f"batch {b}, momentum {m}", fontsize=10)
            if history.diverged:
                hatched(ax, f"DIVERGED at step {history.diverged['step']}")
                continue
            ax.plot(history.eval_steps, 100 * np.asarray(history.test_acc), color=PALETTE[7],
                    marker=".")
            ax.axhline(100 * LEARNS, color="0.5", ls=":", lw=1)
            sat = history.activations["saturation"][-1, -1]
            text = f"{state.upper()}{', ' if state == 'learns' else chr(10)}test acc. " \
                f"{history.test_acc[-1]:.0%}" + (
                "" if state == "learns" else f"\nlast layer {sat:.0%} saturated")
            ax.text(0.97, 0.1 if state == "learns" else 0.6, text, transform=ax.transAxes,
                    ha="right", va="bottom" if state == "learns" else "center", fontsize=10,
                    fontweight="bold", color=PALETTE[2] if state == "learns" else PALETTE[3])
            ax.set_ylim(0, 100)
        axes[i, 0].set_ylabel("test acc. (%)")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    fig.suptitle("All nine positions: test accuracy over training (dotted: 80%)")
    return fig


def bands_figure(activations, units=range(4)):
    """The paper's Figure 1(b) for some units of the last hidden layer (one panel each: the
    15th-85th percentile band and the median over training), then, one panel per layer, the
    same percentiles over all units of that layer pooled. Shared y-axis; the saturated zones
    shaded."""
    steps, n = activations["steps"], activations["pre_hist"].shape[1]
    units = list(units)
    pct = [activations["unit_pct"][n - 1][:, u] for u in units] + \
        [activations["pre_pct"][:, layer] for layer in range(n)]
    lo = min(p[:, 1].min() for p in pct) - 0.5
    hi = max(p[:, 3].max() for p in pct) + 0.5
    fig, axes = new_figure(2, -(-len(pct) // 2), width=2.5, height=2.3, sharey=True)
    flat = list(axes.ravel())
    titles = [f"layer {n}, unit {u}" for u in units] + \
        [f"layer {layer + 1}, all units" for layer in range(n)]
    colors = [PALETTE[n - 1]] * len(units) + [PALETTE[layer] for layer in range(n)]
    for ax, p, title, color in zip(flat, pct, titles, colors):
        shade_saturated(ax, lo, hi, axis="y")
        plot_percentile_bands(ax, steps, p, color=color)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("step")
        if ax not in axes[:, 0]:
            ax.set_ylabel("")
    for ax in flat[len(pct):]:
        ax.remove()
    flat[0].legend(loc="upper left", fontsize=9)
    fig.suptitle(f"Figure 1(b) rebuilt over {steps[-1]:,} steps (the paper's spans 50,000):\n"
                 "15th, 50th, 85th percentiles of the input to the sigmoid (grey: |x| > 4.6)")
    return fig


def sources_figure(panels):
    """Where each layer's shift comes from (`lesson2_sources.decompose_shift`).

    panels: [(title, {part: (L,) array})], one panel each (e.g. the mean over a phase of
    40-step windows, or one long window). Per hidden layer: bars for the part caused by the
    layers below, by its own parameters (each the mean of its two orders, with a thin line
    spanning the two orders) and the non-additive remainder, and a black mark for the whole
    shift. The legend sits under the panels, off the bars."""
    n_layers = len(panels[0][1]["whole"])
    ncols = min(len(panels), 3)                  # at most 3 panels a row: readable text
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(nrows, ncols, width=3.2, height=2.7, layout="constrained")
    for ax in axes.ravel()[len(panels):]:
        ax.remove()
    x, width = np.arange(n_layers), 0.26
    styles = {"below": dict(color=PALETTE[0]), "own": dict(color=PALETTE[1]),
              "remainder": dict(color="0.75", hatch="//", edgecolor="0.4")}
    labels = {"below": "layers below (mean of 2 orders)", "own": "own W, b (mean of 2 orders)",
              "remainder": "non-additive remainder"}
    for ax, (title, part) in zip(axes.ravel(), panels):
        for i, name in enumerate(("below", "own", "remainder")):
            ax.bar(x + (i - 1) * width, part[name], width, label=labels[name], **styles[name])
        for i, name in enumerate(("below", "own")):
            lo = np.minimum(part[f"{name}_a"], part[f"{name}_b"])
            hi = np.maximum(part[f"{name}_a"], part[f"{name}_b"])
            ax.vlines(x + (i - 1) * width, lo, hi, color="0.1", lw=2.5,
                      label="range of the two orders" if i == 0 else None)
        ax.plot(x, part["whole"], ls="none", marker="_", ms=22, mew=2.5, color="black",
                label="whole shift")
        ax.axhline(0, color="0.3", lw=0.8)
        top = max(np.max(part["whole"]), np.max(part["below_b"]), np.max(part["own_a"]),
                  np.max(part["below_a"]), np.max(part["own_b"]), np.max(part["below"]))
        ax.set(title=title, xticks=x, xticklabels=[f"layer {i + 1}" for i in x],
               ylim=(min(0, 1.15 * np.min(part["remainder"])), 1.15 * top),  # off the top
               ylabel="W1 per unit (mean)" if ax in axes[:, 0] else "")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=3, fontsize=9)
    return fig
