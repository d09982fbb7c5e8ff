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
        history = fit(model, batches, mse, epochs=20, lr=0.1, weight_decay=0.0, device="cpu", progress=False,
                      log_every=1, evaluate=lambda m: {"mse": mse(m, batches[0]).item()})
        runs.append(history)
    history = runs[0]
    assert isinstance(history, History) and history.step[-1] == 160
    assert history.loss[-1] < 0.01 * history.loss[0]
    assert len(history.metric("mse")) == 20 and history.metric("mse")[-1] < 0.05
    assert runs[0].loss == runs[1].loss
    with pytest.raises(ValueError, match=r"no evaluation metric 'accuracy'; the evaluations have \['epoch', 'mse', 'step'\]"):
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
