"""Make student copies of the notebooks: outputs and exercise solutions removed, checks kept.

    python tools/student_copies.py                       # every chapter and appendix notebook -> student/
    python tools/student_copies.py chapters/05_news_project.ipynb --output handout/

In each copy:

* every output, execution count and run stamp is removed, so students run the notebook
  themselves (the run-time line at the top still says how long that takes);
* every exercise solution (a code cell tagged ``solution``) is replaced by an empty answer cell
  that keeps the solution's ``lmcore.exercises`` check: the import and the ``check_...(...)``
  call, so a student knows at once whether an answer is right. The check's arguments name the
  variables the solution defined; the comment above says so;
* everything else (prose, code, asserts) is unchanged.

The copies are plain notebooks; hand them out as files, or commit them to a class repository
that JupyterHub (nbgitpuller), Binder or Colab opens.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.notebooks import STAMP_KEY, book_notebooks  # noqa: E402

ANSWER_PROMPT = "# Your solution here."


def _check_lines(source: str) -> list[str]:
    """The lines of a solution that import or call an lmcore.exercises check."""
    lines = source.splitlines()
    imports = [line for line in lines if line.startswith("from lmcore.exercises import")]
    calls = [line for line in lines if line.lstrip().startswith("check_")]
    return imports + calls


def student_cell(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The answer cell that replaces one solution cell."""
    checks = _check_lines(solution.source)
    lines = [ANSWER_PROMPT]
    if checks:
        lines += ["# When you have an answer, run the check below (it names the variables to define).", ""]
        lines += checks
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["answer"]
    return cell


def student_copy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    copy = nbformat.from_dict(notebook)
    copy.metadata.pop(STAMP_KEY, None)
    cells = []
    for cell in copy.cells:
        if cell.cell_type == "code":
            if "solution" in cell.metadata.get("tags", []):
                cell = student_cell(cell)
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    copy.cells = cells
    return copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: every chapter and appendix notebook"
    )
    parser.add_argument("--output", type=Path, default=REPO / "student", help="folder for the copies")
    args = parser.parse_args(argv)
    paths = args.notebooks or book_notebooks()
    args.output.mkdir(parents=True, exist_ok=True)
    for path in paths:
        copy = student_copy(nbformat.read(path, as_version=4))
        nbformat.validate(copy)
        target = args.output / path.name
        nbformat.write(copy, target)
        solutions = sum("answer" in c.metadata.get("tags", []) for c in copy.cells)
        print(f"{target}: {solutions} exercise answer cells")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
