"""Fixtures the tests of lmcore share: the pretrained MiniLM and its tokenizer, loaded once per
session, and a tiny BERT checkpoint with a tokenizer of its own."""

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
