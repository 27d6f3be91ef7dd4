"""Lesson 6's figures and panel: which values share statistics (the cube of Wu & He 2018,
Figure 2), accuracy against the normalization batch in both modes, batch renorm's r and d over
training, and the normalization batch x normalization x BN momentum panel over the runs of
`lesson6_small_batches.small_batch_grid`.

Every figure function makes its own figure (never pyplot's current one) and returns it.
"""
import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Polygon

from ..display.figures import activation_limits, draw_activation_grid
from ..display.panels import cached_panel, selection_slider
from ..display.style import PALETTE, new_figure
from ..network import BASE
from .lesson6_small_batches import LABELS, MODES, RUNNING

BELOW = 0.8                 # a run below this test accuracy is labelled with its cause
BELOW_LABEL = "BELOW 80%: NORMALIZATION BATCH TOO SMALL"
ONE_MODE = "both modes"     # the row label of layer and group norm runs: training = eval mode
COLOR = dict(zip(LABELS, (PALETTE[3], PALETTE[4], PALETTE[0], PALETTE[2])))
# Which values of x (N, C, H, W) share one mean and variance, for the example n = 0 and
# channel c = 0 (groups of 2 channels for group norm): Wu & He's Figure 2.
SHARED = {"batch norm": lambda n, c: c == 0, "layer norm": lambda n, c: n == 0,
          "instance norm": lambda n, c: n == 0 and c == 0,
          "group norm": lambda n, c: n == 0 and c < 2}


def _cube(ax, shared, color, shape=(4, 6, 4), depth=(0.45, 0.35)):
    """One N x C x (H, W) cube in oblique projection: N to the right, H, W up, C into the
    page. shared(n, c): whether the values of example n, channel c are in the shaded set."""
    n_max, c_max, s_max = shape
    dx, dy = depth

    def face(corners, on, shade):
        ax.add_patch(Polygon(corners, closed=True, ec="0.35", lw=0.6,
                             fc=color if on else str(shade), alpha=0.9 if on else 1.0))

    for n in range(n_max):                      # front face (channel 0): N x (H, W)
        for s in range(s_max):
            face([(n, s), (n + 1, s), (n + 1, s + 1), (n, s + 1)], shared(n, 0), 0.97)
    for n in range(n_max):                      # top face: N x C
        for c in range(c_max):
            face([(n + c * dx, s_max + c * dy), (n + 1 + c * dx, s_max + c * dy),
                  (n + 1 + (c + 1) * dx, s_max + (c + 1) * dy),
                  (n + (c + 1) * dx, s_max + (c + 1) * dy)], shared(n, c), 0.88)
    for c in range(c_max):                      # right face (the last example): C x (H, W)
        for s in range(s_max):
            face([(n_max + c * dx, s + c * dy), (n_max + (c + 1) * dx, s + (c + 1) * dy),
                  (n_max + (c + 1) * dx, s + 1 + (c + 1) * dy), (n_max + c * dx, s + 1 + c * dy)],
                 shared(n_max - 1, c), 0.78)
    ax.text(n_max / 2, -0.6, "N (examples)", ha="center", va="top", fontsize=10)
    ax.text(-0.4, s_max / 2, "H, W", ha="right", va="center", fontsize=10)
    ax.text(c_max * dx / 2 - 0.3, s_max + c_max * dy / 2 + 0.3, "C", ha="right", fontsize=10)
    ax.set(xlim=(-1.6, n_max + c_max * dx + 0.4), ylim=(-1.6, s_max + c_max * dy + 1.2),
           aspect="equal")
    ax.axis("off")


def plot_normalization_cubes():
    """Wu & He (2018), Figure 2: for x of shape (N, C, H, W), the values that share one
    mean and variance (shaded) under batch, layer, instance and group norm."""
    fig, axes = new_figure(1, 4, width=2.9, height=2.9)
    colors = (COLOR["batch norm"], COLOR["layer norm"], PALETTE[1], COLOR["group norm"])
    for ax, (name, shared), color in zip(axes[0], SHARED.items(), colors):
        _cube(ax, shared, color)
        ax.set_title(name)
    return fig


