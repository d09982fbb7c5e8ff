"""lmcore BERT: equal to transformers.BertModel on the real MiniLM weights, safe loading, heads."""

import json
import shutil

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from lmcore import bert as B
from lmcore import checkpoints
from lmcore.files import file_sha256
from tests.reference import tiny_bert_config


@pytest.fixture(scope="module")
def minilm():
    return checkpoints.load_pretrained()


@pytest.fixture(scope="module")
def tokenizer():
    return checkpoints.load_tokenizer()


def test_bundled_checkpoint_has_the_official_hash():
    assert file_sha256(checkpoints.default_checkpoint() / "model.safetensors") == checkpoints.MINILM_SHA256


def test_matches_transformers_on_a_padded_batch(minilm, tokenizer):
    reference = checkpoints.load_reference_model()
    sentences = [
        "Hello world.",
        "A rather longer sentence, with commas, to force some padding in the batch.",
        "Segment A.",
        "Three.",
    ]
    batch = tokenizer(sentences, ["Segment B follows.", "x", "y", "z"], padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = minilm(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], need_weights=True)
        theirs = reference(**batch, output_attentions=True)
    real = batch["attention_mask"].bool()
    assert (ours.last_hidden_state - theirs.last_hidden_state)[real].abs().max() < 1e-4
    assert (ours.pooler_output - theirs.pooler_output).abs().max() < 1e-4
    assert len(ours.attentions) == 6 and ours.attentions[0].shape == (4, 12, real.shape[1], real.shape[1])
    for a, b in zip(ours.attentions, theirs.attentions):
        assert ((a - b) * real[:, None, :, None]).abs().max() < 1e-4
    fused = minilm(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    assert fused.attentions is None
    assert (fused.last_hidden_state - ours.last_hidden_state)[real].abs().max() < 1e-4


def test_padding_does_not_change_real_tokens(minilm, tokenizer):
    alone = tokenizer(["The cat sat."], return_tensors="pt")
    padded = tokenizer(
        ["The cat sat.", "a much longer sentence that forces padding of the first one"],
        padding=True,
        return_tensors="pt",
    )
    n = alone["input_ids"].shape[1]
    with torch.no_grad():
        a = minilm(**alone).last_hidden_state[0]
        b = minilm(**padded).last_hidden_state[0, :n]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_classifier_prediction_is_padding_invariant(minilm, tokenizer, pooling):
    torch.manual_seed(0)
    classifier = B.BertForSequenceClassification(minilm, num_labels=3, pooling=pooling).eval()
    alone = tokenizer(["Padding must not change a prediction."], return_tensors="pt")
    padded = tokenizer(
        ["Padding must not change a prediction.", "short", "a " * 40], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        torch.testing.assert_close(
            classifier(**alone).logits[0], classifier(**padded).logits[0], atol=1e-5, rtol=1e-5
        )


def test_pretraining_heads_shapes_and_weight_tying():
    config = tiny_bert_config(vocab_size=100, num_hidden_layers=2, max_position_embeddings=20)
    model = B.BertForPreTraining(config)
    assert model.mlm_head.word_embeddings.weight is model.bert.embeddings.word_embeddings.weight
    ids = torch.randint(5, 100, (3, 7))
    output = model(ids)
    assert output.logits.shape == (3, 7, 100) and output.seq_relationship_logits.shape == (3, 2)
    assert output.loss is None and output.attentions is None
    assert model.bert.embeddings.word_embeddings.weight.std() < 0.05  # BERT's N(0, 0.02) init


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda m: m(torch.ones(2, 513, dtype=torch.long)),
            r"input_ids has length 513, longer than the model allows \(max_position_embeddings=512\)",
        ),
        (
            lambda m: m(torch.full((1, 3), 40_000)),
            r"input_ids must lie in \[0, 30522\); got values from 40000",
        ),
        (lambda m: m(torch.ones(1, 3)), r"integer token ids \(int64 or int32\); got dtype torch.float32"),
        (
            lambda m: m(torch.ones(1, 3, dtype=torch.long), torch.ones(1, 4)),
            r"attention_mask must have the shape of input_ids \(1, 3\); got \(1, 4\)",
        ),
        (lambda m: m(torch.ones(1, 0, dtype=torch.long)), r"empty sequence"),
        (lambda m: m(torch.ones(3, dtype=torch.long)), r"input_ids must have 2 dimensions"),
        (
            lambda m: m(torch.ones(1, 3, dtype=torch.long), None, torch.full((1, 3), 2)),
            r"token_type_ids must lie in \[0, 2\)",
        ),
    ],
)
def test_bad_inputs(minilm, call, message):
    with pytest.raises(TypeError if "dtype" in message else ValueError, match=message):
        call(minilm)


