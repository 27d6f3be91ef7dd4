"""Every benchmark, one report: `make benchmark` runs this.

    python benchmarks/run_all.py [--quick] [--skip-engine] [--skip-notebooks]
                                 [--engine-python PATH] [notebooks/NN_name.ipynb ...]

1. engine.py: batch norm forward+backward and one training step, against PyTorch when the
   interpreter running it has PyTorch (PyTorch is optional and not a dependency of the
   course: --engine-python runs this part with another interpreter, e.g. a separate venv
   that has torch, so the comparison lands in the same report).
2. notebooks.py: each lesson's run time in a fresh kernel, and every slider's response time.

The report is printed and also written to benchmarks/results/latest.md (git-ignored). Timings
depend on what else the machine is doing: the report records the load average before and
after, and the kernel CPU time of each lesson, which other load does not inflate.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import notebooks  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="lesson notebooks (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--engine-python", default=sys.executable,
                        help="interpreter for engine.py (one with torch adds the comparison)")
    args = parser.parse_args(argv)

    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [f"# Benchmarks ({started}; {platform.machine()}, {os.cpu_count()} CPUs, "
             f"Python {platform.python_version()}; load average at start "
             f"{os.getloadavg()[0]:.1f})", ""]
    if not args.skip_engine:
        cmd = [args.engine_python, str(HERE / "engine.py")] + (["--quick"] if args.quick else [])
        engine = subprocess.run(cmd, capture_output=True, text=True)
        if engine.returncode != 0:
            sys.stderr.write(engine.stderr)
            raise SystemExit(f"engine.py failed (exit {engine.returncode})")
        parts += ["## Engine", "", engine.stdout.strip(), ""]
        print("\n".join(parts), flush=True)
    if not args.skip_notebooks:
        paths = [Path(p).resolve() for p in args.paths] or \
            sorted((HERE.parent / "notebooks").glob("[0-9]*.ipynb"))
        results = []
        for path in paths:
            print(f"running {path.name} in a fresh kernel ...", file=sys.stderr, flush=True)
            results.append(notebooks.run_notebook(path))
        run_times, sliders = notebooks.tables(results)
        section = ["## Lessons", "", "Run time in a fresh kernel (Restart & Run All "
                   "equivalent; wall clock and the kernel's CPU time):", "", run_times, "",
                   "Slider response, per panel, over every position of every control (value "
                   "change -> callback + display of the position's picture, drawn during the "
                   "run; target: p95 < 50 ms):", "", sliders, ""]
        print("\n".join(section), flush=True)
        parts += section
    parts.append(f"Load average at the end: {os.getloadavg()[0]:.1f}")
    print(parts[-1])
    out = HERE / "results" / "latest.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(parts) + "\n")
    print(f"(written to {out.relative_to(HERE.parent)})")


if __name__ == "__main__":
    main()
