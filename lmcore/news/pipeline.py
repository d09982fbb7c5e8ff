"""One run of the news project, step by step: split the texts, fit the word-count baseline, encode
the texts once, fine-tune the classifier, read every view of the validation and test texts,
choose the ensemble's weight on the validation split, and score everything on the test set."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import checkpoints
from ..budget import seed_everything
from ..classify import classification_loss, freeze_lower_layers, new_classifier, predict_proba
from ..costs import seconds_per_training_step
from ..encoding import average_views, encode_texts, encode_windows, length_bucketed_batches
from ..provenance import code_version, hardware
from ..runtime import evaluating, move_to, pick_device, synchronize
from ..scoring import geometric_ensemble, scores, tfidf_baseline
from ..train import fit
from .config import ProjectConfig
from .splits import chosen_test_index, load_project_data, validation_split
from .store import FinishedRunExists, ProjectRun, load_finished_run, tidy_run_folder, write_outputs

__all__ = [
    "Split",
    "run_project",
    "split_texts",
    "fit_baseline",
    "encode_run",
    "build_classifier",
    "train_classifier",
    "predict_run",
    "choose_ensemble_weight",
    "announce",
]

ENSEMBLE_WEIGHTS = np.linspace(0.0, 1.0, 21)  # the weights of MiniLM tried on the validation split


@dataclass
class Split:
    """The texts a run fits on, validates on and tests on, with their labels."""

    names: list[str]
    fit_texts: list[str]
    fit_labels: np.ndarray
    val_texts: list[str]
    val_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray


def run_project(
    config: ProjectConfig,
    output_dir: str | Path | None = None,
    progress: bool = True,
    reuse: bool = True,
    overwrite: bool = False,
) -> ProjectRun:
    """Run the whole project once; returns (and with ``output_dir`` writes) every result.

    With ``output_dir`` holding a finished run of the same ``config`` (and ``reuse=True``), that
    run is read back instead: its ``reused_from`` says so, and its ``timings`` and ``hardware``
    are those of the run that trained the model. A finished run of another configuration there
    raises :class:`FinishedRunExists`, unless ``overwrite``: then it is replaced once this run
    has finished, and kept if this run fails or is interrupted.
    """
    if not isinstance(config, ProjectConfig):
        raise TypeError(f"config must be a ProjectConfig; got {type(config).__name__}")
    checkpoints.check_checkpoint(config.checkpoint)  # the whole checkpoint, before any work
    if output_dir is not None:
        tidy_run_folder(output_dir)  # finish or remove what an interrupted run left there
    if output_dir is not None and reuse:
        try:
            finished = load_finished_run(output_dir, config)
        except FinishedRunExists:
            if not overwrite:
                raise
            finished = None
        if finished is not None:
            return finished
    seed_everything(config.seed)
    timings, started = {}, time.perf_counter()
    split = split_texts(config)
    baseline_val, baseline_test = timed(timings, "baseline", fit_baseline, split, config)
    tokenizer = checkpoints.load_tokenizer(config.checkpoint)
    batches, val_views, test_views = encode_run(split, tokenizer, config)  # tokenised once
    views = val_views[0] + test_views[0]  # every encoding prediction will read, for the estimate
    model, history = timed(timings, "fine_tuning", train_classifier, split, batches, views, config, progress)
    timings["seconds_per_step"] = timings["fine_tuning_seconds"] / max(1, history.step[-1])
    (model_val, model_val_one_view), (model_test, model_test_one_view) = timed(
        timings, "prediction", predict_run, model, val_views, test_views, config, split, progress
    )
    weight, accuracy_by_weight = choose_ensemble_weight(model_val, baseline_val, split.val_labels)
    probabilities = {  # of the test texts
        "tfidf_svm": baseline_test,
        "bert": model_test,
        "ensemble": geometric_ensemble(model_test, baseline_test, weight),
    }
    predictions = {name: p.argmax(1) for name, p in probabilities.items()}
    run = ProjectRun(
        config=asdict(config),
        names=split.names,
        n_train=len(split.fit_texts),
        n_validation=len(split.val_texts),
        n_test=len(split.test_texts),
        test={name: scores(split.test_labels, p) for name, p in predictions.items()},
        test_one_view={"bert": scores(split.test_labels, model_test_one_view.argmax(1))},
        validation={
            "tfidf_svm": scores(split.val_labels, baseline_val.argmax(1)),
            "bert": scores(split.val_labels, model_val.argmax(1)),
            "bert_one_view": scores(split.val_labels, model_val_one_view.argmax(1)),
            "ensemble_weight": weight,
            "ensemble_accuracy_by_weight": accuracy_by_weight,
        },
        timings={**timings, "total_seconds": time.perf_counter() - started},
        hardware=hardware(),
        lmcore_code=code_version(),
        finished=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        history={"step": history.step, "loss": history.loss},
        arrays={
            "test_labels": split.test_labels,
            "bert_test": model_test,
            "bert_test_one_view": model_test_one_view,
            "baseline_test": baseline_test,
            "ensemble_test": probabilities["ensemble"],
        },
        test_texts=split.test_texts,
        model=model,
        tokenizer=tokenizer,
    )
    if output_dir is not None:
        write_outputs(Path(output_dir), run, predictions, overwrite)
    return run


def timed(timings: dict, name: str, step, *args):
    """``step(*args)``, its wall time recorded as ``timings[name + "_seconds"]``."""
    started = time.perf_counter()
    result = step(*args)
    timings[f"{name}_seconds"] = time.perf_counter() - started
    return result


def split_texts(config: ProjectConfig) -> Split:
    """The run's texts: ``train_limit`` of the training texts (seeded), a stratified validation
    split of them, and the test texts (all, or ``test_limit`` of them)."""
    train, test = load_project_data(config)  # 20 Newsgroups, or the texts of config.data_file
    texts, labels = train.texts, np.array(train.labels)
    if config.train_limit:
        keep = np.random.default_rng(config.seed).permutation(len(texts))[: config.train_limit]
        texts, labels = [texts[i] for i in keep], labels[keep]
    fit_index, val_index = validation_split(len(texts), labels, config.validation_fraction, config.seed)
    keep = chosen_test_index(len(test.texts), config)
    return Split(
        names=train.names,
        fit_texts=[texts[i] for i in fit_index],
        fit_labels=labels[fit_index],
        val_texts=[texts[i] for i in val_index],
        val_labels=labels[val_index],
        test_texts=[test.texts[i] for i in keep],
        test_labels=np.array(test.labels)[keep],
    )


def fit_baseline(split: Split, config: ProjectConfig) -> tuple[np.ndarray, np.ndarray]:
    """The TF-IDF + linear SVM baseline's class probabilities of the validation and test texts."""
    _, baseline_val, pipeline = tfidf_baseline(
        split.fit_texts, split.fit_labels, split.val_texts, seed=config.seed
    )
    return baseline_val, pipeline.predict_proba(split.test_texts)


