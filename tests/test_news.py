"""lmcore.news: the project's configuration, its run on a tiny setting through the command line,
the run folder (reuse, damage found, never overwritten, published copies) and the book's runs."""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, replace
from dataclasses import replace as with_fields
from pathlib import Path

import numpy as np
import pytest
import torch

from lmcore.bert import BertForSequenceClassification
from lmcore.checkpoints import load_classifier
from lmcore.classify import predict
from lmcore.news import (
    RECIPES,
    SETTINGS,
    FinishedRunExists,
    ProjectConfig,
    ProjectRun,
    inspect_run_folder,
    load_finished_run,
    load_run_results,
    main,
    publish_run,
    published_run_dir,
    run_project,
    store,
)
from lmcore.news.splits import load_project_data
from lmcore.news.store import RUN_FILES, check_output_folder, shown, write_outputs
from lmcore.newsgroups import load_20newsgroups
from lmcore.notices import RunTrainedAgain
from tests.reference import tiny_bert_config, write_tiny_checkpoint


def test_config_validation():
    with pytest.raises(ValueError, match="setting must be one of"):
        ProjectConfig(setting="no-headers")


def test_the_configuration_is_checked_at_its_bounds_with_messages_naming_the_field(tmp_path):
    assert ProjectConfig(pooling="cls").pooling == "cls" and ProjectConfig(pooling="mean").pooling == "mean"
    assert ProjectConfig(validation_fraction=0.49).validation_fraction == 0.49
    for fraction in (0.0, 0.5):
        with pytest.raises(ValueError, match=rf"^validation_fraction must be in \(0, 0.5\); got {fraction}$"):
            ProjectConfig(validation_fraction=fraction)
    with pytest.raises(TypeError, match=r"^validation_fraction must be a number; got '0.1'$"):
        ProjectConfig(validation_fraction="0.1")
    with pytest.raises(TypeError, match=r"^checkpoint must be a folder path or None; got int$"):
        ProjectConfig(checkpoint=5)
    data = tmp_path / "texts.csv"
    data.write_text("text,label\na,x\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"'removed' strips 20 Newsgroups' headers, footers, quotes, and the"
    ):
        ProjectConfig(setting="removed", data_file=str(data))
    with pytest.raises(TypeError, match=r"^config must be a ProjectConfig; got dict$"):
        load_project_data({"data_file": str(data)})


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
    assert reused.reused_from == shown(tmp_path) and reused.test == metrics["test"]
    assert len(reused.test_texts) == 64
    assert config.view.windows == 2
    probabilities = predict(reused.model, reused.tokenizer, reused.test_texts, config.view)
    np.testing.assert_allclose(probabilities, reused.arrays["bert_test"], atol=1e-5)
    one_view = predict(reused.model, reused.tokenizer, reused.test_texts, with_fields(config.view, windows=0))
    np.testing.assert_allclose(one_view, reused.arrays["bert_test_one_view"], atol=1e-5)
    assert (
        metrics["test_one_view"]["bert"]["accuracy"]
        == (one_view.argmax(1) == reused.arrays["test_labels"]).mean()
    )
    # a different configuration is not mistaken for it, and never replaces it
    other = ProjectConfig(**{**config.__dict__, "seed": 1})
    with pytest.raises(FinishedRunExists, match=r"another configuration \(seed: 0 there, 1 now\)"):
        load_finished_run(tmp_path, other)
    with pytest.raises(SystemExit):  # the command line stops before loading anything
        main([*arguments, "--seed", "1"])
    assert "seed: 0 there, 1 now" in capsys.readouterr().err


