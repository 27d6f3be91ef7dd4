"""Widgets: "precompute, then index". Real training runs are computed once (with a progress
bar), and so is the picture of every slider position: a slider release only shows a stored
PNG, so it answers at once.

Every panel is a `cached_panel`, an `ipywidgets.interactive`: its controls are
`children[:-1]`, its output is `children[-1]`, and `panel.figure()` draws the figure of the
current position afresh, which is what the tests check (and what a student can save).
Sliders update on release (continuous_update=False).
"""
import contextlib
import io
import itertools
import sys

import ipywidgets as widgets

from .plots import figure_png, new_figure, plot_histograms_over_time, show_message
from .training import History

BATCH_SIZES = (1, 4, 16, 60, 256, 1024)      # log-spaced; 60 is the BN paper's
MOMENTA = (0.0, 0.5, 0.9, 0.99)


def run_grid(run, batch_sizes=BATCH_SIZES, momenta=MOMENTA, progress="training runs"):
    """Call run(batch_size, momentum) once for every pair; return {(batch_size, momentum): r}.

    A progress bar counts the runs (progress=False hides it).
    """
    pairs = list(itertools.product(batch_sizes, momenta))
    if progress:
        from tqdm.auto import tqdm
        pairs = tqdm(pairs, desc=progress if isinstance(progress, str) else None, leave=False)
    return {(b, m): run(b, m) for b, m in pairs}


# Draw every slider position when a panel is built. Tests switch it off (positions are then
# drawn on first visit) so that building a panel stays cheap.
PRERENDER = True


def option_values(control):
    """The values a selection control can take, in order."""
    return [o[1] if isinstance(o, tuple) else o for o in control.options]


def cached_panel(draw, progress="drawing every slider position", **controls):
    """An `interactive` panel over draw(**values) -> Figure that draws each position once.

    draw must depend only on the control values; it may print (the text is kept with the
    picture) and must not display. With PRERENDER every combination of the controls' options
    is drawn now, behind a progress bar, so that a slider release only shows a stored PNG
    (milliseconds, where matplotlib takes a few hundred). panel.figure() draws the current
    position's Figure afresh.
    """
    names, cache = list(controls), {}

    def picture(values):
        key = tuple(values[name] for name in names)
        if key not in cache:
            text = io.StringIO()
            with contextlib.redirect_stdout(text):
                fig = draw(**values)
            cache[key] = (text.getvalue(), figure_png(fig))
        return cache[key]

    def show(**values):
        from IPython.display import Image, display
        text, png = picture(values)
        sys.stdout.write(text)
        display(Image(data=png, format="png"))

    if PRERENDER:
        positions = list(itertools.product(*(option_values(c) for c in controls.values())))
        if progress and len(positions) > 1:
            from tqdm.auto import tqdm
            positions = tqdm(positions, desc=progress, leave=False)
        for position in positions:
            picture(dict(zip(names, position)))
    panel = widgets.interactive(show, **controls)
    panel.figure = lambda: draw(**panel.kwargs)
    panel.pictures = cache
    return panel


def selection_slider(values, description, fmt="{}", value=None):
    """A discrete slider over `values` that fires only when released."""
    return widgets.SelectionSlider(
        options=[(fmt.format(v), v) for v in values], value=values[0] if value is None else value,
        description=description, continuous_update=False,
        style={"description_width": "initial"}, layout=widgets.Layout(width="420px"))


def draw_activation_grid(histories, kind="pre", layers=None, title=None, xlim=None,
                         detached=False):
    """One row per labelled History, one column per hidden layer: histograms early -> late.

    histories: {label: History with activations recorded, or a str saying why there is no
    run (e.g. batch norm with a batch of one)}. A run that diverged says so in its panels.
    Returns the figure.
    """
    first = next(h for h in histories.values() if not isinstance(h, str)).activations
    layers = range(first["pre_hist"].shape[1]) if layers is None else layers
    # fixed margins instead of constrained layout: the layout solver is ~40% of a redraw
    rows = len(histories)
    height = 2.0 * rows + 0.9                     # panels plus title and x-label space (inches)
    fig, axes = new_figure(rows, len(layers), width=3.2, height=height / rows,
                           sharex=True, sharey="row", layout="none", detached=detached)
    fig.subplots_adjust(left=0.08, right=0.99, bottom=0.5 / height, top=1 - 0.6 / height,
                        hspace=0.6, wspace=0.15)
    for row, (label, hist) in zip(axes, histories.items()):
        for ax, layer in zip(row, layers):
            if isinstance(hist, str):
                ax.set_title(f"{label}: hidden layer {layer + 1}")
                show_message(ax, hist)
                continue
            plot_histograms_over_time(ax, hist.activations, layer, kind=kind)
            ax.set_title(f"{label}: hidden layer {layer + 1}")
            if xlim:
                ax.set_xlim(*xlim)
            if hist.diverged:
                show_message(ax, f"diverged at step {hist.diverged['step']}")
        if not isinstance(hist, str):
            row[0].legend(loc="upper left")
            if xlim:
                _fit_y_to_visible(row, xlim)
    if title:
        fig.suptitle(title)
    return fig


def _fit_y_to_visible(row, xlim):
    """Scale a row's shared y axis to the curves inside xlim, so values piled into hidden end
    bins (outside xlim) do not flatten the visible curves."""
    tops = [line.get_ydata()[(line.get_xdata() >= xlim[0]) & (line.get_xdata() <= xlim[1])]
            .max(initial=0.0) for ax in row for line in ax.get_lines()]
    if max(tops, default=0.0) > 0:
        row[0].set_ylim(0, 1.05 * max(tops))


def activation_panel(runs, batch_sizes=BATCH_SIZES, momenta=MOMENTA, kind="pre",
                     momentum_name="SGD momentum", xlim=None, value=None, layers=None,
                     describe=None):
    """Batch-size and momentum sliders over per-layer activation distributions.

    runs: {(batch_size, momentum): {label: History}} from `run_grid`. value: initial
    (batch_size, momentum). layers: which hidden layers to draw (default all). describe:
    History -> str, the line printed per run (default History.message). Returns the
    `interactive` panel; display it in a notebook.
    """
    value = value or (batch_sizes[0], momenta[0])

    def draw(batch_size, momentum):
        histories = runs[(batch_size, momentum)]
        for label, hist in histories.items():
            text = hist if isinstance(hist, str) else (describe or History.message)(hist)
            print(f"{label}: {text}")
        return draw_activation_grid(
            histories, kind=kind, xlim=xlim, layers=layers, detached=True,
            title=f"Per-layer distributions, batch size {batch_size}, "
                  f"{momentum_name} {momentum} (colour: step, early to late)")

    return cached_panel(
        draw,
        batch_size=selection_slider(batch_sizes, "batch size", value=value[0]),
        momentum=selection_slider(momenta, momentum_name, value=value[1]))
