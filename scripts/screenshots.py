"""Full-page screenshots of built book pages, as a reader sees them, with no network.

    python scripts/screenshots.py [--width 390] book/activations/activation_functions.html [...]

Serves _build/html on localhost, opens each page in headless Chromium with every off-site
request refused, and writes PNGs to _build/screenshots/ (one per page and width, split into
screen-high tiles so long pages stay legible). The default width is a desktop's, 1280 px;
390 px is a phone's. `make test-browser` also writes desktop and phone screenshots there.
"""

import functools
import http.server
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
HTML, OUT = ROOT / "_build" / "html", ROOT / "_build" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main(pages, width=1280):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}/"
    OUT.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp()
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(profile, executable_path=shutil.which("chromium"),
                                                       headless=True, args=ARGS,
                                                       viewport={"width": width, "height": 1600})
        for page_path in pages:
            page = context.new_page()
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(site) else r.abort())
            page.goto(site + page_path, wait_until="networkidle")
            page.wait_for_timeout(1500)  # MathJax and the widget manager finish rendering
            height = page.evaluate("document.body.scrollHeight")
            name = page_path.replace("/", "_").removesuffix(".html") + ("" if width == 1280 else f"-{width}px")
            for tile, top in enumerate(range(0, height, 1600)):
                page.screenshot(path=str(OUT / f"{name}-{tile}.png"),
                                clip={"x": 0, "y": top, "width": width, "height": min(1600, height - top)},
                                full_page=True)
            print(f"{page_path}: {tile + 1} tiles")
            page.close()
        context.close()
    server.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--width"]:
        main(args[2:], width=int(args[1]))
    else:
        main(args)
