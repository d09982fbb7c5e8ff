"""A number in a chapter's prose that a cell computed is glued from that cell's output
(MyST-NB's ``{glue:text}`name:format```), never typed: the text and the result cannot drift
apart when a chapter is re-run. This test finds measured-looking numbers typed into markdown."""

import re

import nbformat
import pytest

from tools import notebooks

# Constants, not measurements: the article's claimed accuracy, BERT's masking recipe
# (15% of tokens; 80/10/10), the chosen masking rate of chapter 3's small example (40%), and
# the share of the training set held out for validation (10%).
ALLOWED = {"85.3%", "15%", "80%", "10%", "40%"}
# decimals with two or more places, and percentages: what measurements are printed as
MEASURED_LOOKING = re.compile(r"(?<![\w.`])(\d+\.\d{2,}|\d+(?:\.\d+)?\s?%)(?![\w`])")
NOT_PROSE = [
    re.compile(r"\{glue:text\}`[^`]*`"),  # glued: the number comes from a cell
    re.compile(r"`[^`]*`"),  # code
    re.compile(r"\$\$.*?\$\$", re.S),  # displayed math
    re.compile(r"\$[^$\n]*\$"),  # inline math
    re.compile(r"\]\([^)]*\)"),  # link targets
]


def typed_numbers(markdown: str) -> list[str]:
    for pattern in NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    return [m.group(1).replace(" ", "") for m in MEASURED_LOOKING.finditer(markdown)]


def test_the_finder_sees_typed_numbers_and_skips_glued_ones():
    assert typed_numbers("accuracy 0.852, up 3.1% ({glue:text}`acc:.3f`), `x = 0.25`, $0.125$") == [
        "0.852",
        "3.1%",
    ]
    assert typed_numbers("section 5.5, 11,314 messages, 2019") == []


@pytest.mark.parametrize("path", notebooks.book_notebooks(), ids=lambda p: p.name)
def test_measured_numbers_in_prose_are_glued(path):
    typed = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "markdown" or notebooks.RUNTIME_TAG in cell.metadata.get("tags", []):
            continue
        typed += [f"cell {index}: {number}" for number in typed_numbers(cell.source) if number not in ALLOWED]
    assert not typed, f"{path.name} types numbers a cell should glue: {typed}"


@pytest.mark.parametrize("path", notebooks.book_notebooks(), ids=lambda p: p.name)
def test_every_glued_name_is_stored_by_a_cell(path):
    notebook = nbformat.read(path, as_version=4)
    cited = {
        m.group(1)
        for c in notebook.cells
        if c.cell_type == "markdown"
        for m in re.finditer(r"\{glue:text\}`([A-Za-z_]\w*)", c.source)
    }
    stored = {
        o.get("metadata", {}).get("scrapbook", {}).get("name")
        for c in notebook.cells
        for o in c.get("outputs", [])
    }
    assert cited <= stored, f"{path.name} cites glued names no stored output holds: {sorted(cited - stored)}"
