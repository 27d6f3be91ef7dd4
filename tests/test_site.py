"""The course website (tools/build_site.py, `make site`, issue 16).

Without a browser: a panel displayed in a kernel leaves its pictures and an id in its output,
and the builder turns that output into a viewer (controls, pictures quantized and copied next
to the page, alt text), rewrites links, and refuses to build from missing pictures.

In Chromium (browser-marked; `make test` runs them after the notebooks ran under nbval, which
leaves build/panels/): the site built from the saved notebooks, served on 127.0.0.1 from a
random port. Every page loads with no console error, no failed request and no request leaving
the site; every internal link resolves; math is rendered (no raw $...$ left); on every panel
each control is moved through all its positions, and the picture, its alt text, the printed
text and the readout must be that position's; axe-core audits every page against WCAG 2 A
and AA (issue 27). One lesson page is also opened from file:// and its first panel moved; at
390 px (a phone) no page scrolls sideways, and one lesson is read and tapped as on a phone. A
screenshot of each page goes to tests/artifacts/.
"""
import functools
import http.server
import importlib.util
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import bs4
import nbformat
import PIL.Image
import pytest
from browser_support import ARTIFACTS, ROOT
from matplotlib.figure import Figure

import helpers.display.export as export
import helpers.display.panels as panels
from helpers.display.predict import QUESTION_KEY


def load_builder():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_site"] = module          # its worker processes find it by name
    spec.loader.exec_module(module)
    return module


build_site = load_builder()


# ---------------------------------------------------------------- the builder, no browser
def toy_panel(monkeypatch, directory, panel_id="01-toy"):
    """A two-control panel (a slider and toggle buttons) whose pictures go to `directory`."""
    monkeypatch.setattr(panels, "PRERENDER", True)
    monkeypatch.setattr(export, "panels_dir", lambda: directory)
    import ipywidgets as widgets

    def draw(n, colour):
        print(f"n = {n}, colour {colour}" if n else "")
        fig = Figure(figsize=(2, 1.5), dpi=120)
        fig.add_subplot().plot(range(n + 2), color=colour)
        return fig

    return panels.cached_panel(
        draw, panel_id=panel_id, progress=False,
        n=panels.selection_slider([0, 1, 2], "points", value=1),
        colour=widgets.ToggleButtons(options=["black", "grey"], description="colour"))


def test_a_displayed_panel_leaves_its_pictures_under_the_id_it_was_given(monkeypatch, tmp_path):
    panel = toy_panel(monkeypatch, tmp_path)
    _, metadata = panel._repr_mimebundle_()
    assert metadata[export.PANEL_KEY]["id"] == "01-toy"
    manifest = json.loads((tmp_path / "01-toy" / "panel.json").read_text())
    assert [c["description"] for c in manifest["controls"]] == ["points", "colour"]
    assert [c["default"] for c in manifest["controls"]] == [1, 0]
    assert [c["kind"] for c in manifest["controls"]] == ["slider", "select"]
    assert len(manifest["positions"]) == 6 and len(manifest["pictures"]) == 6
    picture = manifest["pictures"][manifest["positions"]["2,1"]]
    assert picture["text"] == "n = 2, colour grey\n"
    # the bytes the panel drew, as they are (not re-encoded while the lesson runs)
    assert (tmp_path / "01-toy" / picture["file"]).read_bytes() == \
        panel.pictures[(2, "grey")][1]
    # the same panel displayed again (a re-run cell) writes the same folder again
    again = toy_panel(monkeypatch, tmp_path)._repr_mimebundle_()[1][export.PANEL_KEY]
    assert again == metadata[export.PANEL_KEY] and len(list(tmp_path.iterdir())) == 1


def test_a_panel_without_an_id_is_not_exported_and_a_bad_id_is_refused(monkeypatch, tmp_path):
    _, metadata = toy_panel(monkeypatch, tmp_path, panel_id=None)._repr_mimebundle_()
    assert export.PANEL_KEY not in metadata and not list(tmp_path.iterdir())
    for bad in ("03 activations", "../x", "", "Lesson3", 3):
        with pytest.raises(ValueError, match="panel_id must be lower-case letters, digits"):
            toy_panel(monkeypatch, tmp_path, panel_id=bad)


