"""The exercises: every named mistake is recognised, references and solutions pass, and the
notebooks are what `make exercises` makes (nbgrader format, saved outputs)."""
import importlib.util
import inspect
import re
from pathlib import Path

import exercise_right
import nbformat
import numpy as np
import pytest
from exercise_mistakes import lesson1, lesson3, lesson4, lesson6, shared

import helpers
from helpers import check
from helpers.check import CheckFailed, norms
from helpers.check import lesson1 as check1
from helpers.check import lesson3 as check3
from helpers.check import lesson4 as check4
from helpers.check import lesson6 as check6

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "notebooks" / "exercises"
SOLUTION_PATHS = sorted((EXERCISES / "solutions").glob("*.ipynb"))


def _wrong_implementations(module):
    """(check name, function, expected name) for every public function of a module of
    tests/exercise_mistakes whose docstring reads "check_name: the mistake's name"."""
    found = []
    for _, fn in inspect.getmembers(module, inspect.isfunction):
        check_name, _sep, expected = " ".join((fn.__doc__ or "").split()).partition(": ")
        if fn.__module__ == module.__name__ and check_name in check.__all__:
            found.append((check_name, fn, expected))
    return found


MISTAKES = [m for module in (lesson1, lesson3, lesson4, lesson6)
            for m in _wrong_implementations(module)]


