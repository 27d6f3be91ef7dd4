"""What every checker shares: CheckFailed, calling the student's function, comparing its outputs
with the engine's, and naming a known mistake by its signature.

A check runs the student's function on a few `Case`s, compares every output with the
reference (the engine, or finite differences) and then either prints one line ("passed") or
raises one `CheckFailed` whose message is the hint. To name a mistake it also computes what each
known `Mistake` would have returned: the first one that the student's outputs match on every
case is named.
"""
import inspect
import sysconfig
import traceback
import warnings
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
    print(f"{checked}: passed \u2713 {detail}\n", end="")    # one write: one output in Jupyter


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
    code = f" `{_short(frame.line.strip(), 50)}`" if frame.line else ""
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


def _changed(before, after):
    """The key (an index, or index and dict key) of the first array in `after` that differs
    from its copy in `before`, or None."""
    for i, (b, a) in enumerate(zip(before, after)):
        pairs = [((i,), b, a)] if not isinstance(b, dict) else \
            [((i, k), b[k], a.get(k)) for k in b if isinstance(a, dict)]
        for key, old, new in pairs:
            if isinstance(old, np.ndarray) and not (
                    isinstance(new, np.ndarray) and new.shape == old.shape
                    and np.array_equal(new, old, equal_nan=True)):
                return key
    return None


def _argument_name(fn, key):
    """'x', or "cache['x_hat']": the student's own name for argument key[0]."""
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    name = params[key[0]] if key[0] < len(params) else f"argument {key[0] + 1}"
    return name if len(key) == 1 else f"{name}[{key[1]!r}]"


def in_place_message(checked, name):
    """The message for a function that changed its input `name` in place."""
    base = name.split("[")[0]
    return (f"{checked}: not yet - {name} changed in place (-=, *=, out=...): the caller's array "
            f"must stay as it was: write {base} = {base} - ..., or work on {base}.copy()")


def _short(text, limit=90):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def call(checked, fn, case, args=None, keep_inputs=True):
    """fn(*args) (default: copies of case.args); the student's exceptions become CheckFailed:
    NotImplementedError is "not yet implemented", anything else is named with its line.
    keep_inputs: an input array changed in place (x -= mu) fails the check, naming it."""
    args = _copy(case.args) if args is None else args
    before = _copy(args)
    try:
        result = fn(*args)
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
        raise StudentError(_short(f"{checked}: not yet - your code raised "
                                  f"{type(error).__name__}{place}: {_short(error, 80)} "
                                  f"(case: {case.label})", 240)) from None
    if keep_inputs and (key := _changed(before, args)) is not None:
        raise CheckFailed(in_place_message(checked, _argument_name(fn, key)))
    return result


NONE_MESSAGE = "your function returned None: did you forget `return`?"


def _kind(value):
    """How a returned value reads to a student: 'a list', 'a str', 'an array of shape (2,)'."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _is_number(value):
    return (isinstance(value, (int, float, np.integer, np.floating)) and not
            isinstance(value, (bool, np.bool_))) or (isinstance(value, np.ndarray)
                                                     and value.ndim == 0)


def as_outputs(checked, result, names, numbers=()):
    """The student's return value as a tuple of float arrays, one per name in `names`: each a
    numpy array, or for the names in `numbers` a number (a list, a str, None is refused)."""
    if result is None:
        raise CheckFailed(f"{checked}: not yet - {NONE_MESSAGE}")
    if len(names) > 1:
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            got = f"{len(result)} values" if isinstance(result, (tuple, list)) \
                else _kind(result)
            raise CheckFailed(f"{checked}: not yet - return {len(names)} values "
                              f"({', '.join(names)}), got {got}")
    else:
        result = (result,)
    for name, value in zip(names, result):
        if name in numbers and not _is_number(value):
            raise CheckFailed(f"{checked}: not yet - {name} is {_kind(value)}: return a "
                              f"number (a float), not {_kind(value).split(' of ')[0]}")
        if name not in numbers and not (isinstance(value, (np.ndarray, np.number))
                                        and np.issubdtype(value.dtype, np.number)):
            raise CheckFailed(f"{checked}: not yet - {name} is {_kind(value)}: return a numpy "
                              f"array (numpy operations on arrays give one; np.array(...) "
                              f"converts)")
    return tuple(np.asarray(r, dtype=float) for r in result)


def same(got, expected):
    """True when every array of `got` has the shape of `expected`'s and agrees with it."""
    return all(g.shape == e.shape and bool(np.all(np.isfinite(g)))
               and rel_error(g, e) < TOLERANCE for g, e in zip(got, expected))


def _like(got, signature):
    """Like `same`, but NaN and inf must stand where the signature has them (a mistake whose
    outputs are not finite, such as the mean of an empty slice)."""
    for g, s in zip(got, signature):
        if g.shape != s.shape:
            return False
        finite = np.isfinite(s)
        if not np.array_equal(np.isfinite(g), finite) or not np.array_equal(
                np.isnan(g), np.isnan(s)):
            return False
        if finite.any() and rel_error(g[finite], s[finite]) >= TOLERANCE:
            return False
    return True


