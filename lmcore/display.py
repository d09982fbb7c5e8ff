"""Small helpers that show things in a notebook: lmcore's own source, and matrices as tables.

Numbers in a chapter's prose are MyST inline expressions (``{eval}`f"{accuracy:.3f}"` ``) over the
notebook's variables, so they need no helper here: JupyterLab (with jupyterlab-myst) evaluates
them when a reader runs the cell, and the book shows the results the full-mode run stored.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

__all__ = ["show_source", "as_table"]


def show_source(*objects) -> None:
    """Display the source code of one or more lmcore functions or classes, syntax-highlighted.

    The chapters call this instead of copying code, so what the reader reads is what runs. Each
    object is shown as its own block, in the order given.
    """
    from IPython.display import Code, display

    if not objects:
        raise TypeError("show_source needs at least one function or class; got none")
    sources = []
    for obj in objects:  # every source is read before anything is shown
        try:
            sources.append(inspect.getsource(obj))
        except (TypeError, OSError) as error:
            raise ValueError(f"no Python source is available for {obj!r}: {error}") from None
    for source in sources:
        display(Code(source, language="python"))


def as_table(
    matrix,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    decimals: int = 3,
) -> pd.DataFrame:
    """A 1-D or 2-D tensor or array as a labelled table, rounded to ``decimals`` places."""
    if isinstance(matrix, torch.Tensor):
        values = matrix.detach().cpu().numpy()
    elif isinstance(matrix, np.ndarray):
        values = matrix
    else:
        raise TypeError(f"matrix must be a torch.Tensor or numpy.ndarray; got {type(matrix).__name__}")
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        raise ValueError(f"matrix must have 1 or 2 dimensions; got shape {values.shape}")
    n_rows, n_columns = values.shape
    for name, labels, expected in (
        ("row_labels", row_labels, n_rows),
        ("column_labels", column_labels, n_columns),
    ):
        if labels is not None and len(labels) != expected:
            raise ValueError(f"{name} has {len(labels)} entries but the matrix has {expected}")
    # + 0.0 turns -0.0 into 0.0, so printed tables are stable across runs
    return pd.DataFrame(values.round(decimals) + 0.0, index=row_labels, columns=column_labels)
