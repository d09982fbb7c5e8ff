"""The exercise checks of chapter 1 (self-attention)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ._common import (
    as_indices,
    as_tensor,
    passed,
    reference_attention,
    require,
    require_shape,
    rounded,
    tensors_close,
    unanswered,
)


def check_attention(query, key, value, your_output, mask=None, tolerance: float = 1e-5) -> None:
    """Is ``your_output`` softmax(Q K^T / sqrt(d_k) (+ mask)) V, checked against PyTorch's SDPA?"""
    if unanswered(your_output=your_output):
        return
    query, key, value = (torch.as_tensor(np.asarray(t, dtype=float)) for t in (query, key, value))
    your_output = as_tensor("your_output", your_output)  # a tensor or a NumPy array
    expected = torch.nn.functional.scaled_dot_product_attention(
        query.double(),
        key.double(),
        value.double(),
        attn_mask=None if mask is None else torch.as_tensor(mask),
    )
    hint = (
        "softmax(Q K^T / sqrt(d_k)) V: scores of every query against every key, divided by sqrt(d_k) "
        "(d_k = K.shape[-1]), a softmax over the keys (the last axis), then the weighted sum of V."
    )
    require_shape("your_output", your_output, expected.shape, hint)
    answer = your_output.double()
    error = (answer - expected).abs().max().item()
    unscaled = torch.softmax(query.double() @ key.double().transpose(-2, -1), dim=-1) @ value.double()
    if mask is None and tensors_close(answer, unscaled, tolerance):
        hint = "you left out the scaling: divide the scores by sqrt(d_k) before the softmax."
    wrong_axis = torch.softmax(
        query.double() @ key.double().transpose(-2, -1) / math.sqrt(key.shape[-1]), dim=-2
    )
    if mask is None and tensors_close(answer, wrong_axis @ value.double(), tolerance):
        hint = "the softmax goes over the keys, the last axis (dim=-1): each query's weights sum to 1."
    require(error <= tolerance, f"the largest difference from PyTorch's attention is {error:.2e}.", hint)
    passed(f"matches torch.nn.functional.scaled_dot_product_attention (largest difference {error:.1e})")


def check_zeroed_token(X, W_Q, W_K, W_V, token: int, your_weights, your_changed_rows) -> None:
    """Chapter 1, exercise 1: the weight table after token ``token``'s input vector is set to zero.

    ``your_weights``: the new (n, n) attention weights; ``your_changed_rows``: the indices of the
    rows that differ from the weights before the change.
    """
    if unanswered(your_weights=your_weights, your_changed_rows=your_changed_rows):
        return
    X, W_Q, W_K = (torch.as_tensor(t).double() for t in (X, W_Q, W_K))
    zeroed = X.clone()
    zeroed[token] = 0.0
    _, before = reference_attention(X @ W_Q, X @ W_K, X @ torch.as_tensor(W_V).double())
    _, after = reference_attention(zeroed @ W_Q, zeroed @ W_K, zeroed @ torch.as_tensor(W_V).double())
    answer = as_tensor("your_weights", your_weights)
    rows = as_indices("your_changed_rows", your_changed_rows)
    how = (
        f"set row {token} of a copy of X (the whole vector of that token) to zero, compute Q and K "
        "from the changed X, then softmax(Q K^T / sqrt(d_k)) row by row."
    )
    require_shape("your_weights", answer, after.shape, how)
    if tensors_close(answer, before, 1e-3):
        how = "these are the weights before the change; " + how
    require(tensors_close(answer, after, 1e-3), "`your_weights` are not the weights after the change.", how)
    expected_rows = [i for i in range(len(after)) if (after[i] - before[i]).abs().max() > 1e-6]
    require(
        rows == expected_rows,
        f"rows {rows} are not the rows that change.",
        "compare your new table with the original `weights`, row by row (0 = first token): a row "
        "changes when any of its numbers does. Revisit step 1 of section 1.3: which vectors does "
        "the changed token take part in, and which scores use them?",
    )
    passed(f"rows {expected_rows} change; the new weights, to 3 decimals: {rounded(after, 3)}")


