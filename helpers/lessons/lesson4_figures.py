"""Figures and widget panels of lesson 4 (batch norm at inference).

Runs come from `lesson4_tracking.track_running_stats`, one per batch size; a panel indexes
them by (batch_size, momentum) as `panels.run_positions` returns them, so sliders only select
and draw. Every position of a panel is drawn on the same axes (`tracking_limits`,
`mode_limits`), so two positions compare by eye.
"""
import dataclasses

import ipywidgets as widgets
import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from ..batchnorm import running_estimates
from ..display.figures import activation_limits
from ..display.panels import cached_panel, selection_slider
from ..display.style import COLORS, PALETTE, new_figure

GREY, BLACK = "#999999", "#000000"
# plot_estimators' lines: blue dashed, vermillion solid, green dash-dotted (told apart by
# colour and by line style; no two of the palette's orange tones side by side)
ESTIMATOR_STYLES = ((PALETTE[0], "--"), (COLORS["batchnorm"], "-"), (PALETTE[2], "-."),
                    (PALETTE[4], ":"))
MEANINGLESS = 0.5      # below this test accuracy with exact statistics the network did not learn
LEARNED = 0.8          # below this eval-mode accuracy (of a network that learned) the running
                       # statistics have not caught up: the position says so
DENSITY_CAP = 0.6      # top of the activation panel's histogram axes (curves of learned runs peak
                       # below it; a taller peak is drawn clipped and labelled)
LOG_TICKS = (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100)    # plain labels on the variance axes


def momentum_label(m):
    """'0.1 (Keras 0.9)': a PyTorch BN momentum with the Keras value that means the same."""
    return f"{m:g} (Keras {1 - m:g})"


def run_message(track, momentum, short=False):
    """Why a (batch size, momentum) setting gives no meaningful eval mode, or None: training
    diverged; the network did not learn (under MEANINGLESS even with population statistics);
    or its running statistics fail it (eval mode under LEARNED and 5 points or more below
    the population statistics). short=True: a few words that fit into one small panel."""
    if track["diverged"] is not None:
        return f"training diverged at step {track['diverged']}: nothing to track"
    pop, acc = track["pop_acc"], track["test_acc"][momentum]
    if pop < MEANINGLESS:
        if short:
            return f"network did not learn\n({pop:.0%} with exact statistics)"
        return (f"batch size {track['batch_size']}: the network itself did not learn\n"
                f"(test accuracy {pop:.0%} even with exact population statistics)")
    if acc < LEARNED and acc < pop - 0.05:
        if short:
            return f"running statistics wrong:\n{acc:.0%} ({pop:.0%} possible)"
        return (f"BN momentum {momentum:g}: the running statistics do not describe the "
                f"network\n(eval-mode accuracy {acc:.0%}, {pop:.0%} with population statistics)")
    return None


def _limits(*arrays, log=False):
    """y-limits covering the lines and the central 96% of the noisy batch statistics."""
    vals = np.concatenate([np.ravel(a) for a in arrays[:-1]])
    finite = np.ravel(arrays[-1])[np.isfinite(np.ravel(arrays[-1]))]
    noisy = np.percentile(finite, [2, 98]) if finite.size else []
    vals = np.concatenate([vals, noisy])
    vals = vals[np.isfinite(vals) & (vals > 0)] if log else vals[np.isfinite(vals)]
    if vals.size == 0 or vals.min() == vals.max():      # nothing finite (a diverged run)
        return None
    lo, hi = vals.min(), vals.max()
    return (lo / 1.5, hi * 1.5) if log else (lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))


def tracking_limits(runs, momenta, units=None):
    """y-limits shared by every position of a tracking panel: {(layer, row): (lo, hi)}, row 0
    the mean and row 1 the variance (log scale) of the drawn unit of each hidden layer. They
    cover, for every run whose network learned, the running estimates of all `momenta`, the
    population statistics and the central 96% of the batch statistics; a run that diverged or
    did not learn (drawn with its message) does not set them. runs: {(b, m): track}."""
    tracks = list({id(t): t for t in runs.values()}.values())
    learned = [t for t in tracks
               if t["diverged"] is None and t.get("pop_acc", 1.0) >= MEANINGLESS] or tracks
    L = len(tracks[0]["batch_mean"])
    units = units or (0,) * L
    out = {}
    for l, u in enumerate(units):
        for row, kind in enumerate(("mean", "var")):
            spans = [_limits(*(t["running"][m][row][l][:, u] for m in momenta),
                             t[f"pop_{kind}"][l][:, u], t[f"batch_{kind}"][l][:, u],
                             log=row == 1) for t in learned]
            spans = [s for s in spans if s]
            out[l, row] = (min(s[0] for s in spans), max(s[1] for s in spans)) if spans \
                else None
    return out


