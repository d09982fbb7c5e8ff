"""What a model costs: parameters, the memory a training step needs, and its time.

Two kinds of tools live here. Measurements of a real model (:func:`count_parameters`,
:func:`saved_activation_bytes`, :func:`seconds_per_training_step`), and a **calculator** for
models too large to build (:class:`TransformerShape`, :func:`transformer_parameters`,
:func:`flops_per_token`, :func:`training_state_bytes`), checked against the measurements on
the models this book does build (chapter 7).

Training memory has four parts: the weights, their gradients, the optimizer's state (AdamW
keeps two numbers per weight) and the **activations** saved during the forward pass for the
backward pass. The first three follow from the parameter count; the last depends on batch size
and sequence length, and :func:`saved_activation_bytes` measures it exactly by counting every
tensor autograd saves.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .runtime import autocast, move_to, synchronize

__all__ = [
    "KNOWN_SHAPES",
    "TransformerShape",
    "count_parameters",
    "attention_flops_per_token",
    "flops_per_token",
    "saved_activation_bytes",
    "seconds_per_training_step",
    "training_memory_bytes",
    "training_state_bytes",
    "transformer_parameters",
]


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


def seconds_per_training_step(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, object], torch.Tensor],
    batch,
    *,
    repeats: int = 3,
    autocast_dtype: torch.dtype | None = None,
) -> float:
    """Median wall time of ``repeats`` training steps (forward, backward, SGD update) on ``batch``.

    One untimed step runs first (memory allocation, kernel choice). The update is plain SGD with a
    tiny learning rate, so the model barely changes; AdamW would add a few percent. The model is
    put in training mode, so dropout is on if the model has any.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters: nothing to time")
    optimizer = torch.optim.SGD(parameters, lr=1e-9)
    device = parameters[0].device
    batch = move_to(batch, device)  # timed where the model is: a GPU run is timed on the GPU
    was_training = model.training
    model.train()
    times = []
    for attempt in range(repeats + 1):
        start = time.perf_counter()
        with autocast(device, autocast_dtype):
            loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize(device)
        if attempt > 0:
            times.append(time.perf_counter() - start)
    optimizer.zero_grad(set_to_none=True)
    model.train(was_training)
    return statistics.median(times)


@dataclass(frozen=True)
class TransformerShape:
    """The sizes that fix a Transformer's parameter count and cost.

    ``kind``: ``"bert"`` (learned positions, 2 segment embeddings, embedding LayerNorm and a
    pooler, post-LN) or ``"gpt"`` (learned positions, pre-LN, a final LayerNorm, output layer
    tied to the token embedding). ``d_ff`` defaults to ``4 * d_model``.
    """

    name: str
    kind: str
    layers: int
    d_model: int
    heads: int
    vocab: int
    context: int
    d_ff: int | None = None

    def __post_init__(self):
        if self.kind not in ("bert", "gpt"):
            raise ValueError(f"kind must be 'bert' or 'gpt'; got {self.kind!r}")
        for name in ("layers", "d_model", "heads", "vocab", "context"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)!r}")
        if self.d_ff is not None and (not isinstance(self.d_ff, int) or self.d_ff < 1):
            raise ValueError(f"d_ff must be a positive integer or None; got {self.d_ff!r}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")

    @property
    def ff(self) -> int:
        return self.d_ff or 4 * self.d_model


KNOWN_SHAPES = {
    shape.name: shape
    for shape in [
        TransformerShape("all-MiniLM-L6-v2", "bert", 6, 384, 12, 30522, 512, 1536),
        TransformerShape("BERT-base", "bert", 12, 768, 12, 30522, 512),
        TransformerShape("BERT-large", "bert", 24, 1024, 16, 30522, 512),
        TransformerShape("GPT-2 small", "gpt", 12, 768, 12, 50257, 1024),
        TransformerShape("GPT-2 XL", "gpt", 48, 1600, 25, 50257, 1024),
        TransformerShape("GPT-3 175B", "gpt", 96, 12288, 96, 50257, 2048),
    ]
}
"""Published shapes: Devlin et al. (2019), Radford et al. (2019), Brown et al. (2020), Wang et al. (2020)."""


