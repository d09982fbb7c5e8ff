"""The 20 Newsgroups project (chapter 5), runnable outside Jupyter with the same code.

    python -m lmcore.news --setting full --output artifacts/news/full
    python -m lmcore.news --setting removed --output artifacts/news/removed
    python -m lmcore.news --setting full --checkpoint path/to/checkpoint --output ...  # another BERT
    torchrun --nproc_per_node=4 -m lmcore.news --setting full --bf16 ...   # several GPUs
    python -m lmcore.news --data-file reviews.csv --output runs/reviews     # your own labelled texts
    python -m lmcore.news --data-file train.jsonl --test-file test.jsonl --output runs/mine

(``python -m lmcore.project``, the command's earlier name, runs the same command line.)

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
test set; without it, a stratified 20% of ``data_file`` (:data:`~lmcore.news.splits.TEST_FRACTION`) is held out as
the test set, drawn with a fixed seed (:data:`~lmcore.news.splits.TEST_SPLIT_SEED`) so that runs with other seeds or
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

The package, one job per module: :mod:`~lmcore.news.config` (the configuration and the recipes),
:mod:`~lmcore.news.splits` (which texts), :mod:`~lmcore.news.pipeline` (the run, step by step),
:mod:`~lmcore.news.store` (the run folder) and :mod:`~lmcore.news.cli` (the command line).
"""

from .cli import main
from .config import RECIPES, SETTINGS, ProjectConfig
from .pipeline import run_project
from .splits import load_project_data
from .store import (
    FinishedRunExists,
    ProjectRun,
    inspect_run_folder,
    load_finished_run,
    load_run_results,
    publish_run,
    published_run_dir,
)

__all__ = [
    "ProjectConfig",
    "ProjectRun",
    "RECIPES",
    "SETTINGS",
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
