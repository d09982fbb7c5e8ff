"""Classification helpers, the ensemble, and the project's command-line entry on a tiny run."""

import json
import os
import re
import shutil
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from lmcore import bert as B
from lmcore import checkpoints, classify, project
from lmcore.classify import (
    average_views,
    encode_texts,
    encode_windows,
    freeze_lower_layers,
    geometric_ensemble,
    length_bucketed_batches,
    most_confused_pairs,
    new_classifier,
    predict_proba,
    predict_texts,
    scores,
    tfidf_baseline,
)
from lmcore.newsgroups import load_20newsgroups
from lmcore.outputs import ModelOutput
from lmcore.project import (
    RECIPES,
    FinishedRunExists,
    ProjectConfig,
    check_output_folder,
    inspect_run_folder,
    load_finished_run,
    load_run_results,
    main,
    publish_run,
    run_project,
)


@pytest.fixture(scope="module")
def tokenizer():
    return checkpoints.load_tokenizer()


def test_encode_texts_truncates_head_or_head_and_tail(tokenizer):
    text = " ".join(f"w{i}" for i in range(300))
    head = encode_texts(tokenizer, [text], max_length=20)[0]
    both = encode_texts(tokenizer, [text], max_length=20, truncation="head+tail")[0]
    assert len(head) == len(both) == 20
    assert head[0] == tokenizer.cls_token_id and head[-1] == tokenizer.sep_token_id
    full = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert head[1:-1] == full[:18]
    assert both[1:5] == full[:4] and both[5:-1] == full[-14:]
    half = encode_texts(tokenizer, [text], max_length=20, truncation="head+tail", head_share=0.5)[0]
    assert half[1:10] == full[:9] and half[10:-1] == full[-9:]
    assert len(encode_texts(tokenizer, ["short text"], max_length=20)[0]) == 4
    with pytest.raises(ValueError, match="truncation must be one of"):
        encode_texts(tokenizer, ["x"], 20, truncation="tail")


def test_encode_windows_cover_a_long_text_from_first_to_last_token(tokenizer):
    long_text, short_text = " ".join(f"w{i}" for i in range(300)), "short text"
    full = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    encodings, owners = encode_windows(tokenizer, [long_text, short_text], 20, "head+tail", windows=3)
    # first the views encode_texts gives, then the long text's three windows; the short one fits
    assert encodings[:2] == encode_texts(tokenizer, [long_text, short_text], 20, "head+tail")
    assert owners == [0, 1, 0, 0, 0]
    windows = [ids[1:-1] for ids in encodings[2:]]
    assert all(len(ids) == 18 for ids in windows)
    assert windows[0] == full[:18] and windows[-1] == full[-18:]
    # the head share changes the truncated view only
    shared, _ = encode_windows(tokenizer, [long_text], 20, "head+tail", windows=3, head_share=0.5)
    assert shared[0] != encodings[0] and shared[1:] == encodings[2:]
    middle = (len(full) - 18) // 2
    assert windows[1] == full[middle : middle + 18] or windows[1] == full[middle + 1 : middle + 19]
    # never more windows than it takes to cover the text
    _, owners = encode_windows(tokenizer, [" ".join(f"w{i}" for i in range(12))], 20, windows=5)
    assert owners.count(0) <= 1 + 2
    assert encode_windows(tokenizer, [long_text], 20, windows=0) == (
        encode_texts(tokenizer, [long_text], 20),
        [0],
    )
    with pytest.raises(ValueError, match="windows must be a non-negative integer"):
        encode_windows(tokenizer, [long_text], 20, windows=-1)


