"""Copies of the chapters for readers whose notebook viewer does not render MyST (Colab, VS Code,
GitHub): the same notebooks, with their MyST markup turned into plain Markdown.

    python tools/plain_notebooks.py                     # every notebook -> plain/
    python tools/plain_notebooks.py chapters/01_self_attention.ipynb --output plain/

In each copy, only the markdown cells change:

* a box (```` ```{admonition} Title ```` with its ``:class:``) becomes a quoted block headed by
  its title in bold;
* an inline expression, ``{eval}`f"{n:,}"` ``, becomes the value the book's full run stored for
  it (the value a reader of the book sees); when the reader runs the notebook the code cells
  compute their own, and the text keeps the book's;
* a glossary term, ``{term}`token` ``, becomes its text; a cross-reference, ``{doc}`text <path>` ``
  or ``{ref}`text <label>` ``, becomes a link to the other notebook or page, or its text;
* a label line, ``(errata-order)=``, is dropped.

Code cells, outputs and metadata stay as they are, so a copy runs exactly as the chapter does.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.notebooks import copies_arguments  # noqa: E402

ADMONITION = re.compile(r"^```+\{admonition\}[ \t]*(?P<title>[^\n]*)\n(?P<body>.*?)^```+[ \t]*$", re.M | re.S)
ROLE = re.compile(r"\{(?P<role>[a-z:-]+)\}`(?P<text>[^`]*)`")
LABEL = re.compile(r"^\([\w-]+\)=[ \t]*\n", re.M)
STRING_QUOTES = re.compile(r"""^(["'])(.*)\1$""")  # a string result is shown without its quotes
# what no plain Markdown viewer renders: a role, a directive fence, a label line
MYST_ONLY = re.compile(r"\{[a-z:-]+\}`|^```+\{|^:::+\{|^\([\w-]+\)=", re.M)


def _stored_values(cell: nbformat.NotebookNode) -> dict[str, str]:
    values = {}
    for item in cell.metadata.get("user_expressions", []):
        result = item.get("result", {})
        if result.get("status") == "ok" and "text/plain" in result.get("data", {}):
            values[item["expression"]] = STRING_QUOTES.sub(r"\2", result["data"]["text/plain"])
    return values


def _link(text: str, page: str, notebook_path: Path) -> str:
    """``{doc}`` target -> a Markdown link to the notebook or page it names."""
    target = (notebook_path.parent / page).resolve()
    for suffix in (".ipynb", ".md"):
        if target.with_suffix(suffix).exists():
            return f"[{text}]({page}{suffix})"
    return text


def _admonition(match: re.Match) -> str:
    title = match.group("title").strip()
    lines = [line for line in match.group("body").splitlines() if not line.startswith(":class:")]
    quoted = "\n".join(f"> {line}".rstrip() for line in lines).strip("\n")
    quote = f"> **{title}**\n>\n{quoted}" if title else quoted
    return quote + "\n"  # a blank line after the quote, so the next line does not join it


def plain_markdown(source: str, values: dict[str, str], notebook_path: Path) -> str:
    """One markdown cell's source with its MyST markup turned into plain Markdown."""
    source = LABEL.sub("", source)
    source = ADMONITION.sub(_admonition, source)

    def role(match: re.Match) -> str:
        name, text = match.group("role"), match.group("text")
        if name == "eval":
            if text not in values:
                raise ValueError(f"{{eval}}`{text}` has no stored result: run tools/notebooks.py first")
            return values[text]
        shown, _, target = text.partition(" <")
        target = target.rstrip(">")
        if name == "doc":
            return _link(shown.strip(), target or shown.strip(), notebook_path)
        return shown.strip()  # term, ref and any other role: its text

    return ROLE.sub(role, source)


def plain_copy(notebook: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    copy = nbformat.from_dict(notebook)
    for cell in copy.cells:
        if cell.cell_type == "markdown":
            cell.source = plain_markdown(cell.source, _stored_values(cell), path)
            cell.metadata.pop("user_expressions", None)
    return copy


def myst_left(notebook: nbformat.NotebookNode) -> list[str]:
    """MyST-only syntax still in ``notebook``'s markdown cells (empty: none)."""
    return [
        f"cell {index}: {match.group(0)!r}"
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown"
        for match in MYST_ONLY.finditer(cell.source)
    ]


def main(argv: list[str] | None = None) -> int:
    paths, output = copies_arguments(__doc__, REPO / "plain", argv)
    output.mkdir(parents=True, exist_ok=True)
    for path in paths:
        copy = plain_copy(nbformat.read(path, as_version=4), path.resolve())
        left = myst_left(copy)
        if left:
            raise SystemExit(f"{path.name}: MyST left after conversion: {left[:3]}")
        nbformat.write(copy, output / path.name)
        print(f"{output / path.name}: plain Markdown")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
