"""Figures and the path explorer of Lesson 1: descent paths on the loss contours, gradient noise
against batch size, and the test accuracy of every position of the MNIST panel.

Every function draws into an explicit `ax` or makes its own figure with `new_figure`.
"""
import matplotlib.ticker as mticker
import numpy as np

from ..display.panels import cached_panel, selection_slider
from ..display.style import COLORS, PALETTE, new_figure, show_message
from . import lesson1_descent as descent

WLIM, BLIM = (-2.0, 4.5), (-3.0, 4.0)     # the (w, b) window the paths are drawn in


def loss_surface(X, y, wlim=WLIM, blim=BLIM, num=120):
    """The loss on a num x num grid of (w, b): returns (W, B, L), each (num, num)."""
    W, B = np.meshgrid(np.linspace(*wlim, num), np.linspace(*blim, num))
    return W, B, descent.loss(np.stack([W, B], axis=-1), X, y)


def draw_surface(ax, surface, theta_star):
    """Loss contours (levels spaced geometrically above the minimum) and the minimum."""
    W, B, L = surface
    lmin = L.min()
    levels = lmin + (L.max() - lmin) * np.geomspace(1e-3, 1, 12)
    ax.contour(W, B, L, levels=levels, colors="0.6", linewidths=0.8)
    ax.plot(*theta_star, marker="*", ms=14, color="#F0E442", mec="black", ls="none",
            label="least-squares minimum", zorder=5)
    ax.set_xlim(W.min(), W.max())
    ax.set_ylim(B.min(), B.max())
    ax.set_xlabel("slope w")
    ax.set_ylabel("intercept b")
    return ax


def draw_path(ax, path, color, label):
    """A Path's (w, b) after every step, from its start (circle) to its end (square)."""
    w, b = path.theta.T
    ax.plot(w, b, color=color, lw=1.2, alpha=0.9, label=label, marker="." if
            path.num_steps <= 60 else None, ms=4)
    ax.plot(w[0], b[0], "o", color="black", ms=5)
    if not path.diverged:      # above the minimum's star, which would hide an end next to it
        ax.plot(w[-1], b[-1], "s", color=color, mec="black", ms=6, zorder=6)
    return ax


def variant_color(batch_size, n):
    if batch_size == n:
        return COLORS["full-batch"]
    return COLORS["stochastic"] if batch_size == 1 else COLORS["mini-batch"]


def paths_panel(ax, surface, theta_star, paths, title, zoom=0.35):
    """Several paths {label: Path} on one contour panel; zoom > 0 adds an inset (lower left)
    of the square +-zoom around the minimum, where the ends of converged paths crowd."""
    draw_surface(ax, surface, theta_star)
    inset = ax.inset_axes([0.03, 0.03, 0.36, 0.36]) if zoom else None
    for label, path in paths.items():
        color = variant_color(path.config["batch_size"], path.config["n"])
        draw_path(ax, path, color, label)
        if inset is not None:
            draw_path(inset, path, color, label)
    if inset is not None:
        inset.plot(*theta_star, marker="*", ms=11, color="#F0E442", mec="black", ls="none")
        inset.spines[:].set_visible(True)
        inset.set_facecolor("white")
        inset.set(xlim=(theta_star[0] - zoom, theta_star[0] + zoom),
                  ylim=(theta_star[1] - zoom, theta_star[1] + zoom), xticks=[], yticks=[])
        ax.indicate_inset_zoom(inset, edgecolor="0.3")
    ax.set_title(title)
    ax.legend(loc="upper right")
    return ax


def draw_excess_loss(ax, path, loss_star, color, label):
    """L(theta) - L(theta*) of the full data set against epochs, on a log axis."""
    k = path.config["steps_per_epoch"]
    ax.semilogy(np.arange(path.num_steps + 1) / k, path.loss - loss_star, color=color,
                label=label, lw=1.2)
    # plain "1e-02" labels: mathtext "10^-2" labels are slow to lay out on every redraw
    ax.yaxis.set_major_formatter(mticker.LogFormatter(labelOnlyBase=True))
    ax.yaxis.set_minor_locator(mticker.NullLocator())     # unlabelled; 40% of a redraw
    ax.set_xlabel("epoch (passes over the data)")
    ax.set_ylabel("loss above the minimum")
    return ax


def excess_loss_limits(paths, loss_star, floor=1e-8):
    """(lo, hi) of the loss above the minimum over every path that did not diverge, widened
    to whole decades (lo no lower than floor): one scale for every position of a panel."""
    excess = np.concatenate([p.loss - loss_star for p in paths if not p.diverged])
    lo, hi = max(excess[excess > 0].min(), floor), excess.max()
    return 10.0 ** np.floor(np.log10(lo)), 10.0 ** np.ceil(np.log10(hi))


