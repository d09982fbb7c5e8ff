"""A run's folder: its files written atomically and its manifest last, read back only after
every file matches its SHA-256, never replaced by a run of another configuration, and copied
without the weights into the book (:func:`publish_run`)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import checkpoints
from ..checkpoints import CLASSIFIER_CONFIG, load_classifier, save_classifier
from ..files import file_sha256, write_atomically
from ..newsgroups import load_20newsgroups
from ..notices import RunTrainedAgain
from .config import ADDED_FIELDS, DATA_FIELDS, SETTINGS, ProjectConfig
from .splits import chosen_test_index, load_project_data

__all__ = [
    "ProjectRun",
    "MANIFEST",
    "RUN_FILES",
    "FinishedRunExists",
    "inspect_run_folder",
    "published_run_dir",
    "load_run_results",
    "load_finished_run",
    "publish_run",
    "write_outputs",
    "check_output_folder",
    "tidy_run_folder",
]

REPOSITORY = Path(__file__).resolve().parents[2]  # the book, when lmcore is installed from a clone


@dataclass
class ProjectRun:
    """What a run produced (:func:`run_project`) or a finished run holds (``load_run_results``):
    the fields of its ``metrics.json``, then its arrays, test texts and, once trained or read
    back with weights, the model and its tokenizer."""

    config: dict
    names: list[str]
    n_train: int
    n_validation: int
    n_test: int
    test: dict  # "tfidf_svm", "bert", "ensemble" -> accuracy, macro precision, recall, F1
    test_one_view: dict  # "bert" from its training view alone: what the windows add
    validation: dict  # the same on the validation split, and the ensemble weight chosen there
    timings: dict
    hardware: str
    lmcore_code: str
    finished: str
    history: dict  # "step", "loss": the training curve
    arrays: dict = field(default_factory=dict)  # test labels and each model's probabilities
    test_texts: list[str] = field(default_factory=list)
    model: Any = None
    tokenizer: Any = None
    reused_from: str | None = None  # the folder a finished run was read from

    def metrics(self) -> dict:
        """The fields ``metrics.json`` holds."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in METRICS}


# the fields of ProjectRun that metrics.json holds (the rest are arrays, texts and the model)
METRICS = (
    "config",
    "names",
    "n_train",
    "n_validation",
    "n_test",
    "test",
    "test_one_view",
    "validation",
    "timings",
    "hardware",
    "lmcore_code",
    "finished",
    "history",
)


def data_record(config: dict) -> dict | None:
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


def mismatch(manifest: dict, wanted: dict) -> str:
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
    recorded, now = manifest.get("data") or {}, data_record(wanted) or {}
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
RUN_FILES = (
    "metrics.json",
    "confusion_matrix.csv",
    "probabilities.npz",
    CLASSIFIER_CONFIG,
    "model.safetensors",
)


# what a published copy holds (publish_run): the results without the weights
PUBLISHED_FILES = ("metrics.json", "confusion_matrix.csv", "probabilities.npz")


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
            f"{shown(folder)} holds {leftovers} but no {MANIFEST}: an unfinished run" if leftovers else ""
        )
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
        dict(manifest["config"])
    except (ValueError, KeyError, TypeError) as error:
        return None, f"{shown(manifest_file)} is damaged ({error})"
    if set(files) not in (set(RUN_FILES), set(PUBLISHED_FILES)):  # every file a run writes is checked
        return None, (
            f"{shown(manifest_file)} lists {sorted(files)}, not the files a run writes "
            f"({sorted(RUN_FILES)}, or {sorted(PUBLISHED_FILES)} when published): damaged, edited "
            "or written by an earlier lmcore"
        )
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return None, f"{shown(path)} is missing"
        if file_sha256(path) != expected:
            return None, f"{shown(path)} does not match its SHA-256 in {MANIFEST} (damaged or edited)"
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        said = {**ADDED_FIELDS, **dict(metrics["config"])}, metrics["finished"]
    except (ValueError, KeyError, TypeError) as error:
        return None, f"{shown(folder / 'metrics.json')} is damaged ({error})"
    if said != ({**ADDED_FIELDS, **manifest["config"]}, manifest.get("finished")):
        return None, (
            f"{shown(manifest_file)} and metrics.json disagree on the run's configuration or time "
            "(one of them was edited): the run cannot be trusted"
        )
    return manifest, ""


def shown(path: Path) -> str:
    """A path relative to the working directory or the repository when it lies inside them."""
    path = Path(path).resolve()
    for root in (Path.cwd(), REPOSITORY):
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return str(path)


def load_run_results(folder: str | Path, config: ProjectConfig | None = None) -> ProjectRun:
    """The results of a finished run (a run folder, or a published copy without weights):
    metrics, arrays of probabilities, and the test texts they score, after checking every file
    against its SHA-256 in the manifest. With ``config``, the run must have been made with it
    (else :class:`FinishedRunExists`). Raises ``ValueError`` when the folder holds no intact run."""
    folder = Path(folder)
    manifest, problem = inspect_run_folder(folder)
    if manifest is None:
        raise ValueError(f"folder must hold a finished run; {problem or f'{shown(folder)} holds none'}")
    return _read_results(folder, manifest, config)


