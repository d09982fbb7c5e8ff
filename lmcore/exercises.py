"""Checks for the chapters' exercises: each tells a student whether an answer is right.

Every check recomputes the expected answer from the exercise's own inputs (never from a stored
number), prints a short confirmation when the answer is right, and raises an ``AssertionError``
that explains what was expected when it is not, so a check can sit at the end of a solution
cell and the notebook tests run it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "check_attention",
    "check_attention_parameters",
    "check_causal_mask",
    "check_macro_f1",
    "check_parameter_count",
]


def _passed(message: str) -> None:
    print(f"Correct: {message}")


def _number(name: str, value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a single number; got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {type(value).__name__}") from None


def check_macro_f1(matrix, answer, tolerance: float = 1e-6) -> None:
    """Is ``answer`` the macro-averaged F1 of the confusion matrix ``matrix`` (rows: true class)?"""
    from sklearn.metrics import f1_score

    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be a square confusion matrix; got shape {matrix.shape}")
    true, predicted = np.nonzero(matrix)
    counts = matrix[true, predicted].astype(int)
    labels_true, labels_predicted = np.repeat(true, counts), np.repeat(predicted, counts)
    expected = f1_score(
        labels_true, labels_predicted, average="macro", labels=range(len(matrix)), zero_division=0
    )
    answer = _number("answer", answer)
    assert abs(answer - expected) <= tolerance, (
        f"macro F1 should be {expected:.6f}, got {answer:.6f}. Per class: precision = diagonal / column "
        "sum, recall = diagonal / row sum, F1 = 2PR/(P+R) (0 when P+R=0); then the plain mean over classes."
    )
    _passed(f"macro F1 = {expected:.4f}")


def check_attention(query, key, value, answer, mask=None, tolerance: float = 1e-5) -> None:
    """Is ``answer`` softmax(Q K^T / sqrt(d_k) (+ mask)) V, checked against PyTorch's SDPA?"""
    tensors = {"query": query, "key": key, "value": value, "answer": answer}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}")
    expected = torch.nn.functional.scaled_dot_product_attention(
        query.double(), key.double(), value.double(), attn_mask=None if mask is None else mask
    )
    assert answer.shape == expected.shape, (
        f"the output should have shape {tuple(expected.shape)}, got {tuple(answer.shape)}"
    )
    error = (answer.double() - expected).abs().max().item()
    hint = " Did you divide by sqrt(d_k), and take the softmax over the keys (the last axis)?"
    assert error <= tolerance, f"largest difference from PyTorch's attention is {error:.2e}." + hint
    _passed(f"matches torch.nn.functional.scaled_dot_product_attention (largest difference {error:.1e})")


def check_causal_mask(answer, length: int) -> None:
    """Is ``answer`` a causal mask for ``length`` tokens (True/1 where a query may look)?"""
    if not isinstance(answer, torch.Tensor):
        raise TypeError(f"answer must be a torch.Tensor; got {type(answer).__name__}")
    expected = torch.ones(length, length).tril().bool()
    assert tuple(answer.shape) == (length, length), (
        f"shape should be ({length}, {length}), got {tuple(answer.shape)}"
    )
    assert torch.equal(answer.bool(), expected), (
        "query i may look at keys 0..i (itself and the past), never at keys after it: a lower-triangular mask"
    )
    _passed(f"a {length} x {length} causal mask")


def check_attention_parameters(d_model: int, num_heads: int, answer, bias: bool = True) -> None:
    """Is ``answer`` the number of parameters of one multi-head attention block?"""
    if d_model % num_heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
    expected = 4 * d_model * d_model + (4 * d_model if bias else 0)
    assert _number("answer", answer) == expected, (
        f"expected {expected:,}: four d_model x d_model projections (Q, K, V, output){' with biases' if bias else ''}; "
        "the number of heads does not change it, the heads split d_model between them"
    )
    _passed(f"{expected:,} parameters, whatever the number of heads")


def check_parameter_count(model: torch.nn.Module, answer) -> None:
    """Is ``answer`` the number of (unique) parameters of ``model``?"""
    from .costs import count_parameters

    expected = count_parameters(model)
    answer = _number("answer", answer)
    assert math.isclose(answer, expected, rel_tol=0, abs_tol=0.5), (
        f"expected {expected:,}, got {answer:,.0f}; count each weight matrix and bias once (tied weights once)"
    )
    _passed(f"{expected:,} parameters")
