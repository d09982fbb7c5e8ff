"""The 20 Newsgroups project (chapter 5), runnable outside Jupyter with the same code.

    python -m lmcore.project --setting full --output artifacts/news/full
    python -m lmcore.project --setting removed --output artifacts/news/removed
    python -m lmcore.project --setting full --checkpoint path/to/checkpoint --output ...  # another BERT
    torchrun --nproc_per_node=4 -m lmcore.project --setting full --bf16 ...   # several GPUs
    python -m lmcore.project --data-file reviews.csv --output runs/reviews     # your own labelled texts
    python -m lmcore.project --data-file train.jsonl --test-file test.jsonl --output runs/mine

One run: load the "bydate" split (``setting="full"`` messages, or ``"removed"``: headers,
footers and quotes stripped, because headers name the newsgroup and leak the answer); carve a
validation split out of the training set; fit the TF-IDF + linear SVM baseline; fine-tune the
pretrained MiniLM (lmcore's BERT) with a classification head; combine both by a weighted
geometric mean of their probabilities, the weight chosen on the validation split (never on the
test set); and score everything on the full test set. :data:`RECIPES` holds the book's
configuration for each setting, every choice in it made on the validation split (chapter 5).

The same recipe runs on a data set of your own (``data_file``, ``--data-file``): a ``.csv`` file
with the columns ``text`` and ``label`` or a ``.jsonl`` file of ``{"text": ..., "label": ...}``
objects, read and checked by :func:`lmcore.datasets.load_labelled_texts` before any work. With
``test_file`` (``--test-file``, same format, labels among the training file's) that file is the
test set; without it, a stratified 20% of ``data_file`` (:data:`TEST_FRACTION`) is held out as
the test set, drawn with a fixed seed (:data:`TEST_SPLIT_SEED`) so that runs with other seeds or
recipes are scored on the same texts, as they are on 20 Newsgroups' fixed test set. Everything
else (the validation split, the baseline, fine-tuning, the ensemble, the files written) is the
same; the manifest also records the data files' SHA-256, so a run is reused only while the
files are unchanged.

Before the long work, a run says what it will do and how long that should take, estimated
from one training step and one prediction batch measured on this machine; its loops show
progress bars.

A run writes ``metrics.json``, ``confusion_matrix.csv``, ``probabilities.npz`` and the
fine-tuned weights (``model.safetensors``) to its output folder, each file atomically (written
to a temporary name, flushed, renamed), and last ``manifest.json`` with every file's SHA-256 and
the configuration: a run is finished when its manifest is there. Called again with the same
configuration and folder, :func:`run_project` reads that finished run back instead of training
again (``reuse=False`` forces a new run); a damaged file is found by its hash and the run is
trained again, and a finished run of another configuration is never replaced (the command line
stops unless ``--overwrite``). ``--publish`` also copies the results, without the weights, to
``book/results/news/<setting>``: the book's stored runs, which chapter 5 reads
(:func:`load_run_results`).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from . import checkpoints
from ._checks import expect_int, expect_number, expect_probability
from .bert import BertConfig
from .budget import seed_everything
from .classify import (
    average_views,
    classification_loss,
    encode_texts,
    encode_windows,
    freeze_lower_layers,
    geometric_ensemble,
    length_bucketed_batches,
    new_classifier,
    predict_proba,
    scores,
    tfidf_baseline,
)
from .costs import seconds_per_training_step
from .datasets import LabelledTexts, check_data_path, load_labelled_texts
from .files import file_sha256
from .newsgroups import load_20newsgroups
from .notices import RunTrainedAgain
from .provenance import code_version, hardware
from .runtime import evaluating, move_to, pick_device, synchronize
from .train import fit

__all__ = [
    "ProjectConfig",
    "RECIPES",
    "run_project",
    "load_project_data",
    "load_finished_run",
    "load_run_results",
    "publish_run",
    "published_run_dir",
    "inspect_run_folder",
    "FinishedRunExists",
    "main",
]

SETTINGS = {"full": (), "removed": ("headers", "footers", "quotes")}
DATA_FIELDS = ("data_file", "test_file")
# Configuration fields added after some runs were stored, with the value those runs had
ADDED_FIELDS = {**dict.fromkeys(DATA_FIELDS), "head_share": 0.25}
TEST_FRACTION = 0.2  # of data_file held out as the test set when there is no test_file
TEST_SPLIT_SEED = 0  # that test set is the same whatever the run's seed
CALIBRATION_FOLDS = 3  # the TF-IDF baseline's cross-validated calibration (classify.tfidf_baseline)
REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass
class ProjectConfig:
    setting: str = "full"
    checkpoint: str | None = None  # a local checkpoint folder; None: the bundled all-MiniLM-L6-v2
    max_length: int = 128  # tokens per training sequence, [CLS] and [SEP] included
    truncation: str = "head+tail"
    head_share: float = 0.25  # of the tokens "head+tail" keeps, the share taken from the start
    epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-4
    pooling: str = "mean"
    freeze_layers: int = 0  # keep the embeddings and this many lowest encoder layers as pretrained
    validation_fraction: float = 0.1
    dropout: float = 0.0  # every dropout rate during fine-tuning; 0 halves a CPU step (chapter 5)
    test_windows: int = (
        4  # extra windows per long message averaged at prediction time (classify.encode_windows)
    )
    bf16: bool = False  # bf16 autocast: fast on GPUs and CPUs with AMX; measured slower on avx512_bf16 alone (chapter 5)
    train_limit: int | None = None  # use only this many training messages (class-sized and quick runs)
    test_limit: int | None = None
    seed: int = 0
    data_file: str | None = None  # your own labelled texts (.csv or .jsonl); None: 20 Newsgroups
    test_file: str | None = None  # its test set; None: a stratified 20% of data_file is held out

    def __post_init__(self):
        """Every field checked before any work starts; errors name the field."""
        if self.setting not in SETTINGS:
            raise ValueError(f"setting must be one of {sorted(SETTINGS)}; got {self.setting!r}")
        if isinstance(self.checkpoint, Path):
            self.checkpoint = str(self.checkpoint)
        if self.checkpoint is not None and not isinstance(self.checkpoint, str):
            raise TypeError(f"checkpoint must be a folder path or None; got {type(self.checkpoint).__name__}")
        if self.truncation not in ("head", "head+tail"):
            raise ValueError(f"truncation must be 'head' or 'head+tail'; got {self.truncation!r}")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean'; got {self.pooling!r}")
        for name in ("max_length", "epochs", "batch_size"):
            expect_int(name, getattr(self, name), minimum=1)
        if self.max_length < 8:
            raise ValueError(
                f"max_length must be at least 8 to hold [CLS], [SEP] and some text; got {self.max_length}"
            )
        for name in ("train_limit", "test_limit"):  # None means all; 0 or -5 would silently mean all
            if getattr(self, name) is not None:
                expect_int(name, getattr(self, name), minimum=1)
        for name in ("freeze_layers", "test_windows", "seed"):
            expect_int(name, getattr(self, name), minimum=0)
        expect_number("lr", self.lr, above=0.0)
        expect_probability("head_share", self.head_share)
        expect_probability("dropout", self.dropout)
        if not 0.0 < expect_number("validation_fraction", self.validation_fraction) < 0.5:
            raise ValueError(f"validation_fraction must be in (0, 0.5); got {self.validation_fraction!r}")
        if not isinstance(self.bf16, bool):
            raise TypeError(f"bf16 must be True or False; got {self.bf16!r}")
        for name in DATA_FIELDS:
            if getattr(self, name) is not None:
                setattr(self, name, check_data_path(name, getattr(self, name)))
        if self.test_file is not None and self.data_file is None:
            raise ValueError(
                f"test_file needs data_file, the training texts it tests; got test_file={self.test_file!r} alone"
            )
        if self.data_file is not None and self.setting != "full":
            raise ValueError(
                f"setting must be 'full' with data_file: {self.setting!r} strips 20 Newsgroups' "
                f"{', '.join(SETTINGS[self.setting])}, and the texts of a data file are used as they are"
            )


# The book's recipe for each setting (chapter 5 shows the validation runs behind each choice).
RECIPES = {
    "full": ProjectConfig(setting="full", max_length=192, epochs=2, lr=2e-4, freeze_layers=0, test_windows=4),
    "removed": ProjectConfig(
        setting="removed", max_length=256, epochs=2, lr=2e-4, freeze_layers=0, test_windows=4
    ),
}


def _test_index(n: int, config: ProjectConfig) -> np.ndarray:
    """Which test messages a run scores: all, or with ``test_limit`` a seeded random subset in
    archive order (the archive lists the test messages newsgroup by newsgroup)."""
    if not config.test_limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(config.seed).permutation(n)[: config.test_limit])


def _split(n: int, labels, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

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
        return tuple(load_20newsgroups(split, remove=SETTINGS[config.setting]) for split in ("train", "test"))
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
        from sklearn.model_selection import train_test_split

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
    return train, test


def _check_enough_texts(config: ProjectConfig, train) -> None:
    """Refuse training texts too few for the run's stratified validation split or for the
    baseline's calibration, which needs :data:`CALIBRATION_FOLDS` texts of each class: the same
    ``train_limit`` and split as :func:`run_project`'s, made here to name the class short of texts."""
    labels = np.array(train.labels)
    where = f"data_file {config.data_file}" + ("" if config.test_file else " (less the held-out test set)")
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
    fit_index, _ = _split(n, labels, config.validation_fraction, config.seed)
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


