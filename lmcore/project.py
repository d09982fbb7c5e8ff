"""The 20 Newsgroups project (chapter 5), runnable outside Jupyter with the same code.

    python -m lmcore.project --setting full --max-length 192 --epochs 2 --test-windows 4 --output artifacts/news/full
    python -m lmcore.project --setting removed --max-length 256 --epochs 2 --output artifacts/news/removed
    torchrun --nproc_per_node=4 -m lmcore.project --setting full --bf16 ...   # several GPUs

One run: load the "bydate" split (``setting="full"`` messages, or ``"removed"``: headers,
footers and quotes stripped, because headers name the newsgroup and leak the answer); carve a
validation split out of the training set; fit the TF-IDF + linear SVM baseline; fine-tune the
pretrained MiniLM (lmcore's BERT) with a classification head; combine both by a weighted
geometric mean of their probabilities, the weight chosen on the validation split (never on the
test set); and score everything on the full test set.

A run writes ``metrics.json``, ``confusion_matrix.csv``, ``probabilities.npz`` and the
fine-tuned weights (``model.safetensors``) to its output folder, each file atomically (written
to a temporary name, flushed, renamed), and last ``manifest.json`` with every file's SHA-256 and
the configuration: a run is finished when its manifest is there. Called again with the same
configuration and folder, :func:`run_project` reads that finished run back instead of training
again (``reuse=False`` forces a new run), so chapter 5 and the command line share one run; a
damaged file is found by its hash and the run is trained again, and a finished run of another
configuration is never replaced (the command line stops unless ``--overwrite``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from . import bert as B
from ._checks import expect_int, expect_number, expect_probability, file_sha256
from .budget import seed_everything
from .classify import average_views, fine_tune, predict_views, tfidf_baseline
from .newsgroups import load_20newsgroups
from .train import pick_device

__all__ = [
    "ProjectConfig",
    "run_project",
    "load_finished_run",
    "inspect_run_folder",
    "FinishedRunExists",
    "default_output_dir",
    "scores",
    "geometric_ensemble",
    "most_confused_pairs",
    "main",
]

SETTINGS = {"full": (), "removed": ("headers", "footers", "quotes")}


@dataclass
class ProjectConfig:
    setting: str = "full"
    max_length: int = 192
    truncation: str = "head+tail"
    epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-4
    pooling: str = "mean"
    validation_fraction: float = 0.1
    dropout: float = 0.0  # every dropout rate during fine-tuning; 0 halves a CPU step (chapter 5)
    test_windows: int = 0  # extra windows per long message averaged at prediction time (classify.encode_windows)
    bf16: bool = False  # bf16 autocast: fast on GPUs and CPUs with avx512_bf16 or AMX, slower without (chapter 5)
    train_limit: int | None = None  # use only this many training messages (quick runs)
    test_limit: int | None = None
    seed: int = 0

    def __post_init__(self):
        """Every field checked before any work starts; errors name the field."""
        if self.setting not in SETTINGS:
            raise ValueError(f"setting must be one of {sorted(SETTINGS)}; got {self.setting!r}")
        if self.truncation not in ("head", "head+tail"):
            raise ValueError(f"truncation must be 'head' or 'head+tail'; got {self.truncation!r}")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean'; got {self.pooling!r}")
        for name in ("max_length", "epochs", "batch_size"):
            expect_int(name, getattr(self, name), minimum=1)
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8 to hold [CLS], [SEP] and some text; got {self.max_length}")
        for name in ("train_limit", "test_limit"):  # None means all; 0 or -5 would silently mean all
            if getattr(self, name) is not None:
                expect_int(name, getattr(self, name), minimum=1)
        expect_int("test_windows", self.test_windows, minimum=0)
        expect_int("seed", self.seed, minimum=0)
        expect_number("lr", self.lr, above=0.0)
        expect_probability("dropout", self.dropout)
        if not 0.0 < expect_number("validation_fraction", self.validation_fraction) < 0.5:
            raise ValueError(f"validation_fraction must be in (0, 0.5); got {self.validation_fraction!r}")
        if not isinstance(self.bf16, bool):
            raise TypeError(f"bf16 must be True or False; got {self.bf16!r}")


def scores(labels, predictions) -> dict:
    """Accuracy and macro-averaged precision, recall and F1 (scikit-learn)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions, average="macro", zero_division=0)
    return {"accuracy": accuracy_score(labels, predictions), "macro_precision": precision,
            "macro_recall": recall, "macro_f1": f1}


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
        raise ValueError(f"matrix must be {len(names)} x {len(names)} to match names; got shape {matrix.shape}")
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(off_diagonal, axis=None)[::-1][:top]
    rows = []
    for flat in order:
        true, predicted = np.unravel_index(flat, matrix.shape)
        if off_diagonal[true, predicted] == 0:
            break
        rows.append({"true class": names[true], "predicted as": names[predicted],
                     "messages": int(matrix[true, predicted]),
                     "share of the true class": matrix[true, predicted] / max(matrix[true].sum(), 1)})
    return pd.DataFrame(rows)


