"""lmcore.news.pipeline step by step, on a tiny checkpoint and a small file of two topics: each
step's result checked against what it is made of, not only the end-to-end run's files."""

import io
import re
import sys
import time
from dataclasses import asdict
from dataclasses import replace as with_fields

import numpy as np
import pytest
import torch

from lmcore import checkpoints
from lmcore.classify import predict_proba
from lmcore.encoding import average_views, encode_texts, encode_windows, length_bucketed_batches
from lmcore.news import ProjectConfig, pipeline, run_project
from lmcore.news.pipeline import (
    ENSEMBLE_WEIGHTS,
    announce,
    build_classifier,
    choose_ensemble_weight,
    encode_run,
    fit_baseline,
    predict_run,
    split_texts,
    timed,
)
from lmcore.news.splits import chosen_test_index, load_project_data
from lmcore.provenance import code_version, hardware
from lmcore.scoring import geometric_ensemble, scores, tfidf_baseline
from tests.test_datasets import write_two_topics


@pytest.fixture
def config(tmp_path, tiny_checkpoint):
    """Two topics, 25 texts each: 40 to train on (36 fit, 4 validation) and 10 held out."""
    data = write_two_topics(tmp_path / "topics.csv")
    return ProjectConfig(
        data_file=str(data), checkpoint=str(tiny_checkpoint), max_length=16, epochs=1, batch_size=8,
        test_windows=1, dropout=0.1,
    )  # fmt: skip


def test_the_ensemble_weight_is_the_first_with_the_best_validation_accuracy():
    # the model is sure and right on the first text, the baseline on the second: both are right
    # only when the weight of the model is above 0.156 and below 0.844
    model = np.array([[0.9, 0.1], [0.4, 0.6]])
    baseline = np.array([[0.4, 0.6], [0.9, 0.1]])
    weight, accuracy = choose_ensemble_weight(model, baseline, np.array([0, 0]))
    assert weight == 0.2 and type(weight) is float
    assert list(accuracy) == pytest.approx([i / 20 for i in range(21)]) and len(ENSEMBLE_WEIGHTS) == 21
    assert all(type(k) is float and type(v) is float for k, v in accuracy.items())
    expected = [1.0 if 0.156 < w < 0.844 else 0.5 for w in ENSEMBLE_WEIGHTS]
    assert list(accuracy.values()) == expected
    # where the baseline alone is right on every text, the first weight tried (0) is chosen
    assert choose_ensemble_weight(model, baseline, np.array([1, 0]))[0] == 0.0
    # the model alone is right on both only above 0.844
    assert choose_ensemble_weight(model, baseline, np.array([0, 1]))[0] == pytest.approx(0.85)


def test_a_step_is_timed_under_its_name(monkeypatch):
    clock = iter([10.0, 12.5])
    monkeypatch.setattr(pipeline.time, "perf_counter", lambda: next(clock))
    timings = {"other_seconds": 1.0}
    assert timed(timings, "baseline", lambda a, b: (a, b), 1, "two") == (1, "two")
    assert timings == {"other_seconds": 1.0, "baseline_seconds": 2.5}


def test_durations_are_worded_in_seconds_below_a_minute_and_a_half():
    assert [pipeline._duration(s) for s in (0.4, 89.4, 90.0, 149.0, 600.0)] == [
        "0 s", "89 s", "2 min", "2 min", "10 min",
    ]  # fmt: skip


def test_the_split_holds_the_limited_training_texts_a_stratified_validation_and_the_test_texts(config):
    train, test = load_project_data(config)
    split = split_texts(config)
    assert split.names == train.names == ["hockey", "space"]
    assert (len(split.fit_texts), len(split.val_texts), len(split.test_texts)) == (36, 4, 10)
    assert sorted(split.fit_texts + split.val_texts) == sorted(train.texts)
    label_of = dict(zip(train.texts, train.labels)) | dict(zip(test.texts, test.labels))
    for texts, labels in [
        (split.fit_texts, split.fit_labels), (split.val_texts, split.val_labels),
        (split.test_texts, split.test_labels),
    ]:  # fmt: skip
        assert isinstance(labels, np.ndarray) and labels.tolist() == [label_of[t] for t in texts]
    assert sorted(split.val_labels.tolist()) == [0, 0, 1, 1]  # stratified
    assert split.test_texts == test.texts  # all of them, in file order

    limited = split_texts(with_fields(config, train_limit=20, test_limit=4))
    assert (len(limited.fit_texts), len(limited.val_texts), len(limited.test_texts)) == (18, 2, 4)
    keep = np.random.default_rng(config.seed).permutation(40)[:20]  # the seeded draw
    assert sorted(limited.fit_texts + limited.val_texts) == sorted(train.texts[i] for i in keep)
    assert sorted(limited.val_labels.tolist()) == [0, 1]
    assert limited.test_texts == [
        test.texts[i] for i in chosen_test_index(10, with_fields(config, test_limit=4))
    ]
    again = split_texts(with_fields(config, train_limit=20, test_limit=4))
    assert again.fit_texts == limited.fit_texts and again.val_texts == limited.val_texts
    other = split_texts(with_fields(config, train_limit=20, test_limit=4, seed=1))
    assert other.fit_texts + other.val_texts != limited.fit_texts + limited.val_texts


