"""Browser tests: every page of the built book, opened in headless Chromium with no network.

Each book page (the intro, the chapter index pages, every notebook page, the references) is
visited once, and all its checks run in that visit:

* no page error (uncaught exception), no console error and no request outside the site;
* maths rendered: every formula typeset by MathJax, no MathJax error, no raw TeX in the text;
* every figure loaded (``naturalWidth > 0``) and every stored widget rendered by the widget manager;
* every exercise solution starts folded and opens on a click on its title and on a click on the
  link to the exercise inside its title;
* at a phone's width (390 px): the page does not scroll sideways, display maths either fits or
  scrolls inside its own box with a visible cue (a shadow at the hidden edge), and widget
  sliders keep a track of at least 150 px.

Notebook pages must also show at least one formula and one figure. The tests need a built book
(`make book` or `make test-book`) and Chromium; without Chromium they are skipped with a message.
Screenshots at desktop and phone widths of the intro, a widget page and an opened solution are
written to ``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import shutil
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML") or ROOT / "_build" / "html")  # the built site under test
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Nothing leaves the machine: every request that is not for the local server goes to a proxy
# that refuses connections (Chromium never proxies loopback addresses), and is reported.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--proxy-server=http://127.0.0.1:9"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
MIN_SLIDER_TRACK = 150  # px: a slider a reader can drag on a phone
# Pages photographed at both widths, with the element to bring into view.
SCREENSHOTS = {
    "book/intro.html": ("intro", "article mjx-container[display]"),
    "book/residual/depth.html": ("widget", "article .widget-subarea"),
    "book/activations/activation_functions.html": ("solution", "article div.solution.dropdown"),
}
TIMEOUT_MS = 20000


def _book_pages():
    """Every book page: one per source under book/, plus any other page built under book/."""
    sources = [p for p in (ROOT / "book").rglob("*")
               if p.suffix in (".md", ".ipynb") and ".ipynb_checkpoints" not in p.parts]
    pages = {p.relative_to(ROOT).with_suffix(".html").as_posix(): p.suffix == ".ipynb" for p in sources}
    if (HTML / "book").is_dir():
        for built in (HTML / "book").rglob("*.html"):
            pages.setdefault(built.relative_to(HTML).as_posix(), False)
    return dict(sorted(pages.items()))


PAGES = _book_pages()  # html path -> is a notebook (chapter) page


@pytest.fixture(scope="module")
def site():
    if CHROMIUM is None:
        pytest.skip("Chromium not found (install the Debian package 'chromium' or set CHROMIUM): "
                    "browser tests SKIPPED")
    if not (HTML / "index.html").is_file():
        pytest.fail("no built book in _build/html: run `make book` (or `make test-book`) first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site; lets the browser cache it (MathJax and the widget manager are
    megabytes that every page loads), which Playwright's request interception would prevent."""

    def end_headers(self):
        self.send_header("Cache-Control", "max-age=3600")
        super().end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(site):
    """One headless Chromium (fresh profile) and one browsing context for all pages."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport=DESKTOP, service_workers="block")
        context.set_default_timeout(TIMEOUT_MS)
        yield context
        context.close()
        chromium.close()


class Visit:
    """One page of the site, recording what goes wrong (off-site requests are refused by the
    browser's dead proxy and reported here)."""

    def __init__(self, context, site, path):
        self.site, self.path, self.problems = site, path, []
        self.page = page = context.new_page()
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("request", self._request)
        page.goto(site + path, wait_until="load")
        self._settle()

    def _console(self, message):
        if message.type == "error":
            where = message.location.get("url", "").removeprefix(self.site)
            self.problems.append(f"console error: {message.text} ({where})")

    def _request(self, request):
        if not request.url.startswith((self.site, "data:", "blob:")):
            self.problems.append(f"off-site request: {request.url}")

    def check(self, condition, message):
        if not condition:
            self.problems.append(message)
        return condition

    def _settle(self):
        """Wait for MathJax to finish typesetting and the widget manager to draw the widgets."""
        page = self.page
        if page.locator("script[src*='mathjax']").count():
            try:
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise.then(() => true)")
            except Exception as error:  # noqa: BLE001 - recorded as a problem of the page
                self.problems.append(f"MathJax did not start: {error}")
        if page.locator("script[type='application/vnd.jupyter.widget-view+json']").count():
            try:
                page.wait_for_function("""() => [...document.querySelectorAll(
                      'script[type="application/vnd.jupyter.widget-view+json"]')].every(s => {
                      const area = s.previousElementSibling;
                      return area && area.classList.contains('widget-subarea') && area.querySelector('.jupyter-widgets');
                    })""", timeout=10000)
            except Exception:  # noqa: BLE001
                self.problems.append("the widget manager did not draw every stored widget")
        page.evaluate("() => document.fonts.ready.then(() => new Promise(r => requestAnimationFrame(() => r())))")

    def close(self):
        self.page.close()


def _check_maths(visit, chapter):
    found = visit.page.evaluate("""() => {
        const article = document.querySelector('article');
        const copy = article.cloneNode(true);
        copy.querySelectorAll('pre, code, script, style, mjx-container, .cell_input, .highlight')
            .forEach(e => e.remove());
        return {
          formulas: article.querySelectorAll('mjx-container').length,
          untypeset: [...article.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container'))
                       .map(e => e.textContent.trim().slice(0, 60)),
          errors: [...article.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
          text: copy.textContent,
        };
    }""")
    visit.check(not chapter or found["formulas"] > 0, "MathJax rendered no formula on a chapter page")
    visit.check(not found["untypeset"], f"formulas left as raw TeX: {found['untypeset'][:5]}")
    visit.check(not found["errors"], f"MathJax errors: {found['errors'][:5]}")
    raw = [r for r in ("\\(", "\\)", "\\[", "\\]", "$$", "\\begin{") if r in found["text"]]
    visit.check(not raw, f"raw TeX {raw} visible in the text")


def _check_figures(visit, chapter):
    images = visit.page.evaluate("""() => [...document.querySelectorAll('article img')]
        .map(i => [i.getAttribute('src').slice(0, 80), i.complete && i.naturalWidth > 0])""")
    visit.check(not chapter or images, "a chapter page without a figure")
    broken = [src for src, loaded in images if not loaded]
    visit.check(not broken, f"figures that did not load: {broken}")


def _check_widgets(visit):
    broken = visit.page.evaluate("""() => [...document.querySelectorAll(
          'script[type="application/vnd.jupyter.widget-view+json"]')]
        .filter(s => { const a = s.previousElementSibling;
                       return !a || !a.classList.contains('widget-subarea')
                              || /Error displaying widget/.test(a.textContent); })
        .map(s => JSON.parse(s.textContent).model_id)""")
    visit.check(not broken, f"stored widgets not rendered: {broken}")


def _check_solutions(visit):
    """Every solution starts folded and opens on a click on the link to its exercise in its
    title; the first one also closes and opens again on clicks on the title itself. Stops at the
    first solution that misbehaves."""
    solutions = visit.page.locator("article div.solution.dropdown")
    for index in range(solutions.count()):
        solution = solutions.nth(index)
        title = solution.locator(":scope > .admonition-title")
        body = solution.locator(":scope > section").first
        name = f"solution {index + 1} ({title.inner_text().strip()[:50]!r})"
        if not visit.check(not body.is_visible(), f"{name} should start folded away"):
            return
        link = title.locator("a").first
        if not visit.check(link.count() == 1, f"{name}: no link to its exercise in the title"):
            return
        link.click()
        if not visit.check(body.is_visible(), f"{name} did not open on a click on the link in its title"):
            return
        if index == 0:
            title.click(position={"x": 4, "y": 4})
            if not visit.check(not body.is_visible(), f"{name} did not close on a click on its title"):
                return
            title.click(position={"x": 4, "y": 4})
            if not visit.check(body.is_visible(), f"{name} did not open on a click on its title"):
                return


def _has_scroll_cue(page, element):
    """Whether the box of a horizontally scrolled element shows a mark at its hidden right edge
    once its own content is hidden (a shadow or a fade; a bare box shows nothing)."""
    from PIL import Image

    box = element.evaluate("""e => { e.scrollIntoView({block: 'center'}); e.scrollLeft = 0;
        for (const c of e.children) c.style.visibility = 'hidden';
        const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, width: r.width, height: r.height}; }""")
    try:
        shot = page.screenshot(clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]},
                               animations="disabled", caret="initial")
    finally:
        element.evaluate("e => { for (const c of e.children) c.style.visibility = ''; }")
    image = Image.open(io.BytesIO(shot)).convert("L")
    width, height = image.size
    background = image.getpixel((0, height // 2))
    darkest, lightest = image.crop((max(0, width - 12), 0, width, height)).getextrema()
    return max(abs(darkest - background), abs(lightest - background)) > 12


def _check_phone(visit):
    page = visit.page
    page.set_viewport_size(PHONE)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))")
    width = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    visit.check(width[0] <= width[1], f"at {PHONE['width']} px the page scrolls sideways ({width[0]} px wide)")
    wide = page.evaluate("""() => [...document.querySelectorAll('article mjx-container[display]')].map((e, i) =>
        ({index: i, wide: e.getClientRects().length > 0 && e.scrollWidth > e.clientWidth + 1,
          overflow: getComputedStyle(e).overflowX})).filter(e => e.wide)""")
    equations = page.locator("article mjx-container[display]")
    for box in wide:
        name = f"display equation {box['index'] + 1} at {PHONE['width']} px"
        if visit.check(box["overflow"] in ("auto", "scroll"), f"{name} is clipped (overflow-x {box['overflow']})"):
            visit.check(_has_scroll_cue(page, equations.nth(box["index"])),
                        f"{name} scrolls with no visible sign that it does")
    tracks = page.evaluate("""() => [...document.querySelectorAll('article .widget-hslider .slider')]
        .filter(e => e.getClientRects().length > 0).map(e => Math.round(e.getBoundingClientRect().width))""")
    narrow = [w for w in tracks if w < MIN_SLIDER_TRACK]
    visit.check(not narrow, f"at {PHONE['width']} px widget slider tracks are {narrow} px wide "
                            f"(at least {MIN_SLIDER_TRACK} px needed)")


