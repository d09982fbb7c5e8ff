"""Small Sphinx additions for the book.

Numbers in the chapters' prose are MyST inline expressions, ``{eval}`f"{accuracy:.3f}"` ``.
MyST-NB evaluates those only with a live kernel during the build, and the book builds from the
stored outputs without one. ``tools/notebooks.py run`` stores each expression's result in its
markdown cell's ``user_expressions`` metadata (jupyterlab-myst's format, which JupyterLab shows
when a notebook is opened without running it); the ``eval`` role below renders those stored
results, exactly as jupyterlab-myst shows them, and warns (an error under ``-W``) when an
expression has none.

Without npm at set-up there is no ``vendor/`` folder: the book then still builds, with Mermaid
loaded from the web (sphinxcontrib-mermaid's default), and says so in one line.

sphinx-thebe 0.3.1 registers its inline configuration script on every ``env-before-read-docs``
event, and Jupyter Book 1 fires that event twice, so every page declared ``const THEBE_JS_URL``
twice and the browser raised "Identifier 'THEBE_JS_URL' has already been declared". This
extension drops exact duplicates (same file, or same inline body) from each page's scripts.

Every page has a button that opens the same page in the other edition (English at the site's
root, Chinese in its ``zh_CN/`` folder).
"""

import functools
import re

# jupyterlab-myst shows a string result without its quotes (its PlainTextRenderer)
STRING_QUOTES = re.compile(r"""^(["'])(.*)\1$""")


def stored_result(notebook, cell_index: int | None, expression: str) -> str | None:
    """The text jupyterlab-myst shows for ``expression``: its stored ``text/plain`` result, with
    a string's quotes stripped. Looked up in the markdown cell ``cell_index`` when it stored the
    expression, else in the one stored result the notebook has for it; ``None`` when there is none
    (or several that differ)."""

    def results_in(cell):
        for item in cell.get("metadata", {}).get("user_expressions", []):
            result = item.get("result", {})
            if item.get("expression") == expression and result.get("status") == "ok":
                yield result.get("data", {}).get("text/plain")

    cells = notebook.get("cells", [])
    candidates = []
    if cell_index is not None and 0 <= cell_index < len(cells):
        candidates = list(results_in(cells[cell_index]))
    if not candidates:
        candidates = list(dict.fromkeys(text for cell in cells for text in results_in(cell)))
    if len(candidates) != 1 or candidates[0] is None:
        return None
    return STRING_QUOTES.sub(r"\2", candidates[0])


# Sphinx names a translated paragraph's source "<notebook>:<line of the original>:<translated>"
TRANSLATED_SOURCE = re.compile(r"^(?P<path>.+\.ipynb):(?P<line>\d+):<translated>$")


@functools.lru_cache(maxsize=32)
def _read_notebook(path: str) -> dict:
    import json

    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def eval_role(name, rawtext, text, lineno, inliner, options=None, content=()):
    """``{eval}`expression``: the result the notebook's full-mode run stored for it."""
    from docutils import nodes
    from docutils.utils import unescape

    expression = unescape(text)
    document = inliner.document
    renderer = document.get("nb_renderer")
    notebook = renderer.renderer.nb_client.notebook if renderer is not None else {}
    source, line = inliner.reporter.get_source_and_line(lineno)
    translated = TRANSLATED_SOURCE.match(source or "")
    if translated:  # the Chinese edition parses a translated paragraph on its own: find its cell
        notebook, line = _read_notebook(translated["path"]), int(translated["line"])
    # MyST-NB numbers a notebook's lines from (cell index + 1) * 10000, so the line says the cell
    cell_index = line // 10000 - 1 if line else None
    shown = stored_result(notebook, cell_index, expression)
    if shown is None:
        message = inliner.reporter.warning(
            f"{{eval}}`{expression}` has no stored result: run `python tools/notebooks.py run` "
            "on this notebook",
            line=lineno,
        )
        return [nodes.problematic(rawtext, rawtext)], [message]
    return [nodes.inline(rawtext, shown, classes=["lmcore-eval"])], []


def use_stored_expression_results(app):
    app.add_role("eval", eval_role, override=True)  # after MyST-NB's own, which needs a kernel


def _key(script):
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {})
    return str(filename), tuple(sorted((name, str(value)) for name, value in attributes.items()))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        if _key(script) not in seen:
            seen.add(_key(script))
            unique.append(script)
    context["script_files"] = unique


# The Chinese edition is the same site's zh_CN/ folder (tools/book.py builds both)
EDITIONS = {"en": ("", "English"), "zh_CN": ("zh_CN/", "中文")}


def other_edition(language: str) -> str:
    return "zh_CN" if language == "en" else "en"


def edition_link(pagename: str, language: str) -> str:
    """The path, from the site's root, of ``pagename`` in the other edition."""
    folder, _ = EDITIONS[other_edition(language)]
    return f"{folder}{pagename}.html"


def add_language_switch(app, pagename, templatename, context, doctree):
    """A header button on every page that opens the same page in the other edition."""
    language = app.config.language if app.config.language in EDITIONS else "en"
    here, _ = EDITIONS[language]
    target = context["pathto"]("../" * here.count("/") + edition_link(pagename, language), 1)
    _, label = EDITIONS[other_edition(language)]
    context.setdefault("header_buttons", []).append(
        {
            "type": "javascript",
            "javascript": f"window.location.href='{target}'",
            "tooltip": "Read this page in English" if language != "en" else "阅读本页的中文版",
            "text": label,
            "label": "language-switch",
        }
    )


def translate_site(app, config):
    """In the Chinese edition, the book's title and the table of contents' captions, which Sphinx's
    gettext does not reach, from ``locale/<language>/LC_MESSAGES/_site.po`` (tools/book.py)."""
    from pathlib import Path

    if config.language in (None, "en"):
        return
    catalog_path = Path(app.confdir) / "locale" / config.language / "LC_MESSAGES" / "_site.po"
    if not catalog_path.is_file():
        return
    from babel.messages.pofile import read_po

    with catalog_path.open("rb") as handle:
        translations = {
            m.id: m.string for m in read_po(handle) if m.id and m.string and not m.fuzzy
        }
    config.html_title = translations.get(config.html_title, config.html_title)
    site_map = getattr(config, "external_site_map", None)
    for document in site_map.values() if site_map is not None else ():
        for subtree in document.subtrees:
            if subtree.caption in translations:
                subtree.caption = translations[subtree.caption]


def use_web_mermaid_without_vendor(app, config):
    from pathlib import Path

    from sphinx.util import logging

    vendor = Path(app.confdir) / "vendor"
    if (vendor / str(config.mermaid_use_local or "")).is_file():
        return
    config.mermaid_use_local = (
        ""  # sphinxcontrib-mermaid then loads its pinned version from the web
    )
    config.html_static_path = [
        p for p in config.html_static_path if (Path(app.confdir) / p).exists()
    ]
    logging.getLogger(__name__).info(
        "vendor/ has no Mermaid (npm was not available at set-up): the diagrams load Mermaid from the web"
    )


def setup(app):
    app.connect("builder-inited", use_stored_expression_results)
    app.connect(
        "config-inited", use_web_mermaid_without_vendor, priority=100
    )  # before Sphinx checks the static path (800)
    app.connect(
        "config-inited", translate_site, priority=950
    )  # after sphinx-external-toc reads _toc.yml (900)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.connect(
        "html-page-context", add_language_switch, priority=502
    )  # after the theme's buttons (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
