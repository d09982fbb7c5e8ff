"""Live tests in JupyterLab from the set-up environment: chapter 1 runs through the UI and its
prose's numbers are recomputed as its cells run; chapter 5 opened as committed shows the stored
numbers in its prose, not expressions; chapter 3 opened as committed shows no blank attention
view, and its bertviz cell draws when run, offline."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.browser import offline_browser, open_offline, screenshot
from tools.plain_notebooks import plain_copy
from tools.zh_notebooks import chinese_copy

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_self_attention.ipynb"
CHAPTER_3 = "03_pretraining_bert.ipynb"
CHAPTER_5 = "05_news_project.ipynb"
ZH_NOTEBOOK = "zh_01_self_attention.ipynb"  # chapter 1's Chinese copy (tools/zh_notebooks.py)
STALE = "'stale number'"  # what chapter 1's copy stores for every expression before it runs


def bertviz_cells() -> nbformat.NotebookNode:
    """Chapter 3's cells that load MiniLM and draw its model view, and nothing else."""
    notebook = fresh_copy(CHAPTER_3)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    keep = [code[0]]  # imports
    keep += [c for c in code if c.source.startswith("tokenizer = load_tokenizer()")]
    keep += [c for c in code if c.source.startswith("minilm = load_pretrained()")]
    keep += [c for c in code if "views.model_view(" in c.source]
    assert len(keep) == 4, "chapter 3's set-up, tokenizer, MiniLM and model-view cells were not found"
    notebook.cells = keep
    return notebook


def open_notebook(page_url: str, browser):
    page, log = open_offline(browser, page_url, wait_ms=500, viewport=(1400, 1000))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    select_kernel = page.get_by_role("button", name="Select", exact=True)
    try:  # a fresh JupyterLab asks which kernel to start
        select_kernel.wait_for(timeout=15_000)
        select_kernel.click()
    except Exception:
        pass  # no dialog: a kernel was started without asking
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    return page, log


def run_all_cells(page, timeout_ms: int = 150_000) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=timeout_ms,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_copy(name: str) -> nbformat.NotebookNode:
    """A chapter without outputs, as a student would start from."""
    notebook = nbformat.read(REPO / "chapters" / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def with_stale_prose(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Every stored expression result replaced, so a test can see the live run replace it."""
    for cell in notebook.cells:
        for item in cell.metadata.get("user_expressions", []):
            item["result"]["data"] = {"text/plain": STALE}
    return notebook


def rendered_prose(page) -> str:
    return "\n".join(
        page.locator(".jp-MarkdownCell .jp-RenderedMarkdown, .jp-MarkdownCell .myst").all_inner_texts()
    )


def open_as_committed(browser, page_url: str):
    """A notebook opened without running anything: ``(page, its rendered prose)``."""
    page, log = open_offline(browser, page_url, wait_ms=500, viewport=(1400, 1000))
    page.wait_for_selector(".jp-Notebook .jp-MarkdownCell", timeout=60_000)
    page.wait_for_timeout(3000)  # jupyterlab-myst renders the stored expression results
    return page, rendered_prose(page)


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab on localhost, no token, serving *copies* of chapters (autosave must not touch
    the committed notebooks): chapter 1 fresh, chapter 3 as committed, and a notebook of chapter
    3's cells that draw a bertviz view."""
    nbformat.write(with_stale_prose(fresh_copy(NOTEBOOK)), tmp_path / NOTEBOOK)
    shutil.copy(REPO / "chapters" / CHAPTER_3, tmp_path / CHAPTER_3)
    shutil.copy(REPO / "chapters" / CHAPTER_5, tmp_path / CHAPTER_5)
    nbformat.write(bertviz_cells(), tmp_path / "bertviz_live.ipynb")
    nbformat.write(chinese_copy(REPO / "chapters" / NOTEBOOK)[0], tmp_path / ZH_NOTEBOOK)
    chapter_1 = REPO / "chapters" / NOTEBOOK  # its plain copy, what a teacher presents as slides
    nbformat.write(
        plain_copy(nbformat.read(chapter_1, as_version=4), chapter_1), tmp_path / f"plain_{NOTEBOOK}"
    )
    # Render every cell (JupyterLab 4 only renders the cells in view by default), and no news pop-up.
    settings = tmp_path / ".jupyter" / "lab" / "user-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}'
    )
    port = free_port()
    env = {**os.environ, "LMCORE_MODE": "quick", "JUPYTER_CONFIG_DIR": str(tmp_path / ".jupyter")}
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.root_dir={tmp_path}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.allow_root=True",
    ]
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_chapter_runs_in_jupyterlab_through_the_ui(jupyterlab):
    with offline_browser() as browser:
        page, log = open_notebook(f"{jupyterlab}/lab/tree/{NOTEBOOK}", browser)
        assert "stale number" in rendered_prose(page)  # the copy's stored results, before the run
        try:
            run_all_cells(page)
            page.wait_for_timeout(2000)  # the last markdown cells' expressions come back
        finally:
            screenshot(page, "jupyterlab__01_self_attention")
        prose = rendered_prose(page)
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        error_texts = [errors.nth(i).inner_text() for i in range(errors.count())]
        images = page.locator(".jp-OutputArea-output img").count()
        cells = page.locator(".jp-CodeCell").count()
        screenshot(page, "jupyterlab__01_self_attention")
    assert [t for t in error_texts if "Error" in t or "Traceback" in t] == []
    assert images >= 6, f"expected the attention heatmaps and plots, found {images} images"
    assert cells > 30
    assert "stale number" not in prose, "an expression kept its stored result after its cell ran"
    assert "largest score takes 0.665 of the weight" in prose, "the softmax primer's number"


