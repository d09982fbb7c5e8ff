"""The 20 Newsgroups project (chapter 5), runnable outside Jupyter with the same code.

    python -m lmcore.project --setting full --max-length 256 --epochs 2 --output results/full
    python -m lmcore.project --setting removed --max-length 128 --epochs 1 --output results/removed
    torchrun --nproc_per_node=4 -m lmcore.project --setting full ...      # several GPUs

One run: load the "bydate" split (``setting="full"`` messages, or ``"removed"``: headers,
footers and quotes stripped, because headers name the newsgroup and leak the answer); carve a
validation split out of the training set; fit the TF-IDF + linear SVM baseline; fine-tune the
pretrained MiniLM (lmcore's BERT) with a classification head; combine both by a weighted
geometric mean of their probabilities, the weight chosen on the validation split (never on the
test set); and score everything on the full test set.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import bert as B
from .budget import seed_everything
from .classify import fine_tune, predict_texts, tfidf_baseline
from .newsgroups import load_20newsgroups
from .train import pick_device

__all__ = ["ProjectConfig", "run_project", "scores", "geometric_ensemble", "main"]

SETTINGS = {"full": (), "removed": ("headers", "footers", "quotes")}


@dataclass
class ProjectConfig:
    setting: str = "full"
    max_length: int = 256
    truncation: str = "head+tail"
    epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-4
    pooling: str = "mean"
    validation_fraction: float = 0.1
    bf16: bool = True
    train_limit: int | None = None  # use only this many training messages (quick runs)
    test_limit: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.setting not in SETTINGS:
            raise ValueError(f"setting must be one of {sorted(SETTINGS)}; got {self.setting!r}")
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in (0, 0.5); got {self.validation_fraction}")


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


def _split(n: int, labels, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(n), test_size=fraction, random_state=seed, stratify=labels)


def hardware() -> str:
    device = pick_device()
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or platform.machine()
    return f"{device.type} ({name}), {torch.get_num_threads()} threads, torch {torch.__version__}"


def run_project(config: ProjectConfig, output_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Run the whole project once; returns (and with ``output_dir`` writes) every result."""
    seed_everything(config.seed)
    started = time.perf_counter()
    remove = SETTINGS[config.setting]
    train, test = load_20newsgroups("train", remove=remove), load_20newsgroups("test", remove=remove)
    train_texts, train_labels = train.texts, np.array(train.labels)
    test_texts, test_labels = test.texts, np.array(test.labels)
    if config.train_limit:
        keep = np.random.default_rng(config.seed).permutation(len(train_texts))[: config.train_limit]
        train_texts, train_labels = [train_texts[i] for i in keep], train_labels[keep]
    if config.test_limit:
        test_texts, test_labels = test_texts[: config.test_limit], test_labels[: config.test_limit]
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
    autocast = torch.bfloat16 if config.bf16 else None
    t = time.perf_counter()
    history = fine_tune(model, tokenizer, fit_texts, fit_labels.tolist(), max_length=config.max_length,
                        truncation=config.truncation, epochs=config.epochs, batch_size=config.batch_size,
                        lr=config.lr, autocast_dtype=autocast, seed=config.seed, progress=progress)
    timings["fine_tuning_seconds"] = time.perf_counter() - t
    timings["seconds_per_step"] = timings["fine_tuning_seconds"] / max(1, history.step[-1])
    t = time.perf_counter()
    predict = lambda texts: predict_texts(model, tokenizer, texts, config.max_length, config.truncation,  # noqa: E731
                                          autocast_dtype=autocast)
    model_val, model_test = predict(val_texts), predict(test_texts)
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
        "validation": {"tfidf_svm": scores(val_labels, baseline_val.argmax(1)),
                       "bert": scores(val_labels, model_val.argmax(1)),
                       "ensemble_weight": best_weight,
                       "ensemble_accuracy_by_weight": dict(zip(map(float, weights), map(float, val_accuracy)))},
        "timings": {**timings, "total_seconds": time.perf_counter() - started},
        "hardware": hardware(),
        "history": {"step": history.step, "loss": history.loss},
    }
    arrays = {"test_labels": test_labels, "bert_test": model_test, "baseline_test": baseline_test,
              "ensemble_test": ensemble_test}
    if output_dir is not None:
        write_outputs(Path(output_dir), results, arrays, predictions)
    return {**results, "arrays": arrays, "model": model, "tokenizer": tokenizer, "test_texts": test_texts}


def write_outputs(folder: Path, results: dict, arrays: dict, predictions: dict) -> None:
    from sklearn.metrics import confusion_matrix

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(results, indent=2, default=float))
    matrix = confusion_matrix(arrays["test_labels"], predictions["ensemble"], labels=range(len(results["names"])))
    header = "true \\ predicted," + ",".join(results["names"])
    rows = [f"{name}," + ",".join(map(str, row)) for name, row in zip(results["names"], matrix)]
    (folder / "confusion_matrix.csv").write_text("\n".join([header] + rows) + "\n")
    np.savez_compressed(folder / "probabilities.npz", **arrays)


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
    parser.add_argument("--no-bf16", action="store_true", help="train in float32")
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True, help="folder for metrics.json, confusion_matrix.csv")
    args = parser.parse_args(argv)
    config = ProjectConfig(
        setting=args.setting, max_length=args.max_length, truncation=args.truncation, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, pooling=args.pooling, bf16=not args.no_bf16,
        train_limit=args.train_limit, test_limit=args.test_limit, seed=args.seed,
    )
    results = run_project(config, args.output)
    for name, row in results["test"].items():
        print(f"{name:10} accuracy {row['accuracy']:.4f}  macro F1 {row['macro_f1']:.4f}")
    print(f"fine-tuning {results['timings']['fine_tuning_seconds'] / 60:.1f} min on {results['hardware']}; "
          f"results in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
