"""Figure of lesson 4's momentum convention trap: eval-mode accuracy at each possible end of a
settling run (`lesson4_trap.settle_running_stats`), intended momentum against the trap."""
import numpy as np

from ..display.style import COLORS, new_figure

STYLES = {0.1: dict(color=COLORS["plain"], marker="o", label="PyTorch 0.1 (intended)"),
          0.9: dict(color=COLORS["batchnorm"], marker="^", label="PyTorch 0.9 (the trap)")}


def plot_settled(settled, batch_sizes, momenta=(0.1, 0.9)):
    """One panel per batch size, all on one accuracy scale (shared y-axis): for every BN
    momentum the eval-mode test accuracy after each scored step, one small column per seed,
    and for each seed a black tick at the accuracy with the population statistics of its
    final weights. settled: {(batch_size, seed): settle_running_stats result}. Returns the
    figure.
    """
    fig, axes = new_figure(1, len(batch_sizes), width=2.7, height=3.3, sharey=True)
    for ax, b in zip(axes[0], batch_sizes):
        orders = sorted(o for bb, o in settled if bb == b)
        offsets = 0.24 * (np.arange(len(orders)) - (len(orders) - 1) / 2)
        for i, m in enumerate(momenta):
            style = STYLES.get(m, dict(color="#000000", marker="s", label=f"PyTorch {m:g}"))
            for j, (order, dx) in enumerate(zip(orders, offsets)):
                acc = 100 * settled[(b, order)]["acc"][m]
                ax.plot(i + dx + np.linspace(-0.05, 0.05, len(acc)), acc, style["marker"], ms=4,
                        ls="none", color=style["color"], alpha=0.85,
                        label=style["label"] if j == 0 else None)
                pop = 100 * settled[(b, order)]["pop_acc"]
                ax.plot([i + dx - 0.1, i + dx + 0.1], [pop, pop], color="#000000", lw=1.5,
                        label="population statistics" if i == j == 0 else None)
        # seed numbers under the columns (minor ticks); a column at the momentum's own
        # position (odd seed count) shares its tick, so its seed heads the momentum label
        middle = [o for o, dx in zip(orders, offsets) if dx == 0]
        ax.set_xticks(range(len(momenta)),
                      [f"{middle[0]}\n{m:g}" if middle else f"\n{m:g}" for m in momenta])
        ax.set_xticks([i + dx for i in range(len(momenta)) for dx in offsets if dx != 0],
                      [str(o) for _ in momenta for o, dx in zip(orders, offsets) if dx != 0],
                      minor=True)
        ax.tick_params(axis="x", which="both", length=0, labelsize=9)
        ax.set_xlim(-0.5, len(momenta) - 0.5)
        ax.set_xlabel("BN momentum (PyTorch)")
        ax.set_title(f"batch size {b}")
    axes[0, 0].set_ylabel("eval-mode test accuracy (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda k: labels[k] == "population statistics")
    fig.legend([handles[k] for k in order], [labels[k] for k in order], loc="outside lower center",
               ncols=3)
    fig.suptitle(f"Each scored step as the end of training "
                 f"({len({o for _, o in settled})} seeds side by side, small numbers: seed)")
    return fig