def check_published_results_are_verified(finished, config, reused):
    """A published copy holds the results without the weights, hash-checked when read back."""
    published = publish_run(finished, finished.parent / "published")
    with pytest.MonkeyPatch.context() as patch:  # by default, into the book's own results folder
        patch.setattr(store, "REPOSITORY", finished.parent / "book-clone")
        into_the_book = publish_run(finished)
    assert into_the_book == finished.parent / "book-clone" / "book" / "results" / "news" / config.setting
    assert sorted(p.name for p in into_the_book.iterdir()) == sorted(p.name for p in published.iterdir())
    assert publish_run(finished, published) == published  # published again, over the earlier copy
    manifest = (published / "manifest.json").read_text(encoding="utf-8")
    assert manifest == json.dumps(json.loads(manifest), indent=2)  # readable diffs in the book's history
    no_weights = "the run has no weights, or none an lmcore of this version can rebuild; training again"
    with pytest.warns(RunTrainedAgain, match=f"^{re.escape(no_weights)}$"):
        assert load_finished_run(published, config) is None
    (finished.parent / "nothing").mkdir()
    with pytest.raises(ValueError, match=r"^folder must hold a finished run; .*nothing holds none$"):
        publish_run(finished.parent / "nothing")
    assert sorted(p.name for p in published.iterdir()) == [
        "confusion_matrix.csv",
        "manifest.json",
        "metrics.json",
        "probabilities.npz",
    ]
    results = load_run_results(published, config)
    assert results.test == reused.test and results.test_texts == reused.test_texts
    np.testing.assert_array_equal(results.arrays["bert_test"], reused.arrays["bert_test"])
    with pytest.warns(RunTrainedAgain, match="no weights"):  # nothing to reuse as a model
        assert load_finished_run(published, config) is None
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
    with pytest.warns(RunTrainedAgain, match=re.escape("model.safetensors does not match its SHA-256")):
        assert load_finished_run(flipped, config) is None

    half = copy("half-written")
    metrics = (half / "metrics.json").read_text()
    (half / "metrics.json").write_text(metrics[: len(metrics) // 2])
    with pytest.warns(RunTrainedAgain, match=re.escape("metrics.json does not match its SHA-256")):
        assert load_finished_run(half, config) is None

    unfinished = copy("unfinished")  # killed before its manifest was written
    (unfinished / "manifest.json").unlink()
    with pytest.warns(RunTrainedAgain, match=re.escape("no manifest.json: an unfinished run")):
        assert load_finished_run(unfinished, config) is None

    replaced = copy("overwrite")
    other = ProjectConfig(**{**config.__dict__, "seed": 1})
    check_output_folder(replaced, other, overwrite=True)  # --overwrite: replaced once the new run ends
    assert inspect_run_folder(replaced)[0]["config"]["seed"] == 0  # until then, still reusable


@pytest.mark.skipif(not os.environ.get("LMCORE_DATA"), reason="needs LMCORE_DATA (CI sets it)")
def test_the_command_line_runs_on_another_checkpoint_given_as_one_argument(tmp_path, capsys):
    folder, tiny = write_tiny_checkpoint(tmp_path / "tiny")
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
    check_the_command_line_reports_the_run(capsys.readouterr().out, metrics, tmp_path / "run")
    with pytest.MonkeyPatch.context() as patch:  # --publish: into the book's own results folder
        patch.setattr(store, "REPOSITORY", tmp_path / "clone")
        main([*arguments, "--max-length", "32", "--publish"])
        published = shown(tmp_path / "clone" / "book" / "results" / "news" / "removed")
    out = capsys.readouterr().out
    assert "reused the finished run" in out and out.endswith(f"published to {published}\n")
    assert metrics["config"]["checkpoint"] == str(folder) and metrics["n_test"] == 40
    config = ProjectConfig(**metrics["config"])
    reused = load_finished_run(tmp_path / "run", config)
    assert reused.model.bert.config.hidden_size == 48 and len(reused.model.bert.encoder.layers) == 3
    assert len(reused.tokenizer) == tiny.vocab_size
    probabilities = predict(reused.model, reused.tokenizer, reused.test_texts, config.view)
    np.testing.assert_allclose(probabilities, reused.arrays["bert_test"], atol=1e-5)
    # the run folder's checks, on this run (seconds) rather than the recipe's (half a minute)
    check_damage_is_found_and_runs_are_never_lost(tmp_path / "run", config, capsys)
    check_published_results_are_verified(tmp_path / "run", config, reused)


def check_the_command_line_reports_the_run(out, metrics, folder):
    """What the command line prints after a run: each model's scores, then the time taken."""
    lines = [
        f"{name:10} accuracy {row['accuracy']:.4f}  macro F1 {row['macro_f1']:.4f}"
        for name, row in metrics["test"].items()
    ]
    if metrics["config"]["test_windows"]:
        one_view = metrics["test_one_view"]["bert"]["accuracy"]
        lines.append(f"bert from the truncated view alone: accuracy {one_view:.4f}")
    timings = metrics["timings"]
    lines.append(
        f"fine-tuning {timings['fine_tuning_seconds'] / 60:.1f} min, whole run "
        f"{timings['total_seconds'] / 60:.1f} min on {metrics['hardware']}; results in {shown(folder)}"
    )
    assert out.endswith("\n".join(lines) + "\n")


def test_the_command_line_reports_no_second_view_when_there_are_no_windows(tmp_path, capsys, tiny_checkpoint):
    from tests.test_datasets import quick, write_two_topics

    data = write_two_topics(tmp_path / "topics.csv")
    arguments = ["--data-file", str(data), *quick(tiny_checkpoint, tmp_path / "run"), "--test-windows", "0"]
    main(arguments)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["config"]["test_windows"] == 0
    out = capsys.readouterr().out
    check_the_command_line_reports_the_run(out, metrics, tmp_path / "run")
    assert "truncated view alone" not in out


def fake_run(config: ProjectConfig, finished: str) -> ProjectRun:
    """A run's results as run_project returns them, made up in a moment, for the run folder's tests."""
    return ProjectRun(
        config=asdict(config),
        names=["a", "b"],
        n_train=2,
        n_validation=1,
        n_test=2,
        test={},
        test_one_view={},
        validation={},
        timings={},
        hardware="cpu",
        lmcore_code="0",
        finished=finished,
        history={},
        arrays={"test_labels": np.array([0, 1]), "p": np.array([[0.9, 0.1], [0.2, 0.8]])},
        model=BertForSequenceClassification(tiny_bert_config(), 2),
    )


def write_fake_run(folder, seed: int, overwrite: bool = False):
    run, predictions = fake_run(ProjectConfig(seed=seed), f"run {seed}"), {"ensemble": np.array([0, 1])}
    if overwrite:
        return write_outputs(folder, run, predictions, overwrite=True)
    return write_outputs(folder, run, predictions)  # never replaces another run by default


def test_only_the_first_of_several_processes_writes_the_run(tmp_path, monkeypatch):
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("this torch has no torch.distributed")
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    assert write_fake_run(tmp_path / "run", 0) == tmp_path / "run" and not (tmp_path / "run").exists()
    monkeypatch.setattr(dist, "get_rank", lambda: 0)
    write_fake_run(tmp_path / "run", 0)
    assert inspect_run_folder(tmp_path / "run")[0]["config"]["seed"] == 0


def test_a_finished_run_of_another_configuration_is_never_overwritten(tmp_path, capsys):
    """Called as a library with reuse=False into a folder holding another finished run, the new
    run is written beside it; each file is written atomically and the manifest last."""

    def write(config, seed_value):
        write_fake_run(tmp_path / "run", seed_value)

    write(ProjectConfig(seed=0), 0)
    first, _ = inspect_run_folder(tmp_path / "run")
    assert first is not None and set(first["files"]) == set(RUN_FILES)
    write(ProjectConfig(seed=1), 1)
    assert inspect_run_folder(tmp_path / "run")[0] == first  # untouched
    beside = [p for p in tmp_path.iterdir() if p.name.startswith("run-")]
    assert len(beside) == 1 and inspect_run_folder(beside[0])[0]["config"]["seed"] == 1
    assert re.fullmatch(r"run-\d{8}-\d{6}", beside[0].name)  # the time it was written
    assert "written beside it" in capsys.readouterr().err
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]  # no temporary files left
    with pytest.raises(FinishedRunExists, match=r"another configuration \(seed: 0 there, 1 now\)"):
        load_finished_run(tmp_path / "run", ProjectConfig(seed=1))


def test_a_runs_files_are_written_whole_into_a_new_folder(tmp_path):
    """Every class has its row and column, numbers of any NumPy type are stored, the JSON is
    indented for readable diffs, and a 20 Newsgroups run's manifest names no data files."""
    run = fake_run(ProjectConfig(), "now")
    run.names = ["a", "b", "c"]  # no test text of class "c", and none predicted
    run.test = {"bert": {"accuracy": np.float32(0.5), "n": np.int64(2)}}
    folder = write_outputs(tmp_path / "new" / "nested" / "run", run, {"ensemble": np.array([0, 0])})
    matrix = (folder / "confusion_matrix.csv").read_text(encoding="utf-8")
    assert matrix == "true \\ predicted,a,b,c\na,1,0,0\nb,1,0,0\nc,0,0,0\n"
    text = (folder / "metrics.json").read_text(encoding="utf-8")
    assert json.loads(text)["test"] == {"bert": {"accuracy": 0.5, "n": 2.0}}
    assert text == json.dumps(json.loads(text), indent=2)
    manifest_text = (folder / "manifest.json").read_text(encoding="utf-8")
    assert manifest_text == json.dumps(manifest := json.loads(manifest_text), indent=2)
    assert sorted(manifest) == ["config", "files", "finished"]


def test_a_model_wrapped_for_several_processes_is_saved_as_the_model_itself(tmp_path):
    run = fake_run(ProjectConfig(), "now")
    inner = run.model
    run.model = torch.nn.DataParallel(inner)  # like DistributedDataParallel: the model is .module
    folder = write_outputs(tmp_path / "run", run, {"ensemble": np.array([0, 1])})
    reloaded = load_classifier(folder)
    assert all(torch.equal(a, b) for a, b in zip(reloaded.state_dict().values(), inner.state_dict().values()))


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX locale")
def test_class_names_are_written_in_utf8_whatever_the_locale(tmp_path):
    """Where the locale's encoding is not UTF-8 (Windows, or a plain C locale), the confusion
    matrix's class names are still written, and read back, as UTF-8."""
    script = (
        "import sys, numpy as np\n"
        "from tests.test_news import fake_run, write_outputs, ProjectConfig\n"
        "run = fake_run(ProjectConfig(), 'now')\n"
        "run.names = ['caf\\u00e9', 'na\\u00efve']\n"  # (escaped: argv is read in the C locale)
        "write_outputs(__import__('pathlib').Path(sys.argv[1]), run, {'ensemble': np.array([0, 1])})\n"
    )
    environment = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    environment.pop("PYTHONIOENCODING", None)
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "run")],
        cwd=Path(__file__).resolve().parents[1], env=environment, check=True, capture_output=True,
    )  # fmt: skip
    matrix = (tmp_path / "run" / "confusion_matrix.csv").read_text(encoding="utf-8")
    assert matrix.splitlines()[0] == "true \\ predicted,café,naïve"


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
    assert f"--output {blocker / 'out'} cannot be created or written (Not a directory)" in err


