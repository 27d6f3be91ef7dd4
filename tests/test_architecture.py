"""The shape of the code: imports run one way, and each listed piece of batch norm is written
once.

    engine (helpers/*.py)  <-  display (helpers/display/)  <-  lessons (helpers/lessons/)
    <-  notebooks;  checkers (helpers/check/) use the engine only.

A lesson module imports only its own lesson's modules (lesson4_*.py from lesson4_*.py), and
never a private (_name) of another module.
"""
import ast
import re
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent.parent / "helpers"


def floor(path):
    """Which floor a module of helpers/ lives on: engine, display, lessons or check."""
    rel = path.relative_to(HELPERS)
    return rel.parts[0] if len(rel.parts) > 1 else "engine"


def modules():
    return sorted(p for p in HELPERS.rglob("*.py"))


def imports(path):
    """(target path, imported names) for every import of a helpers module inside `path`."""
    tree = ast.parse(path.read_text())
    package = path.parent
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:                           # relative: from ..x import y
                base = package
                for _ in range(node.level - 1):
                    base = base.parent
            elif (node.module or "").split(".")[0] == "helpers":
                base = HELPERS.parent
            else:
                continue
            parts = (node.module or "").split(".") if node.module else []
            target = base.joinpath(*parts)
            for alias in node.names:                 # from . import lesson4_running
                sub = target / f"{alias.name}.py"
                out.append((sub if sub.exists() else target, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "helpers":
                    out.append((HELPERS.parent.joinpath(*alias.name.split(".")), alias.name))
    return out


def resolve(target):
    """The module file (or package __init__) an import target names."""
    if target.with_suffix(".py").exists():
        return target.with_suffix(".py")
    if (target / "__init__.py").exists():
        return target / "__init__.py"
    return target


ALLOWED = {"engine": {"engine"}, "display": {"engine", "display"},
           "lessons": {"engine", "display", "lessons"}, "check": {"engine", "check"}}


def test_every_import_points_down_a_floor_or_along_it():
    wrong = []
    for path in modules():
        for target, name in imports(path):
            module = resolve(target)
            if HELPERS not in module.parents and module != HELPERS:
                continue
            if floor(module) not in ALLOWED[floor(path)]:
                wrong.append(f"{path.relative_to(HELPERS)} imports {name} from "
                             f"{module.relative_to(HELPERS)}")
    assert not wrong, "imports against the arrows:\n" + "\n".join(wrong)


def lesson_of(path):
    match = re.match(r"lesson(\d+)_", path.name)
    return match and match.group(1)


def test_lesson_modules_import_only_their_own_lesson_and_no_private_names():
    wrong = []
    for path in (HELPERS / "lessons").glob("lesson*.py"):
        for target, name in imports(path):
            module = resolve(target)
            if module.parent == HELPERS / "lessons" and lesson_of(module) != lesson_of(path):
                wrong.append(f"{path.name} imports {name} from lesson module {module.name}")
            if name.startswith("_") and module != path:
                wrong.append(f"{path.name} imports the private {name} from {module.name}")
    assert not wrong, "\n".join(wrong)


def test_the_import_graph_test_sees_a_wrong_arrow(tmp_path):
    """The two tests above fail on a checker importing a lesson and a lesson's private."""
    fake = tmp_path / "helpers"
    (fake / "check").mkdir(parents=True)
    (fake / "lessons").mkdir()
    (fake / "lessons" / "lesson4_eval.py").write_text("def _private(): pass\n")
    (fake / "lessons" / "lesson5_why.py").write_text("from .lesson4_eval import _private\n")
    (fake / "check" / "lesson4.py").write_text("from ..lessons.lesson4_eval import _private\n")
    globals()["HELPERS"], saved = fake, HELPERS
    try:
        with pytest.raises(AssertionError, match="check/lesson4.py imports _private"):
            test_every_import_points_down_a_floor_or_along_it()
        with pytest.raises(AssertionError, match="imports _private from lesson module"):
            test_lesson_modules_import_only_their_own_lesson_and_no_private_names()
    finally:
        globals()["HELPERS"] = saved


# --- each piece written once --------------------------------------------------------------

def definitions():
    """{name: [module paths]} of every top-level function and class in helpers/."""
    found = {}
    for path in modules():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found.setdefault(node.name, []).append(path.relative_to(HELPERS).as_posix())
    return found


ONCE = {
    "softmax": "layers.py",
    "ema_update": "batchnorm.py",
    "running_update": "batchnorm.py",
    "window_average": "batchnorm.py",
    "running_estimates": "batchnorm.py",
    "convert_momentum": "batchnorm.py",
    "RunningStatsSweep": "batchnorm_eval.py",
    "population_stats": "batchnorm_eval.py",
    "recompute_running_stats": "batchnorm_eval.py",
    "set_running_stats": "batchnorm_eval.py",
    "get_running_stats": "batchnorm_eval.py",
    "fold_batchnorm": "batchnorm_eval.py",
    "forward_batch_stats": "batchnorm_eval.py",
    "train_mode_logits": "batchnorm_eval.py",
    "compare_modes": "batchnorm_eval.py",
    "gradient_errors": "gradcheck.py",
    "check_int": "validate.py",
    "check_finite": "validate.py",
}
GONE = ("train_eval_gap", "_running_stats", "_check_int", "_weight_of_new")


@pytest.mark.parametrize("name, module", sorted(ONCE.items()))
def test_defined_once_in_the_engine(name, module):
    where = [m for m in definitions().get(name, []) if not m.startswith("check/")]
    assert where == [module], f"{name} defined in {where}, expected only in {module}"


@pytest.mark.parametrize("name", GONE)
def test_removed_duplicates_stay_removed(name):
    assert name not in definitions()


def sources(exclude=()):
    """(module, source) of every helpers module outside check/ (the checkers' own copies are
    the exercise-checks issue's) and outside `exclude`."""
    for path in modules():
        rel = path.relative_to(HELPERS).as_posix()
        if not rel.startswith("check/") and rel not in exclude:
            yield rel, path.read_text()


# Formulas that must appear in one module only (the Keras update in lesson4_running is the
# lesson's "as Keras writes it", which the lesson compares bit for bit with the engine's).
FORMULAS = {
    "an EMA update (1 - m) * old + m * new":
        (r"\(1 - (\w+)\) \* [\w.\[\]]+ \+ \1 \* ", ("batchnorm.py",)),
    "a softmax exp(z) / sum":
        (r"np\.exp\([^\n]*\n?[^\n]*/ *\w+\.sum\(axis=1", ("layers.py",)),
    "a positive-integer check isinstance(x, bool) ... integer":
        (r"isinstance\((\w+), bool\)[^\n]*\n?[^\n]*(np\.integer|numbers\.Integral)",
         ("validate.py",)),
    "a finite-difference check numerical_gradient(...)":
        (r"numerical_gradient\(", ("gradcheck.py",)),
}


@pytest.mark.parametrize("what", sorted(FORMULAS))
def test_formula_written_in_one_module(what):
    pattern, home = FORMULAS[what]
    found = sorted(rel for rel, src in sources() if re.search(pattern, src))
    assert found == list(home), f"{what} written in {found}, expected only in {list(home)}"


def test_the_formula_test_sees_a_copy():
    """Each pattern matches the copies this issue removed (so the test above can fail)."""
    copies = {
        "an EMA update (1 - m) * old + m * new":
            "stats = [((1 - m) * mean + m * bn.running_mean, v)]",
        "a softmax exp(z) / sum":
            "    e = np.exp(z - z.max(axis=1, keepdims=True))\n    return e / e.sum(axis=1)",
        "a positive-integer check isinstance(x, bool) ... integer":
            "if isinstance(n, bool) or not isinstance(n, (int, np.integer)) \\\n or n < 1:",
        "a finite-difference check numerical_gradient(...)":
            "rel_error(grad, numerical_gradient(lambda: f(x), x, dout))",
    }
    for what, copy in copies.items():
        assert re.search(FORMULAS[what][0], copy), what


def test_panels_find_no_caller_and_count_nothing():
    """A panel's website id is the one its lesson gives (`cached_panel(panel_id=...)`): no
    module of helpers walks stack frames to find its caller or keeps a global counter of
    panels, and the website export lives in its own module."""
    for rel, src in sources():
        assert "_getframe" not in src and "inspect.stack" not in src, rel
        assert "collections.Counter()" not in src or rel.startswith("lessons/"), rel
    panels = (HELPERS / "display" / "panels.py").read_text()
    assert "def export_pictures" not in panels and "def panels_dir" not in panels


@pytest.mark.parametrize("literal", ['"bn_course_panel"', '"bn_course_question"'])
def test_each_output_metadata_key_is_spelled_in_one_place(literal):
    """The keys under which a saved output carries a panel's id or a question's data are
    written once (helpers.display.export.PANEL_KEY, helpers.display.predict.QUESTION_KEY);
    the website builder and the tests import them."""
    root = HELPERS.parent
    found = [p.relative_to(root).as_posix()
             for folder in ("helpers", "tools", "tests", "benchmarks")
             for p in sorted((root / folder).rglob("*.py"))
             if p != Path(__file__) and literal in p.read_text()]
    assert len(found) == 1, f"{literal} written in {found}"
