"""lmcore.data: the vocabulary, padding, and the date-translation data chapter 2 trains on."""

import datetime as dt
import random

import pytest
import torch

from lmcore.data import (
    ISO_ROLES,
    Vocabulary,
    date_in_words,
    make_date_translation_data,
    pad_batch,
    translation_batches,
)


def test_vocabulary_round_trip_and_specials():
    vocab = Vocabulary(["b", "a", "c", "a"])
    assert len(vocab) == 7 and vocab.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    ids = vocab.encode(["a", "c", "zzz"], add_bos=True, add_eos=True)
    assert ids == [1, vocab.id_of["a"], vocab.id_of["c"], vocab.unk_id, 2]
    assert vocab.decode(ids + [0, 0]) == ["a", "c", "<unk>"]
    with pytest.raises(TypeError, match="split it first"):
        vocab.encode("a c")
    with pytest.raises(ValueError, match=r"id 99 is outside the vocabulary \[0, 7\)"):
        vocab.decode([99])


def test_pad_batch():
    batch = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert batch.tolist() == [[5, 6, 7], [8, 0, 0]] and batch.dtype == torch.long
    with pytest.raises(ValueError, match="at least one sequence"):
        pad_batch([])


def test_dates_in_words_have_roles_and_round_trip_to_iso():
    rng = random.Random(0)
    words, roles = date_in_words(dt.date(1998, 3, 3), rng)
    assert len(words) == len(roles) and "march" in words
    assert roles[words.index("march")] == "month"
    assert len(ISO_ROLES) == 10


def test_date_data_holds_out_test_dates_and_is_reproducible():
    train, test, source_vocab, target_vocab = make_date_translation_data(2000, 300, seed=1)
    assert len(train) == 2000 and len(test) == 300
    train_dates = {"".join(p.target) for p in train}
    assert not train_dates & {"".join(p.target) for p in test}
    for pair in train[:200] + test[:100]:
        dt.date.fromisoformat("".join(pair.target))
        assert len(pair.source) == len(pair.source_roles)
        assert source_vocab.unk_id not in source_vocab.encode(pair.source)
    again = make_date_translation_data(2000, 300, seed=1)
    assert again[0] == train and again[1] == test
    assert len(target_vocab) == 15


def test_date_data_bad_arguments():
    with pytest.raises(ValueError, match="n_test must be at most"):
        make_date_translation_data(10, 20_000, first_year=2000, last_year=2001)
    with pytest.raises(ValueError, match="first_year <= last_year <= 9999 is needed"):
        make_date_translation_data(10, 10, first_year=2001, last_year=2000)


def test_translation_batches_wrap_targets():
    train, _, source_vocab, target_vocab = make_date_translation_data(10, 5, seed=0)
    batches = translation_batches(train, source_vocab, target_vocab, batch_size=4, seed=None)
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    source, target = batches[0]
    assert (target[:, 0] == target_vocab.bos_id).all()
    assert target_vocab.decode(target[0].tolist()) == train[0].target


WORD_VALUES = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve "
        "thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}


WORD_VALUES.update(
    {
        w: 10 * t
        for t, w in enumerate("- - twenty thirty forty fifty sixty seventy eighty ninety".split())
        if w != "-"
    }
)


ORDINAL_VALUES = {
    w: i + 1
    for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
        "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split()
    )
}


ORDINAL_VALUES["thirtieth"] = 30


MONTHS = "january february march april may june july august september october november december".split()


