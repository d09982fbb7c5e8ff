r"""Scaled dot-product attention and multi-head attention, written to be read.

.. math::  \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V

Shapes use these letters: ``L`` queries, ``S`` keys (and values), ``d_k`` the width of a query
and a key, ``d_v`` the width of a value. Leading dimensions (none, ``batch``, or
``batch, heads``) ride along unchanged.

Masks follow PyTorch's boolean convention: ``True`` means "this query may attend to this key".
(``nn.MultiheadAttention``'s ``key_padding_mask`` is the opposite: ``True`` means "ignore".)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (
    expect_attention_inputs,
    expect_copy_pair,
    expect_head_split,
    expect_multihead_inputs,
    expect_padding_mask,
    expect_positive_int,
    expect_probability,
    expect_same_multihead_layout,
)

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "MultiHeadAttention",
    "copy_from_torch_multihead",
]


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    dropout: float = 0.0,
    need_weights: bool = True,
    checked: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention of every query over every key, returning the output and the weights.

    Args:
        query: ``(..., L, d_k)``.
        key: ``(..., S, d_k)``.
        value: ``(..., S, d_v)``.
        mask: bool, broadcastable to ``(..., L, S)``; ``True`` where a query may attend to a key.
        dropout: probability of dropping an attention weight (pass 0 at evaluation time).
        need_weights: when False, take PyTorch's fused kernel (same result, less memory)
            and return ``None`` for the weights.
        checked: the caller has checked these inputs already (:class:`MultiHeadAttention`
            checks its own at its entry), so they are not checked twice.

    NaN or infinity in the inputs is not refused (finding it would read every value, and on an
    accelerator make the host wait). As in PyTorch's own attention, it spreads to the output of
    every query that reads it: a bad query loses its own row, a bad key or value every row,
    even a masked-out value (a weight of 0 times NaN is NaN). A masked-out key's score is
    replaced, so it is lost nowhere (``tests/test_attention.py``).

    Returns:
        ``output`` of shape ``(..., L, d_v)`` and ``weights`` of shape ``(..., L, S)``,
        each row of the weights a probability distribution over the keys.
    """
    if not checked:
        expect_attention_inputs(query, key, value, mask)
        expect_probability("dropout", dropout)

    if not need_weights:
        output = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout)
        return output, None

    d_k = query.shape[-1]
    # Without the 1/sqrt(d_k) the scores' variance grows with d_k and the softmax saturates.
    scores = query @ key.transpose(-2, -1) / math.sqrt(d_k)  # (..., L, S)
    if mask is not None:
        # The most negative finite number, not -inf: a row with no allowed key then gives
        # uniform weights instead of NaN, and exp() of it is exactly 0 everywhere else.
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)  # (..., L, S), every row sums to 1
    if dropout > 0.0:
        weights = F.dropout(weights, p=dropout)
    output = weights @ value  # (..., L, d_v): each query's weighted average of the values
    return output, weights


def causal_mask(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(size, size)`` bool mask where query ``i`` may attend to keys ``0..i`` only.

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    expect_positive_int("size", size)
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Turn a ``(batch, S)`` mask of real tokens (1) and padding (0) into a key mask.

    Returns a bool tensor of shape ``(batch, 1, 1, S)``: it broadcasts over heads and queries,
    so no query attends to a padding key.
    """
    expect_padding_mask("attention_mask", attention_mask)
    return attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, S)


class MultiHeadAttention(nn.Module):
    """``num_heads`` attentions side by side, each on its own ``d_model / num_heads`` slice.

    Each head projects the input to its own queries, keys and values, attends, and the heads'
    outputs are concatenated and mixed by one output projection. One big ``nn.Linear`` per
    projection computes all heads at once; :meth:`split_heads` then cuts its output into heads.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        expect_head_split(d_model, num_heads)
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.dropout = expect_probability("dropout", dropout)
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        x = x.view(batch, seq, self.num_heads, self.d_head)  # (batch, seq, heads, d_head)
        return x.transpose(1, 2)  # (batch, heads, seq, d_head)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, seq, _ = x.shape
        x = x.transpose(1, 2)  # (batch, seq, heads, d_head)
        return x.reshape(batch, seq, self.d_model)  # (batch, seq, d_model)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Self-attention when only ``query`` is given; cross-attention with ``key``/``value``.

        Args:
            query: ``(batch, L, d_model)``.
            key, value: ``(batch, S, d_model)``; default to ``query`` (self-attention).
            mask: bool, broadcastable to ``(batch, heads, L, S)``; ``True`` = may attend.
                :func:`padding_mask` and :func:`causal_mask` make the usual ones.
            need_weights: return the per-head weights ``(batch, heads, L, S)``; when False the
                fused kernel is used and ``None`` comes back.

        Returns:
            ``(output (batch, L, d_model), weights (batch, heads, L, S) or None)``.
        """
        key = query if key is None else key
        value = key if value is None else value
        expect_multihead_inputs(query, key, value, self.d_model, self.num_heads, mask)

        q = self.split_heads(self.q_proj(query))  # (batch, heads, L, d_head)
        k = self.split_heads(self.k_proj(key))  # (batch, heads, S, d_head)
        v = self.split_heads(self.v_proj(value))  # (batch, heads, S, d_head)
        dropout = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product_attention(
            q, k, v, mask, dropout=dropout, need_weights=need_weights, checked=True
        )  # out: (batch, heads, L, d_head)
        return self.out_proj(self.merge_heads(out)), weights  # (batch, L, d_model)


@torch.no_grad()
def copy_from_torch_multihead(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> MultiHeadAttention:
    """Copy an ``nn.MultiheadAttention``'s weights into ours, so the two can be compared.

    PyTorch stores the three input projections stacked in one ``in_proj_weight`` of shape
    ``(3 * d_model, d_model)``: rows for queries, then keys, then values.
    """
    expect_copy_pair(ours, theirs, MultiHeadAttention, nn.MultiheadAttention)
    expect_same_multihead_layout(ours, theirs)
    has_bias = theirs.in_proj_bias is not None
    weights = theirs.in_proj_weight.chunk(3)  # 3 x (d_model, d_model)
    biases = theirs.in_proj_bias.chunk(3) if has_bias else (None, None, None)
    for proj, w, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), weights, biases):
        proj.weight.copy_(w)
        if b is not None:
            proj.bias.copy_(b)
    ours.out_proj.weight.copy_(theirs.out_proj.weight)
    if has_bias:
        ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours
