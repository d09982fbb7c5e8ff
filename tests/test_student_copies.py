"""tools/student_copies.py: outputs and solutions removed, the exercise checks kept; every
exercise described (checked with a plausible wrong answer, or an open question with a model
answer), and the student copies run three ways (tests/student_runs.py; this file runs half of
the notebooks, tests/test_student_copies_run.py the other half)."""

import ast
import re

import nbformat
import pytest

from lmcore import exercises as checks
from tests import student_runs
from tools import notebooks, student_copies

NOTEBOOKS = notebooks.book_notebooks()


def exercises(notebook: nbformat.NotebookNode) -> list[tuple[str, nbformat.NotebookNode]]:
    """(text, solution cell) of every exercise: the markdown between the previous solution (or
    the '## Exercises' heading) and the solution."""
    found, text, started = [], [], False
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            if "## Exercises" in cell.source:
                started, text = True, [cell.source.split("## Exercises", 1)[1]]
            elif started:
                text.append(cell.source)
        elif "solution" in cell.metadata.get("tags", []):
            found.append(("\n".join(text), cell))
            text = []
    return found


def assigned(source: str) -> set[str]:
    """Names a piece of code binds at its top level (assignments, definitions, imports, loops)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def test_student_copy_of_every_notebook(tmp_path):
    paths = NOTEBOOKS
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
            assert "exercise" not in answer.metadata  # the wrong answer stays with the teacher
            for statement in student_copies.check_statements(solution.source):
                assert statement in answer.source  # the checks survive, whole
            for name in student_copies.answer_names(solution):
                assert f"\n{name} = None  {student_copies.NONE_COMMENT}\n" in answer.source
            assert solution.source not in answer.source  # the solution does not
            ast.parse(answer.source)
        # every other cell is unchanged
        kept = [c.source for c in original.cells if "solution" not in c.metadata.get("tags", [])]
        assert kept == [c.source for c in copy.cells if "answer" not in c.metadata.get("tags", [])]


def test_check_calls_are_found_whole():
    source = (
        'from lmcore.exercises import check_x\n\nx = 1\ncheck_x(\n    a,\n    "b",\n    your_y,\n)\nprint(x)'
    )
    assert student_copies.check_statements(source) == [
        "from lmcore.exercises import check_x",
        'check_x(\n    a,\n    "b",\n    your_y,\n)',
    ]
    cell = nbformat.v4.new_code_cell(source)
    assert student_copies.answer_names(cell) == ["your_y"]
    cell.metadata["exercise"] = {"answer_names": ["your_z"]}
    assert student_copies.answer_names(cell) == ["your_z"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_is_checked_or_an_open_question(path):
    notebook = nbformat.read(path, as_version=4)
    before = set()  # names the cells before the exercises bind
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and "## Exercises" in cell.source:
            break
        if cell.cell_type == "code":
            before |= assigned(cell.source)
    used: set[str] = set()
    for number, (text, solution) in enumerate(exercises(notebook), start=1):
        where = f"{path.name}, exercise {number}"
        meta = student_copies.exercise(solution)
        assert bool(meta.get("open")) != bool(meta.get("wrong")), f"{where}: open, or a wrong answer"
        calls = student_copies.check_calls(solution.source)
        if meta.get("open"):
            assert not calls, f"{where}: an open question has no check"
            assert "open question" in text and "model answer" in text, where
            assert "Model answer" in solution.source, f"{where}: the solution gives a model answer"
            continue
        assert calls, f"{where}: a checked exercise calls a check"
        last = ast.parse(solution.source).body[-1]
        assert ast.get_source_segment(solution.source, last) == calls[-1], f"{where}: ends with its check"
        names = student_copies.answer_names(solution)
        assert names and all(n.startswith("your_") for n in names), f"{where}: {names}"
        for name in names:
            assert re.search(rf"\b{name}\b", text), f"{where}: the exercise text does not name `{name}`"
            assert name in assigned(solution.source), f"{where}: the solution does not set {name}"
            assert name in assigned(meta["wrong"]), f"{where}: the wrong answer does not set {name}"
            assert name not in before, f"{where}: {name} is bound before the exercises"
            assert name not in used, f"{where}: {name} is an answer of an earlier exercise too"
        used |= set(names)
        for call in calls:
            function = ast.parse(call).body[0].value
            assert function.func.id in checks.__all__, f"{where}: {function.func.id}"
            arguments = [*function.args, *(k.value for k in function.keywords)]
            # the data of the exercise, never a computation that gives the method away
            assert not any(isinstance(n, ast.Call) for a in arguments for n in ast.walk(a)), (
                f"{where}: a check's arguments compute something: {call}"
            )
            assert any(isinstance(a, ast.Name) and a.id in names for a in arguments), where
            mentioned = re.search(rf"`(lmcore\.exercises\.)?{function.func.id}[`(]", text)
            assert mentioned or "check" in text, f"{where}: the text does not say how it is checked"


def test_every_check_waits_for_an_answer(capsys):
    """Each check, given None for its answers, prints "Not answered yet" naming them, and
    neither raises nor prints "Correct" (the data are never looked at)."""
    import inspect

    for name in checks.__all__:
        function = getattr(checks, name)
        if not callable(function):
            continue
        parameters = inspect.signature(function).parameters
        answers = [p for p in parameters if p.startswith("your_")]
        assert answers, f"{name} names its answers your_..."
        arguments = {p: None for p in parameters if parameters[p].default is inspect.Parameter.empty}
        if name == "check_macro_f1":
            arguments["matrix"] = [[1, 0], [0, 1]]
        if name == "check_attention_parameters":
            arguments.update(d_model=8, num_heads=2)
        function(**arguments)
        out = capsys.readouterr().out
        assert out.startswith(checks.NOT_ANSWERED) and "Correct" not in out, (name, out)
        assert all(f"`{a}`" in out for a in answers), (name, out)


def test_the_notebooks_are_split_between_the_run_files():
    names = [n for group in student_runs.GROUPS.values() for n in group]
    assert sorted(names) == sorted(p.name for p in NOTEBOOKS) and len(set(names)) == len(names)
    runs = sorted(p for f in student_runs.GROUPS for p in student_runs.group(f))
    assert runs == sorted(NOTEBOOKS)


@pytest.mark.parametrize("path", student_runs.group(__file__), ids=lambda p: p.name)
def test_student_copy_runs_unanswered_solved_and_wrong(path):
    problems = student_runs.run_student_copy(path)
    assert not problems, "\n".join(problems)
