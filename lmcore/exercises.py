"""Checks for the chapters' exercises: each tells a student whether an answer is right.

Every check recomputes the expected answer from the exercise's own inputs (never from a stored
number) and behaves the same way:

* an answer still ``None`` (the student copies start that way) prints ``Not answered yet: set
  `your_...` ...`` and returns without raising, so "Run all" goes on;
* a right answer prints ``Correct: ...`` with the value, rounded as it is printed; an answer as
  precise as the printed value is accepted (one unit in its last printed digit);
* a wrong answer raises an ``AssertionError`` whose message says what is wrong and, after
  ``Hint:``, what to look at (a common mistake where the answer shows one). It does not give the
  expected value away.

The parameters that take a student's answer are named as the exercises name the variables
(``your_answer``, ``your_output``, ...), so the "not answered" message names the variable to set.
A check's other arguments are the exercise's data, never the way to the answer.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping

import numpy as np
import torch

__all__ = [
    "NOT_ANSWERED",
    "check_attention",
    "check_attention_parameters",
    "check_causal_mask",
    "check_encoder_without_positions",
    "check_half_attention_context",
    "check_invented_words",
    "check_leaking_part",
    "check_longer_context_parameters",
    "check_macro_f1",
    "check_most_confused",
    "check_next_token_head",
    "check_parameter_count",
    "check_pe_distance",
    "check_permuted_attention",
    "check_pre_ln",
    "check_sep_head",
    "check_temperature_limits",
    "check_test_chosen_gain",
    "check_unmasked_leak",
    "check_unmasked_mean",
    "check_wordpiece",
    "check_zeroed_token",
]

NOT_ANSWERED = "Not answered yet"
NEWSGROUP_PARTS = ("headers", "footers", "quotes")


# --------------------------------------------------------------------------- helpers


def _unanswered(**answers) -> bool:
    """Print the "not answered" line and return True when any answer is still None."""
    missing = [name for name, value in answers.items() if value is None]
    if not missing:
        return False
    names = " and ".join(f"`{name}`" for name in missing)
    answers = "your answer" if len(missing) == 1 else "your answers"
    print(f"{NOT_ANSWERED}: set {names} (still None) to {answers}, then run this cell again to check it.")
    return True


def _passed(message: str) -> None:
    print(f"Correct: {message}")


def _require(condition: bool, message: str, hint: str) -> None:
    """Raise the AssertionError of a wrong answer: what is wrong, then a hint (its parts joined
    with "; " become sentences)."""
    if not condition:
        hint = re.sub(r"(^|; )([a-z])", lambda m: (". " if m.group(1) else "") + m.group(2).upper(), hint)
        raise AssertionError(f"Not quite: {message}\nHint: {hint}")


def _number(name: str, value) -> float:
    if isinstance(value, torch.Tensor | np.ndarray):
        size = value.numel() if isinstance(value, torch.Tensor) else value.size
        if size != 1:
            raise TypeError(
                f"your answer `{name}` must be a single number; got an array of shape {tuple(value.shape)}"
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"your answer `{name}` must be a number; got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"your answer `{name}` must be a finite number; got {value}")
    return value


def _integer(name: str, value) -> int:
    number = _number(name, value)
    if number != int(number):
        raise TypeError(f"your answer `{name}` must be a whole number; got {number}")
    return int(number)


def _boolean(name: str, value) -> bool:
    """True or False, as a Python, NumPy or 0-d torch boolean (or 0 / 1)."""
    if isinstance(value, torch.Tensor | np.ndarray):
        size = value.numel() if isinstance(value, torch.Tensor) else value.size
        if size == 1:
            value = value.item()
    if isinstance(value, bool | np.bool_) or (isinstance(value, int | np.integer) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"your answer `{name}` must be True or False; got {value!r}")


def _within(answer: float, expected: float, decimals: int) -> bool:
    """As precise as a value printed with ``decimals`` decimals: within one unit of the last digit."""
    return abs(answer - expected) <= 10.0**-decimals * (1 + 1e-9)


def _tensor(name: str, value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().double()
    try:
        return torch.as_tensor(np.asarray(value, dtype=float), dtype=torch.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"your answer `{name}` must be a tensor (or an array); got {type(value).__name__}"
        ) from None


def _close(a: torch.Tensor, b: torch.Tensor, tolerance: float) -> bool:
    """Same shape, and no entry further apart than ``tolerance``."""
    if a.shape != b.shape:
        return False
    return a.numel() == 0 or bool((a - b).abs().max() <= tolerance)


def _require_shape(name: str, answer: torch.Tensor, shape: tuple, hint: str) -> None:
    _require(
        tuple(answer.shape) == tuple(shape),
        f"`{name}` should have shape {tuple(shape)}, got {tuple(answer.shape)}.",
        hint,
    )


def _attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    weights = torch.softmax(query @ key.transpose(-2, -1) / math.sqrt(key.shape[-1]), dim=-1)
    return weights @ value, weights


def _indices(name: str, values) -> list[int]:
    if isinstance(values, torch.Tensor | np.ndarray):
        values = values.tolist()
    if isinstance(values, int | np.integer):
        values = [values]
    try:
        return sorted({_integer(name, v) for v in values})
    except TypeError:
        raise TypeError(
            f"your answer `{name}` must be a list of whole numbers (indices); got {values!r}"
        ) from None


def _rounded(tensor: torch.Tensor, decimals: int) -> list:
    return np.round(tensor.numpy(), decimals).tolist()


# --------------------------------------------------------------------------- chapter 1


def check_attention(query, key, value, your_output, mask=None, tolerance: float = 1e-5) -> None:
    """Is ``your_output`` softmax(Q K^T / sqrt(d_k) (+ mask)) V, checked against PyTorch's SDPA?"""
    if _unanswered(your_output=your_output):
        return
    query, key, value = (torch.as_tensor(np.asarray(t, dtype=float)) for t in (query, key, value))
    your_output = _tensor("your_output", your_output)  # a tensor or a NumPy array
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
    _require_shape("your_output", your_output, expected.shape, hint)
    answer = your_output.double()
    error = (answer - expected).abs().max().item()
    unscaled = torch.softmax(query.double() @ key.double().transpose(-2, -1), dim=-1) @ value.double()
    if mask is None and _close(answer, unscaled, tolerance):
        hint = "you left out the scaling: divide the scores by sqrt(d_k) before the softmax."
    wrong_axis = torch.softmax(
        query.double() @ key.double().transpose(-2, -1) / math.sqrt(key.shape[-1]), dim=-2
    )
    if mask is None and _close(answer, wrong_axis @ value.double(), tolerance):
        hint = "the softmax goes over the keys, the last axis (dim=-1): each query's weights sum to 1."
    _require(error <= tolerance, f"the largest difference from PyTorch's attention is {error:.2e}.", hint)
    _passed(f"matches torch.nn.functional.scaled_dot_product_attention (largest difference {error:.1e})")


