"""bertviz views from lmcore.views render in a real browser with the network cut off."""

import pytest
import torch

from lmcore import views
from tests.browser import offline_browser, open_offline, screenshot

TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]", "it", "slept", "[SEP]"]


SEQ = len(TOKENS)


def random_attention(layers=2, heads=3, seq=SEQ, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(layers, heads, seq, seq, generator=generator), dim=-1)


def drawn_elements(tmp_path, view, name):
    page_file = tmp_path / f"{name}.html"
    page_file.write_text(f"<!doctype html><html><body>{view.data}</body></html>")
    with offline_browser() as browser:
        page, log = open_offline(browser, page_file.as_uri(), wait_ms=2000)
        frame = next(f for f in page.frames if f != page.main_frame)
        counts = {tag: frame.locator(tag).count() for tag in ("svg", "line", "rect", "text")}
        screenshot(page, f"bertviz_{name}")
    return counts, log


def test_head_view_draws_offline(tmp_path):
    counts, log = drawn_elements(
        tmp_path, views.head_view(random_attention(), TOKENS, sentence_b_start=5), "head_view"
    )
    assert log.blocked == [] and log.page_errors == [] and log.console_errors == []
    assert counts["svg"] >= 1 and counts["line"] >= len(TOKENS) ** 2 and counts["text"] >= 2 * len(TOKENS)


def test_model_view_draws_offline(tmp_path):
    counts, log = drawn_elements(tmp_path, views.model_view(random_attention(), TOKENS), "model_view")
    assert log.blocked == [] and log.page_errors == [] and log.console_errors == []
    assert counts["svg"] >= 1 and counts["line"] >= 2 * 3 * len(TOKENS) ** 2  # every layer x head thumbnail


def test_views_carry_no_remote_scripts():
    from tools.check_html import find_loads_in_html

    for view in (views.head_view(random_attention(), TOKENS), views.model_view(random_attention(), TOKENS)):
        assert 'sandbox="allow-scripts"' in view.data
        assert find_loads_in_html(view.data) == []


def test_views_accept_lists_and_check_shapes():
    per_layer = [layer[None] for layer in random_attention()]  # list of (1, heads, S, S)
    assert "iframe" in views.head_view(per_layer, TOKENS).data
    with pytest.raises(ValueError, match=r"covers 8 positions but 3 tokens"):
        views.head_view(random_attention(), TOKENS[:3])
    with pytest.raises(ValueError, match=r"slice a batch"):
        views.model_view(torch.rand(2, 2, 3, 8, 8), TOKENS)


def test_without_fetched_javascript_views_fall_back_to_bertviz_with_a_notice(monkeypatch, tmp_path):
    """No npm at set-up: the live view is bertviz's own (scripts from the web), and one line says so."""
    from lmcore.notices import WebScripts

    monkeypatch.setenv(views.VENDOR_VARIABLE, str(tmp_path))
    with pytest.warns(WebScripts) as notices:
        view = views.head_view(random_attention(), TOKENS)
    (notice,) = [str(w.message) for w in notices if issubclass(w.category, WebScripts)]
    assert "\n" not in notice and "tools/setup_env.py" in notice
    assert "require" in view.data and "iframe" not in view.data


def test_the_static_picture_shows_until_the_view_draws(tmp_path):
    """Every view carries a picture of the same attention; it is hidden once the view has drawn,
    and stays where the view cannot draw (JupyterLab before a re-run, missing libraries)."""
    view = views.head_view(random_attention(), TOKENS)
    assert view.data.count('<img alt="bertviz head view') == 1 and "run this cell" in view.data
    drawn = tmp_path / "drawn.html"
    drawn.write_text(f"<!doctype html><html><body>{view.data}</body></html>")
    broken = tmp_path / "broken.html"  # the libraries cannot be loaded: nothing draws
    broken.write_text(
        f"<!doctype html><html><body>{view.data.replace('window.d3', 'window.nothing')}</body></html>"
    )
    with offline_browser() as browser:
        visible = {}
        for name, path in (("drawn", drawn), ("broken", broken)):
            page, _ = open_offline(browser, path.as_uri(), wait_ms=2500)
            visible[name] = page.locator(".lmcore-attention-picture img").is_visible()
    assert visible == {"drawn": False, "broken": True}


def test_stored_views_reference_the_books_static_copies(monkeypatch, tmp_path):
    """With LMCORE_VIEW_ASSETS set (as for stored outputs), no library code is inlined, and the
    view still draws when the referenced files are served next to the page."""
    import shutil

    monkeypatch.setenv(views.ASSETS_VARIABLE, "../_static/")
    view = views.head_view(random_attention(), TOKENS)
    assert len(view.data) < 60_000 and "jQuery v2" not in view.data and "d3js.org" not in view.data
    shutil.copytree(views.vendor_dir(), tmp_path / "_static", ignore=shutil.ignore_patterns("mermaid"))
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "page.html").write_text(f"<!doctype html><html><body>{view.data}</body></html>")
    from tests.browser import serve

    with serve(tmp_path) as base, offline_browser() as browser:
        page, log = open_offline(browser, f"{base}/chapters/page.html", wait_ms=2000)
        frame = next(f for f in page.frames if f != page.main_frame)
        assert frame.locator("line").count() >= len(TOKENS) ** 2
        assert log.blocked == [] and log.page_errors == []


def test_views_store_the_attention_weights_once():
    """bertviz pastes its data into a comment too; a stored view keeps one copy."""
    for view in (views.head_view(random_attention(), TOKENS), views.model_view(random_attention(), TOKENS)):
        assert view.data.count("&quot;left_text&quot;") == 1
