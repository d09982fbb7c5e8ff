"""The student copies of the other half of the notebooks, run unanswered, solved and wrong
(tests/student_runs.py): a file of its own so that pytest-xdist's --dist loadfile runs it on
another worker than tests/test_student_copies.py."""

import pytest

from tests import student_runs


@pytest.mark.parametrize("path", student_runs.group(__file__), ids=lambda p: p.name)
def test_student_copy_runs_unanswered_solved_and_wrong(path):
    problems = student_runs.run_student_copy(path)
    assert not problems, "\n".join(problems)
