"""lmcore.provenance: the hardware in words, the code version and the machine's matrix speed."""

import pytest
import torch

from lmcore import provenance


def test_hardware_names_the_device_threads_and_torch():
    described = provenance.hardware()
    assert described.startswith(("cpu (", "cuda (", "mps ("))
    assert f"{torch.get_num_threads()} threads" in described and torch.__version__ in described


def test_the_code_version_covers_the_subpackages(tmp_path, monkeypatch):
    version = provenance.code_version()
    assert len(version) == 12 and int(version, 16) >= 0
    assert provenance.code_version() == version  # the same code, the same version
    # a change inside a subpackage changes it
    package = tmp_path / "lmcore"
    (package / "news").mkdir(parents=True)
    (package / "provenance.py").write_text("")
    (package / "news" / "pipeline.py").write_text("a = 1\n")
    monkeypatch.setattr(provenance, "__file__", str(package / "provenance.py"))
    before = provenance.code_version()
    (package / "news" / "pipeline.py").write_text("a = 2\n")
    assert provenance.code_version() != before


def test_matmul_speed_is_measured_and_checks_its_arguments():
    assert provenance.matmul_peak_flops(size=64, seconds=0.05) > 0
    with pytest.raises(ValueError, match="size must be a positive int"):
        provenance.matmul_peak_flops(size=0)
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        provenance.matmul_peak_flops(seconds=0)
