"""The exercise checks of chapter 2 (the Transformer)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..attention import causal_mask
from ..train import evaluating
from ..transformer import EncoderLayer
from ._common import (
    as_indices,
    as_number,
    as_tensor,
    passed,
    require,
    require_shape,
    tensors_close,
    unanswered,
    within,
)


def check_pre_ln(your_pre_ln: Callable | None) -> None:
    """Chapter 2, exercise 1: ``your_pre_ln(layer, x)`` computes a pre-LN encoder layer's output
    from its parts; compared with the layer itself, with random LayerNorm gains and shifts."""
    if unanswered(your_pre_ln=your_pre_ln):
        return

    if not callable(your_pre_ln):
        raise TypeError(
            f"your answer `your_pre_ln` must be a function of (layer, x); got {type(your_pre_ln).__name__}"
        )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        layer = EncoderLayer(8, 2, 32, dropout=0.0, norm_first=True).double().eval()
        with torch.no_grad():
            for norm in (layer.norm1, layer.norm2):
                norm.weight.copy_(1 + 0.5 * torch.randn(8, dtype=torch.float64))
                norm.bias.copy_(0.5 * torch.randn(8, dtype=torch.float64))
        x = torch.randn(3, 6, 8, dtype=torch.float64)
    with torch.no_grad():
        expected = layer(x)[0]
        got = your_pre_ln(layer, x)
        x1 = layer.norm1(x + layer.self_attn(x)[0])
        post_ln = layer.norm2(x1 + layer.feed_forward(x1))
    if isinstance(got, tuple):
        raise TypeError("your answer `your_pre_ln` must return the layer's output tensor, not a tuple")
    got = as_tensor("your_pre_ln(layer, x)", got)
    hint = (
        "pre-LN normalises the *input* of each sub-layer and adds the sub-layer's output to the "
        "un-normalised residual: one formula for the attention sub-layer (norm1, self_attn), one "
        "for the feed-forward sub-layer (norm2, feed_forward). `layer.self_attn(z)` returns "
        "(output, weights)."
    )
    require_shape("your_pre_ln(layer, x)", got, expected.shape, hint)
    if tensors_close(got, post_ln, 1e-6):
        hint = "those are the post-LN formulas (LayerNorm after the residual sum); " + hint
    require(tensors_close(got, expected, 1e-6), "your function does not reproduce the pre-LN layer.", hint)
    passed("your formulas reproduce a pre-LN encoder layer: X' = X + MHA(LN1(X)), H = X' + FFN(LN2(X'))")


def check_encoder_without_positions(model, ids, your_reversed_output) -> None:
    """Chapter 2, exercise 2: ``model.encoder``'s output for the reversed sentence ``ids``,
    embedded as the model does (times sqrt(d_model)) but without positional encodings."""
    if unanswered(your_reversed_output=your_reversed_output):
        return

    with evaluating(model):
        embedded = model.source_embedding(ids) * math.sqrt(model.d_model)
        forward, _ = model.encoder(embedded)
        expected, _ = model.encoder(embedded.flip(1))
        with_positions, _ = model.encoder(model.embed(ids.flip(1), model.source_embedding))
    expected, forward = expected.double(), forward.double()
    answer = as_tensor("your_reversed_output", your_reversed_output)
    hint = (
        "embed the reversed ids (ids.flip(1)) with model.source_embedding, times "
        "math.sqrt(model.d_model), and run model.encoder on that directly, in eval mode "
        "(model.eval()). The encoder returns a pair: (output, weights)."
    )
    require_shape("your_reversed_output", answer, expected.shape, hint)
    if tensors_close(answer, forward, 1e-4) and not tensors_close(forward, expected, 1e-4):
        hint = "that is the output for the sentence in its own order; " + hint
    elif tensors_close(answer, expected.flip(1), 1e-4):
        hint = "you flipped the output back; give it as the encoder returns it; " + hint
    elif tensors_close(answer, with_positions.double(), 1e-4):
        hint = "leave out the positional encoding (model.embed adds it); " + hint
    require(
        tensors_close(answer, expected, 1e-4),
        "`your_reversed_output` is not the encoder's output for the reversed sentence.",
        hint,
    )
    gap = (expected.flip(1) - forward).abs().max().item()
    passed(
        "the encoder's output for the reversed sentence is its output for the sentence, reversed "
        f"(largest difference {gap:.1e}): without positional encodings, order is invisible"
    )


def check_pe_distance(encoding, distance: int, your_dot) -> None:
    """Chapter 2, exercise 3: PE_p . PE_(p + distance), the same for every p (4 decimals)."""
    if unanswered(your_dot=your_dot):
        return
    encoding = torch.as_tensor(encoding).double()
    dots = (encoding[:-distance] * encoding[distance:]).sum(-1)
    expected = dots[0].item()
    answer = as_number("your_dot", your_dot)
    hint = (
        "take the two encodings distance apart, e.g. rows p and p + distance of the table, multiply "
        "them element by element and sum; any p gives the same value."
    )
    neighbours = [(encoding[: -(distance + s)] * encoding[distance + s :]).sum(-1)[0].item() for s in (-1, 1)]
    if any(within(answer, value, 4) for value in neighbours):
        hint = f"off by one: that is the product at distance {distance - 1} or {distance + 1}; " + hint
    elif within(answer, (encoding[0] @ encoding[0]).item(), 4):
        hint = "that is PE_p . PE_p, distance 0; " + hint
    require(
        within(answer, expected, 4),
        f"{answer:.4f} is not PE_p . PE_(p+{distance}).",
        hint,
    )
    spread = (dots.max() - dots.min()).item()
    passed(
        f"PE_p . PE_(p+{distance}) = {expected:.4f} for every p from 0 to {len(dots) - 1} "
        f"(spread {spread:.1e}): it depends only on the distance"
    )


def check_unmasked_leak(layer, target, changed_target, memory, your_changed_positions) -> None:
    """Chapter 2, exercise 4: the target positions whose output changes, with no causal mask, when
    ``target`` becomes ``changed_target`` (the source mask cannot change which ones)."""
    if unanswered(your_changed_positions=your_changed_positions):
        return

    length = target.shape[1]
    with evaluating(layer):
        outputs = {
            name: (layer(target, memory, mask)[0], layer(changed_target, memory, mask)[0])
            for name, mask in (("unmasked", None), ("causal", causal_mask(length)))
        }

    def changed(before, after):
        return [t for t in range(length) if not torch.allclose(before[:, t], after[:, t])]

    expected, with_mask = changed(*outputs["unmasked"]), changed(*outputs["causal"])
    edited = [t for t in range(length) if not torch.equal(target[:, t], changed_target[:, t])]
    positions = as_indices("your_changed_positions", your_changed_positions)
    hint = (
        "run the layer on both targets with no causal mask (None) and compare the outputs position "
        "by position: a position changes when any of its numbers does."
    )
    if positions == with_mask:
        hint = "those are the positions that change *with* the causal mask; " + hint
    require(positions == expected, f"positions {positions} are not the ones that change.", hint)
    passed(
        f"without the mask, changing position(s) {edited} changes the outputs at positions {expected} "
        f"(with the mask only {with_mask}): the earlier positions now see the future"
    )
