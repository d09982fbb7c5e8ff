"""The 20 Newsgroups corpus, "bydate" split, read offline from a data folder.

    texts, labels, names = load_20newsgroups("train")                 # 11,314 messages
    test = load_20newsgroups("test", remove=("headers", "footers", "quotes"))

Where the data comes from, in order:

1. the folder named by ``LMCORE_DATA`` (or the ``data_dir`` argument), holding either the
   archive ``20news-bydate.tar.gz`` or its extracted folders ``20news-bydate-train/`` and
   ``20news-bydate-test/``; a classroom without internet copies the archive there once;
2. otherwise scikit-learn's own download (``sklearn.datasets.fetch_20newsgroups``).

The archive is read in place: nothing is extracted and no cache is written, so an interrupted
run never leaves half a data set behind. The message counts are checked (11,314 train, 7,532
test), so a partial or wrong archive fails with a message instead of giving odd results.
``remove`` uses scikit-learn's own functions, so "headers, footers and quotes removed" means
exactly what it means in scikit-learn and in published baselines.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_VARIABLE = "LMCORE_DATA"
ARCHIVE = "20news-bydate.tar.gz"
EXPECTED_COUNTS = {"train": 11_314, "test": 7_532}
REMOVABLE = ("headers", "footers", "quotes")

__all__ = ["Newsgroups", "load_20newsgroups", "find_data_dir", "DATA_VARIABLE"]


@dataclass
class Newsgroups:
    """Texts, integer labels and the label names (``names[label]``) of one split."""

    texts: list[str]
    labels: list[int]
    names: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self):  # allows: texts, labels, names = load_20newsgroups(...)
        return iter((self.texts, self.labels, self.names))


def find_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The data folder: the argument, else ``$LMCORE_DATA``, else ``None`` (use scikit-learn)."""
    value = data_dir if data_dir is not None else os.environ.get(DATA_VARIABLE)
    if value in (None, ""):
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"data folder {path} (from {'data_dir' if data_dir is not None else DATA_VARIABLE}) does not exist; "
            f"create it and put {ARCHIVE} in it, or unset {DATA_VARIABLE} to let scikit-learn download the data"
        )
    return path


@lru_cache(maxsize=4)
def _read_split(folder: str, subset: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(raw texts, category names) of one split, sorted by category then file name."""
    root = Path(folder)
    prefix = f"20news-bydate-{subset}/"
    extracted = root / prefix.rstrip("/")
    items: list[tuple[str, str, bytes]] = []
    if extracted.is_dir():
        for category in sorted(p for p in extracted.iterdir() if p.is_dir()):
            for message in sorted(category.iterdir(), key=lambda p: p.name):
                items.append((category.name, message.name, message.read_bytes()))
    elif (root / ARCHIVE).exists():
        try:
            with tarfile.open(root / ARCHIVE, mode="r:gz") as archive:
                for member in archive:
                    if member.isfile() and member.name.startswith(prefix):
                        category, name = member.name[len(prefix) :].split("/", 1)
                        items.append((category, name, archive.extractfile(member).read()))
        except (tarfile.TarError, OSError, EOFError) as error:
            raise ValueError(
                f"{root / ARCHIVE} is corrupt or incomplete ({error}); copy it again "
                "(its SHA-256 is in the SHA256SUMS file shipped next to it)"
            ) from None
    else:
        present = sorted(p.name for p in root.iterdir())
        raise FileNotFoundError(
            f"{root} holds neither {ARCHIVE} nor the folder {prefix}; found {present}. "
            f"Copy the archive there, or unset {DATA_VARIABLE} to let scikit-learn download it."
        )
    items.sort(key=lambda item: (item[0], item[1]))
    if len(items) != EXPECTED_COUNTS[subset]:
        raise ValueError(
            f"the {subset} split in {root} has {len(items)} messages, expected {EXPECTED_COUNTS[subset]}: "
            "the archive or folder is partial or not the 'bydate' version"
        )
    return tuple(item[2].decode("latin-1") for item in items), tuple(item[0] for item in items)


def _strip(text: str, remove: Sequence[str]) -> str:
    from sklearn.datasets._twenty_newsgroups import (
        strip_newsgroup_footer,
        strip_newsgroup_header,
        strip_newsgroup_quoting,
    )

    if "headers" in remove:
        text = strip_newsgroup_header(text)
    if "footers" in remove:
        text = strip_newsgroup_footer(text)
    if "quotes" in remove:
        text = strip_newsgroup_quoting(text)
    return text


def load_20newsgroups(
    subset: str = "train",
    categories: Sequence[str] | None = None,
    remove: Sequence[str] = (),
    data_dir: str | Path | None = None,
) -> Newsgroups:
    """One split of 20 Newsgroups ("bydate"): ``subset`` is ``"train"`` or ``"test"``.

    ``categories`` keeps only those newsgroups (labels are renumbered 0..k-1 in sorted order);
    ``remove`` strips any of ``"headers"``, ``"footers"``, ``"quotes"`` (scikit-learn's rules).
    """
    if subset not in EXPECTED_COUNTS:
        raise ValueError(f"subset must be 'train' or 'test'; got {subset!r}")
    if isinstance(remove, str):
        remove = (remove,)
    unknown = [r for r in remove if r not in REMOVABLE]
    if unknown:
        raise ValueError(f"remove may contain {REMOVABLE}; got {unknown}")
    folder = find_data_dir(data_dir)
    if folder is None:
        return _from_sklearn(subset, categories, tuple(remove))
    texts, categories_of = _read_split(str(folder.resolve()), subset)
    all_names = sorted(set(categories_of))
    if categories is not None:
        wrong = sorted(set(categories) - set(all_names))
        if wrong:
            raise ValueError(f"unknown categories {wrong}; the 20 are {all_names}")
    names = sorted(categories) if categories is not None else all_names
    index = {name: i for i, name in enumerate(names)}
    kept = [(t, index[c]) for t, c in zip(texts, categories_of) if c in index]
    return Newsgroups([_strip(t, remove) for t, _ in kept], [label for _, label in kept], names)


def _from_sklearn(subset: str, categories, remove: tuple[str, ...]) -> Newsgroups:
    from sklearn.datasets import fetch_20newsgroups

    try:
        bunch = fetch_20newsgroups(subset=subset, categories=categories, remove=remove, shuffle=False)
    except OSError as error:
        raise FileNotFoundError(
            f"20 Newsgroups is not available: {DATA_VARIABLE} is not set and scikit-learn's download failed "
            f"({error}). Put {ARCHIVE} in a folder and set {DATA_VARIABLE} to that folder."
        ) from None
    return Newsgroups(list(bunch.data), [int(label) for label in bunch.target], list(bunch.target_names))
