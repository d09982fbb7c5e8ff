"""lmcore.budget: the run mode read from the environment, and seeding."""

import numpy as np
import pytest
import torch

import lmcore
from lmcore import budget


def test_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv("LMCORE_MODE", "quick")
    assert lmcore.mode() == "quick" and lmcore.is_quick()
    assert lmcore.pick(full=1000, quick=10) == 10
    monkeypatch.setenv("LMCORE_MODE", "full")
    assert lmcore.pick(full=1000, quick=10) == 1000
    monkeypatch.delenv("LMCORE_MODE")
    assert lmcore.mode() == "full"


def test_bad_mode_names_the_variable(monkeypatch):
    monkeypatch.setenv("LMCORE_MODE", "fast")
    with pytest.raises(ValueError, match=r"LMCORE_MODE must be one of \('full', 'quick'\); got 'fast'"):
        lmcore.mode()


def test_seed_everything_repeats_numbers():
    generator = lmcore.seed_everything(5)
    first = (torch.randn(3), np.random.rand(3), torch.randn(3, generator=generator))
    generator = lmcore.seed_everything(5)
    second = (torch.randn(3), np.random.rand(3), torch.randn(3, generator=generator))
    torch.testing.assert_close(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    torch.testing.assert_close(first[2], second[2])
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        budget.seed_everything(-1)