def test_every_lesson_panel_has_a_unique_id_that_names_its_lesson():
    """The ids the lessons give their panels (saved in the notebooks' outputs): one per panel,
    none used twice in the course, each starting with its lesson's number."""
    seen = []
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                panel = out.get("metadata", {}).get(export.PANEL_KEY)
                if panel:
                    assert panel["id"].startswith(path.name[:2] + "-"), (path.name, panel)
                    assert f'panel_id="{panel["id"]}"' in cell.source, (path.name, panel)
                    seen.append(panel["id"])
    assert len(seen) == len(set(seen)) >= 10


def test_panels_write_only_in_a_kernel_running_a_lesson(monkeypatch):
    assert export.panels_dir() is None                       # no kernel (these tests)
    import IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: type("Shell", (), {"kernel": 1})())
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("BN_COURSE_PANELS", raising=False)
    assert export.panels_dir() == ROOT / "build" / "panels"   # nbval, make notebooks
    monkeypatch.setenv("JPY_SESSION_NAME", "01_gradient_descent.ipynb")
    assert export.panels_dir() is None                       # a student in JupyterLab


def toy_site(monkeypatch, tmp_path, with_pictures=True, with_id=True):
    """A one-lesson notebooks folder with a panel and prose, built into tmp_path/site."""
    pictures = tmp_path / "panels"
    panel = toy_panel(monkeypatch, pictures)
    data, metadata = panel._repr_mimebundle_()
    if not with_id:                             # as saved before panels had ids
        metadata.pop(export.PANEL_KEY)
    notebooks = tmp_path / "notebooks"
    (notebooks / "exercises" / "solutions").mkdir(parents=True)
    (notebooks / "exercises" / "solutions" / "01_x.ipynb").write_text("{}")
    (tmp_path / "README.md").write_text(
        "# Course\n\nIntro.\n\n## Start\n\n## The lessons\n\n| 1 | [Toy](notebooks/"
        "01_toy.ipynb) | <img src=\"docs/thumbnails/01.png\" width=\"220\"> |\n\n"
        "## Exercises: build it yourself\n\nNone.\n\n## Conda\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
                    "# Lesson 1: a toy\n\nMath $x^2$. [Next](02_missing.ipynb), "
                    "[solution](exercises/solutions/01_x.ipynb), [home](../README.md)"),
                nbformat.v4.new_code_cell("panel", outputs=[nbformat.v4.new_output(
                    "display_data", data=data, metadata=metadata)])]
    nbformat.write(nb, notebooks / "01_toy.ipynb")
    if not with_pictures:
        pictures = tmp_path / "nothing"
    return build_site.build(out=tmp_path / "site", notebooks=notebooks, panels=pictures,
                            cache=tmp_path / "cache", readme=tmp_path / "README.md")


def test_the_builder_turns_a_panel_into_a_viewer(monkeypatch, tmp_path):
    monkeypatch.setenv("SITE_REPOSITORY", "")
    assert toy_site(monkeypatch, tmp_path) == {"01_toy.html": 1}
    site = tmp_path / "site"
    page = (site / "01_toy.html").read_text()
    soup = bs4.BeautifulSoup(page, "html.parser")
    viewer = soup.select_one(".panel-viewer")
    assert [label.text for label in viewer.select("label")] == ["points", "colour"]
    slider = soup.select_one("#panel-1-n")
    assert (slider["type"], slider["min"], slider["max"], slider["value"]) == \
        ("range", "0", "2", "1")
    assert soup.select_one("#panel-1-colour").name == "select"
    img = viewer.select_one("img.panel-picture")
    assert img["loading"] == "lazy" and img["alt"] == "n = 1, colour black"
    assert img.parent["href"] == img["src"]            # a tap opens the picture full size
    assert viewer.select_one(".panel-text").text == "n = 1, colour black"
    assert "application/vnd.jupyter.widget" not in page and "cdn" not in page.lower()
    assert "mybinder.org" not in page                  # no repository set: no Binder link
    shown = sorted(site.glob("01_toy_files/panels/*/*.png"))
    assert len(shown) == 6
    assert all(PIL.Image.open(p).mode == "P" for p in shown)     # 256 colours at build time
    # links: a missing page stays (and the browser test would catch it), a solution is not
    # a page (no link without a repository), README.md is the index, navigation stays
    links = {a.text: a.get("href") for a in soup.select("main a")}
    assert links["Next"] == "02_missing.ipynb" and links["solution"] is None
    assert links["home"] == "index.html" and links["← Course home"] == "index.html"
    assert (site / "index.html").exists() and (site / "_static/mathjax/tex-svg.js").exists()


