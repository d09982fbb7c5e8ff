"""The cost calculator against real lmcore models, the timing helper, and the exercise checks."""

import numpy as np
import pytest
import torch

from lmcore import bert as B
from lmcore import exercises
from lmcore.classify import classification_loss
from lmcore.costs import (
    KNOWN_SHAPES,
    TransformerShape,
    count_parameters,
    flops_per_token,
    seconds_per_training_step,
    training_state_bytes,
    transformer_parameters,
)
from lmcore.gpt import DecoderOnlyLM
from lmcore.train import set_dropout


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "BERT-base"])
def test_calculator_equals_a_built_bert(name):
    shape = KNOWN_SHAPES[name]
    config = B.BertConfig(
        hidden_size=shape.d_model,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ff,
    )
    with torch.device("meta"):
        model = B.BertModel(config)
    assert transformer_parameters(shape)["total"] == count_parameters(model)


def test_calculator_equals_a_built_gpt_and_published_sizes():
    shape = TransformerShape("t", "gpt", 3, 64, 4, 50, 32)
    with torch.device("meta"):
        model = DecoderOnlyLM(50, context=32, d_model=64, num_heads=4, num_layers=3)
    assert transformer_parameters(shape)["total"] == count_parameters(model)
    assert abs(transformer_parameters(KNOWN_SHAPES["GPT-3 175B"])["total"] / 175e9 - 1) < 0.01
    assert abs(transformer_parameters(KNOWN_SHAPES["GPT-2 small"])["total"] / 124e6 - 1) < 0.01


def test_flops_and_state_bytes():
    base = KNOWN_SHAPES["BERT-base"]
    assert flops_per_token(base, training=True) == 3 * flops_per_token(base)
    assert flops_per_token(base, context=1024) > flops_per_token(base, context=512)
    assert (
        sum(training_state_bytes(1000).values())
        == sum(training_state_bytes(1000, mixed_precision=True).values())
        == 16000
    )
    with pytest.raises(ValueError, match="divisible"):
        TransformerShape("bad", "gpt", 1, 10, 3, 5, 5)


def test_seconds_per_training_step_is_positive_and_restores_mode():
    model = B.BertForSequenceClassification(
        B.BertModel(
            B.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
        ),
        num_labels=3,
    ).eval()
    batch = {
        "input_ids": torch.randint(5, 100, (2, 8)),
        "attention_mask": torch.ones(2, 8, dtype=torch.long),
        "labels": torch.tensor([0, 2]),
    }
    assert seconds_per_training_step(model, classification_loss, batch, repeats=1) > 0
    assert not model.training
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        seconds_per_training_step(model, classification_loss, batch, repeats=0)


def test_set_dropout_reaches_every_dropout():
    from lmcore.attention import MultiHeadAttention

    model = B.BertForSequenceClassification(
        B.BertModel(
            B.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
        ),
        num_labels=3,
    )
    set_dropout(model, 0.0)
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert all(m.dropout == 0.0 for m in model.modules() if isinstance(m, MultiHeadAttention))
    with pytest.raises(ValueError):
        set_dropout(model, 1.5)


def test_macro_f1_check(capsys):
    matrix = np.array([[5, 1], [2, 2]])
    exercises.check_macro_f1(matrix, _macro_f1(matrix))
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="macro F1 should be"):
        exercises.check_macro_f1(matrix, 0.5)


def _macro_f1(matrix):
    tp = np.diag(matrix)
    precision, recall = tp / matrix.sum(0), tp / matrix.sum(1)
    return float(np.mean(2 * precision * recall / (precision + recall)))


def test_attention_and_mask_checks():
    q, k, v = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 2)
    right = torch.softmax(q @ k.T / 2.0, dim=-1) @ v
    exercises.check_attention(q, k, v, right)
    with pytest.raises(AssertionError, match="sqrt"):
        exercises.check_attention(q, k, v, torch.softmax(q @ k.T, dim=-1) @ v)
    exercises.check_causal_mask(torch.ones(4, 4).tril().bool(), 4)
    with pytest.raises(AssertionError, match="lower-triangular"):
        exercises.check_causal_mask(torch.ones(4, 4).triu().bool(), 4)


def test_parameter_checks():
    exercises.check_attention_parameters(8, 2, 4 * 64 + 32)
    with pytest.raises(AssertionError, match="also has a bias"):
        exercises.check_attention_parameters(8, 2, 4 * 64)
    layer = torch.nn.Linear(3, 2)
    exercises.check_parameter_count(layer, 8)
    with pytest.raises(AssertionError, match="6 is not the number") as wrong:
        exercises.check_parameter_count(layer, 6)
    assert "8" not in str(wrong.value)  # the expected count is not given away


def test_flops_per_token_counts_both_attention_products_as_pytorch_does():
    """PyTorch's own FLOP counter over a forward pass of lmcore's BERT equals the calculator's
    count exactly: 2 per weight of the layers' matrices, and both attention products (the scores
    and the weighted sum of the values), per token, plus the pooler once."""
    from torch.utils.flop_counter import FlopCounterMode

    from lmcore import bert as B
    from lmcore.costs import TransformerShape, attention_flops_per_token

    d, layers, ff, context = 16, 2, 64, 64
    config = B.BertConfig(
        vocab_size=100,
        hidden_size=d,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=ff,
        max_position_embeddings=context,
    )
    model = B.BertModel(config).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randint(0, 100, (1, context)), need_weights=True)
    shape = TransformerShape("tiny", "bert", layers, d, 4, 100, context, ff)
    weights = sum(m.weight.numel() for m in model.encoder.modules() if isinstance(m, torch.nn.Linear))
    assert attention_flops_per_token(shape) == 2 * (2 * layers * context * d)
    assert counter.get_total_flops() == context * (2 * weights + attention_flops_per_token(shape)) + 2 * d * d