def plot_accuracy_by_norm_batch(grid, norm_batches, momenta, plain=None, labels=LABELS):
    """Test accuracy against the normalization batch (log scale), every run taking the same
    SGD steps of BASE.batch_size: eval mode (solid; batch renorm also at its second BN
    momentum, dotted) and training mode on test batches normalized as in training (dashed,
    x), then the share of test images whose prediction differs between the two modes.
    plain: the plain network's accuracy (grey line), or None."""
    fig, axes = new_figure(1, 2, width=4.6, height=3.4)
    ax, bx = axes[0]
    m0 = momenta[0]
    for label in labels:
        runs = [grid[(b, label, m0)] for b in norm_batches]
        ax.plot(norm_batches, [100 * r.eval_acc for r in runs], "o-", color=COLOR[label],
                label=label)
        if label in RUNNING:
            ax.plot(norm_batches, [100 * r.train_acc for r in runs], "x--", color=COLOR[label],
                    alpha=0.7, ms=8, mew=1.8)
        if label == "batch renorm":
            for m in momenta[1:]:
                ax.plot(norm_batches, [100 * grid[(b, label, m)].eval_acc for b in norm_batches],
                        "s:", color=COLOR[label], mfc="white", ms=7,
                        label=f"{label}, BN momentum {m}")
        bx.plot(norm_batches, [100 * r.changed for r in runs], "o-", color=COLOR[label],
                label=label)
    if plain is not None:
        ax.axhline(100 * plain, color="0.5", lw=1.2, label="plain network (no normalization)")
    ax.plot([], [], "x--", color="0.3", label="training mode")
    for a in (ax, bx):
        a.set_xscale("log", base=2)
        a.set_xticks(norm_batches, [str(b) for b in norm_batches])
        a.set_xlabel(f"normalization batch (inside SGD batches of {BASE.batch_size})")
    ax.set(ylabel="test accuracy (%)", ylim=(0, 100),
           title=f"Same SGD batch ({BASE.batch_size}), steps, lr;\n"
                 f"BN momentum {m0} unless marked")
    bx.set(ylabel="test images (%)", title="Predictions that differ between\ntraining "
                                             "mode and eval mode")
    ax.legend(loc="lower right", fontsize=9)
    bx.legend(loc="upper right", fontsize=9)
    return fig


def plot_renorm_trace(trace, layer=0, unit=0):
    """Batch renorm's corrections over training, for one hidden layer: at every step the
    10th-90th percentile of r and of d over the layer's units (band), their median, one
    unit's value, and the limits in force (1/r_max .. r_max, -d_max .. d_max; dashed).
    trace: Run.renorm of `lesson6_small_batches.train_and_measure`."""
    fig, axes = new_figure(1, 2, width=4.6, height=3.2)
    steps = trace["steps"]
    limits = {"r": (1 / trace["r_max"], trace["r_max"]), "d": (-trace["d_max"], trace["d_max"])}
    for ax, key in zip(axes[0], ("r", "d")):
        values = trace[key][:, layer].reshape(len(steps), -1)    # (T, [groups *] C)
        lo, mid, hi = np.percentile(values, (10, 50, 90), axis=1)
        ax.fill_between(steps, lo, hi, color=PALETTE[4], alpha=0.3, lw=0,
                        label="10th-90th percentile over units")
        ax.plot(steps, mid, color="k", lw=1.8, label="median over units", zorder=3)
        ax.plot(steps, values[:, unit], color="0.6", lw=0.5, label=f"unit {unit + 1}")
        ax.plot(steps, limits[key][1], "k--", lw=1.2, label="limits")
        ax.plot(steps, limits[key][0], "k--", lw=1.2)
        ax.set(xlabel="step", title=f"{key} in hidden layer {layer + 1}")
    ticks = [1 / 3, 0.5, 1, 2, 3]
    axes[0, 0].set(yscale="log", ylabel="r = sigma_B / sigma (log scale)")
    axes[0, 0].set_yticks(ticks, ["1/3", "1/2", "1", "2", "3"])
    axes[0, 0].minorticks_off()
    axes[0, 1].set_ylabel("d = (mu_B - mu) / sigma")
    fig.legend(*axes[0, 1].get_legend_handles_labels(), loc="outside lower center", ncol=4)
    return fig


