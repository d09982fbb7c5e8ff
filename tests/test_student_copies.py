"""tools/student_copies.py: outputs and solutions removed, the exercise checks kept."""

import nbformat

from tools import notebooks, student_copies


def test_student_copy_of_every_notebook(tmp_path):
    paths = notebooks.book_notebooks()
    assert student_copies.main([str(p) for p in paths] + ["--output", str(tmp_path)]) == 0
    for path in paths:
        original = nbformat.read(path, as_version=4)
        copy = nbformat.read(tmp_path / path.name, as_version=4)
        nbformat.validate(copy)
        assert notebooks.STAMP_KEY not in copy.metadata
        assert all(
            not c.get("outputs") and c.get("execution_count") is None
            for c in copy.cells
            if c.cell_type == "code"
        )
        solutions = [c for c in original.cells if "solution" in c.metadata.get("tags", [])]
        answers = [c for c in copy.cells if "answer" in c.metadata.get("tags", [])]
        assert len(answers) == len(solutions) > 0, path.name
        for solution, answer in zip(solutions, answers):
            assert answer.source.startswith(student_copies.ANSWER_PROMPT)
            for line in solution.source.splitlines():
                if line.lstrip().startswith("check_"):
                    assert line in answer.source  # the check survives
            assert solution.source not in answer.source  # the solution does not
        # every other cell is unchanged
        kept = [c.source for c in original.cells if "solution" not in c.metadata.get("tags", [])]
        assert kept == [c.source for c in copy.cells if "answer" not in c.metadata.get("tags", [])]
