"""Text classification with a pretrained BERT: the classifier, its training and its predictions.

The pieces a fine-tuning run needs, each small enough to read (how texts become batches is
:mod:`lmcore.encoding`'s job, how predictions are scored :mod:`lmcore.scoring`'s):

* :func:`new_classifier`: a pretrained checkpoint with a fresh classification head, and
  :func:`freeze_lower_layers`, which keeps the embeddings and the lowest layers as pretrained;
* :func:`classification_loss` and :func:`predict_proba`: one batch's loss, and the class
  probabilities of batches;
* :func:`fine_tune` and :func:`predict`: the two calls a chapter makes, texts in, a trained
  classifier or class probabilities out, each reading the texts through one
  :class:`~lmcore.encoding.TextView`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ._checks import expect_int, expect_probability, expect_texts
from .bert import BertForSequenceClassification
from .checkpoints import load_pretrained_weights, pretrained_config
from .encoding import TextView, average_views, encode_texts, encode_windows, length_bucketed_batches
from .runtime import autocast, evaluating, set_dropout
from .train import fit

__all__ = [
    "new_classifier",
    "freeze_lower_layers",
    "classification_loss",
    "predict_proba",
    "fine_tune",
    "predict",
]


def new_classifier(num_labels: int, pooling: str = "mean", dropout: float | None = None, checkpoint=None):
    """A pretrained BERT (``checkpoint``: ``None`` for the bundled all-MiniLM-L6-v2, or a local
    folder) with a new, randomly initialised classification head of ``num_labels`` classes.

    ``dropout``: every dropout rate in the model (``None`` keeps the checkpoint's own); see
    :func:`lmcore.runtime.set_dropout` for why this book fine-tunes with ``0.0`` on a CPU.
    """
    classifier = BertForSequenceClassification(pretrained_config(checkpoint), num_labels, pooling=pooling)
    load_pretrained_weights(classifier.bert, checkpoint)  # the head stays new
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


def predict(
    classifier,
    tokenizer,
    texts: Sequence[str],
    view: TextView = TextView(),
    *,
    batch_size: int = 64,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Class probabilities ``(len(texts), n_classes)`` of raw texts, read through ``view`` (give
    the one the classifier was fine-tuned with).

    With ``view.windows > 0``, a long text's probabilities are the mean over its views from
    :func:`~lmcore.encoding.encode_windows` (test-time averaging: more of each text read, at
    more inference cost).
    """
    encodings, owners = encode_windows(tokenizer, texts, view)
    batches = length_bucketed_batches(encodings, None, batch_size, seed=None)
    view_probabilities = predict_proba(classifier, batches, autocast_dtype, progress)  # (n_views, n_classes)
    return average_views(view_probabilities, owners, len(texts))  # (n_texts, n_classes)


def fine_tune(
    classifier,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    view: TextView = TextView(),
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
    """Fine-tune ``classifier`` on labelled texts, each read through ``view``, with
    :func:`lmcore.train.fit`.

    With ``validation=(texts, labels)``, the validation accuracy is measured after every epoch
    (``history.metric("val_accuracy")``): the number to watch when choosing epochs or a
    learning rate, so the test set stays untouched until the end. Returns the ``History``.
    """
    texts = expect_texts("texts", texts)
    if len(texts) != len(labels):
        raise ValueError(
            f"texts and labels must have the same length; got {len(texts)} texts but {len(labels)} labels"
        )
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError(f"validation must be a pair (texts, labels); got {type(validation).__name__}")
        expect_texts("validation texts", validation[0])
        if len(validation[0]) != len(validation[1]):
            raise ValueError(
                f"validation must pair each text with a label; got {len(validation[0])} texts "
                f"and {len(validation[1])} labels"
            )
    batches = length_bucketed_batches(
        encode_texts(tokenizer, texts, view), list(labels), batch_size, seed=seed
    )
    evaluate = None
    if validation is not None:
        val_texts, val_labels = validation
        val_batches = length_bucketed_batches(encode_texts(tokenizer, val_texts, view), None, 64, seed=None)

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