def test_the_baseline_is_fitted_on_the_fit_texts_and_reads_validation_then_test(config):
    config = with_fields(config, seed=1)  # the run's seed reaches the SVM
    split = split_texts(config)
    val, test = fit_baseline(split, config)
    _, expected_val, fitted = tfidf_baseline(
        split.fit_texts, split.fit_labels, split.val_texts, seed=config.seed
    )
    np.testing.assert_array_equal(val, expected_val)
    np.testing.assert_array_equal(test, fitted.predict_proba(split.test_texts))
    assert val.shape == (4, 2) and test.shape == (10, 2)


def test_the_run_is_encoded_once_in_the_views_of_its_configuration(config):
    config = with_fields(config, seed=1)  # the run's seed orders the batches
    split = split_texts(config)
    tokenizer = checkpoints.load_tokenizer(config.checkpoint)
    batches, val_views, test_views = encode_run(split, tokenizer, config)
    expected = length_bucketed_batches(
        encode_texts(tokenizer, split.fit_texts, config.view), split.fit_labels.tolist(), 8, seed=1
    )
    assert len(batches) == len(expected) == 5 and max(len(b["input_ids"]) for b in batches) == 8
    for batch, wanted in zip(batches, expected):
        assert batch.keys() == wanted.keys()
        assert all(torch.equal(batch[key], wanted[key]) for key in batch)
    assert val_views == encode_windows(tokenizer, split.val_texts, config.view)
    assert test_views == encode_windows(tokenizer, split.test_texts, config.view)
    assert max(len(v) for v in test_views[0]) == 16  # max_length, [CLS] and [SEP] included


def test_the_classifier_has_the_runs_classes_pooling_dropout_and_frozen_layers(config):
    split = split_texts(config)
    model = build_classifier(split, with_fields(config, pooling="cls", freeze_layers=2, dropout=0.3))
    assert model.classifier.out_features == 2 and model.pooling == "cls"
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.3}
    frozen = [not any(p.requires_grad for p in layer.parameters()) for layer in model.bert.encoder.layers]
    assert frozen == [True, True, False]


def test_the_announced_estimate_scales_the_timed_step_by_the_tokens_and_keeps_the_random_numbers(
    config, monkeypatch
):
    split = split_texts(config)
    tokenizer = checkpoints.load_tokenizer(config.checkpoint)
    batches, val_views, test_views = encode_run(split, tokenizer, config)
    views = val_views[0] + test_views[0]
    model = build_classifier(split, config)
    before = [p.detach().clone() for p in model.parameters()]
    mode = model.training
    torch.manual_seed(5)
    state = torch.random.get_rng_state()
    real = announce(config, model, batches, views)  # a real timed step, with dropout on
    assert torch.equal(torch.random.get_rng_state(), state)  # the run's random numbers are untouched
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # timed on a copy
    assert real > 0 and model.training == mode

    clock = iter(np.arange(100.0, 200.0, 0.25))  # the forward pass takes 0.25 s by this clock
    monkeypatch.setattr(pipeline.time, "perf_counter", lambda: next(clock))
    timed_steps = []

    def one_step(timed_model, loss, batch, **options):
        timed_steps.append((timed_model, batch, options))
        return 0.5

    monkeypatch.setattr(pipeline, "seconds_per_training_step", one_step)
    forward_inputs = []
    model.register_forward_pre_hook(lambda module, inputs: forward_inputs.append(inputs))
    flushed = []

    class Output(io.StringIO):  # the announcement is flushed: it shows before the long work starts
        def flush(self):
            flushed.append(self.getvalue())

    monkeypatch.setattr(sys, "stdout", Output())
    estimate = announce(with_fields(config, epochs=3), model, batches, views, torch.bfloat16)
    longest_batch = max(batches, key=lambda b: b["input_ids"].numel())
    [(timed_model, batch, options)] = timed_steps
    assert timed_model is not model and batch is longest_batch
    assert options == {"repeats": 1, "autocast_dtype": torch.bfloat16}
    [(ids, mask)] = forward_inputs  # one forward pass, timed, on the longest batch with its mask
    assert torch.equal(ids, longest_batch["input_ids"]) and torch.equal(mask, longest_batch["attention_mask"])
    longest = longest_batch["input_ids"].numel()
    training_tokens = 3 * sum(b["input_ids"].numel() for b in batches)
    prediction_tokens = sum(len(v) for v in views)
    assert estimate == pytest.approx((training_tokens * 0.5 + prediction_tokens * 0.25) / longest)
    shape = tuple(longest_batch["input_ids"].shape)
    announcement = (
        f"lmcore.news: fine-tuning on 36 messages, 3 epoch(s) of 5 steps (15 in all), then predicting "
        f"{len(views)} views of the validation and test messages.\n  One training step of {shape} "
        f"tokens took 0.50 s here, so fine-tuning and prediction should take about "
        f"{pipeline._duration(estimate)}.\n"
    )
    assert sys.stdout.getvalue() == announcement and flushed == [announcement]


