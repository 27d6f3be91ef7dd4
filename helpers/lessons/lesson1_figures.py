"""Figures and the path explorer of Lesson 1: descent paths on the loss contours, gradient noise
against batch size, and loss curves of the MLP against steps, examples and seconds.

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
    if not path.diverged:
        ax.plot(w[-1], b[-1], "s", color=color, mec="black", ms=6)
    return ax


def variant_color(batch_size, n):
    if batch_size == n:
        return COLORS["full-batch"]
    return COLORS["stochastic"] if batch_size == 1 else COLORS["mini-batch"]


def paths_panel(ax, surface, theta_star, paths, title):
    """Several paths {label: Path} on one contour panel."""
    draw_surface(ax, surface, theta_star)
    for label, path in paths.items():
        draw_path(ax, path, variant_color(path.config["batch_size"], path.config["n"]), label)
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
        fig, axes = new_figure(1, 2, width=4.6, height=3.8, layout="none", detached=True)
        fig.subplots_adjust(left=0.09, right=0.98, bottom=0.13, top=0.86, wspace=0.3)
        ax1, ax2 = axes[0]
        draw_surface(ax1, surface, theta_star)
        paths = {f"full batch (B = {n})": full} if batch_size != n else {}
        paths[f"B = {batch_size}"] = path
        for (label, p), color in zip(paths.items(), ("0.5", variant_color(batch_size, n))):
            draw_path(ax1, p, color, label)
            draw_excess_loss(ax2, p, loss_star, color, label)
        ax2.set(xlim=(0, num_epochs), ylim=ylim)
        ax1.set_title(f"Path: {path.num_steps} steps in {num_epochs} epochs" if not path.diverged
                      else f"Path: stopped at step {path.num_steps}")
        ax2.set_title("Loss of the whole data set")
        ax1.legend(loc="upper right")
        ax2.legend(loc="lower left")
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


def trailing_mean(values, window):
    """Mean of the last `window` values at each position (fewer at the start): (T,) -> (T,)."""
    c = np.cumsum(np.concatenate([[0.0], values]))
    t = np.arange(1, len(values) + 1)
    start = np.maximum(t - window, 0)
    return (c[t] - c[start]) / (t - start)


def plot_variants(runs, smooth_examples=400):
    """Three panels of the training loss of {label: (History, seconds)}: against steps,
    examples processed (epochs on the top axis) and seconds. Batch losses are smoothed over
    about smooth_examples examples, so the curves of small batches are readable."""
    fig, axes = new_figure(1, 3, width=4.2, height=3.4, sharey=True)
    for label, (hist, seconds) in runs.items():
        b, n = hist.config["batch_size"], hist.config["n"]
        loss, steps = trailing_mean(hist.loss, max(1, smooth_examples // b)), \
            np.arange(1, len(hist.loss) + 1)
        xs = (steps, steps * b, steps * seconds / len(hist.loss))
        for ax, x in zip(axes[0], xs):
            ax.semilogx(x, loss, color=variant_color(b, n), label=label)
    names = ("step (parameter updates)", "training examples processed",
             "seconds (measured on this machine)")
    for ax, name in zip(axes[0], names):
        ax.set_xlabel(name)
    axes[0, 0].set_ylabel("training loss (cross-entropy)")
    top = axes[0, 1].secondary_xaxis("top", functions=(lambda e: e / n, lambda x: x * n))
    top.set_xlabel("epoch")
    axes[0, 2].legend(loc="lower left")
    fig.suptitle("One loop, three batch sizes: which is 'fastest' depends on what you count")
    return fig


def plot_conditioning(raw, standardized, floor=1e-12):
    """Momentum in a narrow valley, and the round bowl that standardized inputs give.

    raw, standardized: dicts with X (N, 1), y (N,), paths {label: (Path, colour)}, wlim,
    blim, title and optionally xlabel, ylabel (the parameters' names). Three panels: each
    problem's paths on its contours, and every path's loss above its problem's minimum against
    steps (log axis; values below `floor`, i.e. the minimum to rounding error, are drawn at
    `floor`). Returns the figure.
    """
    fig, axes = new_figure(1, 3, width=4.1, height=3.7)
    ax_loss = axes[0, 2]
    for ax, problem in zip(axes[0, :2], (raw, standardized)):
        X, y = problem["X"], problem["y"]
        theta_star = descent.least_squares(X, y)
        loss_star = descent.loss(theta_star, X, y)
        draw_surface(ax, loss_surface(X, y, problem["wlim"], problem["blim"]), theta_star)
        for label, (path, color) in problem["paths"].items():
            draw_path(ax, path, color, label)
            excess = np.maximum(path.loss - loss_star, floor)
            ax_loss.semilogy(np.arange(path.num_steps + 1), excess, color=color, label=label)
        ax.set(title=problem["title"], xlabel=problem.get("xlabel", "slope w"),
               ylabel=problem.get("ylabel", "intercept b"))
        ax.legend(loc="upper right")
    ax_loss.yaxis.set_minor_locator(mticker.NullLocator())
    ax_loss.set(xlabel="step (full batch)", ylabel="loss above the minimum",
                title=f"Loss ({floor:g} = at the minimum)")
    ax_loss.legend(loc="lower left")
    return fig
