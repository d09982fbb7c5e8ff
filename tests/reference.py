"""Helpers for comparisons with PyTorch's reference layers."""

import torch


@torch.no_grad()
def randomize_parameters(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter, biases and LayerNorm gains included, random non-zero values.

    PyTorch initialises attention biases to zero and LayerNorm to (1, 0): a bias copied into the
    wrong projection, or a LayerNorm left out, would still match. After this, it cannot.
    """
    generator = torch.Generator().manual_seed(seed)
    for parameter in module.parameters():
        parameter.copy_(
            0.5 + torch.rand(parameter.shape, generator=generator, dtype=torch.float64).to(parameter.dtype)
        )
        parameter.mul_(
            torch.where(torch.rand(parameter.shape, generator=generator) < 0.5, -1.0, 1.0).to(parameter.dtype)
        )
        parameter.div_(parameter.shape[-1] ** 0.5 if parameter.dim() > 1 else 1.0)
    return module


TINY_BERT = dict(
    vocab_size=60,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=12,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def tiny_bert_config(**sizes):
    """A BERT small enough for a unit test (16 wide, 1 layer, no dropout); ``sizes`` override."""
    from lmcore.bert import BertConfig

    return BertConfig(**{**TINY_BERT, **sizes})


def write_tiny_checkpoint(folder):
    """A 3-layer, 48-wide random BERT with a 71-piece character vocabulary, saved the way a
    Hugging Face checkpoint is: config.json, model.safetensors, vocab.txt."""
    import json

    import torch
    from safetensors.torch import save_file

    from lmcore import bert as B
    from lmcore import checkpoints

    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *"abcdefghijklmnopqrstuvwxyz0123456789.,!?",
        *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"),
    ][:71]
    config = B.BertConfig(
        vocab_size=len(vocab),
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=96,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    ours = B.BertModel(config).state_dict()
    folder.mkdir()
    save_file(
        {theirs: ours[name].contiguous() for theirs, name in checkpoints.hf_name_map(config).items()},
        str(folder / "model.safetensors"),
    )
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", **config.to_dict()}))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 64}))
    return folder, config
