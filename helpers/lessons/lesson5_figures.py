"""Lesson 5's figures and panels: Figure 1 of Ioffe & Szegedy (2015), Santurkar et al.'s
measures over training and at matched loss, the noise-strength panel, and the axes of the
three networks' batch-size / momentum panel.

Every figure function makes its own figure (never pyplot's current one) and returns it.
Runs are {label: History}; labels "plain", "batch norm", "noisy batch norm" pick the colours.
"""
import numpy as np
from matplotlib.ticker import NullLocator

from ..display.figures import activation_limits, hatched, plot_accuracy, plot_percentile_bands
from ..display.panels import cached_panel, selection_slider
from ..display.style import COLORS, new_figure
from .lesson5_why import drift_summary, typical_unit

COLOR = {"plain": COLORS["plain"], "batch norm": COLORS["batchnorm"],
         "noisy batch norm": COLORS["noisy"]}


def plot_unit_bands(ax, history, label, layer=2, unit=None):
    """Figure 1(b, c): percentile bands of one unit's sigmoid input (the typical one if None)."""
    pct = history.activations["unit_pct"][layer]
    unit = typical_unit(pct) if unit is None else unit
    plot_percentile_bands(ax, history.activations["steps"], pct[:, unit], label=label,
                          color=COLOR.get(label))
    return unit


def plot_figure1(histories, layer=2):
    """(a) test accuracy of every run on one plot, then one percentile-band panel per run on
    shared axes; each band panel shows the typical unit of hidden layer `layer` (0-based:
    layer=2 is hidden layer 3)."""
    fig, axes = new_figure(1, len(histories) + 1, width=3.5, height=3.2)
    for label, hist in histories.items():
        plot_accuracy(axes[0, 0], hist, label=label, color=COLOR.get(label))
    axes[0, 0].set_title("(a) test accuracy")
    axes[0, 0].legend(loc="lower right")
    for ax in axes[0, 2:]:
        ax.sharey(axes[0, 1])
    for letter, ax, (label, hist) in zip("bcde", axes[0, 1:], histories.items()):
        unit = plot_unit_bands(ax, hist, label, layer)
        drift = drift_summary(hist.activations["unit_pct"][layer])
        ax.set_title(f"({letter}) {label}: sigmoid input,\nunit {unit} of hidden layer "
                     f"{layer + 1}, drift {drift:.2f}")
        ax.legend(loc="lower left")
    return fig


def plot_measures(histories, levels=None, layer=2):
    """Santurkar et al.'s measures over training, two rows. histories: {label: History of a
    run trained with measure=lesson5_why.santurkar_measures (History.measure_steps,
    .measurements)}; levels: {label: lesson5_why.AtLossLevels rows} for panel (f), or None.
    layer: the hidden layer (0-based, as in plot_figure1) whose incoming weights the gradient
    shift is taken for: layer=2 is W_3, the weights into hidden layer 3; layer=L (the number
    of hidden layers) is the output layer's.
    Top: (a) ||G - G'||, (b) cos(G, G'), (c) the loss on the measurement batch. Bottom: (d) the
    gradient change along the gradient (grows with the gradient's size), (e) beta, the same per
    unit of distance moved, (f) beta at matched loss (one point per loss level, if `levels`)."""
    num_shifts = len(next(iter(histories.values())).measurements[0]["shift_l2"])   # L
    if not 1 <= layer <= num_shifts:
        raise ValueError(f"layer must be from 1 to {num_shifts} (the first layer's weights have "
                         f"no earlier layer to shift them), got {layer}")
    weights = "W into the output layer" if layer == num_shifts else \
        f"W into hidden layer {layer + 1}"
    fig, axes = new_figure(2, 3, width=3.4, height=3.0)
    panels = [("shift_l2", f"(a) gradient shift ||G-G'||,\n{weights}", "log",
               "||G - G'|| (grows with the gradient)"),
              ("shift_cos", f"(b) cosine(G, G'),\n{weights}", "linear",
               "cosine (1 = same direction)"),
              ("loss", "(c) loss on the measurement batch", "log", "cross-entropy loss"),
              ("grad_change", "(d) gradient change along\nthe gradient", "log",
               "max ||grad(θ - ηg) - g||"),
              ("beta", "(e) β: gradient change per\nunit of distance moved", "linear",
               "β = max ||grad(θ - ηg) - g|| / ||ηg||")]
    for ax, (key, title, scale, ylabel) in zip(axes.flat, panels):
        for label, hist in histories.items():
            # the shift arrays start at the weights into hidden layer 2: index layer - 1
            vals = [r[key][layer - 1] if np.ndim(r[key]) else r[key] for r in hist.measurements]
            ax.plot(hist.measure_steps, vals, marker=".", color=COLOR.get(label), label=label)
        ax.set(title=title, xlabel="step (parameter updates)", ylabel=ylabel, yscale=scale)
    axes[0, 0].legend()
    ax = axes[1, 2]
    for label, rows in (levels or {}).items():
        ax.plot([r["loss"] for r in rows], [r["beta"] for r in rows], marker="o",
                color=COLOR.get(label), label=label)
    ax.set_xscale("log")
    if levels:
        marks = sorted({r["level"] for rows in levels.values() for r in rows})
        ax.set_xticks(marks, [f"{m:g}" for m in marks])       # the levels, in plain numbers
        ax.xaxis.set_minor_locator(NullLocator())
        ax.invert_xaxis()                  # training runs from left (high loss) to right
    ax.set(title="(f) β at matched loss: first time\nbelow each loss level",
           xlabel="loss on the measurement batch (log)", ylabel="β (as in (e))")
    return fig


