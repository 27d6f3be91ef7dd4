"""Lesson 3's figures and printed tables: the base's sweeps (accuracy against a swept value,
one dot per seed; the initial-scale and learning-rate pictures; the learning-rate table), the
slider panel's picture of one position (each hidden layer's sigmoid input, plain above batch
norm, in absolute units), the lines a task reads for a position, and the map of every
position's test accuracy. The going-deeper notebooks draw the ratio study and the spread of
mu_B. Each takes explicit axes or returns its own figure or text.
"""
import matplotlib.pyplot as plt
import numpy as np

from ..display.figures import hatched
from ..display.style import COLORS, TIME_CMAP, new_figure
from ..recording import end_bin_fraction
from .lesson3_training import LABELS, RATIO_STUDY_NAMES


def color_of(label):
    return COLORS["plain" if label == "plain" else "batchnorm"]


def plot_seeds(ax, values, acc, label, diverged=None, note="", hollow=False):
    """Accuracy (%) against a swept value (log x): the mean over seeds as a line, each seed a
    dot, a diverged seed a cross; the line stops where a seed diverged (a mean of diverged
    runs means nothing). values (K,); acc, diverged (S, K); note: added to the legend;
    hollow: open markers, so a line drawn on top of another leaves it visible."""
    acc = 100 * np.asarray(acc, dtype=float)
    color = color_of(label)
    mean = acc.mean(axis=0)
    if diverged is not None:
        mean = np.where(np.asarray(diverged).any(axis=0), np.nan, mean)
    ax.plot(values, mean, marker="o", color=color, mfc="white" if hollow else color, zorder=3,
            label=f"{label}, mean of {len(acc)} seeds{note}")
    for row in acc:
        ax.plot(values, row, ".", ms=6, alpha=0.6, color=color)
    if diverged is not None and np.any(diverged):
        xs = np.broadcast_to(values, acc.shape)[np.asarray(diverged)]
        ax.plot(xs, np.nan_to_num(acc[np.asarray(diverged)], nan=0), "x", ms=12 if label ==
                "plain" else 8, mew=2.5, color=color, label=f"{label}: diverged (a seed)")
    if not any(line.get_label() == "chance (10%)" for line in ax.lines):
        ax.axhline(10, color="gray", ls=":", label="chance (10%)")
    ax.set(xscale="log", ylim=(0, 100))
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.minorticks_off()
    return ax


def layer_limits(runs):
    """The x range and density top shared by every position of the panel: {(b, m): {label:
    History or str}} -> (xlim, top). x: the recorded histograms' range (their end bins collect
    every value beyond it); top: the tallest histogram after step 0, end bins left out."""
    healthy = [h for pair in runs.values() for h in pair.values()
               if not isinstance(h, str) and not h.diverged]
    bins = healthy[0].activations["pre_bins"]
    xlim = (bins[0] - 0.2, bins[-1] + 0.2)
    tops = []
    for h in healthy:
        a = h.activations
        bins = a["pre_bins"]
        centres = (bins[:-1] + bins[1:]) / 2
        inside = (centres > xlim[0]) & (centres < xlim[1])
        inside[[0, -1]] = False
        tops.append(a["pre_hist"][1:, :, inside].max())
    return xlim, 1.05 * max(tops)


def median_move(history, layer, first=1, last=-1):
    """How far hidden layer `layer`'s pooled sigmoid input moved, in absolute units: its median
    at recorded step index `last` minus its median at index `first` (default: from the first
    record after step 0 to the end; first=0, last=1 is the move out of the random start)."""
    pct = history.activations["pre_pct"][:, layer, 2]
    return float(pct[last] - pct[first])


