"""Lesson 5's figures and panels: Figure 1 of Ioffe & Szegedy (2015), Santurkar et al.'s
measures over training and at matched loss, the noise-strength panel, and the axes of the
three networks' batch-size / momentum panel.

Every figure function makes its own figure (never pyplot's current one) and returns it.
Runs are {label: History}; labels "plain", "batch norm", "noisy batch norm" pick the colours.
"""
import numpy as np
from matplotlib.ticker import NullLocator

from ..display.figures import hatched, plot_accuracy, plot_percentile_bands
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
    n = len(histories) + 1
    rows, cols = (2, 2) if n == 4 else (1, n)          # four panels: 2 x 2, not one wide row
    fig, axes = new_figure(rows, cols, width=3.5, height=3.2)
    axes = axes.ravel()
    for label, hist in histories.items():
        plot_accuracy(axes[0], hist, label=label, color=COLOR.get(label))
    axes[0].set_title("(a) test accuracy")
    axes[0].legend(loc="lower right")
    for ax in axes[2:]:
        ax.sharey(axes[1])
    for letter, ax, (label, hist) in zip("bcde", axes[1:], histories.items()):
        unit = plot_unit_bands(ax, hist, label, layer)
        drift = drift_summary(hist.activations["unit_pct"][layer])
        ax.set_title(f"({letter}) {label}: sigmoid input,\nunit {unit} of hidden layer "
                     f"{layer + 1}, drift {drift:.2f}")
        ax.legend(loc="upper right", framealpha=0.9, fontsize=9)
    lo, hi = axes[1].get_ylim()                        # shared: headroom for the legends
    axes[1].set_ylim(lo, hi + 0.3 * (hi - lo))
    return fig


def plot_measures(histories, levels):
    """Santurkar et al.'s gradient shift and smoothness, at matched steps and at matched loss.

    histories: {label: History of a run trained with measure=lesson5_why.santurkar_measures};
    levels: {label: rows of lesson5_why.AtLossLevels(..., measure=santurkar_measures)}. Top:
    cos(G, G') for the weights into hidden layer 3 (entry 1 of the shift arrays), bottom: beta;
    left against the step, right against the loss on the measurement batch (each level the
    first time the loss fell below it), so the two protocols sit side by side."""
    fig, axes = new_figure(2, 2, width=4.2, height=2.9)
    for row, (key, name) in enumerate((("shift_cos", "cos(G, G'), W into layer 3"),
                                       ("beta", "β: gradient change per unit of distance"))):
        for label, hist in histories.items():
            vals = [np.ravel(r[key])[1 if key == "shift_cos" else 0] for r in hist.measurements]
            axes[row, 0].plot(hist.measure_steps, vals, marker=".", color=COLOR.get(label),
                              label=label)
            rows = levels[label]
            axes[row, 1].plot([r["loss"] for r in rows],
                              [np.ravel(r[key])[1 if key == "shift_cos" else 0] for r in rows],
                              marker="o", color=COLOR.get(label), label=label)
        axes[row, 0].set(title=f"({'ab'[row]}) {name}:\nat matched steps",
                         ylabel=name.split(":")[0], xlabel="step")
        axes[row, 1].set(title=f"({'cd'[row]}) the same at matched loss", xscale="log",
                         xlabel="loss on the measurement batch (first time below each level)")
        marks = sorted({r["level"] for rows in levels.values() for r in rows})
        axes[row, 1].set_xticks(marks, [f"{m:g}" for m in marks])
        axes[row, 1].xaxis.set_minor_locator(NullLocator())
        axes[row, 1].invert_xaxis()        # training runs from left (high loss) to right
        axes[row, 1].sharey(axes[row, 0])
    axes[0, 0].legend(loc="lower right")
    return fig


