"""Text classification with a pretrained BERT: inputs, batches, loss, predictions, baselines.

The pieces a fine-tuning run needs, each small enough to read:

* :func:`encode_texts`: WordPiece ids with ``[CLS]``/``[SEP]``, truncated to ``max_length`` by
  keeping the **head** of each text, or its **head and tail** (Sun et al., 2019: the end of a
  message often says as much as its beginning);
* :func:`encode_windows`: a long text as several windows, to average predictions over at test
  time;
* :func:`length_bucketed_batches`: batches of similar lengths, padded only to their own longest
  text ("dynamic padding"), so short texts cost little;
* :func:`classification_loss` and :func:`predict_proba`; :func:`predict_views` and
  :func:`average_views` for several views of each text;
* :func:`new_classifier`: a pretrained checkpoint with a fresh classification head, and
  :func:`freeze_lower_layers`, which keeps the embeddings and the lowest layers as pretrained;
* :func:`fine_tune` and :func:`predict_texts`: the two calls a chapter makes, texts in,
  a trained classifier or class probabilities out;
* :func:`tfidf_baseline`: the strong, fast linear baseline every BERT result must be read against;
* :func:`scores`, :func:`geometric_ensemble` and :func:`most_confused_pairs`: how classifiers
  are measured, combined and their mistakes read.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ._checks import expect_int, expect_positive_int, expect_probability, expect_texts
from .bert import BertForSequenceClassification
from .checkpoints import load_pretrained
from .runtime import autocast, evaluating, set_dropout
from .train import fit

__all__ = [
    "new_classifier",
    "freeze_lower_layers",
    "encode_texts",
    "encode_windows",
    "length_bucketed_batches",
    "classification_loss",
    "predict_proba",
    "tfidf_baseline",
    "fine_tune",
    "predict_texts",
    "predict_views",
    "average_views",
    "scores",
    "geometric_ensemble",
    "most_confused_pairs",
]

TRUNCATIONS = ("head", "head+tail")


def new_classifier(num_labels: int, pooling: str = "mean", dropout: float | None = None, checkpoint=None):
    """A pretrained BERT (``checkpoint``: ``None`` for the bundled all-MiniLM-L6-v2, or a local
    folder) with a new, randomly initialised classification head of ``num_labels`` classes.

    ``dropout``: every dropout rate in the model (``None`` keeps the checkpoint's own); see
    :func:`lmcore.train.set_dropout` for why this book fine-tunes with ``0.0`` on a CPU.
    """
    classifier = BertForSequenceClassification(load_pretrained(checkpoint), num_labels, pooling=pooling)
    if dropout is not None:
        set_dropout(classifier, expect_probability("dropout", dropout))
    return classifier


def freeze_lower_layers(classifier, layers: int):
    """Keep the embeddings and the lowest ``layers`` encoder layers as pretrained (no gradients).

    Frozen layers need no backward pass and no optimizer state, so a training step gets cheaper
    by about the share of work they did. The idea behind it, that the lower layers hold general
    features a topic classifier need not change, is worth measuring rather than assuming: on 20
    Newsgroups, freezing two of MiniLM's six layers cost 3.8 points of validation accuracy
    (chapter 5), and the book's recipe does not use it. ``layers=0`` freezes nothing.
    """
    expect_int("layers", layers, minimum=0)
    encoder_layers = classifier.bert.encoder.layers
    if layers > len(encoder_layers):
        raise ValueError(
            f"layers must be at most the model's {len(encoder_layers)} encoder layers; got {layers}"
        )
    if layers:
        classifier.bert.embeddings.requires_grad_(False)
        for layer in encoder_layers[:layers]:
            layer.requires_grad_(False)
    return classifier


def encode_texts(
    tokenizer, texts: Sequence[str], max_length: int, truncation: str = "head", head_share: float = 0.25
) -> list[list[int]]:
    """Token ids ``[CLS] ... [SEP]`` of at most ``max_length`` per text.

    ``truncation="head"`` keeps the first tokens; ``"head+tail"`` keeps ``head_share`` of the
    budget (a quarter, as in Sun et al.) from the start of the text and the rest from its end.
    """
    budget = _check_length_and_truncation(max_length, truncation, head_share)
    return [
        _truncated(tokenizer, ids, budget, truncation, head_share) for ids in _wordpieces(tokenizer, texts)
    ]


def encode_windows(
    tokenizer,
    texts: Sequence[str],
    max_length: int,
    truncation: str = "head",
    windows: int = 0,
    head_share: float = 0.25,
) -> tuple[list[list[int]], list[int]]:
    """Several views of each text, for averaging predictions at test time.

    Every text gets the view :func:`encode_texts` gives it (the one the model was trained on).
    A text longer than ``max_length`` also gets up to ``windows`` windows of ``max_length``
    tokens, evenly spaced so that the first starts at its first token and the last ends at its
    last token: together they let the model read the whole middle that truncation cut out.
    Returns ``(encodings, owners)``: ``owners[i]`` is the index of the text view ``i`` shows.
    """
    if not isinstance(windows, int) or windows < 0:
        raise ValueError(f"windows must be a non-negative integer; got {windows!r}")
    budget = _check_length_and_truncation(max_length, truncation, head_share)
    pieces = _wordpieces(tokenizer, texts)
    encodings, owners = (
        [_truncated(tokenizer, ids, budget, truncation, head_share) for ids in pieces],
        list(range(len(texts))),
    )
    for owner, ids in enumerate(pieces):
        if len(ids) <= budget or windows == 0:
            continue
        count = min(windows, -(-len(ids) // budget))  # no more windows than it takes to cover the text
        for start in np.linspace(0, len(ids) - budget, count).round().astype(int):
            encodings.append(
                [tokenizer.cls_token_id] + ids[start : start + budget] + [tokenizer.sep_token_id]
            )
            owners.append(owner)
    return encodings, owners


def _check_length_and_truncation(max_length: int, truncation: str, head_share: float) -> int:
    """The token budget between ``[CLS]`` and ``[SEP]``, after checking the arguments."""
    expect_positive_int("max_length", max_length)
    if max_length < 8:
        raise ValueError(
            f"max_length must be at least 8 to hold [CLS], [SEP] and some text; got {max_length}"
        )
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}; got {truncation!r}")
    expect_probability("head_share", head_share)
    return max_length - 2


def _truncated(tokenizer, ids: list[int], budget: int, truncation: str, head_share: float) -> list[int]:
    head = budget if truncation == "head" else int(budget * head_share)
    if len(ids) > budget:
        ids = ids[:head] + (ids[len(ids) - (budget - head) :] if budget > head else [])
    return [tokenizer.cls_token_id] + ids + [tokenizer.sep_token_id]


def _wordpieces(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    texts = expect_texts("texts", texts)
    # verbose=False: the tokenizer would warn that whole messages exceed 512 tokens; callers cut them
    return tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]


def length_bucketed_batches(
    encodings: Sequence[Sequence[int]],
    labels: Sequence[int] | None,
    batch_size: int,
    seed: int | None = 0,
    pad_id: int = 0,
    bucket_batches: int = 50,
) -> list[dict]:
    """Batches of texts of similar length, each padded to its own longest text.

    Texts are shuffled (``seed``; ``None`` keeps the order), cut into pools of
    ``bucket_batches`` batches, sorted by length inside each pool, and the batches are shuffled
    again, so training order stays random while padding shrinks. Every batch carries the texts'
    original ``index`` so predictions can be put back in order.
    """
    expect_positive_int("batch_size", batch_size)
    if not encodings:
        raise ValueError("encodings is empty: no texts to batch")
    if labels is not None:
        _check_labels(labels, len(encodings))
    order = list(range(len(encodings)))
    rng = random.Random(seed)
    if seed is not None:
        rng.shuffle(order)
    pool = batch_size * bucket_batches
    groups = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(encodings[i]))
        groups += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if seed is not None:
        rng.shuffle(groups)
    batches = []
    for group in groups:
        longest = max(len(encodings[i]) for i in group)
        input_ids = torch.full((len(group), longest), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(group), longest), dtype=torch.long)
        for row, i in enumerate(group):
            input_ids[row, : len(encodings[i])] = torch.tensor(encodings[i])
            attention_mask[row, : len(encodings[i])] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "index": torch.tensor(group)}
        if labels is not None:
            batch["labels"] = torch.tensor([labels[i] for i in group])
        batches.append(batch)
    return batches


def _check_labels(labels: Sequence[int], n_texts: int) -> None:
    if len(labels) != n_texts:
        raise ValueError(f"labels must have one entry per text: got {n_texts} texts but {len(labels)} labels")
    values = np.asarray(labels)
    if values.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class ids 0..k-1; got dtype {values.dtype}")
    if values.min() < 0:
        raise ValueError(f"labels must be class ids 0..k-1; got {values.min()}")


def classification_loss(model, batch: dict) -> torch.Tensor:
    """Cross-entropy of the model's class logits against ``batch["labels"]``: the model computes
    it when given the labels (:class:`lmcore.bert.BertForSequenceClassification`)."""
    return model(batch["input_ids"], batch["attention_mask"], labels=batch["labels"]).loss


def predict_proba(
    model, batches: Sequence[dict], autocast_dtype: torch.dtype | None = None, progress: bool = False
) -> np.ndarray:
    """Class probabilities ``(n_texts, n_classes)``, in the texts' original order."""
    device = next(model.parameters()).device
    rows, indices = [], []
    with evaluating(model):
        for batch in tqdm(batches, disable=not progress, desc="predicting", unit="batch", mininterval=2.0):
            with autocast(device, autocast_dtype):
                logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device)).logits
            rows.append(logits.float().softmax(-1).cpu())
            indices.append(batch["index"])
    probabilities = torch.cat(rows)
    order = torch.cat(indices).argsort()
    return probabilities[order].numpy()


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

    _check_labels(train_labels, len(expect_texts("train_texts", train_texts)))
    expect_texts("test_texts", test_texts)
    svm = LinearSVC(C=1.0, random_state=seed)
    classifier = CalibratedClassifierCV(svm, method="sigmoid", cv=3) if calibrated else svm
    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2), classifier)
    pipeline.fit(train_texts, train_labels)
    probabilities = pipeline.predict_proba(test_texts) if calibrated else None
    predictions = probabilities.argmax(1) if calibrated else pipeline.predict(test_texts)
    return np.asarray(predictions), probabilities, pipeline


