"""The Transformer of "Attention Is All You Need" (Vaswani et al., 2017), written to be read.

Pieces, from small to large:

* :func:`sinusoidal_positional_encoding`, :class:`PositionalEncoding`,
  :class:`LearnedPositionalEncoding`: how a model that attends to a *set* learns word order;
* :class:`FeedForward`: the position-wise two-layer network;
* :class:`EncoderLayer`: self-attention, then feed-forward, each wrapped in a residual
  connection and LayerNorm;
* :class:`DecoderLayer`: causal self-attention, cross-attention to the encoder's output, then
  feed-forward;
* :class:`Encoder`, :class:`Decoder`: stacks of layers;
* :class:`Seq2SeqTransformer`: embeddings + encoder + decoder + output projection, with
  :meth:`~Seq2SeqTransformer.greedy_decode`.

Every layer returns its attention weights next to its output, so the chapters can draw them.
``norm_first=False`` (the default) is the paper's post-LayerNorm layout,
``x = LN(x + Sublayer(x))``; ``norm_first=True`` is the pre-LayerNorm layout most later models
use, ``x = x + Sublayer(LN(x))``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (
    expect_copy_pair,
    expect_decoder_inputs,
    expect_even,
    expect_id,
    expect_length_at_most,
    expect_one_of,
    expect_positive_int,
    expect_positive_ints,
    expect_probability,
    expect_rank,
    expect_same_batch,
    expect_token_ids,
)
from .attention import MultiHeadAttention, causal_mask, copy_from_torch_multihead, padding_mask
from .outputs import Seq2SeqOutput
from .runtime import evaluating

__all__ = [
    "sinusoidal_positional_encoding",
    "PositionalEncoding",
    "LearnedPositionalEncoding",
    "FeedForward",
    "EncoderLayer",
    "DecoderLayer",
    "Encoder",
    "Decoder",
    "Seq2SeqTransformer",
    "teacher_forcing_loss",
    "translate",
    "copy_from_torch_encoder_layer",
    "copy_from_torch_decoder_layer",
]

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def sinusoidal_positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """The fixed encodings of the paper, shape ``(max_len, d_model)``::

        PE[p, 2i]     = sin(p / 10000^(2i / d_model))
        PE[p, 2i + 1] = cos(p / 10000^(2i / d_model))

    Each pair of columns is a sine and a cosine of one frequency, so moving ``k`` positions
    rotates every pair by a fixed angle: ``PE[p + k]`` is a linear function of ``PE[p]``.
    """
    expect_positive_int("max_len", max_len)
    expect_even("d_model", d_model, "sinusoidal encodings pair a sine with a cosine")
    position = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    frequency = torch.pow(
        10_000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model
    )  # (d_model/2,)
    angle = position * frequency  # (max_len, d_model/2)
    encoding = torch.zeros(max_len, d_model, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(angle)
    encoding[:, 1::2] = torch.cos(angle)
    return encoding.float()


class PositionalEncoding(nn.Module):
    """Add the fixed sinusoidal encodings to a batch of embeddings ``(batch, seq, d_model)``."""

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(expect_probability("dropout", dropout))
        self.register_buffer("encoding", sinusoidal_positional_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expect_rank("x", x, (3,), "(batch, seq, d_model)")
        expect_length_at_most("x", x, self.max_len, "max_len")
        return self.dropout(x + self.encoding[: x.shape[1]].to(x.dtype))  # (batch, seq, d_model)


class LearnedPositionalEncoding(nn.Module):
    """Add one learned vector per position, as BERT and GPT do."""

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(expect_probability("dropout", dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expect_rank("x", x, (3,), "(batch, seq, d_model)")
        expect_length_at_most("x", x, self.max_len, "max_len")
        positions = torch.arange(x.shape[1], device=x.device)
        return self.dropout(x + self.embedding(positions))  # (batch, seq, d_model)


class FeedForward(nn.Module):
    """``FFN(x) = W_2 act(W_1 x + b_1) + b_2``, applied to every position separately."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu"):
        super().__init__()
        expect_one_of("activation", activation, ACTIVATIONS)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(expect_probability("dropout", dropout))
        self.activation = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))  # (batch, seq, d_model)


