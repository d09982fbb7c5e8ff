"""Find everything a built HTML page would load from the internet.

    python tools/check_html.py _build/html      # prints offenders, exits 1 if any

A reader offline, a classroom behind a firewall and the book's tests all need the rendered
book to load nothing from a CDN. This scanner looks at what a browser would *fetch*:
``<script src>``, stylesheets and preloads, images, frames, media, inline ``<style>`` and CSS
files (``@import`` and ``url(...)``), ES-module ``import`` statements in inline scripts, and
the documents inside ``<iframe srcdoc>`` (how the book embeds interactive views). Ordinary
``<a href>`` links to papers and documentation are not loads and are allowed.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(
    r"""(@import\s+(url\()?\s*["']?|url\(\s*["']?)\s*((https?:)?//[^"')\s;]+)""", re.IGNORECASE
)
JS_IMPORT_REMOTE = re.compile(r"""(\bimport\s*\(?\s*|\bfrom\s*)["']((https?:)?//[^"']+)["']""", re.IGNORECASE)
LOADING_ATTRIBUTES = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "source": ("src", "srcset"),
    "audio": ("src",),
    "video": ("src", "poster"),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
}
LOADING_LINK_RELS = {
    "stylesheet",
    "preload",
    "modulepreload",
    "prefetch",
    "icon",
    "shortcut icon",
    "manifest",
}


class _LoadFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[str] = []
        self._in = None  # "script" or "style" while inside one
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        for name in LOADING_ATTRIBUTES.get(tag, ()):
            for url in re.split(r",\s*", attributes.get(name, "")):
                if url and REMOTE.match(url):
                    self.loads.append(f"<{tag} {name}={url.split()[0]}>")
        if tag == "link" and attributes.get("rel", "").lower() in LOADING_LINK_RELS:
            if REMOTE.match(attributes.get("href", "")):
                self.loads.append(f"<link rel={attributes['rel']} href={attributes['href']}>")
        if "style" in attributes:
            self.loads += [f"style attribute: {m.group(3)}" for m in CSS_REMOTE.finditer(attributes["style"])]
        if tag == "iframe" and attributes.get("srcdoc"):
            self.loads += [f"iframe srcdoc: {load}" for load in find_loads_in_html(attributes["srcdoc"])]
        if tag in ("script", "style"):
            self._in, self._text = tag, []

    def handle_data(self, data):
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == self._in:
            text = "".join(self._text)
            if tag == "style":
                self.loads += [f"<style>: {m.group(3)}" for m in CSS_REMOTE.finditer(text)]
            else:
                self.loads += [f"<script> import: {m.group(2)}" for m in JS_IMPORT_REMOTE.finditer(text)]
            self._in = None


def find_loads_in_html(text: str) -> list[str]:
    finder = _LoadFinder()
    finder.feed(text)
    finder.close()
    return finder.loads


def find_loads_in_css(text: str) -> list[str]:
    return [m.group(3) for m in CSS_REMOTE.finditer(text)]


def external_loads(html_root: Path) -> list[str]:
    """Every remote load in the built site, as ``"path: what"`` lines."""
    html_root = Path(html_root)
    if not (html_root / "index.html").exists():
        raise FileNotFoundError(f"{html_root} has no index.html; build the book first (make book)")
    found = []
    for path in sorted(html_root.rglob("*")):
        if path.suffix == ".html":
            loads = find_loads_in_html(path.read_text(encoding="utf-8", errors="replace"))
        elif path.suffix == ".css":
            loads = find_loads_in_css(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        found += [f"{path.relative_to(html_root)}: {load}" for load in loads]
    return found


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")
    offenders = external_loads(root)
    print("\n".join(offenders) or f"{root}: nothing is loaded from the internet")
    if offenders and not (Path(__file__).resolve().parents[1] / "vendor" / "mermaid").exists():
        # set-up had no npm: the book was built with Mermaid from the web, on purpose
        print("(vendor/ is missing because npm was not available at set-up: this book needs the internet)")
        sys.exit(0)
    sys.exit(1 if offenders else 0)
