"""Regenerate constraints.txt, the exact versions CI tests: one lock for Python 3.10 to 3.13 on
Linux, macOS and Windows, with environment markers where a Python or a system needs another
version. uv resolves it (``uv pip compile --universal``), preferring the versions already pinned.

    python tools/lock.py        (or: make lock)
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMPILE = [
    "pip",
    "compile",
    "--universal",
    "--python-version",
    "3.10",
    "--no-header",
    "--no-annotate",
    "requirements.txt",
    "requirements-tests.txt",
    "-o",
    "constraints.txt",
]


def main() -> int:
    if importlib.util.find_spec("uv") is None:  # the resolver, into this environment only
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "uv"], check=True)
    return subprocess.run([sys.executable, "-m", "uv", *COMPILE], cwd=REPO).returncode


if __name__ == "__main__":
    raise SystemExit(main())
