"""lmcore.runtime: device choice, moving batches, and dropout switched off and on."""

import pytest
import torch

from lmcore import bert as B
from lmcore.runtime import move_to, pick_device, set_dropout
from tests.reference import tiny_bert_config


def test_device_helpers():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type in ("cpu", "cuda", "mps")
    moved = move_to({"a": torch.zeros(1), "b": [torch.ones(1), 3]}, torch.device("cpu"))
    assert moved["b"][1] == 3


def test_the_device_is_cuda_then_apple_mps_then_the_cpu(monkeypatch):
    """One place chooses the device; here with the hardware faked, as no test machine has all three."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")  # a chapter that must stay on the CPU says so


def test_set_dropout_reaches_every_dropout():
    from lmcore.attention import MultiHeadAttention

    config = tiny_bert_config(num_hidden_layers=2, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    model = B.BertForSequenceClassification(config, num_labels=3)
    set_dropout(model, 0.0)
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert all(m.dropout == 0.0 for m in model.modules() if isinstance(m, MultiHeadAttention))
    with pytest.raises(ValueError):
        set_dropout(model, 1.5)