def noise_panel(runs, controls, reference, layer=2, ylim=None, static=None, panel_id=None):
    """A noise-strength slider over precomputed noisy-batch-norm runs and their controls.

    runs: {strength: History} of noisy batch norm (recorded, evaluated); controls: {strength:
    History} of its matched-scale control (batch norm whose gamma starts at 1 + strength / 2,
    the noise's average scale, without noise; at strength 0, batch norm itself); reference:
    {"plain": History, "batch norm": History}, all of the same length. layer: the hidden layer
    (0-based, as in plot_figure1). Left: the typical unit's percentile bands on axes fixed
    across all strengths (ylim; a band beyond it is labelled); right: test accuracy of all four
    runs. A noisy run that diverged or made no progress (test accuracy under 20%) is drawn as a
    hatched panel saying so. Each position prints the noise's cost against its control.
    static: the strengths of the saved static picture. Returns the `cached_panel`.
    """
    if ylim is None:
        pct = [h.activations["unit_pct"][layer][:, :, 1:4] for h in runs.values()]
        ylim = (min(np.nanmin(p) for p in pct), max(np.nanmax(p) for p in pct))
    ref_drift = drift_summary(reference["plain"].activations["unit_pct"][layer])
    last_step = max(h.num_steps for h in [*runs.values(), *reference.values()])

    def draw(strength):
        hist, control = runs[strength], controls[strength]
        fig, axes = new_figure(1, 2, width=4.2, height=3.0, layout="none", detached=True)
        ax, ax2 = axes[0]
        for label, ref in reference.items():
            plot_accuracy(ax2, ref, label=label, color=COLOR.get(label))
        plot_accuracy(ax2, control, label=f"control: γ = {1 + strength / 2:g}, no noise",
                      color="0.4")
        failed = bool(hist.diverged) or hist.test_acc[-1] < 0.2
        if failed:
            ax.set_title(f"noise {strength}: hidden layer {layer + 1}")
            hatched(ax, f"diverged at step {hist.diverged['step']}" if hist.diverged else
                    f"no progress: test accuracy {hist.test_acc[-1]:.0%}")
        else:
            pct = hist.activations["unit_pct"][layer]
            unit = plot_unit_bands(ax, hist, "noisy batch norm", layer)
            ax.set(ylim=ylim, xlim=(0, last_step), title=f"noise {strength}: unit {unit} of "
                   f"hidden layer {layer + 1}, drift {drift_summary(pct):.2f}")
            low, high = np.nanmin(pct[:, unit, 1]), np.nanmax(pct[:, unit, 3])
            if low < ylim[0] or high > ylim[1]:
                mid_lo, mid_hi = np.nanmin(pct[:, unit, 2]), np.nanmax(pct[:, unit, 2])
                ax.annotate(f"band beyond the scale:\n{low:.0f} to {high:.0f} (median "
                            f"{mid_lo:.0f} to {mid_hi:.0f})", (0.99, 0.97),
                            xycoords="axes fraction", ha="right", va="top", fontsize=9,
                            color="0.35", bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
            ax.legend(loc="lower left")
            plot_accuracy(ax2, hist, label=f"noisy, strength {strength}",
                          color=COLOR["noisy batch norm"])
        acc, matched = hist.test_acc[-1], control.test_acc[-1]
        drift = "" if hist.activations is None else \
            f"; drift {drift_summary(hist.activations['unit_pct'][layer]):.2f}"
        print(f"noise strength {strength}: noisy batch norm {acc:.1%}, its matched-scale "
              f"control {matched:.1%}: the noise costs {100 * (matched - acc):+.1f} points"
              f"{drift} (the plain network's {ref_drift:.2f})")
        slowed = not failed and hist.test_acc[-1] < 0.8
        ax2.set(title="test accuracy" + (f" (noisy: {hist.test_acc[-1]:.0%}, below 80%)"
                                         if slowed else ""), ylim=(0, 100), xlim=(0, last_step))
        ax2.legend(loc="lower right", fontsize=9)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.25)
        return fig

    strengths = list(runs)
    return cached_panel(draw, panel_id=panel_id,
                        static=[{"strength": s} for s in static or []] or None,
                        strength=selection_slider(strengths, "noise strength",
                                                  value=strengths[len(runs) // 2]))


def run_state(hist, layer=2):
    """What a panel says about a run instead of (or over) its picture, or None for a run that
    learned: "cannot run" (hist is the engine's batch-of-one message), "diverged at step k",
    or, for test accuracy under 20%, "saturated" (over half of layer `layer` saturated, 0-based)
    or "untrained"."""
    if isinstance(hist, str):
        return "cannot run: a batch of 1\nhas variance 0 (message above)"
    if hist.diverged:
        return f"diverged at step {hist.diverged['step']}"
    if hist.test_acc[-1] < 0.2:
        sat = hist.activations["saturation"][-1, layer]
        what = f"saturated: {sat:.0%} of layer {layer + 1}" if sat > 0.5 else "untrained"
        return f"{what}\ntest accuracy {hist.test_acc[-1]:.0%}"
    return None


def grid_panel(grid, batch_sizes, momenta, value, static=None, panel_id=None, layer=2):
    """Batch-size and momentum sliders over the three networks' runs, one compact row.

    grid: {(batch_size, momentum): {name: History or the engine's message}} (run_positions
    over lesson5_why.grid_runner). Each network's panel shows the typical unit of hidden layer
    `layer` (0-based) over training on one y range for every position, titled with its test
    accuracy and the layer's drift; a run that cannot run or diverged is a hatched panel saying
    so, one that did not learn is labelled over its picture (`run_state`). Prints one line per
    run (the engine's message once). Returns the `cached_panel`."""
    learned = [h for runs in grid.values() for h in runs.values() if run_state(h) is None]
    pct = [h.activations["unit_pct"][layer][:, :, 1:4] for h in learned]
    ylim = (min(np.nanmin(p) for p in pct), max(np.nanmax(p) for p in pct))
    last_step = max(h.num_steps for h in learned)

    def draw(batch_size, momentum):
        runs = grid[(batch_size, momentum)]
        fig, axes = new_figure(1, len(runs), width=3.4, height=2.6, layout="none",
                               detached=True)
        message, work = None, None
        for ax, (name, hist) in zip(axes[0], runs.items()):
            state = run_state(hist, layer)
            if isinstance(hist, str):
                message = message or " ".join(hist.split())
                ax.set_title(name)
                hatched(ax, state)
                continue
            work = work or (f"{hist.num_steps} steps = {hist.examples_seen[-1]:,} examples "
                            f"({hist.examples_seen[-1] / hist.config['n']:.2g} epochs)")
            drift = drift_summary(hist.activations["unit_pct"][layer])
            print(f"{name}: test accuracy {hist.test_acc[-1]:.1%}; layer {layer + 1}: drift "
                  f"{drift:.2f}, {hist.activations['saturation'][-1, layer]:.0%} saturated"
                  + (f"; diverged at step {hist.diverged['step']}" if hist.diverged else ""))
            if hist.diverged:
                ax.set_title(name)
                hatched(ax, state)
                continue
            unit = plot_unit_bands(ax, hist, "noisy batch norm" if name == "noisy BN" else name,
                                   layer)
            ax.set(ylim=ylim, xlim=(0, last_step), title=f"{name}: {hist.test_acc[-1]:.0%} "
                   f"test accuracy,\nunit {unit} of layer {layer + 1}, drift {drift:.2f}")
            if ax is not axes[0, 0]:
                ax.set_ylabel("")
            if state is not None:
                ax.annotate(state, (0.5, 0.5), xycoords="axes fraction", ha="center",
                            va="center", fontsize=10, color="#D55E00",
                            bbox=dict(fc="white", ec="#D55E00", alpha=0.9, pad=3))
        if work:
            print(f"each run: {work}")
        if message:
            print(f"batch norm and noisy BN: {message}")
        fig.suptitle(f"batch size {batch_size}, SGD momentum {momentum}, lr {1 - momentum:g} "
                     f"(the same average step); band: 15th-85th percentile, line: median",
                     fontsize=10)
        fig.subplots_adjust(left=0.07, right=0.99, bottom=0.17, top=0.75, wspace=0.18)
        return fig

    controls = dict(batch_size=selection_slider(batch_sizes, "batch size", value=value[0]),
                    momentum=selection_slider(momenta, "SGD momentum", value=value[1]))
    return cached_panel(draw, panel_id=panel_id,
                        static=[dict(zip(controls, p)) for p in (static or [value])], **controls)
