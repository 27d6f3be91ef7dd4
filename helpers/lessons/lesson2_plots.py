"""Lesson 2's static figures: the first steps of the run, the heat map, the percentile bands
of every layer, the gradient at saturated and unsaturated sigmoids, and where each layer's
shift comes from (`lesson2_sources`). Each function draws into a new figure and returns it.
"""
import numpy as np

from ..display.figures import heatmap_over_time, plot_percentile_bands
from ..display.style import PALETTE, new_figure
from ..recording import end_bin_fraction

MIN_SHARE = 0.01     # a group (saturated / not) smaller than this share is not drawn or compared


class Hidden:
    """Text shown collapsed (an HTML <details>) in a notebook, so that an answer a cell prints
    is not readable before the student opens it; plain-text viewers see only the summary."""

    def __init__(self, text, summary="The numbers (open after you have tried)"):
        self.text, self.summary = text, summary

    def _repr_html_(self):
        import html
        return (f"<details><summary>{html.escape(self.summary)}</summary>"
                f"<pre>{html.escape(self.text)}</pre></details>")

    def __repr__(self):
        return f"{self.summary} [hidden: open it in Jupyter]"


def first_steps_figure(first, limit=2.0):
    """The run's first steps (`lesson2_start.first_steps`): left, each step's batch loss
    against ln 10; right, lr * lambda_max of the output layer against the stability limit
    `limit` (Lesson 1), and the mean output of the last hidden layer."""
    fig, axes = new_figure(1, 2, width=3.9, height=2.8)
    ax = axes[0, 0]
    ax.plot(np.arange(len(first["loss"])), first["loss"], marker="o", color=PALETTE[0],
            label="batch loss")
    ax.axhline(np.log(10), color="0.4", ls=":", label="ln 10 = 2.30 (uniform guess)")
    ax.set(title="The first steps: the hump", xlabel="step", ylabel="training loss")
    ax.legend(loc="upper right", bbox_to_anchor=(1, 0.75))
    ax = axes[0, 1]
    ax.semilogy(first["steps"], first["lr_lambda"], marker="s", color=PALETTE[3],
                label=r"lr $\times\,\lambda_{max}$, output layer")
    ax.semilogy(first["steps"], first["h_mean"], marker="^", ls="--", color=PALETTE[2],
                label="mean output of hidden layer 3")
    ax.axhline(limit, color="0.4", ls=":", label=f"{limit:g}: above it a step overshoots")
    ax.set(title="Why: too large a step, then a smaller one", xlabel="step (before its update)",
           ylabel="value (log scale)")
    low = min(first["lr_lambda"].min(), first["h_mean"].min())
    ax.set_ylim(low / 30, 5 * max(first["lr_lambda"].max(), limit))   # room for the legend
    ax.legend(loc="lower left")
    return fig


def heatmaps(activations, suptitle):
    """fast.ai's colourful dimension, one panel per hidden layer, each step's histogram divided
    by its peak; no grid over the picture, and the end bins (where every value beyond +-10
    piles up) marked with the share of values there at the end."""
    n = activations["pre_hist"].shape[1]
    bins = activations["pre_bins"]
    fig, axes = new_figure(1, n, width=3.5, height=3.0, sharey=True)
    edge = end_bin_fraction(activations["pre_hist"], bins)          # (T, L)
    for layer, ax in enumerate(axes[0]):
        heatmap_over_time(ax, activations, layer, normalize=True)
        ax.grid(False)
        ax.set_title(f"hidden layer {layer + 1}")
        ax.set_ylabel("input to the sigmoid" if layer == 0 else "")
        if edge[-1, layer] > 0.005:
            ax.annotate(f"end bins: all values beyond -10 or +10\n({edge[-1, layer]:.0%} of "
                        "them at the end)", (0.98, 0.04), xycoords="axes fraction", ha="right",
                        va="bottom", fontsize=9, color="white")
    fig.colorbar(axes[0, -1].images[0], ax=axes[0], label="log(1 + 100 x density / its peak)")
    fig.suptitle(suptitle)
    return fig


def bands_figure(activations, unit):
    """The paper's Figure 1(b) for one unit of the last hidden layer, then, one small panel per
    layer on a shared axis, the 15th-50th-85th percentiles over all units of that layer."""
    steps, n = activations["steps"], activations["pre_hist"].shape[1]
    fig, axes = new_figure(1, n + 1, width=3.0, height=3.2, sharey=True)
    plot_percentile_bands(axes[0, 0], steps, activations["unit_pct"][n - 1][:, unit],
                          color=PALETTE[n - 1])
    axes[0, 0].set_title(f"Figure 1(b) rebuilt:\nlayer {n}, unit {unit}")
    for layer in range(n):
        ax = axes[0, layer + 1]
        plot_percentile_bands(ax, steps, activations["pre_pct"][:, layer], color=PALETTE[layer])
        ax.set_title(f"layer {layer + 1}, all 100 units")
        ax.set_ylabel("")
    for ax in axes[0]:
        ax.axhspan(-4.6, -10, color="0.9", lw=0, zorder=0)
        ax.set_ylim(-10, 4)
        ax.legend(loc="upper right", fontsize=9)
    axes[0, 0].text(0.03, 0.03, "saturated (x < -4.6)", transform=axes[0, 0].transAxes,
                    fontsize=9, color="0.35")
    return fig