def test_the_output_folder_is_made_with_its_parents_and_tried_for_writing_itself(tmp_path, monkeypatch):
    import tempfile

    probes, make_probe = [], tempfile.NamedTemporaryFile

    def recorded(**options):
        probes.append(options)
        return make_probe(**options)

    monkeypatch.setattr(store.tempfile, "NamedTemporaryFile", recorded)
    folder = tmp_path / "new" / "nested" / "run"
    check_output_folder(folder, ProjectConfig(), overwrite=False)
    assert folder.is_dir() and list(folder.iterdir()) == []  # the probe file is gone
    assert probes == [{"dir": folder, "prefix": ".write-test-"}]  # a write into the folder itself


@pytest.mark.skipif(not os.environ.get("LMCORE_DATA"), reason="needs LMCORE_DATA (CI sets it)")
@pytest.mark.parametrize("setting", sorted(RECIPES))
def test_the_books_published_runs_are_intact_and_made_with_the_recipe(setting):
    """Chapter 5 shows these: a changed recipe, or a damaged file, must be caught here first."""
    results = load_run_results(published_run_dir(setting), RECIPES[setting])
    assert results.n_test == len(results.test_texts) == 7532
    assert results.arrays["bert_test"].shape == (7532, 20)
    assert (
        results.arrays["test_labels"] == np.array(load_20newsgroups("test", remove=SETTINGS[setting]).labels)
    ).all()


