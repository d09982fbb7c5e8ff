"""BERT (Devlin et al., 2019) built from lmcore's encoder: the model and nothing else.

BERT is the Transformer's encoder alone, with learned position embeddings, a third embedding
that says which segment (sentence A or B) a token belongs to, and heads on top:

* :class:`BertEmbeddings`: token + position + segment embeddings, LayerNorm, dropout;
* :class:`BertModel`: embeddings, the :class:`lmcore.transformer.Encoder` (post-LN, GELU) and
  the pooler (a dense layer + tanh on the ``[CLS]`` vector);
* :class:`BertForPreTraining`: the masked-language-model head (its output matrix tied to the
  token embeddings) and the next-sentence-prediction head, with their losses;
* :class:`BertForSequenceClassification`: a classifier on ``[CLS]`` or on the masked mean of
  the token vectors.

Every model is called as ``model(input_ids, attention_mask, token_type_ids, labels=...,
need_weights=...)`` and returns an output object (:mod:`lmcore.outputs`). Reading real
checkpoints into these classes is :mod:`lmcore.checkpoints`' job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import expect_bert_inputs, expect_id, expect_ids_below, expect_int
from .attention import padding_mask
from .outputs import BertForPreTrainingOutput, BertModelOutput, ModelOutput
from .transformer import Encoder

__all__ = [
    "BertConfig",
    "BertEmbeddings",
    "BertModel",
    "BertForPreTraining",
    "BertForSequenceClassification",
    "MaskedLanguageModelHead",
    "IGNORE_INDEX",
    "init_bert_weights",
    "masked_mean",
]

# Label value of positions that carry no masked-language-model target (PyTorch's default
# ignore_index for cross-entropy, and Hugging Face's).
IGNORE_INDEX = -100


@dataclass
class BertConfig:
    """The sizes of a BERT; field names follow Hugging Face's ``config.json``."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    @classmethod
    def from_json(cls, path: str | Path) -> BertConfig:
        """Read the fields lmcore uses from a ``config.json``; other keys are ignored."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: a checkpoint folder needs its config.json")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(
                f"{path} is not valid JSON ({error}): cut off or damaged; copy the checkpoint again"
            ) from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object; got {type(data).__name__}")
        if data.get("model_type", "bert") != "bert":
            raise ValueError(
                f"{path} describes a {data['model_type']!r} model; lmcore loads BERT checkpoints"
            )
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute position embeddings are supported")
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def __post_init__(self):  # a size of 0 would fail deep inside torch, far from its cause
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            expect_int(name, getattr(self, name), minimum=1)
        expect_id("pad_token_id", self.pad_token_id, self.vocab_size, "vocab_size")

    def to_dict(self) -> dict:
        return asdict(self)


def init_bert_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: weights from N(0, 0.02), biases 0, LayerNorm gain 1.

    PyTorch's default N(0, 1) embeddings would make a tied output layer start with huge logits.
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertEmbeddings(nn.Module):
    """``LayerNorm(token + position + segment)`` then dropout: one vector per input token."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (seq,)
        embedded = (
            self.word_embeddings(input_ids)  # (batch, seq, hidden)
            + self.position_embeddings(positions)  # (seq, hidden), broadcast over the batch
            + self.token_type_embeddings(token_type_ids)  # (batch, seq, hidden)
        )
        return self.dropout(self.norm(embedded))


class BertModel(nn.Module):
    """Embeddings, a post-LN Transformer encoder with GELU, and the ``[CLS]`` pooler."""

    def __init__(self, config: BertConfig):
        super().__init__()
        if config.hidden_act not in ("gelu", "relu"):
            raise ValueError(f"hidden_act must be 'gelu' or 'relu'; got {config.hidden_act!r}")
        if config.attention_probs_dropout_prob != config.hidden_dropout_prob:
            raise ValueError(
                "lmcore's encoder uses one dropout rate; attention and hidden dropout must be equal"
            )
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = Encoder(
            config.num_hidden_layers,
            config.hidden_size,
            config.num_attention_heads,
            config.intermediate_size,
            dropout=config.hidden_dropout_prob,
            activation=config.hidden_act,
            layer_norm_eps=config.layer_norm_eps,
        )
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size)
        self.apply(init_bert_weights)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> BertModelOutput:
        """``input_ids`` ``(batch, seq)``; ``attention_mask`` 1 for real tokens and 0 for padding;
        ``token_type_ids`` 0 for segment A and 1 for segment B. ``need_weights`` returns every
        layer's attention weights (otherwise the fused attention kernel is used)."""
        expect_bert_inputs(input_ids, attention_mask, token_type_ids, self.config)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        # A batch without padding needs no mask, and without one PyTorch may use its fastest
        # attention kernel (bench/finetune.py: a CPU training step about 1.2x faster). Looking
        # is free on the CPU; on an accelerator it would wait for the device, so there the mask
        # is always passed.
        has_padding = attention_mask is not None and (
            attention_mask.device.type != "cpu" or not bool(attention_mask.all())
        )
        mask = padding_mask(attention_mask) if has_padding else None  # (batch, 1, 1, seq) or None
        hidden = self.embeddings(input_ids, token_type_ids)  # (batch, seq, hidden)
        hidden, attentions = self.encoder(hidden, mask, need_weights)
        pooled = torch.tanh(self.pooler(hidden[:, 0]))  # (batch, hidden): from the [CLS] position
        return BertModelOutput(last_hidden_state=hidden, pooler_output=pooled, attentions=attentions)


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """The mean of each sequence's real token vectors: ``(batch, seq, d)`` -> ``(batch, d)``.
    Padding positions (mask 0) contribute nothing."""
    if attention_mask is None:
        return hidden.mean(dim=1)
    weights = attention_mask.to(hidden.dtype)[:, :, None]  # (batch, seq, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (batch, d)


