"""Run the lessons' checked outputs and claim tests as other CPUs would compute them.

    python tools/test_cpus.py                      every kernel this CPU can run: claim tests
                                                   and the lessons under nbval
    python tools/test_cpus.py --notebooks 03 05    only lessons 03 and 05 (a name filter) and
                                                   their claim tests (tests/test_lesson3.py, 5)
    python tools/test_cpus.py --kernels other --no-notebooks
                                                   the claim tests under one kernel other than
                                                   the native one (what `make test` runs)

Why: numpy's OpenBLAS picks a kernel for the CPU it runs on (Sandybridge for AVX, Haswell for
AVX2, SkylakeX for AVX-512, ...), and each kernel rounds a sum differently. A few ulps per step
grow over hundreds of training steps, so a run's accuracy on a student's laptop differs from
ours by a point or more. A checked output (`# NBVAL_CHECK_OUTPUT`) or a claim test must hold
under every kernel: this tool forces each one with OPENBLAS_CORETYPE, which OpenBLAS reads when
numpy loads, so every kernel gets its own processes.

OpenBLAS does not check that the CPU can run a forced kernel (SkylakeX without AVX-512 dies
with an illegal instruction), so only the kernels whose instructions the CPU's flags list are
run. Where numpy is not on OpenBLAS (Accelerate on Apple silicon, MKL), there is nothing to
force: the tool says so and exits 0.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# OpenBLAS kernel -> the CPU flags (Linux /proc/cpuinfo names) it needs
KERNELS = {"Sandybridge": {"avx"}, "Haswell": {"avx2", "fma"},
           "SkylakeX": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}}
CLAIM_TESTS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_lesson*.py"))
PROBE = ("import json, numpy, threadpoolctl; "
         "print(json.dumps([(i['internal_api'], i.get('architecture')) "
         "for i in threadpoolctl.threadpool_info()]))")


def cpu_flags():
    """The CPU's instruction-set flags (lower case), or an empty set where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def blas(kernel=None):
    """[(library, kernel)] numpy loads with OPENBLAS_CORETYPE=kernel (None: the native one)."""
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if kernel:
        env["OPENBLAS_CORETYPE"] = kernel
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True)
    return [tuple(x) for x in json.loads(out.stdout)]


def runnable_kernels(flags):
    return [k for k, needs in KERNELS.items() if needs <= flags]


def choose(kernels, native, runnable):
    """The kernels to run: 'all' (every runnable one), 'other' (one runnable kernel that is not
    the native one, the newest), or a comma-separated list."""
    if kernels == "all":
        return list(runnable)
    if kernels == "other":
        others = [k for k in runnable if k.lower() != (native or "").lower()]
        return others[-1:]
    wanted = [k.strip() for k in kernels.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in KERNELS]
    if unknown:
        raise SystemExit(f"unknown kernel(s) {unknown}: expected some of {list(KERNELS)}")
    skipped = [k for k in wanted if k not in runnable]
    if skipped:
        print(f"skipping {skipped}: this CPU lacks their instructions", flush=True)
    return [k for k in wanted if k in runnable]


def notebooks(filters):
    lessons = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    lessons += sorted((ROOT / "notebooks" / "deeper").glob("[0-9]*.ipynb"))   # going deeper
    if filters:
        lessons = [p for p in lessons if any(f in p.name for f in filters)]
    return [str(p.relative_to(ROOT)) for p in lessons]


def claim_tests(lessons):
    """The claim tests of the given lesson notebooks (tests/test_lessonN.py for NN_*.ipynb that
    exist); every lesson's when none is given."""
    if not lessons:
        return CLAIM_TESTS
    numbers = sorted({int(Path(p).name[:2]) for p in lessons})   # deeper/03a_* is lesson 3's
    return [t for n in numbers for t in CLAIM_TESTS
            if re.fullmatch(rf"tests/test_lesson{n}(_\w+)?\.py", t)]


def run(kernel, label, args):
    """Run pytest with OPENBLAS_CORETYPE=kernel; return (label, kernel, passed, seconds)."""
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel, OPENBLAS_NUM_THREADS="1",
               BN_COURSE_PANELS="")                    # write no website pictures
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    print(f"\n=== {kernel}: {label}: {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    return label, kernel, code == 0, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", default="all",
                        help="'all' (default), 'other', or e.g. Haswell,SkylakeX")
    parser.add_argument("--notebooks", nargs="*", default=[],
                        help="only the lessons whose file name contains one of these")
    parser.add_argument("--no-notebooks", action="store_true", help="claim tests only")
    parser.add_argument("--no-claims", action="store_true", help="notebooks only")
    opts = parser.parse_args(argv)

    native = blas()
    if not any(lib == "openblas" for lib, _ in native):
        print(f"numpy is not on OpenBLAS here ({native}): no kernel to force, nothing to run. "
              f"Run `make test` on this machine as it is.")
        return 0
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        print(f"this CPU is {machine}: the kernels to force ({', '.join(KERNELS)}) are x86 "
              f"ones; nothing to run. Run `make test` on this machine as it is.")
        return 0
    runnable = runnable_kernels(cpu_flags())
    native_kernel = next(k for lib, k in native if lib == "openblas")
    kernels = choose(opts.kernels, native_kernel, runnable)
    print(f"native OpenBLAS kernel: {native_kernel}; this CPU can run {runnable}; "
          f"running {kernels or 'none'}", flush=True)
    if not kernels:
        print("no kernel to run (the CPU cannot run the one asked for, or only the native "
              "one): nothing to do")
        return 0

    results = []
    for kernel in kernels:
        got = blas(kernel)
        if ("openblas", kernel) not in got:
            print(f"{kernel}: OpenBLAS did not take the kernel (it reports {got})")
            results.append(("kernel", kernel, False, 0.0))
            continue
        lessons = notebooks(opts.notebooks)
        tests = claim_tests(lessons if opts.notebooks else [])
        if not opts.no_claims and tests:
            results.append(run(kernel, f"claim tests ({len(tests)} file(s))",
                               tests + ["-m", "not browser"]))
        if not opts.no_notebooks and lessons:
            results.append(run(kernel, f"{len(lessons)} lesson(s) under nbval",
                               ["--nbval-lax", "--nbval-current-env",
                                "--nbval-cell-timeout=300", *lessons]))
    print("\nsummary (OpenBLAS kernel, what ran, result, seconds):")
    for label, kernel, ok, seconds in results:
        print(f"  {kernel:12s} {label:28s} {'passed' if ok else 'FAILED':7s} {seconds:6.0f}")
    return 0 if all(ok for *_, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