def check_zeroed_token(X, W_Q, W_K, W_V, token: int, your_weights, your_changed_rows) -> None:
    """Chapter 1, exercise 1: the weight table after token ``token``'s input vector is set to zero.

    ``your_weights``: the new (n, n) attention weights; ``your_changed_rows``: the indices of the
    rows that differ from the weights before the change.
    """
    if _unanswered(your_weights=your_weights, your_changed_rows=your_changed_rows):
        return
    X, W_Q, W_K = (torch.as_tensor(t).double() for t in (X, W_Q, W_K))
    zeroed = X.clone()
    zeroed[token] = 0.0
    _, before = _attention(X @ W_Q, X @ W_K, X @ torch.as_tensor(W_V).double())
    _, after = _attention(zeroed @ W_Q, zeroed @ W_K, zeroed @ torch.as_tensor(W_V).double())
    answer = _tensor("your_weights", your_weights)
    rows = _indices("your_changed_rows", your_changed_rows)
    how = (
        f"set row {token} of a copy of X (the whole vector of that token) to zero, compute Q and K "
        "from the changed X, then softmax(Q K^T / sqrt(d_k)) row by row."
    )
    _require_shape("your_weights", answer, after.shape, how)
    if _close(answer, before, 1e-3):
        how = "these are the weights before the change; " + how
    _require(_close(answer, after, 1e-3), "`your_weights` are not the weights after the change.", how)
    expected_rows = [i for i in range(len(after)) if (after[i] - before[i]).abs().max() > 1e-6]
    _require(
        rows == expected_rows,
        f"rows {rows} are not the rows that change.",
        "compare your new table with the original `weights`, row by row (0 = first token): a row "
        "changes when any of its numbers does. Revisit step 1 of section 1.3: which vectors does "
        "the changed token take part in, and which scores use them?",
    )
    _passed(f"rows {expected_rows} change; the new weights, to 3 decimals: {_rounded(after, 3)}")


def check_permuted_attention(X, W_Q, W_K, W_V, permutation, your_shuffled_output) -> None:
    """Chapter 1, exercise 2: self-attention (no positions) of the tokens of ``X`` shuffled by
    ``permutation``; it must equal the unshuffled output with its rows shuffled the same way."""
    if _unanswered(your_shuffled_output=your_shuffled_output):
        return
    X, W_Q, W_K, W_V = (torch.as_tensor(t).double() for t in (X, W_Q, W_K, W_V))
    permutation = torch.as_tensor(permutation).long()
    H, _ = _attention(X @ W_Q, X @ W_K, X @ W_V)
    expected, _ = _attention(X[permutation] @ W_Q, X[permutation] @ W_K, X[permutation] @ W_V)
    answer = _tensor("your_shuffled_output", your_shuffled_output)
    hint = (
        "shuffle the tokens first (X[permutation]), then compute Q, K and V from the shuffled X and "
        "apply attention, exactly as for the original order."
    )
    _require_shape("your_shuffled_output", answer, expected.shape, hint)
    if _close(answer, H, 1e-4):
        hint = "that is the output for the tokens in their original order; " + hint
    elif _close(answer, H[torch.argsort(permutation)], 1e-4):
        hint = "your rows are shuffled the inverse way: row i is the token at X[permutation[i]]."
    _require(
        _close(answer, expected, 1e-4),
        "`your_shuffled_output` is not the attention of the shuffled tokens.",
        hint,
    )
    _passed(
        "the output for the shuffled tokens is the original output with its rows shuffled the same "
        f"way (H[permutation], to 4 decimals): {_rounded(expected, 4)}"
    )