def test_predict_texts_averages_the_views_of_each_text(tokenizer):
    torch.manual_seed(0)
    classifier = B.BertForSequenceClassification(
        B.BertModel(
            B.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
        ),
        3,
    )
    texts = [" ".join(f"w{i}" for i in range(100)), "a short one"]
    encodings, owners = encode_windows(tokenizer, texts, 24, "head+tail", windows=2)
    views = predict_proba(classifier, length_bucketed_batches(encodings, None, 8, seed=None))
    averaged = predict_texts(classifier, tokenizer, texts, 24, "head+tail", windows=2)
    np.testing.assert_allclose(averaged[0], views[np.array(owners) == 0].mean(0), rtol=1e-6)
    np.testing.assert_allclose(averaged[1], views[1], rtol=1e-6)
    np.testing.assert_allclose(averaged.sum(1), 1.0, rtol=1e-6)
    # another head share reads other views of the long text (the one the model was trained on)
    half_views, half_owners = encode_windows(tokenizer, texts, 24, "head+tail", windows=2, head_share=0.5)
    half = predict_texts(classifier, tokenizer, texts, 24, "head+tail", windows=2, head_share=0.5)
    expected = average_views(
        predict_proba(classifier, length_bucketed_batches(half_views, None, 8, seed=None)), half_owners, 2
    )
    np.testing.assert_allclose(half, expected, rtol=1e-6)
    assert half_views[0] != encodings[0]  # the truncated view itself changed
    with pytest.raises(ValueError, match="owners must name every text"):
        average_views(views, owners, 3)
    with pytest.raises(ValueError, match="rows of probabilities but"):
        average_views(views, owners[:-1], 2)


def test_fine_tune_trains_and_validates_on_views_of_the_head_share_it_is_given(tokenizer, monkeypatch):
    shares = []
    real_encode_texts = classify.encode_texts

    def recording_encode_texts(tokenizer, texts, max_length, truncation="head", head_share=0.25):
        shares.append(head_share)
        return real_encode_texts(tokenizer, texts, max_length, truncation, head_share)

    monkeypatch.setattr(classify, "encode_texts", recording_encode_texts)
    torch.manual_seed(0)
    classifier = B.BertForSequenceClassification(
        B.BertModel(
            B.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
        ),
        2,
    )
    texts, labels = [" ".join(f"w{i}" for i in range(60)), "a short one"], [0, 1]
    classify.fine_tune(
        classifier,
        tokenizer,
        texts,
        labels,
        max_length=24,
        truncation="head+tail",
        head_share=0.5,
        epochs=1,
        batch_size=2,
        validation=(texts, labels),
    )
    assert shares == [0.5, 0.5]  # the training texts, then the validation texts


def test_length_buckets_pad_little_and_keep_every_text_once():
    encodings = [[101] + [5] * n + [102] for n in np.random.default_rng(0).integers(1, 200, 500)]
    batches = length_bucketed_batches(encodings, list(range(500)), batch_size=16, seed=0)
    seen = torch.cat([b["index"] for b in batches]).tolist()
    assert sorted(seen) == list(range(500))
    padded = sum(b["input_ids"].numel() for b in batches)
    real = sum(len(e) for e in encodings)
    assert padded < 1.15 * real  # naive padding to the longest text would cost far more
    for b in batches:
        assert b["labels"].tolist() == b["index"].tolist()
        assert (b["attention_mask"].sum(1) == torch.tensor([len(encodings[i]) for i in b["index"]])).all()
    with pytest.raises(ValueError, match="got 2 texts but 1 labels"):
        length_bucketed_batches([[1], [2]], [0], 4)


def test_predict_proba_restores_order():
    class Echo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask):
            logits = torch.stack([attention_mask.sum(1).float(), torch.zeros(len(input_ids))], 1)
            return ModelOutput(logits=logits)

    encodings = [[1] * n for n in (5, 2, 9, 3)]
    probabilities = predict_proba(Echo(), length_bucketed_batches(encodings, None, 2, seed=3))
    expected = torch.tensor([[5.0, 0], [2, 0], [9, 0], [3, 0]]).softmax(-1).numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6)


def test_geometric_ensemble_and_scores():
    a = np.array([[0.9, 0.1], [0.4, 0.6]])
    b = np.array([[0.6, 0.4], [0.9, 0.1]])
    np.testing.assert_allclose(geometric_ensemble(a, b, 1.0), a)
    np.testing.assert_allclose(geometric_ensemble(a, b, 0.0), b)
    mixed = geometric_ensemble(a, b, 0.5)
    np.testing.assert_allclose(mixed.sum(1), 1.0)
    assert scores([0, 1, 1], [0, 1, 0])["accuracy"] == pytest.approx(2 / 3)


def test_tfidf_baseline_learns_a_toy_task():
    texts = ["rocket orbit launch"] * 20 + ["goalie puck ice"] * 20
    labels = [0] * 20 + [1] * 20
    predictions, probabilities, _ = tfidf_baseline(texts, labels, ["orbit of the rocket", "puck on ice"])
    assert predictions.tolist() == [0, 1] and probabilities.shape == (2, 2)


