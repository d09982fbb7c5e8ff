"""lmcore.attention against PyTorch's references, in float64, and its input checks."""

import pytest
import torch
import torch.nn.functional as F

import lmcore
from lmcore import MultiHeadAttention, causal_mask, padding_mask, scaled_dot_product_attention
from tests.reference import randomize_parameters


def random_qkv(shape, seed, d_v=None):
    generator = torch.Generator().manual_seed(seed)
    *lead, length, d_k = shape
    q = torch.randn(*lead, length, d_k, dtype=torch.float64, generator=generator)
    k = torch.randn(*lead, length + 2, d_k, dtype=torch.float64, generator=generator)
    v = torch.randn(*lead, length + 2, d_v or d_k, dtype=torch.float64, generator=generator)
    return q, k, v, generator


SHAPES = [(1, 1), (4, 3), (2, 5, 8), (3, 7, 16), (2, 4, 6, 8), (1, 12, 9, 32)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("need_weights", [True, False])
def test_matches_torch_without_mask(shape, need_weights):
    q, k, v, _ = random_qkv(shape, seed=len(shape) * 100 + shape[-1], d_v=5)
    out, weights = scaled_dot_product_attention(q, k, v, need_weights=need_weights)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    if need_weights:
        assert weights.shape == q.shape[:-1] + (k.shape[-2],)
        torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))
    else:
        assert weights is None


@pytest.mark.parametrize("shape", SHAPES[2:])
@pytest.mark.parametrize("need_weights", [True, False])
def test_matches_torch_with_random_bool_mask(shape, need_weights):
    q, k, v, generator = random_qkv(shape, seed=7 + shape[-1])
    mask = torch.rand(*q.shape[:-1], k.shape[-2], generator=generator) > 0.4
    mask[..., 0] = True  # no fully masked rows: those are undefined in PyTorch
    out, weights = scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    if need_weights:
        assert (weights[~mask] == 0).all()


def test_padding_mask_matches_torch_and_ignores_padding():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([6, 2, 4])
    attention_mask = (torch.arange(6)[None, :] < lengths[:, None]).long()  # (3, 6)
    q, k, v = (torch.randn(3, 2, 6, 8, dtype=torch.float64, generator=generator) for _ in range(3))
    mask = padding_mask(attention_mask)
    assert mask.shape == (3, 1, 1, 6) and mask.dtype == torch.bool
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    for b, n in enumerate(lengths.tolist()):
        assert (weights[b, :, :, n:] == 0).all()
        alone, _ = scaled_dot_product_attention(q[b, :, :n], k[b, :, :n], v[b, :, :n])
        torch.testing.assert_close(out[b, :, :n], alone)


@pytest.mark.parametrize("length", [1, 2, 5, 17])
def test_causal_mask_matches_is_causal(length):
    generator = torch.Generator().manual_seed(length)
    q, k, v = (torch.randn(2, 3, length, 8, dtype=torch.float64, generator=generator) for _ in range(3))
    mask = causal_mask(length)
    assert mask.shape == (length, length)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert torch.triu(weights, diagonal=1).abs().max() == 0


def test_causal_output_does_not_depend_on_the_future():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(1, 6, 8, dtype=torch.float64, generator=generator)
    out, _ = scaled_dot_product_attention(x, x, x, causal_mask(6))
    changed = x.clone()
    changed[0, 4:] = torch.randn(2, 8, dtype=torch.float64, generator=generator)
    out_changed, _ = scaled_dot_product_attention(changed, changed, changed, causal_mask(6))
    torch.testing.assert_close(out[0, :4], out_changed[0, :4])
    assert not torch.allclose(out[0, 4:], out_changed[0, 4:])


def test_causal_and_padding_masks_combine():
    generator = torch.Generator().manual_seed(4)
    attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    mask = padding_mask(attention_mask) & causal_mask(4)  # (2, 1, 4, 4)
    q, k, v = (torch.randn(2, 2, 4, 8, dtype=torch.float64, generator=generator) for _ in range(3))
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_fully_masked_row_gives_uniform_weights_not_nan():
    q = k = v = torch.randn(1, 3, 4, dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [False, False, False], [True, True, True]])
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert not out.isnan().any()
    torch.testing.assert_close(weights[0, 1], torch.full((3,), 1 / 3, dtype=torch.float64))


def test_dropout_only_changes_weights_in_training_use():
    torch.manual_seed(0)
    q = k = v = torch.randn(2, 4, 5, 8)
    out_eval, _ = scaled_dot_product_attention(q, k, v)
    out_drop, weights = scaled_dot_product_attention(q, k, v, dropout=0.5)
    assert not torch.allclose(out_eval, out_drop)
    assert (weights == 0).any()


