"""Every section of the source article has a place in the book: the coverage table on the
how-to-use page is generated from one list, and no heading of the article is missing from it."""

import re
from pathlib import Path

import pytest

from tools import coverage

ARTICLE = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_8d727b5eb1d7dc1c.txt"


def test_every_article_section_is_covered_by_a_page_that_exists():
    covered = [key for keys, _, _ in coverage.COVERAGE for key in keys]
    headings = coverage.article_sections()
    assert len(headings) == 61
    missing = [h for h in headings if coverage.section_key(h) not in covered]
    assert missing == []
    invented = set(covered) - {coverage.section_key(h) for h in headings}
    assert invented == set(), "the list names sections the article does not have"
    assert len(covered) == len(set(covered)), "a section is listed twice"
    pages = [page for _, _, targets in coverage.COVERAGE for page, _ in targets]
    assert [p for p in pages if not coverage.page_exists(p)] == []


def test_the_table_on_the_page_is_the_generated_one():
    assert coverage.TABLE_FILE.read_text(encoding="utf-8") == coverage.render()
    assert "```{include} coverage.md" in (coverage.REPO / "book" / "how_to_use.md").read_text()


@pytest.mark.skipif(not ARTICLE.exists(), reason="the article is only in the authors' shared folder")
def test_the_kept_headings_are_the_articles():
    text = ARTICLE.read_text(encoding="utf-8")
    headings = [m.group(2).strip() for m in re.finditer(r"^(#{2,4}) (.*)$", text, re.MULTILINE)]
    assert headings == coverage.article_sections()
