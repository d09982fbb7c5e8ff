"""Mark each chapter's key cells as slides for a short talk (jupyterlab-rise).

    python tools/slides.py            # mark every chapter and appendix notebook
    python tools/slides.py --check    # what the tests check: every notebook is marked this way

In JupyterLab with jupyterlab-rise, "Render as slideshow" (or opening ``/rise/<notebook>`` on
the Jupyter server) shows a chapter as a reveal.js talk, offline (reveal.js comes with the
extension; the notebook's ``rise`` metadata picks reveal.js's "white" theme, whose fonts come
with it). The talk is the chapter's skeleton: its title and learning goals, one slide per
section, a slide per ``###`` subsection, every errata box, every figure, and the summary. The
other cells are skipped in the talk and stay in the notebook as they are. The slide types live
in each cell's ``slideshow`` metadata, so marking a notebook changes neither its code nor its
stored outputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.notebooks import book_notebooks  # noqa: E402

FIGURE_CALLS = ("plt.show()", "plot_attention(", "plot_confusion_matrix(", "head_view(", "model_view(")
# reveal.js's "white" theme brings its fonts with it; the default ("simple") loads Google's
RISE_SETTINGS = {"theme": "white", "transition": "none"}


def slide_type(cell: nbformat.NotebookNode, index: int, after_summary: bool) -> str:
    """The reveal.js slide type of one cell in the chapter's short talk."""
    source = cell.source.lstrip()
    if index == 0:
        return "slide"  # the title and the learning goals
    if after_summary:
        return "skip"  # exercises and references are for reading
    if cell.cell_type == "markdown":
        headings = [line for line in source.splitlines() if line.startswith("#")]
        if any(line.startswith("## ") for line in headings):
            return "slide"  # a section starts in this cell
        if any(line.startswith("### ") for line in headings) or "{admonition} Errata" in source:
            return "subslide"
        return "skip"
    if any(call in cell.source for call in FIGURE_CALLS):
        return "subslide"
    return "skip"


def marked(notebook: nbformat.NotebookNode) -> list[str]:
    """The slide type of every cell, in order."""
    types, after_summary = [], False
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown" and "## Exercises" in cell.source:
            after_summary = True  # the summary shares its cell with the exercises' heading
            types.append("slide")
            continue
        types.append(slide_type(cell, index, after_summary))
    return types


def mark(path: Path) -> int:
    """Write the slide types into ``path``; return the number of slides."""
    notebook = nbformat.read(path, as_version=4)
    for cell, kind in zip(notebook.cells, marked(notebook)):
        cell.metadata["slideshow"] = {"slide_type": kind}
    notebook.metadata["rise"] = RISE_SETTINGS
    nbformat.write(notebook, path)
    return sum(kind in ("slide", "subslide") for kind in marked(notebook))


def problems(path: Path) -> list[str]:
    """Cells of ``path`` whose slide type is not the one :func:`marked` gives."""
    notebook = nbformat.read(path, as_version=4)
    settings = (
        []
        if notebook.metadata.get("rise") == RISE_SETTINGS
        else [f"{path.name}: RISE settings are not {RISE_SETTINGS}"]
    )
    return settings + [
        f"{path.name}: cell {index} is {cell.metadata.get('slideshow', {}).get('slide_type')!r}, not {kind!r}"
        for index, (cell, kind) in enumerate(zip(notebook.cells, marked(notebook)))
        if cell.metadata.get("slideshow", {}).get("slide_type") != kind
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="fail when a notebook is not marked")
    args = parser.parse_args(argv)
    paths = args.notebooks or book_notebooks()
    if args.check:
        found = [problem for path in paths for problem in problems(path)]
        print("\n".join(found) or f"{len(paths)} notebooks: slides marked")
        return 1 if found else 0
    for path in paths:
        print(f"{path.name}: {mark(path)} slides")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
