"""A tiny decoder-only language model (GPT-style) and sampling (chapter 6).

The decoder-only Transformer is the encoder stack of chapter 2 with one change: a **causal
mask**, so position ``t`` sees only positions ``0..t`` and can be trained to predict token
``t + 1`` at every position at once. GPT (Radford et al., 2018) and its successors are this
model, scaled up. Here it reads characters, so its vocabulary is tiny and it trains on a CPU in
minutes:

* :class:`CharTokenizer`: characters to ids and back;
* :class:`DecoderOnlyLM`: embeddings, pre-LN blocks with causal self-attention, a final
  LayerNorm and an output layer tied to the token embedding;
* :func:`random_windows` and :func:`next_token_loss`: training batches and their loss;
* :func:`top_k_filter` and :func:`generate`: sampling with a temperature and top-k.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (
    expect_int,
    expect_length_at_most,
    expect_number,
    expect_positive_int,
    expect_positive_ints,
    expect_sequence,
    expect_text,
    expect_token_ids,
)
from .attention import causal_mask
from .outputs import ModelOutput
from .runtime import evaluating
from .transformer import Encoder, LearnedPositionalEncoding

__all__ = ["CharTokenizer", "DecoderOnlyLM", "generate", "next_token_loss", "random_windows", "top_k_filter"]


class CharTokenizer:
    """One id per character seen in the training text; unseen characters map to ``unknown``."""

    def __init__(self, text: str, unknown: str = "?"):
        expect_text("text", text)
        self.characters = sorted(set(text) | {unknown})
        self.id_of = {c: i for i, c in enumerate(self.characters)}
        self.unknown_id = self.id_of[unknown]

    def __len__(self) -> int:
        return len(self.characters)

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor([self.id_of.get(c, self.unknown_id) for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [i for i in ids if not 0 <= int(i) < len(self)]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the vocabulary [0, {len(self)})")
        return "".join(self.characters[int(i)] for i in ids)


class DecoderOnlyLM(nn.Module):
    """``ids (batch, seq)`` -> next-token logits ``(batch, seq, vocab)``."""

    def __init__(
        self,
        vocab_size: int,
        context: int = 128,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 4,
        d_ff: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        expect_positive_ints(vocab_size=vocab_size, context=context, num_layers=num_layers)
        self.context = context
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position = LearnedPositionalEncoding(d_model, max_len=context, dropout=dropout)
        self.blocks = Encoder(
            num_layers, d_model, num_heads, d_ff or 4 * d_model, dropout, activation="gelu", norm_first=True
        )  # pre-LN, as in GPT-2
        self.output = nn.Linear(d_model, vocab_size, bias=False)
        self.output.weight = self.token_embedding.weight  # tied: one matrix reads and writes tokens
        # GPT-2's initialisation: small token and position vectors of the same scale, so neither
        # drowns the other (nn.Embedding's default std of 1 would bury the tokens under positions)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position.embedding.weight, std=0.02)

    def forward(
        self, ids: torch.Tensor, labels: torch.Tensor | None = None, need_weights: bool = False
    ) -> ModelOutput:
        """Next-token ``logits`` ``(batch, seq, vocab)``; with ``labels`` (the next tokens,
        ``(batch, seq)``), their mean cross-entropy in nats."""
        expect_token_ids("ids", ids, self.token_embedding.num_embeddings)
        expect_length_at_most("ids", ids, self.context, "context")
        x = self.position(self.token_embedding(ids))  # (batch, seq, d_model)
        x, weights = self.blocks(x, causal_mask(ids.shape[1], ids.device), need_weights)
        logits = self.output(x)  # (batch, seq, vocab)
        loss = (
            None
            if labels is None
            else F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        )
        return ModelOutput(logits=logits, loss=loss, attentions=weights)


def random_windows(ids: torch.Tensor, context: int, batch_size: int, steps: int, generator: torch.Generator):
    """``steps`` batches of ``(inputs, targets)``: random windows of ``context + 1`` tokens, the
    targets shifted by one position."""
    expect_positive_ints(context=context, batch_size=batch_size, steps=steps)
    expect_sequence("ids", ids, context + 2, f"longer than a window of context + 1 = {context + 1} tokens")
    batches = []
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - context - 1, (batch_size,), generator=generator)
        windows = torch.stack([ids[s : s + context + 1] for s in starts.tolist()])  # (batch, context + 1)
        batches.append((windows[:, :-1], windows[:, 1:]))
    return batches


def next_token_loss(model: DecoderOnlyLM, batch) -> torch.Tensor:
    """Mean cross-entropy of predicting every next token of the batch (in nats)."""
    inputs, targets = batch
    return model(inputs, labels=targets).loss


def top_k_filter(logits: torch.Tensor, k: int | None) -> torch.Tensor:
    """Keep the ``k`` largest logits in the last dimension, set the others to ``-inf``."""
    if k is None:
        return logits
    expect_positive_int("k", k)
    k = min(k, logits.shape[-1])
    threshold = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < threshold, float("-inf"))


def generate(
    model: DecoderOnlyLM,
    prompt: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Extend ``prompt`` (1-D ids) by sampling ``max_new_tokens`` tokens one at a time.

    Each step divides the last position's logits by ``temperature`` (below 1: sharper and
    safer; above 1: flatter and more surprising), keeps the ``top_k`` most likely tokens, and
    samples from the softmax. ``temperature=0`` means greedy: always the most likely token.
    """
    expect_sequence("prompt", prompt)
    expect_number("temperature", temperature, minimum=0.0)
    expect_int("max_new_tokens", max_new_tokens, minimum=0)
    ids = prompt.clone()
    with evaluating(model):
        for _ in range(max_new_tokens):
            logits = model(ids[-model.context :][None]).logits[0, -1]  # (vocab,) for the next token
            if temperature == 0:
                next_id = logits.argmax()
            else:
                probabilities = F.softmax(top_k_filter(logits / temperature, top_k), dim=-1)
                next_id = torch.multinomial(probabilities, 1, generator=generator)[0]
            ids = torch.cat([ids, next_id.view(1)])
    return ids
