"""An nbgrader course made from the chapters: graded exercises for a class on a JupyterHub.

    python tools/nbgrader_course.py                          # every notebook -> course/
    python tools/nbgrader_course.py chapters/01_self_attention.ipynb --output course/

then, in the course folder, nbgrader's own loop (https://nbgrader.readthedocs.io):

    nbgrader generate_assignment 01_self_attention      # release/: the students' version
    nbgrader autograde 01_self_attention                # after collecting submitted/<student>/...
    nbgrader export                                     # grades.csv

Each notebook becomes one assignment, ``course/source/<name>/<name>.ipynb``, with nbgrader's cell
metadata. Every exercise solution (a code cell tagged ``solution``) becomes:

* for a checked exercise, an answer cell (its solution between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``, which the released version replaces by ``raise NotImplementedError()``)
  and a locked, autograded test cell that runs the exercise's ``lmcore.exercises`` check, worth
  :data:`CHECK_POINTS` points. An answer left ``None`` fails the test cell: in a graded notebook
  "Not answered yet" earns nothing;
* for an open question (or the open part of a checked exercise, whose solution prints a "Model
  answer"), a manually graded markdown answer cell worth :data:`OPEN_POINTS` point, with the
  model answer as its solution. The model answers also go to ``course/rubrics/<name>.md``, the
  graders' rubric, outside the folders nbgrader releases.

Everything else (prose, code, asserts, the exercises' data cells) stays as the chapter has it,
without outputs. A graded notebook runs whole when nbgrader autogrades it, as long as the
chapter's full mode takes (book/runtimes.md); set ``LMCORE_MODE=quick`` in the grading
environment to check a class's submissions in seconds per notebook instead (the checks
recompute every answer from the notebook's own data, in either mode).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.notebooks import STAMP_KEY, clear_outputs, copies_arguments  # noqa: E402
from tools.student_copies import answer_names, check_statements, is_open  # noqa: E402

CHECK_POINTS = 2
OPEN_POINTS = 1
SCHEMA = 3  # nbgrader's cell metadata version
CONFIG = '''"""nbgrader configuration of the course made by tools/nbgrader_course.py."""

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = "how-llms-work"
# a chapter's full mode takes minutes (book/runtimes.md); no single cell takes longer than this
c.ExecutePreprocessor.timeout = 1800
'''


def model_answer(solution: nbformat.NotebookNode) -> str:
    """The model answer a solution prints (its stored output from "Model answer:" on), or ""."""
    text = "".join(
        output.get("text", "")
        for output in solution.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    found = re.search(r"Model answer:(.*?)(?:\nCorrect:|\Z)", text, flags=re.S)
    return " ".join(found.group(1).split()) if found else ""


def _nbgrader(cell: nbformat.NotebookNode, grade_id: str, *, solution: bool, points: int | None) -> None:
    cell.metadata["nbgrader"] = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": SCHEMA,
        "solution": solution,
        "task": False,
        **({"points": points} if points is not None else {}),
    }


def graded_cells(solution: nbformat.NotebookNode, number: int) -> list[nbformat.NotebookNode]:
    """The cells that replace exercise ``number``'s solution cell in the nbgrader source."""
    cells = []
    answer = model_answer(solution)
    if not is_open(solution):
        checks = check_statements(solution.source)
        body = solution.source
        for statement in checks:  # the checks move to the locked test cell
            body = body.replace(statement, "")
        body = re.sub(r"\n{3,}", "\n\n", body).strip()
        answer_cell = nbformat.v4.new_code_cell(f"### BEGIN SOLUTION\n{body}\n### END SOLUTION")
        _nbgrader(answer_cell, f"exercise-{number}-answer", solution=True, points=None)
        names = answer_names(solution)
        imports = [s for s in checks if s.startswith("from ")]
        calls = [s for s in checks if not s.startswith("from ")]
        test_source = "\n".join(
            [
                *imports,
                f"assert all(answer is not None for answer in ({', '.join(names)},)), "
                f"'Not answered yet: set {', '.join(names)}'",
                *calls,
            ]
        )
        test_cell = nbformat.v4.new_code_cell(test_source)
        _nbgrader(test_cell, f"exercise-{number}-check", solution=False, points=CHECK_POINTS)
        cells += [answer_cell, test_cell]
    if is_open(solution) or answer:
        prompt = "Your answer to the open question of this exercise, in words:"
        open_cell = nbformat.v4.new_markdown_cell(
            f"{prompt}\n\n### BEGIN SOLUTION\n{answer or '(see the book)'}\n### END SOLUTION"
        )
        _nbgrader(open_cell, f"exercise-{number}-open", solution=True, points=OPEN_POINTS)
        cells.append(open_cell)
    return cells


def nbgrader_source(notebook: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """The chapter as an nbgrader source notebook, and the rubric's lines (one per model answer)."""
    source = nbformat.from_dict(notebook)
    source.metadata.pop(STAMP_KEY, None)
    cells, rubric, number = [], [], 0
    for cell in source.cells:
        if cell.cell_type == "code":
            if "solution" in cell.metadata.get("tags", []):
                number += 1
                answer = model_answer(cell)
                if answer:
                    rubric.append(f"- **Exercise {number}** (`exercise-{number}-open`): {answer}")
                cells += graded_cells(cell, number)
                continue
            clear_outputs(cell)
        cells.append(cell)
    source.cells = cells
    return source, rubric


def write_course(paths: list[Path], output: Path) -> list[Path]:
    """Write the course folder; return the source notebooks written."""
    (output / "source").mkdir(parents=True, exist_ok=True)
    (output / "rubrics").mkdir(exist_ok=True)
    (output / "nbgrader_config.py").write_text(CONFIG, encoding="utf-8")
    written = []
    for path in paths:
        source, rubric = nbgrader_source(nbformat.read(path, as_version=4))
        nbformat.validate(source)
        folder = output / "source" / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(source, folder / path.name)
        header = f"# Rubric: {path.stem}\n\nModel answers to the open questions, one point each.\n\n"
        (output / "rubrics" / f"{path.stem}.md").write_text(
            header + "\n".join(rubric) + "\n", encoding="utf-8"
        )
        written.append(folder / path.name)
    return written


def main(argv: list[str] | None = None) -> int:
    paths, output = copies_arguments(__doc__, REPO / "course", argv)
    for path in write_course(paths, output):
        source = nbformat.read(path, as_version=4)
        graded = [c.metadata["nbgrader"] for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
        points = sum(g["points"] for g in graded)
        print(f"{path}: {len(graded)} graded cells, {points} points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