def _screenshot(visit, name, selector, width_name):
    target = visit.page.locator(selector).first
    if target.count():
        target.evaluate("e => e.scrollIntoView({block: 'center'})")
    SHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.screenshot(path=str(SHOTS / f"{name}-{width_name}.png"))


@pytest.mark.parametrize("path", list(PAGES))
def test_page(browser, site, path):
    if not (HTML / path).is_file():
        pytest.fail(f"{path} was not built (is its source listed in _toc.yml?)")
    chapter = PAGES[path]
    visit = Visit(browser, site, path)
    try:
        _check_maths(visit, chapter)
        _check_figures(visit, chapter)
        _check_widgets(visit)
        _check_solutions(visit)
        tracks = visit.page.evaluate("""() => [...document.querySelectorAll('article .widget-hslider .slider')]
            .map(e => Math.round(e.getBoundingClientRect().width)).filter(w => w > 0)""")
        visit.check(all(w >= MIN_SLIDER_TRACK for w in tracks), f"widget slider tracks {tracks} px wide")
        if path in SCREENSHOTS:
            _screenshot(visit, *SCREENSHOTS[path], "desktop")
        _check_phone(visit)
        if path in SCREENSHOTS:
            _screenshot(visit, *SCREENSHOTS[path], "phone")
    finally:
        visit.close()
    if visit.problems:
        pytest.fail(f"{path}:\n  " + "\n  ".join(visit.problems), pytrace=False)


