"""What every lmcore model returns.

Every model is called the same way: ``model(inputs..., labels=None, need_weights=False)``.
The answer is a small dataclass: ``logits`` always, ``loss`` when ``labels`` were given (so a
training loop needs nothing but ``model(..., labels=...).loss``), and every layer's attention
weights in ``attentions`` when ``need_weights=True`` (otherwise PyTorch's fused attention kernel
runs, and no weights are ever materialised). Field names follow Hugging Face ``transformers``
where lmcore models the same thing, so a reader can move between the two.

The encoder alone (:class:`lmcore.bert.BertModel`) predicts nothing: it returns token vectors.
Layers (attention, encoder and decoder layers) are not models: like
``torch.nn.MultiheadAttention`` they return ``(output, weights)``, with ``None`` for weights
that were not asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ModelOutput", "BertModelOutput", "BertForPreTrainingOutput", "Seq2SeqOutput"]


@dataclass
class ModelOutput:
    """``logits``; ``loss`` (a scalar) if labels were given; ``attentions`` if asked for."""

    logits: torch.Tensor | None = None
    loss: torch.Tensor | None = None
    attentions: list[torch.Tensor] | None = None  # per layer (batch, heads, seq, seq)


@dataclass
class BertModelOutput:
    """:class:`lmcore.bert.BertModel`'s output: token vectors and the pooled ``[CLS]`` vector.
    No ``logits`` and no ``loss``: the encoder alone predicts nothing (Hugging Face's
    ``BaseModelOutputWithPooling``)."""

    last_hidden_state: torch.Tensor  # (batch, seq, hidden)
    pooler_output: torch.Tensor  # (batch, hidden): tanh(W h_[CLS] + b)
    attentions: list[torch.Tensor] | None = None  # per layer (batch, heads, seq, seq), if asked for


@dataclass
class BertForPreTrainingOutput(ModelOutput):
    """``logits``: masked-language-model scores over the vocabulary (Hugging Face calls them
    ``prediction_logits``); ``seq_relationship_logits``: next-sentence scores ``(batch, 2)``;
    ``loss = mlm_loss + nsp_loss`` when labels were given."""

    seq_relationship_logits: torch.Tensor | None = None
    mlm_loss: torch.Tensor | None = None
    nsp_loss: torch.Tensor | None = None


@dataclass
class Seq2SeqOutput(ModelOutput):
    """``attentions`` are the decoder's self-attention weights; the encoder's and the
    decoder-to-encoder (cross) weights come separately."""

    encoder_attentions: list[torch.Tensor] | None = None
    cross_attentions: list[torch.Tensor] | None = None
