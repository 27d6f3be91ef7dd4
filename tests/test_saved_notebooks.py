"""What a reader without a kernel sees: every saved notebook, as GitHub would show it.

Each slider panel leaves a static picture in its own output; no progress bar is saved short
of 100%; every saved picture records >= 110 dpi; each notebook stays under 3 MB.
"""
import base64
import io
import json
import re
from pathlib import Path

import PIL.Image
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"
UNFINISHED_BAR = re.compile(r"(?<!\d)\d{1,2}%\|")     # tqdm's "37%|####  |"


def outputs(nb):
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            yield i, out


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def notebook(request):
    return request.param, json.loads(request.param.read_text())


def test_every_slider_panel_leaves_a_static_picture(notebook):
    path, nb = notebook
    bare = [i for i, out in outputs(nb)
            if str(out.get("data", {}).get("text/plain", "")).startswith("interactive(")
            and "image/png" not in out.get("data", {})]
    assert not bare, f"{path.name}: panels without a static picture in cells {bare}"


def test_no_progress_bar_is_saved_unfinished(notebook):
    path, nb = notebook
    unfinished = []
    for i, out in outputs(nb):
        text = "".join(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
        if UNFINISHED_BAR.search(text) or (WIDGET in out.get("data", {}) and
                                           "IntProgress" in text):
            unfinished.append(i)
    state = nb.get("metadata", {}).get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    bars = [m for m in state.values() if m.get("model_name") in ("IntProgressModel",
                                                               "FloatProgressModel")
            and m.get("state", {}).get("value") != m.get("state", {}).get("max")]
    assert not unfinished and not bars, \
        f"{path.name}: progress bars saved short of 100% (cells {unfinished}, {len(bars)} in state)"


def test_every_saved_picture_is_drawn_at_110_dpi_or_more(notebook):
    path, nb = notebook
    low = []
    for i, out in outputs(nb):
        png = out.get("data", {}).get("image/png")
        if png:
            dpi = PIL.Image.open(io.BytesIO(base64.b64decode(png))).info.get("dpi", (0, 0))[0]
            if dpi < 109.5:
                low.append((i, round(dpi)))
    assert not low, f"{path.name}: pictures under 110 dpi (cell, dpi): {low}"


def test_each_saved_notebook_is_under_3_mb(notebook):
    path, _ = notebook
    assert path.stat().st_size < 3_000_000, f"{path.name}: {path.stat().st_size:,} bytes"
