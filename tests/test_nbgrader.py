"""The nbgrader course made from the chapters runs nbgrader's whole loop offline: generate the
students' version, autograde three submissions (blank, plausibly wrong, right), and the scores
come out as they should. Chapter 1, in quick mode (seconds per submission)."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import nbgrader_course, student_copies

REPO = Path(__file__).resolve().parents[1]
CHAPTER = REPO / "chapters" / "01_self_attention.ipynb"
NAME = CHAPTER.stem

pytest.importorskip("nbgrader")


def nbgrader(course: Path, *args: str) -> None:
    # as in an activated environment: nbgrader runs the alembic command installed beside it
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    environment = dict(os.environ, LMCORE_MODE="quick", PATH=path)
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )


def submission(course: Path, student: str, answers: dict[str, str]) -> None:
    """The released notebook with the answer cells (by grade id) replaced by ``answers``."""
    released = nbformat.read(course / "release" / NAME / CHAPTER.name, as_version=4)
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    folder = course / "submitted" / student / NAME
    folder.mkdir(parents=True)
    nbformat.write(released, folder / CHAPTER.name)


def test_autograding_scores_blank_wrong_and_right_submissions(tmp_path):
    course = tmp_path / "course"
    (source,) = nbgrader_course.write_course([CHAPTER], course)
    graded = [
        c.metadata["nbgrader"] for c in nbformat.read(source, as_version=4).cells if "nbgrader" in c.metadata
    ]
    checks = [g for g in graded if g["grade_id"].endswith("-check")]
    manual = [g for g in graded if g["grade_id"].endswith("-open")]
    assert len(checks) == 5 and manual, "chapter 1 has five checked exercises and open questions"
    assert all(g["locked"] and g["points"] == nbgrader_course.CHECK_POINTS for g in checks)
    rubric = (course / "rubrics" / f"{NAME}.md").read_text()
    assert rubric.count("**Exercise") == len(manual) and "uniform" in rubric

    nbgrader(course, "generate_assignment", NAME, "--force")
    released = nbformat.read(course / "release" / NAME / CHAPTER.name, as_version=4)
    released_text = "\n".join(c.source for c in released.cells)
    assert "BEGIN SOLUTION" not in released_text and "raise NotImplementedError()" in released_text

    solutions = [
        c for c in nbformat.read(CHAPTER, as_version=4).cells if "solution" in c.metadata.get("tags", [])
    ]
    source_cells = {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nbformat.read(source, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    right = {
        grade_id: cell.source.replace("### BEGIN SOLUTION\n", "").replace("\n### END SOLUTION", "")
        for grade_id, cell in source_cells.items()
    }
    wrong = {
        f"exercise-{number}-answer": student_copies.exercise(solution)["wrong"]
        for number, solution in enumerate(solutions, 1)
        if not student_copies.is_open(solution)
    }
    submission(course, "blank", {})
    submission(course, "wrong", wrong)
    submission(course, "right", right)
    nbgrader(course, "autograde", NAME, "--force")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {
            student: gradebook.find_submission(NAME, student).score for student in ("blank", "wrong", "right")
        }
        possible = gradebook.find_assignment(NAME).max_score
    automatic = nbgrader_course.CHECK_POINTS * len(checks)
    assert possible == automatic + nbgrader_course.OPEN_POINTS * len(manual)
    # manual answers wait for a grader: the right submission earns every automatic point
    assert scores == {"blank": 0, "wrong": 0, "right": automatic}