def draw_tracking(track, momentum, units=None, detached=False, limits=None):
    """Running mean (top) and running variance (bottom, log scale) of one unit per hidden
    layer over training: the batch statistic of each step (dots), the running estimate of
    this BN momentum (line) and the population statistic at checkpoints (black). limits:
    from `tracking_limits` (default: this run's own). Returns fig.
    """
    L = len(track["batch_mean"])
    units = units or (0,) * L
    fig, axes = new_figure(2, L, width=3.6, height=1.7, sharex=True, detached=detached)
    steps, ck = track["steps"] + 1, track["measure_steps"]      # estimate after update k+1
    run_mean, run_var = track["running"][momentum]
    clipped = False
    for l, u in enumerate(units):
        for row, (batch, run, pop) in enumerate((
                (track["batch_mean"], run_mean, track["pop_mean"]),
                (track["batch_var"], run_var, track["pop_var"]))):
            ax = axes[row, l]
            ax.plot(steps, batch[l][:, u], ".", ms=2, color=GREY, label="this batch's statistic")
            ax.plot(steps, run[l][:, u], color=COLORS["batchnorm"],
                    label="running estimate (EMA of the batch statistics)")
            ax.plot(ck, pop[l][:, u], "o-", ms=3, color=BLACK, lw=1,
                    label=f"population (all {track['n']} training images)")
            if row == 1:
                ax.set_yscale("log")
                ax.yaxis.set_minor_locator(NullLocator())    # 2x faster redraw
                ax.set_xlabel("step (parameter updates)")
            lo, hi = (limits[l, row] if limits else
                      _limits(run[l][:, u], pop[l][:, u], batch[l][:, u], log=row == 1))
            ax.set_ylim(lo, hi)
            if row == 1:      # plain numbers (0.3, 1, 3), not one "1e0", so magnitudes read off
                ax.yaxis.set_major_locator(FixedLocator(LOG_TICKS))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            drawn = np.concatenate([batch[l][:, u], run[l][:, u], pop[l][:, u]])
            drawn = drawn[np.isfinite(drawn)]
            clipped = clipped or bool(drawn.size and (drawn.min() < lo or drawn.max() > hi))
            if row == 0:
                ax.set_title(f"hidden layer {l + 1}, unit {u}: BN input")
            if l == 0:
                ax.set_ylabel("variance, log scale" if row else "mean")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    acc = track["test_acc"][momentum]
    title = (f"batch size {track['batch_size']}, BN momentum {momentum_label(momentum)}: "
             f"eval-mode test accuracy {acc:.1%}")
    message = run_message(track, momentum, short=True)    # in the title, covering no curve
    if message:
        title += "\n" + message.replace("\n", " ")
    if clipped:
        title += "\n(some points lie outside the axes shared by every position: not drawn)"
    fig.suptitle(title, color=COLORS["batchnorm"] if message else None)
    return fig


def describe_track(track, momentum):
    """Two printed lines for a panel position: how much training (History.message: steps,
    epochs, examples, the loss of the last steps) and the eval-mode test accuracy this BN
    momentum's running statistics give (and the population statistics')."""
    line = track["history"].message()
    if track["diverged"] is None:
        line += (f"\neval-mode test accuracy with these running statistics "
                 f"{track['test_acc'][momentum]:.1%} (with the population statistics of the "
                 f"final weights {track['pop_acc']:.1%})")
    return line


def tracking_panel(runs, batch_sizes, momenta, units=None, value=None, static=None,
                   panel_id=None):
    """Batch-size and BN-momentum sliders over `draw_tracking`, on axes fixed across all
    positions (`tracking_limits`); runs: {(b, m): track} from `panels.run_positions`.
    static: the (batch_size, momentum) positions of the saved static picture (default: the
    starting one)."""
    value = value or (batch_sizes[0], momenta[0])
    limits = tracking_limits({k: t for k, t in runs.items() if k[1] in momenta}, momenta, units)

    def draw(batch_size, momentum):
        track = runs[(batch_size, momentum)]
        print(describe_track(track, momentum))
        return draw_tracking(track, momentum, units, detached=True, limits=limits)

    bn_momentum = widgets.SelectionSlider(
        options=[(momentum_label(m), m) for m in momenta], value=value[1],
        description="BN momentum (PyTorch)", continuous_update=False,
        style={"description_width": "initial"}, layout=widgets.Layout(width="480px"))
    return cached_panel(
        draw, panel_id=panel_id,
        static=[{"batch_size": b, "momentum": m} for b, m in (static or [value])],
        batch_size=selection_slider(batch_sizes, "batch size", value=value[0]),
        momentum=bn_momentum)