def path_explorer(X, y, batch_sizes, lrs, momenta, num_epochs=20, theta0=(-1.0, 3.0), seed=0,
                  value=None, static=None, panel_id=None):
    """Sliders batch size, lr, momentum -> the path on the contours and its loss curve.

    Every run takes a few milliseconds (2 parameters): all are computed first, so that both
    panels keep the same axes at every position (the loss axis spans every run that did not
    diverge). The full-batch run with the same lr and momentum is drawn for comparison.
    static: (batch_size, lr, momentum) positions of the saved static picture (default: the
    starting one). Returns the `cached_panel`.
    """
    surface, theta_star = loss_surface(X, y), descent.least_squares(X, y)
    loss_star, n = descent.loss(theta_star, X, y), len(X)
    runs = {(b, lr, m): descent.descend(X, y, batch_size=b, lr=lr, momentum=m,
                                        num_epochs=num_epochs, theta0=theta0, seed=seed)
            for b in dict.fromkeys((*batch_sizes, n)) for lr in lrs for m in momenta}
    ylim = excess_loss_limits(runs.values(), loss_star)

    def draw(batch_size, lr, momentum):
        path, full = runs[(batch_size, lr, momentum)], runs[(n, lr, momentum)]
        # fixed margins instead of constrained layout: a redraw is ~30% faster
        fig, axes = new_figure(1, 2, width=4.6, height=2.6, layout="none", detached=True)
        fig.subplots_adjust(left=0.09, right=0.97, bottom=0.17, top=0.82, wspace=0.3)
        ax1, ax2 = axes[0]
        draw_surface(ax1, surface, theta_star)
        paths = {f"full batch (B = {n})": full} if batch_size != n else {}
        paths[f"B = {batch_size}"] = path
        for (label, p), color in zip(paths.items(), ("0.5", variant_color(batch_size, n))):
            draw_path(ax1, p, color, label)
            draw_excess_loss(ax2, p, loss_star, color, label)
        ax2.set(xlim=(0, num_epochs), ylim=ylim, xticks=np.linspace(0, num_epochs, 5).round(1))
        ax1.set_title(f"Path: {path.num_steps} steps in {num_epochs} epochs" if not path.diverged
                      else f"Path: stopped at step {path.num_steps}")
        ax2.set_title("Loss of the whole data set")
        ax2.legend(loc="lower left")      # the same labels as the paths: one legend, off the paths
        if path.diverged:
            for ax in (ax1, ax2):
                show_message(ax, f"diverged at step {path.diverged['step']}\n"
                                 f"(lr {lr} is too large for batch size {batch_size})")
        fig.suptitle(f"batch size {batch_size}, lr {lr}, momentum {momentum}")
        print(f"B = {batch_size}: {path.message()}")
        return fig

    value = value or (batch_sizes[0], lrs[0], momenta[0])
    names = ("batch_size", "lr", "momentum")
    return cached_panel(
        draw, panel_id=panel_id, static=[dict(zip(names, p)) for p in (static or [value])],
        batch_size=selection_slider(batch_sizes, "batch size", value=value[0]),
        lr=selection_slider(lrs, "learning rate lr", value=value[1]),
        momentum=selection_slider(momenta, "momentum", value=value[2]))


def plot_noise(ax, batch_sizes, measured, sigma2, n, title):
    """Measured E||g_B - g||^2 (points) against the 1/B law and its without-replacement form."""
    b = np.asarray(batch_sizes, dtype=float)
    fine = np.geomspace(1, b.max(), 200)
    ax.loglog(fine, descent.noise_law(sigma2, n, fine, replacement=True), "--",
              color=PALETTE[1], label=r"$\sigma^2/B$ (with replacement)")
    ax.loglog(fine, descent.noise_law(sigma2, n, fine), color=PALETTE[0],
              label=r"$\sigma^2/B \cdot (N-B)/(N-1)$ (without)")
    ax.loglog(b, measured, "o", color="black", ms=5, label="measured")
    ax.set_xlabel("batch size B")
    ax.set_ylabel(r"mean $\|g_B - g\|^2$")
    ax.set_title(title)
    ax.legend(loc="lower left")
    return ax


def accuracy_map(runs, batch_sizes, momenta, modes, label="base network", threshold=0.8):
    """Test accuracy at the end of every position of an activation panel, one table per mode
    (rows: batch sizes, columns: momenta). A diverged position says so; one below `threshold`
    says "undertrained". runs: {(batch_size, momentum, mode): {label: History}}. Returns the
    figure."""
    fig, axes = new_figure(1, len(modes), width=4.2, height=2.9)
    for ax, mode in zip(axes[0], modes):
        hists = [[runs[(b, m, mode)][label] for m in momenta] for b in batch_sizes]
        acc = np.array([[h.test_acc[-1] for h in row] for row in hists])
        ax.imshow(acc, cmap="Greys", vmin=0, vmax=1.2, aspect="auto")
        ax.grid(False)
        for i, row in enumerate(hists):
            for j, h in enumerate(row):
                state = (f"\ndiverged at step {h.diverged['step']}" if h.diverged else
                         "\nundertrained" if acc[i, j] < threshold else "")
                ax.text(j, i, f"{acc[i, j]:.1%}{state}", ha="center", va="center", fontsize=10,
                        color="white" if acc[i, j] > 0.75 else "black")
        ax.set(xticks=range(len(momenta)), xticklabels=[str(m) for m in momenta],
               yticks=range(len(batch_sizes)), yticklabels=[str(b) for b in batch_sizes],
               xlabel="momentum (at lr x (1 - momentum))", ylabel="batch size",
               title=f"{mode}: test accuracy at the end")
    return fig
