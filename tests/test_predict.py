"""Prediction questions (helpers.display.predict, issue 22), without a browser.

The widget answered from Python (as a student clicking: choose, then Check) gives each choice
its own feedback; bad question data is refused with a message naming expected and got; the
saved output is one bundle (widget view, text/html with the answer in a collapsed <details>,
text/plain without the answer) whose metadata carries the data; a notebook run forgets the
question's widget state so nbconvert renders the HTML; the site builder makes a form from the
data. The browser tests answer the example's question in JupyterLab (test_browser.py) and on
the website (test_site.py).
"""
import copy
import json
from pathlib import Path

import bs4
import nbformat
import pytest

from helpers.display import predict
from helpers.display.predict import QUESTION_KEY, WIDGET, feedback_html, forget_live_widgets

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "notebooks" / "examples" / "predict_example.ipynb"

KERAS = dict(
    question="Keras's `BatchNormalization(momentum=0.9)`: what share does the new batch get?",
    choices={"90%": "That is PyTorch's convention.", "10%": "Momentum is the old value's weight.",
             "50%": "Momentum is not an average of old and new."},
    answer="10%")
EVAL = dict(
    question="In eval mode, batch norm uses ...",
    choices={"running statistics": "Estimated in training.", "gamma and beta": "Both modes.",
             "the batch's statistics": "That is training mode."},
    answer=["running statistics", "gamma and beta"])


def text(html):
    """What a reader sees of some HTML, paragraphs and list items apart by a space."""
    spaced = html.replace("</p>", "</p> ").replace("</li>", "</li> ")
    return " ".join(bs4.BeautifulSoup(spaced, "html.parser").get_text().split())


def test_each_wrong_choice_names_its_misconception_and_the_answer_follows():
    for choice, sentence in KERAS["choices"].items():
        q = predict(**KERAS)
        assert q.feedback.value == "" and q.tries == 0
        q.choose(choice)
        q.check.click()
        shown = text(q.feedback.value)
        assert sentence in shown
        if choice == "10%":
            assert shown.startswith("Right.") and "Not quite" not in shown
        else:
            assert shown.startswith("Not quite.")
            # the right answer and its reason come with the first try
            assert "The answer: 10%: Momentum is the old value's weight." in shown
            others = [s for c, s in KERAS["choices"].items() if c not in (choice, "10%")]
            assert not any(s in shown for s in others)
        assert q.tries == 1


def test_check_without_a_choice_asks_for_one_and_is_no_try():
    q = predict(**KERAS)
    q.check.click()
    assert text(q.feedback.value) == "Choose an answer first." and q.tries == 0


def test_several_right_choices_take_check_boxes_and_must_all_be_chosen():
    q = predict(**EVAL)
    assert [b.description for b in q.boxes] == list(EVAL["choices"])
    q.choose("running statistics")
    q.check.click()
    shown = text(q.feedback.value)
    assert shown.startswith("Not quite.") and "Also right, not chosen: gamma and beta" in shown
    assert "The answers: running statistics: Estimated in training. gamma and beta: Both" \
        in shown
    q.choose("running statistics", "gamma and beta", "the batch's statistics")
    q.check.click()
    shown = text(q.feedback.value)
    assert "You chose the batch's statistics: That is training mode." in shown
    q.choose("running statistics", "gamma and beta")
    q.check.click()
    assert text(q.feedback.value).startswith("Right.") and q.tries == 3


def test_the_widget_is_labelled_radio_buttons_and_a_check_button():
    q = predict(**KERAS)
    prompt, choices, check, feedback = q.children
    assert "BatchNormalization(momentum=0.9)" in prompt.value and "Choose one." in prompt.value
    assert list(choices.options) == list(KERAS["choices"]) and choices.value is None
    assert check.description == "Check"


@pytest.mark.parametrize("change, error, message", [
    (dict(answer=[]), ValueError, "expected at least one right choice .* got none"),
    (dict(answer="20%"), ValueError, r"expected one of the choices \['90%', '10%', '50%'\], "
                                     r"got '20%'"),
    (dict(answer=["90%", "10%", "50%"]), ValueError, "at least one wrong choice.* got all 3"),
    (dict(choices={"90%": "", "10%": "Right."}), ValueError,
     r"choice '90%': expected one or two sentences \(the misconception it reveals\), got ''"),
    (dict(choices={"90%": None, "10%": "Right."}), ValueError, "got None"),
    (dict(choices={"10%": "Right."}), ValueError, "expected 2 to 5 choices, got 1"),
    (dict(choices={str(i): "x" for i in range(6)} | {"10%": "y"}), ValueError,
     "expected 2 to 5 choices, got 7"),
    (dict(choices=[("90%", "x"), ("10%", "y")]), TypeError, "expected a dict .* got list"),
    (dict(question=""), ValueError, "question: expected the question's text, got ''"),
])
def test_bad_question_data_says_what_was_expected(change, error, message):
    with pytest.raises(error, match=message):
        predict(**dict(KERAS, **change))


