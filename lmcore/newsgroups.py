"""The 20 Newsgroups corpus, "bydate" split, read offline from a data folder.

    texts, labels, names = load_20newsgroups("train")                 # 11,314 messages
    test = load_20newsgroups("test", remove=("headers", "footers", "quotes"))

Where the data comes from, in order:

1. the folder named by ``LMCORE_DATA`` (or the ``data_dir`` argument), holding either the
   archive ``20news-bydate.tar.gz`` or its extracted folders ``20news-bydate-train/`` and
   ``20news-bydate-test/`` (``LMCORE_DATA`` may also name the archive itself); a classroom
   without internet copies the archive there once;
2. otherwise scikit-learn's own download (``sklearn.datasets.fetch_20newsgroups``).

The archive is read in place: nothing is extracted and no cache is written, so an interrupted
run never leaves half a data set behind. **The content is verified, not the packing**: while
reading, every message's path and bytes go into a SHA-256 digest that must equal the constant
below, whether the messages come from scikit-learn's archive, a re-packed copy of it, extracted
folders or scikit-learn's download; the gzip stream is read to its end, so its CRC is checked
too. A mismatch names the file and the messages that differ (from a table of per-message hashes
shipped with lmcore) and says how to get a good copy. Files that are not messages
(``.DS_Store``, ``Thumbs.db``, ``._*``) are skipped.
``remove`` uses scikit-learn's own functions, so "headers, footers and quotes removed" means
exactly what it means in scikit-learn and in published baselines.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from .datasets import LabelledTexts

DATA_VARIABLE = "LMCORE_DATA"
ARCHIVE = "20news-bydate.tar.gz"
EXPECTED_COUNTS = {"train": 11_314, "test": 7_532}
REMOVABLE = ("headers", "footers", "quotes")
# SHA-256 over "split/newsgroup/file NUL sha256(message bytes) LF" for every message in order:
# the same for scikit-learn's archive and any re-packed copy of the same messages.
CONTENT_SHA256 = {
    "train": "24f0ab3a3f9a67b6524234eb319a5a9be5b9a9c14377fa6e70cd73a9d5d966cb",
    "test": "1f3400101a97e823c8efd5a47fbb33e24302494df94cb8527ffe83f72f027728",
}
MESSAGE_TABLE = Path(__file__).parent / "data" / "20news-bydate-messages.txt.gz"  # "key sha256[:8]" lines
NOT_MESSAGES = {".DS_Store", "Thumbs.db", "desktop.ini"}

__all__ = ["load_20newsgroups", "find_data_dir", "DATA_VARIABLE"]


def find_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The data folder (or the archive itself): the argument, else ``$LMCORE_DATA``, else
    ``None`` (use scikit-learn)."""
    value = data_dir if data_dir is not None else os.environ.get(DATA_VARIABLE)
    if value in (None, ""):
        return None
    path = Path(value).expanduser()
    named_by = "data_dir" if data_dir is not None else DATA_VARIABLE
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        return path
    if path.is_file():
        raise ValueError(f"{named_by} must name a data folder or the archive {ARCHIVE}; got the file {path}")
    if not path.is_dir():
        raise FileNotFoundError(
            f"data folder {path} (from {named_by}) does not exist; "
            f"create it and put {ARCHIVE} in it, or unset {DATA_VARIABLE} to let scikit-learn download the data"
        )
    return path


def _is_message(name: str) -> bool:
    return name not in NOT_MESSAGES and not name.startswith(".")


GOOD_COPY = (
    f"Copy {ARCHIVE} again (or download it again: unset {DATA_VARIABLE} and scikit-learn fetches "
    "its own copy)"
)