@pytest.mark.parametrize(
    "d_model,heads,batch,length", [(8, 2, 2, 5), (12, 3, 1, 7), (16, 4, 3, 1), (32, 8, 2, 9)]
)
def test_multihead_matches_torch(d_model, heads, batch, length):
    torch.manual_seed(d_model + heads)
    theirs = randomize_parameters(
        torch.nn.MultiheadAttention(d_model, heads, batch_first=True, dtype=torch.float64)
    )
    theirs.eval()
    ours = lmcore.copy_from_torch_multihead(MultiHeadAttention(d_model, heads).double().eval(), theirs)
    x = torch.randn(batch, length, d_model, dtype=torch.float64)
    lengths = torch.randint(1, length + 1, (batch,))
    lengths[0] = length
    attention_mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    their_out, their_weights = theirs(
        x, x, x, key_padding_mask=~attention_mask.bool(), average_attn_weights=False
    )
    our_out, our_weights = ours(x, mask=padding_mask(attention_mask))
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(our_out[b, :n], their_out[b, :n])
        torch.testing.assert_close(our_weights[b, :, :n], their_weights[b, :, :n])
    fused, none = ours(x, mask=padding_mask(attention_mask), need_weights=False)
    assert none is None
    torch.testing.assert_close(fused, our_out)


def test_multihead_cross_attention_and_causal_mask_match_torch():
    torch.manual_seed(1)
    theirs = randomize_parameters(torch.nn.MultiheadAttention(16, 4, batch_first=True, dtype=torch.float64))
    ours = lmcore.copy_from_torch_multihead(MultiHeadAttention(16, 4).double(), theirs)
    target = torch.randn(2, 5, 16, dtype=torch.float64)
    memory = torch.randn(2, 9, 16, dtype=torch.float64)
    torch.testing.assert_close(ours(target, memory, memory)[0], theirs(target, memory, memory)[0])
    their_causal, _ = theirs(target, target, target, attn_mask=~causal_mask(5))  # True = blocked there
    torch.testing.assert_close(ours(target, mask=causal_mask(5))[0], their_causal)


def test_multihead_without_bias_matches_torch():
    torch.manual_seed(2)
    theirs = randomize_parameters(
        torch.nn.MultiheadAttention(8, 2, bias=False, batch_first=True, dtype=torch.float64)
    )
    ours = lmcore.copy_from_torch_multihead(MultiHeadAttention(8, 2, bias=False).double(), theirs)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], theirs(x, x, x)[0])


def test_multihead_gradients_flow_to_every_parameter():
    mha = MultiHeadAttention(8, 2)
    out, _ = mha(torch.randn(2, 4, 8))
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mha.parameters())


# ---------------------------------------------------------------- bad inputs

Q = torch.randn(2, 4, 8)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (
            (torch.randn(8), torch.randn(8), torch.randn(8)),
            {},
            r"query must have 2 or 3 or 4 dimensions .* got 1",
        ),
        ((torch.randn(1, 2, 3, 4, 8),) * 3, {}, r"got 5 dimensions with shape \(1, 2, 3, 4, 8\)"),
        ((Q, torch.randn(4, 8), torch.randn(4, 8)), {}, r"same number of dimensions"),
        (
            (Q, torch.randn(2, 4, 6), torch.randn(2, 4, 8)),
            {},
            r"same last dimension d_k .* \(2, 4, 8\) and key \(2, 4, 6\)",
        ),
        (
            (Q, torch.randn(2, 5, 8), torch.randn(2, 4, 8)),
            {},
            r"same number of positions S .* key \(2, 5, 8\) and value \(2, 4, 8\)",
        ),
        ((Q, torch.randn(3, 4, 8), torch.randn(3, 4, 8)), {}, r"leading \(batch, heads\) dimensions"),
        ((torch.randn(2, 0, 8), torch.randn(2, 4, 8), torch.randn(2, 4, 8)), {}, r"empty sequence"),
        ((Q, torch.randn(2, 0, 8), torch.randn(2, 0, 8)), {}, r"empty sequence"),
        ((Q.long(), Q.long(), Q.long()), {}, r"query must be a floating-point tensor; got dtype torch.int64"),
        ((Q, Q.double(), Q), {}, r"share one dtype; got torch.float32, torch.float64, torch.float32"),
        (([[1.0]], Q, Q), {}, r"query must be a torch.Tensor; got list"),
        ((Q, Q, Q), {"mask": torch.ones(2, 4, 4)}, r"mask must be a bool tensor .* got dtype torch.float32"),
        (
            (Q, Q, Q),
            {"mask": torch.ones(2, 4, 5, dtype=torch.bool)},
            r"mask of shape \(2, 4, 5\) does not broadcast .* \(2, 4, 4\)",
        ),
        (
            (Q, Q, Q),
            {"mask": torch.ones(1, 2, 4, 4, dtype=torch.bool)},
            r"mask of shape \(1, 2, 4, 4\) does not broadcast",
        ),
        ((Q, Q, Q), {"mask": torch.ones(3, 4, 4, dtype=torch.bool)}, r"does not broadcast"),
        ((Q, Q, Q), {"dropout": 1.5}, r"dropout must be a number in \[0, 1\); got 1.5"),
    ],
)
def test_bad_inputs_raise_value_error_with_expected_and_got(args, kwargs, message):
    wrong_type = "dtype" in message or "torch.Tensor" in message  # TypeError for a wrong type or dtype
    with pytest.raises(TypeError if wrong_type else ValueError, match=message):
        scaled_dot_product_attention(*args, **kwargs)


