"""Quick and full mode, and seeds.

Every notebook runs in one of two modes, chosen by one environment variable:

* ``LMCORE_MODE=full`` (the default): the sizes the book's stored outputs were produced with.
* ``LMCORE_MODE=quick``: the same code on smaller data and fewer steps, so the test suite can
  re-run every notebook in minutes. It checks that every line runs; a claim that needs the
  full sizes (one model beats another) is asserted in full mode only, and a notebook says which
  mode it runs in its first output line (:func:`mode_line`).

Notebooks never read the variable themselves; they ask :func:`pick` for a size.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

MODE_VARIABLE = "LMCORE_MODE"
MODES = ("full", "quick")


def mode() -> str:
    """The current mode, ``"full"`` or ``"quick"``, read from ``LMCORE_MODE``."""
    value = os.environ.get(MODE_VARIABLE, "full").strip().lower() or "full"
    if value not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {MODES}; got {value!r}")
    return value


def is_quick() -> bool:
    """True when the notebooks run in quick mode (the tests)."""
    return mode() == "quick"


def mode_line() -> str:
    """One line for a notebook's first cell: the mode, and what it means for the numbers shown."""
    if is_quick():
        return (
            "quick mode (LMCORE_MODE=quick), the tests' mode: tiny samples check that every line "
            "runs; its numbers are not the book's, and the text's claims are checked in full mode"
        )
    return "full mode: the sizes the book's numbers and claims were measured with"


def pick(*, full, quick):
    """Return ``full`` or ``quick`` depending on the mode: ``steps = pick(full=2000, quick=50)``."""
    return quick if is_quick() else full


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a ``torch.Generator`` seeded the same way.

    Same seed, same machine, same numbers: the notebooks call this once at the top.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
