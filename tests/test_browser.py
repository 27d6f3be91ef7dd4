"""Every lesson in a real browser, as a student meets it (issue 5).

For each lesson notebook, JupyterLab in headless Chromium (driven by Playwright): open the
notebook, clear its saved outputs, Run > Run All Cells, wait until every cell has run; then
check that no output is an error, that every widget rendered (no "Error displaying widget",
none stuck at "Loading widget...", none shown as plain text), that the batch-size and
momentum sliders are there; then move every slider of every `interactive` panel one position,
as a student would (arrow key on the focused handle in JupyterLab, a mouse drag of the handle
in Notebook 7), and check that the plot it drives was redrawn, differently, not blank, and
that no error appeared. One lesson (the first) also runs in the Notebook 7 interface
(/tree -> double-click -> /notebooks/NN_name.ipynb).

The server runs on a temporary copy of notebooks/ (see browser_support.py), so nothing in the
repository changes. Screenshots after the slider moves go to tests/artifacts/ (git-ignored).

Run: `python -m pytest tests -m browser` (after `python tools/ensure_chromium.py`). Without
Chromium the tests skip and say how to install it; with CI set, they fail instead.
"""
import re
import time
from pathlib import Path

import pytest
from browser_support import (
    ARTIFACTS,
    PLOT_JS,
    ROOT,
    SNAPSHOT_JS,
    JupyterServer,
    ink,
)

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
NOTEBOOK7_LESSON = NOTEBOOKS[0].name if NOTEBOOKS else None   # the lesson also run in Notebook 7

RUN_TIMEOUT = 420          # s for Run All; a lesson takes < 45 s alone, CI machines are slower
REDRAW_TIMEOUT = 30        # s for one slider move to redraw
BLANK_INK = 0.015          # real plots here have 4-20% of pixels drawn; a blank one < 1%
WIDGET_REPR = re.compile(r"^(interactive|[A-Z]\w*(Box|Slider|Progress|Output|Button|Dropdown|"
                         r"Text|HTML|Label|Checkbox|Tab|Accordion|Buttons))\(")


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server(chromium):
    with JupyterServer(ROOT / "notebooks") as server:
        yield server


@pytest.fixture
def context(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    yield context
    context.close()
    server.shutdown_kernels()          # the next lesson starts with the CPU to itself


# --------------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS])
def test_lesson_in_jupyterlab(context, server, name):
    page = new_page(context)
    page.goto(server.url(f"lab/tree/{name}?reset"))    # reset: no tabs from earlier lessons
    check_lesson(page, server, name, "JupyterLab", f"lab_{Path(name).stem}")


@pytest.mark.skipif(NOTEBOOK7_LESSON is None, reason="no lesson notebooks yet")
def test_lesson_in_notebook7(context, server):
    page = new_page(context)
    page.goto(server.url("tree"))
    item = page.locator(".jp-DirListing-item", has_text=NOTEBOOK7_LESSON)
    item.wait_for()
    with context.expect_page() as opened:                 # Notebook 7 opens a new tab
        item.dblclick()
    page = watch(opened.value)
    assert f"/notebooks/{NOTEBOOK7_LESSON}" in page.url, f"unexpected page {page.url}"
    # Notebook 7 swallows arrow keys on a focused slider handle (its command-mode shortcuts
    # see them first), so here the student drags the handles with the mouse
    check_lesson(page, server, NOTEBOOK7_LESSON, "Notebook 7",
                 f"nb7_{Path(NOTEBOOK7_LESSON).stem}", how="mouse")


# ------------------------------------------------------------------------------- the student
def new_page(context):
    return watch(context.new_page())


def watch(page):
    """Collect the page's console errors and failed HTTP requests (context for failures)."""
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and page.console_errors.append(
        f"HTTP {r.status} {r.request.method} {r.url.split('?')[0]}"))
    return page


