"""lmcore.costs: parameter, FLOP, memory and time estimates, checked against built models."""

import pytest
import torch

from lmcore import bert as B
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
from tests.reference import tiny_bert_config


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
        tiny_bert_config(vocab_size=100, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1), 3
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


def test_flops_per_token_counts_both_attention_products_as_pytorch_does():
    """PyTorch's own FLOP counter over a forward pass of lmcore's BERT equals the calculator's
    count exactly: 2 per weight of the layers' matrices, and both attention products (the scores
    and the weighted sum of the values), per token, plus the pooler once."""
    from torch.utils.flop_counter import FlopCounterMode

    from lmcore import bert as B
    from lmcore.costs import TransformerShape, attention_flops_per_token

    d, layers, ff, context = 16, 2, 64, 64  # (tiny_bert_config is 16 wide)
    config = tiny_bert_config(
        vocab_size=100,
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