def draw_position(pair, xlim, top, title):
    """One panel position: for each network (rows: plain, batch norm) and hidden layer
    (columns), the histogram of the sigmoid's input on the probe batch at each recorded step
    (step 0 dashed grey, then dark to light), all on the same absolute axes. A run that did
    not happen or diverged is a hatched panel saying so. Returns the figure."""
    n_layers = 3
    fig, axes = new_figure(2, n_layers, width=3.2, height=1.75, detached=True,
                           layout="constrained")
    cmap = plt.get_cmap(TIME_CMAP)
    for row, label in enumerate(LABELS):
        h = pair[label]
        for layer in range(n_layers):
            ax = axes[row, layer]
            state = h if isinstance(h, str) else (
                f"diverged at step {h.diverged['step']}" if h.diverged else None)
            if state is not None:               # a missing run says why once, in layer 2
                ax.set_title(f"{label}, layer {layer + 1}", fontsize=10)
                hatched(ax, state if not isinstance(h, str) else
                        "no run: a batch of one" if layer == 1 else "")
                continue
            a = h.activations
            bins = a["pre_bins"]
            centres = (bins[:-1] + bins[1:]) / 2
            steps, hists = a["steps"], a["pre_hist"][:, layer]
            inner = slice(1, -1)                # the end bins hold everything beyond: not drawn
            ax.plot(centres[inner], hists[0][inner], color="0.45", ls="--", lw=1,
                    label=f"step {steps[0]}")
            for j in range(1, len(steps)):
                ax.plot(centres[inner], hists[j][inner],
                        color=cmap((j - 1) / max(len(steps) - 2, 1)), label=f"step {steps[j]}")
            outside = end_bin_fraction(hists[-1], bins)
            if outside >= 0.005:
                ax.text(0.98, 0.95, f"beyond ±{bins[-2]:.0f}:\n{outside:.0%}", ha="right",
                        va="top", fontsize=9, transform=ax.transAxes, color="0.3")
            sat = a["saturation"][-1, layer]
            tag = " (at chance)" if h.test_acc and h.test_acc[-1] < 0.2 else ""
            ax.set_title(f"{label}{tag}, layer {layer + 1}, {sat:.0%} saturated\nmedian "
                         f"{median_move(h, layer, 0, 1):+.2f} to step {steps[1]}, "
                         f"{median_move(h, layer):+.2f} to {steps[-1]}", fontsize=10)
            ax.set(xlim=xlim, ylim=(0, top))
            if row == 1:
                ax.set_xlabel("input to the sigmoid")
            if layer == 0:
                ax.set_ylabel("density")
                if row == 0:
                    ax.legend(loc="upper left", fontsize=9, handlelength=1.0)
    fig.suptitle(title, fontsize=11)
    return fig


def plot_accuracy_map(axes, runs, batch_sizes, momenta, threshold=0.8):
    """Final test accuracy of every panel position, one map per network (axes[0]: plain,
    axes[1]: batch norm): batch size across, SGD momentum down; a cell that did not run or
    diverged says so. Cells at or above `threshold` are outlined."""
    for ax, label in zip(axes, LABELS):
        grid = np.full((len(momenta), len(batch_sizes)), np.nan)
        for i, m in enumerate(momenta):
            for j, b in enumerate(batch_sizes):
                h = runs[(b, m)][label]
                if isinstance(h, str):
                    text = "no run"
                elif h.diverged:
                    text = "diverged"
                else:
                    grid[i, j] = 100 * h.test_acc[-1]
                    text = f"{grid[i, j]:.0f}%" + (("\nsaturated" if h.activations["saturation"]
                                                    [-1].max() > 0.5 else "\nat chance")
                                                   if grid[i, j] < 20 else "")
                ax.text(j, i, text, ha="center", va="center", fontsize=10,
                        color="black" if np.isnan(grid[i, j]) or grid[i, j] > 45 else "white")
                if grid[i, j] >= 100 * threshold:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2,
                                               ec=color_of(label)))
        ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        ax.grid(False)
        ax.set(xticks=range(len(batch_sizes)), xticklabels=[str(b) for b in batch_sizes],
               yticks=range(len(momenta)), yticklabels=[f"{m:g}" for m in momenta],
               xlabel="batch size", ylabel="SGD momentum", title=f"{label}: test accuracy")
    return axes


