"""Figures shared by several lessons: loss and accuracy curves, activation histograms over
training, the paper's percentile bands, a histogram heat map, and the per-layer grid that the
batch-size / momentum panels show.

Every function takes an explicit `ax` (or makes its own figure) and never draws into pyplot's
current figure, so widget callbacks can redraw safely.
"""
import matplotlib.pyplot as plt
import numpy as np

from .style import COLORS, TIME_CMAP, new_figure, show_message


def plot_loss(ax, history, x="step", label=None, color=None, smooth=1):
    """Training loss of a History against "step", "epoch" or "examples" (examples seen).

    smooth: moving-average window in steps, for readable curves of noisy small-batch runs.
    """
    loss = np.asarray(history.loss)
    if smooth > 1 and len(loss) >= smooth:
        loss = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
    steps = np.arange(1, len(history.loss) + 1)[len(history.loss) - len(loss):]
    n, b = history.config["n"], history.config["batch_size"]
    xs = {"step": steps, "epoch": steps * b / n,
          "examples": np.asarray(history.examples_seen)[steps - 1]}[x]
    ax.plot(xs, loss, label=label, color=color)
    ax.set_xlabel({"step": "step (parameter updates)", "epoch": "epoch (passes over the data)",
                   "examples": "training examples processed"}[x])
    ax.set_ylabel("training loss (cross-entropy)")
    if history.diverged:
        ax.annotate(f"diverged at step {history.diverged['step']}", (xs[-1] if len(xs) else 0,
                    loss[-1] if len(loss) else 0), color="#D55E00", fontsize=8)
    return ax


def plot_accuracy(ax, history, label=None, color=None, which="test"):
    """Test (or train) accuracy of a History against step."""
    acc = history.test_acc if which == "test" else history.train_acc
    ax.plot(history.eval_steps[:len(acc)], 100 * np.asarray(acc), label=label, color=color,
            marker=".")
    ax.set_xlabel("step (parameter updates)")
    ax.set_ylabel(f"{which} accuracy (%)")
    return ax


def plot_histograms_over_time(ax, activations, layer, kind="pre", every=1, max_curves=6):
    """Histograms of one hidden layer's activations at several recorded steps, early to late.

    activations: History.activations; kind "pre" (input to the nonlinearity) or "post".
    """
    bins = activations[f"{kind}_bins"]
    centers = (bins[:-1] + bins[1:]) / 2
    hists, steps = activations[f"{kind}_hist"][:, layer], activations["steps"]
    picks = np.unique(np.linspace(0, len(steps) - 1, max_curves).round().astype(int))[::every]
    cmap = plt.get_cmap(TIME_CMAP)
    for j, i in enumerate(picks):
        ax.plot(centers, hists[i], color=cmap(j / max(len(picks) - 1, 1)),
                label=f"step {steps[i]}")
    ax.set_xlabel("input to the nonlinearity" if kind == "pre" else "activation (output)")
    ax.set_ylabel("density")
    return ax


def plot_percentile_bands(ax, steps, unit_pct, label=None, color=None):
    """The paper's Figure 1(b, c): 15th, 50th, 85th percentiles of one unit over training.

    unit_pct: (T, 5) percentiles (1, 15, 50, 85, 99) of that unit at each recorded step.
    """
    color = color or COLORS["plain"]
    ax.fill_between(steps, unit_pct[:, 1], unit_pct[:, 3], color=color, alpha=0.25,
                    label=f"{label}: 15th-85th percentile" if label else "15th-85th percentile")
    ax.plot(steps, unit_pct[:, 2], color=color, label=f"{label}: median" if label else "median")
    ax.set_xlabel("step (parameter updates)")
    ax.set_ylabel("input to the sigmoid")
    return ax


def heatmap_over_time(ax, activations, layer, kind="pre", normalize=False):
    """fast.ai's "colourful dimension": histogram (rows) against recorded step (columns).

    normalize=True divides each step's histogram by its peak, so that wide, late
    distributions stay as visible as narrow, early ones.
    """
    bins, steps = activations[f"{kind}_bins"], activations["steps"]
    hists = activations[f"{kind}_hist"][:, layer].T
    if normalize:
        hists = 100 * hists / np.maximum(hists.max(axis=0, keepdims=True), 1e-300)
    ax.imshow(np.log1p(hists), aspect="auto", origin="lower", cmap=TIME_CMAP,
              extent=[steps[0], steps[-1], bins[0], bins[-1]])
    ax.set_xlabel("step (parameter updates)")
    ax.set_ylabel("input to the nonlinearity" if kind == "pre" else "activation")
    return ax


def draw_activation_grid(histories, kind="pre", layers=None, title=None, xlim=None,
                         detached=False):
    """One row per labelled History, one column per hidden layer: histograms early -> late.

    histories: {label: History with activations recorded, or a str saying why there is no
    run (e.g. batch norm with a batch of one)}. A run that diverged says so in its panels.
    Returns the figure.
    """
    first = next(h for h in histories.values() if not isinstance(h, str)).activations
    layers = range(first["pre_hist"].shape[1]) if layers is None else layers
    # fixed margins instead of constrained layout: the layout solver is ~40% of a redraw
    rows = len(histories)
    height = 2.0 * rows + 0.9                     # panels plus title and x-label space (inches)
    fig, axes = new_figure(rows, len(layers), width=3.2, height=height / rows,
                           sharex=True, sharey="row", layout="none", detached=detached)
    fig.subplots_adjust(left=0.08, right=0.99, bottom=0.5 / height, top=1 - 0.6 / height,
                        hspace=0.6, wspace=0.15)
    for row, (label, hist) in zip(axes, histories.items()):
        for ax, layer in zip(row, layers):
            if isinstance(hist, str):
                ax.set_title(f"{label}: hidden layer {layer + 1}")
                show_message(ax, hist)
                continue
            plot_histograms_over_time(ax, hist.activations, layer, kind=kind)
            ax.set_title(f"{label}: hidden layer {layer + 1}")
            if xlim:
                ax.set_xlim(*xlim)
            if hist.diverged:
                show_message(ax, f"diverged at step {hist.diverged['step']}")
        if not isinstance(hist, str):
            row[0].legend(loc="upper left")
            if xlim:
                _fit_y_to_visible(row, xlim)
    if title:
        fig.suptitle(title)
    return fig


def _fit_y_to_visible(row, xlim):
    """Scale a row's shared y axis to the curves inside xlim, so values piled into hidden end
    bins (outside xlim) do not flatten the visible curves."""
    tops = [line.get_ydata()[(line.get_xdata() >= xlim[0]) & (line.get_xdata() <= xlim[1])]
            .max(initial=0.0) for ax in row for line in ax.get_lines()]
    if max(tops, default=0.0) > 0:
        row[0].set_ylim(0, 1.05 * max(tops))
