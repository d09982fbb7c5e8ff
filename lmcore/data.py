"""Data for the chapters: vocabularies, padding, and a toy translation task made in code.

The toy task (chapter 2) translates dates written in English words into ISO dates::

    "the twenty first of june two thousand and four"  ->  "2004-06-21"

A reader understands it at a glance, it needs no download, and it has real structure for
attention to find: each output digit depends on a few specific input words (the month digits on
the month's name, the day digits on the ordinal, the year digits on the year words).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch

from ._checks import expect_int, expect_positive_int

__all__ = [
    "Vocabulary",
    "pad_batch",
    "date_in_words",
    "DatePair",
    "translation_batches",
    "make_date_translation_data",
    "ISO_ROLES",
]


class Vocabulary:
    """Maps tokens to ids and back. Ids 0-3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``."""

    PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
    SPECIALS = (PAD, BOS, EOS, UNK)

    def __init__(self, tokens: Iterable[str]):
        ordered = list(self.SPECIALS) + sorted(set(tokens) - set(self.SPECIALS))
        self.id_of = {token: i for i, token in enumerate(ordered)}
        self.tokens = ordered
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = range(4)

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens: {self.tokens[4:12]}...)"

    def encode(self, tokens: Sequence[str], add_bos: bool = False, add_eos: bool = False) -> list[int]:
        if isinstance(tokens, str):  # a string would be read one character at a time
            raise TypeError(
                f"tokens must be a list of tokens, not a string ({tokens[:40]!r}); "
                "split it first (text.split()), or wrap one token in a list"
            )
        ids = [self.id_of.get(token, self.unk_id) for token in tokens]
        return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to the first ``<eos>``, without ``<pad>`` and ``<bos>``."""
        tokens = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self):
                raise ValueError(f"id {i} is outside the vocabulary [0, {len(self)})")
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                tokens.append(self.tokens[i])
        return tokens


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> torch.Tensor:
    """Right-pad lists of ids to one length: ``(batch, longest)`` int64."""
    expect_int("pad_id", pad_id, minimum=0)
    if isinstance(sequences, (str, bytes)) or any(isinstance(s, (str, bytes)) for s in sequences):
        raise TypeError("sequences must hold lists of int ids, not strings; encode the tokens first")
    if not sequences:
        raise ValueError("sequences is empty: pad_batch needs at least one sequence")
    longest = max(len(s) for s in sequences)
    if longest == 0:
        raise ValueError("sequences holds only empty sequences: nothing to pad")
    batch = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        batch[row, : len(sequence)] = torch.as_tensor(list(sequence), dtype=torch.long)
    return batch


# ------------------------------------------------------------------ dates in words

_UNITS = "zero one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
_ORDINAL_UNITS = "first second third fourth fifth sixth seventh eighth ninth".split()
_ORDINAL_TEENS = "tenth eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split()
_MONTHS = "january february march april may june july august september october november december".split()


def _number(n: int) -> list[str]:
    """0-99 in words: 7 -> [seven], 42 -> [forty, two]."""
    if n < 10:
        return [_UNITS[n]]
    if n < 20:
        return [_TEENS[n - 10]]
    tens, units = divmod(n, 10)
    return [_TENS[tens]] + ([_UNITS[units]] if units else [])


def _ordinal(n: int) -> list[str]:
    """1-31 as an ordinal: 3 -> [third], 21 -> [twenty, first], 30 -> [thirtieth]."""
    if n < 10:
        return [_ORDINAL_UNITS[n - 1]]
    if n < 20:
        return [_ORDINAL_TEENS[n - 10]]
    tens, units = divmod(n, 10)
    if units == 0:
        return [{2: "twentieth", 3: "thirtieth"}[tens]]
    return [_TENS[tens], _ORDINAL_UNITS[units - 1]]


def _year(year: int, rng: random.Random) -> list[str]:
    """A year the way people say it, in one of the common styles."""
    century, rest = divmod(year, 100)
    if century == 20 and rest < 10:  # 2000-2009: "two thousand (and) four"
        if rest == 0:
            return ["two", "thousand"]
        return ["two", "thousand"] + (["and"] if rng.random() < 0.5 else []) + _number(rest)
    if century == 20 and rng.random() < 0.5:  # 2010-2099 also as "two thousand (and) twelve"
        return ["two", "thousand"] + (["and"] if rng.random() < 0.5 else []) + _number(rest)
    head = _number(century)  # "nineteen", "twenty"
    if rest == 0:
        return head + ["hundred"]
    if rest < 10:
        return head + ["oh"] + _number(rest)  # 1905 -> nineteen oh five
    return head + _number(rest)