def _tool():
    spec = importlib.util.spec_from_file_location("make_exercises",
                                                  ROOT / "tools" / "make_exercises.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_exercises = _tool()


def failure(check_name, fn):
    """The message of the CheckFailed that check `check_name` raises for fn."""
    with pytest.raises(CheckFailed) as info:
        getattr(check, check_name)(fn)
    return str(info.value)


@pytest.mark.parametrize("check_name, wrong, expected", MISTAKES,
                         ids=[f"{c}-{fn.__name__}" for c, fn, _ in MISTAKES])
def test_each_mistake_is_named(check_name, wrong, expected):
    message = failure(check_name, wrong)
    assert message.startswith(f"{check_name}: not yet - ") and "\n" not in message
    assert expected in message, message


# Which checker uses each list of named mistakes (a new list must be added here, and then
# every mistake in it needs a wrong implementation in tests/exercise_mistakes/).
MISTAKE_LISTS = {
    (check1, "MOMENTUM_MISTAKES"): "momentum_step",
    (check3, "FORWARD_MISTAKES"): "batchnorm_forward",
    (check3, "BACKWARD_MISTAKES"): "batchnorm_backward",
    (check3, "IMAGE_MISTAKES"): "batchnorm_forward_images",
    (check4, "RUNNING_MISTAKES"): "update_running_stats",
    (check4, "EVAL_MISTAKES"): "batchnorm_eval",
    (check4, "WINDOW_MISTAKES"): "window_average",
    (check4, "CONVERT_MISTAKES"): "convert_momentum",
    (check4, "FOLD_MISTAKES"): "fold_batchnorm",
    (check6, "LAYER_FORWARD_MISTAKES"): "layernorm_forward",
    (check6, "LAYER_BACKWARD_MISTAKES"): "layernorm_backward",
    (check6, "GROUP_FORWARD_MISTAKES"): "groupnorm_forward",
    (check6, "GROUP_BACKWARD_MISTAKES"): "groupnorm_backward",
    (check6, "DEPENDENCE_MISTAKES"): "batch_dependence",
}


# --- the mistakes every normalisation can make: one table per idea (exercise_mistakes/shared.py)

NORM_OF = {"batchnorm_forward": norms.BATCH, "batchnorm_forward_images": norms.IMAGES,
           "layernorm_forward": norms.LAYER, "groupnorm_forward": norms.GROUP,
           "batchnorm_backward": norms.BATCH, "layernorm_backward": norms.LAYER,
           "groupnorm_backward": norms.GROUP}
SHARED = ([("forward", idea, c) for idea in shared.FORWARD for c in shared.FORWARD_SIBLINGS]
          + [("backward", idea, c) for idea in shared.BACKWARD for c in shared.BACKWARD_SIBLINGS
             if idea in norms.backward_mistakes(NORM_OF[c])]
          + [("cache", idea, c) for idea in shared.CACHE for c in shared.FORWARD_SIBLINGS
             if c != "batchnorm_forward_images"])


def _shared_case(kind, idea, check_name):
    """(the wrong function, the name its check must give) for one idea in one sibling."""
    if kind == "backward":
        return (shared.backward(check_name, **shared.BACKWARD[idea]),
                norms.backward_mistakes(NORM_OF[check_name])[idea].name)
    if kind == "cache":
        return (shared.forward(check_name, **shared.CACHE[idea]),
                norms.CACHE_MISTAKES[idea][0].format(key="std", kind="a tuple"))
    return (shared.forward(check_name, **shared.FORWARD[idea]),
            norms.forward_mistakes(NORM_OF[check_name])[idea].name)


@pytest.mark.parametrize("kind, idea, check_name", SHARED,
                         ids=[f"{k}-{i}-{c}" for k, i, c in SHARED])
def test_each_shared_mistake_is_named_in_every_sibling(kind, idea, check_name):
    wrong, expected = _shared_case(kind, idea, check_name)
    message = failure(check_name, wrong)
    assert message.startswith(f"{check_name}: not yet - {expected}: "), message


def test_the_shared_tables_cover_every_idea_of_the_checkers():
    assert set(shared.FORWARD) == set(norms.forward_mistakes(norms.BATCH))
    assert set(shared.BACKWARD) == set(norms.backward_mistakes(norms.LAYER))
    assert set(shared.CACHE) == set(norms.CACHE_MISTAKES) - {"not_dict"}
    for check_name, norm in NORM_OF.items():
        ideas = (norms.backward_mistakes if "backward" in check_name
                 else norms.forward_mistakes)(norm)
        named = {m.name for (module, name), c in MISTAKE_LISTS.items() if c == check_name
                 for m in getattr(module, name)}
        assert {m.name for m in ideas.values()} <= named, check_name


def test_every_named_mistake_has_a_wrong_implementation_in_the_tests():
    lists = {(m, name) for m in (check1, check3, check4, check6) for name in dir(m)
             if name.endswith("_MISTAKES")}
    assert lists == set(MISTAKE_LISTS)
    tested = {(c, e) for c, _, e in MISTAKES} | {
        (c, _shared_case(k, i, c)[1]) for k, i, c in SHARED}
    missing = [(checker, mistake.name) for (module, name), checker in MISTAKE_LISTS.items()
               for mistake in getattr(module, name) if (checker, mistake.name) not in tested]
    assert not missing


def _messages():
    """Every message a check can give for a named mistake, as the student reads it."""
    for (module, name), check_name in MISTAKE_LISTS.items():
        for mistake in getattr(module, name):
            yield mistake.message(check_name)
    for name, hint in norms.CACHE_MISTAKES.values():
        yield f"groupnorm_forward: not yet - {name.format(key='gamma', kind='a list')}: {hint}"


def test_every_message_is_short_and_starts_with_the_mistakes_name():
    messages = list(_messages()) + [failure(c, fn) for c, fn, _ in MISTAKES]
    long = [m for m in messages if len(m) > 200]
    assert not long, long
    assert all(": not yet - " in m and "\n" not in m for m in messages)


REFERENCES = [
    ("batchnorm_forward", helpers.batchnorm_forward),
    ("batchnorm_backward", helpers.batchnorm_backward),
    ("batchnorm_backward", helpers.batchnorm_backward_graph),
    ("batchnorm_forward_images", lambda x, g, b, eps: helpers.batchnorm_forward(x, g, b, eps)[0]),
    ("convert_momentum", helpers.convert_momentum),
    ("window_average", lambda stream, window: helpers.running_estimates(
        stream, window=window)),
    ("layernorm_forward", helpers.layernorm_forward),
    ("layernorm_backward", helpers.layernorm_backward),
    ("groupnorm_forward", helpers.groupnorm_forward),
    ("groupnorm_backward", helpers.groupnorm_backward),
]


@pytest.mark.parametrize("check_name, reference", REFERENCES,
                         ids=[f"{c}-{i}" for i, (c, _) in enumerate(REFERENCES)])
def test_the_engine_passes(check_name, reference, capsys):
    getattr(check, check_name)(reference)
    out = capsys.readouterr().out
    assert out.startswith(f"{check_name}: passed") and out.count("\n") == 1


RIGHT = [(fn.__doc__.split(":")[0], fn) for _, fn in
         inspect.getmembers(exercise_right, inspect.isfunction)
         if fn.__module__ == exercise_right.__name__ and not fn.__name__.startswith("_")]


def test_three_independent_right_versions_per_check():
    counts = {c: sum(1 for name, _ in RIGHT if name == c) for c in CHECKS}
    assert all(n >= 3 for n in counts.values()), counts


@pytest.mark.parametrize("check_name, right", RIGHT, ids=[f.__name__ for _, f in RIGHT])
def test_every_right_version_passes(check_name, right, capsys):
    getattr(check, check_name)(right)
    assert capsys.readouterr().out.startswith(f"{check_name}: passed")


def _solution_namespace(path):
    """Run a solution notebook's cells (all but the check cells) in one namespace; return it
    and the check cells' sources."""
    nb = nbformat.read(path, as_version=4)
    namespace, checks = {}, []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.metadata.get("nbgrader", {}).get("grade"):
            checks.append(cell.source)
        else:
            exec(compile(cell.source, str(path), "exec"), namespace)
    return namespace, checks


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_the_solutions_pass_every_check(path, capsys):
    namespace, checks = _solution_namespace(path)
    capsys.readouterr()
    for source in checks:
        exec(source, namespace)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(checks) >= 2
    assert all(": passed \u2713 " in line for line in lines), lines


CHECKS = [name for name in check.__all__ if name != "CheckFailed"]


@pytest.mark.parametrize("check_name", CHECKS)
def test_an_unfilled_stub_is_not_yet_implemented(check_name):
    def stub(*args):
        # YOUR CODE HERE
        raise NotImplementedError()
    assert failure(check_name, stub) == (f"{check_name}: not yet implemented: replace "
                                         f"`raise NotImplementedError()` with your code")


def test_a_stub_called_from_the_students_code_is_named():
    def batchnorm_forward(x, gamma, beta, eps=1e-5):
        raise NotImplementedError()

    def batchnorm_forward_images(x, gamma, beta, eps=1e-5):
        return batchnorm_forward(x.reshape(-1, x.shape[1]), gamma, beta, eps)[0]
    assert "(batchnorm_forward still raises NotImplementedError)" in \
        failure("batchnorm_forward_images", batchnorm_forward_images)


def test_an_exception_in_the_students_code_names_its_line():
    def forward(x, gamma, beta, eps=1e-5):
        mu = x.mean(axis=3)                             # x is (N, D): no axis 3
        return x - mu, {}
    line = inspect.getsourcelines(forward)[1] + 1
    message = failure("batchnorm_forward", forward)
    assert message.startswith("batchnorm_forward: not yet - your code raised AxisError at "
                              f"line {line} of test_exercises.py `mu = x.mean(axis=3)")
    assert message.endswith("(case: (N, D) = (8, 5))")


def test_a_batch_that_is_not_example_numbers_is_named():
    def minibatch_gd(grad, theta0, n, batch_size, lr, num_epochs, seed=0):
        theta = np.array(theta0, dtype=float)
        for start in range(0, n, batch_size):
            theta = theta - lr * grad(theta, np.arange(start, min(start + batch_size, n)) / 1)
        return theta, 0
    assert failure("minibatch_gd", minibatch_gd) == (
        "minibatch_gd: not yet - grad(theta, idx) needs idx: a non-empty array of example "
        "numbers from 0 to n - 1 = 9, got array([0., 1., 2., 3.])")


def test_a_missing_return_is_named():
    def momentum_step(theta, velocity, g, lr, momentum):
        velocity = momentum * velocity + g
        theta = theta - lr * velocity
    assert failure("momentum_step", momentum_step) == ("momentum_step: not yet - your function "
                                                 "returned None: did you forget `return`?")


def test_an_unknown_mistake_gets_the_case_and_the_size_of_the_difference():
    def forward(x, gamma, beta, eps=1e-5):          # a mistake the check does not know
        mu = x.mean(axis=0)
        return gamma * (x - mu) / np.sqrt(x.var(axis=0) + eps) + beta + 0.5, {}
    message = failure("batchnorm_forward", forward)
    assert re.fullmatch(r"batchnorm_forward: not yet - on the case '\(N, D\) = \(8, 5\)': out "
                        r"differs from helpers.batchnorm_forward \(relative error \S+, allowed "
                        r"1e-07\)", message), message


def test_a_wrong_shape_is_named_and_the_right_outputs_are_listed():
    def backward(dout, cache):
        dx, dgamma, dbeta = helpers.batchnorm_backward(dout, cache)
        return dx, dgamma, dbeta[None, :]
    assert failure("batchnorm_backward", backward) == (
        "batchnorm_backward: not yet - on the case '(N, D) = (8, 5)': dbeta has shape (1, 5), "
        "expected (5,): drop or add the axes of length 1 (reshape, .ravel(), or keepdims); dx, "
        "dgamma are right")


def _cases_of(monkeypatch, checker):
    """The cases and the reference that a lesson 6 checker passes to run_check."""
    seen = {}
    for module in (check6, norms):                 # backward checks call it through norms
        monkeypatch.setattr(module, "run_check", lambda checked, fn, cases, reference, **kw:
                            seen.update(cases=cases, reference=reference,
                                        against=kw["against"]))
    checker(None)
    return seen


def test_the_batch_dependence_reference_is_what_its_passing_line_says(monkeypatch):
    seen = _cases_of(monkeypatch, check6.batch_dependence)
    values = {c.label: float(seen["reference"](*c.args)[0]) for c in seen["cases"]}
    assert seen["against"].endswith("0 for layer and group norm, more than 0.5 for batch norm")
    assert [v for label, v in values.items() if "batch norm" not in label] == [0.0, 0.0]
    assert all(v > 0.5 for label, v in values.items() if "batch norm" in label), values


@pytest.mark.parametrize("checker, engine", [
    (check6.layernorm_backward, "engine_ln_backward"),
    (check6.groupnorm_backward, "engine_gn_backward")])
def test_a_lesson6_backward_reference_is_confirmed_by_finite_differences(monkeypatch, checker,
                                                                           engine):
    right = getattr(check6, engine)
    seen = _cases_of(monkeypatch, checker)
    for case in seen["cases"]:                         # the engine agrees ...
        assert len(seen["reference"](*case.args)) == 3
    monkeypatch.setattr(check6, engine, lambda dout, cache: tuple(
        1.01 * g for g in right(dout, cache)))         # ... and a broken engine is caught
    with pytest.raises(RuntimeError, match="disagrees with finite differences"):
        seen["reference"](*seen["cases"][0].args)


def test_gamma_per_group_is_named_only_when_the_code_is_right_where_groups_are_channels():
    def also_wrong_at_g_equals_c(x, gamma, beta, num_groups, eps=1e-5):
        out, cache = lesson6.gn_affine_per_group(x, gamma, beta, num_groups, eps)
        return out + 1.0, cache
    message = failure("groupnorm_forward", also_wrong_at_g_equals_c)
    assert "per group" not in message and "your code raised ValueError" in message, message


def test_check_failed_shows_as_one_line_in_jupyter():
    lines = CheckFailed("momentum_step: not yet - a hint")._render_traceback_()
    assert len(lines) == 1 and "CheckFailed\x1b[0m: momentum_step: not yet - a hint" in lines[0]


# --- the notebooks ---


def _read(path):
    return nbformat.read(path, as_version=4)


def _without_outputs(nb):
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _graded(nb):
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def test_every_solution_has_its_student_version_and_no_other():
    names = {p.name for p in SOLUTION_PATHS}
    assert len(names) >= 3 and names == {p.name for p in EXERCISES.glob("*.ipynb")}


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_the_student_version_is_what_make_exercises_makes(path):
    made = make_exercises.student_version(_read(path))
    assert _without_outputs(_read(EXERCISES / path.name)) == _without_outputs(made)


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_the_solution_is_in_nbgrader_format(path):
    nb = _read(path)
    solutions = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    graded = _graded(nb)
    assert len(solutions) == len(graded) >= 2
    for cell in solutions:
        assert cell.source.count("### BEGIN SOLUTION") == cell.source.count("### END SOLUTION")
        assert "### BEGIN SOLUTION" in cell.source
        name = re.search(r"^def (\w+)\(", cell.source, re.M).group(1)
        assert cell.metadata.nbgrader == {"grade": False, "grade_id": name, "locked": False,
                                          "schema_version": 3, "solution": True, "task": False}
    for cell in graded:
        meta = cell.metadata.nbgrader
        name = meta["grade_id"].removeprefix("check_")
        assert cell.source == f"# NBVAL_CHECK_OUTPUT\ncheck.{name}({name})"
        assert meta["points"] > 0 and meta["locked"] and not meta["solution"]
        assert meta["schema_version"] == 3
    ids = [c.metadata.nbgrader["grade_id"] for c in solutions + graded]
    assert len(set(ids)) == len(ids)
    others = [c for c in nb.cells if c not in solutions and "### BEGIN SOLUTION" in c.source]
    assert not others


def _run_order(nb):
    return [c.execution_count for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_the_saved_solution_passes_every_check_without_errors(path):
    nb = _read(path)
    assert _run_order(nb) == list(range(1, len(_run_order(nb)) + 1))
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error" or o.get("name") == "stderr"]
    for cell in _graded(nb):
        name = cell.metadata.nbgrader["grade_id"].removeprefix("check_")
        (output,) = cell.outputs
        assert output.output_type == "stream" and output.text.startswith(f"{name}: passed")
        assert output.text.count("\n") == 1


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_the_saved_student_version_shows_no_error_before_the_student_tries(path):
    """A student opening the notebook (or its web page) sees every other cell's output and the
    check cells unrun: no error is saved."""
    student, solution = _read(EXERCISES / path.name), _read(path)
    checks = _graded(student)
    assert len(checks) >= 2
    for mine, theirs in zip(student.cells, solution.cells):
        if mine.cell_type != "code":
            continue
        assert not [o for o in mine.outputs if o.output_type == "error"]
        if mine in checks:
            assert "raises-exception" in mine.metadata.tags
            assert mine.outputs == [] and mine.execution_count is None
            assert "NBVAL_CHECK_OUTPUT" not in mine.source
        else:
            assert mine.outputs == theirs.outputs
            assert mine.execution_count == theirs.execution_count
            assert "raises-exception" not in mine.metadata.get("tags", [])


@pytest.fixture(scope="module")
def executed_students():
    """Every student version run as a student's Run All runs it (in notebooks/exercises)."""
    from nbclient import NotebookClient
    out = {}
    for path in SOLUTION_PATHS:
        nb = _read(EXERCISES / path.name)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(EXERCISES)}}).execute()
        out[path.name] = nb
    return out


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.name)
def test_run_all_fails_each_check_in_one_line_and_nothing_else(path, executed_students):
    nb = executed_students[path.name]
    assert make_exercises.check_failures(nb) == []
    for mine, theirs in zip(_graded(nb), _graded(_read(path))):
        assert mine.outputs and theirs.outputs and mine.outputs != theirs.outputs