def test_the_binder_link_comes_from_the_repository_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("SITE_REPOSITORY", "someone/bn-course")
    toy_site(monkeypatch, tmp_path)
    page = (tmp_path / "site" / "01_toy.html").read_text()
    assert ('href="https://mybinder.org/v2/gh/someone/bn-course/HEAD?labpath='
            'notebooks/01_toy.ipynb"') in page
    assert ('href="https://github.com/someone/bn-course/blob/HEAD/notebooks/exercises/'
            'solutions/01_x.ipynb"') in page


def test_missing_pictures_say_how_to_get_them(monkeypatch, tmp_path):
    with pytest.raises(build_site.SiteError, match="make notebooks"):
        toy_site(monkeypatch, tmp_path, with_pictures=False)


def test_a_panel_saved_without_an_id_says_how_to_fix_it(monkeypatch, tmp_path):
    with pytest.raises(build_site.SiteError, match="no panel id.*make notebooks"):
        toy_site(monkeypatch, tmp_path, with_id=False)


def test_pictures_from_another_run_are_reported(monkeypatch, tmp_path, capsys):
    original = export.export_pictures

    def other_run(*args):
        exported = original(*args)
        return dict(exported, texts="something else")

    monkeypatch.setattr(panels, "export_pictures", other_run)      # as panels calls it
    toy_site(monkeypatch, tmp_path)
    assert "come from another run than the saved notebook" in capsys.readouterr().err


# ------------------------------------------------------------------------- in the browser
LOAD_TIMEOUT = 60_000      # ms
# The saved notebooks the site is built from (SITE_NOTEBOOKS: another folder of executed
# notebooks, e.g. copies run elsewhere while developing the site)
NOTEBOOKS = Path(os.environ.get("SITE_NOTEBOOKS", ROOT / "notebooks"))
RAW_MATH = re.compile(r"\$[^$\s][^$]*?\$|\\\(|\\\[|\\begin\{")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built from the saved notebooks and build/panels (what `make site` does)."""
    out = tmp_path_factory.mktemp("site") / "site"
    start = time.perf_counter()
    try:
        build_site.build(out=out, notebooks=NOTEBOOKS)
    except build_site.SiteError as exc:
        pytest.fail(f"the site cannot be built: {exc}")
    print(f"site built in {time.perf_counter() - start:.0f} s, "
          f"{build_site.size_of(out) / 1e6:.1f} MB")
    return out


@pytest.fixture(scope="module")
def server(site):
    """site/ over HTTP on 127.0.0.1, a random free port."""
    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def site_pages():
    listed = build_site.pages(NOTEBOOKS)
    return ["index.html"] + [rel for _, rel, _ in listed]


@pytest.mark.browser          # needs the lessons' pictures, like the browser tests
def test_the_whole_site_is_under_80_mb(site):
    assert build_site.size_of(site) < 80e6, f"{build_site.size_of(site) / 1e6:.1f} MB"


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(LOAD_TIMEOUT)
    page = context.new_page()
    page.problems = []
    origin = server if server else ""
    page.on("console", lambda m: m.type == "error" and page.problems.append(
        f"console error: {m.text[:300]}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: page.problems.append(
        f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(
        f"HTTP {r.status} {r.url}"))
    page.on("request", lambda r: not r.url.startswith((origin, "file://", "data:")) and
            page.problems.append(f"a request leaves the site: {r.url}"))
    yield page
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("rel", site_pages())
def test_page(page, server, site, rel):
    """Load one page: no errors, links resolve, math rendered, no WCAG 2 A/AA violation
    (axe-core), every panel works."""
    page.goto(f"{server}/{rel}")
    wait_for_math(page)
    problems = list(page.problems)
    problems += link_problems(page, site, rel)
    problems += math_problems(page)
    problems += audit_problems(page, rel)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"site_{rel.replace('/', '_').replace('.html', '')}.png"
    page.screenshot(path=shot)
    problems += panel_problems(page)
    problems += [p for p in page.problems if p not in problems]
    assert not problems, f"{rel}:\n" + "\n".join(problems[:30])


@pytest.mark.browser
def test_a_lesson_from_file_url(page, site):
    """The site needs no server: a lesson opened from file:// renders and its panel moves."""
    lesson = next((rel for rel in site_pages()[1:]
                   if "panel-viewer" in (site / rel).read_text()), None)
    if lesson is None:
        pytest.fail("no page of the site has a slider panel")
    page.goto((site / lesson).as_uri())
    wait_for_math(page)
    viewer = page.locator(".panel-viewer").first
    viewer.scroll_into_view_if_needed()
    img = viewer.locator("img.panel-picture")
    wait_loaded(img)
    before = img.get_attribute("src")
    control = viewer.locator("input, select").first
    if control.evaluate("c => c.tagName") == "SELECT":
        count = control.locator("option").count()
        control.select_option(str((int(control.input_value()) + 1) % count))
    else:
        control.focus()
        at_end = control.input_value() == control.get_attribute("max")
        control.press("ArrowLeft" if at_end else "ArrowRight")
    wait_loaded(img)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    viewer.evaluate("v => { v.scrollIntoView(); window.scrollBy(0, -60); }")   # under the nav
    page.screenshot(path=ARTIFACTS / "site_file_url.png")
    assert img.get_attribute("src") != before, f"{lesson} from file://: no new picture"
    assert not page.problems, f"{lesson} from file://:\n" + "\n".join(page.problems)