def read_date(words):
    """An independent reader of the dates in words, to check that every wording says its date."""
    words = [w for w in words if w not in ("the", "of")]
    month_at = next(i for i, w in enumerate(words) if w in MONTHS)
    if month_at > 0:  # "the third of march ...", "third march ..."
        day_words, rest = words[:month_at], words[month_at + 1 :]
    else:  # "march third ...", "march twenty first ..."
        two = words[1] in ("twenty", "thirty") and words[2] in ORDINAL_VALUES
        day_words, rest = words[1 : 3 if two else 2], words[3 if two else 2 :]
    day = sum(ORDINAL_VALUES.get(w, WORD_VALUES.get(w, 0)) for w in day_words)
    if rest[:2] == ["two", "thousand"]:  # "two thousand (and) twelve"
        year = 2000 + sum(WORD_VALUES[w] for w in rest[2:] if w != "and")
    else:  # "nineteen ninety eight", "nineteen oh five", "nineteen hundred", "twenty twelve"
        year = 100 * WORD_VALUES[rest[0]] + sum(WORD_VALUES.get(w, 0) for w in rest[1:])
    return dt.date(year, MONTHS.index(words[month_at]) + 1, day)


def test_every_date_in_words_says_its_date():
    """Every day from 1900 to 2099, in the wording the generator picks, reads back as that date
    (an independent reader), with each word's role right and every style of wording used."""
    rng = random.Random(0)
    styles, and_used, oh_used = set(), False, False
    day = dt.date(1900, 1, 1)
    while day.year < 2100:
        words, roles = date_in_words(day, rng)
        assert read_date(words) == day, (day, words)
        assert len(words) == len(roles)
        assert [w for w, r in zip(words, roles) if r == "month"] == [MONTHS[day.month - 1]]
        assert all(r in ("day", "month", "year", "other") for r in roles)
        assert all((r == "other") == (w in ("the", "of")) for w, r in zip(words, roles))
        styles.add((words[0] == "the", words[0] in MONTHS))
        and_used |= "and" in words
        oh_used |= "oh" in words
        day += dt.timedelta(days=1)
    assert styles == {(True, False), (False, True), (False, False)} and and_used and oh_used


def test_date_data_covers_exactly_the_years_asked_for():
    train, test, _, _ = make_date_translation_data(3000, 73, seed=0, first_year=2000, last_year=2000)
    dates = {dt.date.fromisoformat("".join(pair.target)) for pair in train + test}
    assert dates == {dt.date(2000, 1, 1) + dt.timedelta(days=d) for d in range(366)}  # every day, no other
    assert not {dt.date.fromisoformat("".join(p.target)) for p in test} & {
        dt.date.fromisoformat("".join(p.target)) for p in train
    }
    with pytest.raises(ValueError, match="n_test must be at most 73"):
        make_date_translation_data(10, 74, first_year=2000, last_year=2000)
    make_date_translation_data(10, 1, first_year=1, last_year=1)  # the calendar's first year
    make_date_translation_data(10, 1, first_year=9999, last_year=9999)  # and its last
    default_train, default_test, _, _ = make_date_translation_data(2000, 400)
    years = [int("".join(p.target)[:4]) for p in default_train + default_test]
    assert min(years) == 1900 and max(years) == 2099  # the default range, 1900-2099
    again, _, _, _ = make_date_translation_data(2000, 400, seed=0)
    assert again == default_train  # the default seed is 0


def test_decode_skips_padding_and_batches_keep_or_shuffle_their_order():
    vocab = Vocabulary(["a", "b"])
    assert vocab.decode([vocab.pad_id, vocab.bos_id, vocab.id_of["a"], vocab.eos_id, vocab.id_of["b"]]) == [
        "a"
    ]
    assert vocab.encode(["a", "c"]) == [vocab.id_of["a"], vocab.unk_id]
    pairs = [(["a"] * (i % 3 + 1), ["b"]) for i in range(10)]
    in_order = translation_batches(pairs, vocab, vocab, batch_size=4, seed=None)
    assert [tuple(b[0].shape) for b in in_order] == [(4, 3), (4, 3), (2, 3)]
    assert in_order[0][0][:, 0].tolist() == [vocab.id_of["a"]] * 4 and (in_order[0][0][0, 1:] == 0).all()
    shuffled = translation_batches(pairs, vocab, vocab, batch_size=4, seed=1)
    assert [b[0].tolist() for b in shuffled] != [b[0].tolist() for b in in_order]
    assert pad_batch([[5], [6, 7]], pad_id=9).tolist() == [[5, 9], [6, 7]]