def test_chapter_5_as_committed_shows_numbers_in_its_prose(jupyterlab):
    """Opened without running anything, the prose shows the numbers the book's run stored, the
    way the rendered book does: no expression and no glue name in their place."""
    stored = nbformat.read(REPO / "chapters" / CHAPTER_5, as_version=4)
    expressions = [
        e for c in stored.cells for e in (i["expression"] for i in c.metadata.get("user_expressions", []))
    ]
    assert len(expressions) > 20
    with offline_browser() as browser:
        page, prose = open_as_committed(browser, f"{jupyterlab}/lab/tree/{CHAPTER_5}")
        page.get_by_text("7,532").first.scroll_into_view_if_needed()
        screenshot(page, "jupyterlab__05_stored_prose_numbers")
    assert "7,532" in prose
    assert [e for e in expressions if e in prose] == []
    assert "glue" not in prose and "{eval}" not in prose


def test_the_chinese_copy_of_chapter_1_reads_in_chinese_with_the_books_numbers(jupyterlab):
    """What a class running the chapters in Chinese sees in JupyterLab: the Chinese edition's
    text, its MyST rendered (no raw role), the numbers the book's run stored."""
    with offline_browser() as browser:
        page, prose = open_as_committed(browser, f"{jupyterlab}/lab/tree/{ZH_NOTEBOOK}")
        screenshot(page, "jupyterlab__zh_01_self_attention")
    assert "学习目标" in prose and "自注意力" in prose and "Learning goals" not in prose
    assert "最大的分数得到了 0.665 的权重" in prose  # the softmax primer's stored number
    assert "{eval}" not in prose and "{term}" not in prose and "{ref}" not in prose


def test_chapter_3_as_committed_shows_no_blank_attention_view(jupyterlab):
    """Opened without running, JupyterLab runs no stored script: each view shows its static
    picture of the same attention and the line that says how to interact."""
    stored = nbformat.read(REPO / "chapters" / CHAPTER_3, as_version=4)
    expected = sum("lmcore-attention-view" in str(c.get("outputs", "")) for c in stored.cells)
    assert expected >= 2, "chapter 3 should store its bertviz views"
    with offline_browser() as browser:
        page, log = open_offline(
            browser, f"{jupyterlab}/lab/tree/{CHAPTER_3}", wait_ms=500, viewport=(1400, 1000)
        )
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_timeout(2000)
        views = page.evaluate(
            """() => [...document.querySelectorAll('.lmcore-attention-view')].map(view => {
                const img = view.querySelector('img');
                return {text: view.innerText, picture: !!img && img.complete && img.naturalWidth > 100};
            })"""
        )
        view = page.locator(".lmcore-attention-view").first
        view.scroll_into_view_if_needed()
        screenshot(page, "jupyterlab__03_stored_attention_view")
    assert len(views) == expected, views
    assert all(v["picture"] and "run this cell" in v["text"] for v in views), views
    assert log.blocked == []


def test_chapter_3_bertviz_cell_draws_live_offline(jupyterlab):
    """Run through JupyterLab's UI with the network blocked, the model view draws its tokens and
    attention lines, and the static picture gives way to it."""
    with offline_browser() as browser:
        page, log = open_notebook(f"{jupyterlab}/lab/tree/bertviz_live.ipynb", browser)
        try:
            run_all_cells(page, timeout_ms=120_000)
            page.wait_for_selector(".lmcore-attention-view iframe", timeout=30_000)
            page.locator(".lmcore-attention-view").first.scroll_into_view_if_needed()
            page.wait_for_timeout(3000)
        finally:
            screenshot(page, "jupyterlab__03_live_bertviz")
        frame = next(f for f in page.frames if f != page.main_frame and f.locator("svg").count())
        lines, texts = frame.locator("line").count(), frame.locator("text").count()
        picture_visible = page.locator(".lmcore-attention-picture img").first.is_visible()
    assert lines > 100 and texts >= 10, (lines, texts)
    assert not picture_visible
    assert log.blocked == []


def test_chapter_1_opens_as_slides_offline(jupyterlab):
    """jupyterlab-rise shows the chapter's marked cells as a reveal.js talk, with the network
    blocked: one top-level slide per cell marked "slide" (tools/slides.py). Its slides draw
    Markdown without jupyterlab-myst, so a teacher presents the chapter's plain copy
    (tools/plain_notebooks.py): the boxes read as boxes, not as MyST markup."""
    from tools import slides

    notebook = nbformat.read(REPO / "chapters" / NOTEBOOK, as_version=4)
    expected = slides.marked(notebook).count("slide")
    with offline_browser() as browser:
        page, log = open_offline(
            browser, f"{jupyterlab}/rise/plain_{NOTEBOOK}", wait_ms=500, viewport=(1280, 800)
        )
        page.wait_for_selector(".reveal .slides > section", timeout=90_000)
        page.wait_for_timeout(3000)
        sections = page.locator(".reveal .slides > section").count()
        title = page.locator(".reveal .slides > section").first.inner_text()
        screenshot(page, "jupyterlab__01_rise_slides")
    assert sections == expected, (sections, expected)
    assert "Self-attention" in title and "Learning goals" in title
    assert ":class:" not in title and "{admonition}" not in title
    assert log.blocked == []
