"""Browser tests: the built book, opened in headless Chromium with every off-site request refused.

They check what a reader sees: rendered maths (no raw TeX), figures that load, an exercise
solution that opens, and that nothing is fetched from outside the site. They need a built book
(`make book` or `make test-book`) and Chromium; without Chromium they are skipped with a message.
Screenshots are written to ``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = {
    "intro": "book/intro.html",
    "activations": "book/activations/activation_functions.html",
}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


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
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="lecturelib-chromium-")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


def _open(browser, site, page_path):
    """Open a page with every request outside the site refused; return (page, refused URLs)."""
    page = browser.new_page()
    refused = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(site) or url.startswith("data:") or url.startswith("blob:"):
            request_route.continue_()
        else:
            refused.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.goto(site + page_path, wait_until="networkidle")
    # MathJax typesets asynchronously; wait until it says it is done.
    page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
    page.evaluate("MathJax.startup.promise")
    return page, refused


def _assert_maths_rendered(page):
    assert page.locator("mjx-container").count() > 0, "MathJax rendered no formula"
    text = page.locator("article").inner_text()
    for raw in ("\\(", "\\)", "$$", "\\begin{"):
        assert raw not in text, f"raw TeX {raw!r} visible on the page"


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_offline(browser, site, name):
    page, refused = _open(browser, site, PAGES[name])
    _assert_maths_rendered(page)
    assert refused == [], f"the page requested resources outside the site: {refused}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)
    page.close()


def test_activation_figures_load(browser, site):
    page, _ = _open(browser, site, PAGES["activations"])
    images = page.locator("article img")
    assert images.count() >= 2, "expected the chapter's figures on the page"
    widths = page.evaluate("Array.from(document.querySelectorAll('article img')).map(i => i.naturalWidth)")
    assert all(w > 0 for w in widths), f"some figures failed to load (naturalWidth {widths})"
    page.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_solution_dropdown_opens(browser, site, name):
    page, _ = _open(browser, site, PAGES[name])
    solution = page.locator("div.solution.dropdown").first
    assert solution.count() == 1, "no exercise solution on the page"
    body = solution.locator("section").first
    assert not body.is_visible(), "the solution should start folded away"
    solution.locator(".admonition-title").first.click()
    body.wait_for(state="visible", timeout=5000)
    assert body.is_visible()
    solution.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{name}-solution.png"))
    page.close()
