"""JupyterLab renders the book's MyST: JupyterLab started headless, as `make lab` starts it, with
jupyterlab-myst, and notebooks opened in headless Chromium.

For each notebook (chosen to cover every kind of markup the book uses: exercises and dropdown
solutions, sphinx-proof definitions, theorems and proofs, ``{prf:ref}``, ``{doc}``, ``{cite}`` and
``{cite:t}``, ``{note}``, inline and display maths with amsmath environments, tables):

* every Markdown cell is rendered by jupyterlab-myst, and no rendered line shows MyST source
  (a ``:label:`` or ``:class:`` option, a ```` ``` ```` fence, a ``{role}`` or ``{directive}``);
* exercises, proofs and maths are drawn: the exercises as MyST exercise boxes, sphinx-proof blocks
  as proof boxes, every formula by KaTeX with no KaTeX error;
* every solution starts folded (its body hidden) and opens on a click on its title;
* JupyterLab's "official Jupyter news" question does not appear (the setting `make lab` writes).

``JUPYTERLAB_TEST_NOTEBOOKS=all`` checks every notebook of the book instead (about 10 s each).

The server gets a fresh settings, workspace and runtime folder, and the environment's settings
overrides from ``jupyterlab/overrides.json`` (what `make lab` installs); cells are not windowed, so
that every cell of the notebook is rendered. Skipped without Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = ROOT / "jupyterlab" / "overrides.json"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
NOTEBOOKS = {
    "backprop/backpropagation_derived.ipynb": {"exercises", "proofs"},   # definitions, theorems, proofs
    "activations/activation_functions.ipynb": {"exercises"},            # a table of formulas, many cites
    "preprocessing/conditioning.ipynb": {"exercises", "proofs"},        # {doc}, {prf:ref}, {cite:t}
    "landscape/batch_size_weight_decay.ipynb": {"exercises"},           # {note}, {ref}
}
if os.environ.get("JUPYTERLAB_TEST_NOTEBOOKS") == "all":  # every notebook of the book (slow)
    NOTEBOOKS = {p.relative_to(ROOT / "book").as_posix(): set() for p in sorted((ROOT / "book").rglob("*.ipynb"))
                 if ".ipynb_checkpoints" not in p.parts}
RAW_MYST = re.compile(r"^\s*:(label|class|nonumber|enumerated):|```|\{(cite|prf:\w+|doc|ref|numref|eq|exercise|"
                      r"solution|note|math)(:\w+)?\}")
START_TIMEOUT_S = 90
RENDER_TIMEOUT_MS = 180000  # a busy 2-core machine needs long for the largest notebooks


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on the book's folder; yields its URL."""
    if CHROMIUM is None:
        pytest.skip("Chromium not found (install the Debian package 'chromium' or set CHROMIUM): SKIPPED")
    home = tmp_path_factory.mktemp("lab")
    app_settings, user_settings = home / "app-settings", home / "user-settings"
    app_settings.mkdir()
    shutil.copy(OVERRIDES, app_settings / "overrides.json")
    tracker = user_settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    port = _free_port()
    env = dict(os.environ, LECTURELIB_PROGRESS="0", JUPYTERLAB_SETTINGS_DIR=str(user_settings),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={ROOT / 'book'}",
               f"--LabApp.app_settings_dir={app_settings}", "--allow-root"]
    log = open(home / "server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(home / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/lab/tree/"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        yield context
        context.close()
        chromium.close()


def _open(browser, lab, notebook):
    """The page with ``notebook`` open and every Markdown cell rendered by jupyterlab-myst."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(lab + notebook, wait_until="load")
    page.wait_for_function(
        """() => { const cells = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell');
                   return cells.length > 0 && [...cells].every(c => c.querySelector('.myst')); }""",
        timeout=RENDER_TIMEOUT_MS)
    # KaTeX typesets after the Markdown is rendered; every notebook of the book has maths.
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell .katex').length > 0",
        timeout=RENDER_TIMEOUT_MS)
    page.wait_for_timeout(1500)  # the last formulas and the notification area settle
    return page, errors


def _rendered_lines(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell .jp-RenderedMarkdown')]
        .flatMap(cell => cell.innerText.split('\\n'))""")


def _count(page, selector, settle_ms: int = 30000) -> int:
    """How many ``selector`` the open notebook shows; waits up to ``settle_ms`` for one to appear,
    since jupyterlab-myst renders a cell again when the kernel connects."""
    locator = page.locator(f".jp-NotebookPanel:not(.lm-mod-hidden) {selector}")
    waited = 0
    while locator.count() == 0 and waited < settle_ms:
        page.wait_for_timeout(500)
        waited += 500
    return locator.count()


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_notebook_renders_its_myst(browser, lab, notebook):
    page, errors = _open(browser, lab, notebook)
    try:
        raw = [line for line in _rendered_lines(page) if RAW_MYST.search(line)]
        assert raw == [], f"{notebook}: MyST source shown as text: {raw[:5]}"
        assert _count(page, ".katex") > 0 and _count(page, ".katex-error", settle_ms=0) == 0
        if "exercises" in NOTEBOOKS[notebook]:
            assert _count(page, "aside.myst-exercise") > 0
        if "proofs" in NOTEBOOKS[notebook]:
            assert _count(page, "aside.myst-proof") > 0
        assert not page.get_by_text("official Jupyter news").count(), "the news question was asked"
        assert errors == [], errors
    finally:
        page.close()


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_solutions_start_folded_and_open_on_a_click(browser, lab, notebook):
    page, _ = _open(browser, lab, notebook)
    try:
        solutions = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) details.myst-exercise")
        count = solutions.count()
        if not NOTEBOOKS[notebook] and count == 0:
            return  # a notebook of the full run without exercises
        assert count > 0, f"{notebook}: no folded solution"
        for i in range(count):
            solution = solutions.nth(i)
            assert solution.get_attribute("open") is None
            assert not solution.locator(".details-body").is_visible(), f"{notebook}: solution {i} shown"
        first = solutions.first
        first.locator("summary .details-toggle").click()
        assert first.get_attribute("open") is not None and first.locator(".details-body").is_visible()
    finally:
        page.close()


def test_news_question_is_switched_off_in_the_environment(lab):
    """The environment's overrides become the defaults the server hands out: no news fetched, no
    update check (a reader's own settings could still turn them on)."""
    from urllib.request import urlopen

    api = lab.replace("/lab/tree/", "/lab/api/settings/@jupyterlab/apputils-extension:notification")
    with urlopen(api, timeout=30) as reply:
        defaults = json.load(reply)["schema"]["properties"]
    assert defaults["fetchNews"]["default"] == "false" and defaults["checkForUpdates"]["default"] is False