def encode_run(split: Split, tokenizer, config: ProjectConfig):
    """The training batches (the training view of each text) and every view prediction reads."""
    view = config.view
    batches = length_bucketed_batches(
        encode_texts(tokenizer, split.fit_texts, view),
        split.fit_labels.tolist(),
        config.batch_size,
        seed=config.seed,
    )
    return (
        batches,
        encode_windows(tokenizer, split.val_texts, view),
        encode_windows(tokenizer, split.test_texts, view),
    )


def _autocast(config: ProjectConfig):
    return torch.bfloat16 if config.bf16 else None


def build_classifier(split: Split, config: ProjectConfig):
    """The pretrained MiniLM with a new head for the run's classes, its dropout and frozen layers set."""
    model = new_classifier(len(split.names), config.pooling, config.dropout, config.checkpoint)
    return freeze_lower_layers(model, config.freeze_layers)


def train_classifier(
    split: Split,
    batches: list[dict],
    views: list | None,
    config: ProjectConfig,
    progress: bool,
    evaluate=None,
    eval_every: int | None = None,
):
    """MiniLM with a new head, fine-tuned on the training batches; returns it and its history.
    ``views``: the encodings prediction will read, for the estimate announced before training
    (``None``: no announcement); ``evaluate`` and ``eval_every`` go to :func:`lmcore.train.fit`."""
    model = build_classifier(split, config)
    device = pick_device()  # a GPU when there is one; the estimate is timed where the run will be
    model.to(device)
    if progress and views is not None:
        announce(config, model, batches, views, _autocast(config))
    history = fit(
        model,
        batches,
        classification_loss,
        epochs=config.epochs,
        lr=config.lr,
        autocast_dtype=_autocast(config),
        progress=progress,
        device=device,
        evaluate=evaluate,
        eval_every=eval_every,
    )
    return model, history


