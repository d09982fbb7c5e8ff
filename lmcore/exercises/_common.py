"""What every exercise check shares: the "not answered yet" and "correct" lines, a wrong answer
with its hint, and the reading of a student's answer in every natural form (Python numbers and
lists, NumPy arrays and scalars, torch tensors, 0-d ones included)."""

from __future__ import annotations

import math
import re

import numpy as np
import torch

NOT_ANSWERED = "Not answered yet"


def unanswered(**answers) -> bool:
    """Print the "not answered" line and return True when any answer is still None."""
    missing = [name for name, value in answers.items() if value is None]
    if not missing:
        return False
    names = " and ".join(f"`{name}`" for name in missing)
    answers = "your answer" if len(missing) == 1 else "your answers"
    print(f"{NOT_ANSWERED}: set {names} (still None) to {answers}, then run this cell again to check it.")
    return True


def passed(message: str) -> None:
    print(f"Correct: {message}")


def require(condition: bool, message: str, hint: str) -> None:
    """Raise the AssertionError of a wrong answer: what is wrong, then a hint (its parts joined
    with "; " become sentences)."""
    if not condition:
        hint = re.sub(r"(^|; )([a-z])", lambda m: (". " if m.group(1) else "") + m.group(2).upper(), hint)
        raise AssertionError(f"Not quite: {message}\nHint: {hint}")


def as_number(name: str, value) -> float:
    if isinstance(value, torch.Tensor | np.ndarray):
        size = value.numel() if isinstance(value, torch.Tensor) else value.size
        if size != 1:
            raise TypeError(
                f"your answer `{name}` must be a single number; got an array of shape {tuple(value.shape)}"
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"your answer `{name}` must be a number; got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"your answer `{name}` must be a finite number; got {value}")
    return value


def as_integer(name: str, value) -> int:
    number = as_number(name, value)
    if number != int(number):
        raise TypeError(f"your answer `{name}` must be a whole number; got {number}")
    return int(number)


def as_boolean(name: str, value) -> bool:
    """True or False, as a Python, NumPy or 0-d torch boolean (or 0 / 1)."""
    if isinstance(value, torch.Tensor | np.ndarray):
        size = value.numel() if isinstance(value, torch.Tensor) else value.size
        if size == 1:
            value = value.item()
    if isinstance(value, bool | np.bool_) or (isinstance(value, int | np.integer) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"your answer `{name}` must be True or False; got {value!r}")


def within(answer: float, expected: float, decimals: int) -> bool:
    """As precise as a value printed with ``decimals`` decimals: within one unit of the last digit."""
    return abs(answer - expected) <= 10.0**-decimals * (1 + 1e-9)


def as_tensor(name: str, value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().double()
    try:
        return torch.as_tensor(np.asarray(value, dtype=float), dtype=torch.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"your answer `{name}` must be a tensor (or an array); got {type(value).__name__}"
        ) from None


def tensors_close(a: torch.Tensor, b: torch.Tensor, tolerance: float) -> bool:
    """Same shape, and no entry further apart than ``tolerance``."""
    if a.shape != b.shape:
        return False
    return a.numel() == 0 or bool((a - b).abs().max() <= tolerance)


def require_shape(name: str, answer: torch.Tensor, shape: tuple, hint: str) -> None:
    require(
        tuple(answer.shape) == tuple(shape),
        f"`{name}` should have shape {tuple(shape)}, got {tuple(answer.shape)}.",
        hint,
    )


def reference_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    weights = torch.softmax(query @ key.transpose(-2, -1) / math.sqrt(key.shape[-1]), dim=-1)
    return weights @ value, weights


def as_indices(name: str, values) -> list[int]:
    if isinstance(values, torch.Tensor | np.ndarray):
        values = values.tolist()
    if isinstance(values, int | np.integer):
        values = [values]
    try:
        return sorted({as_integer(name, v) for v in values})
    except TypeError:
        raise TypeError(
            f"your answer `{name}` must be a list of whole numbers (indices); got {values!r}"
        ) from None


def rounded(tensor: torch.Tensor, decimals: int) -> list:
    return np.round(tensor.numpy(), decimals).tolist()