def check_permuted_attention(X, W_Q, W_K, W_V, permutation, your_shuffled_output) -> None:
    """Chapter 1, exercise 2: self-attention (no positions) of the tokens of ``X`` shuffled by
    ``permutation``; it must equal the unshuffled output with its rows shuffled the same way."""
    if unanswered(your_shuffled_output=your_shuffled_output):
        return
    X, W_Q, W_K, W_V = (torch.as_tensor(t).double() for t in (X, W_Q, W_K, W_V))
    permutation = torch.as_tensor(permutation).long()
    H, _ = reference_attention(X @ W_Q, X @ W_K, X @ W_V)
    expected, _ = reference_attention(X[permutation] @ W_Q, X[permutation] @ W_K, X[permutation] @ W_V)
    answer = as_tensor("your_shuffled_output", your_shuffled_output)
    hint = (
        "shuffle the tokens first (X[permutation]), then compute Q, K and V from the shuffled X and "
        "apply attention, exactly as for the original order."
    )
    require_shape("your_shuffled_output", answer, expected.shape, hint)
    if tensors_close(answer, H, 1e-4):
        hint = "that is the output for the tokens in their original order; " + hint
    elif tensors_close(answer, H[torch.argsort(permutation)], 1e-4):
        hint = "your rows are shuffled the inverse way: row i is the token at X[permutation[i]]."
    require(
        tensors_close(answer, expected, 1e-4),
        "`your_shuffled_output` is not the attention of the shuffled tokens.",
        hint,
    )
    passed(
        "the output for the shuffled tokens is the original output with its rows shuffled the same "
        f"way (H[permutation], to 4 decimals): {rounded(expected, 4)}"
    )


def check_temperature_limits(scores, your_limit_zero, your_limit_infinity) -> None:
    """Chapter 1, exercise 3: the limits of softmax(tau * scores) (row by row) as tau -> 0 and
    tau -> infinity, to 2 decimals."""
    if unanswered(your_limit_zero=your_limit_zero, your_limit_infinity=your_limit_infinity):
        return
    scores = torch.as_tensor(scores).double()
    uniform = torch.full_like(scores, 1 / scores.shape[-1])
    best = (scores >= scores.max(dim=-1, keepdim=True).values - 1e-12).double()
    one_hot = best / best.sum(dim=-1, keepdim=True)  # ties share the weight
    zero, infinity = (
        as_tensor("your_limit_zero", your_limit_zero),
        as_tensor("your_limit_infinity", your_limit_infinity),
    )
    hint = (
        "write the weights as tau * scores gets very small (all scores -> 0) and very large (the gaps grow)."
    )
    require_shape("your_limit_zero", zero, scores.shape, hint)
    require_shape("your_limit_infinity", infinity, scores.shape, hint)
    if tensors_close(zero, one_hot, 0.01) and tensors_close(infinity, uniform, 0.01):
        hint = "you have the two limits the wrong way round: a small tau shrinks every score towards 0."
    require(
        tensors_close(zero, uniform, 0.01),
        "`your_limit_zero` is not the limit as tau -> 0.",
        hint + " As tau -> 0 every score tau * s goes to 0, and the softmax of equal scores is...?",
    )
    require(
        tensors_close(infinity, one_hot, 0.01),
        "`your_limit_infinity` is not the limit as tau -> infinity.",
        hint + " As tau grows, the largest score of each row (not each column) beats the others by "
        "more and more: where does all the weight go?",
    )
    passed(
        f"tau -> 0 gives uniform weights (1/{scores.shape[-1]} each); tau -> infinity puts all the "
        f"weight on each row's largest score: {rounded(one_hot, 2)}"
    )


def check_next_token_head(sentence, your_next_weights) -> None:
    """Chapter 1, exercise 4: the weights of a head in which every token (but the last) attends
    most to the next one, with at least half its weight."""
    if unanswered(your_next_weights=your_next_weights):
        return
    n = len(sentence)
    weights = as_tensor("your_next_weights", your_next_weights)
    hint = "the attention weights of your head on the sentence: an (n, n) table, one row per query."
    require_shape("your_next_weights", weights, (n, n), hint)
    require(
        bool(torch.allclose(weights.sum(-1), torch.ones(n, dtype=torch.float64), atol=1e-3)),
        "the rows of `your_next_weights` do not sum to 1.",
        "pass the attention *weights* (the softmax of the scores), not the scores or the output.",
    )
    peaks = weights.argmax(dim=-1)
    targets = torch.arange(1, n)
    hint = (
        "row i must put most of its weight on column i + 1. Revisit head 0 of section 1.7: its "
        "queries and keys carry position codes, and a shift between the two decides which key "
        "each query matches."
    )
    if n > 2 and bool((peaks[1:] == torch.arange(n - 1)).all()):
        hint = "your head attends to the previous token (row i peaks at column i - 1); " + hint
    require(
        bool((peaks[:-1] == targets).all()),
        f"rows {[i for i in range(n - 1) if peaks[i] != i + 1]} do not peak at the next token.",
        hint,
    )
    smallest = weights[torch.arange(n - 1), targets].min().item()
    require(
        smallest > 0.5,
        f"some rows put only {smallest:.2f} of their weight on the next token.",
        "make the head sharper: scale the query (as `sharpness` does) so that the right key wins clearly.",
    )
    passed(f"every token but the last puts most of its weight on the next token (at least {smallest:.4f})")
