"""Fixtures the tests of lmcore share: the pretrained MiniLM and its tokenizer, loaded once per
session, a tiny BERT checkpoint with a tokenizer of its own, and scikit-learn's 20 Newsgroups
cache made offline."""

import os
import shutil
from pathlib import Path

import pytest

from lmcore import checkpoints
from tests.reference import write_tiny_checkpoint


@pytest.fixture(scope="session")
def tokenizer():
    return checkpoints.load_tokenizer()


@pytest.fixture(scope="session")
def minilm():
    return checkpoints.load_pretrained()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A 3-layer, 48-wide random BERT with a 71-piece character vocabulary, as a checkpoint folder."""
    folder, _ = write_tiny_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny")
    return folder


@pytest.fixture(scope="session")
def scikit_learn_home(tmp_path_factory):
    """A scikit-learn data folder holding its 20 Newsgroups cache, made by scikit-learn's own code
    from the archive in LMCORE_DATA, copied where scikit-learn would download it: no network."""
    from sklearn.datasets import _twenty_newsgroups, fetch_20newsgroups

    archive = Path(os.environ.get("LMCORE_DATA", "")) / "20news-bydate.tar.gz"
    if not archive.is_file():
        pytest.skip("needs the 20 Newsgroups archive in LMCORE_DATA (CI has it)")

    def copy_instead_of_download(remote, dirname, **options):
        return shutil.copy(archive, Path(dirname) / remote.filename)

    home = tmp_path_factory.mktemp("scikit_learn_data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_twenty_newsgroups, "_fetch_remote", copy_instead_of_download)
        fetch_20newsgroups(data_home=home)
    return home