def _data_record(config: dict) -> dict | None:
    """The SHA-256 of each data file a run reads (``None`` for 20 Newsgroups, whose content
    lmcore.newsgroups verifies itself), kept in the manifest when the run's files are written: a
    run is reused only while they match."""
    record = {}
    for name in DATA_FIELDS:
        if config.get(name) is not None:
            path = Path(config[name])
            if not path.is_file():
                raise FileNotFoundError(
                    f"{name} {config[name]} does not exist (relative paths start from {Path.cwd()})"
                )
            record[name] = file_sha256(path)
    return record or None


def _mismatch(manifest: dict, wanted: dict) -> str:
    """Why the finished run of ``manifest`` is not a run of the configuration ``wanted`` (a dict):
    the fields that differ, or data files changed since; ``""`` when it is that run."""
    stored = {**ADDED_FIELDS, **manifest["config"]}
    if stored != wanted:
        return (
            "; ".join(
                f"{k}: {stored.get(k)!r} there, {wanted[k]!r} now"
                for k in wanted
                if stored.get(k) != wanted[k]
            )
            or "fields differ"
        )
    recorded, now = manifest.get("data") or {}, _data_record(wanted) or {}
    return "; ".join(
        f"{name} {wanted[name]} changed since that run (SHA-256 {recorded.get(name, 'none')[:12]} there, "
        f"{sha[:12]} now)"
        for name, sha in now.items()
        if recorded.get(name) != sha
    )


