"""Write Chinese copies of the chapter notebooks, to run live in JupyterLab in Chinese.

    python tools/zh_notebooks.py                       # every chapter and appendix -> chapters_zh/
    python tools/zh_notebooks.py chapters/01_self_attention.ipynb --output somewhere/

The translations are the Chinese edition's (``locale/zh_CN``, the same .po files the book
builds from), so the notebooks and the book never disagree. In each copy every markdown
paragraph, heading, list item, table cell and admonition (title and body) is replaced by its
translation; code cells, their outputs and the numbers stored for ``{eval}`` stay as they are.
The copies live in a folder beside ``chapters/`` so that the notebooks' relative paths still
hold. A paragraph with no translation stays English and is reported (the tests require none).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.notebooks import _shown, copies_arguments  # noqa: E402
from tools.translations import myst_parser  # noqa: E402

LOCALE = REPO / "locale" / "zh_CN" / "LC_MESSAGES"
LIST_MARKER = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+|\s*>\s?|\s*#{1,6}\s+|\s*)")
OPTION_LINE = re.compile(r"^:[\w-]+:")


def translations_for(notebook_path: Path) -> dict[str, str]:
    """English message -> Chinese, from the notebook's own .po file."""
    from babel.messages.pofile import read_po

    relative = notebook_path.resolve().relative_to(REPO).with_suffix(".po")
    with (LOCALE / relative).open("rb") as handle:
        catalog = read_po(handle)
    return {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}


def _normalise(text: str) -> str:
    return " ".join(text.split())


class Translator:
    """Translates MyST markdown block by block, keeping each block's prefix (heading marks, list
    markers, indentation) and everything that is not prose (code fences, math, targets)."""

    def __init__(self, messages: dict[str, str]):
        self.messages = messages
        self.missing: list[str] = []
        self.parser = myst_parser()

    def lookup(self, text: str) -> str | None:
        text = _normalise(text)
        if not text:
            return None
        if text in self.messages:
            return self.messages[text]
        self.missing.append(text)
        return None

    def translate(self, source: str) -> str:
        lines = source.split("\n")
        replacements: dict[int, tuple[int, str]] = {}  # first line -> (end line, new text)
        for token in self.parser.parse(source):
            if token.level != 0 or token.map is None:
                continue  # nested tokens are handled through their top-level block
            start, end = token.map
            if token.type in ("paragraph_open", "heading_open"):
                self._block(lines, start, end, replacements)
            elif token.type in ("bullet_list_open", "ordered_list_open", "blockquote_open"):
                self._nested(source, token, replacements, lines)
            elif token.type == "table_open":
                for row in range(start, end):
                    replacements[row] = (row + 1, self._table_row(lines[row]))
            elif token.type in ("fence", "colon_fence") and token.info.strip().startswith("{"):
                replacements[start] = (end, self._directive(lines[start:end]))
        out, index = [], 0
        while index < len(lines):
            if index in replacements:
                stop, text = replacements[index]
                out.append(text)
                index = stop
            else:
                out.append(lines[index])
                index += 1
        return "\n".join(out)

    def _block(self, lines, start, end, replacements):
        prefix = LIST_MARKER.match(lines[start]).group(1)
        body = [lines[start][len(prefix) :]] + [
            LIST_MARKER.sub("", line, count=1) for line in lines[start + 1 : end]
        ]
        body = [line for line in body if line.strip() != "#"]
        translated = self.lookup(" ".join(body).rstrip("#").strip())
        if translated is not None:
            replacements[start] = (end, prefix + translated)

    def _nested(self, source, token, replacements, lines):
        """Paragraphs inside lists and quotes: each translated in place."""
        start, end = token.map
        inner = self.parser.parse("\n".join(lines[start:end]))
        for child in inner:
            if child.type == "paragraph_open" and child.map is not None:
                a, b = child.map
                self._block(lines, start + a, start + b, replacements)

    def _table_row(self, line: str) -> str:
        cells = line.split("|")
        if all(set(cell.strip()) <= set("-: ") for cell in cells):
            return line  # the separator row
        for position in range(1, len(cells) - 1):
            translated = self.lookup(cells[position].strip()) if cells[position].strip() else None
            if translated is not None:
                cells[position] = f" {translated} "
        return "|".join(cells)

    def _directive(self, block: list[str]) -> str:
        """A ```{name} title fence: the title and the body (after its :option: lines)."""
        opening, closing = block[0], block[-1] if len(block) > 1 else ""
        match = re.match(r"^(\s*[`:]{3,}\{[\w:-]+\}\s*)(.*)$", opening)
        name = re.search(r"\{([\w:-]+)\}", opening).group(1)
        if (
            match
            and match.group(2).strip()
            and name not in ("code-cell", "math", "mermaid", "code-block", "code")
        ):
            title = self.lookup(match.group(2))
            if title is not None:
                opening = match.group(1) + title
        body = block[1:-1] if len(block) > 1 else []
        options = 0
        while options < len(body) and OPTION_LINE.match(body[options]):
            options += 1
        if name in ("math", "mermaid", "code-block", "code", "code-cell"):
            inner = body[options:]
        else:
            inner = self.translate("\n".join(body[options:])).split("\n") if body[options:] else []
        return "\n".join([opening, *body[:options], *inner, closing])


def chinese_copy(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook with its markdown translated, and the paragraphs that had no translation."""
    notebook = nbformat.read(path, as_version=4)
    translator = Translator(translations_for(path))
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = translator.translate(cell.source)
    notebook.metadata["language_info"] = notebook.metadata.get("language_info", {})
    notebook.metadata.setdefault("lmcore", {})["translation"] = "zh_CN"
    return notebook, translator.missing


def main(argv: list[str] | None = None) -> int:
    paths, output = copies_arguments(__doc__, REPO / "chapters_zh", argv)
    output.mkdir(parents=True, exist_ok=True)
    untranslated = 0
    for path in paths:
        notebook, missing = chinese_copy(path)
        nbformat.write(notebook, output / path.name)
        untranslated += len(missing)
        for text in missing:
            print(f"{path.name}: no translation for {text[:80]!r}")
        print(f"{path.name} -> {_shown(output / path.name)}")
    return 1 if untranslated else 0


if __name__ == "__main__":
    raise SystemExit(main())