def predict_texts(
    classifier,
    tokenizer,
    texts: Sequence[str],
    max_length: int = 128,
    truncation: str = "head",
    batch_size: int = 64,
    autocast_dtype: torch.dtype | None = None,
    windows: int = 0,
    progress: bool = False,
    head_share: float = 0.25,
) -> np.ndarray:
    """Class probabilities ``(len(texts), n_classes)`` of raw texts.

    With ``windows > 0``, a long text's probabilities are the mean over its views from
    :func:`encode_windows` (test-time averaging: more of each text read, at more inference cost).
    ``truncation`` and ``head_share`` pick the view as in :func:`encode_texts`: give the values
    the model was fine-tuned with.
    """
    view_probabilities, owners = predict_views(
        classifier,
        tokenizer,
        texts,
        max_length,
        truncation,
        batch_size,
        autocast_dtype,
        windows,
        progress,
        head_share,
    )
    return average_views(view_probabilities, owners, len(texts))


def predict_views(
    classifier,
    tokenizer,
    texts: Sequence[str],
    max_length: int = 128,
    truncation: str = "head",
    batch_size: int = 64,
    autocast_dtype: torch.dtype | None = None,
    windows: int = 0,
    progress: bool = False,
    head_share: float = 0.25,
) -> tuple[np.ndarray, list[int]]:
    """Class probabilities of every view from :func:`encode_windows`, and each view's text.

    The first ``len(texts)`` rows are the truncated views alone (what ``windows=0`` predicts).
    """
    encodings, owners = encode_windows(tokenizer, texts, max_length, truncation, windows, head_share)
    batches = length_bucketed_batches(encodings, None, batch_size, seed=None)
    return predict_proba(
        classifier, batches, autocast_dtype, progress
    ), owners  # (n_views, n_classes), n_views


