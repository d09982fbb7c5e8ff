"""One style, enforced: ruff's lint rules and formatter (settings in pyproject.toml; the notebooks'
code in chapters/ and book/ at 100 columns) hold for lmcore, tests, tools, bench and every
notebook's code cells."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True)


def test_lint_rules_hold():
    result = ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, (
        f"ruff check found problems (fix: ruff check --fix .):\n{result.stdout}{result.stderr}"
    )


def test_code_is_formatted():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, f"not formatted (fix: ruff format .):\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("folder", ["lmcore", "tests", "tools", "bench", "chapters", "book"])
def test_the_style_check_covers(folder):
    listed = ruff("check", "--show-files", ".").stdout
    assert f"{REPO / folder}" in listed or f"{folder}/" in listed, f"ruff does not look at {folder}/"