def test_predictions_average_every_view_and_keep_the_training_view_alone(config, capsys):
    split = split_texts(config)
    tokenizer = checkpoints.load_tokenizer(config.checkpoint)
    _, val_views, test_views = encode_run(split, tokenizer, config)
    model = build_classifier(split, config)
    (val, val_one), (test, test_one) = predict_run(model, val_views, test_views, config, split, True)
    for (views, owners), every, one in [(val_views, val, val_one), (test_views, test, test_one)]:
        batches = length_bucketed_batches(views, None, 64, seed=None)
        probabilities = predict_proba(model, batches)
        n = max(owners) + 1
        np.testing.assert_allclose(every, average_views(probabilities, owners, n), atol=1e-6)
        np.testing.assert_allclose(one, probabilities[:n], atol=1e-6)
    assert len(val) == 4 and len(test) == 10 and len(test_views[0]) > 10  # long texts have windows
    accuracy = [(p.argmax(1) == split.val_labels).mean() for p in (val, val_one)]
    assert capsys.readouterr().out.endswith(
        f"validation accuracy: MiniLM {accuracy[0]:.4f}, {accuracy[1]:.4f} from the training view alone\n"
    )
    predict_run(model, val_views, test_views, config, split, False)
    assert capsys.readouterr().out == ""  # no progress: nothing printed


def test_a_run_reports_what_its_arrays_score(config, capsys):
    run = run_project(config, progress=False)
    assert capsys.readouterr().out == ""
    split = split_texts(config)
    assert run.names == split.names and run.test_texts == split.test_texts
    assert (run.n_train, run.n_validation, run.n_test) == (36, 4, 10) and run.config == asdict(config)
    arrays = run.arrays
    assert sorted(arrays) == [
        "baseline_test",
        "bert_test",
        "bert_test_one_view",
        "ensemble_test",
        "test_labels",
    ]
    np.testing.assert_array_equal(arrays["test_labels"], split.test_labels)
    weight = run.validation["ensemble_weight"]
    np.testing.assert_allclose(
        arrays["ensemble_test"], geometric_ensemble(arrays["bert_test"], arrays["baseline_test"], weight)
    )
    for name, key in [("tfidf_svm", "baseline_test"), ("bert", "bert_test"), ("ensemble", "ensemble_test")]:
        assert run.test[name] == scores(split.test_labels, arrays[key].argmax(1))
    assert run.test_one_view == {"bert": scores(split.test_labels, arrays["bert_test_one_view"].argmax(1))}
    by_weight = run.validation["ensemble_accuracy_by_weight"]
    assert by_weight[weight] == max(by_weight.values()) and len(by_weight) == 21
    # weight 0 is the baseline alone, weight 1 the model alone
    assert by_weight[0.0] == run.validation["tfidf_svm"]["accuracy"]
    assert by_weight[1.0] == run.validation["bert"]["accuracy"]
    assert set(run.validation) == {
        "tfidf_svm",
        "bert",
        "bert_one_view",
        "ensemble_weight",
        "ensemble_accuracy_by_weight",
    }
    assert run.validation["tfidf_svm"] == scores(split.val_labels, fit_baseline(split, config)[0].argmax(1))
    parts = ["baseline_seconds", "fine_tuning_seconds", "prediction_seconds"]
    assert set(run.timings) == {*parts, "seconds_per_step", "total_seconds"}
    assert run.timings["total_seconds"] >= sum(run.timings[p] for p in parts)
    # one epoch of 5 batches, logged at its end
    assert run.history["step"] == [5] and len(run.history["loss"]) == 1
    assert run.timings["seconds_per_step"] == pytest.approx(run.timings["fine_tuning_seconds"] / 5)
    assert run.hardware == hardware() and run.lmcore_code == code_version()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", run.finished) and run.reused_from is None
    assert run.model is not None and len(run.tokenizer) == len(checkpoints.load_tokenizer(config.checkpoint))
    again = run_project(config, progress=False)  # seeded: the same run twice
    np.testing.assert_array_equal(again.arrays["bert_test"], arrays["bert_test"])


