"""bertviz's interactive attention views, made to work offline.

bertviz (Vig, 2019) draws attention as lines between tokens: :func:`head_view` shows one layer
with its heads in colours, :func:`model_view` a thumbnail of every layer and head. As shipped,
its HTML loads require.js, d3 and jQuery from a CDN, so without a network the views are blank
in JupyterLab and in the rendered book.

These wrappers take bertviz's HTML, drop the require.js tag, inline d3 v5 and jQuery (fetched
from npm at set-up by ``tools/fetch_js.py`` into ``vendor/``) with a two-line stand-in for
require.js, and put everything in an ``<iframe srcdoc=... sandbox="allow-scripts">``. The iframe
keeps the view's scripts apart from the page's, and nothing is loaded from the internet.

Where the libraries come from depends on ``LMCORE_VIEW_ASSETS``:

* unset (JupyterLab, a reader's own run): d3 and jQuery are inlined, so the view is
  self-contained and works anywhere, offline;
* a URL prefix such as ``../_static/`` (set by ``tools/notebooks.py`` when it stores the
  outputs the book renders): the view loads ``<prefix>d3/dist/d3.min.js`` and
  ``<prefix>jquery/dist/jquery.min.js``, the copies the book build puts in ``_static``. Stored
  notebooks thus carry no third-party code, and a reader who re-runs the cell gets the inline
  version.

In JupyterLab, views stored in a notebook someone else ran are not shown until the notebook is
trusted (File > Trust Notebook) or the cell is re-run: that is JupyterLab protecting you from
scripts in files you did not run.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["head_view", "model_view", "vendor_dir"]

VENDOR_VARIABLE = "LMCORE_VENDOR"
ASSETS_VARIABLE = "LMCORE_VIEW_ASSETS"
LIBRARIES = ("jquery/dist/jquery.min.js", "d3/dist/d3.min.js")  # order matters: both before the shim
_REQUIRE_TAG = re.compile(r"<script[^>]*require\.min\.js[^>]*>\s*</script>", re.IGNORECASE)
_SHIM = (
    "window.require = {config: function () {}};"
    "window.requirejs = function (deps, callback) { callback(window.jQuery, window.d3); };"
)


def vendor_dir() -> Path:
    """Where the fetched JavaScript lives: ``$LMCORE_VENDOR`` or ``vendor/`` next to lmcore."""
    value = os.environ.get(VENDOR_VARIABLE)
    return Path(value) if value else Path(__file__).resolve().parents[1] / "vendor"


def _library(relative: str) -> str:
    path = vendor_dir() / relative
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the attention views need d3 and jQuery from npm. "
            "Run `make setup` (or `python tools/fetch_js.py`) once with access to the npm registry."
        )
    # "</script" inside an inlined library would end the script element early
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


def _as_layers(attention, tokens: Sequence[str]) -> list[torch.Tensor]:
    """Accept (layers, heads, S, S), (layers, 1, heads, S, S) or a list of (1|none, heads, S, S)."""
    layers = list(attention) if isinstance(attention, (list, tuple)) else list(attention.unbind(0))
    if not layers:
        raise ValueError("attention is empty: expected one tensor per layer")
    shaped = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, torch.Tensor):
            raise ValueError(f"attention[{i}] must be a torch.Tensor; got {type(layer).__name__}")
        if layer.dim() == 3:
            layer = layer[None]
        if layer.dim() != 4 or layer.shape[0] != 1 or layer.shape[-1] != layer.shape[-2]:
            raise ValueError(
                f"attention[{i}] must have shape (heads, S, S) or (1, heads, S, S) for one example; "
                f"got {tuple(layer.shape)} (slice a batch with attention[:, i:i+1])"
            )
        if layer.shape[-1] != len(tokens):
            raise ValueError(f"attention[{i}] covers {layer.shape[-1]} positions but {len(tokens)} tokens were given")
        # three decimals are plenty for line opacities, and keep the page small
        shaped.append(layer.detach().double().cpu().round(decimals=3))
    return shaped


def _iframe(view_html: str, height: int, title: str):
    from IPython.display import HTML

    body = _REQUIRE_TAG.sub("", view_html)
    prefix = os.environ.get(ASSETS_VARIABLE)
    if prefix:
        libraries = "".join(f'<script src="{html.escape(prefix + name)}"></script>' for name in LIBRARIES)
    else:
        libraries = "".join(f"<script>{_library(name)}</script>" for name in LIBRARIES)
    document = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<style>body{font-family:sans-serif;margin:4px;background:white}</style>"
        f"{libraries}<script>{_SHIM}</script></head><body>{body}</body></html>"
    )
    return HTML(
        '<div class="lmcore-attention-view">'
        f'<iframe title="{html.escape(title)}" sandbox="allow-scripts" '
        f'style="width:100%;height:{height}px;border:1px solid #ddd;border-radius:4px" '
        f'srcdoc="{html.escape(document, quote=True)}"></iframe></div>'
    )


def head_view(attention, tokens: Sequence[str], sentence_b_start: int | None = None, layer: int | None = None):
    """bertviz's head view (one layer at a time, heads in colours), rendered offline.

    ``attention``: per layer, the weights of one example, e.g. ``torch.stack(output.attentions)[:, 0]``
    of shape ``(layers, heads, S, S)``; ``tokens``: the ``S`` token strings.
    """
    from bertviz import head_view as bertviz_head_view

    layers = _as_layers(attention, tokens)
    view = bertviz_head_view(
        layers, list(tokens), sentence_b_start=sentence_b_start, layer=layer, html_action="return"
    )
    height = int(22.5 * len(tokens) + 130)
    return _iframe(view.data, height, "bertviz head view: attention of each head in one layer")


def model_view(
    attention,
    tokens: Sequence[str],
    sentence_b_start: int | None = None,
    include_layers: Sequence[int] | None = None,
    include_heads: Sequence[int] | None = None,
):
    """bertviz's model view (a thumbnail per layer and head; click one to enlarge), offline."""
    from bertviz import model_view as bertviz_model_view

    layers = _as_layers(attention, tokens)
    view = bertviz_model_view(
        layers, list(tokens), sentence_b_start=sentence_b_start, include_layers=include_layers,
        include_heads=include_heads, display_mode="light", html_action="return",
    )
    n_layers = len(include_layers) if include_layers is not None else len(layers)
    n_heads = len(include_heads) if include_heads is not None else layers[0].shape[1]
    thumbnail = len(tokens) * 7 * (12 / n_heads) + 10
    height = int(max(n_layers * thumbnail + 38, len(tokens) * 18 + 55) + 90)
    return _iframe(view.data, height, "bertviz model view: attention of every layer and head")