def check_temperature_limits(scores, your_limit_zero, your_limit_infinity) -> None:
    """Chapter 1, exercise 3: the limits of softmax(tau * scores) (row by row) as tau -> 0 and
    tau -> infinity, to 2 decimals."""
    if _unanswered(your_limit_zero=your_limit_zero, your_limit_infinity=your_limit_infinity):
        return
    scores = torch.as_tensor(scores).double()
    uniform = torch.full_like(scores, 1 / scores.shape[-1])
    best = (scores >= scores.max(dim=-1, keepdim=True).values - 1e-12).double()
    one_hot = best / best.sum(dim=-1, keepdim=True)  # ties share the weight
    zero, infinity = (
        _tensor("your_limit_zero", your_limit_zero),
        _tensor("your_limit_infinity", your_limit_infinity),
    )
    hint = (
        "write the weights as tau * scores gets very small (all scores -> 0) and very large (the gaps grow)."
    )
    _require_shape("your_limit_zero", zero, scores.shape, hint)
    _require_shape("your_limit_infinity", infinity, scores.shape, hint)
    if _close(zero, one_hot, 0.01) and _close(infinity, uniform, 0.01):
        hint = "you have the two limits the wrong way round: a small tau shrinks every score towards 0."
    _require(
        _close(zero, uniform, 0.01),
        "`your_limit_zero` is not the limit as tau -> 0.",
        hint + " As tau -> 0 every score tau * s goes to 0, and the softmax of equal scores is...?",
    )
    _require(
        _close(infinity, one_hot, 0.01),
        "`your_limit_infinity` is not the limit as tau -> infinity.",
        hint + " As tau grows, the largest score of each row (not each column) beats the others by "
        "more and more: where does all the weight go?",
    )
    _passed(
        f"tau -> 0 gives uniform weights (1/{scores.shape[-1]} each); tau -> infinity puts all the "
        f"weight on each row's largest score: {_rounded(one_hot, 2)}"
    )