def _read_results(folder: Path, manifest: dict, config: ProjectConfig | None) -> ProjectRun:
    """:func:`load_run_results` once ``manifest`` has been checked against the files."""
    difference = mismatch(manifest, asdict(config)) if config is not None else ""
    if difference:
        raise FinishedRunExists(
            f"{shown(folder)} holds a finished run of another configuration ({difference}); "
            "choose another output folder, or pass --overwrite (overwrite=True) to replace it"
        )
    results = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    with np.load(folder / "probabilities.npz", allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    run_config = ProjectConfig(**manifest["config"])
    changed = mismatch(manifest, asdict(run_config)) if config is None else ""  # (with config: checked above)
    if changed:  # data files changed since the run: their test texts are not the run's
        raise ValueError(
            f"{shown(folder)} was made from data files that changed since ({changed}): "
            "its test texts cannot be read back"
        )
    if run_config.data_file is None:  # (only the test split: reading both would double the time)
        all_test_texts = load_20newsgroups("test", remove=SETTINGS[run_config.setting]).texts
    else:
        all_test_texts = load_project_data(run_config)[1].texts
    test_texts = [all_test_texts[i] for i in chosen_test_index(len(all_test_texts), run_config)]
    results["config"] = asdict(run_config)  # with the fields added since, at the values the run had
    return ProjectRun(**results, arrays=arrays, test_texts=test_texts, reused_from=shown(folder))


def load_finished_run(folder: str | Path, config: ProjectConfig) -> ProjectRun | None:
    """The finished run stored in ``folder``, fine-tuned model included, if it was made with
    exactly ``config`` and every file matches its recorded hash; ``None`` (saying why) when
    there is none or it is damaged. Raises :class:`FinishedRunExists` when the folder holds a
    finished run of another configuration: it is never silently replaced."""
    manifest, problem = inspect_run_folder(folder)
    if manifest is None or not {CLASSIFIER_CONFIG, "model.safetensors"} <= set(manifest["files"]):
        if problem or manifest is not None:
            why = problem or "the run has no weights, or none an lmcore of this version can rebuild"
            warnings.warn(f"{why}; training again", RunTrainedAgain, stacklevel=2)
        return None
    run = _read_results(Path(folder), manifest, config)  # every hash was checked just above
    model = load_classifier(folder)  # from the run's own classifier.json: no base checkpoint read
    print(f"reused the finished run of {manifest['finished']} in {shown(folder)}")
    return replace(run, model=model, tokenizer=checkpoints.load_tokenizer(config.checkpoint))


PUBLISHED_ARRAYS = ("test_labels", "bert_test", "baseline_test")  # what chapter 5 reads of the book's runs


def publish_run(folder: str | Path, destination: str | Path | None = None) -> Path:
    """Copy a finished run's results, without the weights, to ``destination`` (by default the
    book's :func:`published_run_dir`), with a manifest of their hashes; returns the folder.
    Of the probabilities, only :data:`PUBLISHED_ARRAYS` are kept (about half the size)."""
    manifest, problem = inspect_run_folder(folder)
    if manifest is None:
        raise ValueError(f"folder must hold a finished run; {problem or f'{shown(Path(folder))} holds none'}")
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
        name: write_atomically(
            destination / name, lambda path, name=name: shutil.copyfile(folder / name, path)
        )
        for name in ("metrics.json", "confusion_matrix.csv")
    }
    if any(files[name] != manifest["files"][name] for name in files):
        raise ValueError(f"{shown(folder)} changed while it was copied; publish again")
    files["probabilities.npz"] = write_atomically(
        destination / "probabilities.npz", lambda path: save_arrays(path, arrays)
    )
    published = {**manifest, "files": files}
    write_atomically(
        destination / MANIFEST,
        lambda path: path.write_text(json.dumps(published, indent=2), encoding="utf-8"),
    )
    return destination


def save_arrays(path: Path, arrays: dict) -> None:
    with path.open("wb") as handle:  # a handle: given a path, NumPy would append ".npz" to the name
        np.savez_compressed(handle, **arrays)


STAGING_PREFIX = ".staging-"  # a run's files are written here, inside its folder, then moved in
STALE_SECONDS = 600  # writing a run's files takes seconds: leftovers older than this are a dead run's


