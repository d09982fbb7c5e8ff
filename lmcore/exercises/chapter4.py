"""The exercise checks of chapter 4 (fine-tuning)."""

from __future__ import annotations

import numpy as np

from ..train import evaluating
from ._common import as_integer, as_number, passed, require, unanswered, within


def check_most_confused(matrix, class_names, your_true_class, your_predicted_class) -> None:
    """Chapter 4, exercise 1: the (true, predicted) pair of the largest off-diagonal count of a
    confusion matrix (rows: true class). Answers may be class names or indices; ties all count."""
    if unanswered(your_true_class=your_true_class, your_predicted_class=your_predicted_class):
        return
    matrix = np.asarray(matrix)
    names = list(class_names)

    def index(name, value):
        if isinstance(value, str):
            if value not in names:
                raise ValueError(f"your answer `{name}` must be one of {names}; got {value!r}")
            return names.index(value)
        return as_integer(name, value)

    off_diagonal = matrix - np.diag(np.diag(matrix))
    largest = off_diagonal.max()
    pairs = {(int(i), int(j)) for i, j in np.argwhere(off_diagonal == largest) if i != j}
    answer = (index("your_true_class", your_true_class), index("your_predicted_class", your_predicted_class))
    hint = "the largest count off the diagonal: its row is the true class, its column the predicted class."
    if answer[0] == answer[1]:
        hint = "the diagonal counts the right predictions, not confusions; " + hint
    elif answer[::-1] in pairs:
        hint = "true and predicted are the wrong way round; " + hint
    require(
        answer in pairs, f"{names[answer[0]]} -> {names[answer[1]]} is not the most frequent confusion.", hint
    )
    passed(
        f"{names[answer[0]]} predicted as {names[answer[1]]}: {largest} messages, the largest "
        "count off the diagonal"
    )


def check_unmasked_mean(classifier, batch, your_difference) -> None:
    """Chapter 4, exercise 2: the largest absolute difference between the masked mean (real
    tokens only) and the naive mean (every position, padding included) of the first text's last
    hidden states in the padded ``batch`` (3 decimals)."""
    if unanswered(your_difference=your_difference):
        return

    mask = batch["attention_mask"][0].bool()
    if bool(mask.all()):
        raise ValueError("batch: its first text must be the padded one")
    with evaluating(classifier):
        hidden = classifier.bert(batch["input_ids"], batch["attention_mask"]).last_hidden_state[0]
    masked, naive = hidden[mask].mean(0), hidden.mean(0)
    expected = (masked - naive).abs().max().item()
    answer = as_number("your_difference", your_difference)
    hint = (
        "masked mean: the first text's hidden states averaged over its real tokens (attention mask 1); "
        "naive mean: averaged over every position of its padded row; then the largest absolute "
        "difference between the two vectors."
    )
    if within(answer, 0.0, 3):
        hint = "a difference of 0 means both means left the padding out; " + hint
    require(within(answer, expected, 3), f"{answer:.3f} is not the largest difference.", hint)
    passed(
        f"the naive mean differs from the masked one by up to {expected:.3f}: without the mask, "
        "padding would change a mean-pooled prediction"
    )