class EncoderLayer(nn.Module):
    """Self-attention and a feed-forward network, each with a residual connection and LayerNorm.

    Post-LN (the paper):  ``x = LN(x + SA(x))``, then ``x = LN(x + FFN(x))``.
    Pre-LN:               ``x = x + SA(LN(x))``, then ``x = x + FFN(LN(x))``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x``: ``(batch, seq, d_model)``; ``mask``: bool, ``True`` = may attend (see
        :func:`lmcore.padding_mask`). Returns ``(x, weights (batch, heads, seq, seq))``."""
        if self.norm_first:
            attended, weights = self.self_attn(self.norm1(x), mask=mask, need_weights=need_weights)
            x = x + self.dropout1(attended)
            x = x + self.dropout2(self.feed_forward(self.norm2(x)))
        else:
            attended, weights = self.self_attn(x, mask=mask, need_weights=need_weights)
            x = self.norm1(x + self.dropout1(attended))
            x = self.norm2(x + self.dropout2(self.feed_forward(x)))
        return x, weights


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder's output, and a feed-forward network.

    In cross-attention the *queries* come from the decoder and the *keys and values* from the
    encoder's output (``memory``): each target position looks at every source position.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(
        self,
        y: torch.Tensor,
        memory: torch.Tensor,
        self_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``y``: target ``(batch, T, d_model)``; ``memory``: encoder output ``(batch, S, d_model)``.

        ``self_mask`` is usually :func:`lmcore.causal_mask` (combined with target padding);
        ``memory_mask`` hides source padding. Returns ``(y, self_weights (batch, heads, T, T),
        cross_weights (batch, heads, T, S))``.
        """
        expect_decoder_inputs(y, memory, self.self_attn.d_model)
        if self.norm_first:
            attended, self_weights = self.self_attn(self.norm1(y), mask=self_mask, need_weights=need_weights)
            y = y + self.dropout1(attended)
            attended, cross_weights = self.cross_attn(
                self.norm2(y), memory, memory, mask=memory_mask, need_weights=need_weights
            )
            y = y + self.dropout2(attended)
            y = y + self.dropout3(self.feed_forward(self.norm3(y)))
        else:
            attended, self_weights = self.self_attn(y, mask=self_mask, need_weights=need_weights)
            y = self.norm1(y + self.dropout1(attended))
            attended, cross_weights = self.cross_attn(
                y, memory, memory, mask=memory_mask, need_weights=need_weights
            )
            y = self.norm2(y + self.dropout2(attended))
            y = self.norm3(y + self.dropout3(self.feed_forward(y)))
        return y, self_weights, cross_weights


class _LayerStack(nn.Module):
    """``num_layers`` layers of one type, built alike; a pre-LN stack ends with one more
    LayerNorm (each post-LN layer already ends with its own)."""

    layer_type: type[nn.Module]

    def __init__(
        self, num_layers: int, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1, **layer_options
    ):
        super().__init__()
        expect_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(
            self.layer_type(d_model, num_heads, d_ff, dropout, **layer_options) for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(d_model) if layer_options.get("norm_first") else nn.Identity()


class Encoder(_LayerStack):
    """A stack of encoder layers; pre-LN stacks end with one more LayerNorm."""

    layer_type = EncoderLayer

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """Returns the output ``(batch, seq, d_model)`` and, with ``need_weights``, one weight
        tensor per layer (else ``None``)."""
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, mask, need_weights)
            weights.append(layer_weights)
        return self.final_norm(x), weights if need_weights else None


class Decoder(_LayerStack):
    """A stack of decoder layers; pre-LN stacks end with one more LayerNorm."""

    layer_type = DecoderLayer

    def forward(
        self,
        y: torch.Tensor,
        memory: torch.Tensor,
        self_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, list | None, list | None]:
        """Returns the output and, with ``need_weights``, the self-attention and cross-attention
        weights per layer (else ``None`` for both)."""
        self_weights, cross_weights = [], []
        for layer in self.layers:
            y, layer_self, layer_cross = layer(y, memory, self_mask, memory_mask, need_weights)
            self_weights.append(layer_self)
            cross_weights.append(layer_cross)
        if not need_weights:
            return self.final_norm(y), None, None
        return self.final_norm(y), self_weights, cross_weights


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder Transformer for sequence-to-sequence tasks such as translation.

    Token ids in, next-token logits out. ``pad_id`` marks padding in both source and target.
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        d_model: int = 64,
        num_heads: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        d_ff: int = 128,
        dropout: float = 0.1,
        max_len: int = 64,
        pad_id: int = 0,
        norm_first: bool = False,
    ):
        super().__init__()
        expect_positive_ints(source_vocab_size=source_vocab_size, target_vocab_size=target_vocab_size)
        expect_id("pad_id", pad_id, min(source_vocab_size, target_vocab_size), "the smaller vocabulary size")
        self.d_model, self.pad_id, self.max_len = d_model, pad_id, max_len
        self.source_embedding = nn.Embedding(source_vocab_size, d_model, padding_idx=pad_id)
        self.target_embedding = nn.Embedding(target_vocab_size, d_model, padding_idx=pad_id)
        self.positional_encoding = PositionalEncoding(d_model, max_len, dropout)
        self.encoder = Encoder(num_encoder_layers, d_model, num_heads, d_ff, dropout, norm_first=norm_first)
        self.decoder = Decoder(num_decoder_layers, d_model, num_heads, d_ff, dropout, norm_first=norm_first)
        self.output = nn.Linear(d_model, target_vocab_size)

    def _check_ids(self, name: str, ids: torch.Tensor, embedding: nn.Embedding) -> None:
        expect_token_ids(name, ids, embedding.num_embeddings)
        expect_length_at_most(name, ids, self.max_len, "max_len")

    def embed(self, ids: torch.Tensor, embedding: nn.Embedding) -> torch.Tensor:
        # The paper multiplies embeddings by sqrt(d_model) so they are not drowned by the encodings.
        return self.positional_encoding(embedding(ids) * math.sqrt(self.d_model))  # (batch, seq, d_model)

    def encode(self, source: torch.Tensor, need_weights: bool = False):
        """``source`` ids ``(batch, S)`` -> memory ``(batch, S, d_model)``, source key mask, weights."""
        self._check_ids("source", source, self.source_embedding)
        source_mask = padding_mask(source != self.pad_id)  # (batch, 1, 1, S)
        memory, weights = self.encoder(self.embed(source, self.source_embedding), source_mask, need_weights)
        return memory, source_mask, weights

    def decode(
        self,
        target_in: torch.Tensor,
        memory: torch.Tensor,
        source_mask: torch.Tensor,
        need_weights: bool = False,
    ):
        """Target ids so far ``(batch, T)`` -> logits ``(batch, T, vocab)`` and the decoder's weights."""
        self._check_ids("target", target_in, self.target_embedding)
        expect_same_batch("memory", memory, "target", target_in)
        length = target_in.shape[1]
        self_mask = causal_mask(length, device=target_in.device) & padding_mask(target_in != self.pad_id)
        y, self_weights, cross_weights = self.decoder(
            self.embed(target_in, self.target_embedding), memory, self_mask, source_mask, need_weights
        )
        return self.output(y), self_weights, cross_weights

    def forward(
        self,
        source: torch.Tensor,
        target_in: torch.Tensor,
        labels: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> Seq2SeqOutput:
        """Teacher forcing: ``logits`` for every next target token, ``(batch, T, target_vocab)``.
        With ``labels`` (the next tokens, ``(batch, T)``), their cross-entropy; padding is skipped."""
        memory, source_mask, encoder_weights = self.encode(source, need_weights)
        logits, self_weights, cross_weights = self.decode(target_in, memory, source_mask, need_weights)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=self.pad_id
            )
        return Seq2SeqOutput(
            logits=logits,
            loss=loss,
            attentions=self_weights,
            encoder_attentions=encoder_weights,
            cross_attentions=cross_weights,
        )

    def greedy_decode(
        self, source: torch.Tensor, bos_id: int, eos_id: int, max_new_tokens: int | None = None
    ):
        """Generate one token at a time, always the most likely, until every row has emitted
        ``eos_id`` or ``max_new_tokens`` tokens were made. Returns ids ``(batch, T)`` starting
        with ``bos_id``, padded with ``pad_id`` after each row's end."""
        if max_new_tokens is not None:
            expect_positive_int("max_new_tokens", max_new_tokens)
        with evaluating(self):
            memory, source_mask, _ = self.encode(source)
            limit = self.max_len if max_new_tokens is None else min(max_new_tokens + 1, self.max_len)
            generated = torch.full((source.shape[0], 1), bos_id, dtype=torch.long, device=source.device)
            finished = torch.zeros(source.shape[0], dtype=torch.bool, device=source.device)
            while generated.shape[1] < limit and not finished.all():
                logits, _, _ = self.decode(generated, memory, source_mask)
                next_token = logits[:, -1].argmax(dim=-1)  # (batch,)
                next_token = next_token.masked_fill(finished, self.pad_id)
                generated = torch.cat([generated, next_token[:, None]], dim=1)
                finished |= next_token == eos_id
        return generated


