"""Headless Chromium for the tests, with the network cut off.

Every request that does not go to localhost or a file is aborted and recorded, so a page that
needs the internet fails its test the way it would fail for a reader offline.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_PREFIXES = ("http://127.0.0.1", "http://localhost", "file://", "data:", "about:", "blob:")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def chromium_path() -> str | None:
    """The system's Chromium, or ``None`` for Playwright's own (``playwright install chromium``)."""
    from tools.setup_env import system_chromium

    return system_chromium()


@dataclass
class PageLog:
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@contextmanager
def offline_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        except Exception as error:  # no system Chromium and Playwright's not installed
            pytest.fail(
                f"no Chromium for the browser tests ({str(error).splitlines()[0]}); "
                "run `python tools/setup_env.py --for tests`, which finds or installs one"
            )
        try:
            yield browser
        finally:
            browser.close()


def open_offline(browser, url: str, wait_ms: int = 1500, viewport=(1280, 900)):
    """Open ``url`` with non-local requests blocked; returns ``(page, log)``."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    log = PageLog()

    def route(route_request):
        request_url = route_request.request.url
        if request_url.startswith(LOCAL_PREFIXES):
            route_request.continue_()
        else:
            log.blocked.append(request_url)
            route_request.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda request: log.failed.append(f"{request.url} ({request.failure})"))
    page.on("console", lambda message: message.type == "error" and log.console_errors.append(message.text))
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(wait_ms)
    return page, log


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# ------------------------------------------------------------------ checks of a rendered page

PAGE_STATE_JS = r"""
() => {
  const visible = document.body.cloneNode(true);
  visible.querySelectorAll('pre, code, script, style, .highlight, mjx-container').forEach(e => e.remove());
  const text = visible.innerText;
  return {
    brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    rawMath: (text.match(/\$\$|\\\(|\\\[|\\begin\{/g) || []).length,
    mathSources: document.querySelectorAll('.math, span.math, div.math').length,
    typesetMath: document.querySelectorAll('mjx-container').length,
    mermaidBlocks: document.querySelectorAll('.mermaid, pre.mermaid').length,
    mermaidDrawn: [...document.querySelectorAll('.mermaid, pre.mermaid')].filter(e => e.querySelector('svg')).length,
    attentionViews: document.querySelectorAll('.lmcore-attention-view iframe').length,
    navigation: document.querySelectorAll('nav.bd-docs-nav').length,
    downloadButtons: document.querySelectorAll('.dropdown-download-buttons').length,
  };
}
"""


def _frames_drawn(page) -> bool:
    frames = [f for f in page.frames if f != page.main_frame]
    return all(f.locator("svg").count() and f.locator("line, rect").count() for f in frames)


def wait_until_drawn(page, timeout_ms: int = 6000, settle_ms: int = 300) -> None:
    """Wait until MathJax has typeset every formula, Mermaid drawn every diagram and every
    attention view its picture, then ``settle_ms`` more; after ``timeout_ms`` stop waiting and
    leave what is missing to :func:`page_problems`. (A fixed pause would either waste seconds on
    each of the book's pages or be too short on a slow machine.)"""
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    from playwright.sync_api import Error

    while time.monotonic() < deadline:
        try:
            state = page.evaluate(PAGE_STATE_JS)
        except Error:  # the page went on to another (the site's index.html redirects)
            page.wait_for_load_state("load")
            continue
        if (
            state["typesetMath"] >= state["mathSources"]
            and state["mermaidDrawn"] >= state["mermaidBlocks"]
            and _frames_drawn(page)
        ):
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(settle_ms)


def page_problems(page, log: PageLog, require_chrome: bool = True) -> list[str]:
    """Everything a reader would notice as broken on ``page``, in words (empty when fine)."""
    state = page.evaluate(PAGE_STATE_JS)
    problems = [f"blocked request to {url}" for url in log.blocked]
    problems += [f"failed request {entry}" for entry in log.failed]
    problems += [f"console error: {text}" for text in log.console_errors]
    problems += [f"page error: {text}" for text in log.page_errors]
    problems += [f"image did not load: {src}" for src in state["brokenImages"]]
    if state["rawMath"]:
        problems.append(f"{state['rawMath']} pieces of raw, untypeset math are visible")
    if state["mathSources"] and not state["typesetMath"]:
        problems.append("the page has math but MathJax typeset none of it")
    if state["mermaidDrawn"] < state["mermaidBlocks"]:
        problems.append(f"{state['mermaidBlocks'] - state['mermaidDrawn']} Mermaid diagrams were not drawn")
    for index, frame in enumerate(f for f in page.frames if f != page.main_frame):
        if frame.locator("svg").count() == 0 or frame.locator("line, rect").count() == 0:
            problems.append(f"attention view {index} drew nothing")
    if state["attentionViews"] != len([f for f in page.frames if f != page.main_frame]):
        problems.append("an attention view has no frame")
    if require_chrome and not state["navigation"]:
        problems.append("the navigation sidebar is missing")
    if require_chrome and not state["downloadButtons"]:
        problems.append("the download buttons are missing")
    return problems


def broken_internal_links(html_root: Path) -> list[str]:
    """Every ``href`` inside the site that points at a missing file or a missing ``#anchor``."""
    import re
    from html.parser import HTMLParser
    from urllib.parse import unquote, urlsplit

    class Collector(HTMLParser):
        def __init__(self):
            super().__init__()
            self.links, self.ids = [], set()

        def handle_starttag(self, tag, attrs):
            attributes = dict(attrs)
            if attributes.get("id"):
                self.ids.add(attributes["id"])
            if tag == "a" and attributes.get("name"):
                self.ids.add(attributes["name"])
            if tag in ("a", "link") and attributes.get("href"):
                self.links.append(attributes["href"])

    html_root = Path(html_root)
    pages = {}
    for path in html_root.rglob("*.html"):
        parts = path.relative_to(html_root).parts
        if parts[1 if parts[0] == "zh_CN" else 0] in ("_static", "_sources", "reports"):
            continue  # theme templates and raw sources, not pages a reader opens
        collector = Collector()
        collector.feed(path.read_text(encoding="utf-8", errors="replace"))
        pages[path.resolve()] = collector
    broken = []
    for path, collector in pages.items():
        for href in collector.links:
            parts = urlsplit(href)
            if (
                parts.scheme
                or href.startswith(("//", "mailto:", "javascript:"))
                or re.match(r"^[a-z]+:", href)
            ):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(html_root.resolve())}: {href} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(html_root.resolve())}: {href} (no such anchor)")
    return broken


@contextmanager
def serve(folder: Path):
    """Serve ``folder`` on a free localhost port for the duration of the block; yields the base URL."""
    import functools
    import http.server
    import threading

    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


import http.server  # noqa: E402


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass
