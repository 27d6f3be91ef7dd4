"""The course website's copy of a slider panel: its pictures and what each position printed.

The website (tools/build_site.py) shows each panel as a viewer over its pictures. A panel
displayed in a kernel that runs a whole lesson (see `panels_dir`) writes the pictures it has
already drawn (as they are, no re-encoding) and `panel.json` to PANELS_DIR/<panel id>/, and
its saved output carries {"id", "texts"} in its metadata under PANEL_KEY. The id is the one
the lesson gives the panel (`cached_panel(..., panel_id="03-activations")`): nothing is
guessed from where the panel was made.
"""
import hashlib
import itertools
import json
import os
import re
import shutil
from pathlib import Path

import ipywidgets as widgets

PANELS_DIR = Path(__file__).resolve().parents[2] / "build" / "panels"
PANEL_KEY = "bn_course_panel"
PANEL_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def check_panel_id(panel_id):
    """Raise unless panel_id is None or a name the website can use as a folder
    ("03-activations": lower-case letters, digits and hyphens)."""
    if panel_id is not None and not (isinstance(panel_id, str) and PANEL_ID.match(panel_id)):
        raise ValueError(f"panel_id must be lower-case letters, digits and hyphens, such as "
                         f"'03-activations' (or None: not on the website), got {panel_id!r}")


def panels_dir():
    """Where displayed panels write their pictures (None: nowhere). Only in a kernel that runs
    a whole lesson (`make notebooks`, nbval, nbclient): not in the tests (no kernel), and not
    in JupyterLab (its kernels have JPY_SESSION_NAME), where a student re-running cells would
    only fill the disk with pictures no site uses. The environment variable BN_COURSE_PANELS
    overrides the directory ("" writes none)."""
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


def export_pictures(panel_id, controls, values, start, key_of, cache):
    """Write a panel's pictures and `panel.json` (its controls: name, description, option
    labels, kind, default index; per position the picture and the printed text) to
    panels_dir()/<panel_id>/.

    controls: {name: control}; values: each control's option values, in order; start: the
    starting position {name: value}; key_of(position) -> the key of cache, which holds
    (printed text, PNG bytes) per drawn position. Returns {"id": panel_id, "texts": a hash of
    every position's printed text} (the site builder compares the saved output's with the
    pictures' to notice pictures from another run), or None when nothing was written (no id,
    no directory, a position not drawn yet, a failed write)."""
    directory = panels_dir()
    if panel_id is None or directory is None:
        return None
    names = list(controls)
    positions = list(itertools.product(*(range(len(v)) for v in values)))
    keys = [key_of({n: v[i] for n, v, i in zip(names, values, p)}) for p in positions]
    if any(key not in cache for key in keys):
        return None
    described = [{"name": n, "description": c.description,
                  "labels": [o[0] if isinstance(o, tuple) else str(o) for o in c.options],
                  "kind": "slider" if isinstance(c, widgets.SelectionSlider) else "select",
                  "default": v.index(start[n])}
                 for (n, c), v in zip(controls.items(), values)]
    files = {}                                   # cache key -> picture index
    for key in keys:
        files.setdefault(key, len(files))
    texts = hashlib.sha256(json.dumps([cache[key][0] for key in keys]).encode()).hexdigest()
    manifest = {"id": panel_id, "texts": texts[:12], "controls": described,
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
