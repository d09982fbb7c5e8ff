"""lmcore.transformer against PyTorch's layers in float64, causality, positional encodings,
and clear errors for bad inputs."""

import math

import pytest
import torch
from torch import nn

import lmcore
from lmcore import transformer as T
from tests.reference import randomize_parameters


def lengths_to_mask(lengths, total):
    return (torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]).long()


CONFIGS = [  # d_model, heads, d_ff, norm_first, activation
    (8, 2, 16, False, "relu"),
    (16, 4, 64, False, "gelu"),
    (16, 4, 32, True, "relu"),
    (24, 3, 48, True, "gelu"),
]


@pytest.mark.parametrize("d_model,heads,d_ff,norm_first,activation", CONFIGS)
def test_encoder_layer_matches_torch(d_model, heads, d_ff, norm_first, activation):
    torch.manual_seed(d_model + heads)
    theirs = nn.TransformerEncoderLayer(
        d_model,
        heads,
        d_ff,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=norm_first,
        dtype=torch.float64,
    ).eval()
    randomize_parameters(theirs, seed=d_model)
    ours = T.copy_from_torch_encoder_layer(
        T.EncoderLayer(d_model, heads, d_ff, 0.0, activation, norm_first).double().eval(), theirs
    )
    lengths = [9, 5, 1]
    padding = lengths_to_mask(lengths, 9)
    x = torch.randn(3, 9, d_model, dtype=torch.float64)
    expected = theirs(x, src_key_padding_mask=~padding.bool())
    got, weights = ours(x, lmcore.padding_mask(padding))
    assert weights.shape == (3, heads, 9, 9)
    for row, n in enumerate(lengths):
        torch.testing.assert_close(got[row, :n], expected[row, :n])
    torch.testing.assert_close(ours(x)[0], theirs(x))  # no mask at all


@pytest.mark.parametrize("d_model,heads,d_ff,norm_first,activation", CONFIGS)
def test_decoder_layer_matches_torch(d_model, heads, d_ff, norm_first, activation):
    torch.manual_seed(2 * d_model + heads)
    theirs = nn.TransformerDecoderLayer(
        d_model,
        heads,
        d_ff,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=norm_first,
        dtype=torch.float64,
    ).eval()
    randomize_parameters(theirs, seed=d_model + 1)
    ours = T.copy_from_torch_decoder_layer(
        T.DecoderLayer(d_model, heads, d_ff, 0.0, activation, norm_first).double().eval(), theirs
    )
    source_padding = lengths_to_mask([7, 3], 7)
    memory = torch.randn(2, 7, d_model, dtype=torch.float64)
    target = torch.randn(2, 5, d_model, dtype=torch.float64)
    expected = theirs(
        target, memory, tgt_mask=~lmcore.causal_mask(5), memory_key_padding_mask=~source_padding.bool()
    )
    got, self_weights, cross_weights = ours(
        target, memory, lmcore.causal_mask(5), lmcore.padding_mask(source_padding)
    )
    torch.testing.assert_close(got, expected)
    assert self_weights.shape == (2, heads, 5, 5) and cross_weights.shape == (2, heads, 5, 7)
    assert (cross_weights[1, :, :, 3:] == 0).all()


def test_encoder_stack_matches_torch_transformer_encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, dtype=torch.float64)
    theirs = randomize_parameters(
        nn.TransformerEncoder(layer, num_layers=3, enable_nested_tensor=False).eval()
    )
    ours = T.Encoder(3, 16, 4, 32, dropout=0.0).double().eval()
    for our_layer, their_layer in zip(ours.layers, theirs.layers):
        T.copy_from_torch_encoder_layer(our_layer, their_layer)
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    out, weights = ours(x)
    torch.testing.assert_close(out, theirs(x))
    assert len(weights) == 3


def test_decoder_layer_is_causal():
    torch.manual_seed(1)
    layer = T.DecoderLayer(16, 4, 32, dropout=0.0).eval()
    memory, target = torch.randn(2, 6, 16), torch.randn(2, 5, 16)
    before = layer(target, memory, lmcore.causal_mask(5))[0]
    changed = target.clone()
    changed[:, 2] += 1.0
    after = layer(changed, memory, lmcore.causal_mask(5))[0]
    torch.testing.assert_close(after[:, :2], before[:, :2])
    assert not torch.allclose(after[:, 2:], before[:, 2:])


def small_model(**options):
    torch.manual_seed(0)
    return T.Seq2SeqTransformer(
        11,
        13,
        d_model=16,
        num_heads=2,
        num_encoder_layers=2,
        num_decoder_layers=2,
        d_ff=32,
        dropout=0.0,
        max_len=12,
        **options,
    ).eval()