class MaskedLanguageModelHead(nn.Module):
    """Dense + GELU + LayerNorm, then scores over the vocabulary with the *token embedding
    matrix* as output weights (weight tying: one matrix both reads and writes words)."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.word_embeddings = word_embeddings  # shared, not copied
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.norm(F.gelu(self.dense(hidden)))
        return hidden @ self.word_embeddings.weight.T + self.bias  # (..., vocab)


class BertForPreTraining(nn.Module):
    """BERT with its two pretraining heads: masked language model and next-sentence prediction.

    With ``labels`` (the original token id at each masked position, :data:`IGNORE_INDEX`
    elsewhere) and ``next_sentence_label`` (0 = IsNext, 1 = NotNext), the output carries
    ``loss = mlm_loss + nsp_loss``. The vocabulary projection is the expensive part, so with
    labels it scores the masked positions only: ``logits`` is then ``(n_masked, vocab)``, in
    the order of ``labels[labels != IGNORE_INDEX]``; without labels it is ``(batch, seq, vocab)``.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.bert = BertModel(config)
        self.mlm_head = MaskedLanguageModelHead(config, self.bert.embeddings.word_embeddings)
        self.nsp_head = nn.Linear(config.hidden_size, 2)  # 0 = IsNext, 1 = NotNext
        self.mlm_head.dense.apply(init_bert_weights)
        self.nsp_head.apply(init_bert_weights)

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        labels=None,
        next_sentence_label=None,
        need_weights=False,
    ) -> BertForPreTrainingOutput:
        output = self.bert(input_ids, attention_mask, token_type_ids, need_weights=need_weights)
        hidden = output.last_hidden_state  # (batch, seq, hidden)
        picked = None if labels is None else labels != IGNORE_INDEX  # (batch, seq)
        mlm_logits = self.mlm_head(hidden if picked is None else hidden[picked])  # (..., vocab)
        nsp_logits = self.nsp_head(output.pooler_output)  # (batch, 2)
        result = BertForPreTrainingOutput(
            logits=mlm_logits, seq_relationship_logits=nsp_logits, attentions=output.attentions
        )
        if labels is not None:
            result.mlm_loss = F.cross_entropy(mlm_logits.float(), labels[picked])
        if next_sentence_label is not None:
            result.nsp_loss = F.cross_entropy(nsp_logits.float(), next_sentence_label)
        if result.mlm_loss is not None or result.nsp_loss is not None:
            result.loss = sum(loss for loss in (result.mlm_loss, result.nsp_loss) if loss is not None)
        return result


class BertForSequenceClassification(nn.Module):
    """A classifier on top of BERT: ``pooling="cls"`` reads the pooled ``[CLS]`` vector,
    ``pooling="mean"`` averages the real (non-padding) token vectors.

    Built from a :class:`BertConfig`, like every model here (and Hugging Face's): the encoder
    starts random. :func:`lmcore.classify.new_classifier` fills it with a pretrained checkpoint,
    :func:`lmcore.checkpoints.load_classifier` with a fine-tuned classifier saved earlier.
    """

    def __init__(
        self, config: BertConfig, num_labels: int, pooling: str = "cls", dropout: float | None = None
    ):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(
                f"config must be a BertConfig (for a loaded model, pass its .config and load the "
                f"weights into .bert); got {type(config).__name__}"
            )
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean'; got {pooling!r}")
        expect_int("num_labels", num_labels, minimum=2)
        self.bert, self.pooling = BertModel(config), pooling
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(config.hidden_size, num_labels)

    @property
    def num_labels(self) -> int:
        return self.classifier.out_features

    def pool(self, output: BertModelOutput, attention_mask=None) -> torch.Tensor:
        """The vector the classifier reads, ``(batch, hidden)``: the pooled ``[CLS]`` vector or
        the mean of the real tokens' vectors."""
        if self.pooling == "cls":
            return output.pooler_output
        return masked_mean(output.last_hidden_state, attention_mask)

    def features(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        return self.pool(self.bert(input_ids, attention_mask, token_type_ids), attention_mask)

    def forward(
        self, input_ids, attention_mask=None, token_type_ids=None, labels=None, need_weights=False
    ) -> ModelOutput:
        """Class ``logits`` ``(batch, num_labels)``; with ``labels`` ``(batch,)``, their cross-entropy."""
        output = self.bert(input_ids, attention_mask, token_type_ids, need_weights=need_weights)
        logits = self.classifier(self.dropout(self.pool(output, attention_mask)))  # (batch, num_labels)
        loss = None
        if labels is not None:
            expect_ids_below("labels", labels, self.num_labels)
            loss = F.cross_entropy(logits.float(), labels)
        return ModelOutput(logits=logits, loss=loss, attentions=output.attentions)
