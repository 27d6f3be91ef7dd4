"""Build the course website: site/ from the SAVED notebooks and the panels' pictures.

    python tools/build_site.py [--out site] [--notebooks notebooks] [--panels build/panels]

One page per lesson (notebooks/0*.ipynb), per optional going-deeper notebook
(notebooks/deeper/*.ipynb) and per exercise student notebook
(notebooks/exercises/*.ipynb; the solutions are left out), an index page made of the README's
lesson map, and navigation between them, rendered by nbconvert with the template in
website/templates/course/. Nothing is executed: the prose, math, code and outputs are the
saved notebooks'. Each slider panel's output becomes a viewer (website/static/panels.js):
native labelled controls that switch among the pictures the lesson drew for every position,
which a lesson run leaves in build/panels/<panel id>/ (helpers/display/export.py) and this
build copies next to the page, reduced to 256 colours. Each prediction question
(helpers.display.predict) becomes a form built from the data in its output's metadata
(website/static/predict.js). Math is rendered by the MathJax that
the Python package django-static-mathjax ships, copied into site/_static/mathjax/. No page
requests anything outside the site, so it works from file:// and on any static host.

The repository address (for the Binder link and links to files that are not pages) is set in
website/site.json ("repository": "owner/name" on GitHub), or by the environment variable
SITE_REPOSITORY; when it is empty, pages have no Binder link.
"""
import argparse
import copy
import hashlib
import html
import io
import json
import os
import posixpath
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEBSITE = ROOT / "website"
sys.path.insert(0, str(ROOT))

from helpers.display.export import PANEL_KEY  # noqa: E402  (one constant, one place)
from helpers.display.predict import QUESTION_KEY  # noqa: E402

WIDGET = "application/vnd.jupyter.widget-view+json"
MATHJAX_FILES = ("tex-svg.js", "input/tex/extensions", "ui", "a11y")
CODE_STYLE = "a11y-light"               # a Pygments style from accessible-pygments
HOW_TO_GET_PANELS = ("run the lessons first: `make notebooks` (re-executes and saves every "
                     "lesson, leaving each panel's pictures in build/panels/), or `make test`, "
                     "whose notebook run leaves them too")


class SiteError(Exception):
    """Something the site cannot be built without; the message says how to fix it."""


def config():
    """website/site.json, with SITE_REPOSITORY (if set) overriding its repository."""
    settings = json.loads((WEBSITE / "site.json").read_text())
    settings["repository"] = os.environ.get("SITE_REPOSITORY",
                                            settings.get("repository", "")).strip().strip("/")
    return settings


# ------------------------------------------------------------------------------ the pages
def pages(notebooks):
    """[(notebook path, page path relative to the site, title)] in reading order: each
    lesson, then the exercise that follows it."""
    found = [(p, p.name) for p in sorted(notebooks.glob("[0-9]*.ipynb"))]
    for folder in ("deeper", "exercises"):
        found += [(p, f"{folder}/{p.name}") for p in sorted((notebooks / folder)
                                                           .glob("[0-9]*.ipynb"))]
    kind = {"deeper": 1, "exercises": 2}    # a lesson, its going-deeper notebooks, its exercise
    order = lambda item: (item[0].name[:2], kind.get(item[1].split("/")[0], 0),  # noqa: E731
                          item[0].name)
    result = []
    for path, rel in sorted(found, key=order):
        result.append((path, rel[:-len(".ipynb")] + ".html", title_of(path)))
    return result


def title_of(path):
    import nbformat
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return re.sub(r"[*_`]", "", m.group(1)).strip()
    return path.stem.replace("_", " ")


def short_title(rel):
    number = Path(rel).name[:2].lstrip("0")
    if rel.startswith("deeper/"):
        return f"Going deeper {number}{Path(rel).name[2]}"
    return f"Exercise {number}" if rel.startswith("exercises/") else f"Lesson {number}"


# --------------------------------------------------------------------------- the panels
def optimized_png(source, cache):
    """A panel picture reduced to 256 colours and fully compressed (as a saved notebook's
    pictures are: helpers.display.style.png_bytes(saved=True)), cached by content."""
    import PIL.Image

    from helpers.display.style import png_bytes
    data = source.read_bytes()
    cached = cache / (hashlib.sha256(data).hexdigest()[:24] + ".png")
    if not cached.exists():
        image = PIL.Image.open(io.BytesIO(data))
        dpi = round(image.info.get("dpi", (100, 100))[0])
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(png_bytes(image, dpi, saved=True))
        os.replace(tmp, cached)
    return cached


