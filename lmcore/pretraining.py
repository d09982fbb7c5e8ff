"""BERT's two pretraining tasks: the masked language model (MLM) and next-sentence prediction (NSP).

* :func:`mask_tokens` picks 15% of the real tokens; of those, 80% become ``[MASK]``, 10% a
  random token and 10% stay as they are. The model must restore the picked tokens. (Keeping
  some tokens unchanged means the model cannot assume that only ``[MASK]`` positions matter;
  random replacements force it to doubt every token a little.)
* :func:`make_nsp_pairs` builds sentence pairs: half the time B really follows A in the same
  document (label 0, *IsNext*), half the time B comes from another document (label 1, *NotNext*).
  NSP is a binary classification, nothing more.
* :class:`PretrainingObjective` turns a batch into the sum of both losses, masking afresh every
  time it sees a batch ("dynamic masking", as RoBERTa does), and reports accuracies.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import torch

from ._checks import (
    expect_id,
    expect_int,
    expect_positive_int,
    expect_token_ids,
)
from .bert import IGNORE_INDEX  # label of positions the MLM loss skips

__all__ = [
    "IGNORE_INDEX",
    "mask_tokens",
    "split_sentences",
    "make_nsp_pairs",
    "encode_pairs",
    "PretrainingObjective",
]


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_id: int,
    special_ids: Sequence[int],
    vocab_size: int,
    attention_mask: torch.Tensor | None = None,
    probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt ``input_ids`` for the MLM task.

    Each real token (not special, not padding) is picked with ``probability``. Picked tokens
    become ``mask_id`` (80%), a random non-special token (10%) or stay unchanged (10%).

    Returns ``(corrupted ids, labels)``: ``labels`` holds the original id at picked positions and
    :data:`IGNORE_INDEX` everywhere else, so the loss is computed on the picked positions only.
    """
    expect_positive_int("vocab_size", vocab_size)
    expect_token_ids("input_ids", input_ids, vocab_size, "(batch, seq)")
    expect_id("mask_id", mask_id, vocab_size, "vocab_size")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)):
        raise TypeError(f"probability must be a number in (0, 1); got {probability!r}")
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability must be in (0, 1); got {probability}")
    if isinstance(special_ids, (str, bytes)) or not all(isinstance(i, int) for i in special_ids):
        raise TypeError(f"special_ids must be a list of int ids; got {special_ids!r}")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}; got {tuple(attention_mask.shape)}"
        )
    special = torch.isin(input_ids, torch.tensor(list(special_ids), device=input_ids.device))
    if attention_mask is not None:
        special |= attention_mask == 0  # padding is never picked
    if input_ids.device.type == "cpu" and bool(special.all()):  # (read on the CPU only: no host sync)
        raise ValueError("input_ids holds only special tokens and padding: there is no real token to mask")
    rand = lambda: torch.rand(input_ids.shape, generator=generator, device=input_ids.device)  # noqa: E731

    picked = (rand() < probability) & ~special
    labels = torch.where(picked, input_ids, torch.full_like(input_ids, IGNORE_INDEX))

    choice = rand()  # one draw decides between [MASK] (< 0.8), random (< 0.9) and unchanged
    to_mask = picked & (choice < 0.8)
    to_random = picked & (choice >= 0.8) & (choice < 0.9)
    candidates = torch.tensor(sorted(set(range(vocab_size)) - set(special_ids)), device=input_ids.device)
    random_ids = candidates[
        torch.randint(len(candidates), input_ids.shape, generator=generator, device=input_ids.device)
    ]

    corrupted = input_ids.clone()
    corrupted[to_mask] = mask_id
    corrupted[to_random] = random_ids[to_random]
    return corrupted, labels


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def split_sentences(text: str, min_words: int = 4, max_words: int = 60) -> list[str]:
    """A simple sentence splitter: break after ``.``, ``!`` or ``?`` followed by a capital letter;
    join wrapped lines; keep sentences of ``min_words`` to ``max_words`` words (longer "sentences"
    in newsgroup posts are mostly code, tables or signatures)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string; got {type(text).__name__}")
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if min_words <= len(s.split()) <= max_words]


def make_nsp_pairs(documents: Sequence[Sequence[str]], seed: int = 0) -> list[tuple[str, str, int]]:
    """``(sentence A, sentence B, label)`` for every pair of consecutive sentences.

    With probability 0.5, B is the sentence that really follows A (label 0, IsNext); otherwise
    B is a random sentence of a *different* document (label 1, NotNext).
    """
    usable = [i for i, doc in enumerate(documents) if len(doc) >= 2]
    if len(usable) < 2:
        raise ValueError(f"need at least 2 documents with 2 or more sentences; got {len(usable)}")
    rng = random.Random(seed)
    pairs = []
    for i in usable:
        document = documents[i]
        for a, b in zip(document[:-1], document[1:]):
            if rng.random() < 0.5:
                pairs.append((a, b, 0))
            else:
                other = rng.choice(usable)
                while other == i:
                    other = rng.choice(usable)
                pairs.append((a, rng.choice(documents[other]), 1))
    return pairs


def encode_pairs(
    tokenizer, pairs: Sequence[tuple[str, str, int]], max_length: int, batch_size: int
) -> list[dict]:
    """Tokenize pairs as ``[CLS] A [SEP] B [SEP]`` in batches (padded per batch; segment ids 0
    for A and 1 for B; the longer sentence is cut first when a pair exceeds ``max_length``)."""
    expect_int("max_length", max_length, minimum=4)  # [CLS] A [SEP] B [SEP] needs room for a token of each
    expect_positive_int("batch_size", batch_size)
    batches = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        encoded = tokenizer(
            [a for a, _, _ in chunk],
            [b for _, b, _ in chunk],
            truncation="longest_first",
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        batches.append(
            {
                "input_ids": encoded["input_ids"],
                "token_type_ids": encoded["token_type_ids"],
                "attention_mask": encoded["attention_mask"],
                "nsp_labels": torch.tensor([label for _, _, label in chunk]),
            }
        )
    return batches


class PretrainingObjective:
    """``loss = MLM cross-entropy (picked positions only) + NSP cross-entropy``.

    Called as ``objective(model, batch)`` by :func:`lmcore.train.fit`; each call masks the batch
    afresh with the objective's own seeded generator. :meth:`evaluate` reports the two losses
    and accuracies on fixed, pre-masked batches.
    """

    def __init__(self, tokenizer, seed: int = 0, probability: float = 0.15):
        if getattr(tokenizer, "mask_token_id", None) is None:
            raise ValueError("tokenizer has no mask token ([MASK]): the masked-language-model task needs one")
        self.mask_id = tokenizer.mask_token_id
        self.special_ids = list(tokenizer.all_special_ids)
        self.vocab_size = len(tokenizer)
        self.probability = probability
        self.generator = torch.Generator().manual_seed(seed)

    def mask(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        corrupted, labels = mask_tokens(
            batch["input_ids"].cpu(),
            mask_id=self.mask_id,
            special_ids=self.special_ids,
            vocab_size=self.vocab_size,
            attention_mask=batch["attention_mask"].cpu(),
            probability=self.probability,
            generator=self.generator,
        )
        device = batch["input_ids"].device
        return corrupted.to(device), labels.to(device)

    @staticmethod
    def losses(
        model, batch: dict, corrupted: torch.Tensor, labels: torch.Tensor, counts: bool = False
    ) -> dict:
        """The model's two losses on one masked batch, through its own forward (so a
        ``DistributedDataParallel`` wrapper works too); with ``counts``, the correct predictions."""
        output = model(
            corrupted,
            batch["attention_mask"],
            batch["token_type_ids"],
            labels=labels,
            next_sentence_label=batch["nsp_labels"],
        )
        result = {"mlm_loss": output.mlm_loss, "nsp_loss": output.nsp_loss}
        if counts:  # accuracies cost an argmax over the vocabulary: only when evaluating
            targets = labels[labels != IGNORE_INDEX]  # the order of output.logits' rows
            result["mlm_correct"] = (output.logits.argmax(-1) == targets).sum()
            result["mlm_count"] = torch.tensor(len(targets))
            result["nsp_correct"] = (output.seq_relationship_logits.argmax(-1) == batch["nsp_labels"]).sum()
            result["nsp_count"] = torch.tensor(len(batch["nsp_labels"]))
        return result

    def __call__(self, model, batch: dict) -> torch.Tensor:
        corrupted, labels = self.mask(batch)
        return model(
            corrupted,
            batch["attention_mask"],
            batch["token_type_ids"],
            labels=labels,
            next_sentence_label=batch["nsp_labels"],
        ).loss

    def fixed_masks(
        self, batches: Sequence[dict], seed: int = 1234
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One masking per evaluation batch, drawn once, so every evaluation scores the same task."""
        saved, self.generator = self.generator, torch.Generator().manual_seed(seed)
        try:
            return [self.mask(batch) for batch in batches]
        finally:
            self.generator = saved

    @torch.no_grad()
    def evaluate(self, model, batches: Sequence[dict], masks) -> dict:
        totals = {
            "mlm_loss": 0.0,
            "nsp_loss": 0.0,
            "mlm_correct": 0,
            "mlm_count": 0,
            "nsp_correct": 0,
            "nsp_count": 0,
        }
        device = next(model.parameters()).device
        for batch, (corrupted, labels) in zip(batches, masks):
            batch = {k: v.to(device) for k, v in batch.items()}
            result = self.losses(model, batch, corrupted.to(device), labels.to(device), counts=True)
            for key in totals:
                weight = len(batch["nsp_labels"]) if key.endswith("loss") else 1
                totals[key] += float(result[key]) * weight
        n = sum(len(b["nsp_labels"]) for b in batches)
        return {
            "mlm_loss": totals["mlm_loss"] / n,
            "nsp_loss": totals["nsp_loss"] / n,
            "mlm_accuracy": totals["mlm_correct"] / totals["mlm_count"],
            "nsp_accuracy": totals["nsp_correct"] / totals["nsp_count"],
        }