def _test_index(n: int, config: ProjectConfig) -> np.ndarray:
    """Which test messages a run scores: all, or with ``test_limit`` a seeded random subset in
    archive order (the archive lists the test messages newsgroup by newsgroup)."""
    if not config.test_limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(config.seed).permutation(n)[: config.test_limit])


def _split(n: int, labels, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(n), test_size=fraction, random_state=seed, stratify=labels)


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def hardware() -> str:
    """The device a run used, in words, e.g. ``cpu (Intel(R) Xeon(R) ...), 2 threads, torch 2.13.0+cpu``."""
    device = pick_device()
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else cpu_name()
    return f"{device.type} ({name}), {torch.get_num_threads()} threads, torch {torch.__version__}"


def default_output_dir(setting: str) -> Path:
    """Where a run of ``setting`` is kept: ``$LMCORE_ARTIFACTS/news/<setting>``, by default the
    repository's ``artifacts/news/<setting>`` (ignored by git), whatever the working directory."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {sorted(SETTINGS)}; got {setting!r}")
    root = os.environ.get("LMCORE_ARTIFACTS")
    if root is None:
        repository = Path(__file__).resolve().parent.parent
        root = repository / "artifacts" if (repository / "pyproject.toml").exists() else Path.cwd() / "artifacts"
    return Path(root) / "news" / setting


def code_version() -> str:
    """SHA-256 (first 12 hex digits) of the lmcore sources a run depends on, for provenance."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


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
        return None, (f"{_shown(folder)} holds {leftovers} but no {MANIFEST}: an unfinished run" if leftovers else "")
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


