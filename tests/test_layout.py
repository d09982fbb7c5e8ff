"""The package's layout: every lmcore module has its own test file and a line in the README's
layout, and no module grows past about 450 lines."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LMCORE = REPO / "lmcore"
# modules tested in a file named after what they serve rather than after themselves
TESTED_ELSEWHERE = {
    "_checks": "test_bad_inputs.py",  # the input checks, through every public function
    "exercises": "test_exercise_checks.py",
    "project": "test_news.py",  # the news project's earlier name
    "outputs": "test_bert.py",  # the models' output objects
}
MODULES = sorted(
    {p.stem for p in LMCORE.glob("*.py") if p.stem != "__init__"}
    | {p.name for p in LMCORE.iterdir() if (p / "__init__.py").exists()}
)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_its_test_file(module):
    test_file = TESTED_ELSEWHERE.get(module, f"test_{module}.py")
    assert (REPO / "tests" / test_file).is_file(), f"lmcore/{module} has no tests/{test_file}"


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith("_")])
def test_the_readme_layout_says_what_every_module_does(module):
    layout = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"^\s+{re.escape(module)}(\.py|/)\s+\S", layout, re.MULTILINE), (
        f"README.md's layout does not describe lmcore/{module}"
    )


def test_no_module_is_over_about_450_lines():
    sizes = {p.relative_to(LMCORE).as_posix(): len(p.read_text().splitlines()) for p in LMCORE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 460} == {}


def test_the_repository_tracks_no_symbolic_links():
    # a link committed from one machine points nowhere (or at itself) on a fresh clone:
    # vendor/ once went in as a link and the set-up could not create the folder
    import subprocess

    staged = subprocess.run(["git", "ls-files", "-s"], cwd=REPO, capture_output=True, text=True, check=True)
    links = [line.split("\t", 1)[1] for line in staged.stdout.splitlines() if line.startswith("120000")]
    assert links == [], f"tracked symbolic links: {links}"
