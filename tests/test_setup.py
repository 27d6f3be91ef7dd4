"""The two ways in agree: pyproject.toml (pip, `make`) and environment.yml (conda, Binder)."""
import re
from pathlib import Path

try:
    import tomllib
except ImportError:                      # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _name_and_bound(spec):
    name, bound = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec).groups()
    return name.lower().replace("_", "-"), bound.replace(" ", "")


def _pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(_name_and_bound(s) for s in specs)


def _environment_requirements():
    """Package lines of environment.yml (conda and pip sections), without python/pip/-e."""
    specs = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+\s*[<>=!~].*|[A-Za-z0-9_.\-]+)\s*$", line)
        if m:
            name, bound = _name_and_bound(m.group(1))
            if name not in ("python", "pip"):
                specs[name] = bound
    return specs


def test_environment_yml_lists_the_same_packages_and_bounds():
    assert _environment_requirements() == _pyproject_requirements()


def test_environment_yml_installs_helpers_from_the_repo():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*-\s+-e\s+\.\s*$", text, re.M), "environment.yml must pip-install -e ."


def test_python_floor_agrees():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    assert re.search(r"^\s*-\s+python>=3\.10\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")
                and not line.startswith(("set ", "cd "))]
    assert commands == ["make test"]
    assert "make test" in (ROOT / "README.md").read_text()
