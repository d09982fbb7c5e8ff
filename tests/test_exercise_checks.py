"""lmcore.exercises: a check accepts an answer as precise as the value it prints, and a wrong
answer gets a hint without the expected value (the notebooks' runs are in
tests/test_student_copies.py)."""

import re

import numpy as np
import pytest
import torch

from lmcore import exercises
from lmcore.costs import KNOWN_SHAPES, attention_flops_per_token, flops_per_token
from lmcore.exercises import chapter5
from lmcore.exercises._common import as_boolean
from lmcore.transformer import sinusoidal_positional_encoding

FAQ_MATRIX = np.array([[80, 5, 0], [10, 40, 0], [4, 3, 3]])


def printed_number(out: str) -> str:
    return re.search(r"Correct: .*?(-?\d[\d,]*\.\d+)", out).group(1)


def test_macro_f1_accepts_the_printed_value_and_hints_at_mistakes(capsys):
    diagonal = np.diag(FAQ_MATRIX)
    precision, recall = diagonal / FAQ_MATRIX.sum(0), diagonal / FAQ_MATRIX.sum(1)
    exact = float(np.mean(2 * precision * recall / (precision + recall)))
    exercises.check_macro_f1(FAQ_MATRIX, exact)
    printed = printed_number(capsys.readouterr().out)
    assert printed == "0.7239"
    truncated = float(f"{exact:.6f}"[:6])  # 0.7238: printed to 4 decimals, not rounded
    for answer in (float(printed), truncated, np.float32(exact), torch.tensor(exact)):
        exercises.check_macro_f1(FAQ_MATRIX, answer)
        assert "Correct" in capsys.readouterr().out
    labels_true = np.repeat(np.repeat(np.arange(3), 3), FAQ_MATRIX.ravel())
    labels_predicted = np.repeat(np.tile(np.arange(3), 3), FAQ_MATRIX.ravel())
    from sklearn.metrics import f1_score

    weighted = f1_score(labels_true, labels_predicted, average="weighted")
    mistakes = {
        diagonal.sum() / FAQ_MATRIX.sum(): "accuracy",
        100 * exact: "fraction",
        round(100 * exact, 2): "fraction",  # a percentage as printed: 72.39
        weighted: "weighted by class size",
        float(np.mean((precision + recall) / 2)): "harmonic mean",
        exact + 0.002: "Per class",
    }
    for answer, hint in mistakes.items():
        with pytest.raises(AssertionError, match="Hint:") as wrong:
            exercises.check_macro_f1(FAQ_MATRIX, answer)
        assert hint in str(wrong.value) and printed not in str(wrong.value)


def test_pe_distance_accepts_the_printed_value(capsys):
    table = sinusoidal_positional_encoding(100, 64).double()
    exercises.check_pe_distance(table, 13, (table[5] * table[18]).sum())
    printed = printed_number(capsys.readouterr().out)
    exercises.check_pe_distance(table, 13, float(printed))
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="Off by one"):
        exercises.check_pe_distance(table, 13, (table[0] * table[14]).sum().item())


def test_half_attention_context_wants_the_smallest_whole_number(capsys):
    base = KNOWN_SHAPES["BERT-base"]

    def share(context):
        return attention_flops_per_token(base, context) / flops_per_token(base, context=context)

    first = next(c for c in range(1, 100_000) if share(c) >= 0.5)  # recomputed, never typed
    for answer in (first, float(first), np.int64(first), torch.tensor(first)):
        exercises.check_half_attention_context(base, answer)
        assert "Correct" in capsys.readouterr().out
    mistakes = (
        (first - 1, "still below one half"),  # the last context below the crossing
        (first - 0.5, "whole number"),
        (first - 2, "still below one half"),
        (first + 1, "Find the c"),
        (4096, "powers of two"),
    )
    for answer, hint in mistakes:
        with pytest.raises(AssertionError, match=hint):
            exercises.check_half_attention_context(base, answer)


