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
    """What `make` installs (pip install -e '.[test]'): the Python floor, the dependencies and
    the test extra, as {name: bound}."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    return {"python": project["requires-python"], **dict(_name_and_bound(s) for s in specs)}


def _environment_requirements():
    """Package lines of environment.yml (conda and pip sections) as {name: bound}, without pip
    itself, and whether it installs helpers from the repository (`-e .`)."""
    specs, editable = {}, False
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        editable = editable or re.fullmatch(r"\s*-\s+-e\s+\.\s*", line) is not None
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+\s*[<>=!~].*|[A-Za-z0-9_.\-]+)\s*$", line)
        if m:
            name, bound = _name_and_bound(m.group(1))
            if name != "pip":
                specs[name] = bound
    return specs, editable


def test_environment_yml_installs_what_make_installs():
    """Binder and conda users get their environment from environment.yml only: the same Python
    floor, packages and bounds as pyproject.toml, and helpers from this repository."""
    specs, editable = _environment_requirements()
    assert specs == _pyproject_requirements()
    assert editable, "environment.yml must pip-install helpers from the repository: - -e ."
