"""Small Sphinx fixes for the book.

Without npm at set-up there is no ``vendor/`` folder: the book then still builds, with Mermaid
loaded from the web (sphinxcontrib-mermaid's default), and says so in one line.

sphinx-thebe 0.3.1 registers its inline configuration script on every ``env-before-read-docs``
event, and Jupyter Book 1 fires that event twice, so every page declared ``const THEBE_JS_URL``
twice and the browser raised "Identifier 'THEBE_JS_URL' has already been declared". This
extension drops exact duplicates (same file, or same inline body) from each page's scripts.
"""


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
    app.connect(
        "config-inited", use_web_mermaid_without_vendor, priority=100
    )  # before Sphinx checks the static path (800)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
