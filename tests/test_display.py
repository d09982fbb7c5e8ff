"""lmcore.display: tables and shown source code."""

import pytest
import torch

import lmcore
from lmcore import as_table, show_source


def test_as_table_labels_and_rounds():
    table = as_table(torch.tensor([[1.23456, -0.0], [2.0, 3.0]]), ["a", "b"], ["x", "y"], decimals=2)
    assert list(table.index) == ["a", "b"] and list(table.columns) == ["x", "y"]
    assert table.loc["a", "x"] == 1.23 and str(table.loc["a", "y"]) == "0.0"
    with pytest.raises(ValueError, match="row_labels has 1 entries but the matrix has 2"):
        as_table(torch.eye(2), ["a"])
    with pytest.raises(ValueError, match="1 or 2 dimensions"):
        as_table(torch.ones(2, 2, 2))


def test_show_source_shows_every_object_it_is_given(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    assert show_source(lmcore.scaled_dot_product_attention, lmcore.padding_mask) is None
    assert len(shown) == 2
    assert "def scaled_dot_product_attention" in shown[0] and "def padding_mask" in shown[1]
    with pytest.raises(ValueError, match="no Python source"):
        show_source(lmcore.padding_mask, len)
    assert len(shown) == 2, "nothing is shown when one of the objects has no source"
    with pytest.raises(TypeError, match="at least one"):
        show_source()
