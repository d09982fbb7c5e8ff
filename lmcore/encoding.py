"""From texts to the batches a classifier reads: one view of a text, token ids, padded batches.

* :class:`TextView`: how a text is cut to fit the model, in one argument: its length in
  tokens, which part is kept when it is longer (the **head**, or the **head and tail**: Sun et
  al., 2019, found the end of a text often says as much as its beginning), and how many extra
  windows of a long text are read at prediction time;
* :func:`encode_texts`: WordPiece ids with ``[CLS]``/``[SEP]``, cut as the view says;
* :func:`encode_windows`: a long text as several windows, to average predictions over;
* :func:`length_bucketed_batches`: batches of similar lengths, padded only to their own longest
  text ("dynamic padding"), so short texts cost little;
* :func:`average_views`: each text's mean over its windows' predictions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import expect_int, expect_one_of, expect_positive_int, expect_probability, expect_texts

__all__ = [
    "TRUNCATIONS",
    "TextView",
    "encode_texts",
    "encode_windows",
    "length_bucketed_batches",
    "average_views",
    "check_labels",
]

TRUNCATIONS = ("head", "head+tail")


@dataclass(frozen=True)
class TextView:
    """How a text is read: at most ``max_length`` tokens, ``[CLS]`` and ``[SEP]`` included.

    ``truncation="head"`` keeps the first tokens of a longer text; ``"head+tail"`` keeps
    ``head_share`` of them (a quarter, as in Sun et al.) from its start and the rest from its
    end. ``windows``: at prediction time, a longer text is also read as up to this many windows
    of ``max_length`` tokens, and the predictions are averaged (:func:`encode_windows`).
    """

    max_length: int = 128
    truncation: str = "head"
    head_share: float = 0.25
    windows: int = 0

    def __post_init__(self):
        expect_positive_int("max_length", self.max_length)
        if self.max_length < 8:
            raise ValueError(
                f"max_length must be at least 8 to hold [CLS], [SEP] and some text; got {self.max_length}"
            )
        expect_one_of("truncation", self.truncation, TRUNCATIONS)
        expect_probability("head_share", self.head_share)
        expect_int("windows", self.windows, minimum=0)

    @property
    def budget(self) -> int:
        """The tokens of text between ``[CLS]`` and ``[SEP]``."""
        return self.max_length - 2

    @property
    def head(self) -> int:
        """How many of the budget's tokens come from the start of a text that is too long."""
        return self.budget if self.truncation == "head" else int(self.budget * self.head_share)


def _expect_view(view) -> TextView:
    if not isinstance(view, TextView):
        raise TypeError(f"view must be a TextView, such as TextView(max_length=128); got {view!r}")
    return view


def encode_texts(tokenizer, texts: Sequence[str], view: TextView = TextView()) -> list[list[int]]:
    """Token ids ``[CLS] ... [SEP]`` of at most ``view.max_length`` per text, cut as ``view`` says."""
    _expect_view(view)
    return [_truncated(tokenizer, ids, view) for ids in _wordpieces(tokenizer, texts)]