PHONE = {"width": 390, "height": 844}      # CSS px: a phone held upright (iPhone 12 to 15)
THUMB = 44                                   # px: the smallest target for a thumb (WCAG 2.5.5)


@pytest.mark.browser
def test_a_lesson_on_a_phone(browser, server, site):
    """A lesson at 390 px as a phone shows it (touch, mobile viewport): the page does not
    scroll sideways, printed lines wrap between words, every link and control lies on the
    screen, the navigation and the panels' controls are big enough for a thumb and answer a
    tap, and a tap on a panel's picture opens it at full size."""
    lesson = most_printed_lesson(site)
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(f"{server}/{lesson}")
        wait_for_math(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "site_phone.png")
        problems = sideways_problems(page)
        problems += audit_problems(page, f"{lesson} at {PHONE['width']} px")
        problems += [f"a printed line breaks inside a word: {w!r}"
                     for w in page.evaluate(MID_WORD_BREAKS_JS)]
        problems += target_problems(page)
        problems += tap_problems(page)
        viewer = page.locator(".panel-viewer").first
        viewer.scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / "site_phone_panel.png")
        problems += picture_opens_problems(page, viewer)
    finally:
        context.close()
    assert not problems, f"{lesson} at {PHONE['width']} px:\n" + "\n".join(problems[:30])