def predict_run(model, val_views, test_views, config: ProjectConfig, split: Split, progress: bool):
    """For the validation and then the test texts: the probabilities averaged over every view, and
    from the training view alone. The validation accuracy is printed before the test set is read."""

    def predict(views):
        encodings, owners = views
        n_texts = max(owners) + 1
        batches = length_bucketed_batches(encodings, None, 64, seed=None)
        probabilities = predict_proba(model, batches, _autocast(config), progress=progress)
        return average_views(probabilities, owners, n_texts), probabilities[:n_texts]

    validation = predict(val_views)
    if progress:  # recipes are compared on this number, known before the test set is read
        every_view, one_view = ((p.argmax(1) == split.val_labels).mean() for p in validation)
        print(f"validation accuracy: MiniLM {every_view:.4f}, {one_view:.4f} from the training view alone")
    return validation, predict(test_views)


def choose_ensemble_weight(model_val, baseline_val, val_labels) -> tuple[float, dict]:
    """The weight of MiniLM in the geometric ensemble with the best validation accuracy, and the
    validation accuracy at every weight tried."""
    accuracy = [
        (geometric_ensemble(model_val, baseline_val, w).argmax(1) == val_labels).mean()
        for w in ENSEMBLE_WEIGHTS
    ]
    return float(ENSEMBLE_WEIGHTS[int(np.argmax(accuracy))]), dict(
        zip(map(float, ENSEMBLE_WEIGHTS), map(float, accuracy))
    )


def announce(
    config: ProjectConfig, model, batches: list[dict], views: list[list[int]], autocast=None
) -> float:
    """Print what the run will do and how long it should take, and return that estimate in seconds.

    One training step and one forward pass are timed on the longest batch (on a copy of the
    model), and the rest is scaled by the number of tokens: a batch of shorter messages costs
    proportionally less (attention's share, which grows faster, is small at these lengths).
    """
    longest = max(batches, key=lambda batch: batch["input_ids"].numel())
    with torch.random.fork_rng():  # dropout in the timed step must not change the run's random numbers
        step_seconds = seconds_per_training_step(
            copy.deepcopy(model), classification_loss, longest, repeats=1, autocast_dtype=autocast
        )
    device = next(model.parameters()).device
    inputs = move_to({"ids": longest["input_ids"], "mask": longest["attention_mask"]}, device)
    with evaluating(model):
        started = time.perf_counter()
        model(inputs["ids"], inputs["mask"])
        synchronize(device)  # a GPU works asynchronously: wait for it before reading the clock
        forward_seconds = time.perf_counter() - started
    timed_tokens = longest["input_ids"].numel()
    training_tokens = config.epochs * sum(batch["input_ids"].numel() for batch in batches)
    prediction_tokens = sum(len(view) for view in views)
    estimate = (training_tokens * step_seconds + prediction_tokens * forward_seconds) / timed_tokens
    print(
        f"lmcore.news: fine-tuning on {sum(len(b['input_ids']) for b in batches):,} messages, {config.epochs} "
        f"epoch(s) of {len(batches)} steps ({config.epochs * len(batches)} in all), then predicting {len(views):,} "
        f"views of the validation and test messages.\n  One training step of {tuple(longest['input_ids'].shape)} "
        f"tokens took {step_seconds:.2f} s here, so fine-tuning and prediction should take about "
        f"{_duration(estimate)}.",
        flush=True,
    )
    return estimate


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
