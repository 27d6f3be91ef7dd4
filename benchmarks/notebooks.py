"""Lesson benchmarks: each notebook's run time in a fresh kernel, and every slider's response.

    python benchmarks/notebooks.py [notebooks/01_gradient_descent.ipynb ...]

Each lesson runs top to bottom in a fresh `python3` kernel (as Restart & Run All does), with
the inline matplotlib backend a student gets; nothing is saved. We time the lesson's own cells
(wall clock, and the kernel's CPU time, which other load on the machine does not inflate).

Then, in the same kernel, every `ipywidgets.interactive` panel the lesson created is driven
from Python: each control in turn is set to every one of its options (the others stay where
the lesson left them), and we time `control.value = v`: the callback and the display of the
position's picture into the panel's output, everything the kernel does between a slider
release and the finished redraw. (The browser adds the transfer and the <img> decode, a few
milliseconds for our ~100-300 kB PNGs.) The lessons' panels draw every position's picture
while the notebook runs (`helpers.display.panels.cached_panel`), so that cost is in the run time;
for comparison the table also shows what drawing a position live (figure + PNG) costs.
Targets: 95th percentile < 50 ms per panel; each notebook < 60 s, all lessons < 5 min. The
run time is split into drawing panel pictures (`panels.DRAWING_SECONDS`) and the rest.
"""
import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
MAX_POSITIONS = 60          # a continuous slider is sampled at this many positions at most

# Runs first: remember every interactive panel, and which cell created it.
REGISTER = r"""
import resource as _bm_resource, ipywidgets as _bm_widgets
_bm_panels = []
_bm_base = get_ipython().execution_count       # the lesson's k-th code cell runs at base + 1 + k
_bm_init = _bm_widgets.interactive.__init__
def _bm_register(self, *args, **kwargs):
    _bm_init(self, *args, **kwargs)
    _bm_panels.append((get_ipython().execution_count - _bm_base - 1, self))
_bm_widgets.interactive.__init__ = _bm_register
def _bm_cpu():
    r = _bm_resource.getrusage(_bm_resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
_bm_cpu0 = _bm_cpu()
"""

CPU = ("import helpers.display.panels as _bm_p\n"
       "print(_bm_cpu() - _bm_cpu0, _bm_p.DRAWING_SECONDS[0])")

# Runs last: sweep every control of every panel, time each value change.
SWEEP = r"""
import json as _bm_json, time as _bm_time
import matplotlib.pyplot as _bm_plt
from IPython.display import clear_output as _bm_clear

def _bm_positions(control):
    if hasattr(control, "options") and hasattr(control, "index"):       # Selection*, Dropdown
        return [("index", i) for i in range(len(control.options))]
    if hasattr(control, "min") and hasattr(control, "max") and hasattr(control, "step"):
        n = int(round((control.max - control.min) / control.step)) + 1
        k = max(1, -(-n // %(max_positions)d))
        return [("value", control.min + i * control.step) for i in range(0, n, k)]
    if isinstance(control.value, bool):
        return [("value", False), ("value", True)]
    return []

import sys as _bm_sys
_bm_ip = get_ipython()
_bm_showtraceback = _bm_ip.showtraceback
def _bm_record(*args, **kwargs):                   # interactive shows a callback's exception
    _bm_type, _bm_value = _bm_sys.exc_info()[:2]
    _bm_errors.append(f"{_bm_where}: {getattr(_bm_type, '__name__', _bm_type)}: {_bm_value}")
    return _bm_showtraceback(*args, **kwargs)
_bm_ip.showtraceback = _bm_record

# What one position costs when drawn live (draw + PNG render), for comparison with showing
# the stored picture: measured after each move on the panel's own draw function.
import helpers.display.style as _bm_plots
_bm_results = []
for _bm_cell, _bm_panel in _bm_panels:
    _bm_times, _bm_renders, _bm_errors, _bm_names = [], [], [], []
    for _bm_control in _bm_panel.children[:-1]:
        _bm_name = getattr(_bm_control, "description", "") or type(_bm_control).__name__
        _bm_pos = _bm_positions(_bm_control)
        if not _bm_pos:
            continue
        _bm_names.append(f"{_bm_name} ({len(_bm_pos)})")
        _bm_start = getattr(_bm_control, _bm_pos[0][0])
        # visit every position once, ending where we started; skip the no-op first move
        _bm_order = [p for p in _bm_pos if p[1] != _bm_start] + [(_bm_pos[0][0], _bm_start)]
        for _bm_attr, _bm_v in _bm_order:
            _bm_where = f"{_bm_name}={_bm_v}"
            _bm_t0 = _bm_time.perf_counter()
            try:
                setattr(_bm_control, _bm_attr, _bm_v)
            except Exception as _bm_e:
                _bm_errors.append(f"{_bm_where}: {_bm_e!r}")
            _bm_times.append(_bm_time.perf_counter() - _bm_t0)
            if hasattr(_bm_panel, "figure"):
                _bm_t0 = _bm_time.perf_counter()
                _bm_plots.figure_png(_bm_panel.figure())
                _bm_renders.append(_bm_time.perf_counter() - _bm_t0)
        _bm_plt.close("all")
    _bm_results.append({"cell": _bm_cell, "controls": _bm_names, "times": _bm_times,
                        "live": _bm_renders, "errors": _bm_errors[:5],
                        "positions": len(getattr(_bm_panel, "pictures", ()))})
_bm_ip.showtraceback = _bm_showtraceback
_bm_clear()
print("BENCH-JSON " + _bm_json.dumps(_bm_results))
""" % {"max_positions": MAX_POSITIONS}


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def run_notebook(path, sweep=True, timeout=900):
    """Execute one lesson in a fresh kernel. Returns a dict: wall_s, cpu_s, panels (each with
    cell, controls, times (s), errors), or error (a str) if a lesson cell failed."""
    nb = nbformat.read(path, as_version=4)
    lesson = [c for c in nb.cells if c.cell_type == "code"]
    index = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]   # as the file counts
    nb.cells = [new_code_cell(REGISTER)] + lesson + [new_code_cell(CPU)]
    if sweep:
        nb.cells.append(new_code_cell(SWEEP))
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    result = {"name": path.name}
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        start = time.perf_counter()
        try:
            for i, cell in enumerate(nb.cells[1:len(lesson) + 1], start=1):
                client.execute_cell(cell, i)
        except Exception as exc:                  # CellExecutionError: report, do not crash
            result["error"] = f"cell {i}: {str(exc).strip().splitlines()[-1][:200]}"
            return result
        result["wall_s"] = time.perf_counter() - start
        cpu_cell = nb.cells[len(lesson) + 1]
        client.execute_cell(cpu_cell, len(lesson) + 1)
        cpu, drawing = (_text(cpu_cell).split() + ["nan", "nan"])[:2]
        result["cpu_s"], result["drawing_s"] = float(cpu), float(drawing)
        if sweep:
            sweep_cell = nb.cells[-1]
            client.execute_cell(sweep_cell, len(nb.cells) - 1)
            line = [ln for ln in _text(sweep_cell).splitlines() if ln.startswith("BENCH-JSON ")]
            panels = json.loads(line[-1][len("BENCH-JSON "):]) if line else []
            for p in panels:            # k-th code cell -> the cell's index in the file
                k = p.pop("cell")
                p["cell"] = index[k] if 0 <= k < len(index) else None
            result["panels"] = panels
    return result


