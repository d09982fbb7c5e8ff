"""A number in a chapter's prose that a cell computed is a MyST inline expression over the
notebook's variables (``{eval}`f"{accuracy:.3f}"` ``), never typed: the text and the result
cannot drift apart when a chapter is re-run, and a student who re-runs it reads their own
numbers. This test finds measured-looking numbers typed into markdown:
decimals and percentages anywhere, and whole numbers from 13 up (counts of messages, steps,
parameters, tokens). Small whole numbers (6 layers, 12 heads, step 3) and years are left to
the reader's eye; a typed whole number that is not measured is listed in
:data:`TYPED_WHOLE_NUMBERS` with the reason it may be typed."""

import re

import nbformat
import pytest

from tools import notebooks

# Constants, not measurements: the article's claimed accuracy, BERT's masking recipe
# (15% of tokens; 80/10/10), the chosen masking rate of chapter 3's small example (40%), and
# the share of the training set held out for validation (10%).
ALLOWED = {"85.3%", "15%", "80%", "10%", "40%"}
# Whole numbers a chapter may type, with the reason. "setting" means a value the chapter's own
# code sets (a sequence length, a sample size, an exercise's parameter): the test checks that
# the literal is in one of the notebook's code cells, so changing the code breaks the test
# instead of the prose. "published" means a fact of a paper, a model or a data set that the
# chapter cites (and where it can, asserts); "name" is part of a name (20 Newsgroups).
TYPED_WHOLE_NUMBERS = {
    "01_self_attention": {
        "16": "setting: random keys per query in the 1/sqrt(d_k) experiment",
        "100": "setting: the constant added to every logit (and ten times the spread, a hundred times d_k)",
    },
    "02_transformer": {
        "100": "setting: exercise 3's random position pairs",
        "13": "setting: exercise 3's distance",
    },
    "03_pretraining_bert": {
        "20": "name",
        "30,522": "published: bert-base-uncased's WordPiece vocabulary, asserted in code",
        "500": "setting: the messages of the rare-words count",
        "2,000": "setting: the sentences of the masking-proportions check",
        "110": "published: BERT-base's parameters (Devlin et al., 2019)",
        "16": "published: the TPU chips of BERT's pretraining",
        "128": "setting: the small BERT's width",
        "100": "setting: steps between evaluations",
        "384": "published: MiniLM's width",
    },
    "04_fine_tuning": {
        "96": "setting: the chapter's max_length",
        "32": "setting: updates per run, and the fewest labels",
        "16": "setting: messages per batch",
    },
    "05_news_project": {
        "20": "name",
        "512": "published: the most positions BERT's embeddings hold",
        "32": "setting: messages per training batch",
        "16": "published: bf16 is a 16-bit float format",
        "128": "setting: the window of the shorter trial runs, asserted against their configurations",
        "192": "setting: the full-message recipe's window, asserted against the runs' configurations",
        "256": "setting: the stripped recipe's window, asserted against the runs' configurations",
    },
    "06_applications": {
        "20": "name",
        "175": "published: GPT-3's parameters, in billions",
        "300": "published: GPT-3's training tokens, in billions",
        "80": "published: log-Mel features per frame (Whisper)",
        "200": "setting: exercise 3's sample length",
    },
    "07_summary_and_costs": {
        "20": "name",
        "110": "published: BERT-base's parameters, asserted by the calculator",
        "124": "published: GPT-2 small's parameters",
        "175": "published: GPT-3's parameters, asserted by the calculator",
        "300": "published: GPT-3's training tokens, in billions",
        "16": "published: bytes of training state per parameter (Rajbhandari et al., 2020)",
        "24": "setting: exercise 1's heads",
        "1,024": "setting: exercise 3's longer context",
        "128": "setting: the character GPT's context",
    },
    "faq": {"20": "name"},
}
# "chapters 4 and 5", "section 5.5", "§8.2", "question 5": where to look, not numbers
REFERENCES = re.compile(
    r"(?i)(chapters?|sections?|§|questions?|exercises?|Q)\s*\d+(?:\s*(?:and|to|,|-|–)\s*\d+\b(?!,\d))*"
)
# whole numbers as typed, thousands separators included ("11,314"), not part of a decimal or a percentage
WHOLE = re.compile(r"(?<![\w.`§,-])(\d{1,3}(?:,\d{3})+|\d+)(?![\w`%]|,\d|\.\d|\s?%)")
# decimals with two or more places, and percentages: what measurements are printed as
MEASURED_LOOKING = re.compile(r"(?<![\w.`])(\d+\.\d{2,}|\d+(?:\.\d+)?\s?%)(?![\w`])")
NOT_PROSE = [
    re.compile(r"\{eval\}`[^`]*`"),  # an expression: the number comes from the kernel
    re.compile(r"`[^`]*`"),  # code
    re.compile(r"\$\$.*?\$\$", re.S),  # displayed math
    re.compile(r"\$[^$\n]*\$"),  # inline math
    re.compile(r"\]\([^)]*\)"),  # link targets
]


