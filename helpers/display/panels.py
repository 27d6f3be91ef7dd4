"""Slider panels: "precompute, then index". Real training runs are computed once (with a progress
bar), and so is the picture of every slider position: a slider release only shows a stored
PNG, so it answers at once.

Every panel is a `cached_panel`, an `ipywidgets.interactive`: its controls are
`children[:-1]`, its output is `children[-1]`, and `panel.figure()` draws the figure of the
current position afresh, which is what the tests check (and what a student can save).
Sliders update on release (continuous_update=False).
"""
import base64
import contextlib
import io
import itertools
import sys
import textwrap
import time

import ipywidgets as widgets
import PIL.Image
from matplotlib.figure import Figure

from ..progress import progress_bar
from ..training import History
from .export import PANEL_KEY, check_panel_id, export_pictures
from .figures import activation_limits, draw_activation_grid
from .style import DPI, figure_png, png_bytes, shown_width

BATCH_SIZES = (1, 4, 16, 60, 256, 1024)      # log-spaced; 60 is the BN paper's
MOMENTA = (0.0, 0.5, 0.9, 0.99)


def run_positions(run, batch_sizes=BATCH_SIZES, momenta=MOMENTA, progress="training runs",
                  modes=None):
    """Call run(batch_size, momentum) once for every slider position of an `activation_panel`;
    return {(batch_size, momentum): result}. With modes (the options of the panel's third
    control), call run(batch_size, momentum, mode) and key by (batch_size, momentum, mode).
    A progress bar counts the runs (progress=False hides it)."""
    keys = itertools.product(batch_sizes, momenta, *([modes] if modes else []))
    return {key: run(*key) for key in progress_bar(list(keys), progress)}


# Draw every slider position when a panel is built. Tests switch it off (positions are then
# drawn on first visit) so that building a panel stays cheap.
PRERENDER = True
# Seconds this kernel has spent drawing panel pictures (the benchmark splits a lesson's run
# time into drawing and the rest with it).
DRAWING_SECONDS = [0.0]

def option_values(control):
    """The values a selection control can take, in order."""
    return [o[1] if isinstance(o, tuple) else o for o in control.options]


def cached_panel(draw, panel_id=None, progress="drawing every slider position", static=None,
                 same=None, **controls):
    """An `interactive` panel over draw(**values) -> Figure that draws each position once.

    draw must depend only on the control values; it may print (the text is kept with the
    picture) and must not display. With PRERENDER every combination of the controls' options
    is drawn now, behind a progress bar, so that a slider release only shows a stored PNG
    (milliseconds, where matplotlib takes a few hundred). panel.figure() draws the current
    position's Figure afresh.

    static: the positions (dicts of control values) shown, one under the other, in the
    panel's static picture (default: the starting position). A notebook saves that picture
    with the panel, for readers without a kernel (GitHub shows it; JupyterLab shows the
    live panel instead).

    same: optional same(**values) -> key, equal for positions that draw the same picture (a
    control that does not apply to some runs), so such positions are drawn once.

    panel_id: the panel's name on the course website ("03-activations", unique in the
    course): displayed in a kernel running the whole lesson, the panel writes its pictures to
    build/panels/<panel_id>/ (`export`). None: the panel is not on the website.
    """
    check_panel_id(panel_id)
    names, cache = list(controls), {}

    def key_of(values):
        return same(**values) if same else tuple(values[name] for name in names)

    def picture(values):
        key = key_of(values)
        if key not in cache:
            start = time.perf_counter()
            text = io.StringIO()
            with contextlib.redirect_stdout(text):
                fig = draw(**values)
            cache[key] = (text.getvalue(), figure_png(fig))
            DRAWING_SECONDS[0] += time.perf_counter() - start
        return cache[key]

    def show(**values):
        from IPython.display import Image, display
        text, png = picture(values)
        sys.stdout.write(text)
        display(Image(data=png, format="png", width=shown_width(png)))

    if PRERENDER:
        positions = list(itertools.product(*(option_values(c) for c in controls.values())))
        for position in progress_bar(positions, progress if len(positions) > 1 else False):
            picture(dict(zip(names, position)))
    panel = widgets.interactive(show, **controls)
    panel.figure = lambda: draw(**panel.kwargs)
    panel.pictures = cache
    start = dict(panel.kwargs)
    panel.static_positions = [dict(start, **p) for p in (static or [{}])]

    def static_picture():
        shots = []
        for values in panel.static_positions:
            text, png = picture(values)
            label = ", ".join(f"{controls[n].description} {values[n]}" for n in names)
            shots.append((label, text, png))
        return compose_static(shots)

    panel.static_picture = static_picture
    exported = []

    def mimebundle(**kwargs):
        data = widgets.DOMWidget._repr_mimebundle_(panel, **kwargs)
        png = static_picture()
        data["image/png"] = base64.b64encode(png).decode("ascii")
        metadata = {"image/png": {"width": shown_width(png)}}
        if not exported:
            values = [option_values(c) for c in controls.values()]
            exported.append(export_pictures(panel_id, controls, values, start, key_of, cache))
        if exported[0]:
            metadata[PANEL_KEY] = exported[0]
        return data, metadata

    panel._repr_mimebundle_ = mimebundle
    return panel


STATIC_NOTE = ("Pre-drawn positions of this panel, from the lesson's own runs.\n"
               "Moving the sliders needs a running kernel: Binder, or make lab on your machine.")


