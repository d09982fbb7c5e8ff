"""lmcore.exercises: a check accepts an answer as precise as the value it prints, and a wrong
answer gets a hint without the expected value (the notebooks' runs are in
tests/test_student_copies.py)."""

import re

import numpy as np
import pytest
import torch

from lmcore import exercises
from lmcore.costs import KNOWN_SHAPES, attention_flops_per_token, flops_per_token
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
    mistakes = {
        diagonal.sum() / FAQ_MATRIX.sum(): "accuracy",
        100 * exact: "fraction",
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


def test_half_attention_context_accepts_either_side_of_the_crossing(capsys):
    base = KNOWN_SHAPES["BERT-base"]

    def share(context):
        return attention_flops_per_token(base, context) / flops_per_token(base, context=context)

    first = next(c for c in range(1, 100_000) if share(c) >= 0.5)  # recomputed, never typed
    for answer in (first - 1, first, first - 0.5):
        exercises.check_half_attention_context(base, answer)
        assert "Correct" in capsys.readouterr().out
    for answer, hint in ((first - 2, "Find the c"), (first + 1, "Find the c"), (4096, "powers of two")):
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


def test_answers_of_the_wrong_kind_are_refused_clearly():
    with pytest.raises(TypeError, match="your_answer"):
        exercises.check_macro_f1(FAQ_MATRIX, "0.72")
    with pytest.raises(TypeError, match="your_changed_rows"):
        exercises.check_zeroed_token(
            torch.eye(3), torch.eye(3), torch.eye(3), torch.eye(3), 2, torch.eye(3), ["a"]
        )
    with pytest.raises(TypeError, match="your_pre_ln"):
        exercises.check_pre_ln(42)
