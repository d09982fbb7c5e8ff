"""Where a result was made: the CPU's name, the hardware in words, and the lmcore code version.

Every stored result says what produced it: the news project's run folders
(:mod:`lmcore.news`) and the notebooks' run stamps (``tools/notebooks.py``) both use these.
"""

from __future__ import annotations

import hashlib
import platform
import time
from pathlib import Path

import torch

__all__ = ["cpu_name", "cpu_flags", "hardware", "code_version", "matmul_peak_flops"]


def cpu_name() -> str:
    """The processor's model name, e.g. ``Intel(R) Xeon(R) Processor``."""
    for line in _cpuinfo_lines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags (``avx512_bf16``, ``amx_bf16``, ...) where the system lists them
    (Linux); an empty set elsewhere, so a speed trick is only taken where it was measured to pay."""
    for line in _cpuinfo_lines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _cpuinfo_lines() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.read_text(errors="replace").splitlines() if cpuinfo.exists() else []


def hardware() -> str:
    """The device torch computes on, in words: ``cpu (Intel(R) Xeon(R) ...), 2 threads, torch 2.13.0+cpu``."""
    from .runtime import pick_device

    device = pick_device()
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else cpu_name()
    return f"{device.type} ({name}), {torch.get_num_threads()} threads, torch {torch.__version__}"


def matmul_peak_flops(size: int = 2048, seconds: float = 3.0) -> float:
    """FLOP/s of a float32 ``size x size`` matrix product on the CPU, the best of repeated
    timings for ``seconds``: the one number that says how fast this machine trains a Transformer
    (a 2-core laptop CPU: roughly 80 to 330 GFLOP/s)."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be a positive int; got {size!r}")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not seconds > 0:
        raise ValueError(f"seconds must be a positive number; got {seconds!r}")
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up: the first call pays for allocations
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def code_version() -> str:
    """SHA-256 (first 12 hex digits) of lmcore's Python sources: which code made a result."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):  # the subpackages (news/, exercises/) included
        digest.update(path.relative_to(package).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]
