"""Where each section of the source article is in the book: one list, one generated table.

    python tools/coverage.py        # rewrites book/coverage.md (included by book/how_to_use.md)

``book/article_sections.txt`` keeps the article's section headings (the article itself is not in
the repository); ``COVERAGE`` maps every one of them to the pages that treat it, and the tests
check that no heading is missing and that every page exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTIONS_FILE = REPO / "book" / "article_sections.txt"
TABLE_FILE = REPO / "book" / "coverage.md"

# (article sections by number or unnumbered heading, topic, [(page, what is there)])
COVERAGE = [
    (["摘要", "1", "1.1"], "abstract, background, history of language models", [("book/intro", "")]),
    (["1.2"], "pretraining and fine-tuning", [("book/intro", ""), ("chapters/04_fine_tuning", "measured")]),
    (["1.3"], "application areas", [("book/intro", ""), ("chapters/06_applications", "built")]),
    (
        ["2", "2.1", "4", "4.1", "4.1.1", "4.2", "4.2.1"],
        "self-attention, its formula and derivation",
        [("chapters/01_self_attention", "with errata for §4.2.1")],
    ),
    (
        ["2.2", "3", "3.1", "3.2", "3.2.1", "3.2.2", "4.1.2", "4.1.3", "4.2.2", "4.2.3"],
        "the Transformer, encoder and decoder, algorithm overview",
        [("chapters/02_transformer", "")],
    ),
    (
        ["2.3", "3.2.3"],
        "pretraining: masked language model, next-sentence prediction",
        [("chapters/03_pretraining_bert", "")],
    ),
    (["2.4"], "the Mermaid concept map", [("chapters/02_transformer", "corrected map")]),
    (["3.2.4"], "the four steps of fine-tuning", [("chapters/04_fine_tuning", "")]),
    (
        ["3.3", "优点", "缺点"],
        "strengths and weaknesses",
        [("chapters/04_fine_tuning", "costs measured"), ("chapters/07_summary_and_costs", "")],
    ),
    (["3.4"], "application domains", [("chapters/06_applications", "")]),
    (["4.3", "4.3.1"], "the 3-token worked example: encoding", [("chapters/01_self_attention", "")]),
    (
        ["4.3.2"],
        "the 3-token worked example: decoding",
        [
            (
                "chapters/02_transformer",
                "section 2.4: the article's steps run as written (they return LayerNorm(X) and "
                "never read the encoder), next to a real decoder layer",
            )
        ],
    ),
    (
        ["5", "5.1", "5.2", "5.3", "5.4"],
        "the news-classification project",
        [("chapters/05_news_project", "")],
    ),
    (
        ["6", "6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "6.7"],
        "practical applications and outlook",
        [("chapters/06_applications", "")],
    ),
    (["7", "7.1", "7.2", "7.3"], "tools, resources and papers", [("book/tools", "with the bibliography")]),
    (
        ["8", "8.1", "8.2", "8.3", "8.4"],
        "summary, trends, challenges, research outlook",
        [("chapters/07_summary_and_costs", "7.6 quotes §8.2-8.4")],
    ),
    (["9", "Q1", "Q2", "Q3", "Q4", "Q5"], "frequently asked questions", [("book/faq", "")]),
]


def article_sections() -> list[str]:
    """The article's headings, in order, from ``book/article_sections.txt``."""
    lines = SECTIONS_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def section_key(heading: str) -> str:
    """``"4.3.2 解码过程"`` -> ``"4.3.2"``, ``"Q1. ..."`` -> ``"Q1"``, ``"摘要"`` -> ``"摘要"``."""
    match = re.match(r"^((?:\d+\.)*\d+|Q\d+)\.?\s", heading)
    return match.group(1) if match else heading


def page_exists(page: str) -> bool:
    return any((REPO / f"{page}{suffix}").exists() for suffix in (".md", ".ipynb"))


def _link(page: str) -> str:
    """A {doc} link from book/how_to_use.md to ``page``."""
    return f"{{doc}}`{page.removeprefix('book/')}`" if page.startswith("book/") else f"{{doc}}`../{page}`"


def render() -> str:
    headings = {section_key(h): h for h in article_sections()}
    rows = ["| article section | topic | where in this book |", "|---|---|---|"]
    for keys, topic, pages in COVERAGE:
        sections = ", ".join(
            f"§{key}" if key[0].isdigit() or key.startswith("Q") else headings[key] for key in keys
        )
        where = "; ".join(_link(page) + (f" ({note})" if note else "") for page, note in pages)
        rows.append(f"| {sections} | {topic} | {where} |")
    note = "<!-- Written by `python tools/coverage.py` from its COVERAGE list; do not edit. -->"
    return note + "\n\n" + "\n".join(rows) + "\n"


def main() -> int:
    TABLE_FILE.write_text(render(), encoding="utf-8")
    print(
        f"{TABLE_FILE.relative_to(REPO)}: {len(COVERAGE)} rows covering {len(article_sections())} article sections"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