def optimize_all(sources, cache, workers=2):
    """optimized_png for many pictures, those not cached yet in `workers` processes."""
    import concurrent.futures
    todo = [s for s in sources
            if not (cache / (hashlib.sha256(s.read_bytes()).hexdigest()[:24] + ".png")).exists()]
    if len(todo) > 4 and workers > 1:
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            list(pool.map(optimized_png, todo, [cache] * len(todo), chunksize=4))
    return [optimized_png(s, cache) for s in sources]


def picture_size(path):
    """(width, height) in CSS pixels at which a picture drawn at its recorded dpi is shown."""
    import PIL.Image

    from helpers.display.style import SCREEN_DPI
    with PIL.Image.open(path) as image:
        dpi = image.info.get("dpi", (SCREEN_DPI, SCREEN_DPI))[0]
        return round(image.width * SCREEN_DPI / dpi), round(image.height * SCREEN_DPI / dpi)


def viewer_html(manifest, pictures, number):
    """The viewer of one panel: a labelled native control per panel control (a range input
    for a slider, a select otherwise), the picture of the default position, its printed
    text, and the panel's positions as inline JSON for website/static/panels.js.
    pictures: [(src relative to the page, (width, height))], one per manifest picture."""
    controls = manifest["controls"]
    default = [c["default"] for c in controls]
    first = manifest["positions"][",".join(map(str, default))]
    text = manifest["pictures"][first]["text"]
    parts = [f'<div class="panel-viewer" id="panel-{number}" role="group" '
             f'aria-label="Slider panel {number}">',
             '<p class="panel-note">Every position of this panel was drawn by the lesson\'s '
             'own run: moving a control shows its picture; click or tap the picture to open '
             'it at full size.</p>', '<div class="panel-controls">']
    for c in controls:
        cid = f"panel-{number}-{c['name']}"
        label = html.escape(c["labels"][c["default"]])
        parts.append(f'<div class="panel-control"><label for="{cid}">'
                     f'{html.escape(c["description"])}</label>')
        if c["kind"] == "slider":
            parts.append(f'<input type="range" id="{cid}" min="0" '
                         f'max="{len(c["labels"]) - 1}" step="1" value="{c["default"]}" '
                         f'aria-valuetext="{label}"><output for="{cid}">{label}</output>')
        else:
            options = "".join(f'<option value="{i}"{" selected" if i == c["default"] else ""}>'
                              f'{html.escape(lab)}</option>' for i, lab in enumerate(c["labels"]))
            parts.append(f'<select id="{cid}">{options}</select>')
        parts.append("</div>")
    src, (width, height) = pictures[first]
    parts.append("</div>")
    alt = html.escape(alt_text(manifest, default))
    # the picture is a link to itself: on a phone a tap opens it at full size, to zoom into
    parts.append(f'<a class="panel-picture-link" href="{html.escape(src)}">'
                 f'<img class="panel-picture" src="{html.escape(src)}" width="{width}" '
                 f'height="{height}" loading="lazy" alt="{alt}"></a>')
    parts.append(f'<pre class="panel-text">{html.escape(text.rstrip())}</pre>')
    data = {"descriptions": [c["description"] for c in controls],
            "labels": [c["labels"] for c in controls],
            "positions": manifest["positions"],
            "pictures": [[src, w, h, p["text"].rstrip()]
                         for (src, (w, h)), p in zip(pictures, manifest["pictures"])]}
    # inline JSON in a script element: "</" must not appear in it
    parts.append('<script type="application/json" class="panel-data">'
                 + json.dumps(data).replace("</", "<\\/") + "</script>")
    parts.append("</div>")
    return "\n".join(parts)


def alt_text(manifest, position):
    """What a position printed, or else which position it is (the same rule as panels.js)."""
    index = manifest["positions"][",".join(map(str, position))]
    text = manifest["pictures"][index]["text"].strip()
    return text or ", ".join(f"{c['description']} {c['labels'][i]}"
                             for c, i in zip(manifest["controls"], position))