@pytest.mark.skipif(not os.environ.get("LMCORE_DATA"), reason="needs LMCORE_DATA (CI sets it)")
def test_the_configuration_enters_each_module_at_most_twice(tmp_path, tiny_checkpoint):
    """Followed through the calls of one run, the configuration is handed into another module
    (a call from one module into a function of another, with the ProjectConfig as an argument)
    at most twice per module: the pipeline reads it, the other modules get what they need."""
    import sys
    from collections import Counter

    entries = Counter()

    def profile(frame, event, arg):
        if event != "call" or frame.f_back is None:
            return
        callee, caller = frame.f_globals.get("__name__", ""), frame.f_back.f_globals.get("__name__", "")
        if callee == caller or not callee.startswith("lmcore"):
            return
        arguments = frame.f_code.co_varnames[: frame.f_code.co_argcount + frame.f_code.co_kwonlyargcount]
        if any(isinstance(frame.f_locals.get(name), ProjectConfig) for name in arguments):
            entries[callee] += 1

    config = replace(
        RECIPES["removed"],
        checkpoint=str(tiny_checkpoint),
        max_length=32,
        epochs=1,
        train_limit=320,
        test_limit=20,
    )
    sys.setprofile(profile)
    try:
        run_project(config, output_dir=tmp_path / "run")
    finally:
        sys.setprofile(None)
    assert entries and max(entries.values()) <= 2, dict(entries)


# ------------------------------------------------------------------ a finished run is never lost or misread


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def test_an_edited_manifest_or_metrics_file_is_not_read_as_the_run(tmp_path):
    from lmcore.files import file_sha256

    for name in ("seed", "files", "finished"):
        write_fake_run(tmp_path / name, 0)
    # the manifest's configuration edited to another seed: metrics.json still says seed 0
    edit_json(tmp_path / "seed" / "manifest.json", lambda m: m["config"].update(seed=1))
    manifest, problem = inspect_run_folder(tmp_path / "seed")
    assert manifest is None and "disagree on the run's configuration" in problem
    with pytest.warns(RunTrainedAgain, match="disagree"):
        assert load_finished_run(tmp_path / "seed", ProjectConfig(seed=1)) is None
    # metrics.json edited and dropped from the manifest's list, so no hash covers it
    edit_json(tmp_path / "files" / "metrics.json", lambda m: m.update(test={"bert": {"accuracy": 0.999}}))
    edit_json(tmp_path / "files" / "manifest.json", lambda m: m["files"].pop("metrics.json"))
    manifest, problem = inspect_run_folder(tmp_path / "files")
    assert manifest is None and "not the files a run writes" in problem
    # metrics.json edited, and its new hash written into the manifest: the two still disagree
    folder = tmp_path / "finished"
    edit_json(folder / "metrics.json", lambda m: m.update(finished="another day"))
    edit_json(
        folder / "manifest.json",
        lambda m: m["files"].update({"metrics.json": file_sha256(folder / "metrics.json")}),
    )
    assert "disagree" in inspect_run_folder(folder)[1]