def test_classifier_rejects_bad_options(minilm):
    with pytest.raises(ValueError, match="pooling must be 'cls' or 'mean'"):
        B.BertForSequenceClassification(minilm, 2, pooling="max")
    with pytest.raises(ValueError, match="num_labels must be an int of at least 2"):
        B.BertForSequenceClassification(minilm, 1)


# -------------------------------------------------------------- loading errors


@pytest.fixture
def checkpoint_copy(tmp_path):
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    for name in (
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ):
        shutil.copy(checkpoints.default_checkpoint() / name, folder / name)
    return folder


def test_loads_a_folder_and_checks_a_given_hash(checkpoint_copy):
    model = checkpoints.load_pretrained(checkpoint_copy)
    assert model.config.num_hidden_layers == 6
    with pytest.raises(ValueError, match="has SHA-256 .* expected 0000"):
        checkpoints.load_pretrained(checkpoint_copy, expected_sha256="0" * 64)


def test_missing_unexpected_and_mismatched_tensors_are_all_listed(checkpoint_copy):
    state = load_file(str(checkpoint_copy / "model.safetensors"))
    del state["encoder.layer.3.output.dense.weight"]
    state["encoder.layer.9.extra.weight"] = torch.zeros(2)
    state["pooler.dense.bias"] = torch.zeros(7)
    save_file(state, str(checkpoint_copy / "model.safetensors"))
    with pytest.raises(ValueError) as error:
        checkpoints.load_pretrained(checkpoint_copy)
    message = str(error.value)
    assert "missing: ['encoder.layer.3.output.dense.weight']" in message
    assert "unexpected: ['encoder.layer.9.extra.weight']" in message
    assert "pooler.dense.bias: checkpoint (7,) vs model (384,)" in message


def test_never_loads_pickles(checkpoint_copy):
    (checkpoint_copy / "model.safetensors").rename(checkpoint_copy / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="no model.safetensors .*never loads pickled"):
        checkpoints.load_pretrained(checkpoint_copy)


def test_config_checks(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="describes a 'gpt2' model"):
        B.BertConfig.from_json(tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoints.load_pretrained(tmp_path / "nowhere")


def test_a_known_hash_compares_in_any_letter_case(checkpoint_copy):
    checkpoints.load_pretrained(checkpoint_copy, expected_sha256=checkpoints.MINILM_SHA256.upper())


def test_a_file_where_a_folder_is_expected_is_named(checkpoint_copy):
    with pytest.raises(NotADirectoryError, match=r"model.safetensors is a file; pass the folder"):
        checkpoints.load_pretrained(checkpoint_copy / "model.safetensors")


@pytest.mark.parametrize("keep", [4, 5_000, -1000])  # inside the length prefix, the header, the tensors
def test_a_truncated_weights_file_names_the_file_and_the_problem(checkpoint_copy, keep):
    weights = checkpoint_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:keep])
    with pytest.raises(
        ValueError, match=r"model.safetensors (is truncated|has a damaged safetensors header)"
    ):
        checkpoints.load_pretrained(checkpoint_copy)


def test_a_cut_off_config_names_the_file(checkpoint_copy):
    config = checkpoint_copy / "config.json"
    config.write_text(config.read_text()[:40])
    with pytest.raises(ValueError, match=r"config.json is not valid JSON .*cut off"):
        checkpoints.load_pretrained(checkpoint_copy)


def tiny_checkpoint(folder, poison=None):
    """A small random BERT saved under Hugging Face's tensor names, as a checkpoint folder."""
    config = B.BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = B.BertModel(config)
    ours = model.state_dict()
    state = {theirs: ours[name].clone() for theirs, name in checkpoints.hf_name_map(config).items()}
    if poison is not None:
        state["encoder.layer.1.output.dense.weight"][0, 0] = poison
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", **config.to_dict()}))
    return folder


def test_an_unknown_checkpoint_loads_with_a_one_line_notice(tmp_path):
    from lmcore.notices import UnverifiedCheckpoint

    with pytest.warns(UnverifiedCheckpoint) as notices:
        model = checkpoints.load_pretrained(tiny_checkpoint(tmp_path / "tiny"))
    notice = str(notices[0].message)
    assert model.config.hidden_size == 32
    assert "\n" not in notice and "unverified" in notice and "size and header were checked" in notice


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_nan_or_infinite_weights_are_refused(tmp_path, poison):
    with pytest.raises(
        ValueError, match=r"NaN or infinite values in \['encoder.layer.1.output.dense.weight'\]"
    ):
        checkpoints.load_pretrained(tiny_checkpoint(tmp_path / "poisoned", poison))


