"""Lesson 3's figures: the sensitivity sweep, the spread of mu_B against batch size, and the
learned gamma and beta. Each takes explicit axes.
"""
import numpy as np

from ..display.style import COLORS, show_message
from .lesson3_training import LABELS


def plot_sweep(ax, res, xlabel):
    """Final test accuracy against the swept value (log x); diverged runs marked with x."""
    for label in LABELS:
        acc, div = 100 * res["acc"][label], res["diverged"][label]
        color = COLORS["plain" if label == "plain" else "batchnorm"]
        ax.plot(res["values"], acc, marker="o", color=color, label=label)
        big = label == "plain"                 # two sizes, so coinciding crosses both show
        ax.plot(res["values"][div], np.nan_to_num(acc[div], nan=0), "x", ms=16 if big else 9,
                mew=2.5, color=color, label=f"{label}: diverged" if div.any() else None)
    ax.axhline(10, color="gray", ls=":", label="chance (10%)")
    ax.set(xscale="log", xlabel=xlabel, ylabel="final test accuracy (%)", ylim=(0, 100))
    ax.legend(loc="best")
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