def test_tensor_checks_accept_rounded_answers_and_name_the_mistake(capsys):
    X = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    W = torch.eye(4)
    zeroed = X.clone()
    zeroed[2] = 0
    after = torch.softmax(zeroed @ zeroed.T / 2, dim=-1)
    exercises.check_zeroed_token(X, W, W, W, 2, after.round(decimals=3), [0, 1, 2])
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="rows"):
        exercises.check_zeroed_token(X, W, W, W, 2, after, [2])
    scores = torch.tensor([[2.0, 5.0, 4.5], [3.0, 2.0, 4.0]])
    uniform, one_hot = torch.full((2, 3), 1 / 3), torch.tensor([[0.0, 1, 0], [0, 0, 1]])
    exercises.check_temperature_limits(scores, uniform.round(decimals=2), one_hot)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="wrong way round"):
        exercises.check_temperature_limits(scores, one_hot, uniform)


def test_a_weighted_f1_close_to_the_accuracy_is_named_as_weighted():
    """When the support-weighted F1 and the accuracy are a few ten-thousandths apart, the hint
    names the mistake the answer is closest to."""
    matrix = np.array([[50, 2, 1], [3, 40, 2], [1, 2, 30]])
    from sklearn.metrics import f1_score

    true = np.repeat(np.repeat(np.arange(3), 3), matrix.ravel())
    predicted = np.repeat(np.tile(np.arange(3), 3), matrix.ravel())
    weighted = f1_score(true, predicted, average="weighted")
    accuracy = np.trace(matrix) / matrix.sum()
    assert abs(weighted - accuracy) < 1e-3  # the case of chapter 5's matrix
    with pytest.raises(AssertionError, match="weighted by class size"):
        exercises.check_macro_f1(matrix, weighted)
    with pytest.raises(AssertionError, match="accuracy"):
        exercises.check_macro_f1(matrix, accuracy)


def test_every_natural_type_of_a_right_answer_is_accepted(capsys):
    """Python numbers and lists, NumPy arrays and scalars, torch tensors (0-d included), and any
    letter case where case means nothing."""
    X = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    W = np.eye(4)
    zeroed = X.copy()
    zeroed[2] = 0
    after = torch.softmax(torch.tensor(zeroed @ zeroed.T / 2), dim=-1)
    for weights, rows in ((after.numpy(), np.array([0, 1, 2])), (after.tolist(), (0, 1, 2))):
        exercises.check_zeroed_token(X, W, W, W, 2, weights, rows)
        assert "Correct" in capsys.readouterr().out
    q, k, v = (torch.randn(4, 8, generator=torch.Generator().manual_seed(i)) for i in range(3))
    v = v[:, :3]
    output = torch.softmax(q @ k.T / 8**0.5, dim=-1) @ v
    for answer in (output, output.numpy(), output.numpy().astype(np.float32), output.tolist()):
        exercises.check_attention(q, k, v, answer)
        assert "Correct" in capsys.readouterr().out
    exercises.check_attention(q.numpy(), k.numpy(), v.numpy(), output)
    assert "Correct" in capsys.readouterr().out
    for answer in (4 * 768 * 769, np.int64(4 * 768 * 769), torch.tensor(4 * 768 * 769), float(4 * 768 * 769)):
        exercises.check_attention_parameters(768, 12, answer)
        assert "Correct" in capsys.readouterr().out
    for same in (False, np.bool_(False), torch.tensor(False), torch.tensor([False]), 0):
        assert as_boolean("your_same_head", same) is False
    with pytest.raises(TypeError, match="True or False"):
        as_boolean("your_same_head", "no")


def test_leaking_part_reads_keys_and_the_part_in_any_letter_case(monkeypatch, capsys):
    accuracies = {"headers": 0.83, "footers": 0.859, "quotes": 0.834}
    monkeypatch.setattr(chapter5, "_leak_accuracies", lambda train, test: accuracies)
    answers = (
        ({"Headers": 0.83, "FOOTERS": 0.859, "Quotes": 0.834}, "Headers"),
        ({"headers removed": 0.83, "footers removed": 0.859, "quotes removed": 0.834}, "HEADERS"),
    )
    for given, part in answers:
        exercises.check_leaking_part([0], [1], given, part)
        assert "Correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="costs the least"):
        exercises.check_leaking_part([0], [1], accuracies, "Footers")