def plot_last_histograms(grid, positions, layer=1, xlim=(-5.0, 5.0)):
    """For each (norm_batch, label, momentum) position, one panel: the pooled inputs to hidden
    layer `layer`'s sigmoid on the probe at the last recorded step, in training mode (solid)
    and eval mode (dashed; layer and group norm have one mode), and training mode at step 0
    (grey). A compact static view of the panel's positions."""
    fig, axes = new_figure(2, (len(positions) + 1) // 2, width=3.2, height=2.4)
    for ax, (g, label, m) in zip(axes.ravel(), positions):
        run = grid[(g, label, m)]
        acts = run.modes["training mode"].activations
        centers = (acts["pre_bins"][:-1] + acts["pre_bins"][1:]) / 2
        ax.plot(centers, acts["pre_hist"][0, layer], color="0.6", ls=":", lw=1,
                label="training mode, step 0")
        ax.plot(centers, acts["pre_hist"][-1, layer], color=COLOR[label], lw=1.3,
                label="training mode, last step (colour: the method)")
        if label in RUNNING:
            ax.plot(centers, run.modes["eval mode"].activations["pre_hist"][-1, layer],
                    color="k", ls="--", lw=1, label="eval mode, last step")
        title = f"{label}, normalization batch {g}\nBN momentum {m}, " if label in RUNNING \
            else f"{label} (one mode)\n"
        title += f"test accuracy {run.eval_acc:.0%}"
        if label in RUNNING and np.abs(acts["pre_hist"][-1, layer] - run.modes["eval mode"]
                                       .activations["pre_hist"][-1, layer]).max() < 0.1:
            title += "\n(layer 2's pooled histograms coincide)"
        ax.set(xlim=xlim, ylim=(0, 1.5), xlabel=f"input to layer {layer + 1}'s sigmoid",
               title=title)
    axes[0, 0].set_ylabel("density (clipped at 1.5)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return fig


def _panel_limits(grid, xlim):
    """Axis limits shared by both modes of every run of the grid (so that identical rows
    look identical), from `activation_limits`, with a density scale that a run of spikes
    (batch norm at batch 2, where every normalized value is +-1) cannot flatten: histories
    whose histograms (after step 0) peak above twice the median peak are left out of the
    scale (their panels say "peak above the scale")."""
    runs = {id(r): r for r in grid.values()}.values()
    histories = [r.modes[mode] for r in runs for mode in MODES]
    peaks = np.array([h.activations["pre_hist"][1:].max() for h in histories])
    ordinary = peaks <= 2 * np.median(peaks)
    shared = activation_limits([{"all": h} for h, keep in zip(histories, ordinary) if keep],
                               xlim=xlim)["all"]
    # the top of every ordinary histogram after step 0 (activation_limits takes step 0's
    # peak instead when it is within 1.5x of the later ones)
    shared["density"] = 1.05 * peaks[ordinary].max()
    return dict.fromkeys(MODES + (ONE_MODE,), shared)


def describe(run, grid):
    """The lines printed with a panel position: the run, both modes' accuracy, and the
    references (layer norm, the same method normalizing the whole SGD batch)."""
    b, label, m = run.norm_batch, run.label, run.momentum
    largest = max(key[0] for key in grid)
    state = ""
    if run.history.diverged:
        state = "DIVERGED: "
    elif run.eval_acc < BELOW:
        state = f"{BELOW_LABEL}: "
    name = f"{label}, normalization batch {b}" if label in RUNNING else label
    lines = [f"{state}{name}: {run.history.message()}",
             f"test accuracy: eval mode {run.eval_acc:.1%}, training mode "
             f"{run.train_acc:.1%}; predictions that differ between the modes: "
             f"{run.changed:.1%}"]
    if label in RUNNING:
        lines.append(f"for comparison, eval mode: {label} normalizing whole batches of "
                     f"{largest} {grid[(largest, label, m)].eval_acc:.1%}, layer norm "
                     f"{grid[(largest, 'layer norm', m)].eval_acc:.1%}")
    else:
        lines.append(f"{label} normalizes each example alone: the normalization batch and "
                     f"the BN momentum do not change this run")
    return "\n".join(lines)


def panel_histories(run):
    """The rows a panel position draws: {"training mode", "eval mode"} -> History for the
    methods with running statistics; for layer and group norm, whose two modes are one
    computation, the training-mode recording once, labelled ONE_MODE."""
    if run.label in RUNNING:
        return run.modes
    return {ONE_MODE: run.modes["training mode"]}


def small_batch_panel(grid, norm_batches, momenta, labels=LABELS, value=None, static=None,
                      xlim=(-5.0, 5.0), panel_id=None):
    """Normalization-batch slider, normalization selector and BN momentum slider over the
    runs of `small_batch_grid`: for the chosen run, the inputs to every hidden layer's sigmoid
    on a fixed probe, recorded in training mode (the probe in SGD batches, normalized as
    training normalized them) and in eval mode, on axes fixed across all positions. value:
    the starting (norm_batch, label, momentum); static: the positions of the saved picture."""
    value = value or (norm_batches[-1], labels[0], momenta[0])
    limits = _panel_limits(grid, xlim)

    def draw(norm_batch, normalization, momentum):
        run = grid[(norm_batch, normalization, momentum)]
        print(describe(run, grid))
        where = (f"normalization batch {norm_batch}, BN momentum {momentum}"
                 if normalization in RUNNING else "any normalization batch")
        state = f" ({BELOW_LABEL})" if run.eval_acc < BELOW else ""
        return draw_activation_grid(
            panel_histories(run), limits=limits, detached=True,
            title=f"{normalization}, {where}{state}: sigmoid inputs on a probe")

    normalization = widgets.ToggleButtons(options=list(labels), value=value[1],
                                          description="normalization",
                                          style={"description_width": "initial"})

    def same(norm_batch, normalization, momentum):   # layer/group norm: one run for all
        if normalization in RUNNING:
            return norm_batch, normalization, momentum
        return None, normalization, None

    return cached_panel(
        draw, panel_id=panel_id, same=same,
        static=[dict(zip(("norm_batch", "normalization", "momentum"), p))
                for p in (static or [value])],
        norm_batch=selection_slider(norm_batches, "normalization batch size", value=value[0]),
        normalization=normalization,
        momentum=selection_slider(momenta, "BN momentum", value=value[2]))