def test_a_run_in_a_folder_is_read_back_by_default_and_replaced_only_when_asked(config, tmp_path, capsys):
    from lmcore.news import FinishedRunExists, inspect_run_folder
    from lmcore.news.store import shown

    one_step = with_fields(config, batch_size=64)  # the 36 training texts in one batch
    started = time.perf_counter()
    first = run_project(one_step, tmp_path / "run")
    elapsed = time.perf_counter() - started
    assert "validation accuracy: MiniLM" in capsys.readouterr().out  # with progress, by default
    assert first.history["step"] == [1]
    assert first.timings["seconds_per_step"] == first.timings["fine_tuning_seconds"]
    assert 0 < first.timings["total_seconds"] <= elapsed
    again = run_project(one_step, tmp_path / "run", progress=False)  # reuse=True by default
    assert first.reused_from is None and again.reused_from == shown(tmp_path / "run")
    other = with_fields(one_step, seed=1)
    with pytest.raises(FinishedRunExists, match=r"seed: 0 there, 1 now"):  # overwrite=False by default
        run_project(other, tmp_path / "run", progress=False)
    run_project(other, tmp_path / "run", progress=False, overwrite=True)
    assert inspect_run_folder(tmp_path / "run")[0]["config"]["seed"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("run")] == ["run"]  # replaced, not beside


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="time.tzset: POSIX")
def test_a_run_is_stamped_in_utc_whatever_the_time_zone(config, monkeypatch):
    monkeypatch.setenv("TZ", "IST-5:30")  # five and a half hours ahead of UTC
    time.tzset()
    try:
        before = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        run = run_project(config, progress=False)
        after = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    finally:
        monkeypatch.undo()
        time.tzset()
    assert run.finished in (before, after)


def test_predictions_use_the_runs_autocast_and_progress_and_print_the_validation_accuracy(
    config, monkeypatch, capsys
):
    split = split_texts(with_fields(config, bf16=True))
    split.val_labels = np.array([0, 0, 0, 1])  # every view says class 0 below: 3 of 4 right
    calls = []

    def predict_proba(model, batches, autocast=None, progress=False):
        calls.append((autocast, progress))
        probabilities = np.zeros((sum(len(batch["input_ids"]) for batch in batches), 2))
        probabilities[:, 0] = 1.0
        return probabilities

    monkeypatch.setattr(pipeline, "predict_proba", predict_proba)
    views = ([[2, 5, 3]] * 4, [0, 1, 2, 3])
    predict_run(None, views, views, with_fields(config, bf16=True), split, True)
    assert calls == [(torch.bfloat16, True)] * 2
    assert (
        capsys.readouterr().out == "validation accuracy: MiniLM 0.7500, 0.7500 from the training view alone\n"
    )


def test_the_classifier_is_trained_with_the_runs_settings_where_the_run_computes(config, monkeypatch):
    from lmcore.runtime import pick_device
    from lmcore.train import History

    split = split_texts(config)
    batches, views = [{"input_ids": torch.ones(1, 3, dtype=torch.long)}], [[1, 2, 3]]
    calls = {}

    def fit(*args, **options):  # what train_classifier hands lmcore.train.fit
        calls["fit"] = args, options
        return History()

    monkeypatch.setattr(pipeline, "announce", lambda *args: calls.setdefault("announce", args))
    monkeypatch.setattr(pipeline, "fit", fit)

    def evaluate(model):
        return {}

    bf16 = with_fields(config, bf16=True, epochs=3, lr=3e-4)
    model, _ = pipeline.train_classifier(split, batches, views, bf16, True, evaluate, 7)
    assert calls["announce"] == (bf16, model, batches, views, torch.bfloat16)
    (fitted, fitted_batches, loss), options = calls["fit"]
    assert fitted is model and fitted_batches is batches and loss is pipeline.classification_loss
    assert options == {
        "epochs": 3, "lr": 3e-4, "autocast_dtype": torch.bfloat16, "progress": True,
        "device": pick_device(), "evaluate": evaluate, "eval_every": 7,
    }  # fmt: skip
    calls.clear()
    pipeline.train_classifier(split, batches, None, config, False)  # no views: nothing announced
    assert "announce" not in calls and calls["fit"][1]["autocast_dtype"] is None
    assert calls["fit"][1]["progress"] is False and calls["fit"][1]["eval_every"] is None
