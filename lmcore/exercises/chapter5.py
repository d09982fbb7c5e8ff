"""The exercise checks of chapter 5 (the news project) and the FAQ."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
from sklearn.metrics import f1_score

from ..newsgroups import load_20newsgroups
from ..scoring import geometric_ensemble, tfidf_baseline
from ._common import as_number, passed, require, unanswered, within

NEWSGROUP_PARTS = ("headers", "footers", "quotes")


def check_macro_f1(matrix, your_answer, decimals: int = 4) -> None:
    """Is ``your_answer`` the macro-averaged F1 of the confusion matrix ``matrix`` (rows: true
    class), to ``decimals`` decimals?"""

    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be a square confusion matrix; got shape {matrix.shape}")
    if unanswered(your_answer=your_answer):
        return
    true, predicted = np.nonzero(matrix)
    counts = matrix[true, predicted].astype(int)
    labels_true, labels_predicted = np.repeat(true, counts), np.repeat(predicted, counts)

    def f1(average):
        return f1_score(
            labels_true, labels_predicted, average=average, labels=range(len(matrix)), zero_division=0
        )

    expected = f1("macro")
    answer = as_number("your_answer", your_answer)
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
        if within(answer, value, decimals) and not within(value, expected, decimals)
    ]
    if 1 < answer <= 100:
        hint = f"give it as a fraction between 0 and 1, not a percentage; {hint}"
    elif close:
        hint = f"{min(close)[1].rstrip('.')}; {hint}"
    require(
        within(answer, expected, decimals),
        f"your macro F1 should be the plain mean of the per-class F1 scores; {answer:.{decimals}f} is not.",
        hint,
    )
    passed(f"macro F1 = {expected:.{decimals}f}")


@functools.lru_cache(maxsize=4)
def _leak_accuracies(train_index: tuple, test_index: tuple) -> dict:

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
    if unanswered(your_accuracies=your_accuracies, your_part=your_part):
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
            given[parts[0]] = as_number(f"your_accuracies[{key!r}]", value)
    require(
        sorted(given) == sorted(NEWSGROUP_PARTS),
        f"`your_accuracies` should have one entry per part, {list(NEWSGROUP_PARTS)}; got {list(your_accuracies)}.",
        "one accuracy per part, each with that part alone removed.",
    )
    expected = _leak_accuracies(tuple(int(i) for i in train_index), tuple(int(i) for i in test_index))
    wrong = [part for part in NEWSGROUP_PARTS if not within(given[part], expected[part], 3)]
    require(
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
    require(len(named) == 1 and named[0] in leaking, f"{your_part!r} is not the part that leaks most.", hint)
    table = ", ".join(f"{p} removed {a:.3f}" for p, a in expected.items())
    passed(f"{table}: the {named[0]} leak the newsgroup most")


def check_test_chosen_gain(run, your_gain) -> None:
    """Chapter 5, exercise 3: how much higher the ensemble's test accuracy would be reported if its
    weight were chosen on the test set (over the validation search's weights), as a fraction
    (4 decimals)."""
    if unanswered(your_gain=your_gain):
        return

    arrays = run.arrays
    labels = np.asarray(arrays["test_labels"])
    weights = sorted(float(w) for w in run.validation["ensemble_accuracy_by_weight"])

    def accuracy(weight):
        return float(
            np.mean(
                geometric_ensemble(arrays["bert_test"], arrays["baseline_test"], weight).argmax(1) == labels
            )
        )

    reported = accuracy(float(run.validation["ensemble_weight"]))
    best = max(accuracy(w) for w in weights)
    expected = best - reported
    answer = as_number("your_gain", your_gain)
    hint = (
        "compute the ensemble's test accuracy for every weight of the validation search "
        "(run.validation['ensemble_accuracy_by_weight']), take the largest, and subtract the "
        "test accuracy at the weight chosen on validation (run.validation['ensemble_weight'])."
    )
    if within(answer, 100 * expected, 2) and not within(expected, 0.0, 4):
        hint = "give it as a fraction of the messages, not in percentage points; " + hint
    elif within(answer, best, 4):
        hint = "that is the best test accuracy itself; the question asks how much higher it is; " + hint
    require(within(answer, expected, 4), f"{answer:.4f} is not the gain.", hint)
    passed(
        f"chosen on the test set the ensemble would report {best:.4f} instead of {reported:.4f}: "
        f"{expected:.4f} higher ({100 * expected:.2f} points)"
    )
