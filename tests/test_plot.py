"""Attention heatmaps: labelled, titled, and strict about their inputs."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lmcore import plot_attention, plot_attention_grid


def test_plot_attention_labels_tokens_and_axes():
    weights = torch.softmax(torch.randn(3, 4), dim=-1)
    ax = plot_attention(weights, ["a", "b", "c"], ["w", "x", "y", "z"], title="T")
    assert ax.get_title() == "T"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["w", "x", "y", "z"]
    assert "key" in ax.get_xlabel() and "query" in ax.get_ylabel()
    assert len(ax.texts) == 12  # small maps are annotated with their numbers
    plt.close(ax.figure)


def test_plot_attention_accepts_numpy_and_defaults_keys_to_queries():
    ax = plot_attention(np.eye(3), ["a", "b", "c"], annotate=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert not ax.texts
    plt.close(ax.figure)


def test_plot_attention_grid_has_one_panel_per_layer_and_head():
    weights = torch.softmax(torch.randn(2, 3, 4, 4), dim=-1)
    fig = plot_attention_grid(weights, ["a", "b", "c", "d"], title="Grid")
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "head 0" and fig.axes[0].get_ylabel() == "layer 0"
    assert fig.get_suptitle() == "Grid"
    plt.close(fig)
    fig = plot_attention_grid(weights[0])  # one layer
    assert len(fig.axes) == 3
    plt.close(fig)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: plot_attention(torch.ones(2, 2, 2)),
            r"2 dimensions \(queries, keys\); got shape \(2, 2, 2\)",
        ),
        (
            lambda: plot_attention(torch.ones(2, 3), ["a", "b", "c"]),
            r"query_tokens has 3 entries but the weights have 2 querys",
        ),
        (
            lambda: plot_attention(torch.ones(2, 3), ["a", "b"]),
            r"key_tokens has 2 entries but the weights have 3 keys",
        ),
        (lambda: plot_attention([[1.0]]), r"torch.Tensor or numpy.ndarray; got list"),
        (lambda: plot_attention(torch.ones(2, 2), "ab"), r"list of strings"),
        (lambda: plot_attention_grid(torch.ones(2, 2)), r"\(layers, heads, queries, keys\)"),
    ],
)
def test_plot_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    plt.close("all")