def test_check_failures_names_a_check_that_passed_and_another_cell_that_failed():
    nb = _read(EXERCISES / SOLUTION_PATHS[0].name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first_check = _graded(nb)[0]
    first_check.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x: passed\n")]
    other = next(c for c in code if c not in _graded(nb))
    other.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'q'",
                                            traceback=["NameError"])]
    problems = make_exercises.check_failures(nb)
    assert any("NameError" in p for p in problems)
    assert any("not one line" in p for p in problems)


def test_strip_solutions_keeps_the_indentation_and_what_is_outside():
    source = "def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    return x\n" \
             "    ### END SOLUTION\n\ny = 1"
    assert make_exercises.strip_solutions(source) == (
        "def f(x):\n    \"\"\"Doc.\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
        "\ny = 1")


@pytest.mark.parametrize("source, error", [
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
    ("### BEGIN SOLUTION\nx = 1", "without '### END SOLUTION'"),
    ("x = 1\n### END SOLUTION", "without '### BEGIN SOLUTION'"),
])
def test_strip_solutions_refuses_unbalanced_regions(source, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        make_exercises.strip_solutions(source)


def test_links_are_rewritten_for_the_students_folder():
    source = ("[back](../../01_gradient_descent.ipynb) [solutions](03_x.ipynb) "
              "[web](https://example.org/a.ipynb) [here](#exercise-1)")
    assert make_exercises._relink(source) == (
        "[back](../01_gradient_descent.ipynb) [solutions](solutions/03_x.ipynb) "
        "[web](https://example.org/a.ipynb) [here](#exercise-1)")
