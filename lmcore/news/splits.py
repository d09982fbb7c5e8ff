"""Which texts a run trains, validates and tests on: 20 Newsgroups' "bydate" splits or a data file
of one's own, a fixed stratified validation split, and the early refusal of data too small for
them."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import train_test_split

from ..datasets import LabelledTexts, load_labelled_texts
from ..newsgroups import load_20newsgroups
from ..notices import TestTextsSeenInTraining
from .config import SETTINGS, ProjectConfig

__all__ = [
    "TEST_FRACTION",
    "TEST_SPLIT_SEED",
    "CALIBRATION_FOLDS",
    "chosen_test_index",
    "validation_split",
    "load_project_data",
]

TEST_FRACTION = 0.2  # of data_file held out as the test set when there is no test_file
TEST_SPLIT_SEED = 0  # that test set is the same whatever the run's seed
CALIBRATION_FOLDS = 3  # the TF-IDF baseline's cross-validated calibration (classify.tfidf_baseline)


def chosen_test_index(n: int, config: ProjectConfig) -> np.ndarray:
    """Which test messages a run scores: all, or with ``test_limit`` a seeded random subset in
    archive order (the archive lists the test messages newsgroup by newsgroup)."""
    if not config.test_limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(config.seed).permutation(n)[: config.test_limit])


def validation_split(n: int, labels, fraction: float, seed: int):
    """``(fit_index, validation_index)``: a stratified ``fraction`` of ``n`` texts held out."""
    return train_test_split(np.arange(n), test_size=fraction, random_state=seed, stratify=labels)


def load_project_data(config: ProjectConfig) -> tuple:
    """``(train, test)`` of a run, before ``train_limit`` and ``test_limit``: each with
    ``texts``, ``labels`` and ``names``.

    Without ``config.data_file``: 20 Newsgroups' "bydate" training and test splits, as the
    setting has them. With it: its labelled texts (:func:`lmcore.datasets.load_labelled_texts`)
    and ``config.test_file``'s, or without a test file the stratified :data:`TEST_FRACTION` of
    ``data_file`` held out (seed :data:`TEST_SPLIT_SEED`, so the same texts for every run), each
    part in file order. A data set too small for the run's splits is refused here, before any
    work, with ``ValueError`` naming the class short of texts.
    """
    if not isinstance(config, ProjectConfig):
        raise TypeError(f"config must be a ProjectConfig; got {type(config).__name__}")
    if config.data_file is None:
        train, test = (
            load_20newsgroups(split, remove=SETTINGS[config.setting]) for split in ("train", "test")
        )
        _check_enough_texts(config, train)  # (a train_limit can leave a newsgroup too few messages)
        return train, test
    data = load_labelled_texts(config.data_file)
    if config.test_file is not None:
        train, test = data, load_labelled_texts(config.test_file, names=data.names)
    else:
        n, k = len(data), len(data.names)
        if np.ceil(TEST_FRACTION * n) < k or n - np.ceil(TEST_FRACTION * n) < k:
            raise ValueError(
                f"data_file {config.data_file} is too small to hold out a test set: {TEST_FRACTION:.0%} of "
                f"its {n} texts cannot hold one text of each of its {k} classes; add texts, or give "
                "a test set of its own (test_file, --test-file)"
            )
        kept, held_out = (
            np.sort(part)
            for part in train_test_split(
                np.arange(n), test_size=TEST_FRACTION, random_state=TEST_SPLIT_SEED, stratify=data.labels
            )
        )
        train, test = [
            LabelledTexts([data.texts[i] for i in part], [data.labels[i] for i in part], data.names)
            for part in (kept, held_out)
        ]
    _check_enough_texts(config, train)
    _report_test_texts_seen_in_training(config, train, test)
    return train, test


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _report_test_texts_seen_in_training(config: ProjectConfig, train, test) -> int:
    """Warn (:class:`lmcore.notices.TestTextsSeenInTraining`) when test texts also occur among
    the training texts, the same after whitespace is normalised; returns how many do."""
    seen = {_normalised(text) for text in train.texts}
    repeated = sum(_normalised(text) in seen for text in test.texts)
    if repeated:
        source = f"test_file {config.test_file}" if config.test_file else "the test set"
        warnings.warn(
            f"{repeated} of the {len(test.texts)} texts of {source} also occur among the training "
            "texts (the same after whitespace is normalised): the test scores of those are of texts "
            "the model trained on",
            TestTextsSeenInTraining,
            stacklevel=3,
        )
    return repeated


def _check_enough_texts(config: ProjectConfig, train) -> None:
    """Refuse training texts too few for the run's stratified validation split or for the
    baseline's calibration, which needs :data:`CALIBRATION_FOLDS` texts of each class: the same
    ``train_limit`` and split as :func:`run_project`'s, made here to name the class short of texts."""
    labels = np.array(train.labels)
    if config.data_file is None:
        where = "20 Newsgroups' training messages"
    else:
        where = f"data_file {config.data_file}" + (
            "" if config.test_file else " (less the held-out test set)"
        )
    if config.train_limit:
        labels = labels[np.random.default_rng(config.seed).permutation(len(labels))[: config.train_limit]]
        where = f"the train_limit of {len(labels)} texts drawn from {where}"
    counts = np.bincount(labels, minlength=len(train.names))
    n, k, n_validation = len(labels), len(train.names), int(np.ceil(config.validation_fraction * len(labels)))
    short = [name for name, count in zip(train.names, counts) if count < 2]
    if short:
        raise ValueError(
            f"{where} holds fewer than 2 texts of the class{'es' * (len(short) > 1)} "
            f"{', '.join(map(repr, short))}; the validation split is stratified: each class needs texts "
            "for both parts (add texts, or raise train_limit)"
        )
    if n_validation < k or n - n_validation < k:
        raise ValueError(
            f"the validation split (validation_fraction {config.validation_fraction} of the {n} texts of "
            f"{where}: {n_validation}) must leave at least one text of each of the {k} classes on both "
            "sides; add texts, or change validation_fraction"
        )
    fit_index, _ = validation_split(n, labels, config.validation_fraction, config.seed)
    kept = np.bincount(labels[fit_index], minlength=k)
    short = [
        f"{name!r} keeps {kept[i]} of its {counts[i]}"
        for i, name in enumerate(train.names)
        if kept[i] < CALIBRATION_FOLDS
    ]
    if short:
        raise ValueError(
            f"after the validation split, each class needs at least {CALIBRATION_FOLDS} training texts "
            f"(the TF-IDF baseline's {CALIBRATION_FOLDS}-fold calibration); of {where}, "
            f"{'; '.join(short)}: add texts of {'it' if len(short) == 1 else 'them'}"
        )