def test_the_saved_output_is_one_bundle_with_a_hidden_answer_and_the_data():
    q = predict(**KERAS)
    data, metadata = q._repr_mimebundle_()
    assert set(data) == {WIDGET, "text/html", "text/plain"}
    assert data[WIDGET]["model_id"] == q.model_id
    assert metadata[QUESTION_KEY] == q.data
    assert json.loads(json.dumps(q.data)) == q.data                  # travels as JSON
    assert [c["right"] for c in q.data["choices"]] == [False, True, False]
    soup = bs4.BeautifulSoup(data["text/html"], "html.parser")
    details = soup.find("details")
    outside = copy.copy(soup)
    outside.find("details").decompose()
    # the question and its choices outside the collapsed block, every reason inside it only
    assert [li.get_text() for li in outside.select("li")] == ["A. 90%", "B. 10%", "C. 50%"]
    assert "<code>BatchNormalization(momentum=0.9)</code>" in str(outside)
    assert details.summary.get_text() == "Answer" and not details.has_attr("open")
    assert "Right: B." in details.get_text()
    for sentence in KERAS["choices"].values():
        assert sentence in details.get_text() and sentence not in outside.get_text()
        assert sentence not in data["text/plain"]
    assert data["text/plain"].splitlines()[1:4] == ["  A. 90%", "  B. 10%", "  C. 50%"]


def test_the_example_notebook_is_saved_for_readers_without_a_kernel():
    """Its questions' outputs carry their data, no widget state, and a blank model id: nbconvert
    (as nbviewer) renders each as its HTML, once."""
    nb = nbformat.read(EXAMPLE, as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert [o.get("metadata", {}).get(QUESTION_KEY, {}).get("multiple") for o in outputs] \
        == [False, True]
    assert all(o["data"][WIDGET]["model_id"] == "" for o in outputs)
    assert "widgets" not in nb.metadata
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_notebook_node(nb)
    soup = bs4.BeautifulSoup(body, "html.parser")
    assert len(soup.select("div.bn-predict")) == 2 and len(soup.select("details")) == 2
    assert "widget-view+json" not in body


def test_a_run_forgets_only_the_questions_widget_state():
    q, other = predict(**KERAS), predict(**EVAL)
    state = {m: {"state": {"children": [f"IPY_MODEL_{m}ff"]}} for m in (q.model_id, other.model_id)}
    state |= {f"{q.model_id}ff": {"state": {}}, f"{other.model_id}ff": {"state": {}}}
    data, metadata = q._repr_mimebundle_()
    other_data = {WIDGET: {"model_id": other.model_id}}      # another widget (no question)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("display_data", data=data, metadata=metadata),
        nbformat.v4.new_output("display_data", data=other_data)])]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
    assert forget_live_widgets(nb) == 1
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert set(state) == {other.model_id, f"{other.model_id}ff"}
    assert nb.cells[0].outputs[0]["data"][WIDGET]["model_id"] == ""
    assert nb.cells[0].outputs[1]["data"][WIDGET]["model_id"] == other.model_id


def test_the_site_builder_makes_a_labelled_form_with_every_feedback(monkeypatch):
    from test_site import build_site
    q = predict(**EVAL)
    data, metadata = q._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("display_data", data=data, metadata=metadata)])]
    assert build_site.convert_questions(nb) == 1
    output = nb.cells[0].outputs[0]
    assert set(output["data"]) == {"text/html"}
    form = bs4.BeautifulSoup(output["data"]["text/html"], "html.parser").form
    assert "In eval mode, batch norm uses" in form.fieldset.legend.get_text()
    inputs = form.select("fieldset input")
    assert [i["type"] for i in inputs] == ["checkbox"] * 3
    labels = [form.select_one(f"label[for={i['id']}]").get_text() for i in inputs]
    assert labels == list(EVAL["choices"])
    assert form.select_one(".predict-feedback")["aria-live"] == "polite"
    feedback = json.loads(form.select_one(".predict-data").get_text())
    assert len(feedback["chosen"]) == 7                          # every non-empty set of 3
    assert feedback["chosen"]["0,1"] == feedback_html(q.data, [0, 1])
    assert feedback["none"] == feedback_html(q.data, [])


def test_the_readme_snippet_makes_a_question():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Ask before showing (a prediction question):**"):]
    code = section[section.index("```python") + len("```python"):section.index("```\n")]
    namespace = {}
    exec(compile("\n".join(line[2:] for line in code.splitlines()), "README", "exec"),
         namespace)
    assert namespace["predict"].__module__ == "helpers.display.predict"
    q = eval(code[code.index("predict("):].replace("\n  ", "\n"), namespace)
    assert [c["right"] for c in q.data["choices"]] == [False, True, False]