def gradient_groups(grads, min_share=MIN_SHARE):
    """Per hidden layer, from `grad_at_nonlinearity`: {"n_sat", "n_unsat", "n", "ratio"}, ratio
    being the median |dL/dx| of unsaturated entries over that of saturated ones, or None when
    either group holds less than `min_share` of the entries (a median of a few values)."""
    out = []
    for dx, sat in grads:
        n, n_sat = sat.size, int(sat.sum())
        ok = min(n_sat, n - n_sat) >= min_share * n
        ratio = (float(np.median(np.abs(dx[~sat])) / np.median(np.abs(dx[sat]))) if ok
                 else None)
        out.append({"n": n, "n_sat": n_sat, "n_unsat": n - n_sat, "ratio": ratio})
    return out


def gradient_histograms(grads, edges, min_share=MIN_SHARE):
    """Counts of log10 |dL/dx| per hidden layer, saturated and unsaturated entries apart, with
    n in the legend; a group under `min_share` of the entries is not drawn, only named.
    Values beyond the edges are counted in the end bins (labelled when they are at least
    `min_share` of their group)."""
    groups = gradient_groups(grads, min_share)
    fig, axes = new_figure(1, len(grads), width=3.3, height=2.9)
    for layer, (ax, (dx, sat), g) in enumerate(zip(axes[0], grads, groups)):
        logg = np.clip(np.log10(np.abs(dx) + 1e-300), edges[0], edges[-1])
        for mask, name, n, style in ((~sat, "not saturated", g["n_unsat"],
                                      dict(color=PALETTE[0], alpha=0.5)),
                                     (sat, "saturated", g["n_sat"],
                                      dict(histtype="step", lw=2, color=PALETTE[3]))):
            if n >= min_share * g["n"]:
                ax.hist(logg[mask], bins=edges, label=f"{name} (n = {n:,})", **style)
                below = int((logg[mask] <= edges[0]).sum())
                if below >= min_share * n:                   # a visible pile: say what it is
                    ax.annotate(f"{below:,} {name}\nbelow 1e{edges[0]:g},\nin this bin",
                                ((edges[0] + edges[1]) / 2, below), xytext=(0.03, 0.45),
                                textcoords="axes fraction", fontsize=9, color="0.35",
                                arrowprops=dict(arrowstyle="->", color="0.35"))
            else:
                ax.text(0.03, 0.72, f"{name}: n = {n:,} ({n / g['n']:.1%}),\ntoo few to draw",
                        transform=ax.transAxes, fontsize=9, color="0.35")
        ax.set(title=f"hidden layer {layer + 1}: {g['n_sat'] / g['n']:.1%} saturated",
               xlabel=r"$\log_{10} |\partial L / \partial x|$",
               ylabel="entries (image x unit)" if layer == 0 else "")
        ax.set_ylim(0, 1.4 * ax.get_ylim()[1])                 # room for the legend
        ax.legend(loc="upper left", fontsize=9)
    return fig


def sources_figure(panels):
    """Where each layer's shift comes from (`decompose_shift` / `shift_sources`).

    panels: [(title, {part: (L,) array})], one panel each (e.g. the mean over a phase of
    40-step windows, or one long window). Per hidden layer: bars for the part caused by the
    layers below, by its own parameters (each the mean of its two orders, with a thin line
    spanning the two orders) and the non-additive remainder, and a black mark for the whole
    shift."""
    n_layers = len(panels[0][1]["whole"])
    fig, axes = new_figure(1, len(panels), width=3.0, height=3.0)
    x, width = np.arange(n_layers), 0.26
    styles = {"below": dict(color=PALETTE[0]), "own": dict(color=PALETTE[1]),
              "remainder": dict(color="0.75", hatch="//", edgecolor="0.4")}
    labels = {"below": "layers below (mean of 2 orders)", "own": "own W, b (mean of 2 orders)",
              "remainder": "non-additive remainder"}
    for ax, (title, part) in zip(axes[0], panels):
        for i, name in enumerate(("below", "own", "remainder")):
            ax.bar(x + (i - 1) * width, part[name], width, label=labels[name], **styles[name])
        for i, name in enumerate(("below", "own")):
            lo = np.minimum(part[f"{name}_a"], part[f"{name}_b"])
            hi = np.maximum(part[f"{name}_a"], part[f"{name}_b"])
            ax.vlines(x + (i - 1) * width, lo, hi, color="0.1", lw=1.5,
                      label="range of the two orders" if i == 0 else None)
        ax.plot(x, part["whole"], ls="none", marker="_", ms=22, mew=2.5, color="black",
                label="whole shift")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set(title=title, xticks=x, xticklabels=[f"layer {i + 1}" for i in x],
               ylabel="W1 per unit (mean)" if ax is axes[0, 0] else "")
    axes[0, 0].legend(loc="upper left", fontsize=9)
    return fig
