"""The Chinese edition (locale/zh_CN) is never stale: every message of the English source has a
translation that is neither missing nor fuzzy, keeps the markup the build reads, and uses the
glossary's Chinese terms; the Chinese copies of the chapter notebooks come from the same
translations and run."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from tools import book, translations, zh_notebooks

REPO = Path(__file__).resolve().parents[1]
PO_FILES = sorted(translations.LOCALE.rglob("*.po"))
FIX = "run `make translations` (python tools/book.py messages), translate what it marks, commit both"


def read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def ids(path: Path) -> set[str]:
    return {message.id for message in read(path) if message.id}


def test_there_is_one_translation_file_per_page():
    assert len(PO_FILES) >= 15, [p.name for p in PO_FILES]


@pytest.fixture(scope="module")
def english_messages(tmp_path_factory):
    """The messages of the English source as it is now (Sphinx's gettext builder)."""
    output = tmp_path_factory.mktemp("gettext") / "pot"
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "book.py"), "pot", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {path.relative_to(output).with_suffix(".po"): ids(path) for path in output.rglob("*.pot")}


def test_the_translation_files_follow_the_english_source(english_messages):
    """A sentence changed in English is a new message: without `make translations` the Chinese
    edition would show it in English, or keep a translation of what it no longer says."""
    problems = []
    for relative, english in english_messages.items():
        if relative.parts[0] == "_static":
            continue
        po = translations.LOCALE / relative
        if not po.exists():
            problems.append(f"{relative}: no translation file")
            continue
        chinese = ids(po)
        problems += [f"{relative}: not in the .po file: {m[:70]!r}" for m in sorted(english - chinese)]
        problems += [f"{relative}: no longer in the English: {m[:70]!r}" for m in sorted(chinese - english)]
    assert problems == [], f"{len(problems)} differences; {FIX}:\n" + "\n".join(problems[:20])


def test_the_site_title_and_captions_are_in_the_site_catalog():
    """The book's title and the table of contents' captions (not collected by gettext)."""
    assert ids(book.SITE_MESSAGES) == set(book.site_messages()), FIX


@pytest.mark.parametrize("path", PO_FILES, ids=lambda p: p.relative_to(translations.LOCALE).as_posix())
def test_every_message_is_translated_and_keeps_its_markup_and_terms(path):
    catalog = read(path)
    missing = translations.untranslated(catalog)
    assert missing == [], f"{len(missing)} messages untranslated or fuzzy; {FIX}: {missing[:5]}"
    assert translations.markup_problems(catalog) == []
    assert translations.glossary_problems(catalog) == []


def catalog_of(*pairs, comments=()):
    catalog = Catalog(locale="zh_CN")
    for english, chinese in pairs:
        catalog.add(english, chinese, user_comments=list(comments))
    return catalog


def test_the_checks_catch_each_kind_of_mistake():
    """A test of the checks: each mistake is found, and each right form passes."""
    terms = translations.glossary_terms()
    right = catalog_of(
        (
            "See the {ref}`errata boxes <errata-order>` and {term}`self-attention`.",
            "见{ref}`勘误框 <errata-order>`与{term}`自注意力机制 <self-attention>`。",
        ),
        (
            'The accuracy is {eval}`f"{a:.3f}"` with `fit()` and $\\sqrt{d_k}$.',
            '用 `fit()` 和 $\\sqrt{d_k}$ 得到的准确率为 {eval}`f"{a:.3f}"`。',
        ),
        ("**Tokens** are counted.", "**词元**被计数。"),
        ("1. Self-attention", "1\\. 自注意力机制"),
    )
    assert translations.markup_problems(right) == [] and translations.glossary_problems(right, terms) == []
    wrong_target = catalog_of(("See {term}`self-attention`.", "见{term}`自注意力机制 <attention>`。"))
    changed_number = catalog_of(('It is {eval}`f"{a:.3f}"`.', '它是 {eval}`f"{a:.2f}"`。'))
    lost_code = catalog_of(("Call `fit()`.", "调用 fit()。"))
    broken_bold = catalog_of(('A **"token"** here.', "这里的**“词元”**很重要。"))
    read_as_list = catalog_of(("1. Self-attention", "1. 自注意力机制"))  # a title left in English
    for catalog in (wrong_target, changed_number, lost_code, broken_bold, read_as_list):
        assert len(translations.markup_problems(catalog)) == 1, catalog
    other_term = catalog_of(("The loss falls.", "下降了。"))
    assert "损失" in translations.glossary_problems(other_term, terms)[0]
    exempt = catalog_of(("Recall that x.", "回想一下 x。"), comments=["glossary: recall (the verb)"])
    assert translations.glossary_problems(exempt, terms) == []
    fuzzy = catalog_of(("Old.", "旧。"))
    fuzzy.get("Old.").flags.add("fuzzy")
    assert translations.untranslated(fuzzy) == ["Old."]
    assert translations.untranslated(catalog_of(("New.", ""))) == ["New."]