def convert_panels(nb, page_rel, out, panels, cache):
    """Replace every panel output in `nb` by its viewer and copy its pictures next to the
    page (<page>_files/panels/<id>/). Returns the number of panels; raises SiteError when a
    panel's pictures are missing."""
    page_dir = (out / page_rel).parent
    files_dir = Path(page_rel).stem + "_files"
    number = 0
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET not in data:
                continue
            panel = output.get("metadata", {}).get(PANEL_KEY)
            if panel is None:
                if "image/png" in data:          # a panel saved before panels had ids
                    raise SiteError(f"{page_rel}: the panel in cell {index} has no panel id "
                                    f"(the saved notebook is older than the website): "
                                    f"re-execute and save the lessons with `make notebooks`")
                data.pop(WIDGET)                 # another widget: its text stays
                continue
            source = panels / panel["id"]
            if not (source / "panel.json").exists():
                raise SiteError(f"{page_rel}: no pictures for the panel in cell {index} "
                                f"({source} is missing): {HOW_TO_GET_PANELS}")
            manifest = json.loads((source / "panel.json").read_text())
            if panel.get("texts", manifest.get("texts")) != manifest.get("texts"):
                print(f"build_site: warning: {page_rel}, cell {index}: the panel's pictures "
                      f"come from another run than the saved notebook (what its positions "
                      f"print differs); for a site that agrees with itself, run "
                      f"`make notebooks`, then `make site`", file=sys.stderr)
            number += 1
            target = page_dir / files_dir / "panels" / panel["id"]
            target.mkdir(parents=True, exist_ok=True)
            pictures = []
            optimized_files = optimize_all([source / p["file"] for p in manifest["pictures"]],
                                           cache)
            for picture, optimized in zip(manifest["pictures"], optimized_files):
                shutil.copyfile(optimized, target / picture["file"])
                pictures.append((f"{files_dir}/panels/{panel['id']}/{picture['file']}",
                                 picture_size(optimized)))
            output.clear()
            output.update({"output_type": "display_data", "metadata": {},
                           "data": {"text/html": viewer_html(manifest, pictures, number)}})
    return number


# -------------------------------------------------------------------- prediction questions


def question_form(data, number):
    """A prediction question as a form (website/static/predict.js answers it): the question
    as the legend of a fieldset of labelled radio buttons (check boxes when several choices
    are right), a Check button, a live region for the feedback, and the feedback on every
    choice the form allows (helpers.display.predict.all_feedback: the notebook widget's own
    words) as inline JSON."""
    from helpers.display.predict import all_feedback, feedback_html, how_to_answer, inline_html
    qid = f"predict-{number}"
    kind = "checkbox" if data["multiple"] else "radio"
    parts = [f'<form class="predict-form" id="{qid}">', "<fieldset>",
             f'<legend><strong>Predict:</strong> {inline_html(data["question"])} '
             f'<span class="predict-how">{how_to_answer(data)}</span></legend>']
    for i, choice in enumerate(data["choices"]):
        parts.append(f'<div class="predict-choice"><input type="{kind}" name="{qid}" '
                     f'id="{qid}-{i}" value="{i}"><label for="{qid}-{i}">'
                     f'{inline_html(choice["text"])}</label></div>')
    parts += ["</fieldset>", '<button type="submit" class="predict-check">Check</button>',
              '<div class="predict-feedback" role="status" aria-live="polite"></div>']
    feedback = {"none": feedback_html(data, []), "chosen": all_feedback(data)}
    parts.append('<script type="application/json" class="predict-data">'
                 + json.dumps(feedback).replace("</", "<\\/") + "</script>")
    parts.append("</form>")
    return "\n".join(parts)


def convert_questions(nb):
    """Replace every prediction question's output (helpers.display.predict) in `nb` by its
    form, built from the question's data in the output's metadata. Returns their number."""
    number = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("metadata", {}).get(QUESTION_KEY)
            if data is None:
                continue
            number += 1
            output.clear()
            output.update({"output_type": "display_data", "metadata": {},
                           "data": {"text/html": question_form(data, number)}})
    return number