@pytest.mark.browser
def test_no_page_scrolls_sideways_on_a_phone(browser, server):
    """Every page at 390 px: no sideways scrolling, no line of code or printed text cut off."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(LOAD_TIMEOUT)
    page = context.new_page()
    problems = []
    try:
        for rel in site_pages():
            page.goto(f"{server}/{rel}")
            wait_for_math(page)
            problems += [f"{rel}: {p}" for p in sideways_problems(page)]
    finally:
        context.close()
    assert not problems, "\n".join(problems[:30])


# ------------------------------------------------------------------------------- helpers
def wait_for_math(page):
    page.wait_for_function("() => document.readyState === 'complete' && window.MathJax && "
                           "MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")


def link_problems(page, site, rel):
    """Every link to a page or file of the site must resolve (to an element, for a #part)."""
    problems = []
    base = urlparse(page.url)
    for href in page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"):
        url = urlparse(href)
        if url.scheme in ("http", "https") and url.netloc != base.netloc:
            continue                                   # Binder, GitHub: outside, not fetched
        target = site / unquote(url.path).lstrip("/")
        if not target.is_file():
            problems.append(f"broken link: {href}")
        elif url.fragment:
            # as a browser does: the id as written (nbconvert's are percent-encoded), or decoded
            if not {url.fragment, unquote(url.fragment)} & anchors(target):
                problems.append(f"link to a missing anchor: {href}")
    return problems


@functools.lru_cache(maxsize=None)
def anchors(path):
    """The ids of a page's elements."""
    soup = bs4.BeautifulSoup(path.read_text(), "html.parser")
    return {tag["id"] for tag in soup.find_all(id=True)}


def math_problems(page):
    """Raw TeX left in the prose (outside code) means MathJax did not render it."""
    text = page.evaluate("""() => {
        const copy = document.querySelector('main').cloneNode(true);
        copy.querySelectorAll('pre, code, mjx-container, script, .panel-viewer')
            .forEach(e => e.remove());
        return copy.textContent;
    }""")
    raw = RAW_MATH.findall(text)
    return [f"math not rendered: {m[:60]!r}" for m in raw[:5]]


def wait_loaded(img):
    img.evaluate("""img => new Promise((resolve, reject) => {
        const check = () => img.complete && img.naturalWidth > 0 ? resolve() :
                            (img.complete && img.naturalWidth === 0 ? reject('not loaded') :
                             setTimeout(check, 30));
        check();
    })""")


def each_viewer(page):
    """(index, viewer, its data, its controls) for every panel viewer on the page."""
    viewers = page.locator(".panel-viewer")
    for v in range(viewers.count()):
        viewer = viewers.nth(v)
        yield (v, viewer, json.loads(viewer.locator(".panel-data").text_content()),
               viewer.locator("input, select"))


def panel_problems(page):
    """Move each control of each panel through all its positions (the others where it
    matters); each step must show that position's picture (loaded), alt text, printed text
    and readout."""
    problems = []
    for v, viewer, data, controls in each_viewer(page):
        sizes = [len(labels) for labels in data["labels"]]
        viewer.scroll_into_view_if_needed()
        for k in range(len(sizes)):
            what = f"panel {v + 1}, control {data['descriptions'][k]!r}"
            base = base_position(data, k, [int(controls.nth(i).input_value())
                                           for i in range(len(sizes))])
            if base is None:
                problems.append(f"{what}: moving it never changes the picture")
                continue
            for i, value in enumerate(base):
                set_control(controls.nth(i), value)
            seen = set()
            for value in range(sizes[k]):
                set_control(controls.nth(k), value, keyboard=True)
                position = base[:k] + [value] + base[k + 1:]
                problems += check_position(viewer, data, position, f"{what} at {value}")
                seen.add(viewer.locator("img.panel-picture").get_attribute("src"))
            if len(seen) < 2:
                problems.append(f"{what}: the picture never changed")
    return problems


def base_position(data, k, current):
    """`current`, or the first position whose picture changes when control k moves."""
    def varies(base):
        return len({data["positions"][",".join(map(str, base[:k] + [v] + base[k + 1:]))]
                    for v in range(len(data["labels"][k]))}) > 1
    if varies(current):
        return current
    for key in data["positions"]:
        base = [int(x) for x in key.split(",")]
        if varies(base):
            return base
    return None


def set_control(control, value, keyboard=False):
    """Select option `value` of a <select>, or move a range input there (with the arrow keys
    when keyboard=True, as a student would)."""
    if control.evaluate("c => c.tagName") == "SELECT":
        if int(control.input_value()) != value:
            control.select_option(str(value))
        return
    now = int(control.input_value())
    if now == value:
        return
    if keyboard:
        control.focus()
        for _ in range(abs(value - now)):
            control.press("ArrowRight" if value > now else "ArrowLeft")
    else:
        control.evaluate("(c, v) => { c.value = v; c.dispatchEvent(new Event('input')); }",
                         value)


def check_position(viewer, data, position, what):
    picture = data["pictures"][data["positions"][",".join(map(str, position))]]
    img = viewer.locator("img.panel-picture")
    try:
        wait_loaded(img)
    except Exception as exc:                      # noqa: BLE001 - reported as a finding
        return [f"{what}: the picture did not load ({exc})"]
    shown = viewer.evaluate("""v => ({src: v.querySelector('img.panel-picture')
                                          .getAttribute('src'),
                                     link: (a => a && a.getAttribute('href'))(
                                         v.querySelector('.panel-picture-link')),
                                     alt: v.querySelector('img.panel-picture').alt,
                                     text: v.querySelector('.panel-text').textContent,
                                     readouts: Array.from(v.querySelectorAll('output'))
                                                    .map(o => o.textContent)})""")
    problems = []
    if shown["src"] != picture[0]:
        problems.append(f"{what}: shows {shown['src']}, not {picture[0]}")
    if shown["link"] != picture[0]:
        problems.append(f"{what}: the picture opens {shown['link']}, not {picture[0]}")
    if shown["text"] != picture[3]:
        problems.append(f"{what}: prints {shown['text'][:80]!r}, not {picture[3][:80]!r}")
    if not shown["alt"].strip() or (picture[3].strip() and shown["alt"] != picture[3].strip()):
        problems.append(f"{what}: alt text {shown['alt'][:80]!r}")
    sliders = [labels[p] for labels, p, kind in
               zip(data["labels"], position, viewer.evaluate(
                   "v => Array.from(v.querySelectorAll('input, select')).map(c => c.type)"))
               if kind == "range"]
    if shown["readouts"] != sliders:
        problems.append(f"{what}: readouts {shown['readouts']}, not {sliders}")
    return problems


# ------------------------------------------------------------ prediction questions (issue 22)
EXAMPLE = ROOT / "notebooks" / "examples" / "predict_example.ipynb"


@pytest.fixture(scope="module")
def question_site(tmp_path_factory):
    """A site built from the example question notebook alone (the course's site does not list
    notebooks/examples/: it has a page per lesson and exercise only)."""
    import shutil
    base = tmp_path_factory.mktemp("question-site")
    (base / "notebooks").mkdir()
    (base / "panels").mkdir()
    shutil.copyfile(EXAMPLE, base / "notebooks" / "01_predict_example.ipynb")
    (base / "README.md").write_text(
        "# Course\n\nIntro.\n\n## Start\n\n## The lessons\n\n| 1 | [Example](notebooks/"
        "01_predict_example.ipynb) |\n\n## Exercises: build it yourself\n\nNone.\n\n## Conda\n")
    build_site.build(out=base / "site", notebooks=base / "notebooks", panels=base / "panels",
                     cache=base / "cache", readme=base / "README.md")
    return base / "site"


def test_the_site_does_not_list_the_example_notebooks():
    assert not [p for p, _, _ in build_site.pages(ROOT / "notebooks") if "examples" in p.parts]


@pytest.mark.browser
def test_the_example_questions_answer_every_choice(browser, question_site):
    """On the page, each choice of each question is chosen as a student would (a click; the
    keyboard for the first question: Space on the focused choice, Enter on Check) and Check
    shows that choice's feedback, the words the notebook widget shows (helpers.display.predict
    feedback_html)."""
    from helpers.display.predict import feedback_html
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto((question_site / "01_predict_example.html").as_uri())
    nb = nbformat.read(EXAMPLE, as_version=4)
    questions = [o["metadata"][QUESTION_KEY] for c in nb.cells for o in c.get("outputs", [])
                 if QUESTION_KEY in o.get("metadata", {})]
    forms = page.locator("form.predict-form")
    assert forms.count() == len(questions) == 2
    for q, data in enumerate(questions):
        form = forms.nth(q)
        feedback = form.locator(".predict-feedback")
        form.locator("button", has_text="Check").click()
        assert normalized(feedback.inner_html()) == normalized(feedback_html(data, []))
        chosen_sets = ([[i] for i in range(len(data["choices"]))] if not data["multiple"] else
                       [[i] for i in range(len(data["choices"]))]
                       + [[i for i, c in enumerate(data["choices"]) if c["right"]]])
        for chosen in chosen_sets:
            for i, choice in enumerate(data["choices"]):
                box = form.get_by_label(choice["text"], exact=True)
                if (i in chosen) != box.is_checked():
                    if q == 0:
                        box.focus()
                        page.keyboard.press("Space")
                    else:
                        box.click()
            if q == 0:
                form.locator("button").focus()
                page.keyboard.press("Enter")
            else:
                form.locator("button").click()
            shown = normalized(feedback.inner_html())
            assert shown == normalized(feedback_html(data, chosen)), (q, chosen)
            for i in chosen:
                if not data["choices"][i]["right"]:
                    words = data["choices"][i]["feedback"].replace("`", "")   # `code`
                    assert words in " ".join(feedback.inner_text().split())
        form.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "site_predict_example.png", full_page=True)
    # WCAG A/AA with the feedback shown (axe reads the stylesheets itself, which file://
    # refuses with a console error: those are not the page's)
    problems = list(problems) + audit_problems(page, "01_predict_example.html, feedback shown")
    context.close()
    assert not problems, problems