def test_the_glossary_gives_each_term_its_chinese_names():
    terms = translations.glossary_terms()
    assert terms["self-attention"] == ["自注意力机制"]
    assert terms["query"] == ["查询"] and terms["value"] == ["值"]  # "query, key, value", item by item
    assert "Transformer" in terms["Transformer"] and "TF-IDF" in terms["TF-IDF"]
    assert len(translations.glossary_term_lines()) == len(set(translations.glossary_term_lines())) >= 60


def test_what_a_tool_writes_is_translated_from_the_same_numbers():
    line = (
        "**Run time**: 9.1 min in full mode and 46 s in quick mode, measured on cpu (AMD EPYC), 2 threads, "
        "torch 2.13.0+cpu (130 GFLOP/s in float32 matrix products) on 2026-12-07 (`python tools/notebooks.py run`)."
    )
    chinese = book.generated_translation(line)
    for part in (
        "完整模式 9.1 分钟",
        "快速模式 46 秒",
        "130 GFLOP/s",
        "2026-12-07",
        "`python tools/notebooks.py run`",
        "cpu（AMD EPYC），2 个线程",
    ):
        assert part in chinese
    peak = "The largest peak is 4,004 MiB (3. Pretraining BERT): with JupyterLab and the system, give each student at least 5,028 MiB for one open chapter."
    assert "3. 预训练 BERT" in book.generated_translation(peak, {"3. Pretraining BERT": "3. 预训练 BERT"})
    assert book.generated_translation("12.1 min") == "12.1 分钟"
    assert book.generated_translation("$n \\times d_k$") == "$n \\times d_k$"
    assert book.generated_translation("The formula") is None


@pytest.fixture(scope="module")
def chapter_1_in_chinese():
    return zh_notebooks.chinese_copy(REPO / "chapters" / "01_self_attention.ipynb")


def test_a_chinese_notebook_translates_every_paragraph_and_keeps_the_code(chapter_1_in_chinese):
    chinese, missing = chapter_1_in_chinese
    english = nbformat.read(REPO / "chapters" / "01_self_attention.ipynb", as_version=4)
    assert missing == []
    assert [c.source for c in chinese.cells if c.cell_type == "code"] == [
        c.source for c in english.cells if c.cell_type == "code"
    ]
    text = "\n".join(c.source for c in chinese.cells if c.cell_type == "markdown")
    assert "学习目标" in text and "Learning goals" not in text
    for e, c in zip(english.cells, chinese.cells):  # the numbers in prose: the same expressions
        if e.cell_type == "markdown":
            assert c.metadata.get("user_expressions") == e.metadata.get("user_expressions")
            evals = [
                {k: n for k, n in translations.markup(s).items() if k.startswith("{eval}")}
                for s in (e.source, c.source)
            ]
            assert evals[0] == evals[1]


def test_a_chinese_notebook_runs_in_quick_mode(chapter_1_in_chinese, monkeypatch):
    from nbclient import NotebookClient

    chinese, _ = chapter_1_in_chinese
    monkeypatch.setenv("LMCORE_MODE", "quick")
    client = NotebookClient(
        chinese, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO / "chapters")}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell (every assert included)
    errors = [
        o for c in chinese.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
