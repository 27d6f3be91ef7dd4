"""The shape of a lesson: a core a student finishes, and optional going-deeper notebooks.

A core lesson (notebooks/NN_*.ipynb) keeps to at most 3,000 words of prose (markdown and code
comments, outside the hidden answers), prints at most 3 True/False lines in all (claims are
tested in tests/, not printed as booleans), asks at least 2 prediction questions
(`helpers.display.predict`), and its saved pictures are at most 1,600 px tall.

A going-deeper notebook is notebooks/deeper/NNx_topic.ipynb: NN its lesson's number, x a
letter (a, b, ...). Its first cell is titled "# Going deeper NNx: ..." (NN without its leading
0) and links back to its lesson; its last cell links back too; its lesson links to it; the
README lists it (the website builds its list from the README). Lessons whose second edition
has not landed yet are expected to fail the core rules (strict xfail: the mark must go when
they pass).
"""
import base64
import io
import json
import re
from pathlib import Path

import PIL.Image
import pytest

from helpers.display.predict import QUESTION_KEY

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CORES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
DEEPER = sorted((NOTEBOOKS / "deeper").glob("*.ipynb"))
MAX_WORDS, MAX_BOOLEAN_LINES, MIN_QUESTIONS, MAX_PICTURE_PX = 3000, 3, 2, 1600
# Lessons still in their first edition, and the issue that rewrites them.
FIRST_EDITION = {}


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"])


def prose_words(path):
    """Words of markdown and of code comments, outside <details> answers and nbval markers."""
    words = 0
    for cell in cells(path):
        text = source(cell)
        if cell["cell_type"] == "markdown":
            text = re.sub(r"<details>.*?</details>", " ", text, flags=re.S)
        elif cell["cell_type"] == "code":
            text = " ".join(m.group(1) for m in re.finditer(r"#(.*)$", text, re.M)
                            if not m.group(1).strip().startswith("NBVAL"))
        else:
            continue
        words += len(re.findall(r"[A-Za-z0-9]\S*", text))
    return words


def boolean_lines(path):
    lines = []
    for cell in cells(path):
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) if out.get("output_type") == "stream" else ""
            lines += [line for line in text.splitlines() if re.search(r"\b(True|False)\b", line)]
    return lines


def questions(path):
    return sum(1 for cell in cells(path) for out in cell.get("outputs", [])
               if QUESTION_KEY in out.get("metadata", {}))


def picture_heights(path):
    for i, cell in enumerate(cells(path)):
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                yield i, PIL.Image.open(io.BytesIO(base64.b64decode(png))).size[1]


def core(path):
    number = path.name[:2]
    marks = []
    if number in FIRST_EDITION:
        marks = [pytest.mark.xfail(strict=True, reason=f"first edition: issue "
                                                       f"#{FIRST_EDITION[number]}")]
    return pytest.param(path, marks=marks, id=path.stem)


@pytest.mark.parametrize("path", [core(p) for p in CORES])
def test_a_core_lesson_is_a_chapter_a_student_finishes(path):
    words, booleans, asked = prose_words(path), boolean_lines(path), questions(path)
    tall = [(i, h) for i, h in picture_heights(path) if h > MAX_PICTURE_PX]
    assert words <= MAX_WORDS, f"{path.name}: {words} words of prose (at most {MAX_WORDS})"
    assert len(booleans) <= MAX_BOOLEAN_LINES, f"{path.name}: True/False lines {booleans}"
    assert asked >= MIN_QUESTIONS, f"{path.name}: {asked} prediction questions"
    assert not tall, f"{path.name}: pictures taller than {MAX_PICTURE_PX} px (cell, px): {tall}"


def test_the_prose_counter_skips_answers_code_and_markers(tmp_path):
    nb = {"cells": [
        {"cell_type": "markdown", "source": "One two three.\n<details><summary>Answer</summary>"
                                            "\nfour five\n</details>"},
        {"cell_type": "code", "source": "# NBVAL_CHECK_OUTPUT\nx = 1  # six seven\nprint(x)"},
    ]}
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(nb))
    assert prose_words(path) == 5


@pytest.mark.parametrize("path", DEEPER, ids=lambda p: p.stem)
def test_a_going_deeper_notebook_follows_the_convention(path):
    m = re.fullmatch(r"(\d\d)([a-z])_\w+\.ipynb", path.name)
    assert m, f"{path.name}: expected deeper/NNx_topic.ipynb"
    number, letter = m.groups()
    lessons = list(NOTEBOOKS.glob(f"{number}_*.ipynb"))
    assert len(lessons) == 1, f"{path.name}: no lesson {number} to go deeper from"
    lesson = lessons[0].name
    found = cells(path)
    first, last = source(found[0]), source(found[-1])
    assert re.match(rf"# Going deeper {int(number)}{letter}: \S", first), first[:80]
    for where, text in (("first", first), ("last", last)):
        assert f"](../{lesson})" in text, f"{path.name}: its {where} cell has no link to {lesson}"
    linked = "\n".join(source(c) for c in cells(lessons[0]))
    assert f"](deeper/{path.name})" in linked, f"{lesson} does not link to {path.name}"
    readme = (ROOT / "README.md").read_text()
    assert f"](notebooks/deeper/{path.name})" in readme, f"README.md does not list {path.name}"
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