def check_lesson(page, server, name, ui, shot, how="keyboard"):
    """Run all cells of the open notebook, check every output and widget, move the sliders."""
    where = f"{name} ({ui})"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        notebook = page.locator(".jp-Notebook").first
        notebook.locator(".jp-Cell").first.wait_for()
        wait_kernel_idle(page, server, name, where)
        menu(page, "Edit", "Clear Outputs of All Cells")     # what we check is this run's
        menu(page, "Run", "Run All Cells")
        seconds = wait_all_cells_ran(page, notebook, where)
        print(f"{where}: all cells ran in {seconds:.1f} s")
        snap = settle_widgets(notebook)
        problems = output_problems(snap, where)
        problems += slider_problems(snap, where)
        if not problems:
            problems += move_every_slider(page, notebook, snap, where, how)
            problems += output_problems(notebook.evaluate(SNAPSHOT_JS), where)
    except Exception as exc:                           # timeouts etc.: still leave a screenshot
        page.screenshot(path=ARTIFACTS / f"{shot}_FAILED.png")
        message = str(exc) if str(exc).startswith(where) else f"{where}: {exc}"
        raise AssertionError(message + console(page)) from exc
    page.screenshot(path=ARTIFACTS / (f"{shot}.png" if not problems else f"{shot}_FAILED.png"))
    assert not problems, "\n".join(problems) + console(page)


def console(page):
    """The browser console's errors, each once with its count (context for a failure)."""
    errs = getattr(page, "console_errors", [])
    counts = {e: errs.count(e) for e in errs}
    lines = [f"{e[:300]}" + (f" (x{n})" if n > 1 else "") for e, n in counts.items()]
    return ("\nbrowser console errors:\n  " + "\n  ".join(lines[:10])) if lines else ""


def menu(page, top, item):
    """Click a menu-bar menu, then one of its items (exact label)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def wait_kernel_idle(page, server, name, where, timeout=120):
    """Wait until the notebook's kernel has started and is idle; fail on any dialog."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and dialog.first.is_visible():
            raise AssertionError(f"{where}: Jupyter opened a dialog instead of a kernel: "
                                 f"{dialog.first.inner_text()[:300]!r} (a notebook without "
                                 f"the python3 kernelspec asks 'Select Kernel')")
        states = [s["kernel"]["execution_state"] for s in server.api("sessions")
                  if s["path"].endswith(name) and s.get("kernel")]
        if "idle" in states:
            return
        time.sleep(0.5)
    raise AssertionError(f"{where}: no idle kernel within {timeout} s")


def wait_all_cells_ran(page, notebook, where):
    """Wait until every code cell shows an execution count; fail early on an error output."""
    start = time.monotonic()
    idle_since = None
    while True:
        snap = notebook.evaluate(SNAPSHOT_JS)
        pending = [p for p in snap["prompts"] if not re.fullmatch(r"\[\d+\]:", p["prompt"])]
        if not pending:
            return time.monotonic() - start
        if snap["errors"]:
            e = snap["errors"][0]
            raise AssertionError(f"{where}: cell {e['cell']} raised an error during Run All:\n"
                                 f"{e['text']}")
        # Run All stopped (kernel idle) but some cells never ran: say which
        if snap["status"] == "idle" and time.monotonic() - start > 5:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 15:
                cells = ", ".join(f"cell {p['cell']} {p['prompt']!r}" for p in pending[:5])
                raise AssertionError(f"{where}: the kernel is idle but these cells did not "
                                     f"run: {cells}")
        else:
            idle_since = None
        if time.monotonic() - start > RUN_TIMEOUT:
            raise AssertionError(f"{where}: Run All did not finish within {RUN_TIMEOUT} s; "
                                 f"still waiting for {len(pending)} cells, first: cell "
                                 f"{pending[0]['cell']} {pending[0]['prompt']!r}")
        time.sleep(0.5)