def test_the_notice_of_a_run_trained_again_points_at_the_caller(tmp_path):
    folder = write_fake_run(tmp_path / "run", 0)
    (folder / "metrics.json").write_text("{}", encoding="utf-8")
    with pytest.warns(RunTrainedAgain, match="does not match its SHA-256") as caught:
        assert load_finished_run(folder, ProjectConfig()) is None
    assert caught[0].filename == __file__  # the line that asked for the run, not lmcore's


def test_a_pickled_object_in_a_runs_arrays_is_never_unpickled(tmp_path):
    """Whoever can edit a run folder can write a matching manifest too: the probabilities are
    read as plain arrays, never as pickles (which run code when unpickled)."""
    from lmcore.files import file_sha256

    folder = write_fake_run(tmp_path / "run", 0)
    with (folder / "probabilities.npz").open("wb") as handle:
        pickled = np.array([{"a": 1}], dtype=object)
        np.savez(handle, test_labels=np.array([0, 1]), bert_test=pickled, baseline_test=np.eye(2))
    edit_json(
        folder / "manifest.json",
        lambda m: m["files"].update({"probabilities.npz": file_sha256(folder / "probabilities.npz")}),
    )
    assert inspect_run_folder(folder)[0] is not None  # every hash matches
    for read in (lambda: publish_run(folder, tmp_path / "published"), lambda: load_run_results(folder)):
        with pytest.raises(ValueError, match="allow_pickle=False"):
            read()


def test_overwrite_replaces_a_finished_run_only_when_the_new_one_is_written(tmp_path, monkeypatch):
    import lmcore.news.store as store

    folder = tmp_path / "run"
    write_fake_run(folder, 0)
    first = inspect_run_folder(folder)[0]

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # killed while the new run's weights are written

    monkeypatch.setattr(store, "save_classifier", crash)
    with pytest.raises(KeyboardInterrupt):
        write_fake_run(folder, 1, overwrite=True)
    assert inspect_run_folder(folder)[0] == first  # the old run is whole, and reusable
    leftovers = [p for p in folder.iterdir() if p.name.startswith(store.STAGING_PREFIX)]
    assert len(leftovers) == 1  # the interrupted write, inside the folder
    assert store.tidy_run_folder(folder) == []  # young: perhaps a run writing right now
    old = leftovers[0].stat().st_mtime - store.STALE_SECONDS - 1
    os.utime(leftovers[0], (old, old))
    assert store.tidy_run_folder(folder) == [f"removed {shown(leftovers[0])}, left by an interrupted run"]
    monkeypatch.undo()
    write_fake_run(folder, 1, overwrite=True)
    assert inspect_run_folder(folder)[0]["config"]["seed"] == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted([*RUN_FILES, "manifest.json"])


