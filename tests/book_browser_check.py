"""Open the built book in headless Chromium and check what a reader would see.

Used by ``tests/test_book.py`` and runnable by hand::

    python tests/book_browser_check.py _build/html [--screenshots DIR]

For every page it records uncaught JavaScript exceptions, requests that leave the local
server (the site must work offline), the number of images and of rendered MathJax elements,
and, on pages with a precomputed slider (matplotlib ``to_jshtml``), whether moving the slider
with the keyboard changes the displayed frame. It talks to Chromium over the DevTools
protocol (``websocket-client``); the site is served from 127.0.0.1 by a throw-away HTTP server.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


# --------------------------------------------------------------------------- local server
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- DevTools client
class Page:
    """One browser tab driven over the DevTools protocol (synchronous)."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        self.next_id += 1
        msg_id = self.next_id
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = self._receive(deadline)
            if msg is not None and msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
        raise TimeoutError(f"no answer to {method} within {timeout} s")

    def wait_for(self, event: str, timeout: float = 60) -> dict:
        seen = len(self.events)
        deadline = time.time() + timeout
        while time.time() < deadline:
            for e in self.events[seen:]:
                if e["method"] == event:
                    return e
            seen = len(self.events)
            self._receive(deadline)
        raise TimeoutError(f"no {event} within {timeout} s")

    def _receive(self, deadline: float) -> dict | None:
        import websocket

        self.ws.settimeout(max(0.05, min(1.0, deadline - time.time())))
        try:
            msg = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        if "method" in msg:
            self.events.append(msg)
        return msg

    def evaluate(self, expression: str, timeout: float = 60):
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error in check: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self):
        with contextlib.suppress(Exception):
            self.ws.close()


class Chromium:
    """Headless Chromium with a fresh profile; ``new_page()`` opens a tab."""

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 900):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise FileNotFoundError("no chromium executable on PATH (apt-get install chromium)")
        self.size = (width, height)

    def __enter__(self):
        self.profile = tempfile.mkdtemp(prefix="els-chromium-")
        args = [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                f"--window-size={self.size[0]},{self.size[1]}", "--remote-debugging-port=0",
                "about:blank"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.time() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.time() > deadline:
                err = self.process.stderr.read().decode(errors="replace")[-2000:] if self.process.poll() is not None else ""
                self.__exit__(None, None, None)
                raise RuntimeError(f"chromium did not start: {err or 'timeout'}")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        return self

    def new_page(self) -> Page:
        import urllib.request

        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=30) as r:
            target = json.loads(r.read())
        page = Page(target["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Network"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.size[0], "height": self.size[1], "deviceScaleFactor": 1, "mobile": False})
        return page

    def __exit__(self, *exc):
        proc = getattr(self, "process", None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(getattr(self, "profile", ""), ignore_errors=True)


# --------------------------------------------------------------------------- the checks
@dataclass
class PageReport:
    path: str
    exceptions: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    images: int = 0
    math: int = 0
    sliders: int = 0
    slider_changes_frame: bool | None = None
    widgets_rendered: int = 0
    searches: int = 0  # visible search boxes and buttons
    # per figure: index on the page, natural and displayed width (CSS px), caption start
    figures: list[dict] = field(default_factory=list)
    # per table: index, width, px past the article's right edge, px hidden inside it, header start
    tables: list[dict] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)


_WAIT_FOR_MATHJAX = """
new Promise(resolve => {
  const t0 = Date.now();
  (function poll() {
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(() => resolve(document.querySelectorAll('mjx-container').length));
    } else if (Date.now() - t0 > 20000) {
      resolve(document.querySelectorAll('mjx-container').length);
    } else { setTimeout(poll, 100); }
  })();
})
"""

_COUNT = """({
  images: Array.from(document.querySelectorAll('article img, main img, .bd-article img'))
            .filter(i => i.complete && i.naturalWidth > 0).length,
  sliders: document.querySelectorAll('input.anim-slider').length,
  widgets: document.querySelectorAll('.jupyter-widgets, .widget-container').length,
  searches: Array.from(document.querySelectorAll('.search-button, .search-button-field, input[type=search]'))
            .filter(e => { const r = e.getBoundingClientRect();
                           return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; })
            .length,
  height: document.documentElement.scrollHeight,
  figures: Array.from(document.querySelectorAll('.bd-article img'))
            .filter(i => i.complete && i.naturalWidth > 0)
            .map((i, k) => ({index: k + 1, natural: i.naturalWidth, shown: i.getBoundingClientRect().width,
                             caption: ((i.closest('figure') || {}).innerText || i.alt || '').slice(0, 60)})),
  tables: Array.from(document.querySelectorAll('.bd-article table')).map((t, k) => {
            const article = document.querySelector('.bd-article').getBoundingClientRect();
            const box = t.getBoundingClientRect();
            return {index: k + 1, width: box.width, overflow: Math.max(0, box.right - article.right),
                    hidden: Math.max(0, t.scrollWidth - t.clientWidth),
                    header: (t.querySelector('tr') || t).innerText.slice(0, 60)}; })
})"""