def plot_ratio_study(ax, study):
    """Steps until both weights are learned against the ratio of the features' scales (log-log),
    one line per setting of `scale_ratio_study`."""
    colors = (COLORS["plain"], COLORS["plain"], COLORS["batchnorm"])   # raw, raw, standardised
    styles = ("-", "--", "-")
    for name, color, ls in zip(RATIO_STUDY_NAMES, colors, styles):
        ax.loglog(study["ratios"], study[name], marker="o", ls=ls, color=color,
                  label=name.replace("lambda_max", r"$\lambda_{\max}$"))
    ax.set(xlabel="ratio of the two features' scales", ylabel="steps until both weights within 1%")
    ax.set_xticks(study["ratios"], [f"{r:g}" for r in study["ratios"]])
    ax.minorticks_off()
    ax.legend()
    return ax


def plot_batch_mean_spread(ax, res):
    """Measured relative spread of mu_B against batch size, with the 1/sqrt(m) law (log-log)."""
    m = res["batch_sizes"]
    ax.loglog(m, res["spread"], "o", color=COLORS["batchnorm"], label="measured std of mu_B")
    ax.loglog(m, res["law"], "-", color="black", label=r"law $1/\sqrt{m}$ (without replacement)")
    ax.set(xlabel="batch size m (examples)", ylabel=r"std of $\mu_B$ / std of the feature")
    ax.legend()
    return ax


def width(history, layer):
    """The spread of hidden layer `layer`'s pooled sigmoid input at the last recorded step:
    its 85th minus its 15th percentile, in absolute units."""
    pct = history.activations["pre_pct"][-1, layer]
    return float(pct[3] - pct[1])


def sweep_table(sweep, rates, labels=LABELS):
    """The learning-rate sweep as text, one row per rate: for each network the mean validation
    accuracy, the mean test accuracy (lowest-highest seed) and how many seeds diverged.
    sweep: {label: (S seeds, K rates, 3) of (validation, test, diverged)}."""
    head = f"{'':5s} |" + "".join(f" {label:^31s} |" for label in labels)
    rows = [head, f"{'lr':>5s} |" + f" {'valid.':>7s} {'test (range)':>15s} {'div.':>5s} |"
            * len(labels)]
    for k, lr in enumerate(rates):
        cells = []
        for label in labels:
            v, t, d = sweep[label][:, k].T
            cells.append(f" {v.mean():7.1%} {t.mean():6.1%} ({100 * t.min():2.0f}-"
                         f"{100 * t.max():2.0f}%) {int(d.sum())}/{len(d)} |")
        rows.append(f"{lr:5g} |" + "".join(cells))
    return "\n".join(rows)


def position_lines(pair, key):
    """What a task needs from one panel position, one line per network: test accuracy, then
    for layers 1-3 the median's move out of the start (step 0 to the first record) and after
    it (to the last record), the width (15th to 85th percentile) and the saturated share."""
    lines = []
    for label, h in pair.items():
        head = f"batch {key[0]:2d}, momentum {key[1]:<4g} {label:10s}"
        if isinstance(h, str):
            lines.append(f"{head}: no run (a batch of one)")
            continue
        first = " ".join(f"{median_move(h, layer, 0, 1):+.2f}" for layer in range(3))
        later = " ".join(f"{median_move(h, layer):+.2f}" for layer in range(3))
        wide = " ".join(f"{width(h, layer):.2f}" for layer in range(3))
        sat = " ".join(f"{h.activations['saturation'][-1, layer]:.0%}" for layer in range(3))
        lines.append(f"{head}: test {h.test_acc[-1]:.1%} | moved {first} then {later} | "
                     f"width {wide} | saturated {sat}")
    return "\n".join(lines)


def unit_moves(history):
    """Per unit, after the start (first record after step 0 to the last), for layers 1-3:
    (mean |move|, largest |move|) of each of a layer's units' own median, and the median over
    its units of each unit's width (15th to 85th percentile); three arrays (3,). Pooling all
    units (median_move) lets opposite moves cancel; this does not."""
    unit = np.asarray(history.activations["unit_pct"])[:3]     # (layers, T, units, 5)
    move = np.abs(unit[:, -1, :, 2] - unit[:, 1, :, 2])        # (layers, units)
    return move.mean(axis=1), move.max(axis=1), np.median(unit[:, -1, :, 3] - unit[:, -1, :, 1],
                                                          axis=1)


