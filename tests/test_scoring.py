"""lmcore.scoring: the TF-IDF baseline, scores, the ensemble and the most confused pairs."""

import numpy as np
import pytest

from lmcore.scoring import (
    geometric_ensemble,
    most_confused_pairs,
    scores,
    tfidf_baseline,
)


def test_geometric_ensemble_and_scores():
    a = np.array([[0.9, 0.1], [0.4, 0.6]])
    b = np.array([[0.6, 0.4], [0.9, 0.1]])
    np.testing.assert_allclose(geometric_ensemble(a, b, 1.0), a)
    np.testing.assert_allclose(geometric_ensemble(a, b, 0.0), b)
    mixed = geometric_ensemble(a, b, 0.5)
    np.testing.assert_allclose(mixed.sum(1), 1.0)
    assert scores([0, 1, 1], [0, 1, 0])["accuracy"] == pytest.approx(2 / 3)


def test_tfidf_baseline_learns_a_toy_task():
    texts = ["rocket orbit launch"] * 20 + ["goalie puck ice"] * 20
    labels = [0] * 20 + [1] * 20
    predictions, probabilities, _ = tfidf_baseline(texts, labels, ["orbit of the rocket", "puck on ice"])
    assert predictions.tolist() == [0, 1] and probabilities.shape == (2, 2)


def test_most_confused_pairs():
    matrix = np.array([[5, 3, 0], [1, 6, 0], [0, 4, 2]])
    pairs = most_confused_pairs(matrix, ["a", "b", "c"], top=2)
    assert pairs[["true class", "predicted as", "messages"]].values.tolist() == [["c", "b", 4], ["a", "b", 3]]
    assert pairs["share of the true class"].tolist() == [4 / 6, 3 / 8]
    with pytest.raises(ValueError, match="must be 3 x 3"):
        most_confused_pairs(matrix[:2], ["a", "b", "c"])
