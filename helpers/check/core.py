"""What every checker shares: CheckFailed, calling the student's function, comparing its outputs
with the engine's, and naming a known mistake by its signature.

A check runs the student's function on a few `Case`s, compares every output with the
reference (the engine, or finite differences) and then either prints one line ("passed") or
raises one `CheckFailed` whose message is the hint. To name a mistake it also computes what each
known `Mistake` would have returned: the first one that the student's outputs match on every
case is named.
"""
import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..gradcheck import rel_error

TOLERANCE = 1e-7        # relative error (whole arrays) below which two results agree
_LIBRARY_DIRS = tuple(str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib",
                                                         "platlib")
                      if (p := sysconfig.get_paths().get(key)))
_HELPERS_DIR = str(Path(__file__).resolve().parent.parent)


class CheckFailed(Exception):
    """A check that did not pass. Its message is the hint.

    Jupyter shows it as one line, without a traceback (IPython calls `_render_traceback_`), and
    graders such as nbgrader give no marks to a test cell that raises.
    """

    def _render_traceback_(self):
        return [f"\x1b[1;31mCheckFailed\x1b[0m: {self}"]


class StudentError(CheckFailed):
    """An exception raised inside the student's code, as a CheckFailed naming its line."""


@dataclass(frozen=True)
class Case:
    """One input to try: a label the student reads ("batch of 2") and the arguments."""
    label: str
    args: tuple


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer. name: what the student reads first; hint: how to fix it.

    outputs(*args) -> what a function with this mistake returns on a case (a tuple like the
    reference's), or None when the case cannot show the mistake. failing(labels) -> True:
    matched by *which* cases fail instead (for mistakes whose output is not reproducible, such
    as round-off).
    """
    name: str
    hint: str
    outputs: object = None
    failing: object = None

    def message(self, checked):
        return f"{checked}: not yet - {self.name}: {self.hint}"


def std_mistakes(outputs_with):
    """The classic mistakes in dividing by sqrt(var + eps), as Mistakes. outputs_with(std)
    gives the outputs function of the computation with the root written as std(var, eps)."""
    return [
        Mistake("eps added to the standard deviation", "eps goes inside the square root: "
                "divide by np.sqrt(var + eps), not by np.sqrt(var) + eps",
                outputs_with(lambda var, eps: np.sqrt(var) + eps)),
        Mistake("eps missing", "divide by np.sqrt(var + eps): without eps a feature that "
                "barely varies is blown up", outputs_with(lambda var, eps: np.sqrt(var))),
        Mistake("divided by the variance", "divide by the standard deviation "
                "np.sqrt(var + eps), not by var + eps", outputs_with(lambda var, eps: var + eps)),
        Mistake("the eps argument is ignored", "use the eps passed to your function, not a "
                "number of your own (case 'odd eps = 0.3')",
                outputs_with(lambda var, eps: np.sqrt(var + 1e-5))),
    ]


def passed(checked, detail):
    """Print the one line a passing check prints."""
    print(f"{checked}: passed \u2713 {detail}")


def _is_library(filename):
    """Whether a traceback entry's file is numpy's, Python's or helpers' (not the student's)."""
    if filename.startswith("<frozen"):
        return True
    path = str(Path(filename).resolve())
    return path.startswith(_HELPERS_DIR) or any(path.startswith(d) for d in _LIBRARY_DIRS)


def _place(frame):
    """'line 7 of cell In[4]' in Jupyter, 'line 7 of file.py' elsewhere."""
    where = Path(frame.filename).name
    try:
        from IPython import get_ipython
        named = get_ipython().compile.format_code_name(frame.filename)
        if named:
            where = f"cell {named[1]}"
    except (ImportError, AttributeError):
        pass
    code = f" `{frame.line.strip()}`" if frame.line else ""
    return f"line {frame.lineno} of {where}{code}"


def student_frame(error):
    """The deepest traceback entry of `error` in the student's own code (not numpy, not the
    standard library, not helpers), or None."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not _is_library(f.filename)]
    return frames[-1] if frames else None


def _copy(value):
    """A copy of arrays (also inside dicts, lists and tuples); anything else as it is."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


def call(checked, fn, case, args=None):
    """fn(*args) (default: copies of case.args); the student's exceptions become CheckFailed:
    NotImplementedError is "not yet implemented", anything else is named with its line."""
    try:
        return fn(*(_copy(case.args) if args is None else args))
    except NotImplementedError as error:
        frame = student_frame(error)
        inner = f" ({frame.name} still raises NotImplementedError)" \
            if frame is not None and frame.name != getattr(fn, "__name__", None) else ""
        raise CheckFailed(f"{checked}: not yet implemented{inner}: replace "
                          f"`raise NotImplementedError()` with your code") from None
    except CheckFailed:                    # raised by a check's helper the student called
        raise
    except Exception as error:
        frame = student_frame(error)
        place = f" at {_place(frame)}" if frame is not None else ""
        raise StudentError(f"{checked}: not yet - your code raised {type(error).__name__}"
                           f"{place}: {error} (case: {case.label})") from None


def as_outputs(checked, result, names):
    """The student's return value as a tuple of float arrays, one per name in `names`."""
    if result is None:
        raise CheckFailed(f"{checked}: not yet - your function returned None: "
                          f"did you forget `return`?")
    if len(names) > 1:
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            got = f"{len(result)} values" if isinstance(result, (tuple, list)) \
                else f"one {type(result).__name__}"
            raise CheckFailed(f"{checked}: not yet - return {len(names)} values "
                              f"({', '.join(names)}), got {got}")
    else:
        result = (result,)
    try:
        return tuple(np.asarray(r, dtype=float) for r in result)
    except (TypeError, ValueError):
        raise CheckFailed(f"{checked}: not yet - return numbers or numpy arrays for "
                          f"{', '.join(names)}, got {[type(r).__name__ for r in result]}") from None


def same(got, expected):
    """True when every array of `got` has the shape of `expected`'s and agrees with it."""
    return all(g.shape == e.shape and bool(np.all(np.isfinite(g)))
               and rel_error(g, e) < TOLERANCE for g, e in zip(got, expected))


def difference(names, got, expected, against):
    """One sentence on how the first wrong output differs, and which outputs are right."""
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if not same((g,), (e,))]
    i = wrong[0]
    g, e, name = got[i], expected[i], names[i]
    if g.shape != e.shape:
        text = f"{name} has shape {g.shape}, expected {e.shape}"
    elif not np.all(np.isfinite(g)):
        text = f"{name} contains NaN or inf (a division by zero?)"
    else:
        text = (f"{name} differs from {against} (relative error {rel_error(g, e):.1g}, "
                f"allowed {TOLERANCE:g})")
    right = [n for j, n in enumerate(names) if j not in wrong]
    return text + (f"; {', '.join(right)} {'is' if len(right) == 1 else 'are'} right"
                   if right else "")


def run_check(checked, fn, cases, reference, *, names, mistakes=(), against, get=None):
    """Run `fn` on every case, compare with `reference(*args)`, name a mistake or print "passed".

    names: the outputs' names (a reference returns one array per name). get(fn, case): how to
    obtain the student's raw result (default: call fn on the case's arguments). A mistake is
    named when it explains every case: the same outputs, and a crash where it cannot run.
    """
    got, crashes = [], []
    for case in cases:
        try:
            result = get(fn, case) if get else call(checked, fn, case)
            got.append(as_outputs(checked, result, names))
        except StudentError as crash:
            got.append(None)
            crashes.append(str(crash))
    expected = [tuple(np.asarray(r, dtype=float) for r in reference(*c.args)) for c in cases]
    failing = [c.label for c, g, e in zip(cases, got, expected) if g is None or not same(g, e)]
    if not failing:
        labels = "; ".join(c.label for c in cases)
        passed(checked, f"{len(cases)} cases ({labels}) agree with {against}")
        return
    for mistake in mistakes:
        if matches(mistake, cases, got, failing):
            raise CheckFailed(mistake.message(checked))
    if crashes:
        raise CheckFailed(crashes[0])
    i = next(k for k, c in enumerate(cases) if c.label == failing[0])
    raise CheckFailed(f"{checked}: not yet - on the case '{cases[i].label}': "
                      f"{difference(names, got[i], expected[i], against)}")


def matches(mistake, cases, got, failing):
    """Whether the student's outputs `got` (one tuple per case, None where the student's code
    crashed) show `mistake`: equal to its outputs wherever it can run, crashed where not."""
    if mistake.failing is not None:
        return None not in got and mistake.failing(set(failing))
    compared = 0
    for case, g in zip(cases, got):
        try:
            signature = mistake.outputs(*_copy(case.args))
        except (ValueError, IndexError):          # the mistake cannot run on this case
            signature = None
        if g is None and signature is not None:
            return False
        if signature is not None and g is not None:
            if not same(g, tuple(np.asarray(s, dtype=float) for s in signature)):
                return False
            compared += 1
    return compared > 0


def out_of_pair(checked, fn, case):
    """The `out` of a forward pass that must return (out, cache)."""
    result = call(checked, fn, case)
    if isinstance(result, np.ndarray):
        raise CheckFailed(f"{checked}: not yet - return a pair (out, cache): the backward pass "
                          f"needs the cache (a dict, e.g. x_hat, std, gamma)")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{checked}: not yet - return a pair (out, cache), got "
                          f"{type(result).__name__}")
    return result[0]
