"""Files lmcore writes and reads back: written atomically (a crash leaves the old file or the
new one, never half of one), and verified by their SHA-256 when read (checkpoints, finished
runs, data files)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["file_sha256", "write_atomically"]


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks, as lowercase hex."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: Path, write) -> str:
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