def write_outputs(folder: Path, run: ProjectRun, predictions: dict, overwrite: bool = False) -> Path:
    """Write a run's files and its manifest into a staging folder inside ``folder``, then move
    them in (:func:`_commit`): an interrupted write leaves the finished run there untouched. A
    finished run of another configuration is replaced only with ``overwrite``; otherwise the new
    run goes beside it. Returns the folder written."""
    results, arrays, model = run.metrics(), run.arrays, run.model
    import torch.distributed as dist
    from sklearn.metrics import confusion_matrix

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return folder
    manifest, _ = inspect_run_folder(folder) if folder.exists() else (None, "")
    if manifest is not None and mismatch(manifest, results["config"]) and not overwrite:
        folder = folder.with_name(f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        print(
            f"lmcore.news: the output folder holds a finished run of another configuration; "
            f"this run is written beside it, to {shown(folder)}",
            file=sys.stderr,
        )
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    matrix = confusion_matrix(
        arrays["test_labels"], predictions["ensemble"], labels=range(len(results["names"]))
    )
    header = "true \\ predicted," + ",".join(results["names"])
    rows = [f"{name}," + ",".join(map(str, row)) for name, row in zip(results["names"], matrix)]
    writers = {
        "metrics.json": lambda path: path.write_text(
            json.dumps(results, indent=2, default=float), encoding="utf-8"
        ),
        "confusion_matrix.csv": lambda path: path.write_text(
            "\n".join([header] + rows) + "\n", encoding="utf-8"
        ),
        "probabilities.npz": lambda path: save_arrays(path, arrays),
    }
    files = {name: write_atomically(staging / name, write) for name, write in writers.items()}
    files.update(save_classifier(_unwrap(model), staging))  # classifier.json, model.safetensors
    data = data_record(results["config"])  # the data files' SHA-256s, for runs on data files
    manifest = {
        "config": results["config"],
        "finished": results["finished"],
        **({"data": data} if data else {}),
        "files": files,
    }
    write_atomically(
        staging / MANIFEST, lambda path: path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    )
    _commit(folder, staging)
    return folder


def _commit(folder: Path, staging: Path) -> None:
    """Move a complete staged run (its manifest written last) into ``folder``: the old manifest
    goes first, so no moment shows the old run's manifest over the new run's files; the new
    manifest comes last. A crash between the two is finished by :func:`tidy_run_folder`."""
    (folder / MANIFEST).unlink(missing_ok=True)
    for name in json.loads((staging / MANIFEST).read_text(encoding="utf-8"))["files"]:
        if (staging / name).exists():  # (already moved, when a crashed commit is finished)
            os.replace(staging / name, folder / name)
    os.replace(staging / MANIFEST, folder / MANIFEST)
    shutil.rmtree(staging, ignore_errors=True)


def tidy_run_folder(folder: str | Path) -> list[str]:
    """Finish or remove what an interrupted run left in ``folder``; returns what was done.

    A staging folder whose manifest was written holds a finished run whose move was cut short:
    it is finished when every file it lists is there with its hash. Anything else a run leaves
    (a staging folder without manifest, half-written temporary files) is removed once it is
    older than :data:`STALE_SECONDS`, so a run writing at the same moment is never disturbed.
    """
    folder, done = Path(folder), []
    if not folder.is_dir():
        return done
    now = time.time()
    for staging in sorted(folder.glob(f"{STAGING_PREFIX}*")):
        staged = staging / MANIFEST
        if staged.is_file() and _staged_run_complete(folder, staging):
            _commit(folder, staging)
            done.append(f"finished moving the run staged in {shown(staging)}")
        elif now - staging.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(staging, ignore_errors=True)
            done.append(f"removed {shown(staging)}, left by an interrupted run")
    for name in (*RUN_FILES, MANIFEST):  # write_atomically's temporary files: ".<name>.<random>"
        for leftover in folder.glob(f".{name}.*"):
            if leftover.is_file() and now - leftover.stat().st_mtime > STALE_SECONDS:
                leftover.unlink(missing_ok=True)
                done.append(f"removed {shown(leftover)}, left by an interrupted write")
    return done


def _staged_run_complete(folder: Path, staging: Path) -> bool:
    try:
        files = dict(json.loads((staging / MANIFEST).read_text(encoding="utf-8"))["files"])
    except (ValueError, KeyError, TypeError):
        return False
    return all(
        any((place / name).is_file() and file_sha256(place / name) == sha for place in (staging, folder))
        for name, sha in files.items()
    )


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def check_output_folder(folder: Path, config: ProjectConfig, overwrite: bool) -> None:
    """Before any work: the folder can be created and written, and holds no finished run of
    another configuration unless ``overwrite`` (that run stays there, and reusable, until the
    new one has finished: :func:`write_outputs`). What an interrupted run left is tidied."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-")
        probe.close()
    except OSError as error:
        raise ValueError(
            f"--output {folder} cannot be created or written ({error.strerror or error})"
        ) from None
    for line in tidy_run_folder(folder):
        print(f"lmcore.news: {line}", file=sys.stderr)
    manifest, _ = inspect_run_folder(folder)
    difference = mismatch(manifest, asdict(config)) if manifest is not None else ""
    if difference:
        if not overwrite:
            raise FinishedRunExists(
                f"--output {shown(folder)} holds a finished run of another configuration "
                f"({difference}); choose another folder or pass --overwrite"
            )
