"""Small helpers that show things in a notebook: lmcore's own source, matrices as tables, and
computed numbers for the prose (:func:`glue`)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

__all__ = ["show_source", "as_table", "glue"]


def show_source(obj):
    """Display the source code of an lmcore function or class, syntax-highlighted.

    The chapters call this instead of copying code, so what the reader reads is what runs.
    """
    from IPython.display import Code

    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as error:
        raise ValueError(f"no Python source is available for {obj!r}: {error}") from None
    return Code(source, language="python")


def glue(name: str, value):
    """Keep a computed ``value`` under ``name`` for the chapter's prose, and return it.

    The book's text cites it as ``{glue:text}`name:.3f``` (MyST-NB), so a number in a sentence
    is the number the cell computed, never one typed by hand. Outside the book's tools (no
    ``myst_nb`` installed) nothing is stored and the value is simply returned.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python-identifier-like string; got {name!r}")
    try:
        from myst_nb import glue as store
    except ImportError:
        return value
    store(name, value.item() if isinstance(value, np.generic) else value, display=False)
    return value


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