def percentile(values, q):
    """q-th percentile (linear interpolation), without numpy."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def tables(results):
    """Markdown tables: notebook run times, then slider response per panel."""
    rows = ["| notebook | wall time (s) | kernel CPU time (s) | of which drawing panel "
            "pictures (s) | training and the rest (s) | target < 60 s |",
            "|---|---:|---:|---:|---:|---|"]
    total_wall = total_cpu = total_draw = 0.0
    for r in results:
        if "error" in r:
            rows.append(f"| {r['name']} | failed: {r['error']} | | | | no |")
            continue
        total_wall += r["wall_s"]
        total_cpu += r["cpu_s"]
        total_draw += r["drawing_s"]
        ok = "yes" if r["wall_s"] < 60 else "NO"
        rows.append(f"| {r['name']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                    f"{r['drawing_s']:.1f} | {r['wall_s'] - r['drawing_s']:.1f} | {ok} |")
    rows.append(f"| **all** | {total_wall:.1f} | {total_cpu:.1f} | {total_draw:.1f} | "
                f"{total_wall - total_draw:.1f} | target < 300 s: "
                f"{'yes' if total_wall < 300 else 'NO'} |")
    sliders = ["| notebook | cell | controls (positions) | pictures drawn in the run | "
               "redraws | median (ms) | p95 (ms) | max (ms) | drawn live instead, median (ms) "
               "| target met |",
               "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        for p in r.get("panels", []):
            ms = [1000 * t for t in p["times"]]
            med, p95 = percentile(ms, 50), percentile(ms, 95)
            live = percentile([1000 * t for t in p.get("live", [])], 50)
            ok = "yes" if p95 < 50 else "NO"
            if p["errors"]:
                ok += f"; errors: {'; '.join(p['errors'])[:150]}"
            sliders.append(f"| {r['name']} | {p['cell']} | {', '.join(p['controls'])} | "
                           f"{p.get('positions', 0)} | {len(ms)} | {med:.0f} | {p95:.0f} | "
                           f"{max(ms, default=0):.0f} | {live:.0f} | {ok} |")
    return "\n".join(rows), "\n".join(sliders)


def main(args):
    paths = [Path(a).resolve() for a in args] or \
        sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    results = []
    for path in paths:
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        results.append(run_notebook(path))
    run_times, sliders = tables(results)
    print("Notebook run time, fresh kernel, Restart & Run All equivalent\n")
    print(run_times)
    print("\nSlider response: value change -> callback + display of the stored picture\n")
    print(sliders)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