# ---------------------------------------------------------------------------------- links
def link_rewriter(page_rel, notebooks, page_of, settings):
    """A function that rewrites one href of a page made from notebooks/<...>: a notebook that
    has a page -> that page; README.md -> the index; another repository file -> the file on
    GitHub when the repository is set, else None (the link is dropped, its text stays); a
    link to nothing stays as it is (the browser test reports it)."""
    source_dir = posixpath.dirname("notebooks/" + page_rel) if page_rel != "index.html" else ""
    here = posixpath.dirname(page_rel)

    site_pages = set(page_of.values()) | {"index.html"}

    def rewrite(href):
        if re.match(r"^([a-z]+:|#|/)", href):
            return href
        path, _, fragment = href.partition("#")
        if posixpath.normpath(posixpath.join(here, path)) in site_pages:
            return href                  # the site's own navigation
        target = posixpath.normpath(posixpath.join(source_dir, path))
        if target in page_of:
            new = posixpath.relpath(page_of[target], here or ".")
        elif target == "README.md":
            new = posixpath.relpath("index.html", here or ".")
        elif (notebooks / posixpath.relpath(target, "notebooks")).exists() \
                or (notebooks.parent / target).exists():  # another file of the repository
            if not settings["repository"]:
                return None
            new = f"https://github.com/{settings['repository']}/blob/HEAD/{target}"
        else:
            return href
        return new + ("#" + fragment if fragment else "")
    return rewrite


def rewrite_links(text, rewrite):
    def one(match):
        new = rewrite(html.unescape(match.group(2)))
        if new is None:
            return "<a"                  # keep the <a> but without an href: just text
        return f'<a{match.group(1)}href="{html.escape(new)}"'

    return re.sub(r'<a(\s[^>]*?)?href="([^"]*)"', one, text)


# ----------------------------------------------------------------------------- rendering
def exporter():
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExtractOutputPreprocessor
    from traitlets.config import Config
    # code colours: a maintained style checked against WCAG AA (the accessible-pygments
    # package), not JupyterLab's, whose greens and purples on grey fall short of 4.5:1
    colours = Config({"CSSHTMLHeaderPreprocessor": {"style": CODE_STYLE}})
    exp = HTMLExporter(template_name="course", config=colours,
                       extra_template_basedirs=[str(WEBSITE / "templates")])
    exp.register_preprocessor(ExtractOutputPreprocessor(), enabled=True)
    return exp


def render(exp, nb, page_rel, out, site_resources, rewrite):
    """Write one page (and its extracted output pictures) under `out`."""
    stem = Path(page_rel).stem
    resources = {"metadata": {"name": stem}, "unique_key": stem,
                 "output_files_dir": f"{stem}_files", "site": site_resources}
    body, resources = exp.from_notebook_node(nb, resources=resources)
    page = out / page_rel
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(rewrite_links(body, rewrite))
    for name, data in resources.get("outputs", {}).items():
        (page.parent / name).parent.mkdir(parents=True, exist_ok=True)
        (page.parent / name).write_bytes(data)