def settle_widgets(notebook, timeout=20):
    """A snapshot once no widget says 'Loading widget...' (or after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        snap = notebook.evaluate(SNAPSHOT_JS)
        loading = any("Loading widget" in w["text"] for w in snap["widgets"])
        if not loading or time.monotonic() > deadline:
            return snap
        time.sleep(0.5)


def output_problems(snap, where):
    problems = [f"{where}: cell {e['cell']} shows an error:\n{e['text']}" for e in snap["errors"]]
    for w in snap["widgets"]:
        if "Error displaying widget" in w["text"]:
            problems.append(f"{where}: cell {w['cell']}: widget not rendered: {w['text']!r}")
        elif "Loading widget" in w["text"]:
            problems.append(f"{where}: cell {w['cell']}: widget stuck at {w['text']!r}")
    for t in snap["widgetText"]:
        if WIDGET_REPR.match(t["text"]):
            problems.append(f"{where}: cell {t['cell']}: a widget is shown as text, the widget "
                            f"extension did not load: {t['text'][:120]!r}")
    return problems


def slider_problems(snap, where):
    sliders = [s for p in snap["panels"] for s in p["sliders"]]
    labels = [s["label"] for s in sliders]
    problems = []
    for wanted in ("batch size", "momentum"):
        if not any(wanted in label.lower() for label in labels):
            problems.append(f"{where}: no '{wanted}' slider in any interactive panel "
                            f"({len(snap['panels'])} panels; slider labels seen: {labels})")
    for p in snap["panels"]:
        for s in p["sliders"]:
            if s["now"] is None:
                problems.append(f"{where}: cell {p['cell']}, widget {s['label']!r}: "
                                f"slider without a handle")
    return problems


def move_every_slider(page, notebook, snap, where, how):
    """Move each slider one position, as a student would: with the keyboard on the focused
    handle (how="keyboard") or by dragging the handle with the mouse (how="mouse"). The
    panel's plot must redraw, differently, without an error and not blank."""
    problems = []
    panels = notebook.locator(".widget-interact")
    for p in snap["panels"]:
        panel = panels.nth(p["index"])
        for k, s in enumerate(p["sliders"]):
            what = f"{where}: cell {p['cell']}, widget {s['label']!r}"
            slider = panel.locator(":scope > .widget-slider").nth(k)
            step = 1 if s["now"] < s["max"] else -1
            before = panel.evaluate(PLOT_JS, True)
            handle = slider.locator(".noUi-handle")
            # centre it: a handle at the edge can sit under Notebook 7's sticky toolbar
            handle.evaluate("e => e.scrollIntoView({block: 'center'})")
            if how == "keyboard":
                action = "pressing " + ("ArrowRight" if step > 0 else "ArrowLeft")
                handle.press("ArrowRight" if step > 0 else "ArrowLeft")
            else:
                action = "dragging the handle " + ("right" if step > 0 else "left")
                # the first click into a cell selects it and can scroll the page: click the
                # slider's label first (as a student clicking into the output would)
                slider.locator(".widget-label").click()
                handle.evaluate("e => e.scrollIntoView({block: 'center'})")
                drag(page, slider, handle, step / max(s["max"], 1))
            problems += wait_redraw(panel, slider.locator(".widget-readout"), before,
                                    s["readout"], action, what)
    return problems


def drag(page, slider, handle, fraction):
    """Drag the handle by `fraction` of the slider's track and release it."""
    box, track = handle.bounding_box(), slider.locator(".noUi-base").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + fraction * track["width"], y, steps=8)
    page.mouse.up()


def wait_redraw(panel, readout, before, old_value, action, what):
    """Wait until the readout and the panel's output changed; then check what was drawn."""
    deadline = time.monotonic() + REDRAW_TIMEOUT
    while True:
        time.sleep(0.25)
        now = panel.evaluate(PLOT_JS, False)
        value = readout.inner_text().strip()
        changed = (now["images"] and now["images"] != before["images"]) if before["images"] \
            else (now["text"] and now["text"] != before["text"])
        if now["errors"] or (value != old_value and changed):
            break
        if time.monotonic() > deadline:
            if value == old_value:
                return [f"{what}: {action} did not change the slider's value "
                        f"(still {value!r})"]
            now = panel.evaluate(PLOT_JS, True)
            blank = [i for i in map(ink, now["srcs"]) if i is not None and i < BLANK_INK]
            seen = (f"{len(now['images'])} image(s), unchanged" if now["images"]
                    else "no image") + (", and (nearly) blank" if blank else "") + \
                f"; text: {now['text'][:200]!r}"
            return [f"{what} ({old_value} -> {value}): the plot did not change within "
                    f"{REDRAW_TIMEOUT} s; seen: {seen}"]
    time.sleep(0.3)                            # let the rest of the redraw arrive
    now = panel.evaluate(PLOT_JS, True)
    what = f"{what} ({old_value} -> {value})"
    if now["errors"]:
        return [f"{what}: the panel shows an error:\n{now['errors'][0][-1500:]}"]
    # a redraw that lost its axes (e.g. two threads drawing one figure) is nearly blank
    inks_before = [i for i in map(ink, before["srcs"]) if i is not None]
    for src in now["srcs"]:
        level = ink(src)
        floor = max(BLANK_INK, 0.2 * max(inks_before, default=0.0))
        if level is not None and level < floor:
            return [f"{what}: the new plot is (nearly) blank: {level:.2%} of its pixels are "
                    f"drawn, {max(inks_before, default=0):.2%} before the move; "
                    f"text beside it: {now['text'][:200]!r}"]
    return []