def prose(markdown: str) -> str:
    """The markdown with expressions, code, math and link targets blanked out."""
    for pattern in NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    return markdown


def prose_cells(notebook):
    """``(index, source)`` of the markdown cells a reader reads (the run-time stamp is written by a tool)."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown" and notebooks.RUNTIME_TAG not in cell.metadata.get("tags", []):
            yield index, cell.source


def typed_numbers(markdown: str) -> list[str]:
    return [m.group(1).replace(" ", "") for m in MEASURED_LOOKING.finditer(prose(markdown))]


def typed_whole_numbers(markdown: str) -> list[str]:
    """Whole numbers from 13 up in prose, years (1900-2099) left out, as typed (``11,314``)."""
    markdown = REFERENCES.sub(" ", prose(markdown))
    numbers = [(m.group(1), int(m.group(1).replace(",", ""))) for m in WHOLE.finditer(markdown)]
    is_year = lambda typed, value: 1900 <= value <= 2099 and "," not in typed  # noqa: E731
    return [typed for typed, value in numbers if value >= 13 and not is_year(typed, value)]


def code_literals(notebook) -> set[str]:
    return {
        number.replace("_", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for number in re.findall(r"(?<![\w.])\d[\d_]*(?![\w.])", cell.source)
    }


def test_the_finder_sees_typed_numbers_and_skips_expressions():
    assert typed_numbers('accuracy 0.852, up 3.1% ({eval}`f"{acc:.3f}"`), `x = 0.25`, $0.125$') == [
        "0.852",
        "3.1%",
    ]
    assert typed_numbers("section 5.5, 11,314 messages, 2019") == []
    assert typed_whole_numbers(
        "section 5.5, chapters 4 and 5, 11,314 messages, 640 steps, 6 layers, 15% of, (Lang, 1995), "
        '{eval}`f"{n_test:,}"` messages, `max_length=128`'
    ) == ["11,314", "640"]


@pytest.mark.parametrize("path", notebooks.book_notebooks(), ids=lambda p: p.name)
def test_measured_numbers_in_prose_are_expressions(path):
    typed = [
        f"cell {index}: {number}"
        for index, source in prose_cells(nbformat.read(path, as_version=4))
        for number in typed_numbers(source)
        if number not in ALLOWED
    ]
    assert not typed, f"{path.name} types numbers an {{eval}} expression should show: {typed}"


@pytest.mark.parametrize("path", notebooks.book_notebooks(), ids=lambda p: p.name)
def test_whole_numbers_in_prose_are_expressions_or_listed(path):
    notebook = nbformat.read(path, as_version=4)
    allowed = TYPED_WHOLE_NUMBERS.get(path.stem, {})
    typed, used = [], set()
    for index, source in prose_cells(notebook):
        for number in typed_whole_numbers(source):
            if number in allowed:
                used.add(number)
            else:
                typed.append(f"cell {index}: {number}")
    assert not typed, (
        f"{path.name} types whole numbers an {{eval}} expression should show (or list them with a reason): {typed}"
    )
    assert used == set(allowed), f"{path.name}: listed but no longer typed: {sorted(set(allowed) - used)}"
    literals = code_literals(notebook)
    settings = {n for n, reason in allowed.items() if reason.startswith("setting")}
    missing = {n for n in settings if n.replace(",", "") not in literals}
    assert not missing, f"{path.name}: settings typed in prose but absent from its code: {sorted(missing)}"


@pytest.mark.parametrize("path", notebooks.book_notebooks(), ids=lambda p: p.name)
def test_no_notebook_glues(path):
    """MyST-NB's glue is a Sphinx feature: JupyterLab shows ``{glue:text}`name``` as the bare name,
    and ``glue()`` leaves a stray output. Prose numbers are ``{eval}`` expressions instead."""
    text = path.read_text(encoding="utf-8")
    assert "{glue" not in text and "glue(" not in text, f"{path.name} still uses glue"


@pytest.mark.parametrize("path", notebooks.book_notebooks(), ids=lambda p: p.name)
def test_expression_results_read_the_same_in_jupyterlab_and_the_book(path):
    """jupyterlab-myst strips a string's quotes but shows escapes as they are; the book's role does
    the same. A result with a backslash, or one longer than a phrase, would read differently or
    badly in one of them."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        for item in cell.metadata.get("user_expressions", []):
            text = item["result"].get("data", {}).get("text/plain", "")
            assert "\\" not in text and len(text) <= 40, (
                f"{path.name}, cell {index}: {{eval}}`{item['expression']}` shows {text!r}"
            )