def test_a_move_cut_short_is_finished_and_stale_temporary_files_are_removed(tmp_path, monkeypatch):
    import lmcore.news.store as store

    folder = tmp_path / "run"
    write_fake_run(folder, 0)
    moved = []

    def replace_then_die(source, destination):  # (os.replace is every module's: count the moves)
        if Path(destination).parent == folder:
            if len(moved) == 2:  # the old manifest is gone, two of the new files are in place
                raise KeyboardInterrupt
            moved.append(destination)
        os.rename(source, destination)

    monkeypatch.setattr(store.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_fake_run(folder, 1, overwrite=True)
    monkeypatch.undo()
    assert inspect_run_folder(folder)[0] is None  # neither run is whole at this moment ...
    done = store.tidy_run_folder(folder)  # ... and the next look finishes the move
    assert len(done) == 1 and done[0].startswith("finished moving the run staged in")
    assert inspect_run_folder(folder)[0]["config"]["seed"] == 1
    # a temporary file of write_atomically, left by a kill: removed once stale, never while young
    stray = folder / ".confusion_matrix.csv.k2j3h4"
    stray.write_text("half")
    assert store.tidy_run_folder(folder) == [] and stray.exists()
    os.utime(stray, (0, 0))
    assert store.tidy_run_folder(folder) == [f"removed {shown(stray)}, left by an interrupted write"]
    assert not stray.exists() and inspect_run_folder(folder)[0]["config"]["seed"] == 1


def test_what_a_dead_run_left_is_removed_only_once_older_than_ten_minutes(tmp_path, monkeypatch):
    import lmcore.news.store as store

    folder = tmp_path / "run"
    staging, stray = folder / ".staging-x1y2", folder / ".metrics.json.a1b2"
    staging.mkdir(parents=True)
    stray.write_text("half")
    now = 1_000_000.0
    monkeypatch.setattr(store.time, "time", lambda: now)
    for path in (staging, stray):
        os.utime(path, (now - store.STALE_SECONDS, now - store.STALE_SECONDS))
    assert (
        store.tidy_run_folder(folder) == [] and staging.exists() and stray.exists()
    )  # 600 s: may be writing
    for path in (staging, stray):
        os.utime(path, (now - store.STALE_SECONDS - 1, now - store.STALE_SECONDS - 1))
    assert store.tidy_run_folder(folder) == [
        f"removed {shown(staging)}, left by an interrupted run",
        f"removed {shown(stray)}, left by an interrupted write",
    ]
    assert not staging.exists() and not stray.exists() and store.STALE_SECONDS == 600


def damaged_checkpoints(tiny):
    """name -> (change to a copy of the tiny checkpoint, what the refusal must say)."""
    from safetensors.torch import load_file, save_file

    def no_weights(folder):
        (folder / "model.safetensors").unlink()

    def half_weights(folder):
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])

    def only_pickle(folder):
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")

    def twelve_layers(folder):
        edit_json(folder / "config.json", lambda c: c.update(num_hidden_layers=12))

    def no_tokenizer(folder):
        (folder / "vocab.txt").unlink()

    def integer_weight(folder):
        state = load_file(str(folder / "model.safetensors"))
        name = "embeddings.LayerNorm.weight"
        state[name] = state[name].long()
        save_file(state, str(folder / "model.safetensors"))

    def a_file(folder):
        return folder / "model.safetensors"

    return {
        "no weights": (no_weights, r"has no model.safetensors \(lmcore never loads pickled"),
        "weights cut in half": (half_weights, "is truncated"),
        "only a .bin pickle": (only_pickle, r"found \[.*'pytorch_model.bin'"),
        "a 12-layer config": (
            twelve_layers,
            r"(?s)does not fit its config.json \(12 layers.*missing: \['encoder.layer.3",
        ),
        "no tokenizer files": (no_tokenizer, "has no tokenizer: expected tokenizer.json or vocab.txt"),
        "an integer weight": (
            integer_weight,
            r"not floating-point weights: \['embeddings.LayerNorm.weight: I64'\]",
        ),
        "the weights file itself": (a_file, "is a file; pass the folder that holds config.json"),
    }