# ------------------------------------------------------------ prediction questions (issue 22)
EXAMPLE = "examples/predict_example.ipynb"


def test_prediction_question_in_jupyterlab(context, server):
    """The example's questions (helpers.display.predict) in JupyterLab: the saved notebook
    shows each question as its HTML, answer collapsed (no dead widget); after Run All each is one
    widget (its text/html fallback not shown beside it); a wrong answer (chosen with the
    keyboard) shows its misconception and the answer, a right one says so."""
    where = f"{EXAMPLE} (JupyterLab)"
    page = new_page(context)
    page.goto(server.url(f"lab/tree/{EXAMPLE}?reset"))
    notebook = page.locator(".jp-Notebook").first
    shot = ARTIFACTS / "lab_predict_example.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        notebook.locator(".jp-Cell").first.wait_for()
        wait_kernel_idle(page, server, EXAMPLE, where)
        # before the cells run, the saved (untrusted) output shows as its HTML: the
        # question, its choices, and the answer collapsed
        saved = notebook.inner_text()
        assert "Error displaying widget" not in saved, f"{where}: {saved[-300:]!r}"
        assert notebook.locator(".bn-predict details:not([open])").count() == 2
        shown = " ".join(o.inner_text() for o in
                         notebook.locator(".jp-OutputArea-output").all())
        assert "A. 90%" in shown and "Keras computes" not in shown, shown[-600:]
        page.screenshot(path=ARTIFACTS / "lab_predict_example_saved.png")
        menu(page, "Run", "Run All Cells")
        wait_all_cells_ran(page, notebook, where)
        widgets = notebook.locator(".widget-vbox.bn-predict")
        widgets.nth(1).wait_for()
        assert widgets.count() == 2
        # one output per question: the widget, not its HTML fallback too
        for cell in notebook.locator(".jp-CodeCell").all():
            assert cell.locator(".jp-OutputArea-output").count() == 1
        assert notebook.locator("details").count() == 0
        first, second = widgets.nth(0), widgets.nth(1)
        feedback = first.locator(".widget-html").last
        # wrong, with the keyboard: Space on the focused choice, Enter on Check (ipywidgets
        # gives its radio buttons no shared name, so Tab, not the arrow keys, moves among them)
        radio = first.get_by_label("90%", exact=True)
        radio.focus()
        page.keyboard.press("Space")
        first.get_by_role("button", name="Check").focus()
        page.keyboard.press("Enter")
        wait_text(feedback, "Not quite.", where)
        shown = " ".join(feedback.inner_text().split())
        assert "You chose 90%: That is PyTorch's convention" in shown, shown
        assert "The answer: 10%: Keras computes moving_mean * 0.9" in shown, shown
        first.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "lab_predict_example_wrong.png")
        first.get_by_label("10%", exact=True).check()
        first.get_by_role("button", name="Check").click()
        wait_text(feedback, "Right.", where)
        for choice in ("the running mean and variance", "the learned gamma and beta"):
            second.get_by_label(choice, exact=True).check()
        second.get_by_role("button", name="Check").click()
        wait_text(second.locator(".widget-html").last, "Right.", where)
        first.scroll_into_view_if_needed()
    except Exception:
        page.screenshot(path=ARTIFACTS / "lab_predict_example_FAILED.png")
        raise
    page.screenshot(path=shot)


def wait_text(locator, text, where, timeout=30):
    deadline = time.monotonic() + timeout
    while text not in locator.inner_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{where}: {text!r} did not appear; shown: "
                                 f"{locator.inner_text()[:300]!r}")
        time.sleep(0.2)
