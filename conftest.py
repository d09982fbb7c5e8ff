"""Shared test set-up, for every test path (tests/, and the notebooks in chapters/ and book/).

The notebooks run under nbval in quick mode unless LMCORE_MODE says otherwise; the kernels
nbval starts inherit this process's environment.
"""

import json
import os
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("LMCORE_MODE", "quick")
# With several pytest-xdist workers on a few cores, each worker (and each notebook kernel it
# starts, which inherits this environment) computes on one thread: PyTorch's default of one
# thread per core would put workers x cores threads on the cores, and its OpenMP threads
# spin while they wait, which slowed the whole suite down.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# ---------------------------------------------------------------- prose expressions under nbval
# nbval runs a notebook's code cells only. A markdown cell's {eval} expressions are evaluated too
# (as JupyterLab with jupyterlab-myst does when a reader runs the cell), by a test item placed
# where the cell is: an expression that fails in quick mode fails the test run.


def _prose_item(notebook_file, index, expressions):
    from nbformat.v4 import new_code_cell
    from nbval.plugin import IPyNbCell

    checks = "\n".join(
        f"eval({expression!r})  # markdown cell {index}: {{eval}}`{expression}`" for expression in expressions
    )
    cell = new_code_cell(checks)
    options = {"check": False, "check_exception": False, "skip": False}
    return IPyNbCell.from_parent(
        notebook_file, name=f"Cell {index} (prose)", cell_num=index, cell=cell, options=options
    )


def _with_prose_items(notebook_file):
    from tools.notebooks import prose_expressions

    original_collect = notebook_file.collect

    def collect():
        code_items = iter(list(original_collect()))  # reads notebook_file.nb
        for index, cell in enumerate(notebook_file.nb.cells):
            if cell.cell_type == "code":
                yield next(code_items)
            elif expressions := prose_expressions(cell.source):
                yield _prose_item(notebook_file, index, expressions)

    notebook_file.collect = collect
    return notebook_file


@pytest.hookimpl(hookwrapper=True)
def pytest_collect_file(file_path, parent):
    outcome = yield
    if file_path.suffix != ".ipynb":
        return
    from nbval.plugin import IPyNbFile

    outcome.force_result(
        [_with_prose_items(f) if isinstance(f, IPyNbFile) else f for f in outcome.get_result()]
    )


# ---------------------------------------------------------------- mutation runs (make mutation)
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Under mutmut, a mutant's tests run fastest first, by the durations mutmut measured: it
    stops at the first failure, so a mutant a quick test kills no longer waits for the project's
    end-to-end run. Outside mutmut the order is the files' own."""
    durations = Path("mutmut-stats.json")  # in the folder mutmut runs the tests from
    if "MUTANT_UNDER_TEST" not in os.environ or not durations.is_file():
        return
    seconds = json.loads(durations.read_text(encoding="utf-8")).get("duration_by_test", {})
    items.sort(key=lambda item: seconds.get(item.nodeid, 0.0))
