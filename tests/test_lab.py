"""A live smoke test: JupyterLab from the set-up environment runs chapter 1 through its UI."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.browser import offline_browser, open_offline, screenshot

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_self_attention.ipynb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab on localhost, no token, serving a *copy* of the chapter (autosave must not
    touch the committed notebook)."""
    notebook = nbformat.read(REPO / "chapters" / NOTEBOOK, as_version=4)
    for cell in notebook.cells:  # a fresh copy, as a student would start from
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, tmp_path / NOTEBOOK)
    port = free_port()
    env = {**os.environ, "LMCORE_MODE": "quick", "JUPYTER_CONFIG_DIR": str(tmp_path / ".jupyter")}
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--ServerApp.root_dir={tmp_path}", "--IdentityProvider.token=", "--ServerApp.password=",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
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
        page, log = open_offline(browser, f"{jupyterlab}/lab/tree/{NOTEBOOK}", wait_ms=500, viewport=(1400, 1000))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        select_kernel = page.get_by_role("button", name="Select", exact=True)
        try:  # a fresh JupyterLab asks which kernel to start
            select_kernel.wait_for(timeout=15_000)
            select_kernel.click()
        except Exception:
            pass  # no dialog: a kernel was started without asking
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function(
                """() => {
                    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
                    return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
                }""",
                timeout=150_000,
            )
        finally:
            screenshot(page, "jupyterlab__01_self_attention")
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        error_texts = [errors.nth(i).inner_text() for i in range(errors.count())]
        images = page.locator(".jp-OutputArea-output img").count()
        cells = page.locator(".jp-CodeCell").count()
        screenshot(page, "jupyterlab__01_self_attention")
    assert [t for t in error_texts if "Error" in t or "Traceback" in t] == []
    assert images >= 6, f"expected the attention heatmaps and plots, found {images} images"
    assert cells > 30