def encode_windows(
    tokenizer, texts: Sequence[str], view: TextView = TextView()
) -> tuple[list[list[int]], list[int]]:
    """Several views of each text, for averaging predictions at test time.

    Every text gets the view :func:`encode_texts` gives it (the one the model was trained on).
    A text longer than ``view.max_length`` also gets up to ``view.windows`` windows of that
    many tokens, evenly spaced so that the first starts at its first token and the last ends at
    its last token: together they let the model read the whole middle that truncation cut out.
    Returns ``(encodings, owners)``: ``owners[i]`` is the index of the text view ``i`` shows.
    """
    _expect_view(view)
    pieces = _wordpieces(tokenizer, texts)
    encodings = [_truncated(tokenizer, ids, view) for ids in pieces]
    owners = list(range(len(pieces)))
    budget = view.budget
    for owner, ids in enumerate(pieces):
        if len(ids) <= budget or view.windows == 0:
            continue
        count = min(view.windows, -(-len(ids) // budget))  # no more windows than cover the text
        for start in np.linspace(0, len(ids) - budget, count).round().astype(int):
            encodings.append(
                [tokenizer.cls_token_id] + ids[start : start + budget] + [tokenizer.sep_token_id]
            )
            owners.append(owner)
    return encodings, owners


def _truncated(tokenizer, ids: list[int], view: TextView) -> list[int]:
    budget, head = view.budget, view.head
    if len(ids) > budget:
        ids = ids[:head] + (ids[len(ids) - (budget - head) :] if budget > head else [])
    return [tokenizer.cls_token_id] + ids + [tokenizer.sep_token_id]


def _wordpieces(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    texts = expect_texts("texts", texts)
    # verbose=False: the tokenizer would warn that whole messages exceed 512 tokens; callers cut them
    return tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]


def length_bucketed_batches(
    encodings: Sequence[Sequence[int]],
    labels: Sequence[int] | None,
    batch_size: int,
    seed: int | None = 0,
    pad_id: int = 0,
    bucket_batches: int = 50,
) -> list[dict]:
    """Batches of texts of similar length, each padded to its own longest text.

    Texts are shuffled (``seed``; ``None`` keeps the order), cut into pools of
    ``bucket_batches`` batches, sorted by length inside each pool, and the batches are shuffled
    again, so training order stays random while padding shrinks. Every batch carries the texts'
    original ``index`` so predictions can be put back in order.
    """
    expect_positive_int("batch_size", batch_size)
    if not encodings:
        raise ValueError("encodings is empty: no texts to batch")
    if labels is not None:
        check_labels(labels, len(encodings))
    order = list(range(len(encodings)))
    rng = random.Random(seed)
    if seed is not None:
        rng.shuffle(order)
    pool = batch_size * bucket_batches
    groups = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(encodings[i]))
        groups += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if seed is not None:
        rng.shuffle(groups)
    batches = []
    for group in groups:
        longest = max(len(encodings[i]) for i in group)
        input_ids = torch.full((len(group), longest), pad_id, dtype=torch.long)  # (batch, longest)
        attention_mask = torch.zeros((len(group), longest), dtype=torch.long)  # 1 = real token
        for row, i in enumerate(group):
            input_ids[row, : len(encodings[i])] = torch.tensor(encodings[i])
            attention_mask[row, : len(encodings[i])] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "index": torch.tensor(group)}
        if labels is not None:
            batch["labels"] = torch.tensor([labels[i] for i in group])
        batches.append(batch)
    return batches


def check_labels(labels: Sequence[int], n_texts: int) -> None:
    """``labels``: one integer class id ``0..k-1`` per text."""
    if len(labels) != n_texts:
        raise ValueError(f"labels must have one entry per text: got {n_texts} texts but {len(labels)} labels")
    values = np.asarray(labels)
    if values.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class ids 0..k-1; got dtype {values.dtype}")
    if values.min() < 0:
        raise ValueError(f"labels must be class ids 0..k-1; got {values.min()}")


def average_views(view_probabilities: np.ndarray, owners: Sequence[int], n_texts: int) -> np.ndarray:
    """The mean of each text's view probabilities: ``(n_views, n_classes)`` -> ``(n_texts, n_classes)``."""
    if len(owners) != len(view_probabilities):
        raise ValueError(f"got {len(view_probabilities)} rows of probabilities but {len(owners)} owners")
    counts = np.bincount(owners, minlength=n_texts)
    if len(counts) != n_texts or (counts == 0).any():
        raise ValueError(f"owners must name every text 0..{n_texts - 1} at least once")
    summed = np.zeros((n_texts, view_probabilities.shape[1]))
    np.add.at(summed, owners, view_probabilities)
    return (summed / counts[:, None]).astype(view_probabilities.dtype)