def normalized(html_text):
    """HTML as the browser serializes it (entities, spacing) compared with ours."""
    return re.sub(r"\s+", " ", bs4.BeautifulSoup(html_text, "html.parser").decode()).strip()


# ------------------------------------------------------------------ accessibility, phones
# axe-core's rules for WCAG 2.0 and 2.1, levels A and AA
WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def audit_problems(page, rel):
    """Run axe-core (bundled by axe-playwright-python: nothing is downloaded) on the page as
    it is: one finding per rule broken, with how many elements and the first few."""
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_A_AA},
                                       "resultTypes": ["violations"]}).response
    problems = []
    for rule in results["violations"]:
        nodes = rule["nodes"]
        problems.append(f"axe {rule['id']} ({rule['impact']}) on {rel}: {rule['help']}: "
                        f"{len(nodes)} element{'s' if len(nodes) != 1 else ''}, e.g.")
        for node in nodes[:3]:
            why = " ".join(node.get("failureSummary", "").split())
            problems.append(f"    {' '.join(map(str, node['target']))}  {node['html'][:100]}"
                            f"  -- {why[:220]}")
    print(f"axe {results['testEngine']['version']} on {rel}: "
          + (", ".join(f"{r['id']} {len(r['nodes'])}" for r in results["violations"])
             or "no violation"))
    return problems