def test_every_book_page_is_checked():
    """The parametrisation covers the intro, chapter indexes, notebooks and the references."""
    assert "book/intro.html" in PAGES and "book/references.html" in PAGES
    assert sum(PAGES.values()) >= 1 and len(PAGES) - sum(PAGES.values()) >= 2


# Live twins: the widgets' figures computed at build time and drawn by Vega-Lite, served by the site.

def _twin_pages():
    """The built pages of the notebooks that display a live twin (lecturelib.widgets.static)."""
    return sorted(p.relative_to(ROOT).with_suffix(".html").as_posix() for p in (ROOT / "book").rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and "_twin(" in p.read_text(encoding="utf-8"))


TWIN_PAGES = _twin_pages()


def _twin_picture(page) -> str:
    return page.evaluate("() => [...document.querySelectorAll('.lecturelib-twin svg')].map(s => s.outerHTML).join('')")


def _move(control) -> None:
    """Change one Vega control to another of its values, as a reader would."""
    kind = control.evaluate("e => e.tagName === 'SELECT' ? 'select' : e.type")
    if kind == "select":
        count, now = control.evaluate("e => [e.options.length, e.selectedIndex]")
        control.select_option(index=(now + 1) % count)
    elif kind == "checkbox":
        control.click()
    else:  # a range: to the other end from where it is
        control.evaluate("""e => { e.value = (Number(e.value) === Number(e.max)) ? e.min : e.max;
                                   e.dispatchEvent(new Event('input', {bubbles: true})); }""")


@pytest.mark.parametrize("path", TWIN_PAGES)
def test_live_twin_answers_every_control_offline(browser, site, path):
    """The twin draws, every control redraws it, and nothing errs or leaves the site."""
    if not (HTML / path).is_file():
        pytest.skip(f"{path} is not in the built book (a notebook not yet in _toc.yml?)")
    visit = Visit(browser, site, path)
    page = visit.page
    try:
        page.wait_for_selector(".lecturelib-twin svg", timeout=TIMEOUT_MS)
        controls = page.query_selector_all(".lecturelib-twin-controls input, .lecturelib-twin-controls select")
        visit.check(controls, "the live twin has no controls")
        for control in controls:
            name = control.evaluate("e => e.name")
            before = _twin_picture(page)
            _move(control)
            try:
                page.wait_for_function("before => [...document.querySelectorAll('.lecturelib-twin svg')]"
                                       ".map(s => s.outerHTML).join('') !== before", arg=before, timeout=5000)
            except Exception:  # noqa: BLE001 - recorded below
                visit.check(False, f"moving the twin's control {name!r} did not change the figure")
        scripts = page.evaluate("() => [...document.scripts].filter(s => /vega/.test(s.src)).map(s => s.src)")
        visit.check(len(scripts) == 3, f"the Vega scripts are loaded once per page, got {scripts}")
    finally:
        problems = visit.problems
        visit.close()
    assert not problems, "\n".join(problems)


def test_every_widget_notebook_has_a_live_twin():
    widget_pages = sorted(p.relative_to(ROOT).with_suffix(".html").as_posix()
                          for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                          and "lecturelib.widgets" in p.read_text(encoding="utf-8"))
    assert widget_pages and set(widget_pages) <= set(TWIN_PAGES)
