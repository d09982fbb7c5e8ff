"""The rendered book: it builds with warnings as errors, loads nothing from the internet,
and shows chapter 1's tables and figures."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.check_html import external_loads, find_loads_in_css, find_loads_in_html

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built_html(tmp_path_factory):
    """Build both editions from scratch into a temporary folder, exactly as `make book` does."""
    output = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "book.py"), "build", "--output", str(output), "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return output / "_build" / "html"


def test_book_loads_nothing_from_the_internet(built_html):
    assert external_loads(built_html) == []


def test_math_comes_from_the_local_mathjax(built_html):
    page = (built_html / "chapters" / "01_self_attention.html").read_text()
    assert re.search(r'<script[^>]+src="[^"]*_static/mathjax/tex-chtml\.js"', page)
    assert (built_html / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_chapter_1_shows_tables_figures_and_errata(built_html):
    page = (built_html / "chapters" / "01_self_attention.html").read_text()
    assert page.count('class="dataframe') >= 6  # X, Q/K/V, scores, scaled, weights, output
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert len(images) >= 6
    for source in images:
        assert (built_html / "chapters" / source).resolve().exists(), source
    assert page.count("Errata: ") >= 2
    assert "Learning goals" in page and "Exercises" in page


def test_prose_numbers_are_rendered_and_no_role_is_left_raw(built_html):
    """Every {eval} expression shows the number the full-mode run stored; no page shows MyST or
    MyST-NB markup as text (a role the build did not know, or a glue name)."""
    raw = re.compile(r"\{(?:eval|glue)[^}]*\}`|glue:text|`\{[a-z:-]+\}")
    found = {}
    for path in built_html.rglob("*.html"):
        if "_static" in path.parts or "_sources" in path.parts:
            continue
        text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))  # the text a reader sees
        hits = raw.findall(text)
        if hits:
            found[str(path.relative_to(built_html))] = hits[:3]
    assert found == {}
    chapter_5 = (built_html / "chapters" / "05_news_project.html").read_text(encoding="utf-8")
    assert re.search(r'<span class="lmcore-eval">7,532</span>', chapter_5)


def test_the_eval_role_reads_the_result_stored_in_its_cell():
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    from lmcore_book import stored_result

    def cell(*pairs):
        stored = [
            {"expression": e, "result": {"status": "ok", "data": {"text/plain": t}, "metadata": {}}}
            for e, t in pairs
        ]
        return {"cell_type": "markdown", "metadata": {"user_expressions": stored}}

    notebook = {"cells": [cell(("n", "3")), {"cell_type": "code"}, cell(("n", "5"), ("name", "'it'"))]}
    assert stored_result(notebook, 2, "n") == "5" and stored_result(notebook, 0, "n") == "3"
    assert stored_result(notebook, 2, "name") == "it"  # a string shows without its quotes
    assert stored_result(notebook, None, "name") == "it"  # one stored result: found anywhere
    assert stored_result(notebook, 1, "n") is None  # two different results: which one is unclear
    assert stored_result(notebook, 2, "missing") is None


def toc_pages():
    toc = (REPO / "_toc.yml").read_text()
    return re.findall(r"file:\s*(\S+)", toc) + [re.search(r"root:\s*(\S+)", toc).group(1)]


def test_every_toc_page_was_built_in_both_editions(built_html):
    for name in toc_pages():
        assert (built_html / f"{name}.html").exists(), name
        assert (built_html / "zh_CN" / f"{name}.html").exists(), f"zh_CN/{name}"


def test_the_chinese_edition_is_chinese_and_its_code_is_the_same(built_html):
    english = (built_html / "chapters" / "01_self_attention.html").read_text(encoding="utf-8")
    chinese = (built_html / "zh_CN" / "chapters" / "01_self_attention.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN"' in chinese or '<html lang="zh_CN"' in chinese
    assert "自注意力" in chinese and "学习目标" in chinese and "Learning goals" not in chinese
    assert "上一页" in chinese or "下一页" in chinese  # the theme's own labels, in Chinese
    assert "<h1>1. 自注意力机制" in chinese  # the title: its translation must not read as a list
    assert "从这里开始" in chinese and "大语言模型是如何工作的" in chinese  # captions, the book's title
    assert "5. 项目实践" in chinese  # other chapters' titles in the navigation

    def code(page):
        return re.findall(r'<div class="highlight[^"]*"><pre>(.*?)</pre>', page, re.DOTALL)

    assert code(english) and code(english) == code(chinese)  # code cells as they are
    for page in (english, chinese):  # the same stored numbers in prose
        assert re.findall(r'class="lmcore-eval">([^<]*)<', page)
    # the same numbers (a translation may order a sentence's numbers differently)
    assert sorted(re.findall(r'class="lmcore-eval">([^<]*)<', english)) == sorted(
        re.findall(r'class="lmcore-eval">([^<]*)<', chinese)
    )


# ------------------------------------------------------------ the scanner itself


@pytest.mark.parametrize(
    "html",
    [
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>',
        '<script src="//cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js"></script>',
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Lato">',
        '<link rel="preload" href="http://example.org/font.woff2">',
        '<style>@import url("https://fonts.googleapis.com/css2?family=Inter");</style>',
        "<style>body { background: url(https://example.org/bg.png) }</style>",
        '<img src="https://example.org/figure.png">',
        '<script type="module">import mermaid from "https://cdn.jsdelivr.net/npm/mermaid/dist/mermaid.esm.min.mjs";</script>',
        '<iframe srcdoc="&lt;script src=&quot;https://d3js.org/d3.v5.min.js&quot;&gt;&lt;/script&gt;"></iframe>',
    ],
)
def test_scanner_flags_remote_loads(html):
    assert len(find_loads_in_html(html)) == 1


@pytest.mark.parametrize(
    "html",
    [
        '<a href="https://arxiv.org/abs/1706.03762">paper</a>',
        '<script src="../_static/mathjax/tex-chtml.js"></script>',
        '<link rel="stylesheet" href="_static/styles/theme.css">',
        '<script>const url = "https://unpkg.com/thebe"; // a string, fetched only on click</script>',
    ],
)
def test_scanner_allows_links_and_local_files(html):
    assert find_loads_in_html(html) == []


def test_scanner_reads_css_files():
    assert find_loads_in_css("@import 'https://example.org/a.css'; .x{background:url(img/x.png)}") == [
        "https://example.org/a.css"
    ]


# ------------------------------------------------------------ in a real browser, offline


def site_pages(html_root):
    skip = ("_static", "_sources", "_images", "reports", "genindex.html")
    return [
        p
        for p in sorted(html_root.rglob("*.html"))
        if not str(p.relative_to(html_root)).removeprefix("zh_CN/").startswith(skip)
    ]


def test_every_page_renders_offline_in_a_real_browser(built_html):
    from tests.browser import (
        offline_browser,
        open_offline,
        page_problems,
        screenshot,
        serve,
        wait_until_drawn,
    )

    found = {}
    with serve(built_html) as base, offline_browser() as browser:
        for path in site_pages(built_html):
            relative = path.relative_to(built_html).as_posix()
            page, log = open_offline(browser, f"{base}/{relative}", wait_ms=0)
            wait_until_drawn(page)
            problems = page_problems(
                page, log, require_chrome=relative.removeprefix("zh_CN/") not in ("index.html", "search.html")
            )
            screenshot(page, "book__" + relative.replace("/", "__").removesuffix(".html"))
            if problems:
                found[relative] = problems
            page.close()
    assert found == {}


def test_every_internal_link_and_anchor_resolves(built_html):
    from tests.browser import broken_internal_links

    assert broken_internal_links(built_html) == []


def test_the_browser_checks_catch_each_failure_mode(tmp_path):
    """A test of the tests: a CDN script, raw math, an undrawn diagram and a broken link are caught."""
    from tests.browser import broken_internal_links, offline_browser, open_offline, page_problems, serve

    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head>"
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script></head><body>'
        '<p>Attention is <span class="math">$$\\operatorname{softmax}(QK^T)V$$</span></p>'
        '<pre class="mermaid">graph TD; A-->B</pre>'
        '<img src="missing.png">'
        '<a href="other.html">a page that does not exist</a> <a href="#nowhere">a missing anchor</a>'
        "</body></html>"
    )
    with serve(tmp_path) as base, offline_browser() as browser:
        page, log = open_offline(browser, f"{base}/index.html", wait_ms=500)
        problems = "\n".join(page_problems(page, log))
    assert "blocked request to https://cdn.jsdelivr.net" in problems
    assert "raw, untypeset math" in problems and "MathJax typeset none" in problems
    assert "Mermaid diagrams were not drawn" in problems
    assert "image did not load" in problems
    assert "navigation sidebar is missing" in problems and "download buttons are missing" in problems
    links = broken_internal_links(tmp_path)
    assert links == ["index.html: other.html (no such file)", "index.html: #nowhere (no such anchor)"]


def test_every_page_switches_to_the_same_page_in_the_other_edition(built_html):
    """The header's language button leads from each page to its counterpart, both ways."""
    from tests.browser import offline_browser, open_offline, serve

    names = ["book/intro", "chapters/01_self_attention", "chapters/05_news_project", "book/glossary"]
    with serve(built_html) as base, offline_browser() as browser:
        for name in names:
            for start, expected in (
                (f"{name}.html", f"zh_CN/{name}.html"),
                (f"zh_CN/{name}.html", f"{name}.html"),
            ):
                page, log = open_offline(browser, f"{base}/{start}", wait_ms=300)
                page.click("button.btn-language-switch")
                page.wait_for_load_state("load")
                assert page.url == f"{base}/{expected}", (start, page.url)
                page.close()


@pytest.mark.parametrize(
    "query, chapter",
    [("注意力", "chapters/01_self_attention"), ("微调", "chapters/04_fine_tuning"), ("attention", None)],
)
def test_searching_the_chinese_edition_finds_the_chapters(built_html, query, chapter):
    """Sphinx indexes Chinese words only with jieba; without it a Chinese search finds nothing."""
    from tests.browser import offline_browser, open_offline, serve

    with serve(built_html) as base, offline_browser() as browser:
        page, log = open_offline(browser, f"{base}/zh_CN/search.html?q={query}", wait_ms=4000)
        found = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.href)")
        page.close()
    assert found, f"searching {query!r} in the Chinese edition found nothing"
    if chapter:
        assert any(chapter in link for link in found[:5]), found[:5]