def most_printed_lesson(site):
    """The page whose slider panels print the most text (the hardest to wrap on a phone)."""
    def printed(rel):
        soup = bs4.BeautifulSoup((site / rel).read_text(), "html.parser")
        return sum(len(picture[3]) for script in soup.select(".panel-data")
                   for picture in json.loads(script.string)["pictures"])
    scores = {rel: printed(rel) for rel in site_pages()[1:]}
    best = max(scores, key=scores.get)
    if not scores[best]:
        pytest.fail("no page of the site has a slider panel that prints")
    return best


def sideways_problems(page):
    """The page must not be wider than the screen (naming the elements that stick out), and
    no line of code or printed text may be cut off at its box's edge or need scrolling
    sideways inside it."""
    wide = page.evaluate("""() => {
        // the layout width: a phone zooms out to fit a page wider than it (innerWidth grows)
        const width = document.documentElement.clientWidth;
        const name = e => e.tagName.toLowerCase() + '.' + e.className;
        const cut = Array.from(document.querySelectorAll('main pre'))
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => name(e) + ' ' + JSON.stringify(e.textContent.trim().slice(0, 50)));
        if (document.documentElement.scrollWidth <= width) return [null, null, [], cut];
        const out = Array.from(document.querySelectorAll('main *')).filter(e => {
            const r = e.getBoundingClientRect();
            return r.right > width + 1 && !e.parentElement.closest('pre') &&
                   !e.closest('mjx-assistive-mml');        // MathJax's hidden copy for readers
        }).slice(0, 5).map(e => name(e) + ' ' + JSON.stringify(e.textContent.slice(0, 50)));
        return [document.documentElement.scrollWidth, width, out, cut];
    }""")
    problems = [f"a line is wider than its box (cut off or scrolled sideways): {c}"
                for c in wide[3][:5]]
    if wide[0] is not None:
        problems.append(f"the page scrolls sideways: {wide[0]} px wide on a {wide[1]} px "
                        f"screen; sticking out: {wide[2]}")
    return problems


# Where a printed text (.panel-text, an output's <pre>) starts a new line between two
# characters of one word (a word wider than the whole line may break anywhere).
MID_WORD_BREAKS_JS = r"""() => {
  const found = [];
  const range = document.createRange();
  const rect = (node, i, j) => { range.setStart(node, i); range.setEnd(node, j);
                                 return range.getBoundingClientRect(); };
  document.querySelectorAll('.panel-text, .jp-OutputArea-output pre').forEach(el => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.data;
      let top = null;
      for (let i = 0; i < text.length; i++) {
        if (text[i] === '\n') { top = null; continue; }
        const r = rect(node, i, i + 1);
        if (r.height === 0) continue;
        if (top !== null && r.top > top + 2 && /\S/.test(text[i]) && /[^\s-]/.test(text[i - 1])) {
          let a = i, b = i;
          while (a > 0 && /\S/.test(text[a - 1])) a--;
          while (b < text.length && /\S/.test(text[b])) b++;
          if (rect(node, a, b).width <= el.clientWidth)
            found.push(text.slice(a, i) + '|' + text.slice(i, b));
        }
        top = r.top;
      }
    }
  });
  return found.slice(0, 10);
}"""


def target_problems(page):
    """Every link and control lies on the screen (nothing to reach by scrolling sideways);
    the navigation's links, the pager's and the panels' controls are at least THUMB px
    tall."""
    found = page.evaluate("""([thumb, width]) => {
        const out = [];
        document.querySelectorAll('a[href], input, select, button').forEach(e => {
            const r = e.getBoundingClientRect();
            const name = e.tagName.toLowerCase() + ' ' +
                         JSON.stringify((e.textContent || e.id || '').trim().slice(0, 40));
            if (r.width === 0 || e.closest('pre, .highlight')) return;
            if (r.left < -1 || r.right > width + 1)
                out.push(`${name} lies off the screen (x ${Math.round(r.left)} to ` +
                         `${Math.round(r.right)})`);
            if (e.closest('.course-nav, .course-pager, .panel-controls') && r.height < thumb)
                out.push(`${name} is ${Math.round(r.height)} px tall: too small for a thumb`);
        });
        return out;
    }""", [THUMB, PHONE["width"]])
    return found


