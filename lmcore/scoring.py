"""How classifiers are measured, compared and combined.

* :func:`tfidf_baseline`: the strong, fast linear baseline every BERT result must be read against;
* :func:`scores`: accuracy and macro-averaged precision, recall and F1;
* :func:`geometric_ensemble`: two classifiers' probabilities combined;
* :func:`most_confused_pairs`: the mistakes a confusion matrix shows most.
"""

from __future__ import annotations

import numpy as np

from ._checks import expect_texts
from .encoding import check_labels

__all__ = ["tfidf_baseline", "scores", "geometric_ensemble", "most_confused_pairs"]


def tfidf_baseline(train_texts, train_labels, test_texts, seed: int = 0, calibrated: bool = True):
    """TF-IDF features (words and word pairs, sublinear counts) and a linear SVM.

    Returns ``(predictions, probabilities or None, fitted pipeline)``. With ``calibrated=True``
    the SVM's scores are turned into probabilities by cross-validated sigmoid calibration, so
    they can be averaged with a neural model's.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    check_labels(train_labels, len(expect_texts("train_texts", train_texts)))
    expect_texts("test_texts", test_texts)
    svm = LinearSVC(C=1.0, random_state=seed)
    classifier = CalibratedClassifierCV(svm, method="sigmoid", cv=3) if calibrated else svm
    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2), classifier)
    pipeline.fit(train_texts, train_labels)
    probabilities = pipeline.predict_proba(test_texts) if calibrated else None
    predictions = probabilities.argmax(1) if calibrated else pipeline.predict(test_texts)
    return np.asarray(predictions), probabilities, pipeline


def scores(labels, predictions) -> dict:
    """Accuracy and macro-averaged precision, recall and F1 (scikit-learn)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predictions, average="macro", zero_division=0
    )
    return {
        "accuracy": accuracy_score(labels, predictions),
        "macro_precision": precision,
        "macro_recall": recall,
        "macro_f1": f1,
    }


def geometric_ensemble(p_model: np.ndarray, p_baseline: np.ndarray, weight: float) -> np.ndarray:
    """``p ∝ p_model^weight · p_baseline^(1 - weight)``: agreement counts, confident mistakes are damped."""
    log_p = weight * np.log(p_model + 1e-12) + (1 - weight) * np.log(p_baseline + 1e-12)
    log_p -= log_p.max(axis=1, keepdims=True)
    p = np.exp(log_p)
    return p / p.sum(axis=1, keepdims=True)


def most_confused_pairs(matrix, names, top: int = 10):
    """The ``top`` off-diagonal cells of a confusion matrix, largest first, as a DataFrame.

    Each row: the true class, the class it was mistaken for, how many test messages, and what
    share of the true class that is.
    """
    import pandas as pd

    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(names):
        raise ValueError(
            f"matrix must be {len(names)} x {len(names)} to match names; got shape {matrix.shape}"
        )
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(off_diagonal, axis=None)[::-1][:top]
    rows = []
    for flat in order:
        true, predicted = np.unravel_index(flat, matrix.shape)
        if off_diagonal[true, predicted] == 0:
            break
        rows.append(
            {
                "true class": names[true],
                "predicted as": names[predicted],
                "messages": int(matrix[true, predicted]),
                "share of the true class": matrix[true, predicted] / max(matrix[true].sum(), 1),
            }
        )
    return pd.DataFrame(rows)
