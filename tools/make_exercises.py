"""Make the student versions of the exercise notebooks from their solutions (`make exercises`).

    python tools/make_exercises.py [--no-run] [notebooks/exercises/solutions/NAME.ipynb ...]

The solutions, notebooks/exercises/solutions/*.ipynb, are in nbgrader's format: solution regions
between `### BEGIN SOLUTION` and `### END SOLUTION` in cells whose metadata says
nbgrader.solution, and check cells whose metadata says nbgrader.grade (with points). For each one
this tool (nbgrader itself is not needed):
  1. runs the solution notebook in a fresh kernel and saves it with its outputs;
  2. writes notebooks/exercises/NAME.ipynb, the student version (`student_version`): every
     solution region replaced by nbgrader's stub ("# YOUR CODE HERE" and
     "raise NotImplementedError()", indented like the region), check cells locked and tagged
     `raises-exception` (their CheckFailed is expected: Run All goes on, nbval accepts it),
     relative links made relative to the student's folder, outputs cleared; the check cells
     lose their `# NBVAL_CHECK_OUTPUT` line (a student's output is not the solution's);
  3. runs the student version, makes sure that each check cell fails in one line,
     "CheckFailed: NAME: not yet implemented ...", and nothing else fails (`check_failures`),
     and saves it with the outputs of every other cell: the check cells are saved unrun, so a
     student opening the notebook sees no error before having tried anything.
--no-run: steps 2 only (the notebooks are then saved without outputs).
"""
import importlib.util
import posixpath
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "notebooks" / "exercises"
SOLUTIONS = EXERCISES / "solutions"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]      # nbgrader's default code stub
LINK = re.compile(r"\]\(([^)\s]+)\)")


def nbgrader(cell):
    """The cell's nbgrader metadata ({} for an ordinary cell)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def strip_solutions(source):
    """The cell's source with every solution region replaced by the stub, indented alike."""
    lines, inside = [], False
    for line in source.split("\n"):
        if line.strip() == BEGIN:
            if inside:
                raise ValueError(f"nested {BEGIN!r} in:\n{source}")
            inside = True
            indent = line[:line.index(BEGIN)]
            lines += [indent + stub for stub in STUB]
        elif line.strip() == END:
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r} in:\n{source}")
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r} in:\n{source}")
    return "\n".join(lines)


def _relink(source):
    """Relative links of a solution notebook, rewritten for the folder one level up."""
    def move(match):
        target = match.group(1)
        if re.match(r"[a-z]+:|#|/", target):
            return match.group(0)
        return f"]({posixpath.normpath(posixpath.join(SOLUTIONS.name, target))})"
    return LINK.sub(move, source)


def student_version(solution):
    """The student notebook made from a solution notebook (a new notebook; see the module)."""
    nb = nbformat.from_dict(solution)
    nb.metadata.pop("celltoolbar", None)
    for cell in nb.cells:
        meta = nbgrader(cell)
        if cell.cell_type == "markdown":
            cell.source = _relink(cell.source)
            continue
        if meta.get("solution"):
            cell.source = strip_solutions(cell.source)
        elif BEGIN in cell.source:
            raise ValueError(f"a solution region outside a solution cell:\n{cell.source}")
        if meta.get("grade"):
            cell.source = cell.source.replace(NBVAL_MARK, "")
            cell.metadata.update(editable=False, deletable=False)
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
        cell.outputs, cell.execution_count = [], None
    return nb


NBVAL_MARK = "# NBVAL_CHECK_OUTPUT\n"


def graded(nb):
    """The check cells of a notebook (nbgrader.grade)."""
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def check_failures(nb):
    """What is wrong with an executed student notebook: [] when every check cell failed in one
    line, "CheckFailed: NAME: not yet implemented ...", and no other cell failed."""
    problems = []
    checks = graded(nb)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if cell not in checks:
            problems += [f"code cell {i}: {o.ename}: {o.evalue}" for o in errors]
            continue
        name = cell.metadata.nbgrader["grade_id"].removeprefix("check_")
        if [(o.output_type, o.get("ename")) for o in cell.outputs] != [("error", "CheckFailed")] \
                or not errors[0].evalue.startswith(f"{name}: not yet implemented") \
                or len(errors[0].traceback) != 1:
            problems.append(f"check cell {i} ({name}): not one line 'CheckFailed: {name}: "
                            f"not yet implemented': {cell.outputs}")
    return problems


def unrun_checks(nb):
    """nb with its check cells' outputs and execution counts cleared (in place)."""
    for cell in graded(nb):
        cell.outputs, cell.execution_count = [], None
    return nb


def _runner():
    """tools/run_notebooks.py's run(path): execute in a fresh kernel, save with outputs."""
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools" /
                                                  "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run


def main(args):
    run = "--no-run" not in args
    paths = [Path(a).resolve() for a in args if a != "--no-run"] or \
        sorted(SOLUTIONS.glob("*.ipynb"))
    execute = _runner() if run else None
    for path in paths:
        target = EXERCISES / path.name
        if execute:
            print(f"solutions/{path.name}: saved after {execute(path):.1f} s", flush=True)
        nbformat.write(student_version(nbformat.read(path, as_version=4)), target)
        if execute:
            seconds = execute(target)
            student = nbformat.read(target, as_version=4)
            problems = check_failures(student)
            if problems:
                sys.exit(f"{target.name}: " + "; ".join(problems))
            nbformat.write(unrun_checks(student), target)
            print(f"{target.name}: saved after {seconds:.1f} s, check cells unrun", flush=True)
        else:
            print(f"{target.name}: written (not run)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