def teacher_forcing_loss(model: Seq2SeqTransformer, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy of predicting every next target token from the true tokens before it.

    The decoder reads ``<bos> y1 ... yn`` and must output ``y1 ... yn <eos>``: one position
    shifted. Thanks to the causal mask all positions train at once, in parallel.
    """
    source, target = batch
    return model(source, target[:, :-1], labels=target[:, 1:]).loss


def translate(
    model: Seq2SeqTransformer, sources, source_vocab, target_vocab, batch_size: int = 512
) -> list[list[str]]:
    """Greedy translations of lists of source tokens, as lists of target tokens."""
    from .data import pad_batch

    outputs = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        ids = pad_batch([source_vocab.encode(s) for s in chunk], source_vocab.pad_id)
        generated = model.greedy_decode(
            ids.to(next(model.parameters()).device), target_vocab.bos_id, target_vocab.eos_id
        )
        outputs += [target_vocab.decode(row.tolist()) for row in generated]
    return outputs


# ----------------------------------------------------------- comparison with PyTorch's layers


@torch.no_grad()
def _copy_common(ours, theirs, norms: int) -> None:
    ours.feed_forward.linear1.load_state_dict(theirs.linear1.state_dict())
    ours.feed_forward.linear2.load_state_dict(theirs.linear2.state_dict())
    for i in range(1, norms + 1):
        getattr(ours, f"norm{i}").load_state_dict(getattr(theirs, f"norm{i}").state_dict())


def copy_from_torch_encoder_layer(ours: EncoderLayer, theirs: nn.TransformerEncoderLayer) -> EncoderLayer:
    """Copy an ``nn.TransformerEncoderLayer``'s weights into an :class:`EncoderLayer`."""
    expect_copy_pair(ours, theirs, EncoderLayer, nn.TransformerEncoderLayer)
    copy_from_torch_multihead(ours.self_attn, theirs.self_attn)
    _copy_common(ours, theirs, norms=2)
    return ours


def copy_from_torch_decoder_layer(ours: DecoderLayer, theirs: nn.TransformerDecoderLayer) -> DecoderLayer:
    """Copy an ``nn.TransformerDecoderLayer``'s weights into a :class:`DecoderLayer`."""
    expect_copy_pair(ours, theirs, DecoderLayer, nn.TransformerDecoderLayer)
    copy_from_torch_multihead(ours.self_attn, theirs.self_attn)
    copy_from_torch_multihead(ours.cross_attn, theirs.multihead_attn)
    _copy_common(ours, theirs, norms=3)
    return ours