def grid_limits(grid):
    """`activation_limits` for the three networks' batch-size / momentum panel (grid from
    `lesson5_why.grid_runner`): each network keeps its own histogram scales, but the per-unit
    panels of all networks share one range (kept inside the histograms' range), so that their
    drift compares by eye from row to row."""
    limits = activation_limits(grid.values(), bands_within_x=True)
    drawn = [lim for lim in limits.values() if lim]
    bands = (min(lim["bands"][0] for lim in drawn), max(lim["bands"][1] for lim in drawn))
    return {name: lim and dict(lim, bands=bands) for name, lim in limits.items()}


def noise_panel(runs, reference, layer=2, ylim=None, margin=0.03, static=None, panel_id=None):
    """A noise-strength slider over precomputed noisy-batch-norm runs.

    runs: {strength: History} (recorded, evaluated); reference: {"plain": History, "batch norm":
    History} of the same length; layer: the hidden layer (0-based, as in plot_figure1). Left:
    the typical unit's percentile bands, right: test accuracy, both on axes fixed across all
    strengths (ylim: the bands' range, default the range of all runs; a band beyond it is
    labelled). A run that diverged or made no progress (test accuracy under 20%) is drawn as a
    hatched panel saying so. The printed lines give each run's steps, examples, loss and
    accuracy, and compare drift and accuracy with the references (margin: how far below batch
    norm's test accuracy, as a fraction, still counts as "not more than ... points worse").
    static: the strengths of the saved static picture (default: the starting one). Returns the
    `cached_panel`.
    """
    if ylim is None:
        pct = [h.activations["unit_pct"][layer][:, :, 1:4] for h in runs.values()
               if h.activations is not None]
        ylim = (min(np.nanmin(p) for p in pct), max(np.nanmax(p) for p in pct))
    ref_drift = {k: drift_summary(h.activations["unit_pct"][layer]) for k, h in reference.items()}
    last_step = max(h.num_steps for h in [*runs.values(), *reference.values()])

    def draw(strength):
        hist = runs[strength]
        fig, axes = new_figure(1, 2, width=4.2, height=3.0, layout="none", detached=True)
        ax, ax2 = axes[0]
        for label, ref in reference.items():
            plot_accuracy(ax2, ref, label=label, color=COLOR.get(label))
        print(f"noise strength {strength}: {hist.message()}")
        failed = hist.diverged or not hist.test_acc or hist.test_acc[-1] < 0.2
        if failed:
            ax.set_title(f"noise {strength}: hidden layer {layer + 1}")
            hatched(ax, f"diverged at step {hist.diverged['step']}" if hist.diverged else
                    f"no progress: test accuracy {hist.test_acc[-1]:.0%}" if hist.test_acc
                    else "not evaluated")
        else:
            pct = hist.activations["unit_pct"][layer]
            unit = plot_unit_bands(ax, hist, "noisy batch norm", layer)
            drift = drift_summary(pct)
            ax.set(ylim=ylim, xlim=(0, last_step),
                   title=f"noise {strength}: unit {unit} of hidden layer {layer + 1}, "
                         f"drift {drift:.2f}")
            low, high = np.nanmin(pct[:, unit, 1]), np.nanmax(pct[:, unit, 3])
            if low < ylim[0] or high > ylim[1]:
                ax.annotate(f"band beyond the scale:\n{low:.0f} to {high:.0f}", (0.99, 0.97),
                            xycoords="axes fraction", ha="right", va="top", fontsize=9,
                            color="0.35", bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
            ax.legend(loc="lower left")
            plot_accuracy(ax2, hist, label=f"noisy, strength {strength}",
                          color=COLOR["noisy batch norm"])
            gap = hist.test_acc[-1] - reference["batch norm"].test_acc[-1]
            print(f"drift {drift:.2f} (plain {ref_drift['plain']:.2f}, batch norm "
                  f"{ref_drift['batch norm']:.2f}); accuracy {100 * gap:+.1f} points vs "
                  "batch norm: " + ("not " if gap >= -margin else "")
                  + f"more than {100 * margin:.0f} points worse")
        ax2.set(title="test accuracy", ylim=(0, 100), xlim=(0, last_step))
        ax2.legend(loc="lower right", bbox_to_anchor=(1.0, 0.15))
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.25)
        return fig

    strengths = list(runs)
    return cached_panel(draw, panel_id=panel_id,
                        static=[{"strength": s} for s in static or []] or None,
                        strength=selection_slider(strengths, "noise strength",
                                                  value=strengths[len(runs) // 2]))
