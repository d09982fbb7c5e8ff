"""Put a verified copy of 20 Newsgroups ("bydate") into a folder, for an image without internet
at run time: ``python hub/fetch_data.py /srv/data``, then ``LMCORE_DATA=/srv/data``.

scikit-learn downloads the archive (14 MB) and extracts it; its two folders are copied to the
target, and lmcore reads them back, checking every message against the published digest, before
the script reports success.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python hub/fetch_data.py TARGET_FOLDER", file=sys.stderr)
        return 2
    target = Path(argv[0])
    from sklearn.datasets import fetch_20newsgroups

    from lmcore.newsgroups import load_20newsgroups

    with tempfile.TemporaryDirectory() as home:
        fetch_20newsgroups(data_home=home, subset="all", download_if_missing=True)
        extracted = Path(home) / "20news_home"
        target.mkdir(parents=True, exist_ok=True)
        for split in ("20news-bydate-train", "20news-bydate-test"):
            shutil.copytree(extracted / split, target / split, dirs_exist_ok=True)
    train, test = load_20newsgroups("train", data_dir=target), load_20newsgroups("test", data_dir=target)
    print(f"{target}: {len(train):,} training and {len(test):,} test messages, digest verified")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
