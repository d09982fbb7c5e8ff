"""The exercise checks of chapter 7 (costs)."""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ..costs import attention_flops_per_token, count_parameters, flops_per_token, transformer_parameters
from ..gpt import DecoderOnlyLM
from ._common import as_number, passed, require, unanswered


def check_attention_parameters(
    d_model: int, num_heads: int, your_answer, bias: bool = True, answer_name: str = "your_answer"
) -> None:
    """Is ``your_answer`` the number of parameters of one multi-head attention block?
    ``answer_name``: the variable that holds the answer, as the messages name it."""
    if d_model % num_heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
    if unanswered(**{answer_name: your_answer}):
        return
    expected = 4 * d_model * d_model + (4 * d_model if bias else 0)
    answer = as_number(answer_name, your_answer)
    hint = (
        "read the __init__ of lmcore.MultiHeadAttention (chapter 1, section 1.6): count the weights "
        "and biases of every linear layer it creates, with d_model and the heads of this question."
    )
    if bias and answer == 4 * d_model * d_model:
        hint = "every linear layer of the block also has a bias; " + hint
    elif answer in (3 * d_model * d_model, 3 * d_model * (d_model + 1)):
        hint = "not only the queries, keys and values have a linear layer; " + hint
    require(answer == expected, f"{answer:,.0f} is not the number of parameters of this block.", hint)
    passed(f"{expected:,} parameters for d_model = {d_model} and {num_heads} heads")


def check_half_attention_context(shape, your_context) -> None:
    """Chapter 7, exercise 2: the context length at which attention's share of the forward FLOPs
    per token (``lmcore.costs``) reaches one half: the smallest whole number of tokens where it
    does."""
    if unanswered(your_context=your_context):
        return

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
    answer = as_number("your_context", your_context)
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
    require(
        answer == high,
        f"{answer:,} tokens is not the smallest context where the share reaches one half.",
        hint,
    )
    passed(
        f"attention's share reaches one half at a context of {high:,} tokens "
        f"({share(high):.6f}; at {high - 1:,} tokens {share(high - 1):.6f})"
    )


def check_longer_context_parameters(shape, context: int, your_parameters) -> None:
    """Chapter 7, exercise 3: the parameters of the model ``shape`` with a context of ``context``
    tokens, from the calculator and, for a GPT, counted in a built ``lmcore.gpt.DecoderOnlyLM``."""
    if unanswered(your_parameters=your_parameters):
        return

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
    answer = as_number("your_parameters", your_parameters)
    hint = "count every weight matrix, bias and embedding once, with the new context; or let the calculator do it."
    if answer == original:
        hint = (
            f"that is the count for a context of {shape.context}: the position embedding has one row "
            "per position; " + hint
        )
    elif shape.kind == "gpt" and answer == expected + shape.vocab * shape.d_model:
        hint = "the output layer is tied to the token embedding: count it once; " + hint
    require(answer == expected, f"{answer:,.0f} is not the number of parameters.", hint)
    passed(
        f"{expected:,} parameters with a context of {context:,}: {expected - original:+,} for the "
        f"{context - shape.context:,} new rows of the position embedding"
    )


def check_parameter_count(model: torch.nn.Module, your_answer) -> None:
    """Is ``your_answer`` the number of (unique) parameters of ``model``?"""
    if unanswered(your_answer=your_answer):
        return

    expected = count_parameters(model)
    answer = as_number("your_answer", your_answer)
    require(
        math.isclose(answer, expected, rel_tol=0, abs_tol=0.5),
        f"{answer:,.0f} is not the number of parameters of this model.",
        "count each weight matrix and bias once (tied weights once).",
    )
    passed(f"{expected:,} parameters")
