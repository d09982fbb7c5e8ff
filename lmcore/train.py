"""One readable training loop for every chapter.

:func:`fit` is the loop the chapters share: AdamW, a learning rate that warms up and then
decays linearly to zero, gradient clipping, an optional evaluation after every epoch, a
``tqdm`` progress bar, and a :class:`History` the notebooks plot. The model-specific part, how a
batch becomes a loss, is a function the caller passes in.

**Several GPUs or machines.** Started under ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``
and friends), :func:`fit` joins the process group, wraps the model in PyTorch's
``DistributedDataParallel`` and gives each process its slice of every batch; DDP averages the
gradients, so ``N`` processes take exactly the steps one process would take on the whole
batches. Under DDP, ``loss_fn`` receives the wrapped model: call it, do not reach into its
submodules (their gradients would not be synchronised).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from ._checks import expect_number, expect_positive_int
from .runtime import autocast, evaluating, move_to, pick_device, set_dropout, synchronize

# pick_device, move_to, synchronize, autocast, evaluating and set_dropout live in lmcore.runtime;
# they stay importable from here for code written against this module
__all__ = [
    "pick_device",
    "move_to",
    "synchronize",
    "autocast",
    "evaluating",
    "set_dropout",
    "parameter_groups",
    "warmup_then_decay",
    "History",
    "fit",
    "init_distributed",
    "shard_batch",
]


def init_distributed(device: torch.device) -> tuple[int, int]:
    """``(rank, world_size)``; joins the process group when launched by ``torchrun``.

    Outside ``torchrun`` this is ``(0, 1)`` and nothing happens.
    """
    import os

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend)
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), dist.get_world_size()


def shard_batch(batch, rank: int, world_size: int):
    """This process's slice of a batch: every tensor is cut into ``world_size`` equal parts
    along its first (batch) dimension, and part ``rank`` is kept."""
    if isinstance(batch, torch.Tensor):
        if batch.shape[0] % world_size:
            raise ValueError(
                f"a batch of {batch.shape[0]} examples cannot be split evenly over {world_size} processes; "
                "use a batch size divisible by the number of processes"
            )
        return batch.chunk(world_size)[rank]
    if isinstance(batch, dict):
        return {key: shard_batch(value, rank, world_size) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(shard_batch(value, rank, world_size) for value in batch)
    return batch


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay for weight matrices only; biases, LayerNorm and embeddings' norms are not
    shrunk toward zero (decaying them only hurts)."""
    expect_number("weight_decay", weight_decay, minimum=0.0)
    decay, no_decay = [], []
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        (decay if parameter.dim() >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_then_decay(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Learning rate rising linearly for ``warmup_steps``, then falling linearly to 0.

    Warm-up keeps the first, noisy updates of Adam small; the decay lets training settle.
    """
    expect_positive_int("total_steps", total_steps)
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}]; got {warmup_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class History:
    """What happened during :func:`fit`: one row per logged step and one per evaluation."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def metric(self, name: str) -> list[float]:
        """One evaluation metric across epochs, e.g. ``history.metric("accuracy")``."""
        if not self.evaluations or name not in self.evaluations[0]:
            known = sorted(self.evaluations[0]) if self.evaluations else []
            raise ValueError(f"no evaluation metric {name!r}; the evaluations have {known}")
        return [row[name] for row in self.evaluations]


def _expect_scalar_loss(loss) -> None:
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            f"loss_fn must return the batch's loss as a torch tensor (to call backward() on); got {type(loss).__name__}"
        )
    if loss.numel() != 1 or not loss.is_floating_point():
        raise ValueError(
            f"loss_fn must return one floating-point number (a scalar tensor: reduce with .mean()); "
            f"got shape {tuple(loss.shape)}, dtype {loss.dtype}"
        )


def fit(
    model: nn.Module,
    train_batches: Iterable,
    loss_fn: Callable[[nn.Module, object], torch.Tensor],
    *,
    epochs: int = 1,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    warmup_fraction: float = 0.1,
    max_grad_norm: float | None = 1.0,
    evaluate: Callable[[nn.Module], dict] | None = None,
    eval_every: int | None = None,
    device: torch.device | str | None = None,
    log_every: int = 10,
    progress: bool = True,
    autocast_dtype: torch.dtype | None = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_batches``.

    Args:
        train_batches: re-iterable batches (a ``DataLoader`` or a list); each batch goes to
            ``loss_fn(model, batch)`` after being moved to the device.
        loss_fn: returns the scalar loss of one batch.
        evaluate: called after each epoch (or every ``eval_every`` steps, and at the end) with
            the model in eval mode; returns a dict of metrics (for example
            ``{"accuracy": 0.97}``), stored in ``History.evaluations``.
        warmup_fraction: share of all steps spent warming the learning rate up.
        max_grad_norm: clip the gradients' global norm to this (``None``: no clipping).
        autocast_dtype: run the forward pass in this lower precision (``torch.bfloat16``: about
            twice as fast on CPUs and GPUs with bf16 units); weights and optimizer stay float32.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    expect_positive_int("epochs", epochs)
    expect_positive_int("log_every", log_every)
    expect_number("lr", lr, above=0.0)
    expect_number("weight_decay", weight_decay, minimum=0.0)
    if max_grad_norm is not None:  # a negative norm would turn clipping into gradient ascent
        expect_number("max_grad_norm", max_grad_norm, above=0.0)
    try:
        steps_per_epoch = len(train_batches)
    except TypeError:
        raise ValueError("train_batches must have a length (a DataLoader or a list of batches)") from None
    if steps_per_epoch == 0:
        raise ValueError("train_batches is empty: there is nothing to train on")
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction must be in [0, 1); got {warmup_fraction}")

    device = pick_device(device) if not isinstance(device, torch.device) else device
    model.to(device)
    rank, world_size = init_distributed(device)
    training_model = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        # DDP broadcasts rank 0's weights at start and averages gradients in backward().
        training_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    progress = progress and rank == 0
    # fused: one kernel updates every parameter, about 4 times faster than PyTorch's default loop
    # over them for MiniLM's 23 million on a 2-core CPU (bench/optimizer_step.py); other devices,
    # such as Apple's MPS, keep the default
    fused = True if device.type in ("cpu", "cuda") else None
    optimizer = torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr, fused=fused)
    total_steps = epochs * steps_per_epoch
    scheduler = warmup_then_decay(optimizer, math.ceil(warmup_fraction * total_steps), total_steps)
    if eval_every is not None:
        expect_positive_int("eval_every", eval_every)
    history = History()

    def run_evaluation(epoch: int) -> None:
        with evaluating(model):
            metrics = dict(evaluate(model))
        history.evaluations.append({"epoch": epoch, "step": step, **metrics})

    start = time.perf_counter()
    bar = tqdm(total=total_steps, disable=not progress, mininterval=2.0, unit="step", ncols=90)
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in train_batches:
            if world_size > 1:
                batch = shard_batch(batch, rank, world_size)
            with autocast(device, autocast_dtype):
                loss = loss_fn(training_model, move_to(batch, device))
            if step == 0:  # what loss_fn returns is checked once, on the first batch
                _expect_scalar_loss(loss)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % log_every == 0 or step == total_steps:
                if world_size > 1:  # log the loss of the whole batch, not of this process's slice
                    import torch.distributed as dist

                    loss = loss.detach().clone()
                    dist.all_reduce(loss)
                    loss /= world_size
                history.step.append(step)
                history.loss.append(loss.item())
                history.learning_rate.append(scheduler.get_last_lr()[0])
                bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}", refresh=False)
            bar.update(1)
            if (
                evaluate is not None
                and eval_every is not None
                and (step % eval_every == 0 or step == total_steps)
            ):
                run_evaluation(epoch)
        if evaluate is not None and eval_every is None:
            run_evaluation(epoch)
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start
    return history
