"""helpers as pip installs it from a wheel (not editable): every module of the repository's
helpers/ is in the wheel and imports from the installed copy. Fails if a subpackage were left
out of the wheel (say, by a narrower include or an exclude in [tool.setuptools.packages.find]).

pip builds the wheel as `pip install .` would, in an isolated environment with the build
backend pyproject.toml asks for (setuptools>=77), fetched from the package index."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Run from outside the repository with only the installed copy on the path: import each module
# named on the command line, report the file it came from.
IMPORT_ALL = """
import importlib, json, sys
print(json.dumps({name: importlib.import_module(name).__file__ for name in sys.argv[1:]}))
"""


def _modules(root):
    """Dotted names of every module in root/helpers (a package by its __init__.py): walked, so
    a new subpackage in the repository is expected in the wheel without editing this test."""
    names = set()
    for path in (root / "helpers").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _run(command, cwd, env=None):
    proc = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(map(str, command))} failed:\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build a wheel from a copy of the sources (setuptools writes build/ and *.egg-info next
    to them, and the working tree is shared), install it into a scratch folder; return it."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    shutil.copytree(ROOT / "helpers", source / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):    # what pyproject.toml reads
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--quiet"]
    _run(pip + ["wheel", "--no-deps", "--wheel-dir", tmp / "dist", source], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("*.whl")
    _run(pip + ["install", "--no-deps", "--no-index", "--target", tmp / "site", wheel], cwd=tmp)
    return tmp / "site"


def test_every_module_imports_from_the_installed_wheel(installed):
    elsewhere = installed.parent / "elsewhere"                 # not the repository
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed)}        # the wheel's copy first
    modules = _modules(installed)
    assert sorted(_modules(ROOT) - modules) == [], "in the repository but not in the wheel"
    assert modules == _modules(ROOT)
    files = json.loads(_run([sys.executable, "-c", IMPORT_ALL, *sorted(modules)],
                            cwd=elsewhere, env=env))
    assert set(files) == modules
    outside = {name: f for name, f in files.items()
               if not Path(f).resolve().is_relative_to(installed.resolve())}
    assert outside == {}, "imported from outside the installed wheel"
