"""Put a verified copy of 20 Newsgroups ("bydate") into a folder, for an image without internet
at run time: ``python hub/fetch_data.py /srv/data``, then ``LMCORE_DATA=/srv/data``.

scikit-learn downloads the archive (14 MB) into its own cache (``~/scikit_learn_data``, or
``SCIKIT_LEARN_DATA``); every message is written from there to the target's
``20news-bydate-train/`` and ``20news-bydate-test/`` folders, byte for byte (scikit-learn keeps
the texts latin-1 decoded, which round-trips), and lmcore reads them back, checking every
message against the published digest, before the script reports success.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python hub/fetch_data.py TARGET_FOLDER", file=sys.stderr)
        return 2
    target = Path(argv[0])
    from sklearn.datasets import fetch_20newsgroups

    from lmcore.newsgroups import load_20newsgroups

    for subset in ("train", "test"):
        bunch = fetch_20newsgroups(subset=subset, download_if_missing=True)
        for name, text in zip(bunch.filenames, bunch.data):
            newsgroup, file = Path(name).parts[-2:]
            message = target / f"20news-bydate-{subset}" / newsgroup / file
            message.parent.mkdir(parents=True, exist_ok=True)
            message.write_bytes(text.encode("latin-1"))
    train, test = load_20newsgroups("train", data_dir=target), load_20newsgroups("test", data_dir=target)
    print(f"{target}: {len(train):,} training and {len(test):,} test messages, digest verified")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
