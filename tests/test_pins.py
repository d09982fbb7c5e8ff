"""constraints.txt pins exact versions for every supported Python on every system: one lock,
with environment markers where a Python or a system needs another version (``make lock``).

Offline, this test evaluates the markers for each supported interpreter (3.10 to 3.13, Debian
12's 3.11.2 among them) on Linux, macOS and Windows, and checks that every requirement gets
exactly one pin that satisfies it. With ``LMCORE_TEST_RESOLUTION=1`` (and the package index
reachable), it also lets pip resolve the whole set-up, without installing, with every real
interpreter this machine has."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PYTHONS = ["3.10.13", "3.11.2", "3.11.7", "3.12.1", "3.13.0"]
SYSTEMS = {
    "linux": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
    },
    "macos": {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "os_name": "posix",
        "platform_machine": "arm64",
    },
    "windows": {
        "sys_platform": "win32",
        "platform_system": "Windows",
        "os_name": "nt",
        "platform_machine": "AMD64",
    },
}


def requirements(path: Path) -> list[Requirement]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def pins_for(environment: dict) -> dict[str, list[str]]:
    pins = {}
    for requirement in requirements(REPO / "constraints.txt"):
        if requirement.marker is None or requirement.marker.evaluate(environment):
            pins.setdefault(canonicalize_name(requirement.name), []).append(str(requirement.specifier))
    return pins


def environment(python: str, system: str) -> dict:
    return {
        **default_environment(),
        **SYSTEMS[system],
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python,
    }


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("python", PYTHONS)
def test_every_requirement_has_one_pin_that_satisfies_it(python, system):
    env = environment(python, system)
    pins = pins_for(env)
    doubled = {name: specs for name, specs in pins.items() if len(specs) > 1}
    assert doubled == {}, f"Python {python} on {system}: two pins apply at once"
    wanted = requirements(REPO / "requirements.txt") + requirements(REPO / "requirements-tests.txt")
    for requirement in wanted:
        if requirement.marker is not None and not requirement.marker.evaluate(env):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"Python {python} on {system}: {requirement} has no pin"
        (pinned,) = pins[name]
        version = pinned.removeprefix("==")
        assert requirement.specifier.contains(version, prereleases=True), (
            f"Python {python} on {system}: {name}=={version} does not satisfy {requirement}"
        )


def test_the_lock_covers_the_pythons_the_set_up_promises():
    from tools import setup_env

    (low, high) = setup_env.LOCKED_PYTHONS
    covered = sorted({tuple(int(p) for p in python.split(".")[:2]) for python in PYTHONS})
    assert covered[0] == low and covered[-1] == high


def interpreters() -> list[str]:
    """The real interpreters of the supported versions on this machine (pyenv's, the system's)."""
    found = []
    candidates = [Path.home() / ".pyenv" / "versions" / v / "bin" / "python" for v in PYTHONS]
    candidates += [Path("/usr/bin/python3")]
    for candidate in candidates:
        if candidate.exists() and str(candidate) not in found:
            found.append(str(candidate))
    return found


@pytest.mark.skipif(os.environ.get("LMCORE_TEST_RESOLUTION") != "1", reason="set LMCORE_TEST_RESOLUTION=1")
@pytest.mark.parametrize("python", interpreters())
def test_pip_resolves_the_set_up_with_the_pins(python, tmp_path):
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
        ]
        + ["-r", "requirements.txt", "-r", "requirements-tests.txt", "-c", "constraints.txt"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    installed = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {"torch", "jupyterlab", "jupyter-book", "nbval"} <= installed