def _shape_hint(got, expected):
    """A fix for a shape that differs from the expected one only by axes of length 1."""
    if tuple(d for d in got if d != 1) == tuple(d for d in expected if d != 1):
        return ": drop or add the axes of length 1 (reshape, .ravel(), or keepdims)"
    return ""


def difference(names, got, expected, against):
    """One sentence on how the first wrong output differs, and which outputs are right."""
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if not same((g,), (e,))]
    i = wrong[0]
    g, e, name = got[i], expected[i], names[i]
    if g.shape != e.shape:
        text = f"{name} has shape {g.shape}, expected {e.shape}{_shape_hint(g.shape, e.shape)}"
    elif not np.all(np.isfinite(g)):
        text = f"{name} contains NaN or inf (a division by zero?)"
    else:
        text = (f"{name} differs from {against} (relative error {rel_error(g, e):.1g}, "
                f"allowed {TOLERANCE:g})")
    right = [n for j, n in enumerate(names) if j not in wrong]
    return text + (f"; {', '.join(right)} {'is' if len(right) == 1 else 'are'} right"
                   if right else "")


def run_check(checked, fn, cases, reference, *, names, mistakes=(), against, get=None,
              diagnose=None, after=None):
    """Run `fn` on every case, compare with `reference(*args)`, name a mistake or print "passed".

    names: the outputs' names (a reference returns one array per name; a 0-d one asks the
    student for a number). get(fn, case): how to obtain the student's raw result (default:
    call fn on the case's arguments). A mistake is named when it explains every case: the same
    outputs, and a crash where it cannot run. diagnose(case, got, expected) -> a message or
    None: for a failure that no mistake explains. after(): what else must hold once every
    output is right (it raises CheckFailed).
    """
    expected = [tuple(np.asarray(r, dtype=float) for r in reference(*c.args)) for c in cases]
    numbers = {n for n, e in zip(names, expected[0]) if e.ndim == 0}
    got, crashes = [], []
    for case in cases:
        try:
            result = get(fn, case) if get else call(checked, fn, case)
            got.append(as_outputs(checked, result, names, numbers))
        except StudentError as crash:
            got.append(None)
            crashes.append(str(crash))
    failing = [c.label for c, g, e in zip(cases, got, expected) if g is None or not same(g, e)]
    if not failing:
        if after is not None:
            after()
        labels = "; ".join(c.label for c in cases)
        passed(checked, f"{len(cases)} cases ({labels}) agree with {against}")
        return
    if _single_precision(cases, got, expected):
        raise CheckFailed(f"{checked}: not yet - computed in float32: its 7 digits are too few "
                          f"for values far from 0 (the large-offset case): compute in float64")
    for mistake in mistakes:
        if matches(mistake, cases, got, failing):
            raise CheckFailed(mistake.message(checked))
    if crashes:
        raise CheckFailed(crashes[0])
    i = next(k for k, c in enumerate(cases) if c.label == failing[0])
    if diagnose is not None and (message := diagnose(cases[i], got[i], expected[i])):
        raise CheckFailed(f"{checked}: not yet - {message}")
    raise CheckFailed(f"{checked}: not yet - on the case '{cases[i].label}': "
                      f"{difference(names, got[i], expected[i], against)}")


def _single_precision(cases, got, expected):
    """Whether the outputs look computed in float32 (about 7 digits): wrong by far (more than
    1e-3) only on a case with values far from 0, and elsewhere right to 1e-5 or better."""
    if None in got or any(g.shape != e.shape for gs, es in zip(got, expected)
                          for g, e in zip(gs, es)):
        return False
    errors = {c.label: max(rel_error(g, e) for g, e in zip(gs, es))
              for c, gs, es in zip(cases, got, expected)}
    far = [label for label in errors if "large offset" in label]
    return any(errors[label] > 1e-3 for label in far) and all(
        e < 1e-5 for label, e in errors.items() if label not in far)


def matches(mistake, cases, got, failing):
    """Whether the student's outputs `got` (one tuple per case, None where the student's code
    crashed) show `mistake`: equal to its outputs wherever it can run, crashed where not."""
    if mistake.failing is not None:
        return None not in got and mistake.failing(set(failing))
    compared = 0
    for case, g in zip(cases, got):
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)      # the mean of nothing
                signature = mistake.outputs(*_copy(case.args))
        except (ValueError, IndexError):          # the mistake cannot run on this case
            signature = None
        if g is None and signature is not None:
            return False
        if signature is not None and g is not None:
            if not _like(g, tuple(np.asarray(s, dtype=float) for s in signature)):
                return False
            compared += 1
    return compared > 0


def pair(checked, fn, case):
    """(out, cache) of a forward pass that must return that pair."""
    result = call(checked, fn, case)
    if result is None:
        raise CheckFailed(f"{checked}: not yet - {NONE_MESSAGE}")
    if isinstance(result, np.ndarray):
        raise CheckFailed(f"{checked}: not yet - return a pair (out, cache): the backward pass "
                          f"needs the cache (a dict, e.g. x_hat, std, gamma)")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else _kind(result)
        raise CheckFailed(f"{checked}: not yet - return a pair (out, cache), got {got}")
    return result


def out_of_pair(checked, fn, case):
    """The `out` of a forward pass that must return (out, cache)."""
    return pair(checked, fn, case)[0]
