"""lmcore.checkpoints: checkpoint folders read from the local disk only, every file verified,
misfits listed, and fine-tuned classifiers saved and reloaded without their base checkpoint."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from lmcore import bert as B
from lmcore import checkpoints
from lmcore.files import file_sha256


def test_bundled_checkpoint_has_the_official_hash():
    assert file_sha256(checkpoints.default_checkpoint() / "model.safetensors") == checkpoints.MINILM_SHA256


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


def random_checkpoint(folder, poison=None):
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
        model = checkpoints.load_pretrained(random_checkpoint(tmp_path / "tiny"))
    notice = str(notices[0].message)
    assert model.config.hidden_size == 32
    assert "\n" not in notice and "unverified" in notice and "size and header were checked" in notice


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_nan_or_infinite_weights_are_refused(tmp_path, poison):
    with pytest.raises(
        ValueError, match=r"NaN or infinite values in \['encoder.layer.1.output.dense.weight'\]"
    ):
        checkpoints.load_pretrained(random_checkpoint(tmp_path / "poisoned", poison))


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


def test_a_fine_tuned_classifier_reloads_without_its_base_checkpoint(tiny_checkpoint, tmp_path, monkeypatch):
    from lmcore.classify import new_classifier

    torch.manual_seed(0)
    classifier = new_classifier(3, pooling="cls", checkpoint=tiny_checkpoint)
    with torch.no_grad():
        classifier.classifier.weight.add_(1.0)  # as if fine-tuned: not the base checkpoint's
    hashes = checkpoints.save_classifier(classifier, tmp_path / "fine-tuned")
    assert set(hashes) == {checkpoints.CLASSIFIER_CONFIG, "model.safetensors"}
    # the base checkpoint is never read again
    monkeypatch.setattr(checkpoints, "load_pretrained_weights", lambda *a, **k: pytest.fail("read the base"))
    reloaded = checkpoints.load_classifier(
        tmp_path / "fine-tuned", expected_sha256=hashes["model.safetensors"]
    )
    assert not reloaded.training and reloaded.num_labels == 3 and reloaded.pooling == "cls"
    assert reloaded.bert.config == classifier.bert.config
    ids = torch.randint(5, 40, (2, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, classifier.eval()(ids).logits, rtol=0, atol=0)


def test_a_damaged_classifier_folder_is_refused(tiny_checkpoint, tmp_path):
    from lmcore.classify import new_classifier

    folder = tmp_path / "fine-tuned"
    hashes = checkpoints.save_classifier(new_classifier(3, checkpoint=tiny_checkpoint), folder)
    with pytest.raises(ValueError, match="expected"):
        checkpoints.load_classifier(folder, expected_sha256="0" * 64)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        checkpoints.load_classifier(folder)
    (folder / checkpoints.CLASSIFIER_CONFIG).write_text('{"bert": {}')
    with pytest.raises(ValueError, match="classifier.json is damaged"):
        checkpoints.load_classifier(folder)
    assert len(hashes["model.safetensors"]) == 64


def test_the_bundled_checkpoint_passes_the_whole_check():
    config = checkpoints.check_checkpoint()
    assert (config.num_hidden_layers, config.hidden_size) == (6, 384)


def test_an_integer_weight_is_refused_not_cast(tiny_checkpoint, tmp_path):
    def to_integer(state):
        return {**state, "embeddings.LayerNorm.weight": state["embeddings.LayerNorm.weight"].long()}

    folder = _tiny_copy(tiny_checkpoint, tmp_path / "ints", change_state=to_integer)
    for load in (checkpoints.load_pretrained, checkpoints.check_checkpoint):
        with pytest.raises(ValueError, match=r"not floating-point weights: \['embeddings.LayerNorm.weight"):
            load(folder)


@pytest.mark.parametrize("name", ["model.safetensors", "pytorch_model.bin", "model.pt"])
@pytest.mark.parametrize(
    "load",
    [
        checkpoints.load_pretrained,
        checkpoints.load_classifier,
        checkpoints.load_tokenizer,
        checkpoints.load_reference_model,
        checkpoints.check_checkpoint,
    ],
)
def test_a_weights_file_given_for_a_folder_is_named(tiny_checkpoint, tmp_path, name, load):
    given = tmp_path / name
    given.write_bytes((tiny_checkpoint / "model.safetensors").read_bytes())
    with pytest.raises(
        NotADirectoryError, match=rf"{name} is a file; pass the folder that holds config.json"
    ):
        load(given)


@pytest.mark.parametrize("load", [checkpoints.load_reference_model, checkpoints.check_checkpoint])
def test_a_folder_of_pickled_weights_only_is_named(tiny_checkpoint, tmp_path, load):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(
        FileNotFoundError, match=r"no model.safetensors \(lmcore never loads pickled .*'pytorch_model.bin'"
    ):
        load(folder)


def test_a_checkpoint_without_tokenizer_files_says_so(tiny_checkpoint, tmp_path):
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / "vocab.txt").unlink()
    with pytest.raises(FileNotFoundError, match="has no tokenizer: expected tokenizer.json or vocab.txt"):
        checkpoints.load_tokenizer(folder)


def test_the_default_checkpoint_must_have_the_official_hash_for_either_model(checkpoint_copy, monkeypatch):
    """Changed weights where the bundled checkpoint should be are refused, not read with a notice
    as an unknown checkpoint would be: lmcore's model and the reference model alike."""
    weights = checkpoint_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # the last byte of the last tensor: still a valid file, other numbers
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(checkpoints, "default_checkpoint", lambda: checkpoint_copy)
    for load in (checkpoints.load_pretrained, checkpoints.load_reference_model):
        with pytest.raises(ValueError, match=f"expected {checkpoints.MINILM_SHA256}"):
            load()


