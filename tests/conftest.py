"""Shared test set-up.

The notebooks run under nbval in quick mode unless LMCORE_MODE says otherwise; the kernels
nbval starts inherit this process's environment.
"""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("LMCORE_MODE", "quick")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