def test_seq2seq_is_causal_and_ignores_source_padding():
    model = small_model()
    source = torch.tensor([[4, 5, 6, 7], [4, 5, 0, 0]])
    target = torch.tensor([[1, 5, 6, 7, 8], [1, 9, 10, 0, 0]])
    logits = model(source, target).logits
    changed = target.clone()
    changed[0, 3] = 12
    torch.testing.assert_close(model(source, changed).logits[0, :3], logits[0, :3])
    longer_padding = torch.cat([source, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(longer_padding, target).logits, logits, atol=1e-5, rtol=1e-5)


def test_seq2seq_attentions_are_none_unless_asked_for():
    model = small_model()
    source, target = torch.tensor([[4, 5, 6, 0]]), torch.tensor([[1, 5, 6]])
    quiet = model(source, target)
    assert quiet.attentions is None and quiet.encoder_attentions is None and quiet.cross_attentions is None
    loud = model(source, target, need_weights=True)
    layers = len(model.decoder.layers)
    assert len(loud.attentions) == len(loud.cross_attentions) == layers
    assert loud.cross_attentions[0].shape[-2:] == (3, 4) and loud.encoder_attentions[0].shape[-2:] == (4, 4)


def test_greedy_decode_starts_with_bos_and_pads_after_eos():
    model = small_model()
    out = model.greedy_decode(torch.tensor([[4, 5, 6], [7, 8, 0]]), bos_id=1, eos_id=2, max_new_tokens=6)
    assert (out[:, 0] == 1).all() and out.shape[1] <= 7
    for row in out.tolist():
        if 2 in row:
            assert all(token == model.pad_id for token in row[row.index(2) + 1 :])


def test_pre_ln_model_has_final_norms():
    model = small_model(norm_first=True)
    assert isinstance(model.encoder.final_norm, nn.LayerNorm)
    assert model(torch.tensor([[4, 5]]), torch.tensor([[1, 3]])).logits.shape == (1, 2, 13)


# -------------------------------------------------------------- positional encodings


def test_sinusoidal_encoding_values_and_shift_property():
    pe = T.sinusoidal_positional_encoding(50, 8).double()
    assert pe.shape == (50, 8)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4, dtype=torch.float64))
    assert pe.abs().max() <= 1.0
    torch.testing.assert_close(pe[3, 0], torch.tensor(math.sin(3.0), dtype=torch.float64))
    torch.testing.assert_close(pe[3, 3], torch.tensor(math.cos(3.0 / 10_000 ** (2 / 8)), dtype=torch.float64))
    dots = pe @ pe.T
    torch.testing.assert_close(torch.diagonal(dots, offset=4), torch.diagonal(dots, offset=4)[0].expand(46))


def test_learned_positional_encoding_adds_one_vector_per_position():
    encoding = T.LearnedPositionalEncoding(4, max_len=6)
    x = torch.zeros(2, 5, 4)
    torch.testing.assert_close(encoding(x)[0], encoding.embedding.weight[:5])


# -------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: T.sinusoidal_positional_encoding(10, 7), r"d_model must be even; got 7"),
        (lambda: T.sinusoidal_positional_encoding(0, 8), r"max_len must be a positive int; got 0"),
        (
            lambda: T.PositionalEncoding(8, max_len=4)(torch.zeros(1, 5, 8)),
            r"x has length 5, longer than the model allows \(max_len=4\)",
        ),
        (lambda: T.LearnedPositionalEncoding(8, max_len=4)(torch.zeros(1, 5, 8)), r"max_len=4"),
        (
            lambda: T.PositionalEncoding(8)(torch.zeros(5, 8)),
            r"x must have 3 dimensions \(batch, seq, d_model\)",
        ),
        (
            lambda: T.FeedForward(8, 16, activation="tanh"),
            r"activation must be one of \['gelu', 'relu'\]; got 'tanh'",
        ),
        (lambda: T.Encoder(0, 8, 2, 16), r"num_layers must be a positive int"),
        (lambda: T.EncoderLayer(10, 4, 16), r"divisible by num_heads"),
    ],
)
def test_bad_construction_and_inputs(call, message):
    with pytest.raises(TypeError if "dtype" in message else ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "source, target, message",
    [
        (
            torch.ones(2, 13, dtype=torch.long),
            torch.ones(2, 3, dtype=torch.long),
            r"source has length 13, longer than the model allows \(max_len=12\)",
        ),
        (
            torch.ones(2, 3, dtype=torch.long),
            torch.ones(3, 3, dtype=torch.long),
            r"memory and target must have the same batch size; got 2 and 3",
        ),
        (
            torch.ones(2, 3),
            torch.ones(2, 3, dtype=torch.long),
            r"source must hold integer token ids \(int64 or int32\); got dtype torch.float32",
        ),
        (
            torch.full((1, 3), 11),
            torch.ones(1, 3, dtype=torch.long),
            r"source must lie in \[0, 11\); got values from 11 to 11",
        ),
        (
            torch.ones(1, 0, dtype=torch.long),
            torch.ones(1, 3, dtype=torch.long),
            r"source is an empty sequence",
        ),
        (
            torch.ones(3, dtype=torch.long),
            torch.ones(1, 3, dtype=torch.long),
            r"source must have 2 dimensions",
        ),
    ],
)
def test_seq2seq_bad_inputs(source, target, message):
    with pytest.raises(TypeError if "dtype" in message else ValueError, match=message):
        small_model()(source, target)


