"""Re-execute every lesson (or the ones named) in a fresh kernel and save it with its outputs.

    python tools/run_notebooks.py [notebooks/01_gradient_descent.ipynb ...]

Cells run in order from a fresh `python3` kernel in notebooks/, so execution counts are
1, 2, 3, ... and the saved plots are what a student gets from Restart & Run All. Widget state
is stored so GitHub/nbviewer can show the widgets' last drawing, except a prediction
question's (helpers.display.predict): readers without a kernel get its text and hidden answer.
"""
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers.display.predict import forget_live_widgets

# The kernel inherits these: one BLAS thread, as `make` sets it (small matrices).
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

ROOT = Path(__file__).resolve().parent.parent


def run(path):
    """Execute one notebook in a fresh kernel and save it; returns the seconds it took.

    A cell that runs past the timeout fails the run. (Runs used to stall with the kernel
    idle; that was ipykernel 7 leaving an execute request unread, ipython/ipykernel#1554,
    which pyproject.toml's ipykernel<7 prevents.)"""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    client = NotebookClient(nb, kernel_name="python3", timeout=180, store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    forget_live_widgets(nb)
    for cell in nb.cells:                      # keep saved notebooks free of run-time noise
        cell.get("metadata", {}).pop("execution", None)
    nbformat.write(nb, path)
    return seconds


def main(args):
    paths = [Path(a).resolve() for a in args] or (
        sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
        + sorted((ROOT / "notebooks" / "deeper").glob("[0-9]*.ipynb")))
    for path in paths:
        print(f"{path.name}: running ...", flush=True)
        print(f"{path.name}: saved after {run(path):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
