"""The shared widget panel: sliders show real runs, each position drawn once, on figures pyplot
does not track (with ipykernel 7's subshells, JupyterLab flushes pyplot's figures while a
callback draws: blank plots; the course pins ipykernel<7, and detached figures keep the panels
safe if the pin is lifted)."""
import io
import json
import re
from pathlib import Path

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import PIL.Image

import helpers.display.panels
from helpers import make_mlp, train
from helpers.display.panels import activation_panel, cached_panel, run_positions, selection_slider
from helpers.display.style import figure_png, new_figure

ROOT = Path(__file__).resolve().parent.parent


def _runs():
    rng = np.random.default_rng(0)
    X, y = rng.random((200, 20)), rng.integers(0, 3, size=200)

    def run(batch_size, momentum):
        out = {"plain": train(make_mlp((20, 8, 8, 3), seed=0), X, y, batch_size=batch_size,
                              lr=0.5, momentum=momentum, num_steps=20, record_every=10,
                              eval_every=0)}
        out["batch norm"] = ("batch norm needs a batch of 2 or more" if batch_size == 1 else
                             train(make_mlp((20, 8, 8, 3), batchnorm=True, seed=0), X, y,
                                   batch_size=batch_size, lr=0.5, momentum=momentum,
                                   num_steps=20, record_every=10, eval_every=0))
        return out
    return run_positions(run, (1, 50), (0.0, 0.9), progress=False)


def test_sliders_redraw_without_pyplot_figures(capsys):
    plt.close("all")
    panel = activation_panel(_runs(), (1, 50), (0.0, 0.9), value=(50, 0.0))
    batch_size, momentum = panel.children[:-1]
    first = panel.figure().axes[0].get_lines()[-1].get_ydata().copy()
    momentum.value = 0.9
    second = panel.figure().axes[0].get_lines()[-1].get_ydata()
    assert not np.array_equal(first, second)
    batch_size.value = 1                       # the extreme: a message, no exception
    assert "batch norm needs a batch of 2 or more" in capsys.readouterr().out
    texts = [t.get_text() for ax in panel.figure().axes for t in ax.texts]
    assert "batch norm needs a batch of 2 or more" in texts
    assert plt.get_fignums() == []             # nothing pyplot could flush half-drawn


def _counting_panel(calls):
    def draw(size, colour):
        calls.append((size, colour))
        print(f"size {size}, colour {colour}")
        fig, axes = new_figure(detached=True)
        axes[0, 0].plot([0, 1], [0, size], color=colour)
        return fig
    return cached_panel(draw, progress=False, size=selection_slider((1, 2, 3), "size"),
                        colour=ipywidgets.Dropdown(options=["red", "blue"], value="blue"))


def test_every_position_is_drawn_when_the_panel_is_built(monkeypatch, capsys):
    monkeypatch.setattr(helpers.display.panels, "PRERENDER", True)
    calls = []
    panel = _counting_panel(calls)
    assert sorted(calls) == [(s, c) for s in (1, 2, 3) for c in ("blue", "red")]
    assert set(panel.pictures) == set(calls)
    size, colour = panel.children[:-1]
    size.value, colour.value = 3, "red"
    assert len(calls) == 6                           # slider moves only show stored pictures
    printed = capsys.readouterr().out.splitlines()     # outside a kernel: text, then Image
    assert printed[-2].endswith("size 3, colour red")  # the text comes with the picture
    text, png = panel.pictures[(3, "red")]
    assert text == "size 3, colour red\n"
    assert png == figure_png(panel.figure())         # the stored picture is this position's


def test_positions_are_drawn_on_first_visit_without_prerender():
    calls = []
    panel = _counting_panel(calls)
    assert calls == [(1, "blue")]                    # the initial position only
    size = panel.children[0]
    for value in (2, 1, 2):
        size.value = value
    assert calls == [(1, "blue"), (2, "blue")]


