"""Cut one picture per lesson out of the saved notebooks, for the README's lesson map.

    python tools/make_thumbnails.py

The picture is the first PNG output of the cell tagged `thumbnail` (or, if no cell is tagged,
the notebook's first PNG output), written to docs/thumbnails/NN.png. The pictures are the
notebooks' own plots, so the README shows what a student will actually see.
"""
import base64
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def first_png(cells):
    for cell in cells:
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                return base64.b64decode(png)
    return None


def thumbnail(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "thumbnail" in c.get("metadata", {}).get("tags", [])]
    return first_png(tagged) or first_png(nb.cells)


def main():
    out_dir = ROOT / "docs" / "thumbnails"
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        png = thumbnail(path)
        if png is None:
            sys.exit(f"{path.name}: no PNG output to use as a thumbnail; run it first")
        target = out_dir / f"{path.name[:2]}.png"
        target.write_bytes(png)
        print(f"{target.relative_to(ROOT)} <- {path.name} ({len(png) // 1024} KiB)")


if __name__ == "__main__":
    main()