def check_next_token_head(sentence, your_next_weights) -> None:
    """Chapter 1, exercise 4: the weights of a head in which every token (but the last) attends
    most to the next one, with at least half its weight."""
    if _unanswered(your_next_weights=your_next_weights):
        return
    n = len(sentence)
    weights = _tensor("your_next_weights", your_next_weights)
    hint = "the attention weights of your head on the sentence: an (n, n) table, one row per query."
    _require_shape("your_next_weights", weights, (n, n), hint)
    _require(
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
    _require(
        bool((peaks[:-1] == targets).all()),
        f"rows {[i for i in range(n - 1) if peaks[i] != i + 1]} do not peak at the next token.",
        hint,
    )
    smallest = weights[torch.arange(n - 1), targets].min().item()
    _require(
        smallest > 0.5,
        f"some rows put only {smallest:.2f} of their weight on the next token.",
        "make the head sharper: scale the query (as `sharpness` does) so that the right key wins clearly.",
    )
    _passed(f"every token but the last puts most of its weight on the next token (at least {smallest:.4f})")


# --------------------------------------------------------------------------- chapter 2


def check_pre_ln(your_pre_ln: Callable | None) -> None:
    """Chapter 2, exercise 1: ``your_pre_ln(layer, x)`` computes a pre-LN encoder layer's output
    from its parts; compared with the layer itself, with random LayerNorm gains and shifts."""
    if _unanswered(your_pre_ln=your_pre_ln):
        return
    from .transformer import EncoderLayer

    if not callable(your_pre_ln):
        raise TypeError(
            f"your answer `your_pre_ln` must be a function of (layer, x); got {type(your_pre_ln).__name__}"
        )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        layer = EncoderLayer(8, 2, 32, dropout=0.0, norm_first=True).double().eval()
        with torch.no_grad():
            for norm in (layer.norm1, layer.norm2):
                norm.weight.copy_(1 + 0.5 * torch.randn(8, dtype=torch.float64))
                norm.bias.copy_(0.5 * torch.randn(8, dtype=torch.float64))
        x = torch.randn(3, 6, 8, dtype=torch.float64)
    with torch.no_grad():
        expected = layer(x)[0]
        got = your_pre_ln(layer, x)
        x1 = layer.norm1(x + layer.self_attn(x)[0])
        post_ln = layer.norm2(x1 + layer.feed_forward(x1))
    if isinstance(got, tuple):
        raise TypeError("your answer `your_pre_ln` must return the layer's output tensor, not a tuple")
    got = _tensor("your_pre_ln(layer, x)", got)
    hint = (
        "pre-LN normalises the *input* of each sub-layer and adds the sub-layer's output to the "
        "un-normalised residual: one formula for the attention sub-layer (norm1, self_attn), one "
        "for the feed-forward sub-layer (norm2, feed_forward). `layer.self_attn(z)` returns "
        "(output, weights)."
    )
    _require_shape("your_pre_ln(layer, x)", got, expected.shape, hint)
    if _close(got, post_ln, 1e-6):
        hint = "those are the post-LN formulas (LayerNorm after the residual sum); " + hint
    _require(_close(got, expected, 1e-6), "your function does not reproduce the pre-LN layer.", hint)
    _passed("your formulas reproduce a pre-LN encoder layer: X' = X + MHA(LN1(X)), H = X' + FFN(LN2(X'))")


def check_encoder_without_positions(model, ids, your_reversed_output) -> None:
    """Chapter 2, exercise 2: ``model.encoder``'s output for the reversed sentence ``ids``,
    embedded as the model does (times sqrt(d_model)) but without positional encodings."""
    if _unanswered(your_reversed_output=your_reversed_output):
        return
    from .train import evaluating

    with evaluating(model):
        embedded = model.source_embedding(ids) * math.sqrt(model.d_model)
        forward, _ = model.encoder(embedded)
        expected, _ = model.encoder(embedded.flip(1))
        with_positions, _ = model.encoder(model.embed(ids.flip(1), model.source_embedding))
    expected, forward = expected.double(), forward.double()
    answer = _tensor("your_reversed_output", your_reversed_output)
    hint = (
        "embed the reversed ids (ids.flip(1)) with model.source_embedding, times "
        "math.sqrt(model.d_model), and run model.encoder on that directly, in eval mode "
        "(model.eval()). The encoder returns a pair: (output, weights)."
    )
    _require_shape("your_reversed_output", answer, expected.shape, hint)
    if _close(answer, forward, 1e-4) and not _close(forward, expected, 1e-4):
        hint = "that is the output for the sentence in its own order; " + hint
    elif _close(answer, expected.flip(1), 1e-4):
        hint = "you flipped the output back; give it as the encoder returns it; " + hint
    elif _close(answer, with_positions.double(), 1e-4):
        hint = "leave out the positional encoding (model.embed adds it); " + hint
    _require(
        _close(answer, expected, 1e-4),
        "`your_reversed_output` is not the encoder's output for the reversed sentence.",
        hint,
    )
    gap = (expected.flip(1) - forward).abs().max().item()
    _passed(
        "the encoder's output for the reversed sentence is its output for the sentence, reversed "
        f"(largest difference {gap:.1e}): without positional encodings, order is invisible"
    )


def check_pe_distance(encoding, distance: int, your_dot) -> None:
    """Chapter 2, exercise 3: PE_p . PE_(p + distance), the same for every p (4 decimals)."""
    if _unanswered(your_dot=your_dot):
        return
    encoding = torch.as_tensor(encoding).double()
    dots = (encoding[:-distance] * encoding[distance:]).sum(-1)
    expected = dots[0].item()
    answer = _number("your_dot", your_dot)
    hint = (
        "take the two encodings distance apart, e.g. rows p and p + distance of the table, multiply "
        "them element by element and sum; any p gives the same value."
    )
    neighbours = [(encoding[: -(distance + s)] * encoding[distance + s :]).sum(-1)[0].item() for s in (-1, 1)]
    if any(_within(answer, value, 4) for value in neighbours):
        hint = f"off by one: that is the product at distance {distance - 1} or {distance + 1}; " + hint
    elif _within(answer, (encoding[0] @ encoding[0]).item(), 4):
        hint = "that is PE_p . PE_p, distance 0; " + hint
    _require(
        _within(answer, expected, 4),
        f"{answer:.4f} is not PE_p . PE_(p+{distance}).",
        hint,
    )
    spread = (dots.max() - dots.min()).item()
    _passed(
        f"PE_p . PE_(p+{distance}) = {expected:.4f} for every p from 0 to {len(dots) - 1} "
        f"(spread {spread:.1e}): it depends only on the distance"
    )


def check_unmasked_leak(layer, target, changed_target, memory, your_changed_positions) -> None:
    """Chapter 2, exercise 4: the target positions whose output changes, with no causal mask, when
    ``target`` becomes ``changed_target`` (the source mask cannot change which ones)."""
    if _unanswered(your_changed_positions=your_changed_positions):
        return
    from .attention import causal_mask
    from .train import evaluating

    length = target.shape[1]
    with evaluating(layer):
        outputs = {
            name: (layer(target, memory, mask)[0], layer(changed_target, memory, mask)[0])
            for name, mask in (("unmasked", None), ("causal", causal_mask(length)))
        }

    def changed(before, after):
        return [t for t in range(length) if not torch.allclose(before[:, t], after[:, t])]

    expected, with_mask = changed(*outputs["unmasked"]), changed(*outputs["causal"])
    edited = [t for t in range(length) if not torch.equal(target[:, t], changed_target[:, t])]
    positions = _indices("your_changed_positions", your_changed_positions)
    hint = (
        "run the layer on both targets with no causal mask (None) and compare the outputs position "
        "by position: a position changes when any of its numbers does."
    )
    if positions == with_mask:
        hint = "those are the positions that change *with* the causal mask; " + hint
    _require(positions == expected, f"positions {positions} are not the ones that change.", hint)
    _passed(
        f"without the mask, changing position(s) {edited} changes the outputs at positions {expected} "
        f"(with the mask only {with_mask}): the earlier positions now see the future"
    )


# --------------------------------------------------------------------------- chapter 3


def check_wordpiece(tokenizer, sentence: str, your_count, your_split_words) -> None:
    """Chapter 3, exercise 1: how many WordPiece tokens ``sentence`` takes (without [CLS] and
    [SEP]) and which of its words are split into more than one piece."""
    if _unanswered(your_count=your_count, your_split_words=your_split_words):
        return
    pieces = tokenizer.tokenize(sentence)
    words = sentence.split()
    split = sorted({w.lower() for w in words if len(tokenizer.tokenize(w)) > 1})
    count = _integer("your_count", your_count)
    hint = "count the pieces tokenizer.tokenize(sentence) returns."
    if count == len(words):
        hint = "that is the number of words; " + hint
    elif count == len(pieces) + 2:
        hint = "leave out [CLS] and [SEP], which tokenizer(...) adds; " + hint
    _require(count == len(pieces), f"the sentence does not take {count} WordPiece tokens.", hint)
    if isinstance(your_split_words, str):
        your_split_words = your_split_words.split()
    given = sorted({str(w).lower().strip(" ,.") for w in your_split_words})
    _require(
        given == split,
        f"{given} are not the words that are split.",
        "tokenize each word alone (tokenizer.tokenize(word)): a word is split when it gives more than "
        "one piece; the pieces after the first start with ##.",
    )
    _passed(f"{len(pieces)} tokens, {pieces}; split into pieces: {split}")


def check_sep_head(attention, tokens, your_sep_layer, your_sep_head, your_same_head) -> None:
    """Chapter 3, exercise 3: the (layer, head) whose weight on [SEP], averaged over the word
    queries (between [CLS] and the last [SEP]), is largest, and whether it is also the [CLS] head."""
    if _unanswered(your_sep_layer=your_sep_layer, your_sep_head=your_sep_head, your_same_head=your_same_head):
        return
    your_same_head = _boolean("your_same_head", your_same_head)
    attention = torch.as_tensor(attention).double()
    heads = attention.shape[1]
    sep = [i for i, t in enumerate(tokens) if t == "[SEP]"]
    cls = [i for i, t in enumerate(tokens) if t == "[CLS]"]
    if not sep or not cls:
        raise ValueError("tokens must contain [CLS] and [SEP]")

    def best(columns, rows):
        score = attention[:, :, rows][..., columns].sum(-1).mean(-1)  # (layers, heads)
        return divmod(int(score.argmax()), heads), score

    words = slice(1, len(tokens) - 1)
    (sep_best, sep_score), (cls_best, _) = best(sep, words), best(cls, words)
    accepted = {sep_best, best(sep, slice(None))[0]}  # averaging over every query also counts
    answer = (_integer("your_sep_layer", your_sep_layer), _integer("your_sep_head", your_sep_head))
    hint = (
        "average, for every (layer, head), the weight the word queries put on the [SEP] column "
        f"(position {sep[-1]}), and take the largest; attention has shape (layers, heads, queries, keys)."
    )
    if answer == cls_best and cls_best not in accepted:
        hint = "that is the head that attends most to [CLS] (column 0); " + hint
    elif answer[::-1] in accepted:
        hint = (
            "layer and head are the wrong way round: divmod(flat index, number of heads) gives (layer, head). "
            + hint
        )
    _require(answer in accepted, f"layer {answer[0]}, head {answer[1]} is not the [SEP] head.", hint)
    same = sep_best == cls_best
    _require(
        bool(your_same_head) == same,
        f"it is {'' if same else 'not '}the same head as the one that attends most to [CLS].",
        "find the [CLS] head the same way, with column 0, and compare the two (layer, head) pairs.",
    )
    _passed(
        f"layer {sep_best[0]}, head {sep_best[1]} puts {sep_score[sep_best].item():.2f} of each word's "
        f"attention on [SEP]; the [CLS] head is layer {cls_best[0]}, head {cls_best[1]}: "
        f"{'the same' if same else 'a different'} head"
    )


# --------------------------------------------------------------------------- chapter 4


def check_most_confused(matrix, class_names, your_true_class, your_predicted_class) -> None:
    """Chapter 4, exercise 1: the (true, predicted) pair of the largest off-diagonal count of a
    confusion matrix (rows: true class). Answers may be class names or indices; ties all count."""
    if _unanswered(your_true_class=your_true_class, your_predicted_class=your_predicted_class):
        return
    matrix = np.asarray(matrix)
    names = list(class_names)

    def index(name, value):
        if isinstance(value, str):
            if value not in names:
                raise ValueError(f"your answer `{name}` must be one of {names}; got {value!r}")
            return names.index(value)
        return _integer(name, value)

    off_diagonal = matrix - np.diag(np.diag(matrix))
    largest = off_diagonal.max()
    pairs = {(int(i), int(j)) for i, j in np.argwhere(off_diagonal == largest) if i != j}
    answer = (index("your_true_class", your_true_class), index("your_predicted_class", your_predicted_class))
    hint = "the largest count off the diagonal: its row is the true class, its column the predicted class."
    if answer[0] == answer[1]:
        hint = "the diagonal counts the right predictions, not confusions; " + hint
    elif answer[::-1] in pairs:
        hint = "true and predicted are the wrong way round; " + hint
    _require(
        answer in pairs, f"{names[answer[0]]} -> {names[answer[1]]} is not the most frequent confusion.", hint
    )
    _passed(
        f"{names[answer[0]]} predicted as {names[answer[1]]}: {largest} messages, the largest "
        "count off the diagonal"
    )


def check_unmasked_mean(classifier, batch, your_difference) -> None:
    """Chapter 4, exercise 2: the largest absolute difference between the masked mean (real
    tokens only) and the naive mean (every position, padding included) of the first text's last
    hidden states in the padded ``batch`` (3 decimals)."""
    if _unanswered(your_difference=your_difference):
        return
    from .train import evaluating

    mask = batch["attention_mask"][0].bool()
    if bool(mask.all()):
        raise ValueError("batch: its first text must be the padded one")
    with evaluating(classifier):
        hidden = classifier.bert(batch["input_ids"], batch["attention_mask"]).last_hidden_state[0]
    masked, naive = hidden[mask].mean(0), hidden.mean(0)
    expected = (masked - naive).abs().max().item()
    answer = _number("your_difference", your_difference)
    hint = (
        "masked mean: the first text's hidden states averaged over its real tokens (attention mask 1); "
        "naive mean: averaged over every position of its padded row; then the largest absolute "
        "difference between the two vectors."
    )
    if _within(answer, 0.0, 3):
        hint = "a difference of 0 means both means left the padding out; " + hint
    _require(_within(answer, expected, 3), f"{answer:.3f} is not the largest difference.", hint)
    _passed(
        f"the naive mean differs from the masked one by up to {expected:.3f}: without the mask, "
        "padding would change a mean-pooled prediction"
    )


# --------------------------------------------------------------------------- chapter 5 and the FAQ


def check_macro_f1(matrix, your_answer, decimals: int = 4) -> None:
    """Is ``your_answer`` the macro-averaged F1 of the confusion matrix ``matrix`` (rows: true
    class), to ``decimals`` decimals?"""
    from sklearn.metrics import f1_score

    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be a square confusion matrix; got shape {matrix.shape}")
    if _unanswered(your_answer=your_answer):
        return
    true, predicted = np.nonzero(matrix)
    counts = matrix[true, predicted].astype(int)
    labels_true, labels_predicted = np.repeat(true, counts), np.repeat(predicted, counts)

    def f1(average):
        return f1_score(
            labels_true, labels_predicted, average=average, labels=range(len(matrix)), zero_division=0
        )

    expected = f1("macro")
    answer = _number("your_answer", your_answer)
    diagonal = np.diag(matrix).astype(float)
    precision = diagonal / np.maximum(matrix.sum(axis=0), 1)
    recall = diagonal / np.maximum(matrix.sum(axis=1), 1)
    hint = (
        "per class: precision = diagonal / column sum, recall = diagonal / row sum, F1 = 2PR/(P+R) "
        "(0 when P+R = 0); then the plain mean over the classes."
    )
    mistakes = {
        "that is the accuracy (diagonal / total), not the macro F1.": diagonal.sum() / matrix.sum(),
        "that average is weighted by class size; a macro average weighs every class the same.": f1(
            "weighted"
        ),
        "F1 is the harmonic mean 2PR/(P+R), not the plain mean (P+R)/2.": np.mean((precision + recall) / 2),
        "rows and columns are swapped: rows are the true classes, columns the predictions.": f1_score(
            labels_predicted, labels_true, average="macro", labels=range(len(matrix)), zero_division=0
        ),
    }
    close = [
        (abs(answer - value), mistake)
        for mistake, value in mistakes.items()
        if _within(answer, value, decimals) and not _within(value, expected, decimals)
    ]
    if 1 < answer <= 100:
        hint = f"give it as a fraction between 0 and 1, not a percentage; {hint}"
    elif close:
        hint = f"{min(close)[1].rstrip('.')}; {hint}"
    _require(
        _within(answer, expected, decimals),
        f"your macro F1 should be the plain mean of the per-class F1 scores; {answer:.{decimals}f} is not.",
        hint,
    )
    _passed(f"macro F1 = {expected:.{decimals}f}")


@functools.lru_cache(maxsize=4)
def _leak_accuracies(train_index: tuple, test_index: tuple) -> dict:
    from .classify import tfidf_baseline
    from .newsgroups import load_20newsgroups

    accuracies = {}
    for part in NEWSGROUP_PARTS:
        train = load_20newsgroups("train", remove=(part,))
        test = load_20newsgroups("test", remove=(part,))
        predicted, _, _ = tfidf_baseline(
            [train.texts[i] for i in train_index],
            [train.labels[i] for i in train_index],
            [test.texts[i] for i in test_index],
            calibrated=False,
        )
        accuracies[part] = float(np.mean(predicted == np.asarray(test.labels)[list(test_index)]))
    return accuracies


def check_leaking_part(train_index, test_index, your_accuracies, your_part) -> None:
    """Chapter 5, exercise 2: the TF-IDF baseline's test accuracy with each of headers, footers and
    quotes removed alone (trained on ``train_index``, tested on ``test_index``; 3 decimals), and
    the part that leaks the newsgroup most (whose removal costs the most accuracy)."""
    if _unanswered(your_accuracies=your_accuracies, your_part=your_part):
        return
    if not isinstance(your_accuracies, Mapping):
        raise TypeError(
            "your answer `your_accuracies` must be a dict {part: accuracy} with the parts "
            f"{list(NEWSGROUP_PARTS)}; got {type(your_accuracies).__name__}"
        )
    given = {}
    for key, value in your_accuracies.items():
        parts = [p for p in NEWSGROUP_PARTS if p in str(key).lower()]
        if len(parts) == 1:
            given[parts[0]] = _number(f"your_accuracies[{key!r}]", value)
    _require(
        sorted(given) == sorted(NEWSGROUP_PARTS),
        f"`your_accuracies` should have one entry per part, {list(NEWSGROUP_PARTS)}; got {list(your_accuracies)}.",
        "one accuracy per part, each with that part alone removed.",
    )
    expected = _leak_accuracies(tuple(int(i) for i in train_index), tuple(int(i) for i in test_index))
    wrong = [part for part in NEWSGROUP_PARTS if not _within(given[part], expected[part], 3)]
    _require(
        not wrong,
        f"the accuracies with {', '.join(wrong)} removed are not right.",
        "remove one part at a time (load_20newsgroups(split, remove=(part,))), train "
        "tfidf_baseline(..., calibrated=False) on the exercise's training messages (its first "
        "index list) and score it on its test messages: accuracy = share of right predictions.",
    )
    lowest = min(expected.values())
    leaking = {part for part, accuracy in expected.items() if accuracy == lowest}
    part = str(your_part).lower()
    named = [p for p in NEWSGROUP_PARTS if p in part]
    hint = "the part that leaks most is the one whose removal lowers the accuracy most."
    if len(named) == 1 and expected[named[0]] == max(expected.values()):
        hint = "that part's removal costs the least accuracy; " + hint
    _require(len(named) == 1 and named[0] in leaking, f"{your_part!r} is not the part that leaks most.", hint)
    table = ", ".join(f"{p} removed {a:.3f}" for p, a in expected.items())
    _passed(f"{table}: the {named[0]} leak the newsgroup most")


def check_test_chosen_gain(run, your_gain) -> None:
    """Chapter 5, exercise 3: how much higher the ensemble's test accuracy would be reported if its
    weight were chosen on the test set (over the validation search's weights), as a fraction
    (4 decimals)."""
    if _unanswered(your_gain=your_gain):
        return
    from .classify import geometric_ensemble

    arrays = run["arrays"]
    labels = np.asarray(arrays["test_labels"])
    weights = sorted(float(w) for w in run["validation"]["ensemble_accuracy_by_weight"])

    def accuracy(weight):
        return float(
            np.mean(
                geometric_ensemble(arrays["bert_test"], arrays["baseline_test"], weight).argmax(1) == labels
            )
        )

    reported = accuracy(float(run["validation"]["ensemble_weight"]))
    best = max(accuracy(w) for w in weights)
    expected = best - reported
    answer = _number("your_gain", your_gain)
    hint = (
        "compute the ensemble's test accuracy for every weight of the validation search "
        "(run['validation']['ensemble_accuracy_by_weight']), take the largest, and subtract the "
        "test accuracy at the weight chosen on validation (run['validation']['ensemble_weight'])."
    )
    if _within(answer, 100 * expected, 2) and not _within(expected, 0.0, 4):
        hint = "give it as a fraction of the messages, not in percentage points; " + hint
    elif _within(answer, best, 4):
        hint = "that is the best test accuracy itself; the question asks how much higher it is; " + hint
    _require(_within(answer, expected, 4), f"{answer:.4f} is not the gain.", hint)
    _passed(
        f"chosen on the test set the ensemble would report {best:.4f} instead of {reported:.4f}: "
        f"{expected:.4f} higher ({100 * expected:.2f} points)"
    )


# --------------------------------------------------------------------------- chapter 6


def check_causal_mask(your_mask, length: int) -> None:
    """Is ``your_mask`` a causal mask for ``length`` tokens (True/1 where a query may look)?"""
    if _unanswered(your_mask=your_mask):
        return
    if not isinstance(your_mask, torch.Tensor):
        raise TypeError(f"your answer `your_mask` must be a torch.Tensor; got {type(your_mask).__name__}")
    expected = torch.ones(length, length).tril().bool()
    hint = "row i is query i, column j key j; query i may look at keys 0..i (itself and the past)."
    _require_shape("your_mask", your_mask, (length, length), hint)
    answer = your_mask.bool()
    if torch.equal(answer, expected.T):
        hint = "that mask lets each query see the future, not the past; " + hint
    elif torch.equal(answer, expected.tril(-1)):
        hint = "a query may look at itself: the diagonal is True; " + hint
    _require(
        torch.equal(answer, expected),
        "this is not a causal mask: it must be lower-triangular, True on and below the diagonal.",
        hint,
    )
    _passed(f"a {length} x {length} causal mask")


def check_invented_words(
    model,
    tokenizer,
    prompt: str,
    training_text: str,
    your_share_without_top_k,
    your_share_with_top_k,
    k: int = 5,
    length: int = 200,
    samples: int | None = None,
) -> None:
    """Chapter 6, exercise 3: the share of generated words not in the training text, averaged
    over ``samples`` samples (seeds 0, 1, ...; ``lmcore.pick(full=20, quick=2)`` by default) of
    ``length`` characters after ``prompt`` at temperature 1.0, without and with top-``k``
    (3 decimals). A sample's words: split on whitespace, the last one (perhaps cut off) dropped."""
    if _unanswered(
        your_share_without_top_k=your_share_without_top_k, your_share_with_top_k=your_share_with_top_k
    ):
        return
    from .budget import pick
    from .gpt import generate

    samples = pick(full=20, quick=2) if samples is None else samples
    known = set(training_text.split())

    def share(top_k):
        shares = []
        for seed in range(samples):
            ids = generate(
                model,
                tokenizer.encode(prompt),
                length,
                temperature=1.0,
                top_k=top_k,
                generator=torch.Generator().manual_seed(seed),
            )
            words = tokenizer.decode(ids)[len(prompt) :].split()[:-1]
            shares.append(float(np.mean([w not in known for w in words])) if words else 0.0)
        return float(np.mean(shares))

    expected = {"without": share(None), "with": share(k)}
    answers = {
        "without": _number("your_share_without_top_k", your_share_without_top_k),
        "with": _number("your_share_with_top_k", your_share_with_top_k),
    }
    hint = (
        f"for each seed 0..{samples - 1}, generate {length} characters after the prompt with "
        "torch.Generator().manual_seed(seed), split the new text on whitespace, drop the last "
        "word (it may be cut off) and take the share of words not in text.split(); average the "
        "shares over the samples."
    )
    if _within(answers["without"], expected["with"], 3) and _within(answers["with"], expected["without"], 3):
        hint = "the two shares are the wrong way round; " + hint
    elif any(_within(answers[key], 100 * expected[key], 1) for key in answers) and max(expected.values()) > 0:
        hint = "give shares between 0 and 1, not percentages; " + hint
    for key, name in (("without", "your_share_without_top_k"), ("with", "your_share_with_top_k")):
        _require(
            _within(answers[key], expected[key], 3), f"`{name}` = {answers[key]:.3f} is not right.", hint
        )
    fewer = expected["with"] < expected["without"]
    _passed(
        f"share of invented words {expected['without']:.3f} without top-k, {expected['with']:.3f} "
        f"with top-{k}: {'fewer' if fewer else 'not fewer'} invented words with top-k"
    )


# --------------------------------------------------------------------------- chapter 7


def check_attention_parameters(
    d_model: int, num_heads: int, your_answer, bias: bool = True, answer_name: str = "your_answer"
) -> None:
    """Is ``your_answer`` the number of parameters of one multi-head attention block?
    ``answer_name``: the variable that holds the answer, as the messages name it."""
    if d_model % num_heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
    if _unanswered(**{answer_name: your_answer}):
        return
    expected = 4 * d_model * d_model + (4 * d_model if bias else 0)
    answer = _number(answer_name, your_answer)
    hint = (
        "read the __init__ of lmcore.MultiHeadAttention (chapter 1, section 1.6): count the weights "
        "and biases of every linear layer it creates, with d_model and the heads of this question."
    )
    if bias and answer == 4 * d_model * d_model:
        hint = "every linear layer of the block also has a bias; " + hint
    elif answer in (3 * d_model * d_model, 3 * d_model * (d_model + 1)):
        hint = "not only the queries, keys and values have a linear layer; " + hint
    _require(answer == expected, f"{answer:,.0f} is not the number of parameters of this block.", hint)
    _passed(f"{expected:,} parameters for d_model = {d_model} and {num_heads} heads")


def check_half_attention_context(shape, your_context) -> None:
    """Chapter 7, exercise 2: the context length at which attention's share of the forward FLOPs
    per token (``lmcore.costs``) reaches one half: the smallest whole number of tokens where it
    does."""
    if _unanswered(your_context=your_context):
        return
    from .costs import attention_flops_per_token, flops_per_token

    def share(context):
        return attention_flops_per_token(shape, context) / flops_per_token(shape, context=context)

    high = 1
    while share(high) < 0.5:
        high *= 2
        if high > 2**40:
            raise RuntimeError("attention never reaches half of the FLOPs per token in lmcore.costs")
    low = high // 2  # share(low) < 0.5 <= share(high), unless high == 1
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if share(middle) >= 0.5 else (middle, high)
    answer = _number("your_context", your_context)
    hint = (
        "attention's share is attention_flops_per_token(shape, c) / flops_per_token(shape, "
        "context=c); it grows with c. Find the c where it reaches 0.5: solve for it, or search "
        "the whole numbers."
    )
    if answer >= 1 and math.log2(answer).is_integer():
        hint = "the crossing lies between two powers of two, not on one; " + hint
    elif answer != int(answer):
        hint = "a context is a whole number of tokens; " + hint
    elif 1 <= answer < high:
        hint = (
            "at that context attention is still below one half: you want the smallest context where it is at least one half; "
            + hint
        )
    _require(
        answer == high,
        f"{answer:,} tokens is not the smallest context where the share reaches one half.",
        hint,
    )
    _passed(
        f"attention's share reaches one half at a context of {high:,} tokens "
        f"({share(high):.6f}; at {high - 1:,} tokens {share(high - 1):.6f})"
    )


def check_longer_context_parameters(shape, context: int, your_parameters) -> None:
    """Chapter 7, exercise 3: the parameters of the model ``shape`` with a context of ``context``
    tokens, from the calculator and, for a GPT, counted in a built ``lmcore.gpt.DecoderOnlyLM``."""
    if _unanswered(your_parameters=your_parameters):
        return
    from dataclasses import replace

    from .costs import count_parameters, transformer_parameters
    from .gpt import DecoderOnlyLM

    longer = replace(shape, context=context)
    expected = transformer_parameters(longer)["total"]
    if shape.kind == "gpt":
        with torch.device("meta"):
            built = DecoderOnlyLM(
                shape.vocab, context, shape.d_model, shape.heads, shape.layers, d_ff=shape.ff
            )
        if count_parameters(built) != expected:
            raise RuntimeError(
                f"the calculator ({expected:,}) and the built model ({count_parameters(built):,}) disagree"
            )
    original = transformer_parameters(shape)["total"]
    answer = _number("your_parameters", your_parameters)
    hint = "count every weight matrix, bias and embedding once, with the new context; or let the calculator do it."
    if answer == original:
        hint = (
            f"that is the count for a context of {shape.context}: the position embedding has one row "
            "per position; " + hint
        )
    elif shape.kind == "gpt" and answer == expected + shape.vocab * shape.d_model:
        hint = "the output layer is tied to the token embedding: count it once; " + hint
    _require(answer == expected, f"{answer:,.0f} is not the number of parameters.", hint)
    _passed(
        f"{expected:,} parameters with a context of {context:,}: {expected - original:+,} for the "
        f"{context - shape.context:,} new rows of the position embedding"
    )


def check_parameter_count(model: torch.nn.Module, your_answer) -> None:
    """Is ``your_answer`` the number of (unique) parameters of ``model``?"""
    if _unanswered(your_answer=your_answer):
        return
    from .costs import count_parameters

    expected = count_parameters(model)
    answer = _number("your_answer", your_answer)
    _require(
        math.isclose(answer, expected, rel_tol=0, abs_tol=0.5),
        f"expected {expected:,}, got {answer:,.0f}.",
        "count each weight matrix and bias once (tied weights once).",
    )
    _passed(f"{expected:,} parameters")
