"""Plain-Markdown copies of the chapters, for viewers that do not render MyST (Colab, VS Code,
GitHub): no MyST-only syntax is left, the text shows the book's numbers, and a copy runs."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from tools import notebooks, plain_notebooks

CHAPTER_1 = notebooks.CHAPTERS / "01_self_attention.ipynb"


def test_the_conversion_of_each_construct():
    source = (
        "(errata-order)=\n```{admonition} Primer: tokens\n:class: tip\nA **token** is a piece.\n```\n"
        'The largest takes {eval}`f"{top:.3f}"` of the weight; see {term}`softmax`, '
        "{ref}`the errata <errata-order>` and {doc}`chapter 2 <02_transformer>`."
    )
    plain = plain_notebooks.plain_markdown(source, {'f"{top:.3f}"': "0.665"}, CHAPTER_1)
    assert plain == (
        "> **Primer: tokens**\n>\n> A **token** is a piece.\n\n"
        "The largest takes 0.665 of the weight; see softmax, the errata and "
        "[chapter 2](02_transformer.ipynb)."
    )
    with pytest.raises(ValueError, match="no stored result"):
        plain_notebooks.plain_markdown("{eval}`missing`", {}, CHAPTER_1)


@pytest.mark.parametrize("path", notebooks.book_notebooks(), ids=lambda p: p.name)
def test_no_myst_is_left_in_a_plain_copy(path):
    copy = plain_notebooks.plain_copy(nbformat.read(path, as_version=4), path)
    assert plain_notebooks.myst_left(copy) == []
    original = nbformat.read(path, as_version=4)
    assert [c.source for c in copy.cells if c.cell_type == "code"] == [
        c.source for c in original.cells if c.cell_type == "code"
    ]


def test_a_plain_copy_runs(tmp_path):
    copy = plain_notebooks.plain_copy(nbformat.read(CHAPTER_1, as_version=4), CHAPTER_1)
    assert "largest score takes 0.665 of the weight" in "\n".join(c.source for c in copy.cells)
    environment = dict(os.environ, LMCORE_MODE="quick")
    client = NotebookClient(
        copy, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with client.setup_kernel(env=environment):
        for index, cell in enumerate(copy.cells):
            client.execute_cell(cell, index)
    errors = [o for c in copy.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
