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

Stored views are never blank. JupyterLab does not run scripts in a notebook someone else ran
(until File > Trust Notebook, or a re-run), and it cannot serve the book's ``_static`` copies
either, so every view also carries a **static picture** of the same attention (one layer, the
mean over its heads) with the line "run this cell to interact". When the interactive view has
drawn, it tells the page so and the picture is hidden; where it cannot draw, the picture stays.

Without the fetched libraries (no npm at set-up), a live view falls back to bertviz's ordinary
behaviour, which loads its scripts from the web, and says so in one line.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from .notices import WebScripts

__all__ = ["head_view", "model_view", "vendor_dir"]

VENDOR_VARIABLE = "LMCORE_VENDOR"
ASSETS_VARIABLE = "LMCORE_VIEW_ASSETS"
LIBRARIES = ("jquery/dist/jquery.min.js", "d3/dist/d3.min.js")  # order matters: both before the shim
_REQUIRE_TAG = re.compile(r"<script[^>]*require\.min\.js[^>]*>\s*</script>", re.IGNORECASE)
# bertviz substitutes its data for every "PYTHON_PARAMS" in its script, including the one in a
# comment beside the real one: a second copy of every attention weight, half of a stored view
_PARAMS_COPY_IN_COMMENT = re.compile(r"// HACK: .*? is a template marker that is replaced by actual params\.")
_SHIM = (
    "window.require = {config: function () {}};"
    "window.requirejs = function (deps, callback) { callback(window.jQuery, window.d3); };"
)


def vendor_dir() -> Path:
    """Where the fetched JavaScript lives: ``$LMCORE_VENDOR`` or ``vendor/`` next to lmcore."""
    value = os.environ.get(VENDOR_VARIABLE)
    return Path(value) if value else Path(__file__).resolve().parents[1] / "vendor"


def _inline_libraries() -> str | None:
    """d3 and jQuery as inline scripts, or ``None`` when they were not fetched."""
    paths = [vendor_dir() / relative for relative in LIBRARIES]
    if not all(path.exists() for path in paths):
        return None
    # "</script" inside an inlined library would end the script element early
    texts = [path.read_text(encoding="utf-8").replace("</script", "<\\/script") for path in paths]
    return "".join(f"<script>{text}</script>" for text in texts)


def _static_picture(layers: list[torch.Tensor], tokens: Sequence[str], layer: int) -> str:
    """A PNG (as a data URL) of one layer's attention, averaged over its heads, drawn by
    :func:`lmcore.plot.plot_attention` on a figure of its own (not pyplot's current one)."""
    from matplotlib.figure import Figure

    from .plot import plot_attention

    size = min(7.0, 2.0 + 0.12 * len(tokens))
    figure = Figure(figsize=(size, size), dpi=72, layout="constrained")
    plot_attention(
        layers[layer][0].mean(dim=0),
        list(tokens),
        ax=figure.subplots(),
        annotate=False,
        colorbar=False,
        vmax=None,
        title=f"layer {layer}, mean over heads",
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


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
            raise ValueError(
                f"attention[{i}] covers {layer.shape[-1]} positions but {len(tokens)} tokens were given"
            )
        # three decimals are plenty for line opacities, and keep the page small
        shaped.append(layer.detach().double().cpu().round(decimals=3))
    return shaped


# Runs inside the view's iframe: once bertviz has drawn its tokens, tell the page (a few times,
# in case the page's listener starts late).
_REPORT_DRAWN = (
    "(function(){var n=0;function f(){if(document.querySelectorAll('svg text').length){"
    "parent.postMessage({lmcoreViewDrawn:'%s'},'*');if(n++<3)setTimeout(f,700);}"
    "else if(n++<100)setTimeout(f,100);}f();})();"
)
# Runs in the page: hide the static picture when its view reports that it has drawn.
_HIDE_PICTURE = (
    "window.addEventListener('message',function(e){if(e.data&&e.data.lmcoreViewDrawn==='%s'){"
    "var p=document.getElementById('%s-picture');if(p)p.style.display='none';}});"
)


def _iframe(view_html: str, height: int, title: str, picture: str):
    from IPython.display import HTML

    prefix = os.environ.get(ASSETS_VARIABLE)
    if prefix:
        libraries = "".join(f'<script src="{html.escape(prefix + name)}"></script>' for name in LIBRARIES)
    else:
        libraries = _inline_libraries()
        if libraries is None:
            warnings.warn(
                "d3 and jQuery were not fetched at set-up (no npm), so this view loads bertviz's "
                "scripts from the web; run `python tools/setup_env.py` with npm for offline views",
                WebScripts,
                stacklevel=3,
            )
            return HTML(view_html)  # bertviz's ordinary behaviour
    body = _PARAMS_COPY_IN_COMMENT.sub("", _REQUIRE_TAG.sub("", view_html))
    view_id = "lmcore-view-" + hashlib.sha256((title + body).encode()).hexdigest()[:12]
    document = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<style>body{font-family:sans-serif;margin:4px;background:white}</style>"
        f"{libraries}<script>{_SHIM}</script></head><body>{body}"
        f"<script>{_REPORT_DRAWN % view_id}</script></body></html>"
    )
    return HTML(
        '<div class="lmcore-attention-view">'
        f'<div id="{view_id}-picture" class="lmcore-attention-picture">'
        "<p><em>Interactive attention view: run this cell (or trust the notebook) to interact. "
        "Until then, a static picture of the same attention:</em></p>"
        f'<img alt="{html.escape(title)}: static picture" src="{picture}"></div>'
        f"<script>{_HIDE_PICTURE % (view_id, view_id)}</script>"
        f'<iframe title="{html.escape(title)}" sandbox="allow-scripts" '
        f'style="width:100%;height:{height}px;border:1px solid #ddd;border-radius:4px" '
        f'srcdoc="{html.escape(document, quote=True)}"></iframe></div>'
    )


def head_view(
    attention, tokens: Sequence[str], sentence_b_start: int | None = None, layer: int | None = None
):
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
    picture = _static_picture(layers, tokens, layer if layer is not None else 0)
    return _iframe(view.data, height, "bertviz head view: attention of each head in one layer", picture)


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
        layers,
        list(tokens),
        sentence_b_start=sentence_b_start,
        include_layers=include_layers,
        include_heads=include_heads,
        display_mode="light",
        html_action="return",
    )
    n_layers = len(include_layers) if include_layers is not None else len(layers)
    n_heads = len(include_heads) if include_heads is not None else layers[0].shape[1]
    thumbnail = len(tokens) * 7 * (12 / n_heads) + 10
    height = int(max(n_layers * thumbnail + 38, len(tokens) * 18 + 55) + 90)
    picture = _static_picture(layers, tokens, include_layers[0] if include_layers else 0)
    return _iframe(view.data, height, "bertviz model view: attention of every layer and head", picture)
