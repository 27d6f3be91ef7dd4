"""Lesson 3's figures: the sensitivity sweeps (one seed or several), the steps gradient descent
needs against the ratio of two features' scales, the spread of mu_B against batch size, and the
learned gamma and beta. Each takes explicit axes.
"""
import numpy as np

from ..display.style import COLORS, show_message
from .lesson3_training import LABELS, RATIO_STUDY_NAMES


def plot_sweep(ax, res, xlabel):
    """Final test accuracy against the swept value (log x); diverged runs marked with x.

    res: a sensitivity_sweep result (acc (K,)) or a seeded_sweep one (acc (S, K)): then the
    line is the mean over the seeds and each seed is a small dot."""
    for label in LABELS:
        acc = 100 * np.atleast_2d(res["acc"][label])
        div = np.atleast_2d(res["diverged"][label])
        color = COLORS["plain" if label == "plain" else "batchnorm"]
        seeds = len(acc)
        ax.plot(res["values"], acc.mean(axis=0), marker="o", color=color,
                label=f"{label}, mean of {seeds} seeds" if seeds > 1 else label)
        if seeds > 1:
            for row in acc:
                ax.plot(res["values"], row, ".", ms=5, alpha=0.6, color=color)
        big = label == "plain"                 # two sizes, so coinciding crosses both show
        xs = np.broadcast_to(res["values"], acc.shape)[div]
        ax.plot(xs, np.nan_to_num(acc[div], nan=0), "x", ms=16 if big else 9, mew=2.5,
                color=color, label=(f"{label}: diverged" + (" (a seed)" if seeds > 1 else ""))
                if div.any() else None)
    ax.axhline(10, color="gray", ls=":", label="chance (10%)")
    ax.set(xscale="log", xlabel=xlabel, ylabel="final test accuracy (%)", ylim=(0, 100))
    ax.legend(loc="best")
    return ax


def plot_ratio_study(ax, study):
    """Steps until both weights are learned against the ratio of the features' scales (log-log),
    one line per setting of `scale_ratio_study`."""
    colors = (COLORS["plain"], COLORS["plain"], COLORS["batchnorm"])   # raw, raw, standardised
    styles = ("-", "--", "-")
    for name, color, ls in zip(RATIO_STUDY_NAMES, colors, styles):
        ax.loglog(study["ratios"], study[name], marker="o", ls=ls, color=color,
                  label=name.replace("lambda_max", r"$\lambda_{\max}$"))
    ax.set(xlabel="ratio of the two features' scales", ylabel="steps until both weights within 1%")
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


def plot_gamma_beta(axes, model):
    """Learned gamma (axes[0]) and beta (axes[1]) of every unit, one column per BN layer."""
    bns = model.batchnorms
    if not bns:
        show_message(axes[0], "this model has no batch-norm layer")
        return axes
    rng = np.random.default_rng(0)             # jitter only, so dots do not hide each other
    for ax, name, start in zip(axes, ("gamma", "beta"), (1.0, 0.0)):
        for i, bn in enumerate(bns, start=1):
            v = getattr(bn, name)
            ax.plot(i + rng.uniform(-0.2, 0.2, len(v)), v, ".", alpha=0.6,
                    color=COLORS["batchnorm"], label="one unit" if i == 1 else None)
        ax.axhline(start, color="gray", ls="--", label=f"initial value {start:g}")
        ax.set(xticks=range(1, len(bns) + 1), xlabel="hidden layer", ylabel=f"learned {name}")
        ax.legend()
    return axes