def _history(track, activations, acc, mode):
    """The run's History with one mode's activations and that mode's final test accuracy;
    config["mode"] names the mode ("train" or "eval") for `describe_mode`."""
    last = int(track["measure_steps"][-1])
    return dataclasses.replace(track["history"], activations=activations, eval_steps=[last],
                               train_acc=[], test_acc=[acc],
                               config=dict(track["history"].config, mode=mode))


def describe_mode(history):
    """The activation panel's line per mode: the run once (training mode's line), then each
    mode's test accuracy, saying how it was computed."""
    if history.diverged or not history.test_acc:
        return history.message()
    acc = history.test_acc[-1]
    if history.config.get("mode") == "train":
        run = dataclasses.replace(history, test_acc=[], eval_steps=[]).message()
        return f"one run, {run}; test accuracy in training mode (test batches of 500) {acc:.1%}"
    return f"test accuracy in eval mode (these running statistics) {acc:.1%}"


WRONG = "eval: stats wrong"   # eval-mode rows' label where the running statistics fail a learned
                              # network (short: the row titles add the layer and its saturation)


def histories_for_panel(runs):
    """{(b, m): {label: History or message}} for `panels.activation_panel`: activation
    statistics in training mode (batch statistics) and in eval mode (running statistics).
    A network that learned but whose running statistics fail it (`run_message`) keeps its
    eval-mode rows, labelled WRONG; one that diverged or did not learn gets a message.
    """
    out = {}
    for (b, m), track in runs.items():
        train = _history(track, track["train_activations"], track["batch_acc"], "train")
        message = run_message(track, m, short=True)
        drawn = _history(track, track["eval_activations"][m], track["test_acc"][m], "eval")
        learned = track["diverged"] is None and track["pop_acc"] >= MEANINGLESS
        if message and learned:
            out[(b, m)] = {"train mode": train, WRONG: drawn}
        else:
            out[(b, m)] = {"train mode": train, "eval mode": message or drawn}
    return out


def mode_limits(histories, xlim=None):
    """`activation_limits` for `histories_for_panel`'s positions, with the eval-mode rows on
    the training-mode rows' scales (density and per-unit range): the two modes then compare by
    eye, and an eval-mode curve squeezed by a too large running variance stays a labelled
    peak above the scale instead of flattening every other position."""
    limits = activation_limits(histories.values(), xlim=xlim)
    train, ev = limits.get("train mode"), limits.get("eval mode")
    if train and ev:
        bands = (min(train["bands"][0], ev["bands"][0]), max(train["bands"][1], ev["bands"][1]))
        limits["train mode"] = dict(train, bands=bands)
        limits["eval mode"] = dict(ev, density=train["density"], bands=bands)
        limits[WRONG] = limits["eval mode"]      # failing running statistics: the same scales
    for mode in limits.values():
        mode["density"] = min(mode["density"], DENSITY_CAP)
    return limits


def plot_estimators(track, layer, unit, estimators):
    """One unit's stream of batch statistics summarised by several running estimates
    (estimators: {label: keyword arguments of running_estimates}), against the population
    statistics at the checkpoints. Returns the figure (mean left, variance right).
    """
    fig, axes = new_figure(1, 2, width=5.4, height=3.6)
    steps, ck = track["steps"] + 1, track["measure_steps"]
    for ax, kind in zip(axes[0], ("mean", "var")):
        stream = track[f"batch_{kind}"][layer][:, unit]
        ax.plot(steps, stream, ".", ms=2, color=GREY, label="this batch's statistic")
        estimates = [running_estimates(stream, init=float(kind == "var"), **kw)
                     for kw in estimators.values()]
        for label, est, (color, ls) in zip(estimators, estimates, ESTIMATOR_STYLES):
            ax.plot(steps, est, color=color, ls=ls, label=label)
        pop = track[f"pop_{kind}"][layer][:, unit]
        ax.plot(ck, pop, "o-", ms=3, lw=1, color=BLACK, label="population (current weights)")
        ax.set_ylim(_limits(pop, *estimates, stream, log=kind == "var"))
        if kind == "var":
            ax.set_yscale("log")
        ax.set_xlabel("step (parameter updates)")
        ax.set_ylabel(f"{'variance' if kind == 'var' else 'mean'} of the BN input")
        ax.set_title(f"running_{kind} of hidden layer {layer + 1}, unit {unit}")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    fig.suptitle(f"Three running estimates of one stream (batch size {track['batch_size']})")
    return fig
