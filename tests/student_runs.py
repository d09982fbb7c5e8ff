"""Run a notebook's student copy the way a student would, and every exercise three ways.

One kernel per notebook, quick mode, the copy's cells in order. At each answer cell:

1. the answer names are checked to be undefined so far (an earlier cell must not define them,
   or an unanswered check could pass on a stale value);
2. the answer cell runs as the copy has it: no error, "Not answered yet" printed for a checked
   exercise, and never "Correct";
3. the hidden solution runs in the same kernel: "Correct" printed, no error;
4. the solution cell's metadata wrong answer runs, followed by the check lines: an
   AssertionError whose message holds "Hint:".

An open question's answer cell only has to run. Then the copy goes on with its next cell (the
later cells see the variables the solution set, as they do in the book).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tools import student_copies


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts)


def _error(cell: nbformat.NotebookNode):
    return next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)


def _kernel_environment() -> dict:
    environment = dict(os.environ, LMCORE_MODE="quick", TOKENIZERS_PARALLELISM="false")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # several notebooks at once on a few cores: one thread per kernel (PyTorch's OpenMP
        # threads would otherwise spin against each other, many times slower)
        environment.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return environment


def run_student_copy(path: Path, transcript: list | None = None) -> list[str]:
    """Run the student copy of ``path``; return the problems found (empty: all is well).

    ``transcript``, if given, receives ``(exercise, variant, output)`` for every run of an exercise.
    """
    original = nbformat.read(path, as_version=4)
    solutions = [c for c in original.cells if "solution" in c.metadata.get("tags", [])]
    copy = student_copies.student_copy(original)
    problems: list[str] = []
    client = NotebookClient(
        copy,
        timeout=600,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )

    def run(source: str, index: int) -> nbformat.NotebookNode:
        cell = nbformat.v4.new_code_cell(source)
        client.execute_cell(cell, index, store_history=False)
        return cell

    exercise = 0
    with client.setup_kernel(env=_kernel_environment()):
        for index, cell in enumerate(copy.cells):
            if cell.cell_type != "code":
                continue
            if "answer" not in cell.metadata.get("tags", []):
                client.execute_cell(cell, index)
                error = _error(cell)
                if error is not None:
                    problems.append(f"cell {index} failed: {error.ename}: {error.evalue}")
                    break  # the cells after it would fail for the same reason
                continue
            solution = solutions[exercise]
            exercise += 1
            where = f"{path.name}, exercise answer {exercise} (cell {index})"
            names = student_copies.answer_names(solution)
            defined = _text(run(f"print(sorted(n for n in {names!r} if n in globals()))", index)).strip()
            if defined != "[]":
                problems.append(f"{where}: {defined} already defined before the answer cell")

            client.execute_cell(cell, index)  # as the student copy has it
            output, error = _text(cell), _error(cell)
            if transcript is not None:
                transcript.append((exercise, "unanswered", output))
            if error is not None:
                problems.append(f"{where}, unanswered: {error.ename}: {error.evalue}")
            if "Correct" in output:
                problems.append(f"{where}, unanswered: prints 'Correct'")
            if student_copies.is_open(solution):
                continue
            if "Not answered yet" not in output:
                problems.append(f"{where}, unanswered: no 'Not answered yet' in {output!r}")
            unnamed = [name for name in names if f"`{name}`" not in output]
            if unnamed:
                problems.append(f"{where}, unanswered: the message does not name {unnamed}: {output!r}")

            solved = run(solution.source, index)
            if transcript is not None:
                transcript.append((exercise, "solution", _text(solved)))
            if _error(solved) is not None or "Correct" not in _text(solved):
                problems.append(f"{where}, the solution: no 'Correct' in {_text(solved)[-500:]!r}")

            wrong = student_copies.exercise(solution)["wrong"]
            checks = "\n".join(student_copies.check_statements(solution.source))
            mistaken_cell = run(wrong + "\n\n" + checks, index)
            mistaken = _error(mistaken_cell)
            if transcript is not None:
                transcript.append((exercise, "wrong", _text(mistaken_cell)))
            if mistaken is None or mistaken.ename != "AssertionError" or "Hint:" not in mistaken.evalue:
                got = "no error" if mistaken is None else f"{mistaken.ename}: {mistaken.evalue}"
                problems.append(
                    f"{where}, the wrong answer: expected an AssertionError with a Hint, got {got}"
                )
    if exercise != len(solutions) and not problems:
        problems.append(f"{path.name}: ran {exercise} of {len(solutions)} exercises")
    return problems


# The notebooks, split between two test files of about the same run time (pytest-xdist's
# --dist loadfile runs a file's tests on one worker): quick mode, one thread per kernel, two
# at once on 2 cores, seconds measured.
RUN_TIMES = {
    "05_news_project.ipynb": 63,
    "04_fine_tuning.ipynb": 31,
    "07_summary_and_costs.ipynb": 14,
    "01_self_attention.ipynb": 8,
    "06_applications.ipynb": 45,
    "03_pretraining_bert.ipynb": 36,
    "02_transformer.ipynb": 23,
    "faq.ipynb": 9,
}
GROUPS = {
    "test_student_copies.py": [
        "05_news_project.ipynb",
        "04_fine_tuning.ipynb",
        "07_summary_and_costs.ipynb",
        "01_self_attention.ipynb",
    ],
    "test_student_copies_run.py": [
        "06_applications.ipynb",
        "03_pretraining_bert.ipynb",
        "02_transformer.ipynb",
        "faq.ipynb",
    ],
}


def group(test_file: str) -> list[Path]:
    """The notebooks whose student copies ``test_file`` runs (new notebooks: the lighter group)."""
    from tools import notebooks

    paths = notebooks.book_notebooks()
    named = {name for names in GROUPS.values() for name in names}
    lighter = min(GROUPS, key=lambda f: sum(RUN_TIMES.get(n, 60) for n in GROUPS[f]))
    mine = set(GROUPS[Path(test_file).name])
    return [p for p in paths if p.name in mine or (p.name not in named and Path(test_file).name == lighter)]
