"""What a model costs: parameters, and the memory a training step needs.

Training memory has four parts: the weights, their gradients, the optimizer's state (AdamW
keeps two numbers per weight) and the **activations** saved during the forward pass for the
backward pass. The first three follow from the parameter count; the last depends on batch size
and sequence length, and :func:`saved_activation_bytes` measures it exactly by counting every
tensor autograd saves.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["count_parameters", "saved_activation_bytes", "training_memory_bytes"]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared ones, such as tied embeddings, counted once)."""
    unique = {id(p): p for p in model.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in unique.values())


def saved_activation_bytes(forward: Callable[[], torch.Tensor]) -> int:
    """Bytes of the tensors autograd saves while running ``forward()`` (which returns a loss).

    Tensors that are parameters themselves are not activations and are not counted; a tensor
    saved twice is counted once.
    """
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor):
        if not isinstance(tensor, nn.Parameter):
            storage = tensor.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = forward()
    del loss
    return sum(seen.values())


def training_memory_bytes(model: nn.Module, activation_bytes: int, bytes_per_value: int = 4) -> dict:
    """Weights, gradients and AdamW state of the trainable parameters, plus activations."""
    total = count_parameters(model)
    trainable = count_parameters(model, trainable_only=True)
    return {
        "weights": total * bytes_per_value,
        "gradients": trainable * bytes_per_value,
        "optimizer state (AdamW)": 2 * trainable * bytes_per_value,
        "activations": activation_bytes,
    }
