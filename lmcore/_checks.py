"""Input checks shared by lmcore's public functions.

Each check raises ``TypeError`` when a value has the wrong type (or a tensor the wrong dtype)
and ``ValueError`` when it has the wrong value (shape, range), with a message that names the
argument, says what was expected and what came, so a reader who passes the wrong thing learns
what to fix.

The models' public functions start with one bundled check (``expect_attention_inputs``,
``expect_token_ids``, ...) so that the source the book prints shows the math, not the guards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
    """Every id in ``[0, limit)``. Checked where the values are free to read, on the CPU: on an
    accelerator, reading them would make the host wait for the device at every call."""
    if ids.device.type != "cpu" or ids.numel() == 0:
        return
    if ids.min() < 0 or ids.max() >= limit:
        raise ValueError(
            f"{name} must lie in [0, {limit}); got values from {int(ids.min())} to {int(ids.max())}"
        )


def expect_zeros_and_ones(name: str, mask: torch.Tensor) -> None:
    """A padding mask: bools, or integers that are all 0 (padding) or 1 (real token)."""
    expect_tensor(name, mask)
    if mask.is_floating_point() or mask.is_complex():
        raise TypeError(f"{name} must hold 0/1 integers or bools; got dtype {mask.dtype}")
    on_cpu = mask.device.type == "cpu"  # (values are read on the CPU only, as in expect_ids_below)
    if mask.dtype != torch.bool and on_cpu and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(
            f"{name} must contain only 0 (padding) and 1 (real token); got values {mask.unique().tolist()}"
        )


def expect_rank(name: str, tensor: torch.Tensor, ranks: tuple[int, ...], layout: str) -> None:
    expect_tensor(name, tensor)
    if tensor.dim() not in ranks:
        allowed = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{name} must have {allowed} dimensions {layout}; "
            f"got {tensor.dim()} dimensions with shape {tuple(tensor.shape)}"
        )


def expect_token_ids(name: str, ids, vocab_size: int, layout: str = "(batch, seq) of token ids") -> None:
    """A non-empty 2-D tensor of integer ids, each in ``[0, vocab_size)``: what an embedding table
    can look up (an id past the table would fail deep inside ``nn.Embedding``, or on a GPU not at all)."""
    expect_integer_tensor(name, ids, layout)
    expect_ids_below(name, ids, vocab_size)


def expect_length_at_most(name: str, tensor: torch.Tensor, limit: int, limit_name: str) -> None:
    """A batch ``(batch, seq, ...)`` no longer than the model's position table, ``limit_name=limit``."""
    if tensor.shape[1] > limit:
        raise ValueError(
            f"{name} has length {tensor.shape[1]}, longer than the model allows ({limit_name}={limit}); "
            f"truncate it or build the model with a larger {limit_name}"
        )


def expect_sequence(name: str, ids, min_length: int = 1, reason: str = "") -> None:
    """One 1-D sequence of ids, at least ``min_length`` long (``reason`` says why, if not obvious)."""
    expect_tensor(name, ids)
    if ids.dim() != 1 or len(ids) < min_length:
        length = "non-empty" if min_length == 1 else f"at least {min_length} long"
        why = f" ({reason})" if reason else ""
        raise ValueError(
            f"{name} must be a 1-D tensor of token ids, {length}{why}; got shape {tuple(ids.shape)}"
        )


