"""The toy date task, vocabularies, batching, and the shared training loop."""

import datetime as dt
import random

import pytest
import torch
from torch import nn

from lmcore.data import (
    ISO_ROLES,
    Vocabulary,
    date_in_words,
    make_date_translation_data,
    pad_batch,
    translation_batches,
)
from lmcore.train import History, fit, move_to, parameter_groups, pick_device, warmup_then_decay


def test_vocabulary_round_trip_and_specials():
    vocab = Vocabulary(["b", "a", "c", "a"])
    assert len(vocab) == 7 and vocab.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    ids = vocab.encode(["a", "c", "zzz"], add_bos=True, add_eos=True)
    assert ids == [1, vocab.id_of["a"], vocab.id_of["c"], vocab.unk_id, 2]
    assert vocab.decode(ids + [0, 0]) == ["a", "c", "<unk>"]
    with pytest.raises(TypeError, match="split the string first"):
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


# -------------------------------------------------------------- training loop


def test_warmup_then_decay_schedule():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_then_decay(optimizer, warmup_steps=4, total_steps=10)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0]
    assert rates[4] > rates[5] > rates[9] > 0
    with pytest.raises(ValueError, match="warmup_steps must be in"):
        warmup_then_decay(optimizer, 11, 10)


def test_parameter_groups_do_not_decay_biases_and_norms():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    decay, no_decay = parameter_groups(model, 0.1)
    assert len(decay["params"]) == 1 and len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


def regression_problem(seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return [(x[i : i + 32], y[i : i + 32]) for i in range(0, 256, 32)]


def mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def test_fit_learns_evaluates_and_is_reproducible():
    batches = regression_problem()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Linear(4, 1)
        history = fit(
            model,
            batches,
            mse,
            epochs=20,
            lr=0.1,
            weight_decay=0.0,
            device="cpu",
            progress=False,
            log_every=1,
            evaluate=lambda m: {"mse": mse(m, batches[0]).item()},
        )
        runs.append(history)
    history = runs[0]
    assert isinstance(history, History) and history.step[-1] == 160
    assert history.loss[-1] < 0.01 * history.loss[0]
    assert len(history.metric("mse")) == 20 and history.metric("mse")[-1] < 0.05
    assert runs[0].loss == runs[1].loss
    with pytest.raises(
        ValueError, match=r"no evaluation metric 'accuracy'; the evaluations have \['epoch', 'mse', 'step'\]"
    ):
        history.metric("accuracy")


def test_fit_rejects_bad_arguments():
    with pytest.raises(ValueError, match="train_batches is empty"):
        fit(nn.Linear(1, 1), [], mse, progress=False)
    with pytest.raises(ValueError, match="must have a length"):
        fit(nn.Linear(1, 1), iter(regression_problem()), mse, progress=False)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        fit(nn.Linear(4, 1), regression_problem(), mse, epochs=0, progress=False)


def test_fit_stops_on_a_diverging_loss():
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(nn.Linear(4, 1), regression_problem(), lambda m, b: torch.tensor(float("nan")), progress=False)


def test_device_helpers():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in ("cpu", "cuda", "mps")
    moved = move_to({"a": torch.zeros(1), "b": [torch.ones(1), 3]}, torch.device("cpu"))
    assert moved["b"][1] == 3


def test_fit_takes_exactly_the_steps_of_a_hand_written_loop():
    """AdamW with decay on weight matrices only, a linear warm-up then decay, gradient clipping,
    no autocast unless asked: fit's weights, logged losses and learning rates equal those of the
    loop written out by hand, and evaluations come every eval_every steps and at the end."""
    batches = regression_problem()[:4]  # 4 steps per epoch, 2 epochs: 8 steps, warm-up 2
    torch.manual_seed(0)
    model, reference = nn.Linear(4, 1), nn.Linear(4, 1)
    reference.load_state_dict(model.state_dict())
    seen_modes = []

    def evaluate(m):
        seen_modes.append(m.training)
        return {"w0": float(m.weight[0, 0])}

    history = fit(
        model,
        batches,
        mse,
        epochs=2,
        lr=0.05,
        weight_decay=0.1,
        warmup_fraction=0.25,
        max_grad_norm=0.5,
        log_every=1,
        eval_every=3,
        evaluate=evaluate,
        progress=False,
    )

    optimizer = torch.optim.AdamW(
        [
            {"params": [reference.weight], "weight_decay": 0.1},
            {"params": [reference.bias], "weight_decay": 0.0},
        ],
        lr=0.05,
        fused=True,  # as fit uses on a CPU: the same update as the default loop, rounded differently
    )
    factors = [1 / 2, 2 / 2] + [(8 - step) / 6 for step in range(2, 8)]
    losses, rates = [], []
    for step, batch in enumerate(batches * 2):
        for group in optimizer.param_groups:
            group["lr"] = 0.05 * factors[step]
        loss = mse(reference, batch)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        optimizer.step()
        losses.append(loss.item())
        rates.append(0.05 * factors[step + 1] if step + 1 < 8 else 0.0)

    torch.testing.assert_close(model.weight, reference.weight, rtol=0, atol=1e-7)
    torch.testing.assert_close(model.bias, reference.bias, rtol=0, atol=1e-7)
    assert history.step == list(range(1, 9))
    assert history.loss == pytest.approx(losses, abs=1e-7)
    assert history.learning_rate == pytest.approx(rates, abs=1e-12)
    assert [row["step"] for row in history.evaluations] == [3, 6, 8]
    assert [row["epoch"] for row in history.evaluations] == [1, 2, 2]
    assert seen_modes == [False, False, False] and not model.training
    assert history.seconds > 0


def test_fit_without_clipping_and_without_warm_up():
    batches = regression_problem()[:2]
    torch.manual_seed(1)
    model, reference = nn.Linear(4, 1), nn.Linear(4, 1)
    reference.load_state_dict(model.state_dict())
    history = fit(
        model,
        batches,
        mse,
        epochs=1,
        lr=0.5,
        weight_decay=0.0,
        warmup_fraction=0.0,
        max_grad_norm=None,
        evaluate=lambda m: {"done": 1.0},
        progress=False,
    )
    optimizer = torch.optim.AdamW(reference.parameters(), lr=0.5, weight_decay=0.0)
    for step, batch in enumerate(batches):
        optimizer.param_groups[0]["lr"] = 0.5 * (2 - step) / 2
        optimizer.zero_grad()
        mse(reference, batch).backward()  # large steps, no clipping
        optimizer.step()
    torch.testing.assert_close(model.weight, reference.weight, rtol=0, atol=1e-6)
    assert [row["epoch"] for row in history.evaluations] == [1]  # once per epoch without eval_every


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


def test_the_device_is_cuda_then_apple_mps_then_the_cpu(monkeypatch):
    """One place chooses the device; here with the hardware faked, as no test machine has all three."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")  # a chapter that must stay on the CPU says so