def transformer_parameters(shape: TransformerShape) -> dict:
    """Parameters by part: ``embeddings``, ``attention``, ``feed-forward``, ``norms and pooler``, ``total``."""
    if not isinstance(shape, TransformerShape):
        raise TypeError(f"shape must be a TransformerShape; got {type(shape).__name__}")
    d, ff, n = shape.d_model, shape.ff, shape.layers
    embeddings = (shape.vocab + shape.context) * d
    attention = n * (4 * d * d + 4 * d)  # Q, K, V and output projections with biases
    feed_forward = n * (2 * d * ff + ff + d)
    norms = n * 2 * 2 * d  # two LayerNorms per layer, each a scale and a shift
    if shape.kind == "bert":
        embeddings += 2 * d  # segment embeddings
        norms += 2 * d + d * d + d  # embedding LayerNorm, pooler
    else:
        norms += 2 * d  # final LayerNorm; the output layer is the tied token embedding
    total = embeddings + attention + feed_forward + norms
    return {
        "embeddings": embeddings,
        "attention": attention,
        "feed-forward": feed_forward,
        "norms and pooler": norms,
        "total": total,
    }


def attention_flops_per_token(shape: TransformerShape, context: int | None = None) -> float:
    """Forward FLOPs one token spends attending over ``context`` keys, in all layers.

    Two products, each a multiply and an add per element: the scores ``q . k`` over the keys
    (``2 * context * d_model`` per layer) and the weighted sum of the values (as many again).
    Kaplan et al. (2020, Table 1) count only the scores; Hoffmann et al. (2022, Appendix F) count
    both, as here.
    """
    context = shape.context if context is None else context
    if not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be a positive number of tokens; got {context!r}")
    return 2 * (2 * shape.layers * context * shape.d_model)  # scores, then the weighted sum


def flops_per_token(shape: TransformerShape, context: int | None = None, training: bool = False) -> float:
    """Floating-point operations to process one token (after Kaplan et al., 2020, Table 1).

    Forward: 2 per weight of the layers' matrices (a multiply and an add), the output layer over
    the vocabulary for GPT, plus :func:`attention_flops_per_token` (the scores and the weighted
    sum over ``context`` keys in every layer). Training (forward and backward) is about three
    times the forward pass.
    """
    attention = attention_flops_per_token(shape, context)
    parts = transformer_parameters(shape)
    matrix_weights = parts["attention"] + parts["feed-forward"]
    if shape.kind == "gpt":
        matrix_weights += shape.vocab * shape.d_model  # logits over the vocabulary
    forward = 2 * matrix_weights + attention
    return 3 * forward if training else forward


def training_state_bytes(parameters: int, mixed_precision: bool = False) -> dict:
    """Memory for the weights, gradients and AdamW state of ``parameters`` weights, activations aside.

    float32: 4 + 4 + 8 = 16 bytes per weight. Mixed precision (Rajbhandari et al., 2020): 16-bit
    weights and gradients (2 + 2) plus a float32 master copy and AdamW's two float32 moments
    (4 + 8): also 16 bytes per weight, the reason mixed precision saves time, not state memory.
    """
    if not isinstance(parameters, int) or parameters < 0:
        raise ValueError(f"parameters must be a non-negative integer; got {parameters!r}")
    if mixed_precision:
        return {
            "weights": 2 * parameters + 4 * parameters,
            "gradients": 2 * parameters,
            "optimizer state (AdamW)": 8 * parameters,
        }
    return {"weights": 4 * parameters, "gradients": 4 * parameters, "optimizer state (AdamW)": 8 * parameters}
