"""The tools `make test` runs tests with: tools/test_cpus.py (which OpenBLAS kernels it runs on
which CPU, and what it skips) and tools/parallel.py (commands side by side)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("test_cpus", ROOT / "tools" / "test_cpus.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

AVX512 = {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}


@pytest.mark.parametrize("flags, runnable", [
    (AVX512, ["Sandybridge", "Haswell", "SkylakeX"]),
    ({"avx", "avx2", "fma", "avx512f"}, ["Sandybridge", "Haswell"]),   # AVX-512 only in part
    ({"avx", "avx2"}, ["Sandybridge"]),                                 # AVX2 without FMA
    ({"sse2"}, []),
    (set(), []),                                                        # flags unknown
])
def test_only_kernels_whose_instructions_the_cpu_lists_are_run(flags, runnable):
    assert tool.runnable_kernels(flags) == runnable


def test_other_is_one_runnable_kernel_that_is_not_the_native_one():
    runnable = ["Sandybridge", "Haswell", "SkylakeX"]
    assert tool.choose("other", "SkylakeX", runnable) == ["Haswell"]
    assert tool.choose("other", "Haswell", runnable) == ["SkylakeX"]
    assert tool.choose("other", "Zen", runnable) == ["SkylakeX"]        # native not forcible
    assert tool.choose("other", "Sandybridge", ["Sandybridge"]) == []
    assert tool.choose("all", "Haswell", runnable) == runnable


def test_named_kernels_are_checked_and_the_unrunnable_ones_skipped(capsys):
    assert tool.choose("Haswell, SkylakeX", "Haswell", ["Sandybridge", "Haswell"]) == ["Haswell"]
    assert "skipping ['SkylakeX']: this CPU lacks their instructions" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown kernel.*'Zen'.*expected some of"):
        tool.choose("Zen", "Haswell", ["Haswell"])


def test_the_notebook_filter_picks_lessons_and_their_going_deeper_notebooks_by_name():
    picked = tool.notebooks(["03", "05"])
    deeper = sorted(str(p.relative_to(tool.ROOT))
                    for p in (tool.ROOT / "notebooks" / "deeper").glob("0[35]*.ipynb"))
    assert picked == ["notebooks/03_batchnorm_training.ipynb",
                      "notebooks/05_why_batchnorm_works.ipynb"] + deeper
    assert len(tool.notebooks([])) >= 6 and tool.notebooks(["nothing"]) == []


def test_a_lesson_filter_runs_that_lessons_claim_tests_only():
    assert tool.claim_tests(tool.notebooks(["03", "05"])) == [
        "tests/test_lesson3.py", "tests/test_lesson3_base.py", "tests/test_lesson5.py"]
    assert tool.claim_tests(["notebooks/deeper/04a_x.ipynb"]) == ["tests/test_lesson4.py"]
    assert tool.claim_tests([]) == tool.CLAIM_TESTS and len(tool.CLAIM_TESTS) >= 6


def test_the_native_blas_is_reported_by_library_and_kernel():
    libs = tool.blas()
    assert libs and all(len(entry) == 2 for entry in libs)


def test_parallel_runs_commands_side_by_side_and_fails_if_any_failed():
    cmd = [sys.executable, str(ROOT / "tools" / "parallel.py"),
           "sleep 1; echo first", "echo second; exit 3", "echo third"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    out = done.stdout
    assert done.returncode == 1
    # each command's output whole, in the order given, though the first ended last
    assert out.index("first") < out.index("second") < out.index("third")
    assert "=== exit 3 after" in out and "FAILED:\n  echo second; exit 3" in out
    ok = subprocess.run(cmd[:2] + ["echo fine"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "FAILED" not in ok.stdout