def test_broadcastable_masks_are_accepted():
    for mask_shape in [(4, 4), (1, 4), (2, 1, 4), (2, 4, 4)]:
        out, _ = scaled_dot_product_attention(Q, Q, Q, torch.ones(mask_shape, dtype=torch.bool))
        assert out.shape == Q.shape


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: MultiHeadAttention(10, 3), r"divisible by num_heads; got d_model=10, num_heads=3"),
        (lambda: MultiHeadAttention(0, 1), r"d_model must be a positive int; got 0"),
        (lambda: MultiHeadAttention(8, 2, dropout=-0.1), r"dropout must be a number in \[0, 1\)"),
    ],
)
def test_multihead_bad_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m(torch.randn(4, 8)), r"query must have 3 dimensions \(batch, seq, d_model\); got 2"),
        (lambda m: m(torch.randn(2, 4, 6)), r"last dimension d_model=8; got shape \(2, 4, 6\)"),
        (lambda m: m(torch.randn(2, 4, 8), torch.randn(3, 5, 8)), r"same batch size"),
        (
            lambda m: m(torch.randn(2, 4, 8), torch.randn(2, 5, 8), torch.randn(2, 6, 8)),
            r"key and value must have the same length",
        ),
        (lambda m: m(torch.randn(2, 4, 8), mask=torch.ones(2, 5, dtype=torch.bool)), r"does not broadcast"),
    ],
)
def test_multihead_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call(MultiHeadAttention(8, 2))


@pytest.mark.parametrize(
    "value, message",
    [
        (torch.ones(2, 3, 4), r"attention_mask must have 2 dimensions \(batch, seq\); got 3"),
        (torch.ones(2, 3), r"0/1 integers or bools; got dtype torch.float32"),
        (torch.tensor([[1, 2, 0]]), r"only 0 \(padding\) and 1 \(real token\); got values \[0, 1, 2\]"),
    ],
)
def test_padding_mask_bad_inputs(value, message):
    with pytest.raises(TypeError if "dtype" in message else ValueError, match=message):
        padding_mask(value)


@pytest.mark.parametrize(
    "size, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_causal_mask_bad_size(size, error):
    with pytest.raises(error, match="size must be a positive int"):
        causal_mask(size)


def test_copy_from_torch_checks_sizes():
    with pytest.raises(ValueError, match="sizes differ"):
        lmcore.copy_from_torch_multihead(MultiHeadAttention(8, 2), torch.nn.MultiheadAttention(8, 4))
    with pytest.raises(
        TypeError, match=r"expected \(ours, theirs\) = \(lmcore MultiHeadAttention, torch.nn.Multi"
    ):
        lmcore.copy_from_torch_multihead(torch.nn.Linear(2, 2), torch.nn.MultiheadAttention(8, 4))


def test_a_bias_copied_into_the_wrong_projection_is_caught():
    """The comparison has teeth: with random biases, swapping two projections' biases fails."""
    theirs = randomize_parameters(
        torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    ).eval()
    ours = lmcore.copy_from_torch_multihead(MultiHeadAttention(8, 2).double().eval(), theirs)
    x = torch.randn(2, 4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ours(x)[0], theirs(x, x, x)[0])
    with torch.no_grad():
        ours.q_proj.bias.copy_(theirs.in_proj_bias[8:16])  # the key bias, in the query projection
    assert not torch.allclose(ours(x)[0], theirs(x, x, x)[0])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("where", ["query", "key", "value", "masked key", "masked value"])
def test_where_a_non_finite_input_spreads(bad, where):
    # documented behaviour: not refused (that would make the host wait); the output rows it
    # reaches are the rows PyTorch's own attention loses
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 4)
    tensor, row = {"query": (q, 1), "key": (k, 2), "value": (v, 2)}[where.split()[-1]]
    tensor[row, 0] = bad
    allowed = torch.ones(3, 5, dtype=torch.bool)
    if where.startswith("masked"):
        allowed[:, 2] = False  # no query may attend to key 2
    ours, _ = scaled_dot_product_attention(q, k, v, allowed)
    if where == "masked key":  # masked_fill replaces its score: no row is lost (PyTorch loses all)
        assert torch.isfinite(ours).all()
        return
    theirs = F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=allowed)[0]
    assert torch.equal(torch.isfinite(ours), torch.isfinite(theirs))
    if where == "query":  # one query's row only
        assert torch.isfinite(ours).all(1).tolist() == [True, False, True]
    if where == "masked value":  # a weight of 0 times NaN is still NaN: every row is lost
        assert not torch.isfinite(ours).all(1).any()