def average_views(view_probabilities: np.ndarray, owners: Sequence[int], n_texts: int) -> np.ndarray:
    """The mean of each text's view probabilities: ``(n_texts, n_classes)``."""
    if len(owners) != len(view_probabilities):
        raise ValueError(f"got {len(view_probabilities)} rows of probabilities but {len(owners)} owners")
    counts = np.bincount(owners, minlength=n_texts)
    if len(counts) != n_texts or (counts == 0).any():
        raise ValueError(f"owners must name every text 0..{n_texts - 1} at least once")
    summed = np.zeros((n_texts, view_probabilities.shape[1]))
    np.add.at(summed, owners, view_probabilities)
    return (summed / counts[:, None]).astype(view_probabilities.dtype)


def fine_tune(
    classifier,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    max_length: int = 128,
    truncation: str = "head",
    head_share: float = 0.25,
    epochs: int = 2,
    batch_size: int = 16,
    lr: float = 1e-4,
    warmup_fraction: float = 0.1,
    validation: tuple[Sequence[str], Sequence[int]] | None = None,
    autocast_dtype: torch.dtype | None = None,
    seed: int = 0,
    progress: bool = False,
    device=None,
):
    """Fine-tune ``classifier`` on labelled texts with :func:`lmcore.train.fit`.

    With ``validation=(texts, labels)``, the validation accuracy is measured after every epoch
    (``history.metric("val_accuracy")``): the number to watch when choosing epochs or a
    learning rate, so the test set stays untouched until the end. Returns the ``History``.
    """
    if len(texts) != len(labels):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
    batches = length_bucketed_batches(
        encode_texts(tokenizer, texts, max_length, truncation, head_share),
        list(labels),
        batch_size,
        seed=seed,
    )
    evaluate = None
    if validation is not None:
        val_texts, val_labels = validation
        val_batches = length_bucketed_batches(
            encode_texts(tokenizer, val_texts, max_length, truncation, head_share), None, 64, seed=None
        )

        def evaluate(model):
            predicted = predict_proba(model, val_batches, autocast_dtype).argmax(1)
            return {"val_accuracy": float((predicted == np.asarray(val_labels)).mean())}

    return fit(
        classifier,
        batches,
        classification_loss,
        epochs=epochs,
        lr=lr,
        warmup_fraction=warmup_fraction,
        evaluate=evaluate,
        autocast_dtype=autocast_dtype,
        progress=progress,
        device=device,
    )


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