def published_run_dir(setting: str) -> Path:
    """The book's stored run of ``setting`` (results without weights): ``book/results/news/<setting>``."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {sorted(SETTINGS)}; got {setting!r}")
    return REPOSITORY / "book" / "results" / "news" / setting


MANIFEST = "manifest.json"
RUN_FILES = ("metrics.json", "confusion_matrix.csv", "probabilities.npz", "model.safetensors")


class FinishedRunExists(RuntimeError):
    """The output folder holds a finished run of another configuration."""


def inspect_run_folder(folder: str | Path) -> tuple[dict | None, str]:
    """``(manifest, problem)`` of a run folder: the manifest when every file it lists is there
    with its recorded SHA-256, else ``None`` and what is wrong (``""`` for an empty folder)."""
    folder = Path(folder)
    manifest_file = folder / MANIFEST
    if not manifest_file.exists():
        leftovers = [name for name in RUN_FILES if (folder / name).exists()]
        return None, (
            f"{_shown(folder)} holds {leftovers} but no {MANIFEST}: an unfinished run" if leftovers else ""
        )
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
        dict(manifest["config"])
    except (ValueError, KeyError, TypeError) as error:
        return None, f"{_shown(manifest_file)} is damaged ({error})"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return None, f"{_shown(path)} is missing"
        if file_sha256(path) != expected:
            return None, f"{_shown(path)} does not match its SHA-256 in {MANIFEST} (damaged or edited)"
    return manifest, ""


def _shown(path: Path) -> str:
    """A path relative to the working directory or the repository when it lies inside them."""
    path = Path(path).resolve()
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return str(path)


def load_run_results(folder: str | Path, config: ProjectConfig | None = None) -> dict:
    """The results of a finished run (a run folder, or a published copy without weights):
    metrics, arrays of probabilities, and the test texts they score, after checking every file
    against its SHA-256 in the manifest. With ``config``, the run must have been made with it
    (else :class:`FinishedRunExists`). Raises ``ValueError`` when the folder holds no intact run."""
    folder = Path(folder)
    manifest, problem = inspect_run_folder(folder)
    if manifest is None:
        raise ValueError(f"folder must hold a finished run; {problem or f'{_shown(folder)} holds none'}")
    return _read_results(folder, manifest, config)


def _read_results(folder: Path, manifest: dict, config: ProjectConfig | None) -> dict:
    """:func:`load_run_results` once ``manifest`` has been checked against the files."""
    difference = _mismatch(manifest, asdict(config)) if config is not None else ""
    if difference:
        raise FinishedRunExists(
            f"{_shown(folder)} holds a finished run of another configuration ({difference}); "
            "choose another output folder, or pass --overwrite (overwrite=True) to replace it"
        )
    results = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    with np.load(folder / "probabilities.npz", allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    run_config = ProjectConfig(**manifest["config"])
    changed = (
        _mismatch(manifest, asdict(run_config)) if config is None else ""
    )  # (with config: checked above)
    if changed:  # data files changed since the run: their test texts are not the run's
        raise ValueError(
            f"{_shown(folder)} was made from data files that changed since ({changed}): "
            "its test texts cannot be read back"
        )
    if run_config.data_file is None:  # (only the test split: reading both would double the time)
        all_test_texts = load_20newsgroups("test", remove=SETTINGS[run_config.setting]).texts
    else:
        all_test_texts = load_project_data(run_config)[1].texts
    test_texts = [all_test_texts[i] for i in _test_index(len(all_test_texts), run_config)]
    results["config"] = asdict(run_config)  # with the fields added since, at the values the run had
    return {**results, "arrays": arrays, "test_texts": test_texts, "reused_from": _shown(folder)}


def load_finished_run(folder: str | Path, config: ProjectConfig) -> dict | None:
    """The finished run stored in ``folder``, fine-tuned model included, if it was made with
    exactly ``config`` and every file matches its recorded hash; ``None`` (saying why) when
    there is none or it is damaged. Raises :class:`FinishedRunExists` when the folder holds a
    finished run of another configuration: it is never silently replaced."""
    from safetensors.torch import load_file

    manifest, problem = inspect_run_folder(folder)
    if manifest is None or "model.safetensors" not in manifest["files"]:
        if problem or manifest is not None:
            warnings.warn(
                f"{problem or 'the run has no weights'}; training again", RunTrainedAgain, stacklevel=2
            )
        return None
    results = _read_results(Path(folder), manifest, config)  # every hash was checked just above
    model = new_classifier(len(results["names"]), config.pooling, checkpoint=config.checkpoint)
    model.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
    model.eval()
    print(f"reused the finished run of {manifest['finished']} in {_shown(folder)}")
    return {**results, "model": model, "tokenizer": checkpoints.load_tokenizer(config.checkpoint)}


PUBLISHED_ARRAYS = ("test_labels", "bert_test", "baseline_test")  # what chapter 5 reads of the book's runs


def publish_run(folder: str | Path, destination: str | Path | None = None) -> Path:
    """Copy a finished run's results, without the weights, to ``destination`` (by default the
    book's :func:`published_run_dir`), with a manifest of their hashes; returns the folder.
    Of the probabilities, only :data:`PUBLISHED_ARRAYS` are kept (about half the size)."""
    manifest, problem = inspect_run_folder(folder)
    if manifest is None:
        raise ValueError(
            f"folder must hold a finished run; {problem or f'{_shown(Path(folder))} holds none'}"
        )
    folder = Path(folder)
    if destination is None and manifest["config"].get("data_file") is not None:
        raise ValueError(
            f"destination must be given for a run on a data file ({manifest['config']['data_file']}): "
            "the book's folders hold its 20 Newsgroups runs"
        )
    destination = Path(destination or published_run_dir(manifest["config"]["setting"]))
    destination.mkdir(parents=True, exist_ok=True)
    (destination / MANIFEST).unlink(missing_ok=True)
    with np.load(folder / "probabilities.npz", allow_pickle=False) as stored:  # verified above, with the rest
        arrays = {name: stored[name] for name in PUBLISHED_ARRAYS}
    files = {
        name: _write_atomically(
            destination / name, lambda path, name=name: shutil.copyfile(folder / name, path)
        )
        for name in ("metrics.json", "confusion_matrix.csv")
    }
    if any(files[name] != manifest["files"][name] for name in files):
        raise ValueError(f"{_shown(folder)} changed while it was copied; publish again")
    files["probabilities.npz"] = _write_atomically(
        destination / "probabilities.npz", lambda path: _save_arrays(path, arrays)
    )
    published = {**manifest, "files": files}
    _write_atomically(
        destination / MANIFEST,
        lambda path: path.write_text(json.dumps(published, indent=2), encoding="utf-8"),
    )
    return destination


def run_project(
    config: ProjectConfig, output_dir: str | Path | None = None, progress: bool = True, reuse: bool = True
) -> dict:
    """Run the whole project once; returns (and with ``output_dir`` writes) every result.

    With ``output_dir`` holding a finished run of the same ``config`` (and ``reuse=True``), that
    run is read back instead: its ``"reused_from"`` entry says so, and its ``"timings"`` and
    ``"hardware"`` are those of the run that trained the model.
    """
    if not isinstance(config, ProjectConfig):
        raise TypeError(f"config must be a ProjectConfig; got {type(config).__name__}")
    if output_dir is not None and reuse:
        finished = load_finished_run(output_dir, config)
        if finished is not None:
            return finished
    seed_everything(config.seed)
    started = time.perf_counter()
    train, test = load_project_data(config)  # 20 Newsgroups, or the texts of config.data_file
    train_texts, train_labels = train.texts, np.array(train.labels)
    if config.train_limit:
        keep = np.random.default_rng(config.seed).permutation(len(train_texts))[: config.train_limit]
        train_texts, train_labels = [train_texts[i] for i in keep], train_labels[keep]
    keep = _test_index(len(test.texts), config)
    test_texts, test_labels = [test.texts[i] for i in keep], np.array(test.labels)[keep]
    fit_index, val_index = _split(len(train_texts), train_labels, config.validation_fraction, config.seed)
    fit_texts, fit_labels = [train_texts[i] for i in fit_index], train_labels[fit_index]
    val_texts, val_labels = [train_texts[i] for i in val_index], train_labels[val_index]

    timings = {}
    t = time.perf_counter()
    _, baseline_val, pipeline = tfidf_baseline(fit_texts, fit_labels, val_texts, seed=config.seed)
    baseline_test = pipeline.predict_proba(test_texts)
    timings["baseline_seconds"] = time.perf_counter() - t

    # Tokenise once: the training view of each message, and every view prediction will read.
    tokenizer = checkpoints.load_tokenizer(config.checkpoint)
    length, truncation, head_share = config.max_length, config.truncation, config.head_share
    batches = length_bucketed_batches(
        encode_texts(tokenizer, fit_texts, length, truncation, head_share),
        fit_labels.tolist(),
        config.batch_size,
        seed=config.seed,
    )
    val_views = encode_windows(tokenizer, val_texts, length, truncation, config.test_windows, head_share)
    test_views = encode_windows(tokenizer, test_texts, length, truncation, config.test_windows, head_share)

    model = freeze_lower_layers(
        new_classifier(len(train.names), config.pooling, config.dropout, config.checkpoint),
        config.freeze_layers,
    )
    autocast = torch.bfloat16 if config.bf16 else None
    device = pick_device()  # a GPU when there is one; the estimate is timed where the run will be
    model.to(device)
    if progress:
        announce(config, model, batches, val_views[0] + test_views[0], autocast)
    t = time.perf_counter()
    history = fit(
        model,
        batches,
        classification_loss,
        epochs=config.epochs,
        lr=config.lr,
        autocast_dtype=autocast,
        progress=progress,
        device=device,
    )
    timings["fine_tuning_seconds"] = time.perf_counter() - t
    timings["seconds_per_step"] = timings["fine_tuning_seconds"] / max(1, history.step[-1])

    def predict(views):  # (averaged over the windows, the truncated view alone)
        encodings, owners = views
        n_texts = max(owners) + 1
        probabilities = predict_proba(
            model, length_bucketed_batches(encodings, None, 64, seed=None), autocast, progress=progress
        )
        return average_views(probabilities, owners, n_texts), probabilities[:n_texts]

    t = time.perf_counter()
    model_val, model_val_one_view = predict(val_views)
    if progress:  # recipes are compared on this number, known before the test set is read
        print(
            f"validation accuracy: MiniLM {(model_val.argmax(1) == val_labels).mean():.4f}, "
            f"{(model_val_one_view.argmax(1) == val_labels).mean():.4f} from the training view alone"
        )
    model_test, model_test_one_view = predict(test_views)
    timings["prediction_seconds"] = time.perf_counter() - t

    weights = np.linspace(0.0, 1.0, 21)
    val_accuracy = [
        (geometric_ensemble(model_val, baseline_val, w).argmax(1) == val_labels).mean() for w in weights
    ]
    best_weight = float(weights[int(np.argmax(val_accuracy))])
    ensemble_test = geometric_ensemble(model_test, baseline_test, best_weight)

    predictions = {
        "tfidf_svm": baseline_test.argmax(1),
        "bert": model_test.argmax(1),
        "ensemble": ensemble_test.argmax(1),
    }
    results = {
        "config": asdict(config),
        "names": train.names,
        "n_train": len(fit_texts),
        "n_validation": len(val_texts),
        "n_test": len(test_texts),
        "test": {name: scores(test_labels, p) for name, p in predictions.items()},
        # the same model from the truncated view alone: what the test-time windows add
        "test_one_view": {"bert": scores(test_labels, model_test_one_view.argmax(1))},
        "validation": {
            "tfidf_svm": scores(val_labels, baseline_val.argmax(1)),
            "bert": scores(val_labels, model_val.argmax(1)),
            "bert_one_view": scores(val_labels, model_val_one_view.argmax(1)),
            "ensemble_weight": best_weight,
            "ensemble_accuracy_by_weight": dict(zip(map(float, weights), map(float, val_accuracy))),
        },
        "timings": {**timings, "total_seconds": time.perf_counter() - started},
        "hardware": hardware(),
        "lmcore_code": code_version(),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "history": {"step": history.step, "loss": history.loss},
    }
    arrays = {
        "test_labels": test_labels,
        "bert_test": model_test,
        "bert_test_one_view": model_test_one_view,
        "baseline_test": baseline_test,
        "ensemble_test": ensemble_test,
    }
    if output_dir is not None:
        write_outputs(Path(output_dir), results, arrays, predictions, model)
    return {**results, "arrays": arrays, "model": model, "tokenizer": tokenizer, "test_texts": test_texts}


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
        f"lmcore.project: fine-tuning on {sum(len(b['input_ids']) for b in batches):,} messages, {config.epochs} "
        f"epoch(s) of {len(batches)} steps ({config.epochs * len(batches)} in all), then predicting {len(views):,} "
        f"views of the validation and test messages.\n  One training step of {tuple(longest['input_ids'].shape)} "
        f"tokens took {step_seconds:.2f} s here, so fine-tuning and prediction should take about "
        f"{_duration(estimate)}.",
        flush=True,
    )
    return estimate


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _write_atomically(path: Path, write) -> str:
    """Write ``path`` through ``write(temporary_path)``, flush it to disk, then rename it into
    place, so a crash leaves the old file or the new one, never half of one. Returns its SHA-256."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    temporary = Path(temporary)
    try:
        write(temporary)
        with temporary.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return file_sha256(path)


