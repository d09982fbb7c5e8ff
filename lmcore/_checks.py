"""Input checks shared by lmcore's public functions.

Each check raises ``TypeError`` when a value has the wrong type (or a tensor the wrong dtype)
and ``ValueError`` when it has the wrong value (shape, range), with a message that names the
argument, says what was expected and what came, so a reader who passes the wrong thing learns
what to fix.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

import torch


def expect_tensor(name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    return value


def expect_floating(name: str, tensor: torch.Tensor) -> None:
    expect_tensor(name, tensor)
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {tensor.dtype}")


def expect_integer_tensor(name: str, tensor: torch.Tensor, layout: str = "(batch, seq) of token ids") -> None:
    """A 2-D tensor of integer ids, such as ``input_ids``."""
    expect_tensor(name, tensor)
    if tensor.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must hold integer token ids (int64 or int32); got dtype {tensor.dtype}")
    expect_rank(name, tensor, (2,), layout)
    if tensor.shape[1] == 0:
        raise ValueError(f"{name} is an empty sequence; got shape {tuple(tensor.shape)}")


def expect_ids_below(name: str, ids: torch.Tensor, limit: int) -> None:
    if ids.min() < 0 or ids.max() >= limit:
        raise ValueError(f"{name} must lie in [0, {limit}); got values from {int(ids.min())} to {int(ids.max())}")


def expect_zeros_and_ones(name: str, mask: torch.Tensor) -> None:
    """A padding mask: bools, or integers that are all 0 (padding) or 1 (real token)."""
    expect_tensor(name, mask)
    if mask.is_floating_point() or mask.is_complex():
        raise ValueError(f"{name} must hold 0/1 integers or bools; got dtype {mask.dtype}")
    if mask.dtype != torch.bool and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"{name} must contain only 0 (padding) and 1 (real token); got values {mask.unique().tolist()}")


def expect_rank(name: str, tensor: torch.Tensor, ranks: tuple[int, ...], layout: str) -> None:
    expect_tensor(name, tensor)
    if tensor.dim() not in ranks:
        allowed = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{name} must have {allowed} dimensions {layout}; "
            f"got {tensor.dim()} dimensions with shape {tuple(tensor.shape)}"
        )


def expect_size(name: str, tensor: torch.Tensor, dim: int, size: int, what: str) -> None:
    if tensor.shape[dim] != size:
        raise ValueError(
            f"{name} dimension {dim} ({what}) must be {size}; "
            f"got {tensor.shape[dim]} in shape {tuple(tensor.shape)}"
        )


def expect_int(name: str, value, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int of at least {minimum}; got {value!r}")
    return value


def expect_positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be a positive int; got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


def expect_number(name: str, value, *, minimum: float = -math.inf, above: float | None = None) -> float:
    """A finite real number, at least ``minimum`` (or, with ``above``, strictly greater)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number; got {value!r}")
    if not math.isfinite(value) or value < minimum or (above is not None and value <= above):
        bound = f"greater than {above:g}" if above is not None else f"at least {minimum:g}"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return float(value)


def expect_probability(name: str, value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number in [0, 1); got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")
    return float(value)


def expect_texts(name: str, texts) -> list[str]:
    """A non-empty list (or other sequence) of strings; a single string is refused, since
    iterating over it would treat every character as a text."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a list of strings; got {type(texts).__name__}"
                        + (" (wrap a single text in a list: [text])" if isinstance(texts, str) else ""))
    if len(texts) == 0:
        raise ValueError(f"{name} is empty: expected at least one text")
    wrong = next((t for t in texts if not isinstance(t, str)), None)
    if wrong is not None:
        raise TypeError(f"{name} must hold strings; got an item of type {type(wrong).__name__}")
    return list(texts)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks, as lowercase hex: how every file lmcore reads
    back (checkpoints, finished runs) is verified."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