def test_a_checkpoint_folder_of_other_weights_is_read_as_the_reference_model(checkpoint_copy):
    """Only the bundled checkpoint must have the official hash: other weights given as a folder
    are read (after their layout is checked), the way a fine-tuned checkpoint is."""
    weights = checkpoint_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    model = checkpoints.load_reference_model(checkpoint_copy)
    assert model.config.num_hidden_layers == 6


def test_a_checkpoint_of_another_type_is_named_by_its_type():
    with pytest.raises(
        TypeError, match=r"^checkpoint must be a folder path \(str or Path\) or None; got int$"
    ):
        checkpoints.checkpoint_folder(3)
    with pytest.raises(TypeError, match=r"^model must be an lmcore BertModel; got Linear$"):
        checkpoints.load_pretrained_weights(torch.nn.Linear(2, 2))
    with pytest.raises(
        TypeError, match=r"^classifier must be a BertForSequenceClassification; got BertModel$"
    ):
        checkpoints.save_classifier(
            B.BertModel(B.BertConfig(vocab_size=10, hidden_size=8, num_attention_heads=2)), "x"
        )


def _safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def test_the_safetensors_layout_is_read_from_the_header_alone(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\xff" * 8 + b"{}")  # a length no file has, not a negative one
    with pytest.raises(ValueError) as error:
        checkpoints._check_safetensors_layout(path)
    assert (
        str(error.value)
        == f"{path} is truncated: its header alone needs {8 + 2**64 - 1} bytes, the file has 10"
    )
    path.write_bytes(_safetensors_bytes({"__metadata__": {"format": "pt"}}))  # no tensors, nothing after
    assert checkpoints._check_safetensors_layout(path) == {}
    path.write_bytes(_safetensors_bytes({}, b"\0\0\0"))
    header_end = 8 + len(b"{}")
    with pytest.raises(ValueError) as error:
        checkpoints._check_safetensors_layout(path)
    assert str(error.value) == (
        f"{path} is truncated or padded: its header describes {header_end} bytes, the file has "
        f"{header_end + 3}; copy it again"
    )
    entry = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    path.write_bytes(_safetensors_bytes({"__metadata__": {"format": "pt"}, "w": entry}, b"\0" * 8))
    assert checkpoints._check_safetensors_layout(path) == {"w": entry}


def _tiny_copy(tiny_checkpoint, folder, change_state=None, change_config=None):
    shutil.copytree(tiny_checkpoint, folder)
    if change_state:
        state = load_file(str(folder / "model.safetensors"))
        save_file(change_state(state), str(folder / "model.safetensors"))
    if change_config:
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(change_config(config)))
    return folder


def test_a_misfit_lists_five_of_each_kind_then_dots(tiny_checkpoint, tmp_path):
    names = list(checkpoints.hf_name_map(checkpoints.pretrained_config(tiny_checkpoint)))  # the order listed

    def without(n):
        return lambda state: {k: v for k, v in state.items() if k not in names[:n]}

    def message(folder):
        with pytest.raises(ValueError) as error:
            checkpoints.check_checkpoint(folder)
        return str(error.value)

    five = message(_tiny_copy(tiny_checkpoint, tmp_path / "five", without(5)))
    assert f"missing: {names[:5]}\n" in five
    six = message(_tiny_copy(tiny_checkpoint, tmp_path / "six", without(6)))
    assert f"missing: {names[:5]} ...\n" in six

    def reshaped_and_integer(state):
        for name in names[:6]:
            state[name] = torch.zeros(*state[name].shape, 2)
        for name in names[6:12]:
            state[name] = state[name].long()
        return state

    misfit = message(_tiny_copy(tiny_checkpoint, tmp_path / "misfit", reshaped_and_integer))
    assert misfit.startswith(
        f"checkpoint {tmp_path / 'misfit' / 'model.safetensors'} does not fit its config.json (3 layers"
    )
    assert "missing: []\n" in misfit
    mismatches = misfit.split("shape mismatches: ")[1].split("\n")[0]
    assert len(eval(mismatches)) == 5 and mismatches.startswith(f"['{names[0]}: checkpoint")
    integers = misfit.split("not floating-point weights: ")[1]
    assert eval(integers) == [f"{name}: I64" for name in names[6:11]]