@lru_cache(maxsize=4)
def _read_split(source: str, subset: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(raw texts, category names) of one split, sorted by category then file name, verified."""
    root = Path(source)
    prefix = f"20news-bydate-{subset}/"
    archive_file = root if root.is_file() else root / ARCHIVE
    extracted = root / prefix.rstrip("/")
    items: list[tuple[str, str, bytes]] = []
    if root.is_dir() and extracted.is_dir():
        where = extracted
        for category in sorted(p for p in extracted.iterdir() if p.is_dir() and _is_message(p.name)):
            for message in sorted(category.iterdir(), key=lambda p: p.name):
                if message.is_file() and _is_message(message.name):
                    items.append((category.name, message.name, message.read_bytes()))
    elif archive_file.exists():
        where = archive_file
        try:
            with tarfile.open(archive_file, mode="r:gz") as archive:
                for member in archive:
                    split, *place = member.name.split("/")  # 20news-bydate-train, newsgroup, file
                    if (
                        member.isfile()
                        and split == extracted.name
                        and len(place) == 2
                        and all(map(_is_message, place))
                    ):
                        items.append((place[0], place[1], archive.extractfile(member).read()))
                # Reading stops at the tar end-of-archive block; read the gzip stream to its end
                # so that its CRC is checked too.
                while archive.fileobj.read(1 << 20):
                    pass
        except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as error:
            raise ValueError(f"{archive_file} is corrupt or incomplete ({error}). {GOOD_COPY}.") from None
    else:
        present = sorted(p.name for p in root.iterdir())
        raise FileNotFoundError(
            f"{root} holds neither {ARCHIVE} nor the folder {prefix}; found {present}. "
            f"Copy the archive there, or unset {DATA_VARIABLE} to let scikit-learn download it."
        )
    items.sort(key=lambda item: (item[0], item[1]))
    verify_messages(subset, [(f"{c}/{n}", data) for c, n, data in items], str(where))
    return tuple(item[2].decode("latin-1") for item in items), tuple(item[0] for item in items)


def verify_messages(subset: str, messages: Sequence[tuple[str, bytes]], source: str) -> None:
    """Check ``(newsgroup/file, bytes)`` pairs, in order, against :data:`CONTENT_SHA256`.

    Raises ``ValueError`` naming ``source``, the messages that are missing, extra or changed, and
    how to get a good copy.
    """
    hashes = [(f"{subset}/{key}", hashlib.sha256(data).hexdigest()) for key, data in messages]
    digest = hashlib.sha256()
    for key, value in hashes:
        digest.update(f"{key}\0{value}\n".encode())
    if digest.hexdigest() == CONTENT_SHA256[subset]:
        return
    with gzip.open(MESSAGE_TABLE, "rt") as table:
        expected = dict(line.split() for line in table if line.startswith(f"{subset}/"))
    found = dict(hashes)
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(k for k in set(found) & set(expected) if found[k][:8] != expected[k])

    def listed(keys):
        return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")

    problems = [
        f"{what}: {len(keys)} ({listed(keys)})"
        for what, keys in (("changed", changed), ("missing", missing), ("not in the original", extra))
        if keys
    ]
    raise ValueError(
        f"the {subset} split read from {source} is not the published 20 Newsgroups 'bydate' data "
        f"({len(found)} messages, expected {EXPECTED_COUNTS[subset]}); messages "
        + "; ".join(problems or ["in another order or encoding"])
        + f". {GOOD_COPY}."
    )


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
) -> LabelledTexts:
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
    return LabelledTexts([_strip(t, remove) for t, _ in kept], [label for _, label in kept], names)


def _from_sklearn(subset: str, categories, remove: tuple[str, ...]) -> LabelledTexts:
    from sklearn.datasets import fetch_20newsgroups

    try:
        everything = fetch_20newsgroups(subset=subset)
        bunch = fetch_20newsgroups(subset=subset, categories=categories, remove=remove)
    except OSError as error:
        raise FileNotFoundError(
            f"20 Newsgroups is not available: {DATA_VARIABLE} is not set and scikit-learn's download failed "
            f"({error}). Put {ARCHIVE} in a folder and set {DATA_VARIABLE} to that folder."
        ) from None
    # scikit-learn gives the messages shuffled (even with shuffle=False: its cache is made by
    # load_files, which shuffles), so both are put in the data folder's order: by newsgroup,
    # then file name. Its texts are latin-1 decoded, which round-trips to the original bytes.
    messages = sorted(zip(map(_newsgroup_and_file, everything.filenames), everything.data))
    home = os.environ.get("SCIKIT_LEARN_DATA", "~/scikit_learn_data")
    verify_messages(
        subset,
        [("/".join(key), text.encode("latin-1")) for key, text in messages],
        f"scikit-learn's download (in {home})",
    )
    order = sorted(range(len(bunch.data)), key=lambda i: _newsgroup_and_file(bunch.filenames[i]))
    return LabelledTexts(
        [bunch.data[i] for i in order], [int(bunch.target[i]) for i in order], list(bunch.target_names)
    )


def _newsgroup_and_file(path: str) -> tuple[str, str]:
    """("sci.space", "60804") for ".../20news-bydate-train/sci.space/60804"."""
    newsgroup, file = Path(path).parts[-2:]
    return newsgroup, file
