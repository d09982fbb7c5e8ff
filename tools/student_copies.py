"""Make student copies of the notebooks: outputs and exercise solutions removed, checks kept.

    python tools/student_copies.py                       # every chapter and appendix notebook -> student/
    python tools/student_copies.py chapters/05_news_project.ipynb --output handout/

In each copy:

* every output, execution count and run stamp is removed, so students run the notebook
  themselves (the run-time line at the top still says how long that takes);
* every exercise solution (a code cell tagged ``solution``) is replaced by an answer cell tagged
  ``answer``. For an exercise with a check it holds a prompt, one ``your_... = None`` line per
  variable the exercise text names, and the solution's ``lmcore.exercises`` import and
  ``check_...(...)`` calls. Run as it is, the check prints "Not answered yet: set `your_...`"
  and raises nothing, so "Run all" goes on; once the student replaces the ``None``s, the check
  prints "Correct: ..." or raises an ``AssertionError`` with a hint. For an open question (the
  solution's metadata says ``"exercise": {"open": true}``) the cell holds a prompt only: the
  hidden solution in the book has a model answer;
* everything else (prose, code, asserts, the exercises' data cells) is unchanged.

Each solution cell describes its exercise in its metadata, ``"exercise"``: ``{"open": true}``,
or ``{"wrong": "<code setting the answer variables to a plausible mistake>"}`` with, when the
check calls do not name them all, ``"answer_names": [...]``. The answer variables are otherwise
the ``your_...`` names in the check calls. tests/test_student_copies.py runs every copy three
ways with that: as it is, with the solution, and with the wrong answer.

The copies are plain notebooks; hand them out as files, or commit them to a class repository
that JupyterHub (nbgitpuller), Binder or Colab opens.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.notebooks import STAMP_KEY, clear_outputs, copies_arguments  # noqa: E402

ANSWER_PROMPT = "# Your solution here."
CHECKED_PROMPT = (
    ANSWER_PROMPT + " Replace each None below with your answer (or define the name in place of\n"
    "# its line); the check at the end says whether it is right."
)
OPEN_PROMPT = (
    ANSWER_PROMPT
    + " An open question: answer with code, or in comments.\n# The book's hidden solution has a model answer."
)
NONE_COMMENT = "# replace None with your answer"


def exercise(solution: nbformat.NotebookNode) -> dict:
    """The ``exercise`` metadata of a solution cell (empty when it has none)."""
    return dict(solution.metadata.get("exercise", {}))


def is_open(solution: nbformat.NotebookNode) -> bool:
    return bool(exercise(solution).get("open"))


def _is_check_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.module == "lmcore.exercises"
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id.startswith("check_")
    )


def check_statements(source: str) -> list[str]:
    """The statements of a solution that import from lmcore.exercises or call a ``check_...``
    function, each whole (a call may span several lines); imports first."""
    statements = [n for n in ast.parse(source).body if _is_check_statement(n)]
    statements.sort(key=lambda n: not isinstance(n, ast.ImportFrom))
    return [ast.get_source_segment(source, n) for n in statements]


def check_calls(source: str) -> list[str]:
    """The ``check_...(...)`` calls of a solution (without the imports)."""
    return [s for s in check_statements(source) if not s.startswith("from ")]


def answer_names(solution: nbformat.NotebookNode) -> list[str]:
    """The variables a student sets: the metadata's ``answer_names``, else the ``your_...`` names
    the check calls pass, in order."""
    names = exercise(solution).get("answer_names")
    if names:
        return list(names)
    found = []
    for call in check_calls(solution.source):
        for node in ast.walk(ast.parse(call)):
            if isinstance(node, ast.Name) and node.id.startswith("your_") and node.id not in found:
                found.append(node.id)
    return found


def student_cell(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The answer cell that replaces one solution cell."""
    if is_open(solution):
        source = OPEN_PROMPT
    else:
        statements = check_statements(solution.source)
        imports = [s for s in statements if s.startswith("from ")]
        calls = [s for s in statements if not s.startswith("from ")]
        parts = [
            CHECKED_PROMPT
            + "\n"
            + "\n".join(f"{name} = None  {NONE_COMMENT}" for name in answer_names(solution))
        ]
        if imports:
            parts.append("\n".join(imports))
        if calls:
            parts.append("\n".join(calls))
        source = "\n\n".join(parts)
    cell = nbformat.v4.new_code_cell(source)
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
            clear_outputs(cell)
        cells.append(cell)
    copy.cells = cells
    return copy


def main(argv: list[str] | None = None) -> int:
    paths, output = copies_arguments(__doc__, REPO / "student", argv)
    output.mkdir(parents=True, exist_ok=True)
    for path in paths:
        copy = student_copy(nbformat.read(path, as_version=4))
        nbformat.validate(copy)
        target = output / path.name
        nbformat.write(copy, target)
        solutions = sum("answer" in c.metadata.get("tags", []) for c in copy.cells)
        print(f"{target}: {solutions} exercise answer cells")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
