"""Plots the chapters share: attention heatmaps for one head, a layers x heads grid, and a
classifier's confusion matrix.

Every function returns the matplotlib object it drew on, titled and labelled, so a notebook
can adjust it or save it. Weights may be torch tensors or NumPy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["plot_attention", "plot_attention_grid", "plot_confusion_matrix"]


def _to_numpy(name: str, weights) -> np.ndarray:
    if isinstance(weights, torch.Tensor):
        return weights.detach().float().cpu().numpy()
    if isinstance(weights, np.ndarray):
        return weights.astype(float)
    raise ValueError(f"{name} must be a torch.Tensor or numpy.ndarray; got {type(weights).__name__}")


GRID_MAX_WIDTH = 10.0  # inches: about a page of the rendered book at full size
LABEL_POINTS = 8  # the smallest text a figure should carry


def _check_tokens(name: str, tokens, expected: int, axis: str) -> list[str]:
    if tokens is None:
        return [str(i) for i in range(expected)]
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise ValueError(f"{name} must be a list of strings, one per {axis}; got {type(tokens).__name__}")
    if len(tokens) != expected:
        raise ValueError(f"{name} has {len(tokens)} entries but the weights have {expected} {axis}s")
    return [str(t) for t in tokens]


def plot_attention(
    weights,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    *,
    ax: plt.Axes | None = None,
    title: str = "Attention weights",
    annotate: bool | None = None,
    colorbar: bool = True,
    cmap: str = "Blues",
    vmax: float | None = 1.0,
) -> plt.Axes:
    """Heatmap of one head's weights ``(L queries, S keys)``: row ``i`` is where query ``i`` looks.

    ``key_tokens`` defaults to ``query_tokens`` (self-attention). ``annotate`` writes the
    numbers into the cells; by default it does so for maps of at most 8 x 8. The colour scale
    runs from 0 to ``vmax`` (1 by default, so maps are comparable); ``vmax=None`` stretches it
    to the largest weight, which shows faint patterns better.
    """
    grid = _to_numpy("weights", weights)
    if grid.ndim != 2:
        raise ValueError(f"weights must have 2 dimensions (queries, keys); got shape {grid.shape}")
    n_queries, n_keys = grid.shape
    rows = _check_tokens("query_tokens", query_tokens, n_queries, "query")
    cols = _check_tokens("key_tokens", key_tokens if key_tokens is not None else query_tokens, n_keys, "key")
    if ax is None:
        size = max(3.0, 0.45 * max(n_queries, n_keys) + 1.5)
        _, ax = plt.subplots(figsize=(size + 1.0, size), layout="constrained")

    top = float(grid.max()) if vmax is None else vmax
    image = ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=max(top, 1e-9), aspect="auto")
    ax.set_xticks(range(n_keys), cols, rotation=90)
    ax.set_yticks(range(n_queries), rows)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title)
    if annotate is None:
        annotate = max(n_queries, n_keys) <= 8
    if annotate:
        threshold = 0.6 * top
        for i in range(n_queries):
            for j in range(n_keys):
                colour = "white" if grid[i, j] > threshold else "black"
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color=colour, fontsize=8)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="weight", shrink=0.8)
    return ax


def plot_attention_grid(
    weights,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    *,
    title: str = "Attention weights by layer and head",
    cell_size: float = 1.8,
    cmap: str = "Blues",
    vmax: float | None = None,
) -> plt.Figure:
    """A grid of heatmaps, one row per layer and one column per head.

    ``weights`` has shape ``(layers, heads, L, S)``; a ``(heads, L, S)`` array is one layer.
    By default each map has its own colour scale (heads differ a lot in how peaked they are);
    pass ``vmax=1.0`` for one shared scale. Token labels are written on the left column and
    bottom row only, at a readable size: every second or third token when the maps are small,
    none when even that would not fit (a single-head plot then shows the tokens).
    """
    grid = _to_numpy("weights", weights)
    if grid.ndim == 3:
        grid = grid[None]
    if grid.ndim != 4:
        raise ValueError(
            f"weights must have shape (layers, heads, queries, keys) or (heads, queries, keys); got {grid.shape}"
        )
    n_layers, n_heads, n_queries, n_keys = grid.shape
    rows = _check_tokens("query_tokens", query_tokens, n_queries, "query")
    cols = _check_tokens("key_tokens", key_tokens if key_tokens is not None else query_tokens, n_keys, "key")

    # A figure wider than the page is shrunk to fit, and its text with it: cap the width, so that
    # labels keep about the size they were drawn at.
    width = min(cell_size * n_heads + 1.2, GRID_MAX_WIDTH)
    cell = (width - 1.2) / n_heads
    fig, axes = plt.subplots(
        n_layers, n_heads, figsize=(width, cell * n_layers + 1.0), squeeze=False, layout="constrained"
    )
    # Token labels only where they fit: every k-th token when a map is small, none when even
    # that would crowd (then the tokens are for a single-head plot to show).
    room = cell * 72 / max(n_queries, n_keys)  # points per token along one map's side
    every = math.ceil(LABEL_POINTS / room)
    show_labels = every <= 3
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            ax.imshow(grid[layer, head], cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            if layer == 0:
                ax.set_title(f"head {head}", fontsize=10)
            if head == 0:
                ax.set_ylabel(f"layer {layer}", fontsize=10)
                if show_labels:
                    ax.set_yticks(range(0, n_queries, every), rows[::every], fontsize=LABEL_POINTS)
            if layer == n_layers - 1 and show_labels:
                ax.set_xticks(range(0, n_keys, every), cols[::every], rotation=90, fontsize=LABEL_POINTS)
    fig.suptitle(title)
    fig.supxlabel("key (attended to)", fontsize=10)
    fig.supylabel("query (attending)", fontsize=10)
    return fig


def plot_confusion_matrix(
    matrix,
    names: Sequence[str],
    *,
    ax: plt.Axes | None = None,
    title: str = "Confusion matrix",
    annotate: bool | None = None,
    normalize: bool = False,
) -> plt.Axes:
    """Heatmap of a confusion matrix: row = true class, column = predicted class.

    ``normalize=True`` divides each row by its total, so a cell reads "share of this class's
    messages predicted as that class" and rare classes are as visible as common ones. Numbers are
    written into the cells for at most 10 classes unless ``annotate`` says otherwise.
    """
    grid = _to_numpy("matrix", matrix)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1]:
        raise ValueError(f"matrix must be square (classes x classes); got shape {grid.shape}")
    labels = _check_tokens("names", names, grid.shape[0], "class")
    if normalize:
        grid = grid / np.maximum(grid.sum(axis=1, keepdims=True), 1)
    if ax is None:
        size = max(4.0, 0.38 * len(labels) + 2.5)
        _, ax = plt.subplots(figsize=(size + 1.2, size), layout="constrained")
    image = ax.imshow(grid, cmap="Blues", vmin=0.0)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if annotate is None:
        annotate = len(labels) <= 10
    if annotate:
        for i in range(len(labels)):
            for j in range(len(labels)):
                text = f"{grid[i, j]:.2f}" if normalize else f"{int(grid[i, j])}"
                colour = "white" if grid[i, j] > 0.6 * grid.max() else "black"
                ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    ax.figure.colorbar(image, ax=ax, label="share of the true class" if normalize else "messages", shrink=0.8)
    return ax