def unit_lines(pair, key):
    """unit_moves as text, one line per network that ran at position `key` (batch, momentum)."""
    lines = []
    for label, h in pair.items():
        if isinstance(h, str):
            continue
        mean, most, wide = (" ".join(f"{v:.2f}" for v in arr) for arr in unit_moves(h))
        lines.append(f"batch {key[0]:2d}, momentum {key[1]:<4g} {label:10s}: per unit, moved "
                     f"{mean} on average, {most} at most | width {wide}")
    return "\n".join(lines)


def plot_learning_curves(ax, curves):
    """Test accuracy (%) against the step, one line per run of `curves` {(batchnorm, lr):
    History with test_acc at eval_steps}; a run diverged by the course's rule says so."""
    for (batchnorm, lr), h in curves.items():
        label = LABELS[batchnorm]
        ax.plot(h.eval_steps, 100 * np.asarray(h.test_acc), color=color_of(label),
                ls="-" if lr == 1 else "--", marker="o" if lr == 1 else "s", ms=4,
                label=f"{label}, lr {lr:g}" + (" (diverged)" if h.diverged else ""))
    ax.axhline(10, color="gray", ls=":", label="chance (10%)")
    ax.set(xlabel="training step (batches of 60)", ylabel="test accuracy (%)", ylim=(0, 100))
    ax.legend(loc="center right", bbox_to_anchor=(1, 0.47), fontsize=9)   # clear of the lines
    return ax


def mark_base(ax, value, name):
    """A dashed vertical line at the base's setting, labelled with its name."""
    ax.axvline(value, color="gray", ls="--", lw=1)
    ax.annotate(name, (value, 3), xytext=(4, 0), textcoords="offset points", fontsize=9,
                color="0.3")


def plot_scale_sweep(scales, val, bn_scales, val_bn, base_std):
    """Rule 1's picture: validation accuracy against the initial std, the plain network over
    the grid (the choice), batch norm at a few scales beside it (not used for the choice).
    val (S, K) for scales (K,); val_bn (S, J) for bn_scales (J,)."""
    fig, axes = new_figure(1, 1, width=6.0, height=2.8)
    ax = axes[0, 0]
    plot_seeds(ax, bn_scales, val_bn, "batch norm")
    plot_seeds(ax, scales, val, "plain")
    mark_base(ax, base_std, "BASE.init_std")
    ax.set(xlabel="std of the initial weights (log scale)", ylabel="validation accuracy (%)",
           title="lr 1, 300 steps: the initial scale (batch norm not used for the choice)")
    ax.legend(loc="lower right", bbox_to_anchor=(1, 0.12), fontsize=9)   # clear of every line
    return fig


def plot_lr_sweep(rates, sweep, base_lr):
    """The learning-rate sweep's picture: test accuracy against lr for both networks, the
    mean line stopping where a seed diverged. sweep: {label: (S, K, 3)} as in sweep_table."""
    fig, axes = new_figure(1, 1, width=6.0, height=3.0)
    ax = axes[0, 0]
    for label in LABELS[::-1]:                  # plain last, hollow: visible where they meet
        plot_seeds(ax, rates, sweep[label][:, :, 1], label,
                   diverged=sweep[label][:, :, 2].astype(bool), hollow=label == "plain")
    mark_base(ax, base_lr, "BASE.lr")
    ax.set(xlabel="learning rate (log scale)", ylabel="test accuracy (%)",
           title="From the base: 300 steps, 3 seeds")
    ax.legend(loc="center left", bbox_to_anchor=(0, 0.45), fontsize=9)
    return fig

def run_line(history):
    """One short line per run under a panel position: its test accuracy, or why there is none."""
    if isinstance(history, str):
        return "no run: a batch of one has variance 0 (the engine refuses it)"
    if history.diverged:
        return f"diverged at step {history.diverged['step']}"
    return (f"test accuracy {history.test_acc[-1]:.1%} after {history.num_steps} steps "
            f"({history.examples_seen[-1]:,} examples)")