def test_answers_of_the_wrong_kind_are_refused_clearly():
    with pytest.raises(TypeError, match="your_answer"):
        exercises.check_macro_f1(FAQ_MATRIX, "0.72")
    with pytest.raises(TypeError, match="your_changed_rows"):
        exercises.check_zeroed_token(
            torch.eye(3), torch.eye(3), torch.eye(3), torch.eye(3), 2, torch.eye(3), ["a"]
        )
    with pytest.raises(TypeError, match="your_pre_ln"):
        exercises.check_pre_ln(42)


def _hint(check, *args) -> str:
    with pytest.raises(AssertionError, match="Hint:") as wrong:
        check(*args)
    return str(wrong.value)


def test_hints_and_success_messages_give_away_neither_value_nor_method(capsys):
    """A hint points at the idea to revisit, never at the result or the construction; a success
    message does not answer the exercise's open question."""
    X = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    W = torch.eye(4)
    zeroed = X.clone()
    zeroed[2] = 0
    after = torch.softmax(zeroed @ zeroed.T / 2, dim=-1)
    hint = _hint(exercises.check_zeroed_token, X, W, W, W, 2, after, [2])
    assert "[0, 1, 2]" not in hint and "every query" not in hint and "key" not in hint.split("Hint:")[1]
    exercises.check_zeroed_token(X, W, W, W, 2, after, [0, 1, 2])
    success = capsys.readouterr().out
    assert "uniform" not in success and "query is zero" not in success  # the open question stays open

    sentence = "the cat sat on the mat".split()
    n = len(sentence)
    previous = torch.zeros(n, n)
    previous[0, 0] = 1
    previous[torch.arange(1, n), torch.arange(n - 1)] = 1
    hint = _hint(exercises.check_next_token_head, sentence, previous)
    assert "j - 1" not in hint and "code of" not in hint

    hint = _hint(exercises.check_attention_parameters, 768, 12, 4 * 768 * 768)
    assert str(4 * 768 * 769) not in hint and f"{4 * 768 * 769:,}" not in hint
    assert "four" not in hint.lower() and "4 *" not in hint and "does not change" not in hint
    exercises.check_attention_parameters(768, 24, 4 * 768 * 769)
    assert "whatever" not in capsys.readouterr().out  # would 24 heads change it? stays the student's

    base = KNOWN_SHAPES["BERT-base"]
    first = next(
        c
        for c in range(1, 100_000)
        if attention_flops_per_token(base, c) / flops_per_token(base, context=c) >= 0.5
    )
    for answer in (first - 1, first + 5):
        hint = _hint(exercises.check_half_attention_context, base, answer)
        assert str(first) not in hint.split("Hint:")[1] and f"{first:,}" not in hint.split("Hint:")[1]


def test_macro_f1_check(capsys):
    matrix = np.array([[5, 1], [2, 2]])
    exercises.check_macro_f1(matrix, _macro_f1(matrix))
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="macro F1 should be"):
        exercises.check_macro_f1(matrix, 0.5)


def _macro_f1(matrix):
    tp = np.diag(matrix)
    precision, recall = tp / matrix.sum(0), tp / matrix.sum(1)
    return float(np.mean(2 * precision * recall / (precision + recall)))


def test_attention_and_mask_checks():
    q, k, v = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 2)
    right = torch.softmax(q @ k.T / 2.0, dim=-1) @ v
    exercises.check_attention(q, k, v, right)
    with pytest.raises(AssertionError, match="sqrt"):
        exercises.check_attention(q, k, v, torch.softmax(q @ k.T, dim=-1) @ v)
    exercises.check_causal_mask(torch.ones(4, 4).tril().bool(), 4)
    with pytest.raises(AssertionError, match="lower-triangular"):
        exercises.check_causal_mask(torch.ones(4, 4).triu().bool(), 4)


def test_parameter_checks():
    exercises.check_attention_parameters(8, 2, 4 * 64 + 32)
    with pytest.raises(AssertionError, match="also has a bias"):
        exercises.check_attention_parameters(8, 2, 4 * 64)
    layer = torch.nn.Linear(3, 2)
    exercises.check_parameter_count(layer, 8)
    with pytest.raises(AssertionError, match="6 is not the number") as wrong:
        exercises.check_parameter_count(layer, 6)
    assert "8" not in str(wrong.value)  # the expected count is not given away