def test_weights_saved_with_their_model_prefix_are_read(tiny_checkpoint, tmp_path):
    """A BertForSequenceClassification's checkpoint names its encoder's tensors "bert.*"."""
    folder = _tiny_copy(
        tiny_checkpoint, tmp_path / "prefixed", lambda state: {f"bert.{k}": v for k, v in state.items()}
    )
    assert checkpoints.check_checkpoint(folder).num_hidden_layers == 3


def test_the_default_checkpoint_is_checked_against_the_pinned_hash(monkeypatch):
    monkeypatch.setattr(checkpoints, "MINILM_SHA256", "0" * 64)  # as if the release had other weights
    with pytest.raises(ValueError, match=f"expected {'0' * 64}"):
        checkpoints.check_checkpoint()


def test_the_unverified_notice_points_at_the_caller_and_shows_16_hex_digits(tmp_path):
    from lmcore.notices import UnverifiedCheckpoint

    weights = random_checkpoint(tmp_path / "tiny") / "model.safetensors"
    with pytest.warns(UnverifiedCheckpoint) as notices:
        checkpoints.verify_weights_file(weights)
    assert notices[0].filename == __file__
    assert str(notices[0].message) == (
        f"model.safetensors in tiny/ is unverified (SHA-256 {file_sha256(weights)[:16]}... is not a known "
        "checkpoint); its size and header were checked"
    )


def test_weights_come_back_in_the_dtype_asked_for(tmp_path):
    with pytest.warns(UserWarning):
        model = checkpoints.load_pretrained(random_checkpoint(tmp_path / "tiny"), dtype=torch.float64)
    assert {p.dtype for p in model.parameters()} == {torch.float64}


def test_six_poisoned_tensors_are_named_five_at_most(tmp_path):
    folder = random_checkpoint(tmp_path / "poisoned")
    state = load_file(str(folder / "model.safetensors"))
    poisoned = sorted(state)[:6]
    for name in poisoned:
        state[name] = torch.full_like(state[name], float("nan"))
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError) as error:
        checkpoints._read_weights(folder / "model.safetensors")
    assert f"NaN or infinite values in {poisoned[:5]}: refusing" in str(error.value)


def test_a_classifier_is_saved_into_new_or_existing_folders_readably_and_reloads_whole(
    tiny_checkpoint, tmp_path
):
    from lmcore.classify import new_classifier

    classifier = new_classifier(4, pooling="mean", checkpoint=tiny_checkpoint)
    nested = tmp_path / "runs" / "news" / "fine-tuned"  # folders made as needed
    checkpoints.save_classifier(classifier, nested)
    checkpoints.save_classifier(classifier, nested)  # and written again into an existing one
    record = (nested / checkpoints.CLASSIFIER_CONFIG).read_text()
    assert record == json.dumps(json.loads(record), indent=2)  # readable: one field per line
    reloaded = checkpoints.load_classifier(nested)
    assert reloaded.pooling == "mean" and reloaded.num_labels == 4
    (nested / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="must hold classifier.json and model.safetensors"):
        checkpoints.load_classifier(nested)


def test_a_classifier_whose_weights_lack_a_tensor_is_refused(tiny_checkpoint, tmp_path):
    from lmcore.classify import new_classifier

    folder = tmp_path / "fine-tuned"
    checkpoints.save_classifier(new_classifier(2, checkpoint=tiny_checkpoint), folder)
    state = load_file(str(folder / "model.safetensors"))
    del state["classifier.bias"]
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(
        ValueError, match=r"(?s)does not fit its classifier.json: .*Missing key\(s\).*classifier.bias"
    ):
        checkpoints.load_classifier(folder)


def test_the_tokenizer_is_the_checkpoints_own(tokenizer, tiny_checkpoint):
    assert tokenizer("hello world")["input_ids"] == [101, 7592, 2088, 102]
    tiny = checkpoints.load_tokenizer(tiny_checkpoint)
    assert tiny.vocab_size == 71 and tiny.vocab_size != tokenizer.vocab_size


def test_the_reference_model_uses_plain_attention(minilm):
    reference = checkpoints.load_reference_model()
    assert reference.config._attn_implementation == "eager"  # its attention weights can be compared