def test_figure_png_is_one_full_size_picture():
    fig, axes = new_figure(1, 2, width=3.0, height=2.0, detached=True)
    axes[0, 0].plot([0, 1], [0, 1])
    image = PIL.Image.open(io.BytesIO(figure_png(fig)))
    assert image.format == "PNG"
    assert image.size == (round(6.0 * fig.dpi), round(2.0 * fig.dpi))
    pixels = np.asarray(image.convert("L"))
    assert (pixels < 128).mean() > 0.001               # ink: not a blank picture


def test_every_slider_panel_is_a_cached_panel():
    """Panels built with ipywidgets' interact/interactive directly would draw on every slider
    move (a few hundred ms) instead of showing a stored picture: only cached_panel may."""
    direct = re.compile(r"\binteract(ive|_manual)?\s*\(")
    home = ROOT / "helpers" / "display" / "panels.py"          # where cached_panel builds one
    sources = {p: p.read_text() for p in (ROOT / "helpers").rglob("*.py") if p != home}
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        sources[nb] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert direct.search(home.read_text())                     # the pattern finds a real one
    offenders = [str(p.relative_to(ROOT)) for p, text in sources.items() if direct.search(text)]
    assert offenders == []
    scanned = {p.relative_to(ROOT).as_posix() for p in sources}
    assert {"helpers/lessons/lesson1_figures.py", "notebooks/01_gradient_descent.ipynb"} <= scanned


def _fake_run(first, later, end_bin=0.0):
    """A run whose recorded histograms peak at `first` (step 0) and `later` (step 10), with
    `end_bin` in the last bin at step 10 (the values beyond the range, as a saturated layer)."""
    from types import SimpleNamespace
    bins = np.linspace(-1, 1, 5)
    hist = np.zeros((2, 1, 4))
    hist[0, 0, 1], hist[1, 0, 2], hist[1, 0, 3] = first, later, end_bin
    pct = np.zeros((2, 1, 5))
    return SimpleNamespace(examples_seen=[10], diverged=False, activations={
        "steps": [0, 10], "pre_bins": bins, "pre_hist": hist,
        "pre_pct": np.tile([-1.0, 1.0], (2, 1, 1)), "unit_pct": [pct]})


def test_shared_density_axis_fits_every_later_curve_and_clips_only_a_far_taller_step_0():
    from helpers.display.figures import activation_limits
    # step 0 a little shorter than a later curve in another run: the later curve sets the top
    limits = activation_limits([{"run": _fake_run(2.0, 1.0)}, {"run": _fake_run(1.0, 3.0)}],
                               units=(0,), xlim=(-1, 1))
    assert limits["run"]["density"] == 1.05 * 3.0
    # step 0 ten times taller than anything later: clipped, the later curves fill the axis
    limits = activation_limits([{"run": _fake_run(10.0, 1.0)}], units=(0,), xlim=(-1, 1))
    assert limits["run"]["density"] == 1.05 * 1.0
    # a saturated run's pile-up in an end bin does not set the top either
    limits = activation_limits([{"run": _fake_run(1.0, 1.0)}, {"run": _fake_run(1.0, 1.0, 16.0)}],
                               units=(0,), xlim=(-1, 1))
    assert limits["run"]["density"] == 1.05 * 1.0


def test_saved_pictures_are_quantized_and_keep_their_dpi():
    from helpers.display.panels import compose_static
    from helpers.display.style import DPI
    fig, axes = new_figure(1, 1, width=4.0, height=3.0, detached=True)
    axes[0, 0].imshow(np.random.default_rng(0).random((50, 50)), cmap="viridis")
    png = figure_png(fig)
    saved = compose_static([("batch size 8", "test accuracy 90%", png)])
    image = PIL.Image.open(io.BytesIO(saved))
    assert image.mode == "P" and len(image.getcolors()) <= 256
    assert image.info["dpi"] == (DPI, DPI) or abs(image.info["dpi"][0] - DPI) < 0.5
    assert len(saved) < len(png)
