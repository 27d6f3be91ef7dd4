"""Figures shared by several lessons: loss and accuracy curves, activation histograms over
training, the paper's percentile bands, a histogram heat map, and the per-layer grid that the
batch-size / momentum panels show.

Every function takes an explicit `ax` (or makes its own figure) and never draws into pyplot's
current figure, so widget callbacks can redraw safely.
"""
import textwrap

import matplotlib.pyplot as plt
import numpy as np

from ..batchnorm import batch_of_one_message
from ..recording import unit_drift
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
                    loss[-1] if len(loss) else 0), color="#D55E00", fontsize=9)
    return ax


def plot_accuracy(ax, history, label=None, color=None, which="test"):
    """Test (or train) accuracy of a History against step."""
    acc = history.test_acc if which == "test" else history.train_acc
    ax.plot(history.eval_steps[:len(acc)], 100 * np.asarray(acc), label=label, color=color,
            marker=".")
    ax.set_xlabel("step (parameter updates)")
    ax.set_ylabel(f"{which} accuracy (%)")
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


UNITS = (0, 1, 2, 3, 4, 5)   # units of each layer drawn per unit: a band for the first,
                             # the median for the others


def _recorded(histories):
    """The runs of {label: History or str} that have data to draw (not diverged, not a str)."""
    return [h for h in histories.values()
            if not isinstance(h, str) and not h.diverged and h.activations is not None]


def activation_limits(positions, kind="pre", units=UNITS, xlim=None, bands_within_x=False):
    """Axis limits shared by every position of a panel, from every healthy run's data (a
    diverged run must not flatten the others). positions: iterable of {label: History|str}.

    Returns {label: limits}, each {"x": (lo, hi) of the values (the 1st-99th percentiles at
    every checkpoint, or xlim), "density": top of the histograms after step 0 inside x,
    "bands": (lo, hi) of the drawn units' 15th-85th percentiles, "steps": the longest run's
    last recorded step, "examples": the most examples any run saw}. Each label (e.g. plain,
    batch norm) gets its own scale; every position of that label shares it.
    bands_within_x=True keeps "bands" inside "x": a run whose layer saturated (inputs of
    +-100) then does not flatten every other position's per-unit row; its bands leave the
    plot at the edge, where its histogram piles up in the end bins.
    """
    positions = list(positions)
    labels = dict.fromkeys(label for histories in positions for label in histories)
    limits = {label: _limits([h for histories in positions
                              for h in _recorded({label: histories.get(label, "")})],
                             kind, units, xlim) for label in labels}
    for lim in filter(None, limits.values() if bands_within_x else ()):
        lim["bands"] = (max(lim["bands"][0], lim["x"][0]), min(lim["bands"][1], lim["x"][1]))
    return limits


def _limits(runs, kind, units, xlim):
    """activation_limits for one label's runs (None if none has data)."""
    if not runs:
        return None
    if xlim is None:
        pct = np.concatenate([h.activations["pre_pct"][..., [0, -1]].reshape(-1) for h in runs]) \
            if kind == "pre" else np.array(runs[0].activations["post_bins"][[0, -1]])
        pct = pct[np.isfinite(pct)]
        bins = runs[0].activations[f"{kind}_bins"]
        xlim = (max(pct.min(), bins[0]), min(pct.max(), bins[-1]))
        pad = 0.05 * (xlim[1] - xlim[0])
        xlim = (xlim[0] - pad, xlim[1] + pad)
    tops, lows, highs = [], [], []
    for h in runs:
        a = h.activations
        bins = a[f"{kind}_bins"]
        centres = (bins[:-1] + bins[1:]) / 2
        inside = (centres >= xlim[0]) & (centres <= xlim[1])
        inside[[0, -1]] = False     # the end bins collect every value beyond them: a saturated
        #                             layer's pile-up there (its title gives the share) must not
        #                             flatten every other curve of the panel
        later = a[f"{kind}_hist"][1:, :, inside].max(initial=0.0)
        first = a[f"{kind}_hist"][0, :, inside].max(initial=0.0)
        # the tallest curve sets the top, except a step 0 far taller than the rest: clipped
        tops.append(max(first, later) if first <= 1.5 * later else later)
        for pct in a["unit_pct"]:
            band = pct[:, list(units), 1:4]
            band = band[np.isfinite(band)]
            lows.append(np.nanmin(band))
            highs.append(np.nanmax(band))
    last_step = max(h.activations["steps"][-1] for h in runs)
    examples = max((h.examples_seen[-1] if h.examples_seen else 0) for h in runs)
    return {"x": tuple(xlim), "density": 1.05 * max(tops) or 1.0,
            "bands": (min(lows), max(highs)), "steps": last_step, "examples": examples}


def checkpoint_examples(history):
    """Examples a History's run had seen at each recorded checkpoint: (T,), 0 at step 0."""
    seen = np.concatenate([[0], history.examples_seen])
    return seen[np.asarray(history.activations["steps"])]


def _hatched(ax, text):
    """A panel that shows a state, not data: hatched, with the reason written across."""
    ax.set_facecolor("white")
    ax.add_patch(plt.Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, hatch="///",
                               edgecolor="0.75", lw=0))
    show_message(ax, text)
    ax.set_xticks([])
    ax.set_yticks([])


hatched = _hatched      # the same, for lesson figures that label a state (e.g. a failed run)


