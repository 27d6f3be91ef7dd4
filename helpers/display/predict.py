"""Predict, then run: a multiple-choice question whose wrong answers name the misconception.

A teacher writes a question as data, in the lesson's cell:

    predict("Keras's `BatchNormalization(momentum=0.9)` updates its running mean after a "
            "batch. What share of the new value comes from the batch's mean?",
            {"90%": "That is PyTorch's convention, where momentum is the new batch's weight ...",
             "10%": "Keras's momentum is the old value's weight: ... so the batch gets 10%.",
             "it depends on the batch size": "..."},
            answer="10%")

Every choice maps to one or two sentences: for a wrong choice the misconception it reveals,
for a right one why it is right. `answer` names the right choice (or a list of them: the
question then takes check boxes instead of radio buttons). Text may use `code` spans.

One output, three readers (`Question._repr_mimebundle_`):
  - JupyterLab / Notebook 7 (a widget manager): the widget. Choices, a "Check" button, and
    under them the feedback on the choice, with the right answer and its reason from the
    first try on. The bundle's text/html is ignored there (the widget mime type ranks first).
  - GitHub, nbviewer, nbconvert (no widget manager, or no saved state for this widget): the
    text/html: the question, its choices, and the answer with every choice's reason in a
    collapsed <details>, so no reader sees the answer before choosing.
  - The course website (tools/build_site.py): builds a form from the question's data, which
    the output carries in its metadata under QUESTION_KEY (no HTML is parsed).
"""
import html
import itertools
import re

import ipywidgets as widgets

QUESTION_KEY = "bn_course_question"
WIDGET = "application/vnd.jupyter.widget-view+json"
LETTERS = "ABCDE"
MIN_CHOICES, MAX_CHOICES = 2, 5