NO_NETWORK = """
import socket
def refuse(*args, **kwargs):
    raise AssertionError("a network connection was attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
from lmcore import checkpoints
from lmcore.files import file_sha256
for call in (checkpoints.load_pretrained, checkpoints.load_tokenizer, checkpoints.load_reference_model):
    try:
        call("checkpoints/minilm")
    except FileNotFoundError as error:
        assert "does not exist" in str(error) and "never from a model hub" in str(error), error
    else:
        raise AssertionError(f"{call.__name__} found a folder that does not exist")
checkpoints.load_pretrained(); checkpoints.load_tokenizer(); checkpoints.load_reference_model()
print("local only")
"""


def test_nothing_is_looked_up_on_a_hub(tmp_path):
    """A relative path that does not exist is an error, never a hub id: checked with sockets
    refused in-process, and with the network namespace cut off where `unshare` allows it."""
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HF_")}
    command = [sys.executable, "-c", NO_NETWORK]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "local only" in result.stdout, result.stderr[-2000:]
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        result = subprocess.run(
            [unshare, "-rn"] + command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0 and "local only" in result.stdout, result.stderr[-2000:]


def test_matches_transformers_in_float64_with_random_non_zero_parameters(tmp_path):
    """A tiny random BERT (every bias and LayerNorm gain random, not 0 or 1) saved as a checkpoint
    and read by load_pretrained equals transformers' BertModel in float64: a bias or LayerNorm in
    the wrong place cannot hide behind default initial values or float32 tolerances."""
    from tests.reference import randomize_parameters

    transformers = checkpoints._transformers()
    config = transformers.BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=32,
        max_position_embeddings=24,
        layer_norm_eps=1e-6,
    )
    theirs = randomize_parameters(transformers.BertModel(config, add_pooling_layer=True), seed=3)
    theirs = theirs.double().eval()
    state = {
        name: tensor.float().contiguous()
        for name, tensor in theirs.state_dict().items()
        if name != "embeddings.position_ids"
    }
    tmp_path.joinpath("tiny").mkdir()
    save_file(state, str(tmp_path / "tiny" / "model.safetensors"))
    (tmp_path / "tiny" / "config.json").write_text(config.to_json_string())
    ours = checkpoints.load_pretrained(tmp_path / "tiny", dtype=torch.float64)
    theirs.load_state_dict(
        {k: v.double() for k, v in state.items()}, strict=False
    )  # same float32-rounded values
    ids = torch.randint(0, 64, (3, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[1, 6:] = 0
    types = (torch.arange(10) >= 5).long().expand(3, 10)
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
        got = ours(ids, mask, types)
    real = mask.bool()
    torch.testing.assert_close(
        got.last_hidden_state[real], expected.last_hidden_state[real], rtol=1e-9, atol=1e-9
    )
    torch.testing.assert_close(got.pooler_output, expected.pooler_output, rtol=1e-9, atol=1e-9)


def test_classifier_features_are_the_pooled_or_masked_mean_vectors():
    from tests.reference import randomize_parameters

    config = tiny_bert_config()
    bert = randomize_parameters(B.BertModel(config), seed=2).eval()
    ids = torch.randint(1, 60, (2, 6), generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    types = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        output = bert(ids, mask, types)
        mean = B.BertForSequenceClassification(bert, 3, pooling="mean").eval().features(ids, mask, types)
        cls = B.BertForSequenceClassification(bert, 3, pooling="cls").eval().features(ids, mask, types)
    torch.testing.assert_close(cls, output.pooler_output)
    torch.testing.assert_close(mean[0], output.last_hidden_state[0].mean(0))
    torch.testing.assert_close(mean[1], output.last_hidden_state[1, :3].mean(0))  # padding left out
    with torch.no_grad():
        without_types = B.BertForSequenceClassification(bert, 3, pooling="mean").eval().features(ids, mask)
    assert not torch.allclose(without_types, mean)  # segment ids are passed through


@pytest.mark.parametrize("problem", ["missing", "unexpected", "mismatched"])
def test_each_kind_of_misfit_alone_is_refused(checkpoint_copy, problem):
    state = load_file(str(checkpoint_copy / "model.safetensors"))
    if problem == "missing":
        del state["encoder.layer.0.attention.self.key.bias"]
    elif problem == "unexpected":
        state["encoder.extra.weight"] = torch.zeros(2)
    else:
        state["embeddings.LayerNorm.bias"] = torch.zeros(3)
    save_file(state, str(checkpoint_copy / "model.safetensors"))
    with pytest.raises(ValueError, match=r"does not fit BertModel"):
        checkpoints.load_pretrained(checkpoint_copy)


def test_pretraining_checkpoint_names_are_read(checkpoint_copy):
    """Checkpoints saved from BertForPreTraining prefix the encoder with "bert." and carry "cls."
    heads: the prefix is removed and the heads are ignored."""
    state = load_file(str(checkpoint_copy / "model.safetensors"))
    state = {f"bert.{name}": tensor for name, tensor in state.items()}
    state["cls.predictions.bias"] = torch.zeros(30522)
    save_file(state, str(checkpoint_copy / "model.safetensors"))
    model = checkpoints.load_pretrained(checkpoint_copy)
    reference = checkpoints.load_pretrained()
    torch.testing.assert_close(
        model.embeddings.word_embeddings.weight, reference.embeddings.word_embeddings.weight
    )


def test_the_bundled_checkpoint_is_verified_by_default(checkpoint_copy, monkeypatch):
    weights = checkpoint_copy / "model.safetensors"
    state = load_file(str(weights))
    state["pooler.dense.bias"] = state["pooler.dense.bias"] + 1.0  # a valid file, but not the release
    save_file(state, str(weights))
    monkeypatch.setattr(checkpoints, "default_checkpoint", lambda: checkpoint_copy)
    with pytest.raises(ValueError, match=f"expected {checkpoints.MINILM_SHA256}"):
        checkpoints.load_pretrained()


def test_a_padded_weights_file_is_refused(checkpoint_copy):
    weights = checkpoint_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(
        ValueError, match=r"truncated or padded: its header describes (\d+) bytes, the file has (\d+)"
    ):
        checkpoints.load_pretrained(checkpoint_copy)
    size = weights.stat().st_size
    with pytest.raises(ValueError) as error:
        checkpoints.load_pretrained(checkpoint_copy)
    assert f"describes {size - 1} bytes, the file has {size}" in str(error.value)


def test_heads_compute_what_they_say_with_random_non_zero_parameters():
    """The MLM head is LayerNorm(GELU(dense(h))) @ E^T + b with the token embeddings E tied, the
    NSP head reads the pooled vector; with every bias random a sign or a missing term shows."""
    from tests.reference import randomize_parameters

    config = tiny_bert_config(vocab_size=40, max_position_embeddings=16, layer_norm_eps=1e-06)
    model = randomize_parameters(B.BertForPreTraining(config), seed=4).eval()
    ids = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(0))  # the longest allowed
    with torch.no_grad():
        prediction = model(ids)
        mlm, nsp = prediction.logits, prediction.seq_relationship_logits
        output = model.bert(ids)
        head = model.mlm_head
        transformed = torch.nn.functional.layer_norm(
            torch.nn.functional.gelu(head.dense(output.last_hidden_state)),
            (16,),
            head.norm.weight,
            head.norm.bias,
            1e-6,
        )
        expected = transformed @ model.bert.embeddings.word_embeddings.weight.T + head.bias
    torch.testing.assert_close(mlm, expected)
    torch.testing.assert_close(nsp, model.nsp_head(output.pooler_output))


def test_every_bert_model_computes_its_loss_from_labels():
    """``model(..., labels=...).loss`` is the cross-entropy a reader would write by hand; the
    pretraining model scores the masked positions only, in the labels' order."""
    config = tiny_bert_config(vocab_size=50)
    torch.manual_seed(0)
    ids = torch.randint(5, 50, (3, 12))
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[2, 8:] = 0
    labels = torch.full((3, 12), B.IGNORE_INDEX)
    labels[0, 3], labels[1, 5], labels[2, 1] = 7, 9, 11
    next_sentence = torch.tensor([0, 1, 0])
    model = B.BertForPreTraining(config).eval()
    with torch.no_grad():
        full = model(ids, mask)
        trained = model(ids, mask, labels=labels, next_sentence_label=next_sentence, need_weights=True)
    picked = labels != B.IGNORE_INDEX
    torch.testing.assert_close(trained.logits, full.logits[picked])
    expected_mlm = F.cross_entropy(full.logits[picked], labels[picked])
    expected_nsp = F.cross_entropy(full.seq_relationship_logits, next_sentence)
    torch.testing.assert_close(trained.mlm_loss, expected_mlm)
    torch.testing.assert_close(trained.loss, expected_mlm + expected_nsp)
    assert len(trained.attentions) == 1 and trained.attentions[0].shape == (3, 2, 12, 12)

    classifier = B.BertForSequenceClassification(B.BertModel(config), num_labels=4, pooling="mean").eval()
    classes = torch.tensor([0, 3, 2])
    with torch.no_grad():
        output = classifier(ids, mask, labels=classes)
    torch.testing.assert_close(output.loss, F.cross_entropy(output.logits, classes))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        classifier(ids, mask, labels=torch.tensor([0, 4, 1]))


def test_masked_mean_ignores_padding():
    hidden = torch.arange(24.0).reshape(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    mean = B.masked_mean(hidden, mask)
    torch.testing.assert_close(mean[0], hidden[0, :2].mean(0))
    torch.testing.assert_close(mean[1], hidden[1].mean(0))
    torch.testing.assert_close(B.masked_mean(hidden, None), hidden.mean(1))
