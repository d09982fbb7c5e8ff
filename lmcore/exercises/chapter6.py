"""The exercise checks of chapter 6 (applications)."""

from __future__ import annotations

import numpy as np
import torch

from ..budget import pick
from ..gpt import generate
from ._common import as_number, passed, require, require_shape, unanswered, within


def check_causal_mask(your_mask, length: int) -> None:
    """Is ``your_mask`` a causal mask for ``length`` tokens (True/1 where a query may look)?"""
    if unanswered(your_mask=your_mask):
        return
    if not isinstance(your_mask, torch.Tensor):
        raise TypeError(f"your answer `your_mask` must be a torch.Tensor; got {type(your_mask).__name__}")
    expected = torch.ones(length, length).tril().bool()
    hint = "row i is query i, column j key j; query i may look at keys 0..i (itself and the past)."
    require_shape("your_mask", your_mask, (length, length), hint)
    answer = your_mask.bool()
    if torch.equal(answer, expected.T):
        hint = "that mask lets each query see the future, not the past; " + hint
    elif torch.equal(answer, expected.tril(-1)):
        hint = "a query may look at itself: the diagonal is True; " + hint
    require(
        torch.equal(answer, expected),
        "this is not a causal mask: it must be lower-triangular, True on and below the diagonal.",
        hint,
    )
    passed(f"a {length} x {length} causal mask")


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
    if unanswered(
        your_share_without_top_k=your_share_without_top_k, your_share_with_top_k=your_share_with_top_k
    ):
        return

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
        "without": as_number("your_share_without_top_k", your_share_without_top_k),
        "with": as_number("your_share_with_top_k", your_share_with_top_k),
    }
    hint = (
        f"for each seed 0..{samples - 1}, generate {length} characters after the prompt with "
        "torch.Generator().manual_seed(seed), split the new text on whitespace, drop the last "
        "word (it may be cut off) and take the share of words not in text.split(); average the "
        "shares over the samples."
    )
    if within(answers["without"], expected["with"], 3) and within(answers["with"], expected["without"], 3):
        hint = "the two shares are the wrong way round; " + hint
    elif any(within(answers[key], 100 * expected[key], 1) for key in answers) and max(expected.values()) > 0:
        hint = "give shares between 0 and 1, not percentages; " + hint
    for key, name in (("without", "your_share_without_top_k"), ("with", "your_share_with_top_k")):
        require(within(answers[key], expected[key], 3), f"`{name}` = {answers[key]:.3f} is not right.", hint)
    fewer = expected["with"] < expected["without"]
    passed(
        f"share of invented words {expected['without']:.3f} without top-k, {expected['with']:.3f} "
        f"with top-{k}: {'fewer' if fewer else 'not fewer'} invented words with top-k"
    )