def date_in_words(date: dt.date, rng: random.Random) -> tuple[list[str], list[str]]:
    """``date`` written out in words, in one of three word orders chosen by ``rng``.

    Returns the words and, for each word, the part of the date it names: ``"day"``,
    ``"month"``, ``"year"`` or ``"other"`` (used to check what attention aligns with what).
    """
    day = [(w, "day") for w in _ordinal(date.day)]
    month = [(_MONTHS[date.month - 1], "month")]
    year = [(w, "year") for w in _year(date.year, rng)]
    the, of = [("the", "other")], [("of", "other")]
    style = rng.randrange(3)
    if style == 0:
        parts = the + day + of + month + year  # the third of march nineteen ninety eight
    elif style == 1:
        parts = month + day + year  # march third nineteen ninety eight
    else:
        parts = day + month + year  # third march nineteen ninety eight
    return [word for word, _ in parts], [role for _, role in parts]


class DatePair(NamedTuple):
    """One example of the date task: source words, target characters, and each word's role."""

    source: list[str]
    target: list[str]
    source_roles: list[str]


# The role of each character of an ISO date "YYYY-MM-DD".
ISO_ROLES = ["year"] * 4 + ["other"] + ["month"] * 2 + ["other"] + ["day"] * 2


def make_date_translation_data(
    n_train: int, n_test: int, seed: int = 0, first_year: int = 1900, last_year: int = 2099
):
    """:class:`DatePair` examples (source words, target characters) for training and a held-out test.

    Test *dates* never occur in training (in any wording), so a high test score means the model
    learned to translate, not to remember. Returns ``(train, test, source_vocab, target_vocab)``.
    """
    expect_positive_int("n_train", n_train)
    expect_positive_int("n_test", n_test)
    expect_int("first_year", first_year, minimum=1)  # the calendar has no year 0
    if not first_year <= expect_int("last_year", last_year, minimum=1) <= 9999:
        raise ValueError(
            f"first_year <= last_year <= 9999 is needed; got first_year={first_year}, last_year={last_year}"
        )
    rng = random.Random(seed)
    start, end = dt.date(first_year, 1, 1), dt.date(last_year, 12, 31)
    all_dates = [start + dt.timedelta(days=d) for d in range((end - start).days + 1)]
    if n_test > len(all_dates) // 5:
        raise ValueError(f"n_test must be at most {len(all_dates) // 5} for these years; got {n_test}")
    rng.shuffle(all_dates)
    test_dates, train_dates = all_dates[:n_test], all_dates[n_test:]

    def pair(date):
        words, roles = date_in_words(date, rng)
        return DatePair(words, list(date.isoformat()), roles)

    train = [pair(rng.choice(train_dates)) for _ in range(n_train)]
    test = [pair(date) for date in test_dates]
    source_words = set(_UNITS + _TEENS + list(_TENS.values()) + _ORDINAL_UNITS + _ORDINAL_TEENS + _MONTHS)
    source_words |= {"the", "of", "and", "thousand", "hundred", "oh", "twentieth", "thirtieth"}
    source_vocab = Vocabulary(source_words)
    target_vocab = Vocabulary(list("0123456789-"))
    return train, test, source_vocab, target_vocab


def translation_batches(
    pairs: Sequence, source_vocab: Vocabulary, target_vocab: Vocabulary, batch_size: int, seed: int | None = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffle (with ``seed``; ``None`` keeps the order) and cut ``(source, target)`` pairs into
    padded batches ``(source ids (batch, S), target ids (batch, T))``. Targets are wrapped in
    ``<bos> ... <eos>``: the decoder reads ``target[:, :-1]`` and learns to predict ``target[:, 1:]``."""
    expect_positive_int("batch_size", batch_size)
    order = list(range(len(pairs)))
    if seed is not None:
        random.Random(seed).shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size):
        chunk = [pairs[i] for i in order[start : start + batch_size]]
        source = pad_batch([source_vocab.encode(p[0]) for p in chunk], source_vocab.pad_id)
        target = pad_batch(
            [target_vocab.encode(p[1], add_bos=True, add_eos=True) for p in chunk], target_vocab.pad_id
        )
        batches.append((source, target))
    return batches