def load_finished_run(folder: str | Path, config: ProjectConfig) -> dict | None:
    """The finished run stored in ``folder`` if it was made with exactly ``config`` and every
    file matches its recorded hash; ``None`` (saying why) when there is none or it is damaged.
    Raises :class:`FinishedRunExists` when the folder holds a finished run of another
    configuration: it is never silently replaced."""
    from safetensors.torch import load_file

    folder = Path(folder)
    manifest, problem = inspect_run_folder(folder)
    if manifest is None:
        if problem:
            print(f"lmcore.project: {problem}; training again", file=sys.stderr)
        return None
    if manifest["config"] != asdict(config):
        raise FinishedRunExists(
            f"{_shown(folder)} holds a finished run of another configuration ({_difference(manifest['config'], config)}); "
            "choose another output folder, or pass --overwrite (overwrite=True) to replace it"
        )
    results = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    with np.load(folder / "probabilities.npz", allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    model = B.BertForSequenceClassification(B.load_pretrained(), num_labels=len(results["names"]),
                                            pooling=config.pooling)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    model.eval()
    remove = SETTINGS[config.setting]
    all_test_texts = load_20newsgroups("test", remove=remove).texts
    test_texts = [all_test_texts[i] for i in _test_index(len(all_test_texts), config)]
    print(f"reused the finished run of {manifest.get('finished', results.get('finished', '?'))} in {_shown(folder)}")
    return {**results, "arrays": arrays, "model": model, "tokenizer": B.load_tokenizer(), "test_texts": test_texts,
            "reused_from": _shown(folder)}


def _difference(stored: dict, config: ProjectConfig) -> str:
    wanted = asdict(config)
    changed = [f"{k}: {stored.get(k)!r} there, {wanted[k]!r} now" for k in wanted if stored.get(k) != wanted[k]]
    return "; ".join(changed) or "fields differ"


def run_project(config: ProjectConfig, output_dir: str | Path | None = None, progress: bool = True,
                reuse: bool = True) -> dict:
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
    remove = SETTINGS[config.setting]
    train, test = load_20newsgroups("train", remove=remove), load_20newsgroups("test", remove=remove)
    train_texts, train_labels = train.texts, np.array(train.labels)
    test_texts, test_labels = test.texts, np.array(test.labels)
    if config.train_limit:
        keep = np.random.default_rng(config.seed).permutation(len(train_texts))[: config.train_limit]
        train_texts, train_labels = [train_texts[i] for i in keep], train_labels[keep]
    keep = _test_index(len(test_texts), config)
    test_texts, test_labels = [test_texts[i] for i in keep], test_labels[keep]
    fit_index, val_index = _split(len(train_texts), train_labels, config.validation_fraction, config.seed)
    fit_texts = [train_texts[i] for i in fit_index]
    val_texts = [train_texts[i] for i in val_index]
    fit_labels, val_labels = train_labels[fit_index], train_labels[val_index]

    timings = {}
    t = time.perf_counter()
    _, baseline_val, pipeline = tfidf_baseline(fit_texts, fit_labels, val_texts, seed=config.seed)
    baseline_test = pipeline.predict_proba(test_texts)
    timings["baseline_seconds"] = time.perf_counter() - t

    tokenizer = B.load_tokenizer()
    model = B.BertForSequenceClassification(B.load_pretrained(), num_labels=len(train.names), pooling=config.pooling)
    B.set_dropout(model, config.dropout)
    autocast = torch.bfloat16 if config.bf16 else None
    t = time.perf_counter()
    history = fine_tune(model, tokenizer, fit_texts, fit_labels.tolist(), max_length=config.max_length,
                        truncation=config.truncation, epochs=config.epochs, batch_size=config.batch_size,
                        lr=config.lr, autocast_dtype=autocast, seed=config.seed, progress=progress)
    timings["fine_tuning_seconds"] = time.perf_counter() - t
    timings["seconds_per_step"] = timings["fine_tuning_seconds"] / max(1, history.step[-1])
    t = time.perf_counter()

    def predict(texts):  # (averaged over the windows, the truncated view alone)
        views, owners = predict_views(model, tokenizer, texts, config.max_length, config.truncation,
                                      autocast_dtype=autocast, windows=config.test_windows)
        return average_views(views, owners, len(texts)), views[: len(texts)]

    (model_val, model_val_one_view), (model_test, model_test_one_view) = predict(val_texts), predict(test_texts)
    timings["prediction_seconds"] = time.perf_counter() - t

    weights = np.linspace(0.0, 1.0, 21)
    val_accuracy = [(geometric_ensemble(model_val, baseline_val, w).argmax(1) == val_labels).mean() for w in weights]
    best_weight = float(weights[int(np.argmax(val_accuracy))])
    ensemble_test = geometric_ensemble(model_test, baseline_test, best_weight)

    predictions = {"tfidf_svm": baseline_test.argmax(1), "bert": model_test.argmax(1), "ensemble": ensemble_test.argmax(1)}
    results = {
        "config": asdict(config),
        "names": train.names,
        "n_train": len(fit_texts), "n_validation": len(val_texts), "n_test": len(test_texts),
        "test": {name: scores(test_labels, p) for name, p in predictions.items()},
        # the same model from the truncated view alone: what the test-time windows add
        "test_one_view": {"bert": scores(test_labels, model_test_one_view.argmax(1))},
        "validation": {"tfidf_svm": scores(val_labels, baseline_val.argmax(1)),
                       "bert": scores(val_labels, model_val.argmax(1)),
                       "bert_one_view": scores(val_labels, model_val_one_view.argmax(1)),
                       "ensemble_weight": best_weight,
                       "ensemble_accuracy_by_weight": dict(zip(map(float, weights), map(float, val_accuracy)))},
        "timings": {**timings, "total_seconds": time.perf_counter() - started},
        "hardware": hardware(),
        "lmcore_code": code_version(),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "history": {"step": history.step, "loss": history.loss},
    }
    arrays = {"test_labels": test_labels, "bert_test": model_test, "bert_test_one_view": model_test_one_view,
              "baseline_test": baseline_test, "ensemble_test": ensemble_test}
    if output_dir is not None:
        write_outputs(Path(output_dir), results, arrays, predictions, model)
    return {**results, "arrays": arrays, "model": model, "tokenizer": tokenizer, "test_texts": test_texts}


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
    from safetensors.torch import save_file
    from sklearn.metrics import confusion_matrix

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return
    manifest, _ = inspect_run_folder(folder) if folder.exists() else (None, "")
    if manifest is not None and manifest["config"] != results["config"]:
        folder = folder.with_name(f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        print(f"lmcore.project: the output folder holds a finished run of another configuration; "
              f"this run is written beside it, to {_shown(folder)}", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # the folder holds no finished run until the end
    matrix = confusion_matrix(arrays["test_labels"], predictions["ensemble"], labels=range(len(results["names"])))
    header = "true \\ predicted," + ",".join(results["names"])
    rows = [f"{name}," + ",".join(map(str, row)) for name, row in zip(results["names"], matrix)]
    state = {name: tensor.detach().contiguous() for name, tensor in _unwrap(model).state_dict().items()}
    writers = {
        "metrics.json": lambda path: path.write_text(json.dumps(results, indent=2, default=float), encoding="utf-8"),
        "confusion_matrix.csv": lambda path: path.write_text("\n".join([header] + rows) + "\n", encoding="utf-8"),
        "probabilities.npz": lambda path: _save_arrays(path, arrays),
        "model.safetensors": lambda path: save_file(state, str(path)),
    }
    files = {name: _write_atomically(folder / name, write) for name, write in writers.items()}
    manifest = {"config": results["config"], "finished": results["finished"], "files": files}
    _write_atomically(folder / MANIFEST, lambda path: path.write_text(json.dumps(manifest, indent=2), encoding="utf-8"))


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def _flag(message: str) -> str:
    """A ProjectConfig error, worded for the command line: ``train_limit ...`` -> ``--train-limit ...``."""
    name, _, rest = message.partition(" ")
    return f"--{name.replace('_', '-')} {rest}" if name in {f.name for f in fields(ProjectConfig)} else message


def check_output_folder(folder: Path, config: ProjectConfig, overwrite: bool) -> None:
    """Before any work: the folder can be created and written, and holds no finished run of
    another configuration (unless ``overwrite``, which then marks that run as replaced)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-")
        probe.close()
    except OSError as error:
        raise ValueError(f"--output {folder} cannot be created or written ({error.strerror or error})") from None
    manifest, _ = inspect_run_folder(folder)
    if manifest is not None and manifest["config"] != asdict(config):
        if not overwrite:
            raise FinishedRunExists(
                f"--output {_shown(folder)} holds a finished run of another configuration "
                f"({_difference(manifest['config'], config)}); choose another folder or pass --overwrite"
            )
        (folder / MANIFEST).unlink()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmcore.project", description=__doc__.split("\n\n")[0])
    defaults = ProjectConfig()
    parser.add_argument("--setting", choices=sorted(SETTINGS), default=defaults.setting)
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    parser.add_argument("--truncation", choices=["head", "head+tail"], default=defaults.truncation)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--pooling", choices=["cls", "mean"], default=defaults.pooling)
    parser.add_argument("--test-windows", type=int, default=defaults.test_windows,
                        help="average predictions over up to this many extra windows of each long message")
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPUs, CPUs with avx512_bf16 or AMX)")
    parser.add_argument("--again", action="store_true", help="train even if --output holds this run already")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished run of another configuration in --output")
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True, help="folder for metrics.json, confusion_matrix.csv")
    args = parser.parse_args(argv)
    try:  # every argument is checked before anything is loaded or trained
        config = ProjectConfig(
            setting=args.setting, max_length=args.max_length, truncation=args.truncation, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, pooling=args.pooling, test_windows=args.test_windows,
            dropout=args.dropout, bf16=args.bf16, train_limit=args.train_limit, test_limit=args.test_limit,
            seed=args.seed,
        )
        limit = B.BertConfig.from_json(B.default_checkpoint() / "config.json").max_position_embeddings
        if config.max_length > limit:
            raise ValueError(f"max_length must be at most {limit}, the model's limit; got {config.max_length}")
        check_output_folder(args.output, config, args.overwrite)
    except (ValueError, TypeError, FinishedRunExists) as error:
        parser.error(_flag(str(error)))
    results = run_project(config, args.output, reuse=not args.again)
    for name, row in results["test"].items():
        print(f"{name:10} accuracy {row['accuracy']:.4f}  macro F1 {row['macro_f1']:.4f}")
    if config.test_windows:
        print(f"bert from the truncated view alone: accuracy {results['test_one_view']['bert']['accuracy']:.4f}")
    print(f"fine-tuning {results['timings']['fine_tuning_seconds'] / 60:.1f} min on {results['hardware']}; "
          f"results in {_shown(args.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