def clean_notebook(nb):
    """A copy of the notebook without its widget state (the site has no widget manager)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    return nb


def index_notebook(readme, binder=False):
    """A one-cell notebook: the README's title and introduction, its lesson map and its
    exercise table, with links and thumbnails pointing into the site."""
    import nbformat
    text = readme.read_text()
    intro = text[:text.index("\n## Start")]
    lessons = re.search(r"\n## The lessons\n.*?(?=\n## )", text, re.S).group(0)
    exercises = re.search(r"\n## Exercises[^\n]*\n.*?(?=\n### |\n## )", text, re.S).group(0)
    about = ("\n\n## About this website\n\nEvery page is a lesson or an exercise as it was last "
             "run: its prose, code and outputs. The slider panels work here without Python: "
             "every position was drawn by the lesson's own training runs, and moving a "
             "control shows its picture. To change the code or run your own experiments, "
             "run the notebooks: each page says how (on your machine with `make lab`"
             + (", or on Binder" if binder else "") + ").\n")
    source = intro + about + lessons + exercises
    source = re.sub(r"\]\(notebooks/", "](", source)
    source = source.replace('src="docs/thumbnails/', 'src="_static/thumbnails/')
    source = re.sub(r"\(([^()\s]+)\.ipynb\)", r"(\1.html)", source)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(source))
    nb.metadata["title"] = "Batch Normalization: the course"
    return nb


def copy_static(out):
    import mathjax
    static = out / "_static"
    shutil.copytree(WEBSITE / "static", static, dirs_exist_ok=True)
    lab = Path(sys.prefix) / "share" / "jupyter" / "nbconvert" / "templates" / "lab" / "static"
    if not lab.exists():
        from jupyter_core.paths import jupyter_path
        lab = next(Path(p) / "lab" / "static" for p in jupyter_path("nbconvert", "templates")
                   if (Path(p) / "lab" / "static" / "index.css").exists())
    (static / "lab.css").write_text((lab / "index.css").read_text() + "\n"
                                    + (lab / "theme-light.css").read_text())
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    for name in MATHJAX_FILES:
        source, target = es5 / name, static / "mathjax" / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    shutil.copyfile(es5.parent / "LICENSE", static / "mathjax" / "LICENSE")
    thumbs = static / "thumbnails"
    thumbs.mkdir(exist_ok=True)
    for png in (ROOT / "docs" / "thumbnails").glob("*.png"):
        shutil.copyfile(png, thumbs / png.name)


def build(out=ROOT / "site", notebooks=ROOT / "notebooks", panels=ROOT / "build" / "panels",
          cache=ROOT / "build" / "site-cache", readme=ROOT / "README.md"):
    """Build the whole site into `out` (emptied first). Returns {page: number of panels}."""
    import nbformat
    out, notebooks, panels = Path(out), Path(notebooks), Path(panels)
    settings = config()
    listed = pages(notebooks)
    if not listed:
        raise SiteError(f"no notebooks in {notebooks}")
    if not panels.is_dir():
        raise SiteError(f"no panel pictures ({panels} is missing): {HOW_TO_GET_PANELS}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    copy_static(out)
    page_of = {"notebooks/" + rel[:-len(".html")] + ".ipynb": rel for _, rel, _ in listed}
    nav = [{"href": rel, "short": short_title(rel), "title": title}
           for _, rel, title in listed]
    exp = exporter()
    counts = {}
    for i, (path, rel, title) in enumerate(listed):
        nb = clean_notebook(nbformat.read(path, as_version=4))
        convert_questions(nb)
        counts[rel] = convert_panels(nb, rel, out, panels, Path(cache))
        nb.metadata["title"] = title
        notebook_path = "notebooks/" + rel[:-len(".html")] + ".ipynb"
        site_resources = dict(
            root="../" * rel.count("/"), page=rel, nav=nav, title=title,
            short=short_title(rel), previous=nav[i - 1] if i else None,
            next=nav[i + 1] if i + 1 < len(nav) else None, notebook=notebook_path,
            panels=counts[rel],
            binder=(f"https://mybinder.org/v2/gh/{settings['repository']}/HEAD?labpath="
                    f"{notebook_path}" if settings["repository"] else None))
        render(exp, nb, rel, out, site_resources,
               link_rewriter(rel, notebooks, page_of, settings))
    index = dict(root="", page="index.html", nav=nav, title="Batch Normalization",
                 short="Home", previous=None, next=nav[0], notebook=None, binder=None,
                 panels=0)
    render(exp, index_notebook(readme, bool(settings["repository"])), "index.html", out, index,
           link_rewriter("index.html", notebooks, page_of, settings))
    (out / ".nojekyll").write_text("")           # GitHub Pages: serve _static/ as it is
    return counts


def size_of(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "site"))
    parser.add_argument("--notebooks", default=str(ROOT / "notebooks"))
    parser.add_argument("--panels", default=str(ROOT / "build" / "panels"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        counts = build(args.out, args.notebooks, args.panels)
    except SiteError as exc:
        print(f"build_site: {exc}", file=sys.stderr)
        return 1
    for page, n in counts.items():
        print(f"  {page}: {n} slider panel{'s' if n != 1 else ''}")
    print(f"build_site: {len(counts) + 1} pages in {args.out}, "
          f"{size_of(args.out) / 1e6:.1f} MB, in {time.perf_counter() - start:.0f} s; open "
          f"{Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
