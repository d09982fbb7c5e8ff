"""Stored notebook outputs are a full-mode run of the current code, and every chapter has the
parts a reader expects (learning goals, measured run time, exercises with hidden solutions)."""

import json
import os
from pathlib import Path

import nbformat
import pytest

from tools import notebooks

CHAPTERS = notebooks.chapter_notebooks()
NOTEBOOKS = notebooks.book_notebooks()  # chapters and appendix notebooks


def test_there_are_chapters():
    assert CHAPTERS, "no chapters/NN_*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_from_a_full_run_of_the_current_code(path):
    assert notebooks.problems(path) == []


def test_runtime_table_matches_the_run_stamps():
    assert notebooks.RUNTIME_TABLE.read_text() == notebooks.runtime_table()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_anatomy(path):
    notebook = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "Learning goals" in markdown
    runtime_cells = [c for c in notebook.cells if notebooks.RUNTIME_TAG in c.metadata.get("tags", [])]
    assert len(runtime_cells) == 1 and "measured on" in runtime_cells[0].source
    assert "## Exercises" in markdown and "## Summary" in markdown
    solutions = [c for c in notebook.cells if "solution" in c.metadata.get("tags", [])]
    assert solutions, "exercises need solutions"
    assert all("hide-cell" in c.metadata["tags"] for c in solutions), "solutions must be hidden"
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_has_a_title(path):
    """A cheap proxy: every cell that draws also sets a title."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "plt.show()" in cell.source:
            assert "title" in cell.source, cell.source[:200]


def test_the_staleness_check_catches_an_edited_cell(tmp_path):
    notebook = json.loads(CHAPTERS[0].read_text())
    code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    code["source"] = "".join(code["source"]) + "\nprint('edited after the run')"
    edited = tmp_path / "01_edited.ipynb"
    edited.write_text(json.dumps(notebook))
    assert any("code cells changed" in problem for problem in notebooks.problems(edited))


def test_the_staleness_check_catches_an_edited_lmcore_function_a_chapter_shows(monkeypatch):
    """Editing a function that a chapter prints with show_source makes that chapter stale."""
    chapter = CHAPTERS[0]
    shown = notebooks.shown_sources(nbformat.read(chapter, as_version=4))
    assert shown, "chapter 1 shows lmcore source"
    original = notebooks.lmcore_source()
    assert notebooks.problems(chapter) == []
    index, text = shown[0]
    edited_function = text.strip().replace("\n", "\n    # a comment added after the run\n", 1)
    monkeypatch.setattr(notebooks, "lmcore_source", lambda: original.replace(text.strip(), edited_function))
    assert any(f"cell {index} shows lmcore source that changed" in p for p in notebooks.problems(chapter))


MACHINE_PATHS = (
    str(notebooks.REPO),  # this checkout
    "site-packages",  # an installed package's location
    "/home/",
    "/Users/",
    "/root/",
    "C:\\\\Users",  # someone's home folder
    *([str(Path(os.environ["LMCORE_DATA"]).resolve())] if os.environ.get("LMCORE_DATA") else []),  # the data
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_name_no_path_of_the_machine_that_made_them(path):
    """A reader's book shows paths relative to the repository or the data folder, never where
    the author's checkout, data or packages happened to live."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        for output in cell.get("outputs", []):
            text = json.dumps(output)
            found = [p for p in MACHINE_PATHS if p in text]
            assert not found, (
                f"cell {index} of {path.name} prints {found}: print paths relative to the repository"
            )


def test_progress_bars_are_stored_as_a_terminal_leaves_them():
    bar = "\r  0%|          | 0/3\r 67%|######    | 2/3\r100%|##########| 3/3\nlast line\r"
    assert notebooks.as_a_terminal_shows(bar) == "100%|##########| 3/3\nlast line"
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                assert "\r" not in output.get("text", ""), (
                    f"{path.name}: a stored stream keeps carriage returns"
                )


def _notebook_with_prose(tmp_path):
    """A two-cell notebook run the way `tools/notebooks.py run` runs a chapter, stamped."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    notebook = new_notebook(
        cells=[
            new_code_cell("n_messages = 7532\naccuracy = 0.86341"),
            new_markdown_cell('{eval}`f"{n_messages:,}"` messages, accuracy {eval}`f"{accuracy:.3f}"`.'),
        ]
    )
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebooks.ProseEvaluatingClient(notebook, timeout=120, kernel_name="python3").execute()
    notebook.metadata[notebooks.STAMP_KEY] = {
        "mode": "full",
        "code_sha256": notebooks.code_hash(notebook),
        "prose_sha256": notebooks.prose_hash(notebook),
    }
    path = tmp_path / "prose.ipynb"
    nbformat.write(notebook, path)
    return path


def test_a_run_stores_each_expression_as_jupyterlab_myst_does(tmp_path):
    path = _notebook_with_prose(tmp_path)
    stored = nbformat.read(path, as_version=4).cells[1].metadata["user_expressions"]
    assert stored == [
        {
            "expression": 'f"{n_messages:,}"',
            "result": {"status": "ok", "data": {"text/plain": "'7,532'"}, "metadata": {}},
        },
        {
            "expression": 'f"{accuracy:.3f}"',
            "result": {"status": "ok", "data": {"text/plain": "'0.863'"}, "metadata": {}},
        },
    ]
    assert notebooks.problems(path) == []


def test_an_expression_that_fails_stops_the_run():
    from nbformat.v4 import new_markdown_cell, new_notebook

    notebook = new_notebook(cells=[new_markdown_cell("{eval}`undefined_name + 1` messages")])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = notebooks.ProseEvaluatingClient(notebook, timeout=120, kernel_name="python3")
    with pytest.raises(RuntimeError, match="undefined_name.*NameError"):
        client.execute()


def test_the_staleness_check_catches_an_expression_without_a_stored_result(tmp_path):
    path = _notebook_with_prose(tmp_path)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].source += " Added later: {eval}`n_messages // 2`."
    nbformat.write(notebook, path)
    assert any("{eval}`n_messages // 2` has no stored result" in p for p in notebooks.problems(path))


def test_the_staleness_check_catches_a_stored_result_changed_after_the_run(tmp_path):
    path = _notebook_with_prose(tmp_path)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].metadata["user_expressions"][1]["result"]["data"]["text/plain"] = "'0.999'"
    nbformat.write(notebook, path)
    assert any("not those of the run" in p for p in notebooks.problems(path))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_is_marked_for_its_short_talk(path):
    from tools import slides

    assert slides.problems(path) == []
    kinds = slides.marked(nbformat.read(path, as_version=4))
    assert 5 <= sum(kind in ("slide", "subslide") for kind in kinds) <= 60  # a talk, not the chapter


def test_a_notebook_that_searches_the_book_is_stale_when_the_text_changes(tmp_path, monkeypatch):
    """Chapter 6 searches the book's text: its stored results hold only for the text it read."""
    searching = [p for p in CHAPTERS if notebooks.book_text_read(nbformat.read(p, as_version=4))]
    assert [p.stem for p in searching] == ["06_applications"]
    path = searching[0]
    assert not [p for p in notebooks.problems(path) if "book's text" in p]
    monkeypatch.setattr(notebooks, "book_text_digest", lambda except_for: "0" * 12)
    assert any("book's text it searches changed" in p for p in notebooks.problems(path))