def test_decoder_layer_rejects_mismatched_batches():
    with pytest.raises(ValueError, match=r"target and memory must have the same batch size"):
        T.DecoderLayer(8, 2, 16)(torch.randn(2, 3, 8), torch.randn(3, 4, 8))


def test_copy_functions_check_types():
    with pytest.raises(
        TypeError, match=r"expected \(ours, theirs\) = \(lmcore EncoderLayer, torch.nn.Transformer"
    ):
        T.copy_from_torch_encoder_layer(T.EncoderLayer(8, 2, 16), nn.TransformerDecoderLayer(8, 2, 16))
    with pytest.raises(
        TypeError, match=r"expected \(ours, theirs\) = \(lmcore DecoderLayer, torch.nn.Transformer"
    ):
        T.copy_from_torch_decoder_layer(T.DecoderLayer(8, 2, 16), nn.TransformerEncoderLayer(8, 2, 16))


@pytest.mark.parametrize("eps", [1e-5, 1e-6])
def test_layer_norm_epsilon_is_passed_through_and_the_comparison_would_notice_a_wrong_one(eps):
    """Inputs of small variance make the epsilon matter; float64 with tight tolerances sees it."""
    theirs = randomize_parameters(
        nn.TransformerEncoderLayer(
            8, 2, 16, dropout=0.0, batch_first=True, layer_norm_eps=eps, dtype=torch.float64
        ).eval()
    )
    x = 1e-2 * torch.randn(2, 5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    right = T.copy_from_torch_encoder_layer(
        T.EncoderLayer(8, 2, 16, 0.0, layer_norm_eps=eps).double().eval(), theirs
    )
    torch.testing.assert_close(right(x)[0], theirs(x))
    wrong = T.copy_from_torch_encoder_layer(
        T.EncoderLayer(8, 2, 16, 0.0, layer_norm_eps=eps * 10).double().eval(), theirs
    )
    assert not torch.allclose(wrong(x)[0], theirs(x), rtol=1e-7, atol=1e-7)


def test_seq2seq_passes_its_options_to_every_part():
    model = T.Seq2SeqTransformer(
        11,
        13,
        d_model=16,
        num_heads=4,
        num_encoder_layers=2,
        num_decoder_layers=3,
        d_ff=24,
        dropout=0.3,
        max_len=20,
        pad_id=2,
        norm_first=True,
    )
    assert len(model.encoder.layers) == 2 and len(model.decoder.layers) == 3
    assert all(layer.norm_first for layer in [*model.encoder.layers, *model.decoder.layers])
    assert isinstance(model.encoder.final_norm, nn.LayerNorm) and isinstance(
        model.decoder.final_norm, nn.LayerNorm
    )
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout)} == {0.3}
    assert {m.dropout for m in model.modules() if isinstance(m, lmcore.MultiHeadAttention)} == {0.3}
    assert model.source_embedding.padding_idx == 2 and model.target_embedding.padding_idx == 2
    assert model.positional_encoding.max_len == 20 and model.output.out_features == 13
    assert model.encoder.layers[0].feed_forward.linear1.out_features == 24


def test_positional_encodings_are_added_and_the_longest_allowed_length_works():
    x = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(0))
    fixed = T.PositionalEncoding(8, max_len=4)
    torch.testing.assert_close(fixed(x), x + T.sinusoidal_positional_encoding(4, 8))
    learned = T.LearnedPositionalEncoding(8, max_len=4)
    torch.testing.assert_close(learned(x), x + learned.embedding.weight)
    model = T.Seq2SeqTransformer(
        10, 10, d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=16, max_len=6
    )
    assert model(torch.ones(1, 6, dtype=torch.long), torch.ones(1, 6, dtype=torch.long)).logits.shape == (
        1,
        6,
        10,
    )
