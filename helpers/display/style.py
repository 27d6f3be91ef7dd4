"""The course style: colours, figure sizes, one-pass PNG rendering, and the setup every
lesson runs first.

Colours are the Okabe-Ito palette, which stays distinguishable with the common forms of
colour blindness; time (early -> late) is viridis.
"""
import io
import os

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Okabe & Ito (2008), "Color Universal Design"
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]
COLORS = {"plain": "#0072B2", "batchnorm": "#D55E00", "noisy": "#009E73",
          "full-batch": "#000000", "stochastic": "#E69F00", "mini-batch": "#0072B2"}
TIME_CMAP = "viridis"   # early -> late checkpoints; perceptually uniform and colour-blind safe

# Pictures are drawn at DPI pixels per inch (the PNG's pHYs chunk records it) and shown at
# SCREEN_DPI (the width in the output's metadata): 1.5 pixels per shown pixel, sharp on a
# laptop's high-density screen, and no bigger on the page than at SCREEN_DPI.
DPI = 120
SCREEN_DPI = 80

STYLE = {
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9, "legend.frameon": False,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "font.size": 10,
    "figure.dpi": DPI, "savefig.dpi": DPI,
    "figure.constrained_layout.use": True, "image.cmap": TIME_CMAP,
}


def use_style():
    """Apply the course style to matplotlib (setup() calls it; so does importing this module)."""
    mpl.rcParams.update(STYLE)


use_style()


def new_figure(nrows=1, ncols=1, width=4.0, height=3.0, detached=False, **kwargs):
    """A figure of nrows x ncols panels, each about width x height inches; returns (fig, axes).

    detached=True: a figure pyplot does not track, for slider panels (`panels.cached_panel`
    renders it with `figure_png`). pyplot shows and closes the figures it tracks whenever the
    inline backend flushes (at the end of a cell, and in kernels that handle widget messages
    on other threads, such as ipykernel 7's subshells, at any moment); a detached figure is
    never touched by that, whatever the kernel.
    """
    figsize = (width * ncols, height * nrows)
    if not detached:
        return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kwargs)
    fig = Figure(figsize=figsize, layout=kwargs.pop("layout", None))
    # titles at a fixed height: matplotlib otherwise moves each title clear of any top-side
    # tick labels (widget figures have none), which is a quarter of a redraw
    with mpl.rc_context({"axes.titley": 1.0}):
        return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def figure_png(fig):
    """Render a figure to PNG bytes in one Agg pass, at the figure's dpi (recorded in the PNG).

    IPython's inline backend draws a figure twice (once more to find the tight bounding box);
    widget figures have fixed margins, so one pass gives the same picture for about two
    thirds of the cost. Light compression: a few kB more, a few ms less.
    """
    canvas = FigureCanvasAgg(fig)        # detached figures have no canvas that can render
    canvas.draw()
    return png_bytes(PIL.Image.frombuffer("RGBA", canvas.get_width_height(),
                                          canvas.buffer_rgba()), fig.dpi)


def png_bytes(image, dpi, saved=False):
    """A PIL image as PNG bytes whose pHYs chunk records `dpi`.

    saved=True: the picture is kept in a saved notebook, so size matters more than a few ms:
    reduced to 256 colours (a plot has far fewer; anti-aliased edges lose a little) and
    compressed fully, about 2.5x smaller.
    """
    buffer = io.BytesIO()
    if saved:
        image = image.convert("RGB").quantize(256, method=PIL.Image.Quantize.MEDIANCUT,
                                              dither=PIL.Image.Dither.NONE)
    image.save(buffer, format="png", compress_level=9 if saved else 1, dpi=(dpi, dpi))
    return buffer.getvalue()


def shown_width(png, dpi=DPI):
    """The width (CSS pixels) at which a PNG drawn at `dpi` is shown: SCREEN_DPI per inch."""
    return round(PIL.Image.open(io.BytesIO(png)).width * SCREEN_DPI / dpi)


def _inline_png(fig):
    """The notebook's picture of a pyplot figure: drawn at DPI with a tight bounding box (as
    IPython's inline backend does), shown at SCREEN_DPI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    png = png_bytes(PIL.Image.open(buffer), DPI, saved=True)
    return png, {"width": shown_width(png)}


def show_message(ax, text, color="#D55E00"):
    """Write a message across a panel (for a diverged run, or a setting with nothing to show)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", wrap=True,
            fontsize=10, color=color, bbox=dict(boxstyle="round", fc="white", ec=color))



def setup():
    """What every lesson's first cell calls: the course style, and one line of versions.

    The BLAS thread count must be set before numpy is first imported, so the lesson's first
    line sets OPENBLAS_NUM_THREADS; this reports what is in force.
    """
    from importlib.metadata import version

    import ipywidgets
    from IPython import get_ipython
    use_style()
    shell = get_ipython()
    if shell is not None:
        mpl.get_backend()            # resolve the inline backend now, so that its own PNG
        plt.figure().clear()         # formatter is installed before ours replaces it
        plt.close("all")
        shell.display_formatter.formatters["image/png"].for_type(Figure, _inline_png)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "all cores")
    print(f"numpy {np.__version__} | matplotlib {mpl.__version__} | ipywidgets "
          f"{ipywidgets.__version__} | helpers {version('bn-course-helpers')} | "
          f"BLAS threads: {threads}")
