"""Plotting: one course style and one small function per figure type.

Every function takes an explicit `ax` (or makes its own figure) and never draws into pyplot's
current figure, so widget callbacks can redraw safely. Colours are the Okabe-Ito palette,
which stays distinguishable with the common forms of colour blindness.
"""
import io

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Okabe & Ito (2008), "Color Universal Design"
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]
COLORS = {"plain": "#0072B2", "batchnorm": "#D55E00", "noisy": "#009E73",
          "full-batch": "#000000", "stochastic": "#E69F00", "mini-batch": "#0072B2"}
TIME_CMAP = "viridis"   # early -> late checkpoints; perceptually uniform and colour-blind safe

STYLE = {
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8, "legend.frameon": False,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "figure.dpi": 80, "savefig.dpi": 100,
    "figure.constrained_layout.use": True, "image.cmap": TIME_CMAP,
}


def use_style():
    """Apply the course style to matplotlib (called once when helpers.plots is imported)."""
    mpl.rcParams.update(STYLE)


use_style()


def new_figure(nrows=1, ncols=1, width=4.0, height=3.0, detached=False, **kwargs):
    """A figure of nrows x ncols panels, each about width x height inches; returns (fig, axes).

    detached=True: a figure pyplot does not track, for widget panels (`widgets.cached_panel`
    renders it with `figure_png`). With ipykernel 7, JupyterLab 4.6 sends widget messages on
    kernel subshells, whose threads flush pyplot's figures after each message: a pyplot figure
    being drawn by a callback at that moment would be rendered half-drawn (a blank plot). A
    detached one is never touched.
    """
    figsize = (width * ncols, height * nrows)
    if not detached:
        return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kwargs)
    fig = Figure(figsize=figsize, layout=kwargs.pop("layout", None))
    # titles at a fixed height: matplotlib otherwise moves each title clear of any top-side
    # tick labels (widget figures have none), which is a quarter of a redraw
    with mpl.rc_context({"axes.titley": 1.0}):
        return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def figure_png(fig):
    """Render a figure to PNG bytes in one Agg pass, at the figure's dpi.

    IPython's inline backend draws a figure twice (once more to find the tight bounding box);
    widget figures have fixed margins, so one pass gives the same picture for about two
    thirds of the cost. Light compression: a few kB more, a few ms less.
    """
    canvas = FigureCanvasAgg(fig)        # detached figures have no canvas that can render
    canvas.draw()
    buffer = io.BytesIO()
    PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).save(
        buffer, format="png", compress_level=1)
    return buffer.getvalue()


def show_message(ax, text, color="#D55E00"):
    """Write a message across a panel (for a diverged run, or a setting with nothing to show)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", wrap=True,
            fontsize=10, color=color, bbox=dict(boxstyle="round", fc="white", ec=color))


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