def test_config_validation():
    with pytest.raises(ValueError, match="setting must be one of"):
        ProjectConfig(setting="no-headers")


@pytest.mark.skipif(not os.environ.get("LMCORE_DATA"), reason="needs LMCORE_DATA (CI sets it)")
def test_command_line_entry_writes_metrics_and_confusion_matrix_and_is_reused(tmp_path, capsys):
    arguments = [
        "--setting",
        "removed",
        "--max-length",
        "32",
        "--epochs",
        "1",
        "--train-limit",
        "320",
        "--test-limit",
        "64",
        "--test-windows",
        "2",
        "--output",
        str(tmp_path),
    ]
    main(arguments)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["test"]) == {"tfidf_svm", "bert", "ensemble"}
    assert metrics["n_test"] == 64 and metrics["n_train"] + metrics["n_validation"] == 320
    assert 0.0 <= metrics["validation"]["ensemble_weight"] <= 1.0
    rows = (tmp_path / "confusion_matrix.csv").read_text().strip().splitlines()
    assert len(rows) == 21 and sum(int(v) for row in rows[1:] for v in row.split(",")[1:]) == 64
    assert (tmp_path / "probabilities.npz").exists() and (tmp_path / "model.safetensors").exists()

    # what chapter 5 does: the same configuration and folder read the command line's run back
    announcement = capsys.readouterr().out
    assert re.search(
        r"One training step of \(\d+, \d+\) tokens took \d+\.\d\d s here, so fine-tuning and prediction should "
        r"take about \d+ (s|min)",
        announcement,
    )
    config = replace(
        RECIPES["removed"], max_length=32, epochs=1, train_limit=320, test_limit=64, test_windows=2
    )
    assert metrics["config"] == asdict(config)  # options left out take the book's recipe
    reused = run_project(config, output_dir=tmp_path)
    assert "reused the finished run of" in capsys.readouterr().out
    assert reused["reused_from"] == project._shown(tmp_path) and reused["test"] == metrics["test"]
    assert len(reused["test_texts"]) == 64
    probabilities = predict_texts(
        reused["model"], reused["tokenizer"], reused["test_texts"], 32, "head+tail", windows=2
    )
    np.testing.assert_allclose(probabilities, reused["arrays"]["bert_test"], atol=1e-5)
    one_view = predict_texts(reused["model"], reused["tokenizer"], reused["test_texts"], 32, "head+tail")
    np.testing.assert_allclose(one_view, reused["arrays"]["bert_test_one_view"], atol=1e-5)
    assert (
        metrics["test_one_view"]["bert"]["accuracy"]
        == (one_view.argmax(1) == reused["arrays"]["test_labels"]).mean()
    )
    # a different configuration is not mistaken for it, and never replaces it
    other = ProjectConfig(**{**config.__dict__, "seed": 1})
    with pytest.raises(FinishedRunExists, match=r"another configuration \(seed: 0 there, 1 now\)"):
        load_finished_run(tmp_path, other)
    with pytest.raises(SystemExit):  # the command line stops before loading anything
        main([*arguments, "--seed", "1"])
    assert "seed: 0 there, 1 now" in capsys.readouterr().err
    check_damage_is_found_and_runs_are_never_lost(tmp_path, config, capsys)
    check_published_results_are_verified(tmp_path, config, reused)


