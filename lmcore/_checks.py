"""Input checks shared by lmcore's public functions.

Each check raises ``ValueError`` with a message that says what was expected and what came,
so a reader who passes the wrong thing learns what to fix.
"""

from __future__ import annotations

import torch


def expect_tensor(name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    return value


def expect_floating(name: str, tensor: torch.Tensor) -> None:
    expect_tensor(name, tensor)
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor; got dtype {tensor.dtype}")


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


def expect_positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


def expect_probability(name: str, value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")
    return float(value)
