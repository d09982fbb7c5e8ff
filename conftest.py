"""Shared test set-up, for every test path (tests/, and the notebooks in chapters/ and book/).

The notebooks run under nbval in quick mode unless LMCORE_MODE says otherwise; the kernels
nbval starts inherit this process's environment.
"""

import os
import sys
from pathlib import Path

import matplotlib

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