def check_published_results_are_verified(finished, config, reused):
    """A published copy holds the results without the weights, hash-checked when read back."""
    published = publish_run(finished, finished.parent / "published")
    assert sorted(p.name for p in published.iterdir()) == [
        "confusion_matrix.csv",
        "manifest.json",
        "metrics.json",
        "probabilities.npz",
    ]
    results = load_run_results(published, config)
    assert results["test"] == reused["test"] and results["test_texts"] == reused["test_texts"]
    np.testing.assert_array_equal(results["arrays"]["bert_test"], reused["arrays"]["bert_test"])
    assert load_finished_run(published, config) is None  # no weights: nothing to reuse as a model
    with pytest.raises(FinishedRunExists, match="seed: 0 there, 1 now"):
        load_run_results(published, replace(config, seed=1))
    arrays = bytearray((published / "probabilities.npz").read_bytes())
    arrays[len(arrays) // 2] ^= 0x01
    (published / "probabilities.npz").write_bytes(bytes(arrays))
    with pytest.raises(ValueError, match="probabilities.npz does not match its SHA-256"):
        load_run_results(published)


def check_damage_is_found_and_runs_are_never_lost(finished, config, capsys):
    """Every file of a finished run is hash-checked before reuse; damage means training again."""
    base = finished.parent / "copies"

    def copy(name):
        folder = base / name
        shutil.copytree(finished, folder)
        return folder

    flipped = copy("flipped")
    weights = bytearray((flipped / "model.safetensors").read_bytes())
    weights[len(weights) // 2] ^= 0x01
    (flipped / "model.safetensors").write_bytes(bytes(weights))
    assert load_finished_run(flipped, config) is None
    assert "model.safetensors does not match its SHA-256" in capsys.readouterr().err

    half = copy("half-written")
    metrics = (half / "metrics.json").read_text()
    (half / "metrics.json").write_text(metrics[: len(metrics) // 2])
    assert load_finished_run(half, config) is None
    assert "metrics.json does not match its SHA-256" in capsys.readouterr().err

    unfinished = copy("unfinished")  # killed before its manifest was written
    (unfinished / "manifest.json").unlink()
    assert load_finished_run(unfinished, config) is None
    assert "no manifest.json: an unfinished run" in capsys.readouterr().err

    replaced = copy("overwrite")
    other = ProjectConfig(**{**config.__dict__, "seed": 1})
    check_output_folder(replaced, other, overwrite=True)  # --overwrite: the old run no longer counts
    assert inspect_run_folder(replaced) == (
        None,
        f"{project._shown(replaced)} holds "
        "['metrics.json', 'confusion_matrix.csv', 'probabilities.npz', "
        "'model.safetensors'] but no manifest.json: an unfinished run",
    )


def tiny_checkpoint_with_its_own_tokenizer(folder):
    """A 3-layer, 48-wide random BERT with a 71-piece character vocabulary, saved the way a
    Hugging Face checkpoint is: config.json, model.safetensors, vocab.txt."""
    from safetensors.torch import save_file

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


@pytest.mark.skipif(not os.environ.get("LMCORE_DATA"), reason="needs LMCORE_DATA (CI sets it)")
def test_the_command_line_runs_on_another_checkpoint_given_as_one_argument(tmp_path, capsys):
    folder, tiny = tiny_checkpoint_with_its_own_tokenizer(tmp_path / "tiny")
    arguments = [
        "--setting",
        "removed",
        "--checkpoint",
        str(folder),
        "--epochs",
        "1",
        "--train-limit",
        "320",
        "--test-limit",
        "40",
        "--test-windows",
        "1",
        "--output",
        str(tmp_path / "run"),
    ]
    with pytest.raises(
        SystemExit
    ):  # its position embeddings stop at 64 tokens: the recipe's length is refused
        main(arguments)
    expected = f"--max-length must be at most 64, the model's limit; got {RECIPES['removed'].max_length}"
    assert expected in capsys.readouterr().err
    main([*arguments, "--max-length", "32"])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["config"]["checkpoint"] == str(folder) and metrics["n_test"] == 40
    config = ProjectConfig(**metrics["config"])
    reused = load_finished_run(tmp_path / "run", config)
    assert reused["model"].bert.config.hidden_size == 48 and len(reused["model"].bert.encoder.layers) == 3
    assert len(reused["tokenizer"]) == tiny.vocab_size
    probabilities = predict_texts(
        reused["model"], reused["tokenizer"], reused["test_texts"], 32, "head+tail", windows=1
    )
    np.testing.assert_allclose(probabilities, reused["arrays"]["bert_test"], atol=1e-5)


def test_frozen_layers_keep_their_pretrained_weights():
    classifier = freeze_lower_layers(new_classifier(4, dropout=0.0), 2)
    frozen = {n: p.detach().clone() for n, p in classifier.named_parameters() if not p.requires_grad}
    assert frozen and all(
        n.startswith(("bert.embeddings.", "bert.encoder.layers.0.", "bert.encoder.layers.1.")) for n in frozen
    )
    trainable = [n for n, p in classifier.named_parameters() if p.requires_grad]
    assert any(n.startswith("bert.encoder.layers.2.") for n in trainable) and "classifier.weight" in trainable
    ids = torch.randint(1000, 2000, (4, 12), generator=torch.Generator().manual_seed(0))
    batches = [
        {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1, 2, 3])}
    ]
    from lmcore.classify import classification_loss
    from lmcore.train import fit

    before = {n: p.detach().clone() for n, p in classifier.named_parameters() if p.requires_grad}
    fit(classifier, batches, classification_loss, epochs=2, lr=1e-3, progress=False)
    after = dict(classifier.named_parameters())
    assert all(torch.equal(after[n], value) for n, value in frozen.items())
    assert any(not torch.equal(after[n], value) for n, value in before.items())
    with pytest.raises(ValueError, match="layers must be at most the model's 6 encoder layers; got 7"):
        freeze_lower_layers(new_classifier(4), 7)


def test_a_finished_run_of_another_configuration_is_never_overwritten(tmp_path, capsys):
    """Called as a library with reuse=False into a folder holding another finished run, the new
    run is written beside it; each file is written atomically and the manifest last."""
    import torch

    def write(config, seed_value):
        results = {"config": config.__dict__, "names": ["a", "b"], "finished": f"run {seed_value}"}
        arrays = {"test_labels": np.array([0, 1]), "p": np.array([[0.9, 0.1], [0.2, 0.8]])}
        project.write_outputs(
            tmp_path / "run", results, arrays, {"ensemble": np.array([0, 1])}, torch.nn.Linear(2, 2)
        )

    write(ProjectConfig(seed=0), 0)
    first, _ = inspect_run_folder(tmp_path / "run")
    assert first is not None and set(first["files"]) == set(project.RUN_FILES)
    write(ProjectConfig(seed=1), 1)
    assert inspect_run_folder(tmp_path / "run")[0] == first  # untouched
    beside = [p for p in tmp_path.iterdir() if p.name.startswith("run-")]
    assert len(beside) == 1 and inspect_run_folder(beside[0])[0]["config"]["seed"] == 1
    assert "written beside it" in capsys.readouterr().err
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--train-limit", "0"], "--train-limit must be an int of at least 1; got 0"),
        (["--train-limit", "-5"], "--train-limit must be an int of at least 1; got -5"),
        (["--test-limit", "0"], "--test-limit must be an int of at least 1"),
        (["--max-length", "600"], "--max-length must be at most 512"),
        (["--max-length", "4"], "--max-length must be at least 8"),
        (["--dropout", "1.0"], r"--dropout must be a number in \[0, 1\); got 1.0"),
        (["--lr", "0"], "--lr must be a finite number greater than 0"),
        (["--epochs", "0"], "--epochs must be an int of at least 1"),
        (["--batch-size", "-1"], "--batch-size must be an int of at least 1"),
        (["--test-windows", "-1"], "--test-windows must be an int of at least 0"),
        (["--lr", "nan"], "--lr must be a finite number"),
    ],
)
def test_the_command_line_checks_every_argument_before_any_work(tmp_path, capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_:
        main([*arguments, "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2 and re.search(message, capsys.readouterr().err)


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit):
        main(["--output", str(blocker / "out")])
    err = capsys.readouterr().err
    assert "--output" in err and "cannot be created or written" in err


def test_most_confused_pairs():
    matrix = np.array([[5, 3, 0], [1, 6, 0], [0, 4, 2]])
    pairs = most_confused_pairs(matrix, ["a", "b", "c"], top=2)
    assert pairs[["true class", "predicted as", "messages"]].values.tolist() == [["c", "b", 4], ["a", "b", 3]]
    assert pairs["share of the true class"].tolist() == [4 / 6, 3 / 8]
    with pytest.raises(ValueError, match="must be 3 x 3"):
        most_confused_pairs(matrix[:2], ["a", "b", "c"])


@pytest.mark.skipif(not os.environ.get("LMCORE_DATA"), reason="needs LMCORE_DATA (CI sets it)")
@pytest.mark.parametrize("setting", sorted(RECIPES))
def test_the_books_published_runs_are_intact_and_made_with_the_recipe(setting):
    """Chapter 5 shows these: a changed recipe, or a damaged file, must be caught here first."""
    results = load_run_results(project.published_run_dir(setting), RECIPES[setting])
    assert results["n_test"] == len(results["test_texts"]) == 7532
    assert results["arrays"]["bert_test"].shape == (7532, 20)
    assert (
        results["arrays"]["test_labels"]
        == np.array(load_20newsgroups("test", remove=project.SETTINGS[setting]).labels)
    ).all()
