"""The course style, checked where it is applied: colours from the colour-blind-safe palette
(or greys, or the viridis family), pictures drawn at >= 110 dpi and shown at a fixed width."""
import io
import json
import re
from pathlib import Path

import matplotlib
import PIL.Image
import pytest

from helpers.display import style

ROOT = Path(__file__).resolve().parent.parent
VIRIDIS_FAMILY = {"viridis", "cividis", "magma", "inferno", "plasma"}
GREY_MAPS = {"gray", "Greys", "binary"}          # for pictures of digits
GREY_NAMES = {"black", "white", "gray", "grey", "k", "w", "none"}
HEX = re.compile(r"#[0-9A-Fa-f]{6}\b")
NAMED = re.compile(r"\b(?:color|colors|c|fc|ec|facecolor|edgecolor|mfc|mec)\s*=\s*"
                   r"[\"']([^\"']+)[\"']")
CMAP = re.compile(r"(?:cmap\s*=\s*|get_cmap\()[\"']([^\"']+)[\"']")


def sources():
    """(where, code) for every module of helpers and every notebook code cell."""
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        yield str(path.relative_to(ROOT)), path.read_text()
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                yield f"{path.relative_to(ROOT)} cell {i}", "".join(cell["source"])


def allowed(colour):
    c = colour.strip()
    if c.upper() in {p.upper() for p in style.PALETTE} or c in GREY_NAMES:
        return True
    if re.fullmatch(r"C[0-9]", c):                  # the colour cycle, which is the palette
        return True
    if re.fullmatch(r"[01]?\.\d+|[01]", c):          # a grey level
        return True
    if HEX.fullmatch(c):
        r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
        return r == g == b                           # a grey
    return False


def test_every_colour_comes_from_the_palette_greys_or_viridis():
    bad = []
    for where, code in sources():
        for colour in HEX.findall(code) + NAMED.findall(code):
            if not allowed(colour):
                bad.append(f"{where}: {colour}")
        for cmap in CMAP.findall(code):
            if cmap.removesuffix("_r") not in VIRIDIS_FAMILY | GREY_MAPS:
                bad.append(f"{where}: cmap {cmap}")
    assert not bad, "colours outside the course palette: " + "; ".join(bad)


def test_the_check_itself_catches_an_off_palette_colour():
    assert not allowed("red") and not allowed("#FF0000") and not allowed("tab:blue")
    assert allowed("#0072B2") and allowed("0.6") and allowed("#999999") and allowed("black")


def test_the_style_draws_sharp_text_of_at_least_9_points():
    style.use_style()
    rc = matplotlib.rcParams
    assert style.DPI >= 110 and rc["figure.dpi"] == style.DPI and rc["savefig.dpi"] == style.DPI
    sizes = [rc[k] for k in ("axes.titlesize", "axes.labelsize", "legend.fontsize",
                             "xtick.labelsize", "ytick.labelsize", "font.size")]
    assert min(float(s) for s in sizes) >= 9


def test_figure_png_records_its_dpi_and_is_shown_at_screen_width():
    fig, _ = style.new_figure(1, 1, width=4.0, height=3.0, detached=True)
    png = style.figure_png(fig)
    image = PIL.Image.open(io.BytesIO(png))
    assert image.size == (4 * style.DPI, 3 * style.DPI)
    assert image.info["dpi"] == pytest.approx((style.DPI, style.DPI), abs=0.5)
    assert style.shown_width(png) == 4 * style.SCREEN_DPI


def test_inline_figures_are_drawn_at_dpi_and_shown_at_screen_width():
    fig, axes = style.new_figure(1, 1, width=4.0, height=3.0)
    axes[0, 0].plot([0, 1])
    png, meta = style._inline_png(fig)
    image = PIL.Image.open(io.BytesIO(png))
    assert image.info["dpi"] == pytest.approx((style.DPI, style.DPI), abs=0.5)
    assert meta["width"] == round(image.width * style.SCREEN_DPI / style.DPI)


def test_no_text_below_9_points_in_the_course_code():
    small = re.compile(r"\b(?:fontsize|labelsize)\s*=\s*([0-8](?:\.\d+)?)\b")
    bad = [f"{where}: {m.group(0)}" for where, code in sources() for m in small.finditer(code)]
    assert not bad, "text under 9 pt: " + "; ".join(bad)