def check_page(page: Page, base_url: str, path: str, screenshot_dir: Path | None = None) -> PageReport:
    """Load ``base_url + path`` and fill a :class:`PageReport`."""
    report = PageReport(path)
    start = len(page.events)
    page.send("Page.navigate", {"url": base_url + path})
    page.wait_for("Page.loadEventFired", timeout=60)
    report.math = int(page.evaluate(_WAIT_FOR_MATHJAX, timeout=60) or 0)
    time.sleep(0.5)  # let the widget manager and late scripts run
    counts = page.evaluate(_COUNT)
    report.images, report.sliders, report.widgets_rendered = counts["images"], counts["sliders"], counts["widgets"]
    report.searches = counts["searches"]
    report.figures, report.tables = counts["figures"], counts["tables"]
    if report.sliders:
        report.slider_changes_frame = _move_slider(page)
    if screenshot_dir is not None:
        report.screenshots = _screenshots(page, screenshot_dir, path, counts["height"])
    page.evaluate("new Promise(r => setTimeout(r, 200))")
    for e in page.events[start:]:
        if e["method"] == "Runtime.exceptionThrown":
            d = e["params"]["exceptionDetails"]
            report.exceptions.append(d.get("exception", {}).get("description") or d.get("text", "?"))
        elif e["method"] == "Network.requestWillBeSent":
            url = e["params"]["request"]["url"]
            if not url.startswith((base_url, "data:", "blob:", "about:")):
                report.external_requests.append(url)
        elif e["method"] == "Network.responseReceived":
            resp = e["params"]["response"]
            if resp.get("status", 200) >= 400 and not resp["url"].endswith("/favicon.ico"):
                report.failed_requests.append(f"{resp['status']} {resp['url']}")
        elif e["method"] == "Network.loadingFailed":
            report.failed_requests.append(f"failed ({e['params'].get('errorText')})")
    return report


def _move_slider(page: Page) -> bool:
    """Focus the first jshtml slider, press the right arrow key, and tell whether the
    displayed frame (the <img> data URI in the same player) changed."""
    before = page.evaluate("""(() => {
        const s = document.querySelector('input.anim-slider');
        s.scrollIntoView({block: 'center'}); s.focus();
        return s.closest('.animation').querySelector('img').src; })()""")
    for kind in ("keyDown", "keyUp"):
        page.send("Input.dispatchKeyEvent", {"type": kind, "key": "ArrowRight", "code": "ArrowRight",
                                             "windowsVirtualKeyCode": 39, "nativeVirtualKeyCode": 39})
    page.evaluate("new Promise(r => setTimeout(r, 300))")
    after = page.evaluate("document.querySelector('input.anim-slider').closest('.animation').querySelector('img').src")
    return bool(before) and bool(after) and before != after


def _screenshots(page: Page, directory: Path, path: str, height: int, max_shots: int = 30) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = path.replace("/", "_").removesuffix(".html")
    files = []
    step = 850
    for k, y in enumerate(range(0, max(1, height), step)):
        if k >= max_shots:
            break
        page.evaluate(f"window.scrollTo(0, {y})")
        page.evaluate("new Promise(r => setTimeout(r, 150))")
        data = page.send("Page.captureScreenshot", {"format": "png"})["data"]
        out = directory / f"{stem}_{k:02d}.png"
        out.write_bytes(base64.b64decode(data))
        files.append(str(out))
    return files


def check_site(html_dir: Path, pages: list[str], screenshot_dir: Path | None = None,
               executable: str | None = None) -> list[PageReport]:
    """Serve ``html_dir`` locally and check each page (paths relative to it)."""
    reports = []
    with serve(Path(html_dir)) as base_url, Chromium(executable) as browser:
        page = browser.new_page()
        try:
            for path in pages:
                reports.append(check_page(page, base_url, path, screenshot_dir))
        finally:
            page.close()
    return reports


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Check the built book in headless Chromium.")
    parser.add_argument("html", type=Path, help="the built site, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, help="save viewport screenshots here")
    args = parser.parse_args(argv)
    pages = sorted(str(p.relative_to(args.html)) for p in (args.html / "book").glob("*.html"))
    reports = check_site(args.html, pages, args.screenshots)
    bad = 0
    for r in reports:
        ok = not r.exceptions and not r.external_requests and not r.failed_requests
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {r.path}: {r.images} images, {r.math} maths, {r.sliders} sliders"
              f"{'' if r.slider_changes_frame is None else f' (moves: {r.slider_changes_frame})'}, "
              f"{r.widgets_rendered} widgets, exceptions {r.exceptions}, external {r.external_requests}, "
              f"failed {r.failed_requests}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
