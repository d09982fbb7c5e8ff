"""lmcore.files: a file's SHA-256, and writing a file so that a crash never leaves half of one."""

import hashlib

import pytest

from lmcore.files import file_sha256, write_atomically


def test_the_hash_is_the_files_sha256(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 3_000_000)  # more than one read's worth
    assert file_sha256(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "results.json"
    assert write_atomically(path, lambda p: p.write_text("old")) == hashlib.sha256(b"old").hexdigest()

    def crash(temporary):
        temporary.write_text("half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, crash)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
