"""Slider panels: "precompute, then index". Real training runs are computed once (with a progress
bar), and so is the picture of every slider position: a slider release only shows a stored
PNG, so it answers at once.

Every panel is a `cached_panel`, an `ipywidgets.interactive`: its controls are
`children[:-1]`, its output is `children[-1]`, and `panel.figure()` draws the figure of the
current position afresh, which is what the tests check (and what a student can save).
Sliders update on release (continuous_update=False).
"""
import base64
import collections
import contextlib
import hashlib
import io
import itertools
import json
import linecache
import os
import shutil
import sys
import textwrap
import time
from pathlib import Path

import ipywidgets as widgets
import PIL.Image
from matplotlib.figure import Figure

from ..progress import progress_bar
from ..training import History
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

# The course website (tools/build_site.py) shows each panel as a viewer over its pictures: a
# panel displayed in a kernel running a lesson (see `panels_dir`) writes the pictures it has
# already drawn (as they are, no re-encoding) and what each position printed to
# PANELS_DIR/<panel id>/, and its saved output carries the id in its metadata under PANEL_KEY.
# The environment variable BN_COURSE_PANELS overrides the directory ("" writes none).
PANELS_DIR = Path(__file__).resolve().parents[2] / "build" / "panels"
PANEL_KEY = "bn_course_panel"
_PANEL_IDS = collections.Counter()       # panels with the same content hash, in this kernel


def option_values(control):
    """The values a selection control can take, in order."""
    return [o[1] if isinstance(o, tuple) else o for o in control.options]


def cached_panel(draw, progress="drawing every slider position", static=None, same=None,
                 **controls):
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
    """
    names, cache = list(controls), {}
    origin = _origin()

    def picture(values):
        key = same(**values) if same else tuple(values[name] for name in names)
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

    def key_of(values):
        return same(**values) if same else tuple(values[name] for name in names)

    exported = []

    def mimebundle(**kwargs):
        data = widgets.DOMWidget._repr_mimebundle_(panel, **kwargs)
        png = static_picture()
        data["image/png"] = base64.b64encode(png).decode("ascii")
        metadata = {"image/png": {"width": shown_width(png)}}
        if not exported:
            exported.append(export_pictures(draw, origin, controls, start, key_of, cache))
        if exported[0]:
            metadata[PANEL_KEY] = exported[0]
        return data, metadata

    panel._repr_mimebundle_ = mimebundle
    return panel


def _origin():
    """Where a panel comes from (part of its id): the innermost helpers.lessons module calling,
    and a hash of the source of the notebook cell that made it (the innermost __main__ frame;
    IPython keeps cell sources in linecache), so that two lessons' panels with the same
    controls get different ids while a re-run of a lesson gets the same ones."""
    lesson, cell = "", ""
    frame = sys._getframe(1)
    while frame is not None and not (lesson and cell):
        name = frame.f_globals.get("__name__", "")
        if not lesson and name.startswith("helpers.lessons"):
            lesson = name
        if not cell and name == "__main__":
            source = "".join(linecache.getlines(frame.f_code.co_filename))
            cell = hashlib.sha256(source.encode()).hexdigest()[:12] if source else ""
        frame = frame.f_back
    return f"{lesson}:{cell}"


def panels_dir():
    """Where displayed panels write their pictures (None: nowhere). Only in a kernel that runs
    a whole lesson (`make notebooks`, nbval, nbclient): not in the tests (no kernel), and not
    in JupyterLab (its kernels have JPY_SESSION_NAME), where a student re-running cells would
    only fill the disk with pictures no site uses."""
    if "JPY_SESSION_NAME" in os.environ:
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    path = os.environ.get("BN_COURSE_PANELS")
    if path is None:
        return PANELS_DIR if (PANELS_DIR.parents[1] / "pyproject.toml").exists() else None
    return Path(path) if path else None


def export_pictures(draw, origin, controls, start, key_of, cache):
    """Write a panel's pictures (the PNG bytes drawn, as they are) and `panel.json` (its
    controls: name, description, option labels, kind, default index; per position the picture
    and the printed text) to panels_dir()/<id>/.

    The id is a hash of where the panel was made (`_origin`: lesson module, notebook cell),
    draw's qualified name and the controls, plus how many panels with that hash this kernel
    displayed before, so a re-run of a lesson gives the same ids. Returns {"id": id, "texts":
    a hash of every position's printed text} (the site builder compares the saved output's
    with the pictures' to notice pictures from another run), or None when nothing was written
    (no directory, a position not drawn yet, a failed write)."""
    directory = panels_dir()
    if directory is None:
        return None
    names = list(controls)
    values = [option_values(c) for c in controls.values()]
    positions = list(itertools.product(*(range(len(v)) for v in values)))
    keys = [key_of({n: v[i] for n, v, i in zip(names, values, p)}) for p in positions]
    if any(key not in cache for key in keys):
        return None
    described = [{"name": n, "description": c.description,
                  "labels": [o[0] if isinstance(o, tuple) else str(o) for o in c.options],
                  "kind": "slider" if isinstance(c, widgets.SelectionSlider) else "select",
                  "default": v.index(start[n])}
                 for (n, c), v in zip(controls.items(), values)]
    content = json.dumps([origin, f"{draw.__module__}.{draw.__qualname__}", described])
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    panel_id = f"{digest}-{_PANEL_IDS[digest]}"
    _PANEL_IDS[digest] += 1
    files = {}                                   # cache key -> picture index
    for key in keys:
        files.setdefault(key, len(files))
    texts = hashlib.sha256(json.dumps([cache[key][0] for key in keys]).encode()).hexdigest()
    manifest = {"id": panel_id, "texts": texts[:12], "origin": origin, "draw": draw.__qualname__,
                "controls": described,
                "pictures": [{"file": f"{i}.png", "text": cache[key][0]}
                             for key, i in files.items()],
                "positions": {",".join(map(str, p)): files[key]
                              for p, key in zip(positions, keys)}}
    final = directory / panel_id
    tmp = directory / f".{panel_id}.{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for key, i in files.items():
            (tmp / f"{i}.png").write_bytes(cache[key][1])
        (tmp / "panel.json").write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
    except OSError:                 # e.g. a read-only checkout: the lesson runs on regardless
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / "panel.json").exists():
            return None
    return {"id": panel_id, "texts": texts[:12]}


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
                     x="step", drift=False):
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
    return cached_panel(draw, static=[dict(zip(controls, p)) for p in (static or [value])],
                        **controls)
