"""Where and how a model computes: the device, moving batches there, waiting for it, mixed
precision, evaluation mode and dropout. The models, the training loop and the applications all
use these; nothing here knows a model or the training loop, so a model never imports ``fit``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ._checks import expect_probability

__all__ = ["pick_device", "move_to", "synchronize", "autocast", "evaluating", "set_dropout"]


def pick_device(preferred: str | None = None) -> torch.device:
    """``preferred`` if given, else the best available: CUDA, then Apple's MPS, then the CPU."""
    if preferred is not None:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def synchronize(device: torch.device | str) -> None:
    """Wait until ``device`` has finished its queued work: GPUs run asynchronously, so a clock
    read without this measures only how fast the work was queued."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def move_to(batch, device: torch.device):
    """Move a tensor, or the tensors inside a tuple, list or dict, to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: move_to(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(value, device) for value in batch)
    return batch


def autocast(device: torch.device | str, dtype: torch.dtype | None):
    """Run the forward pass in ``dtype`` (``torch.bfloat16``, ``torch.float16``) on ``device``'s
    type; ``dtype=None`` means plain float32. Measure before using it: on a CPU without AMX, bf16
    can be slower than float32 (chapter 5)."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``with evaluating(model):`` eval mode (no dropout) and no gradients inside; the model's
    previous mode comes back afterwards, even when the block raises."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def set_dropout(model: nn.Module, probability: float) -> nn.Module:
    """Set every dropout rate in ``model`` (hidden, attention, classifier) to ``probability``.

    Fine-tuning on thousands of examples for an epoch or two needs little regularisation, and on
    a CPU dropout is expensive: drawing the random masks costs a large share of a MiniLM training
    step (chapter 5 measures it). ``set_dropout(model, 0.0)`` trades that regularisation for speed.
    Besides ``nn.Dropout`` modules it sets every module's ``dropout`` attribute that holds a rate
    (lmcore's attention layers apply theirs inside the attention function).
    """
    probability = expect_probability("probability", probability)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = probability
        elif isinstance(getattr(module, "dropout", None), float):
            module.dropout = probability  # a rate kept as a number: lmcore's attention layers
    return model