@pytest.mark.parametrize("damage", list(damaged_checkpoints(None)))
def test_a_damaged_checkpoint_is_refused_before_any_work(tmp_path, capsys, tiny_checkpoint, damage):
    change, message = damaged_checkpoints(tiny_checkpoint)[damage]
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, folder)
    given = change(folder) or folder
    with pytest.raises(SystemExit) as exit_:
        main(["--checkpoint", str(given), "--max-length", "32", "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2 and re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # refused before the output folder was touched


def test_run_project_checks_the_whole_checkpoint_before_reading_any_data(
    tmp_path, tiny_checkpoint, monkeypatch
):
    import lmcore.news.pipeline as pipeline

    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / "vocab.txt").unlink()

    def no_data(*args):
        raise AssertionError("the data was read before the checkpoint was checked")

    monkeypatch.setattr(pipeline, "split_texts", no_data)
    monkeypatch.setattr(pipeline, "load_finished_run", no_data)
    with pytest.raises(FileNotFoundError, match="has no tokenizer"):
        run_project(ProjectConfig(checkpoint=str(folder), max_length=32), tmp_path / "run")


def test_the_validation_split_is_seeded_and_stratified():
    from lmcore.news.splits import validation_split

    labels = np.array([0] * 32 + [1] * 8)
    first = validation_split(40, labels, 0.25, seed=0)
    again = validation_split(40, labels, 0.25, seed=0)
    assert [part.tolist() for part in first] == [
        part.tolist() for part in again
    ]  # the same seed: the same split
    assert validation_split(40, labels, 0.25, seed=1)[1].tolist() != first[1].tolist()
    for seed in range(5):  # each class held out in its own proportion, whatever the seed
        fit_index, validation_index = validation_split(40, labels, 0.25, seed)
        assert np.bincount(labels[validation_index]).tolist() == [8, 2]
        assert sorted([*fit_index, *validation_index]) == list(range(40))


def test_too_few_training_texts_are_named_class_by_class():
    from lmcore.datasets import LabelledTexts
    from lmcore.news.splits import _check_enough_texts

    def refusal(labels, names=("a", "b", "c"), **options):
        config = ProjectConfig(**{"data_file": "mine.csv", "test_file": "test.csv", **options})
        with pytest.raises(ValueError) as error:
            _check_enough_texts(
                config, LabelledTexts([f"t{i}" for i in range(len(labels))], labels, list(names))
            )
        return str(error.value)

    stratified = "; the validation split is stratified: each class needs texts for both parts"
    many = [0] * 20 + [1] * 20
    assert refusal(many + [2]).startswith(
        f"data_file mine.csv holds fewer than 2 texts of the class 'c'{stratified}"
    )
    assert refusal(many).startswith(
        "data_file mine.csv holds fewer than 2 texts of the class 'c';"
    )  # none at all
    assert refusal([0] * 20 + [1, 2]).startswith(
        "data_file mine.csv holds fewer than 2 texts of the classes 'b', 'c';"
    )
    two = refusal(many + [2, 2])  # two texts of 'c' pass this check, then fall short of the calibration's 3
    assert "fewer than 2" not in two and re.search(r"'c' keeps [12] of its 2: add texts of it$", two)
    # with a train_limit, the texts are drawn as the run draws them: seeded
    labels = [0] * 30 + [1] * 30 + [2] * 3
    drawn = np.array(labels)[np.random.default_rng(7).permutation(63)[:20]]
    message = refusal(labels, seed=7, train_limit=20)
    assert message.startswith("the train_limit of 20 texts drawn from data_file mine.csv")
    drawn_c = int(np.bincount(drawn, minlength=3)[2])  # 0 or 1 here: too few for the split
    assert drawn_c < 2 and "fewer than 2 texts of the class 'c'" in message
    assert message == refusal(labels, seed=7, train_limit=20)


def test_the_calibration_check_uses_the_runs_own_stratified_split():
    from lmcore.datasets import LabelledTexts
    from lmcore.news.splits import _check_enough_texts, validation_split

    def refusal(labels, fraction):
        config = ProjectConfig(data_file="mine.csv", test_file="test.csv", validation_fraction=fraction)
        with pytest.raises(ValueError) as error:
            _check_enough_texts(
                config, LabelledTexts([f"t{i}" for i in range(len(labels))], labels, ["a", "b", "c"])
            )
        return str(error.value)

    # a split that leaves exactly as many training texts as classes passes the split check and
    # stops at the calibration's 3 texts per class
    assert "keeps 1 of its 2" in refusal([0, 0, 1, 1, 2, 2], 0.49)
    labels = [0] * 20 + [1] * 20 + [2] * 3
    fit_index, _ = validation_split(len(labels), labels, 0.2, seed=0)
    kept = int(np.bincount(np.array(labels)[fit_index])[2])
    assert refusal(labels, 0.2).endswith(f"'c' keeps {kept} of its 3: add texts of it")
    # which class comes up short depends on the seed: the check names the one the run's split would
    labels = [0] * 4 + [1] * 4 + [2] * 4
    texts = LabelledTexts([f"t{i}" for i in range(12)], labels, ["a", "b", "c"])
    short_by_seed = {}
    for seed in range(8):
        kept = np.bincount(np.array(labels)[validation_split(12, labels, 0.3, seed)[0]])
        config = ProjectConfig(data_file="mine.csv", test_file="test.csv", validation_fraction=0.3, seed=seed)
        with pytest.raises(ValueError, match=r"keeps 2 of its 4: add texts of it$") as error:
            _check_enough_texts(config, texts)
        short_by_seed[seed] = "abc"[int(np.argmin(kept))]
        assert f"'{short_by_seed[seed]}' keeps 2 of its 4" in str(error.value)
    assert len(set(short_by_seed.values())) == 3  # (each class is the short one for some seed)
    # two classes short: both named, joined by "; "
    config = ProjectConfig(data_file="mine.csv", test_file="test.csv", validation_fraction=0.2)
    two_short = LabelledTexts([f"t{i}" for i in range(26)], [0] * 20 + [1] * 3 + [2] * 3, ["a", "b", "c"])
    with pytest.raises(
        ValueError,
        match=r"of data_file mine.csv, 'b' keeps 2 of its 3; 'c' keeps 2 of its 3: add texts of them$",
    ):
        _check_enough_texts(config, two_short)


def test_every_option_reaches_the_run_as_the_command_line_says(
    tmp_path, monkeypatch, capsys, tiny_checkpoint
):
    """Each option, parsed and handed to run_project (stubbed: nothing is trained), and the help
    that says what each one does."""
    from lmcore.news import cli
    from tests.test_datasets import write_two_topics

    handed = []

    def run_project(config, output, reuse, overwrite):
        handed.append((config, output, reuse, overwrite))
        run = fake_run(config, "now")
        run.test = {"bert": {"accuracy": 0.5, "macro_f1": 0.25}}
        run.test_one_view = {"bert": {"accuracy": 0.75}}
        run.timings = {"fine_tuning_seconds": 600.0, "total_seconds": 1200.0}
        return run

    monkeypatch.setattr(cli, "run_project", run_project)
    options = {
        "--checkpoint": str(tiny_checkpoint), "--max-length": "32", "--truncation": "head",
        "--head-share": "0.5", "--epochs": "3", "--batch-size": "4", "--lr": "0.001", "--pooling": "cls",
        "--freeze-layers": "1", "--test-windows": "2", "--dropout": "0.2",
    }  # fmt: skip
    main(
        [
            "--setting",
            "removed",
            *[w for pair in options.items() for w in pair],
            "--bf16",
            "--output",
            str(tmp_path / "a"),
        ]
    )
    recipe = RECIPES["removed"]
    expected = replace(
        recipe, checkpoint=str(tiny_checkpoint), max_length=32, truncation="head", head_share=0.5, epochs=3,
        batch_size=4, lr=0.001, pooling="cls", freeze_layers=1, test_windows=2, dropout=0.2, bf16=True,
    )  # fmt: skip
    assert handed.pop() == (expected, tmp_path / "a", True, False)
    data, test = write_two_topics(tmp_path / "train.csv"), write_two_topics(tmp_path / "test.csv", 5, 9)
    arguments = [
        "--data-file",
        str(data),
        "--test-file",
        str(test),
        "--train-limit",
        "30",
        "--test-limit",
        "5",
    ]
    write_fake_run(tmp_path / "b", 0)  # a finished run of another configuration: --overwrite goes past it
    more = [
        "--seed",
        "4",
        "--max-length",
        "32",
        "--checkpoint",
        str(tiny_checkpoint),
        "--output",
        str(tmp_path / "b"),
    ]
    assert main([*arguments, *more, "--again", "--overwrite"]) == 0
    expected = replace(
        RECIPES["full"], checkpoint=str(tiny_checkpoint), data_file=str(data), test_file=str(test),
        train_limit=30, test_limit=5, seed=4, max_length=32,
    )  # fmt: skip
    assert handed.pop() == (expected, tmp_path / "b", False, True)
    out = capsys.readouterr().out
    assert out.endswith(
        "bert       accuracy 0.5000  macro F1 0.2500\nbert from the truncated view alone: accuracy 0.7500\n"
        f"fine-tuning 10.0 min, whole run 20.0 min on cpu; results in {shown(tmp_path / 'b')}\n"
    )
    main(["--checkpoint", str(tiny_checkpoint), "--max-length", "64", "--output", str(tmp_path / "d")])
    assert handed.pop()[0].max_length == 64  # the model's limit itself is allowed
    monkeypatch.setitem(cli.RECIPES, "full", replace(RECIPES["full"], bf16=True))  # a recipe with bf16
    main(["--checkpoint", str(tiny_checkpoint), "--max-length", "32", "--output", str(tmp_path / "d")])
    assert handed.pop()[0].bf16 is True  # --bf16 left out: the recipe's choice, not False
    with pytest.raises(SystemExit):
        main([*arguments, *more, "--publish"])
    message = "--publish copies 20 Newsgroups runs into the book; a run on --data-file stays in --output"
    assert capsys.readouterr().err.endswith(f"error: {message}\n")

    for option, value in [("--setting", "clean"), ("--truncation", "tail"), ("--pooling", "max")]:
        with pytest.raises(SystemExit):
            main([option, value, "--output", str(tmp_path / "c")])
        assert f"argument {option}: invalid choice: '{value}'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--head-share", "half", "--output", str(tmp_path / "c")])
    assert "argument --head-share: invalid float value: 'half'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())  # (argparse wraps lines to the terminal)
    assert help_text.startswith("usage: python -m lmcore.news [-h]")
    description = "The 20 Newsgroups project (chapter 5), or the same recipe on labelled texts of your own."
    assert f" {description} " in help_text
    assert help_text.endswith("Options left out take the book's recipe for the setting (RECIPES).")
    for option, says in [
        ("--setting", "{full,removed}"),
        ("--checkpoint", "a local BERT checkpoint folder (default: the bundled all-MiniLM-L6-v2)"),
        ("--truncation", "{head,head+tail}"),
        ("--head-share", 'of the tokens "head+tail" keeps, the share from the start (0.25)'),
        ("--pooling", "{cls,mean}"),
        ("--freeze-layers", "keep the embeddings and this many lowest layers as pretrained"),
        ("--test-windows", "average predictions over up to this many extra windows of each long message"),
        ("--bf16", "bf16 autocast (GPUs, CPUs with AMX; measure before using it on a CPU)"),
        (
            "--data-file",
            "your own labelled texts instead of 20 Newsgroups: a .csv file with the columns text,label or "
            'a .jsonl file of {"text": ..., "label": ...} lines',
        ),
        (
            "--test-file",
            "the test set for --data-file, in the same format (default: a stratified 20% of --data-file "
            "held out, the same for every seed)",
        ),
        ("--output", "folder for the run's files"),
        ("--again", "train even if --output holds this run already"),
        ("--overwrite", "replace a finished run of another configuration in --output"),
        ("--publish", "also copy the results (not the weights) to book/results/news/<setting> for chapter 5"),
    ]:
        assert option in help_text and re.search(rf"(^|\s){re.escape(says)}(\s|$)", help_text), (option, says)
    with pytest.raises(SystemExit):
        main([])
    assert "the following arguments are required: --output" in capsys.readouterr().err
