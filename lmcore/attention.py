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
    expect_floating,
    expect_positive_int,
    expect_probability,
    expect_rank,
    expect_tensor,
)

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "MultiHeadAttention",
    "copy_from_torch_multihead",
]

_QKV_LAYOUT = "(seq, d), (batch, seq, d) or (batch, heads, seq, d)"


def _check_query_key_value(query, key, value) -> None:
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        expect_floating(name, tensor)
        expect_rank(name, tensor, (2, 3, 4), _QKV_LAYOUT)
    if not query.dim() == key.dim() == value.dim():
        raise ValueError(
            "query, key and value must have the same number of dimensions; got shapes "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if not query.dtype == key.dtype == value.dtype:
        raise ValueError(
            f"query, key and value must share one dtype; got {query.dtype}, {key.dtype}, {value.dtype}"
        )
    if not query.shape[:-2] == key.shape[:-2] == value.shape[:-2]:
        raise ValueError(
            "query, key and value must agree on their leading (batch, heads) dimensions; got shapes "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must have the same last dimension d_k (a dot product needs equal widths); "
            f"got query {tuple(query.shape)} and key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"key and value must have the same number of positions S (one value per key); "
            f"got key {tuple(key.shape)} and value {tuple(value.shape)}"
        )
    if query.shape[-2] == 0 or key.shape[-2] == 0:
        raise ValueError(
            f"attention needs at least one query and one key; got an empty sequence: "
            f"query {tuple(query.shape)}, key {tuple(key.shape)}"
        )
    if query.shape[-1] == 0:
        raise ValueError(f"d_k must be at least 1; got query {tuple(query.shape)}")


def _check_mask(mask, scores_shape: torch.Size) -> None:
    expect_tensor("mask", mask)
    if mask.dtype != torch.bool:
        raise TypeError(
            f"mask must be a bool tensor (True = may attend); got dtype {mask.dtype}. "
            "An additive float mask m converts with (m == 0)."
        )
    try:
        broadcast = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        broadcast = None
    if mask.dim() > len(scores_shape) or broadcast != scores_shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores' shape "
            f"{tuple(scores_shape)} (..., queries L, keys S)"
        )


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    dropout: float = 0.0,
    need_weights: bool = True,
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

    Returns:
        ``output`` of shape ``(..., L, d_v)`` and ``weights`` of shape ``(..., L, S)``,
        each row of the weights a probability distribution over the keys.
    """
    _check_query_key_value(query, key, value)
    scores_shape = query.shape[:-1] + key.shape[-2:-1]  # (..., L, S)
    if mask is not None:
        _check_mask(mask, scores_shape)
    dropout = expect_probability("dropout", dropout)

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
    expect_tensor("attention_mask", attention_mask)
    expect_rank("attention_mask", attention_mask, (2,), "(batch, seq)")
    if attention_mask.is_floating_point() or attention_mask.is_complex():
        raise ValueError(
            f"attention_mask must hold 0/1 integers or bools; got dtype {attention_mask.dtype}"
        )
    if attention_mask.dtype != torch.bool and not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ValueError("attention_mask must contain only 0 (padding) and 1 (real token)")
    return attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, S)


class MultiHeadAttention(nn.Module):
    """``num_heads`` attentions side by side, each on its own ``d_model / num_heads`` slice.

    Each head projects the input to its own queries, keys and values, attends, and the heads'
    outputs are concatenated and mixed by one output projection. One big ``nn.Linear`` per
    projection computes all heads at once; :meth:`split_heads` then cuts its output into heads.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        expect_positive_int("d_model", d_model)
        expect_positive_int("num_heads", num_heads)
        if d_model % num_heads:
            raise ValueError(
                f"d_model must be divisible by num_heads; got d_model={d_model}, num_heads={num_heads}"
            )
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

    def _check_inputs(self, query, key, value) -> None:
        layout = "(batch, seq, d_model)"
        for name, tensor in (("query", query), ("key", key), ("value", value)):
            expect_floating(name, tensor)
            expect_rank(name, tensor, (3,), layout)
            if tensor.shape[-1] != self.d_model:
                raise ValueError(
                    f"{name} must have last dimension d_model={self.d_model}; got shape {tuple(tensor.shape)}"
                )
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(
                f"query, key and value must have the same batch size; got shapes "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must have the same length; got {tuple(key.shape)} and {tuple(value.shape)}"
            )

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
        self._check_inputs(query, key, value)

        q = self.split_heads(self.q_proj(query))  # (batch, heads, L, d_head)
        k = self.split_heads(self.k_proj(key))  # (batch, heads, S, d_head)
        v = self.split_heads(self.v_proj(value))  # (batch, heads, S, d_head)
        out, weights = scaled_dot_product_attention(
            q, k, v, mask, dropout=self.dropout if self.training else 0.0, need_weights=need_weights
        )  # out: (batch, heads, L, d_head)
        return self.out_proj(self.merge_heads(out)), weights  # (batch, L, d_model)


@torch.no_grad()
def copy_from_torch_multihead(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> MultiHeadAttention:
    """Copy an ``nn.MultiheadAttention``'s weights into ours, so the two can be compared.

    PyTorch stores the three input projections stacked in one ``in_proj_weight`` of shape
    ``(3 * d_model, d_model)``: rows for queries, then keys, then values.
    """
    if not isinstance(ours, MultiHeadAttention) or not isinstance(theirs, nn.MultiheadAttention):
        raise TypeError(
            "expected (lmcore MultiHeadAttention, torch.nn.MultiheadAttention); got "
            f"({type(ours).__name__}, {type(theirs).__name__})"
        )
    if theirs.in_proj_weight is None:
        raise ValueError("nn.MultiheadAttention with separate kdim/vdim is not supported")
    if (theirs.embed_dim, theirs.num_heads) != (ours.d_model, ours.num_heads):
        raise ValueError(
            f"sizes differ: ours d_model={ours.d_model}, heads={ours.num_heads}; "
            f"theirs embed_dim={theirs.embed_dim}, heads={theirs.num_heads}"
        )
    has_bias = theirs.in_proj_bias is not None
    if has_bias != (ours.q_proj.bias is not None):
        raise ValueError(f"bias differs: ours {ours.q_proj.bias is not None}, theirs {has_bias}")
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