def question_data(question, choices, answer):
    """Check a question and return it as JSON-able data: {"question": str, "choices":
    [{"text", "right", "feedback"}], "multiple": bool (more than one right choice)}.
    Raises TypeError/ValueError naming what was expected and what was given."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question: expected the question's text, got {question!r}")
    if not isinstance(choices, dict):
        raise TypeError(f"choices: expected a dict {{choice text: one or two sentences}}, "
                        f"got {type(choices).__name__}")
    if not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
        raise ValueError(f"choices: expected {MIN_CHOICES} to {MAX_CHOICES} choices, "
                         f"got {len(choices)}")
    right = [answer] if isinstance(answer, str) else list(answer or [])
    if not right:
        raise ValueError(f"answer: expected at least one right choice (one of "
                         f"{list(choices)}), got none")
    for name in right:
        if name not in choices:
            raise ValueError(f"answer: expected one of the choices {list(choices)}, "
                             f"got {name!r}")
    if len(set(right)) != len(right):
        raise ValueError(f"answer: expected each right choice once, got {right}")
    if len(right) == len(choices):
        raise ValueError(f"answer: expected at least one wrong choice (whose feedback names "
                         f"a misconception), got all {len(choices)} choices right")
    out = []
    for text, feedback in choices.items():
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"choices: expected each choice's text, got {text!r}")
        if not isinstance(feedback, str) or not feedback.strip():
            need = "why it is right" if text in right else "the misconception it reveals"
            raise ValueError(f"choice {text!r}: expected one or two sentences ({need}), "
                             f"got {feedback!r}")
        out.append({"text": text, "right": text in right, "feedback": feedback.strip()})
    return {"question": question.strip(), "choices": out, "multiple": len(right) > 1}


def inline_html(text):
    """Text as HTML: escaped, `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def feedback_html(data, chosen):
    """The feedback on a set of chosen choice indices (HTML): a verdict in words ("Right",
    "Not quite"), the sentence of each wrong choice chosen, the right choices missed, and then
    the answer with its reason (shown from the first try on, right or wrong)."""
    choices, chosen = data["choices"], sorted(set(chosen))
    if not chosen:
        return "<p>Choose an answer first.</p>"
    right = [i for i, c in enumerate(choices) if c["right"]]
    reasons = "".join(f"<li><strong>{inline_html(choices[i]['text'])}</strong>: "
                      f"{inline_html(choices[i]['feedback'])}</li>" for i in right)
    if chosen == right:
        return f"<p><strong>Right.</strong></p><ul>{reasons}</ul>"
    lines = [f"<li>You chose <strong>{inline_html(choices[i]['text'])}</strong>: "
             f"{inline_html(choices[i]['feedback'])}</li>"
             for i in chosen if not choices[i]["right"]]
    missed = [inline_html(choices[i]["text"]) for i in right if i not in chosen]
    if missed and data["multiple"]:
        lines.append("<li>Also right, not chosen: " +
                     ", ".join(f"<strong>{m}</strong>" for m in missed) + ".</li>")
    answer = "The answers" if data["multiple"] else "The answer"
    return (f"<p><strong>Not quite.</strong></p><ul>{''.join(lines)}</ul>"
            f"<p>{answer}:</p><ul>{reasons}</ul>")


def all_feedback(data):
    """{"i,j,...": feedback_html} for every non-empty choice the form allows (one choice, or
    any set of them when several are right): what the website's form shows."""
    n = len(data["choices"])
    sizes = range(1, n + 1) if data["multiple"] else [1]
    return {",".join(map(str, c)): feedback_html(data, c)
            for k in sizes for c in itertools.combinations(range(n), k)}


def how_to_answer(data):
    return "Choose all that apply." if data["multiple"] else "Choose one."


def static_html(data):
    """What a reader without a kernel sees: the question, its lettered choices, and the
    answer with every choice's reason in a collapsed <details>."""
    items = "".join(f"<li>{LETTERS[i]}. {inline_html(c['text'])}</li>"
                    for i, c in enumerate(data["choices"]))
    reasons = "".join(
        f"<li><strong>{LETTERS[i]}. {inline_html(c['text'])}</strong> "
        f"({'right' if c['right'] else 'wrong'}): {inline_html(c['feedback'])}</li>"
        for i, c in enumerate(data["choices"]))
    right = ", ".join(LETTERS[i] for i, c in enumerate(data["choices"]) if c["right"])
    return (f'<div class="bn-predict"><p><strong>Predict:</strong> '
            f"{inline_html(data['question'])}</p>"
            f"<ul>{items}</ul>"
            f"<p><em>{how_to_answer(data)} Decide before you open the answer (run the "
            f"notebook to check your choice).</em></p>"
            f"<details><summary>Answer</summary><p><strong>Right: {right}.</strong></p>"
            f"<ul>{reasons}</ul></details></div>")


def static_text(data):
    """The question and its choices as plain text (no answer)."""
    lines = [f"Predict: {data['question']}"]
    lines += [f"  {LETTERS[i]}. {c['text']}" for i, c in enumerate(data["choices"])]
    lines.append(f"{how_to_answer(data)} (Run the notebook to check your choice.)")
    return "\n".join(lines)


class Question(widgets.VBox):
    """The question as a widget: the question, radio buttons (check boxes when several
    choices are right), a "Check" button and the feedback under them.
    `question.data` is its data; `choose(*texts)` and `check.click()` answer it from Python."""

    def __init__(self, data):
        self.data = data
        texts = [c["text"] for c in data["choices"]]
        prompt = widgets.HTML(f"<p><strong>Predict:</strong> {inline_html(data['question'])}"
                              f" <em>{how_to_answer(data)}</em></p>")
        if data["multiple"]:
            self.boxes = [widgets.Checkbox(value=False, description=t, indent=False,
                                           layout=widgets.Layout(width="auto"))
                          for t in texts]
            self.choices = widgets.VBox(self.boxes)
        else:
            self.choices = widgets.RadioButtons(options=texts, value=None,
                                                layout=widgets.Layout(width="auto"))
        self.check = widgets.Button(description="Check", button_style="primary",
                                    tooltip="Check your answer")
        self.feedback = widgets.HTML("")
        self.tries = 0
        self.check.on_click(self._check)
        super().__init__([prompt, self.choices, self.check, self.feedback])
        self.add_class("bn-predict")

    def chosen(self):
        """The indices of the chosen choices."""
        if self.data["multiple"]:
            return [i for i, box in enumerate(self.boxes) if box.value]
        texts = [c["text"] for c in self.data["choices"]]
        return [] if self.choices.value is None else [texts.index(self.choices.value)]

    def choose(self, *texts):
        """Choose these choices (by their text), as a student clicking them would."""
        if self.data["multiple"]:
            for box in self.boxes:
                box.value = box.description in texts
        else:
            self.choices.value = texts[0]

    def _check(self, _button=None):
        chosen = self.chosen()
        self.tries += bool(chosen)
        self.feedback.value = f'<div role="status">{feedback_html(self.data, chosen)}</div>'

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = static_text(self.data)
        data["text/html"] = static_html(self.data)
        return data, {QUESTION_KEY: self.data}


def predict(question, choices, answer):
    """A prediction question (see the module docstring): question text; choices {text: one or
    two sentences: the misconception of a wrong choice, the reason of a right one}, 2 to 5 of
    them; answer: the right choice's text, or a list of them. Returns the `Question` widget:
    the last line of a cell displays it."""
    return Question(question_data(question, choices, answer))


def forget_live_widgets(nb):
    """For a notebook just run (nbclient with store_widget_state): drop the widget state of
    every question and blank its widget's model id, so that readers without that kernel get
    the question's HTML (nbconvert and nbviewer render a widget only from saved state) and
    JupyterLab, before the cells run, hides the output instead of a dead widget. Other
    widgets' state stays. Returns the number of questions."""
    state = nb.get("metadata", {}).get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    questions, others = [], []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET)
            if view is None:
                continue
            (questions if QUESTION_KEY in output.get("metadata", {}) else others).append(view)

    def reachable(roots):
        seen, todo = set(), [v["model_id"] for v in roots]
        while todo:
            model = todo.pop()
            if model in seen or model not in state:
                continue
            seen.add(model)
            todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", str(state[model]))
        return seen

    for model in reachable(questions) - reachable(others):
        del state[model]
    for view in questions:
        view["model_id"] = ""
    if questions and not state:
        nb["metadata"].pop("widgets", None)
    return len(questions)