def tap_problems(page):
    """Tap every control of every panel (a slider near its right end, then a select's next
    option): each must take the tap (nothing covers it) and show that position's picture."""
    problems = []
    for v, viewer, data, controls in each_viewer(page):
        for k in range(controls.count()):
            control = controls.nth(k)
            what = f"panel {v + 1}, control {data['descriptions'][k]!r}"
            try:
                control.scroll_into_view_if_needed()
                box = control.bounding_box()
                before = control.input_value()
                control.tap(position={"x": box["width"] - 4, "y": box["height"] / 2}
                            if control.evaluate("c => c.type") == "range" else None)
                if control.evaluate("c => c.tagName") == "SELECT":
                    control.select_option(str((int(before) + 1) % len(data["labels"][k])))
            except Exception as exc:                # noqa: BLE001 - reported as a finding
                problems.append(f"{what}: cannot be tapped ({str(exc).splitlines()[0]})")
                continue
            position = [int(controls.nth(i).input_value()) for i in range(controls.count())]
            if str(position[k]) == before:
                problems.append(f"{what}: a tap did not move it (still at {before})")
            problems += check_position(viewer, data, position, f"{what} tapped")
    return problems


def picture_opens_problems(page, viewer):
    """A tap on the panel's picture opens the picture itself (a PNG the phone can zoom)."""
    src = viewer.locator("img.panel-picture").evaluate("img => img.src")
    href = viewer.evaluate("v => (a => a && a.href)(v.querySelector('.panel-picture-link'))")
    try:
        with page.expect_navigation() as navigation:
            viewer.locator("img.panel-picture").tap()
    except Exception as exc:                        # noqa: BLE001 - reported as a finding
        return [f"a tap on the picture opens nothing ({str(exc).splitlines()[0]})"]
    response = navigation.value
    problems = []
    if page.url != src:
        problems.append(f"a tap on the picture opens {page.url}, not the picture {src} "
                        f"(the link: {href})")
    if response is None or not response.ok or \
            response.headers.get("content-type") != "image/png":
        problems.append(f"the picture opened is not a PNG: {response and response.status}, "
                        f"{response and response.headers.get('content-type')}")
    page.go_back()
    return problems


def test_a_going_deeper_notebook_gets_a_page_after_its_lesson(monkeypatch, tmp_path):
    """notebooks/deeper/NNx_*.ipynb (the README's convention): its own page in deeper/, placed
    after its lesson in the reading order, its Back link to the lesson's page, listed on the
    index from the README's "Going deeper" list."""
    monkeypatch.setenv("SITE_REPOSITORY", "")
    notebooks = tmp_path / "notebooks"
    (notebooks / "deeper").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        "# Going deeper 1a: more toy\n\nOptional, after [Lesson 1](../01_toy.ipynb).")]
    nbformat.write(nb, notebooks / "deeper" / "01a_more.ipynb")
    readme_extra = ("### Going deeper (optional)\n\n- [Going deeper 1a: more toy]"
                    "(notebooks/deeper/01a_more.ipynb) — the rest of the toy\n\n")
    original = build_site.build

    def build(**kwargs):                      # toy_site writes the README: add the list to it
        readme = kwargs["readme"]
        text = readme.read_text()
        readme.write_text(text.replace("## Exercises", readme_extra + "## Exercises"))
        return original(**kwargs)

    monkeypatch.setattr(build_site, "build", build)
    toy_site(monkeypatch, tmp_path)
    order = [rel for _, rel, _ in build_site.pages(notebooks)]
    assert order == ["01_toy.html", "deeper/01a_more.html"]
    assert build_site.short_title("deeper/01a_more.html") == "Going deeper 1a"
    site = tmp_path / "site"
    soup = bs4.BeautifulSoup((site / "deeper" / "01a_more.html").read_text(), "html.parser")
    links = {a.text: a.get("href") for a in soup.select("main a")}
    assert links["Lesson 1"] == "../01_toy.html"
    index = bs4.BeautifulSoup((site / "index.html").read_text(), "html.parser")
    assert "deeper/01a_more.html" in [a.get("href") for a in index.select("a")]