def compose_static(shots, note=STATIC_NOTE):
    """One PNG: a note, then for each (label, printed text, png) a caption and the picture,
    one under the other at full resolution (drawn at DPI; the pHYs chunk records it)."""
    pictures = [PIL.Image.open(io.BytesIO(png)).convert("RGB") for _, _, png in shots]
    width = max(max(p.width for p in pictures), 8 * DPI)
    strips = [_text_png(note, width, bold=True)]
    for (label, text, _), pic in zip(shots, pictures):
        caption = [f"Position: {label}"] + text.strip().splitlines()
        strips += [_text_png("\n".join(caption), width), pic]
    canvas = PIL.Image.new("RGB", (width, sum(s.height for s in strips)), "white")
    top = 0
    for strip in strips:
        canvas.paste(strip, (0, top))
        top += strip.height
    return png_bytes(canvas, DPI, saved=True)


def _text_png(text, width, bold=False):
    """Lines of text rendered as a white strip `width` pixels wide at DPI (10 pt); a line
    longer than the strip (about 0.08 inch per character) wraps."""
    chars = int(width / DPI / 0.08)
    lines = [part for line in text.splitlines() for part in textwrap.wrap(line, chars) or [""]]
    lines = lines or [""]
    fig = Figure(figsize=(width / DPI, 0.1 + 0.19 * len(lines)), dpi=DPI)
    fig.text(0.01, 0.5, "\n".join(lines), ha="left", va="center", fontsize=10,
             fontweight="bold" if bold else "normal", linespacing=1.3)
    png = figure_png(fig)
    return PIL.Image.open(io.BytesIO(png)).convert("RGB")


def selection_slider(values, description, fmt="{}", value=None):
    """A discrete slider over `values` that fires only when released."""
    return widgets.SelectionSlider(
        options=[(fmt.format(v), v) for v in values], value=values[0] if value is None else value,
        description=description, continuous_update=False,
        style={"description_width": "initial"}, layout=widgets.Layout(width="420px"))


def run_summary(history, width=110):
    """What a panel prints with a run: `History.message`; for a diverged run first how much it
    trained and its test accuracy at the end (if it was evaluated there), then the
    divergence, wrapped at `width` characters."""
    if not history.diverged:
        return history.message()
    examples = history.examples_seen[-1] if history.examples_seen else 0
    evaluated = history.test_acc and history.eval_steps[-1] == history.num_steps
    work = (f"{history.num_steps} steps = {examples / history.config['n']:.3g} epochs "
            f"({examples:,} examples)" +
            (f", test accuracy {history.test_acc[-1]:.1%}" if evaluated else ""))
    return "\n".join([work] + textwrap.wrap(history.message(), width))


def activation_panel(runs, batch_sizes=BATCH_SIZES, momenta=MOMENTA, kind="pre",
                     momentum_name="SGD momentum", xlim=None, value=None, layers=None,
                     describe=None, static=None, modes=None, mode_name="compare", limits=None,
                     x="step", drift=False, panel_id=None):
    """Batch-size and momentum sliders over per-layer activation distributions.

    runs: {(batch_size, momentum): {label: History}} from `run_positions`. value: initial
    (batch_size, momentum). layers: which hidden layers to draw (default all). describe:
    History -> str, the line printed per run (default History.message). Every position is
    drawn on the same axes, fixed from all healthy runs (see `activation_limits`), so two
    positions compare by eye. static: the (batch_size, momentum) positions of the static
    picture saved for readers without a kernel (default: the starting one). Returns the
    `interactive` panel; display it in a notebook.
    modes: the options of a third control, named mode_name (e.g. "equal steps", "equal
    examples"); runs, value and static are then keyed (batch_size, momentum, mode).
    limits: {label: limits} as `activation_limits` returns them, drawn with instead of the
    computed ones (e.g. to fix the range of the per-unit row). x: what the per-unit row's
    axis counts, "step" or "examples" (with modes: a dict mode -> "step" or "examples").
    drift=True: the per-unit panels give each layer's drift (see `draw_activation_grid`).
    panel_id: the panel's name on the course website (see `cached_panel`).
    """
    value = value or (batch_sizes[0], momenta[0], *(modes[:1] if modes else ()))
    limits = limits or activation_limits([runs[key] for key in runs], kind, xlim=xlim)

    def draw(batch_size, momentum, mode=None):
        histories = runs[(batch_size, momentum, mode) if modes else (batch_size, momentum)]
        for label, hist in histories.items():
            text = hist if isinstance(hist, str) else (describe or History.message)(hist)
            print(f"{label}: {text}")
        what = (f", {mode}: inputs to the nonlinearity (colour: step, early to late)" if modes
                else ": inputs to the nonlinearity (colour: step, early to late; axes fixed)")
        return draw_activation_grid(
            histories, kind=kind, layers=layers, limits=limits, detached=True,
            x=x.get(mode, "step") if isinstance(x, dict) else x, drift=drift,
            title=f"Batch size {batch_size}, {momentum_name} {momentum}{what}")

    controls = dict(batch_size=selection_slider(batch_sizes, "batch size", value=value[0]),
                    momentum=selection_slider(momenta, momentum_name, value=value[1]))
    if modes:
        controls["mode"] = widgets.ToggleButtons(options=list(modes), value=value[2],
                                                 description=mode_name)
    return cached_panel(draw, panel_id=panel_id,
                        static=[dict(zip(controls, p)) for p in (static or [value])], **controls)
