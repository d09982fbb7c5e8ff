"""lmcore: the small library behind the course book *How Large Language Models Work*.

One module per idea, each written to be read next to its chapter:

* :mod:`lmcore.attention` (chapter 1): scaled dot-product attention, masks, multi-head attention.
* :mod:`lmcore.transformer` (chapter 2): positional encodings, encoder and decoder layers and
  stacks, an encoder-decoder model with greedy decoding.
* :mod:`lmcore.bert` (chapter 3): BERT and its heads; :mod:`lmcore.checkpoints` reads real
  checkpoints (safetensors, hash-checked) into it; :mod:`lmcore.outputs` is what every model returns.
* :mod:`lmcore.data`: vocabularies, padding, the toy date-translation task.
* :mod:`lmcore.train`: one readable training loop (:func:`lmcore.train.fit`).
* :mod:`lmcore.plot`: attention heatmaps shared by every chapter.
* :mod:`lmcore.budget`: quick or full mode (``LMCORE_MODE``) and seeds.
* :mod:`lmcore.display`: lmcore's source and matrices as tables, for the notebooks.
"""

from .attention import (
    MultiHeadAttention,
    causal_mask,
    copy_from_torch_multihead,
    padding_mask,
    scaled_dot_product_attention,
)
from .budget import is_quick, mode, mode_line, pick, seed_everything
from .display import as_table, show_source
from .plot import plot_attention, plot_attention_grid

__version__ = "0.1.0"

__all__ = [
    "MultiHeadAttention",
    "causal_mask",
    "copy_from_torch_multihead",
    "padding_mask",
    "scaled_dot_product_attention",
    "is_quick",
    "mode",
    "mode_line",
    "pick",
    "seed_everything",
    "plot_attention",
    "plot_attention_grid",
    "as_table",
    "show_source",
]