def draw_activation_grid(histories, kind="pre", layers=None, title=None, limits=None,
                         units=UNITS, detached=False, x="step", drift=False):
    """Per-layer activation distributions of each labelled run, on axes fixed by `limits`.

    histories: {label: History with activations recorded, or a str saying why there is no
    run}. For each label, one row of pooled histograms (all units and probe examples of a
    hidden layer, at several recorded steps; step 0 dashed grey, later steps coloured early ->
    late), and, for kind "pre", one row of per-unit percentile bands (15th-85th, median line)
    of the units `units` over training: the paper's Figure 1 view, where a shift that pooling
    averages away stays visible. Titles give each layer's saturation at the end. A diverged
    run or a missing one is drawn as a hatched panel saying so. limits: from
    `activation_limits` (default: this figure's own runs). x: what the per-unit row's
    horizontal axis counts, "step" or "examples" (seen by then). drift=True: each per-unit
    panel also gives the layer's drift (median over its units of `recording.unit_drift`: how
    far the 15th/50th/85th percentiles move between recordings). Returns the figure.
    """
    first = next((h for h in histories.values() if not isinstance(h, str)), None)
    n_layers = first.activations["pre_hist"].shape[1] if first is not None and \
        first.activations is not None else 3
    layers = range(n_layers) if layers is None else layers
    limits = limits or activation_limits([histories], kind, units)
    band_rows = kind == "pre"
    rows_per = 2 if band_rows else 1
    heights = ([2.0, 1.6] if band_rows else [2.0]) * len(histories)
    # a title wider than the figure (about 11 characters per inch) wraps onto more lines
    title = textwrap.fill(title, int(11 * 3.3 * len(layers))) if title else None
    extra = 0.25 * title.count("\n") if title else 0.0
    height = sum(heights) + 0.55 * len(heights) + 0.5 + extra  # panels, titles, x labels
    fig, axes = new_figure(len(heights), len(layers), width=3.3, height=height / len(heights),
                           layout="none", detached=detached,
                           gridspec_kw={"height_ratios": heights})
    fig.subplots_adjust(left=0.6 / (3.3 * len(layers)), right=1 - 0.15 / (3.3 * len(layers)),
                        bottom=0.45 / height,
                        top=1 - (0.65 + extra) / height, hspace=0.75, wspace=0.25)
    cmap = plt.get_cmap(TIME_CMAP)
    for k, (label, hist) in enumerate(histories.items()):
        rows = axes[rows_per * k: rows_per * (k + 1)]
        lim = limits.get(label)
        for col, layer in enumerate(layers):
            ax = rows[0][col]
            state = hist if isinstance(hist, str) else (
                f"diverged at step {hist.diverged['step']}" if hist.diverged else None)
            if state is not None:
                ax.set_title(f"{label}, layer {layer + 1}")
                for row in rows:
                    _hatched(row[col], state)
                continue
            a = hist.activations
            sat = a["saturation"][-1, layer]
            ax.set_title(f"{label}, layer {layer + 1} ({sat:.0%} saturated)")
            bins = a[f"{kind}_bins"]
            centres = (bins[:-1] + bins[1:]) / 2
            steps, hists = a["steps"], a[f"{kind}_hist"][:, layer]
            picks = np.unique(np.linspace(1, len(steps) - 1, 5).round().astype(int))
            ax.plot(centres, hists[0], color="0.45", ls="--", lw=1, label=f"step {steps[0]}")
            for j, i in enumerate(picks):
                ax.plot(centres, hists[i], color=cmap(j / max(len(picks) - 1, 1)),
                        label=f"step {steps[i]}")
            if lim:
                ax.set(xlim=lim["x"], ylim=(0, lim["density"]))
                clipped = [steps[i] for i in [0, *picks] if hists[i].max() > lim["density"]]
                if clipped:
                    ax.annotate(f"step{'s' if len(clipped) > 1 else ''} "
                                f"{', '.join(map(str, clipped))}:\npeak above the scale",
                                (0.99, 0.97), xycoords="axes fraction", ha="right", va="top",
                                fontsize=9, color="0.35",
                                bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
            ax.set_xlabel("input to the nonlinearity" if kind == "pre" else "activation")
            if col == 0:
                ax.set_ylabel("density")
                if k == 0:
                    ax.legend(loc="upper left", fontsize=9, handlelength=1.2)
            if band_rows:
                bx = rows[1][col]
                pct = a["unit_pct"][layer]
                if x == "examples":
                    steps = checkpoint_examples(hist)
                for i, unit in enumerate(units[1:]):
                    bx.plot(steps, pct[:, unit, 2], color="0.6", lw=0.8,
                            label=f"units {units[1]}-{units[-1]}: median" if i == 0
                            else None)
                unit = units[0]
                bx.fill_between(steps, pct[:, unit, 1], pct[:, unit, 3], color=COLORS["plain"],
                                alpha=0.3, lw=0, label=f"unit {unit}: 15th-85th percentile")
                bx.plot(steps, pct[:, unit, 2], color=COLORS["plain"], lw=1.5)
                bx.set_title(f"{label}, layer {layer + 1}: per unit")
                if drift:
                    bx.annotate(f"drift {np.median(unit_drift(pct)):.2f}", (0.99, 0.97),
                                xycoords="axes fraction", ha="right", va="top", fontsize=10,
                                bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
                bx.set_xlabel("examples seen" if x == "examples" else "step")
                if lim:
                    bx.set(ylim=lim["bands"],
                           xlim=(0, lim["examples" if x == "examples" else "steps"]))
                if col == 0:
                    bx.set_ylabel("input")
                    if k == 0:
                        bx.legend(loc="lower left", fontsize=9, handlelength=1.2)
    if title:
        fig.suptitle(title)
    return fig


def no_run_message(model, batch_size):
    """The engine's batch-of-one message for `model`'s first batch norm, wrapped to fit
    into one small panel (a panel shows it in place of a run)."""
    shape = (batch_size, model.batchnorms[0].num_features)
    return textwrap.fill(batch_of_one_message(shape), 34)