def expect_same_batch(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Two batch-first tensors that hold the same number of examples."""
    expect_tensor(name_a, a)
    expect_tensor(name_b, b)
    if a.dim() and b.dim() and a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same batch size; got {a.shape[0]} and {b.shape[0]} "
            f"(shapes {tuple(a.shape)} and {tuple(b.shape)})"
        )


_QKV_LAYOUT = "(seq, d), (batch, seq, d) or (batch, heads, seq, d)"


def expect_attention_inputs(query, key, value, mask=None) -> None:
    """What :func:`lmcore.scaled_dot_product_attention` needs: floating ``query (..., L, d_k)``,
    ``key (..., S, d_k)`` and ``value (..., S, d_v)`` of one dtype and the same leading dimensions,
    and, when given, a bool ``mask`` that broadcasts to the scores ``(..., L, S)``."""
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        expect_floating(name, tensor)
        expect_rank(name, tensor, (2, 3, 4), _QKV_LAYOUT)
    shapes = f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
    if not query.dim() == key.dim() == value.dim():
        raise ValueError(f"query, key and value must have the same number of dimensions; got shapes {shapes}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(
            f"query, key and value must share one dtype; got {query.dtype}, {key.dtype}, {value.dtype}"
        )
    if not query.shape[:-2] == key.shape[:-2] == value.shape[:-2]:
        raise ValueError(
            f"query, key and value must agree on their leading (batch, heads) dimensions; got shapes {shapes}"
        )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must have the same last dimension d_k (a dot product needs equal widths); "
            f"got query {tuple(query.shape)} and key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"key and value must have the same number of positions S (one value per key); "
            f"got key {tuple(key.shape)} and value {tuple(value.shape)}"
        )
    if query.shape[-2] == 0 or key.shape[-2] == 0:
        raise ValueError(
            f"attention needs at least one query and one key; got an empty sequence: "
            f"query {tuple(query.shape)}, key {tuple(key.shape)}"
        )
    if query.shape[-1] == 0:
        raise ValueError(f"d_k must be at least 1; got query {tuple(query.shape)}")
    if mask is not None:
        _expect_attention_mask(mask, query.shape[:-1] + key.shape[-2:-1])  # scores: (..., L, S)


def _expect_attention_mask(mask, scores_shape: torch.Size) -> None:
    expect_tensor("mask", mask)
    if mask.dtype != torch.bool:
        raise TypeError(
            f"mask must be a bool tensor (True = may attend); got dtype {mask.dtype}. "
            "An additive float mask m converts with (m == 0)."
        )
    try:
        broadcast = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        broadcast = None
    if mask.dim() > len(scores_shape) or broadcast != scores_shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores' shape "
            f"{tuple(scores_shape)} (..., queries L, keys S)"
        )


def expect_padding_mask(name: str, mask) -> None:
    """A ``(batch, seq)`` mask of real tokens (1 or True) and padding (0 or False)."""
    expect_rank(name, mask, (2,), "(batch, seq)")
    expect_zeros_and_ones(name, mask)


def expect_head_split(d_model, num_heads) -> None:
    """``d_model`` cuts into ``num_heads`` equal slices, one per head."""
    expect_positive_ints(d_model=d_model, num_heads=num_heads)
    if d_model % num_heads:
        raise ValueError(
            f"d_model must be divisible by num_heads; got d_model={d_model}, num_heads={num_heads}"
        )


def expect_multihead_inputs(query, key, value, d_model: int, num_heads: int, mask=None) -> None:
    """What :class:`lmcore.MultiHeadAttention` needs: floating ``(batch, seq, d_model)`` inputs,
    one batch size, as many values as keys, and a bool ``mask`` that broadcasts to the scores
    ``(batch, heads, L, S)``, when given."""
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        _expect_width(name, tensor, d_model, "(batch, seq, d_model)")
    if not query.shape[0] == key.shape[0] == value.shape[0]:
        raise ValueError(
            f"query, key and value must have the same batch size; got shapes "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if key.shape[1] != value.shape[1]:
        raise ValueError(
            f"key and value must have the same length; got {tuple(key.shape)} and {tuple(value.shape)}"
        )
    if query.shape[1] == 0 or key.shape[1] == 0:
        raise ValueError(
            f"attention needs at least one query and one key; got an empty sequence: "
            f"query {tuple(query.shape)}, key {tuple(key.shape)}"
        )
    if mask is not None:
        _expect_attention_mask(mask, torch.Size((query.shape[0], num_heads, query.shape[1], key.shape[1])))


def expect_decoder_inputs(target, memory, d_model: int) -> None:
    """What a decoder layer needs: floating ``target (batch, T, d_model)`` and encoder output
    ``memory (batch, S, d_model)`` with one batch size."""
    _expect_width("target", target, d_model, "(batch, T, d_model)")
    _expect_width("memory", memory, d_model, "(batch, S, d_model)")
    expect_same_batch("target", target, "memory", memory)


def _expect_width(name: str, tensor, d_model: int, layout: str) -> None:
    expect_floating(name, tensor)
    expect_rank(name, tensor, (3,), layout)
    if tensor.shape[-1] != d_model:
        raise ValueError(
            f"{name} must have last dimension d_model={d_model}; got shape {tuple(tensor.shape)}"
        )


def expect_copy_pair(ours, theirs, ours_type: type, theirs_type: type) -> None:
    """The ``(ours, theirs)`` of a ``copy_from_torch_*`` function: an lmcore module and its PyTorch twin."""
    if not isinstance(ours, ours_type) or not isinstance(theirs, theirs_type):
        raise TypeError(
            f"expected (ours, theirs) = ({_type_label(ours_type)}, {_type_label(theirs_type)}); "
            f"got ({type(ours).__name__}, {type(theirs).__name__})"
        )


def _type_label(kind: type) -> str:
    if kind.__module__.startswith("lmcore"):
        return f"lmcore {kind.__name__}"
    if kind.__module__.startswith("torch.nn"):
        return f"torch.nn.{kind.__name__}"
    return f"{kind.__module__}.{kind.__qualname__}"


def expect_same_multihead_layout(ours, theirs) -> None:
    """Our ``MultiHeadAttention`` and an ``nn.MultiheadAttention`` whose weights can be copied into it."""
    if theirs.in_proj_weight is None:
        raise ValueError("theirs: nn.MultiheadAttention with separate kdim/vdim is not supported")
    if (theirs.embed_dim, theirs.num_heads) != (ours.d_model, ours.num_heads):
        raise ValueError(
            f"sizes differ: ours d_model={ours.d_model}, heads={ours.num_heads}; "
            f"theirs embed_dim={theirs.embed_dim}, heads={theirs.num_heads}"
        )
    ours_bias, theirs_bias = ours.q_proj.bias is not None, theirs.in_proj_bias is not None
    if ours_bias != theirs_bias:
        raise ValueError(f"bias differs: ours {ours_bias}, theirs {theirs_bias}")


def expect_positive_ints(**values) -> None:
    """Several sizes at once: ``expect_positive_ints(d_model=d_model, num_heads=num_heads)``."""
    for name, value in values.items():
        expect_positive_int(name, value)


def expect_even(name: str, value, reason: str) -> int:
    """A positive even int; ``reason`` says why it must be even."""
    expect_positive_int(name, value)
    if value % 2:
        raise ValueError(f"{reason}, so {name} must be even; got {value}")
    return value


def expect_one_of(name: str, value, choices) -> str:
    """One of a few named options, such as an activation's name."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(choices)}; got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")
    return value


def expect_text(name: str, text) -> str:
    """One non-empty string."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a string; got {type(text).__name__}")
    if not text:
        raise ValueError(f"{name} must be a non-empty string; got ''")
    return text


def expect_int(name: str, value, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int of at least {minimum}; got {value!r}")
    return value


def expect_id(name: str, value, limit: int, limit_name: str) -> int:
    """One token id, an int in ``[0, limit)``: ``limit_name`` says whose ids they are."""
    expect_int(name, value, minimum=0)
    if value >= limit:
        raise ValueError(f"{name} must be an id below {limit_name}={limit}; got {value}")
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
        raise TypeError(
            f"{name} must be a list of strings; got {type(texts).__name__}"
            + (" (wrap a single text in a list: [text])" if isinstance(texts, str) else "")
        )
    if len(texts) == 0:
        raise ValueError(f"{name} is empty: expected at least one text")
    wrong = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if wrong is not None:  # (an index: the item itself may be None)
        raise TypeError(
            f"{name} must hold strings; got an item of type {type(texts[wrong]).__name__} at position {wrong}"
        )
    return list(texts)


def expect_bert_inputs(input_ids, attention_mask, token_type_ids, config) -> None:
    """What :class:`lmcore.bert.BertModel` needs: ``(batch, seq)`` token ids below the vocabulary
    size and no longer than the position table; a 0/1 ``attention_mask`` and segment ids of the
    same shape, when given."""
    expect_token_ids("input_ids", input_ids, config.vocab_size)
    expect_length_at_most("input_ids", input_ids, config.max_position_embeddings, "max_position_embeddings")
    for name, other in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
        if other is not None and tuple(expect_tensor(name, other).shape) != tuple(input_ids.shape):
            raise ValueError(
                f"{name} must have the shape of input_ids {tuple(input_ids.shape)}; got {tuple(other.shape)}"
            )
    if attention_mask is not None:
        expect_zeros_and_ones("attention_mask", attention_mask)
    if token_type_ids is not None:
        expect_token_ids(
            "token_type_ids", token_type_ids, config.type_vocab_size, "(batch, seq) of segment ids"
        )