def _save_arrays(path: Path, arrays: dict) -> None:
    with path.open("wb") as handle:  # a handle: given a path, NumPy would append ".npz" to the name
        np.savez_compressed(handle, **arrays)


def write_outputs(folder: Path, results: dict, arrays: dict, predictions: dict, model) -> None:
    """Write a run's files atomically, and its manifest last. A folder holding a finished run of
    another configuration is never overwritten: the new run goes beside it."""
    import torch.distributed as dist
    from safetensors.torch import save_file
    from sklearn.metrics import confusion_matrix

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return
    manifest, _ = inspect_run_folder(folder) if folder.exists() else (None, "")
    if manifest is not None and _mismatch(manifest, results["config"]):
        folder = folder.with_name(f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        print(
            f"lmcore.project: the output folder holds a finished run of another configuration; "
            f"this run is written beside it, to {_shown(folder)}",
            file=sys.stderr,
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # the folder holds no finished run until the end
    matrix = confusion_matrix(
        arrays["test_labels"], predictions["ensemble"], labels=range(len(results["names"]))
    )
    header = "true \\ predicted," + ",".join(results["names"])
    rows = [f"{name}," + ",".join(map(str, row)) for name, row in zip(results["names"], matrix)]
    state = {name: tensor.detach().contiguous() for name, tensor in _unwrap(model).state_dict().items()}
    writers = {
        "metrics.json": lambda path: path.write_text(
            json.dumps(results, indent=2, default=float), encoding="utf-8"
        ),
        "confusion_matrix.csv": lambda path: path.write_text(
            "\n".join([header] + rows) + "\n", encoding="utf-8"
        ),
        "probabilities.npz": lambda path: _save_arrays(path, arrays),
        "model.safetensors": lambda path: save_file(state, str(path)),
    }
    files = {name: _write_atomically(folder / name, write) for name, write in writers.items()}
    data = _data_record(results["config"])  # the data files' SHA-256s, for runs on data files
    manifest = {
        "config": results["config"],
        "finished": results["finished"],
        **({"data": data} if data else {}),
        "files": files,
    }
    _write_atomically(
        folder / MANIFEST, lambda path: path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    )


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def _flag(message: str) -> str:
    """A ProjectConfig error, worded for the command line: ``train_limit ...`` -> ``--train-limit ...``."""
    name, _, rest = message.partition(" ")
    return (
        f"--{name.replace('_', '-')} {rest}" if name in {f.name for f in fields(ProjectConfig)} else message
    )


def check_output_folder(folder: Path, config: ProjectConfig, overwrite: bool) -> None:
    """Before any work: the folder can be created and written, and holds no finished run of
    another configuration (unless ``overwrite``, which then marks that run as replaced)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-")
        probe.close()
    except OSError as error:
        raise ValueError(
            f"--output {folder} cannot be created or written ({error.strerror or error})"
        ) from None
    manifest, _ = inspect_run_folder(folder)
    difference = _mismatch(manifest, asdict(config)) if manifest is not None else ""
    if difference:
        if not overwrite:
            raise FinishedRunExists(
                f"--output {_shown(folder)} holds a finished run of another configuration "
                f"({difference}); choose another folder or pass --overwrite"
            )
        (folder / MANIFEST).unlink()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lmcore.project",
        description=__doc__.split("\n\n")[0],
        epilog="Options left out take the book's recipe for the setting (RECIPES).",
    )
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="full")
    parser.add_argument(
        "--checkpoint", help="a local BERT checkpoint folder (default: the bundled all-MiniLM-L6-v2)"
    )
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--truncation", choices=["head", "head+tail"])
    parser.add_argument(
        "--head-share", type=float, help='of the tokens "head+tail" keeps, the share from the start (0.25)'
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--pooling", choices=["cls", "mean"])
    parser.add_argument(
        "--freeze-layers", type=int, help="keep the embeddings and this many lowest layers as pretrained"
    )
    parser.add_argument(
        "--test-windows",
        type=int,
        help="average predictions over up to this many extra windows of each long message",
    )
    parser.add_argument("--dropout", type=float)
    parser.add_argument(
        "--bf16",
        action="store_true",
        default=None,
        help="bf16 autocast (GPUs, CPUs with AMX; measure before using it on a CPU)",
    )
    parser.add_argument("--train-limit", type=int)
    parser.add_argument("--test-limit", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--data-file",
        help="your own labelled texts instead of 20 Newsgroups: a .csv file with the "
        'columns text,label or a .jsonl file of {"text": ..., "label": ...} lines',
    )
    parser.add_argument(
        "--test-file",
        help="the test set for --data-file, in the same format (default: a stratified "
        "20%% of --data-file held out, the same for every seed)",
    )
    parser.add_argument("--output", type=Path, required=True, help="folder for the run's files")
    parser.add_argument("--again", action="store_true", help="train even if --output holds this run already")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a finished run of another configuration in --output"
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also copy the results (not the weights) to book/results/news/<setting> for chapter 5",
    )
    args = parser.parse_args(argv)
    given = {
        f.name: getattr(args, f.name)
        for f in fields(ProjectConfig)
        if getattr(args, f.name, None) is not None
    }
    try:  # every argument is checked before anything is loaded or trained
        config = replace(RECIPES[args.setting], **given)
        limit = BertConfig.from_json(
            checkpoints.checkpoint_folder(config.checkpoint) / "config.json"
        ).max_position_embeddings
        if config.max_length > limit:
            raise ValueError(
                f"max_length must be at most {limit}, the model's limit; got {config.max_length}"
            )
        if config.data_file is not None:
            if args.publish:
                raise ValueError(
                    "--publish copies 20 Newsgroups runs into the book; a run on --data-file stays in --output"
                )
            load_project_data(config)  # every line of the data files, and enough texts for the splits
        check_output_folder(args.output, config, args.overwrite)
    except (ValueError, TypeError, OSError, FinishedRunExists) as error:
        parser.error(_flag(str(error)))
    results = run_project(config, args.output, reuse=not args.again)
    for name, row in results["test"].items():
        print(f"{name:10} accuracy {row['accuracy']:.4f}  macro F1 {row['macro_f1']:.4f}")
    if config.test_windows:
        print(
            f"bert from the truncated view alone: accuracy {results['test_one_view']['bert']['accuracy']:.4f}"
        )
    timings = results["timings"]
    print(
        f"fine-tuning {timings['fine_tuning_seconds'] / 60:.1f} min, whole run {timings['total_seconds'] / 60:.1f} min "
        f"on {results['hardware']}; results in {_shown(args.output)}"
    )
    if args.publish:
        print(f"published to {_shown(publish_run(args.output))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
