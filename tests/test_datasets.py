"""Labelled texts of one's own (lmcore.datasets) and the news project's recipe run on them:
well-formed CSV and JSON-lines files read, bad ones refused with the file, the line and what was
expected, and the command line run end to end on a tiny random BERT (seconds, no network)."""

import inspect
import json
import os
import random
import re
from dataclasses import asdict

import numpy as np
import pytest

from lmcore.datasets import LabelledTexts, load_labelled_texts
from lmcore.files import file_sha256
from lmcore.news import (
    RECIPES,
    ProjectConfig,
    load_finished_run,
    load_project_data,
    load_run_results,
    main,
    publish_run,
)
from lmcore.news.config import DATA_FIELDS
from lmcore.news.store import mismatch

TOPICS = {
    "space": [
        "rocket",
        "orbit",
        "launch",
        "moon",
        "nasa",
        "shuttle",
        "planet",
        "mars",
        "astronaut",
        "satellite",
        "telescope",
        "comet",
    ],
    "hockey": [
        "puck",
        "goal",
        "ice",
        "team",
        "season",
        "skate",
        "goalie",
        "rink",
        "playoff",
        "coach",
        "stick",
        "penalty",
    ],
    "cooking": [
        "oven",
        "flour",
        "sugar",
        "butter",
        "recipe",
        "bake",
        "salt",
        "onion",
        "garlic",
        "pepper",
        "soup",
        "sauce",
    ],
}


def texts_of(topic, n, seed):
    rng = random.Random(f"{topic}-{seed}")
    return [" ".join(rng.choice(TOPICS[topic]) for _ in range(rng.randint(5, 12))) for _ in range(n)]


def write_two_topics(path, per_topic=25, seed=1):
    """A CSV file of ``per_topic`` texts about space and as many about hockey."""
    return write_csv(
        path, [(t, topic) for topic in ("space", "hockey") for t in texts_of(topic, per_topic, seed)]
    )


def write_csv(path, rows):
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def write_jsonl(path, rows):
    path.write_text(
        "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows), encoding="utf-8"
    )
    return path


# ------------------------------------------------------------------ reading good files


def test_a_csv_file_is_read_with_quotes_extra_columns_a_bom_and_blank_lines(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_bytes(
        "\ufeffid,text,label\n"
        '1,"Broke after two days, sadly.",negative\n'
        "\n"
        '2,"A ""perfect"" fit:\nsecond line",positive\n'
        "3,Arrived early.,positive\n"
        "4,Never again.,negative\n"
        ",,\n".encode("utf-8")
    )
    data = load_labelled_texts(path)
    assert isinstance(data, LabelledTexts) and len(data) == 4
    texts, labels, names = data  # unpacks like load_20newsgroups
    assert names == ["negative", "positive"] and labels == [0, 1, 1, 0]
    assert texts[0] == "Broke after two days, sadly." and texts[1] == 'A "perfect" fit:\nsecond line'


def test_labels_may_be_integers_or_strings_and_whole_numbers_sort_as_numbers(tmp_path):
    rows = [("a", 10), ("b", 2), ("c", 10), ("d", 2), ("e", "1"), ("f", 1)]
    data = load_labelled_texts(write_jsonl(tmp_path / "data.jsonl", rows))
    assert data.names == ["1", "2", "10"] and data.labels == [2, 1, 2, 1, 0, 0]
    csv_data = load_labelled_texts(write_csv(tmp_path / "data.csv", rows))
    assert (csv_data.names, csv_data.labels) == (data.names, data.labels)
    # a test file is numbered as its training file, and may lack some of its classes
    test = load_labelled_texts(
        write_jsonl(tmp_path / "test.jsonl", [("x", 10), ("y", "10")]), names=data.names
    )
    assert test.labels == [2, 2] and test.names == data.names


# ------------------------------------------------------------------ refusing bad files

GOOD = "text,label\nfine,a\nalso fine,a\nthird,b\nfourth,b\n"


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "no-header.csv",
            "fine,a\nother,b\n",
            (
                r"no-header.csv: the header row \(line 1\) must name the columns 'text' "
                r"and 'label'; columns 'text', 'label' missing, found \['fine', 'a'\]"
            ),
        ),
        ("semicolons.csv", "text;label\nfine;a\n", "separate its columns with ';': save it with commas"),
        ("twice.csv", "text,text,label\na,b,c\n", "names 'text' more than once"),
        (
            "comma.csv",
            GOOD + "broken, unquoted text,b\n",
            (
                r"comma.csv: 1 line cannot be used: line 6: 3 fields, but the header \(line 1\) has 2: a text holding a "
                r"comma must be in double quotes"
            ),
        ),
        (
            "empty-text.csv",
            GOOD + ",b\n   ,a\n",
            (
                r"2 lines cannot be used: line 6: the text is empty; line 7: the text "
                r"is only whitespace"
            ),
        ),
        ("empty-label.csv", GOOD + "text without label,\n", "line 6: the label is empty"),
        (
            "latin1.csv",
            GOOD.encode() + "caf\xe9,a\n".encode("latin-1"),
            r"latin1.csv: line 6 is not UTF-8 text \(byte 0xe9 at byte \d+\); expected a UTF-8 file",
        ),
        (
            "workbook.csv",
            b"PK\x03\x04\x14\x00\x06\x00\xff\xfe",
            "looks like a zip file, such as an Excel workbook",
        ),
        (
            "one-class.csv",
            "text,label\na,x\nb,x\nc,x\n",
            r"every text has the label 'x' \(3 texts\); a classifier needs at least 2 classes",
        ),
        (
            "rare.csv",
            GOOD + "lonely,c\n",
            r"each class needs at least 2 texts \(the validation split is stratified\); 'c' has 1 \(line 6\)",
        ),
        (
            "nothing.csv",
            "text,label\n\n",
            "holds no texts: expected a header row 'text,label' and one row per text",
        ),
        (
            "keys.jsonl",
            '{"text": "a", "label": "x"}\n{"txt": "b", "label": "y"}\n',
            r"keys.jsonl: 1 line cannot be used: line 2: key 'text' missing; found keys \['label', 'txt'\]",
        ),
        (
            "number.jsonl",
            '{"text": 42, "label": "x"}\n',
            "line 1: the text must be a string; got an integer 42",
        ),
        ("null.jsonl", '{"text": null, "label": "x"}\n', "line 1: the text must be a string; got null$"),
        (
            "float-label.jsonl",
            '{"text": "a", "label": 1.5}\n',
            "line 1: the label must be a string or an integer; got a number 1.5",
        ),
        (
            "bool-label.jsonl",
            '{"text": "a", "label": true}\n',
            "line 1: the label must be a string or an integer; got a boolean true",
        ),
        (
            "list.jsonl",
            '["a", "x"]\n',
            r'line 1: expected an object \{"text": ..., "label": ...\}; got a list',
        ),
        (
            "broken.jsonl",
            '{"text": "a", "label": "x"}\n{"text": "b", "label": \n',
            r"line 2: not valid JSON \(Expecting value at column 24\)",
        ),
        ("blank.jsonl", '{"text": " \\t ", "label": "x"}\n', "line 1: the text is only whitespace"),
        (
            "joined.csv",
            GOOD + GOOD + GOOD,
            r"2 lines cannot be used: line 6: repeats the header row \(line 1\): files joined together\?",
        ),
        (
            "twice-label.jsonl",
            '{"text": "a", "label": "x", "label": "y"}\n',
            r"line 1: the key 'label' appears more than once",
        ),
        (
            "surrogate.jsonl",
            '{"text": "a\\ud800b", "label": "x"}\n',
            r"line 1: the text holds a lone surrogate \(\\ud800 at character 1\)",
        ),
        (
            "surrogate-label.jsonl",
            '{"text": "a", "label": "\\udfff"}\n',
            r"line 1: the label holds a lone surrogate",
        ),
        (
            "unterminated.jsonl",
            '{"text": "a, "label": "x"}\n{"text": "b\n',
            r"line 2: not valid JSON \(Unterminated string starting at column 10\)",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_the_line_and_what_was_expected(
    tmp_path, name, content, message
):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(ValueError, match=message) as error:
        load_labelled_texts(path)
    assert str(path) in str(error.value)


def test_many_bad_lines_are_listed_first_few_then_counted(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text(GOOD + "".join(f",{i % 2}\n" for i in range(9)))
    with pytest.raises(
        ValueError,
        match=r"9 lines cannot be used: line 6: the text is empty; .*line 10: the text is "
        r"empty; and 4 more$",
    ):
        load_labelled_texts(path)


def test_a_test_file_label_the_training_file_lacks_is_refused(tmp_path):
    path = write_csv(tmp_path / "test.csv", [("a", "pos"), ("b", "neutral")])
    with pytest.raises(
        ValueError,
        match=r"line 3: label 'neutral' is not one of the training file's classes "
        r"\['neg', 'pos'\]",
    ):
        load_labelled_texts(path, names=["neg", "pos"])


def test_the_loader_checks_its_arguments(tmp_path):
    with pytest.raises(TypeError, match="path must be a file path"):
        load_labelled_texts(3)
    with pytest.raises(
        ValueError, match=r"path must be a .csv file .* or a .jsonl file .*; got '.*data.json'"
    ):
        load_labelled_texts(tmp_path / "data.json")
    with pytest.raises(FileNotFoundError, match="missing.csv does not exist"):
        load_labelled_texts(tmp_path / "missing.csv")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ValueError, match="folder.csv is not a file"):
        load_labelled_texts(tmp_path / "folder.csv")
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    with pytest.raises(TypeError, match="names must be a list of class names"):
        load_labelled_texts(good, names="ab")
    with pytest.raises(ValueError, match="names must hold at least two distinct class names"):
        load_labelled_texts(good, names=["a", "a"])
    with pytest.raises(ValueError, match="min_per_class must be an int of at least 1"):
        load_labelled_texts(good, min_per_class=0)
    with pytest.raises(
        ValueError, match=r"each class needs at least 3 texts .*'a' has 2 \(lines 2, 3\); 'b' has 2"
    ):
        load_labelled_texts(good, min_per_class=3)


# ------------------------------------------------------------------ the project on a data file


def test_the_configuration_checks_its_data_fields(tmp_path):
    with pytest.raises(TypeError, match="data_file must be a file path"):
        ProjectConfig(data_file=5)
    with pytest.raises(ValueError, match="data_file must be a .csv file"):
        ProjectConfig(data_file="reviews.xlsx")
    with pytest.raises(ValueError, match="test_file needs data_file"):
        ProjectConfig(test_file="test.csv")
    with pytest.raises(
        ValueError, match="setting must be 'full' with data_file: 'removed' strips 20 Newsgroups'"
    ):
        ProjectConfig(setting="removed", data_file="reviews.csv")
    assert ProjectConfig(data_file=tmp_path / "r.csv").data_file == str(tmp_path / "r.csv")
    with pytest.raises(TypeError, match="config must be a ProjectConfig"):
        load_project_data({"data_file": "r.csv"})


def test_runs_made_before_data_files_existed_still_match_their_configuration():
    """The book's published runs have no data_file/test_file in their manifests."""
    wanted = asdict(RECIPES["full"])
    stored = {k: v for k, v in wanted.items() if k not in DATA_FIELDS}
    assert mismatch({"config": stored}, wanted) == ""
    assert mismatch({"config": {**stored, "seed": 1}}, wanted) == "seed: 1 there, 0 now"


def test_without_a_test_file_a_fixed_stratified_fifth_is_held_out(tmp_path):
    rows = [(t, topic) for topic in ("space", "hockey") for t in texts_of(topic, 20, 0)]
    path = write_csv(tmp_path / "topics.csv", rows)
    train, test = load_project_data(ProjectConfig(data_file=str(path)))
    assert (len(train), len(test)) == (32, 8) and np.bincount(test.labels).tolist() == [4, 4]
    assert sorted(train.texts + test.texts) == sorted(t for t, _ in rows)
    assert [t for t, _ in rows if t in set(test.texts)] == test.texts  # in file order
    other_seed, _ = load_project_data(ProjectConfig(data_file=str(path), seed=3))
    assert other_seed.texts == train.texts  # the test set does not move with the run's seed
    # stratified when the classes differ in size (an unstratified fifth would hold 9 and 1 here)
    rows = [(t, topic) for topic, n in (("space", 40), ("hockey", 10)) for t in texts_of(topic, n, 2)]
    _, test = load_project_data(ProjectConfig(data_file=str(write_csv(tmp_path / "uneven.csv", rows))))
    assert test.names == ["hockey", "space"] and np.bincount(test.labels).tolist() == [2, 8]
    # the smallest file a fifth of which holds one text of each class (2 of 10 texts, 2 classes)
    rows = [(t, topic) for topic in ("space", "hockey") for t in texts_of(topic, 5, 3)]
    smallest = ProjectConfig(data_file=str(write_csv(tmp_path / "ten.csv", rows)), validation_fraction=0.25)
    train, test = load_project_data(smallest)
    assert (len(train), len(test)) == (8, 2)


@pytest.mark.parametrize(
    "counts, options, message",
    [
        (
            {"space": 2, "hockey": 2, "cooking": 2},
            {},
            r"too small to hold out a test set: 20% of its 6 texts cannot hold one text of each of its 3 classes",
        ),
        (
            {"space": 12, "hockey": 12, "cooking": 12},
            {"train_limit": 3},
            (
                r"the train_limit of 3 texts drawn from data_file .*topics.csv \(less the held-out test set\) holds fewer "
                r"than 2 texts of the class"
            ),
        ),
        (
            {"space": 10, "hockey": 10, "cooking": 10},
            {"test_file": True},
            (
                r"the validation split \(validation_fraction 0.05 of the 30 texts of data_file .*: 2\) must leave at least "
                r"one text of each of the 3 classes"
            ),
        ),
        (
            {"space": 20, "hockey": 20, "cooking": 3},
            {"test_file": True, "validation_fraction": 0.4},
            (
                r"each class needs at least 3 training texts \(the TF-IDF baseline's 3-fold calibration\); of data_file "
                r".*topics.csv, 'cooking' keeps [12] of its 3: add texts of it"
            ),
        ),
    ],
)
def test_a_data_set_too_small_for_the_splits_is_refused_before_any_work(tmp_path, counts, options, message):
    rows = [(t, topic) for topic, n in counts.items() for t in texts_of(topic, n, 0)]
    path = write_csv(tmp_path / "topics.csv", rows)
    if options.get("test_file"):
        options = {
            "validation_fraction": 0.05,
            **options,
            "test_file": str(write_csv(tmp_path / "test.csv", rows[:2])),
        }
    with pytest.raises(ValueError, match=message):
        load_project_data(ProjectConfig(data_file=str(path), **options))


def quick(checkpoint, output):
    return [
        "--checkpoint",
        str(checkpoint),
        "--max-length",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--test-windows",
        "1",
        "--output",
        str(output),
    ]


def test_the_command_line_runs_the_recipe_on_a_csv_file_with_a_held_out_test_set(
    tmp_path, tiny_checkpoint, capsys
):
    rows = [(t, topic) for topic in ("space", "hockey") for t in texts_of(topic, 25, 1)]
    data = write_csv(tmp_path / "topics.csv", rows)
    run = tmp_path / "run"
    main(["--data-file", str(data), *quick(tiny_checkpoint, run)])
    assert "fine-tuning on 36 messages" in capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["names"] == ["hockey", "space"]
    assert (metrics["n_train"], metrics["n_validation"], metrics["n_test"]) == (36, 4, 10)
    assert metrics["config"]["data_file"] == str(data) and metrics["config"]["test_file"] is None
    assert set(metrics["test"]) == {"tfidf_svm", "bert", "ensemble"}
    matrix = (run / "confusion_matrix.csv").read_text().strip().splitlines()
    assert matrix[0] == "true \\ predicted,hockey,space"
    assert sum(int(v) for row in matrix[1:] for v in row.split(",")[1:]) == 10
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["data"] == {"data_file": file_sha256(data)}

    # read back: the held-out texts, and the same run reused while the file is unchanged
    results = load_run_results(run)
    assert len(results.test_texts) == 10 and set(results.test_texts) <= {t for t, _ in rows}
    main(["--data-file", str(data), *quick(tiny_checkpoint, run)])
    assert "reused the finished run of" in capsys.readouterr().out

    # a changed file is another run: never reused, never silently replaced
    with data.open("a", encoding="utf-8") as handle:
        handle.write("one more rocket launch,space\n")
    with pytest.raises(SystemExit) as exit_:
        main(["--data-file", str(data), *quick(tiny_checkpoint, run)])
    assert exit_.value.code == 2
    assert re.search(
        r"holds a finished run of another configuration \(data_file .*topics.csv changed since that run "
        r"\(SHA-256 [0-9a-f]{12} there, [0-9a-f]{12} now\)\)",
        capsys.readouterr().err,
    )
    with pytest.raises(ValueError, match="was made from data files that changed since"):
        load_run_results(run)
    with pytest.raises(ValueError, match="destination must be given for a run on a data file"):
        publish_run(run)


def test_the_command_line_runs_the_recipe_on_jsonl_files_with_integer_labels(
    tmp_path, tiny_checkpoint, capsys
):
    labels = {"space": 10, "hockey": 2, "cooking": 1}
    train = write_jsonl(
        tmp_path / "train.jsonl", [(t, labels[k]) for k in labels for t in texts_of(k, 16, 2)]
    )
    test = write_jsonl(tmp_path / "test.jsonl", [(t, labels[k]) for k in labels for t in texts_of(k, 4, 3)])
    run = tmp_path / "run"
    main(["--data-file", str(train), "--test-file", str(test), *quick(tiny_checkpoint, run)])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["names"] == ["1", "2", "10"] and metrics["n_test"] == 12
    assert metrics["n_train"] + metrics["n_validation"] == 48
    config = ProjectConfig(**metrics["config"])
    reused = load_finished_run(run, config)
    assert reused.test_texts == load_labelled_texts(test).texts
    assert reused.arrays["test_labels"].tolist() == [2] * 4 + [1] * 4 + [0] * 4  # 10, 2, 1 in that order
    assert set(json.loads((run / "manifest.json").read_text())["data"]) == {"data_file", "test_file"}


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--data-file", "{bad}"], r"{bad}: 1 line cannot be used: line 3: the text is empty"),
        (["--data-file", "{missing}"], r"missing.csv does not exist"),
        (["--data-file", "{good}", "--publish"], r"--publish copies 20 Newsgroups runs into the book"),
        (["--data-file", "{good}", "--setting", "removed"], r"--setting must be 'full' with data_file"),
        (["--test-file", "{good}"], r"--test-file needs data_file"),
        (["--data-file", "reviews.txt"], r"--data-file must be a .csv file"),
        (
            ["--data-file", "{good}", "--test-file", "{good}"],
            r"--test-file must be another file than data_file",
        ),
    ],
)
def test_the_command_line_refuses_a_bad_data_file_before_any_work(tmp_path, capsys, arguments, message):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,a\n,b\n")
    good = write_csv(
        tmp_path / "good.csv", [(t, topic) for topic in ("space", "hockey") for t in texts_of(topic, 10, 0)]
    )
    paths = {"bad": str(bad), "missing": str(tmp_path / "missing.csv"), "good": str(good)}
    arguments = [a.format(**paths) for a in arguments]
    with pytest.raises(SystemExit) as exit_:
        main([*arguments, "--output", str(tmp_path / "out")])
    assert exit_.value.code == 2 and re.search(
        message.format(**{k: re.escape(v) for k, v in paths.items()}), capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    "name, content",
    [
        ("long-header.csv", "x" * 1_000_000 + ",y\nfine,a\n"),
        ("long-label.csv", "text,label\nfine," + "a" * 1_000_000 + "\nother,b\n"),
        ("long-keys.jsonl", '{"t' + "x" * 1_000_000 + '": "a", "label": "x"}\n'),
    ],
)
def test_a_long_value_is_cut_in_the_message(tmp_path, name, content):
    # a megabyte header or label is quoted in a line or two, with its length, not echoed whole
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        load_labelled_texts(path)
    assert len(str(error.value)) < 600 and "characters)" in str(error.value)


def test_test_texts_that_occur_in_the_training_texts_are_reported(tmp_path):
    from lmcore.news.splits import load_project_data
    from lmcore.notices import TestTextsSeenInTraining

    rows = [(t, topic) for topic in ("space", "hockey") for t in texts_of(topic, 10, 0)]
    train = write_csv(tmp_path / "train.csv", rows)
    fresh = [(t, topic) for topic in ("space", "hockey") for t in texts_of(topic, 2, 1)]
    seen = [("  " + rows[0][0].replace(" ", "\n  "), rows[0][1]), (rows[12][0] + " ", rows[12][1])]
    test = write_csv(tmp_path / "test.csv", fresh + seen)  # two repeated, with other whitespace
    config = ProjectConfig(data_file=str(train), test_file=str(test))
    with pytest.warns(TestTextsSeenInTraining, match=r"^2 of the 6 texts of test_file .*test.csv also occur"):
        load_project_data(config)


def _load_data_repeated_in_training(tmp_path):
    from lmcore.news.splits import load_project_data
    from lmcore.notices import TestTextsSeenInTraining

    rows = [(t, topic) for topic in ("space", "hockey") for t in texts_of(topic, 10, 0)] * 2
    config = ProjectConfig(data_file=str(write_csv(tmp_path / "twice.csv", rows)))
    with pytest.warns(
        TestTextsSeenInTraining, match=r"^\d+ of the 8 texts of the test set also occur"
    ) as notices:
        called_at = inspect.currentframe().f_lineno + 1
        load_project_data(config)
    return notices[0], called_at


def test_held_out_texts_repeated_in_training_are_reported(tmp_path):
    notice, _ = _load_data_repeated_in_training(tmp_path)
    assert "the test set" in str(notice.message)


def test_held_out_texts_repeated_in_training_are_reported_pointing_at_the_caller(tmp_path):
    notice, called_at = _load_data_repeated_in_training(tmp_path)
    assert (notice.filename, notice.lineno) == (__file__, called_at)  # the line that loaded the data


@pytest.mark.skipif(not os.environ.get("LMCORE_DATA"), reason="needs LMCORE_DATA (CI sets it)")
def test_a_train_limit_too_small_for_20_newsgroups_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--train-limit", "5", "--output", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert (
        exit_.value.code == 2
        and "the train_limit of 5 texts drawn from 20 Newsgroups' training messages" in error
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "value, shown",
    [
        (None, "null"),
        (True, "a boolean true"),
        (3, "an integer 3"),
        (2.5, "a number 2.5"),
        (["é", 1], 'a list ["é", 1]'),  # as written in the file: not escaped to \u00e9
        ({"a": 1}, 'an object {"a": 1}'),
        (["x" * 56], 'a list ["' + "x" * 56 + '"]'),  # 60 characters: quoted whole
        (["x" * 57], 'a list ["' + "x" * 55 + "..."),  # 61: cut to 57 and "..."
    ],
)
def test_a_text_that_is_not_a_string_is_named_by_its_json_type(tmp_path, value, shown):
    path = tmp_path / "typed.jsonl"
    path.write_text(json.dumps({"text": value, "label": "a"}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        load_labelled_texts(path)
    assert f"line 1: the text must be a string; got {shown}" in str(error.value)
    assert f"got {shown}" + "x" not in str(error.value)  # no more than that


def test_a_line_that_is_not_an_object_is_named_by_its_json_type(tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_text('["a", "b"]\n3\n"text"\nnull\n{"text": "t", "label": "a"}\n', encoding="utf-8")
    with pytest.raises(ValueError) as error:
        load_labelled_texts(path)
    for line, kind in ((1, "a list"), (2, "an integer"), (3, "a string"), (4, "null")):
        assert f'line {line}: expected an object {{"text": ..., "label": ...}}; got {kind}' in str(
            error.value
        )


@pytest.mark.parametrize("length, cut", [(60, False), (61, True)])
def test_a_value_is_quoted_whole_up_to_60_characters(tmp_path, length, cut):
    label = "b" * (length - 2)  # repr adds two quotes
    train = write_csv(tmp_path / "train.csv", [(f"text {i}", "ab"[i % 2]) for i in range(4)])
    test = write_csv(tmp_path / "test.csv", [("other", label)])
    names = load_labelled_texts(train).names
    with pytest.raises(ValueError) as error:
        load_labelled_texts(test, names=names)
    assert (f"({length:,} characters)" in str(error.value)) is cut
    assert (repr(label) in str(error.value)) is not cut
    if cut:  # the first 48 characters, then how long the value is
        assert f"{repr(label)[:48]}... ({length} characters)" in str(error.value)


USE = "cannot be used: "
SPLIT = 'a text holding a comma must be in double quotes ("like, this"), and a quote inside it doubled ("")'


@pytest.mark.parametrize(
    "name, content, message",
    [
        (  # one column that holds a separator: the file uses another one
            "semicolons.csv",
            b"text;label\nhello;a\n",
            ": the header row (line 1) must name the columns 'text' and 'label'; columns 'text', 'label' "
            "missing, found ['text;label']; the file seems to separate its columns with ';': save it with commas",
        ),
        (  # two columns, one of them misnamed: no separator is suspected
            "title.csv",
            b"\n\ntitle;x,label\nhello,a\n",
            ": the header row (line 3) must name the columns 'text' and 'label'; column 'text' missing, "
            "found ['title;x', 'label']; the first non-blank line must be the header, for example: text,label",
        ),
        (  # one column, no separator in it: the header is simply not there
            "upper.csv",
            b"TEXT\nhello\n",
            ": the header row (line 1) must name the columns 'text' and 'label'; columns 'text', 'label' "
            "missing, found ['TEXT']; the first non-blank line must be the header, for example: text,label",
        ),
        (
            "twice.csv",
            b"label,text,label,text\n",
            ": the header row (line 1) names 'label', 'text' more than once; expected each of 'text' and "
            "'label' once, found ['label', 'text', 'label', 'text']",
        ),
        (  # every short or long row is listed: one field, three fields
            "fields.csv",
            b"text,label\nno label here\nsplit, text,a\nfine,a\nfine,b\nfine,b\nfine,a\n",
            f": 2 lines {USE}line 2: 1 field, but the header (line 1) has 2: {SPLIT}; "
            f"line 3: 3 fields, but the header (line 1) has 2: {SPLIT}",
        ),
        (  # exactly five problems: all shown, nothing "more"
            "five.jsonl",
            b'{"text": "a"}\n\n{"x": 1}\n[1]\n{"text": "b", "text": "c", "label": 1}\n{"text": "", "label": 1}\n',
            f": 5 lines {USE}line 1: key 'label' missing; found keys ['text']; "
            "line 3: keys 'text', 'label' missing; found keys ['x']; "
            'line 4: expected an object {"text": ..., "label": ...}; got a list; '
            "line 5: the key 'text' appears more than once: which value is meant?; line 6: the text is empty",
        ),
        ("empty.jsonl", b"\n\n", ' holds no texts: expected one {"text": ..., "label": ...} object per line'),
        ("empty.csv", b"", " holds no texts: expected a header row 'text,label' and one row per text"),
        (
            "workbook.csv",
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\xe9",
            ": line 1 is not UTF-8 text (byte 0xe9 at byte 10); expected a UTF-8 file: it looks like a zip "
            "file, such as an Excel workbook: save it as 'CSV UTF-8'",
        ),
        (
            "latin1.csv",
            "text,label\ncaf\xe9,a\n".encode("latin-1"),
            ": line 2 is not UTF-8 text (byte 0xe9 at byte 14); expected a UTF-8 file: save it as UTF-8 "
            "(in a spreadsheet: 'CSV UTF-8'; in an editor: encoding UTF-8)",
        ),
        (
            "one_rare.csv",
            b"text,label\na,x\nb,x\nc,y\n",
            ": each class needs at least 2 texts (the validation split is stratified); 'y' has 1 (line 4): "
            "add texts of it or remove its lines",
        ),
        (
            "two_rare.csv",
            b"text,label\na,x\nb,x\nc,y\nd,z\n",
            ": each class needs at least 2 texts (the validation split is stratified); 'y' has 1 (line 4); "
            "'z' has 1 (line 5): add texts of them or remove their lines",
        ),
    ],
)
def test_each_refusal_says_exactly_what_is_wrong(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError) as error:
        load_labelled_texts(path)
    assert str(error.value) == f"{path}{message}"


def test_a_quoted_text_keeps_its_own_line_breaks_and_blank_lines_do_not_end_a_file(tmp_path):
    csv_file = tmp_path / "windows.csv"
    csv_file.write_bytes(b'text,label\r\n"line one\r\nline two",a\r\nb,a\r\nc,b\r\nd,b\r\n')
    assert load_labelled_texts(csv_file).texts[0] == "line one\r\nline two"
    jsonl_file = tmp_path / "gaps.jsonl"
    jsonl_file.write_text('{"text": "a", "label": 0}\n\n{"text": "b", "label": 1}\n\n\n' * 2)
    assert len(load_labelled_texts(jsonl_file)) == 4


def test_a_test_file_is_checked_line_by_line_and_against_the_training_classes(tmp_path):
    test_file = tmp_path / "test.jsonl"
    test_file.write_text(
        '{"text": "a", "label": "x"}\n{"text": 5, "label": "x"}\n{"text": "c", "label": "w"}\n'
    )
    names = ["x", "y" * 192]  # the classes' list, quoted whole up to 200 characters: here 201
    with pytest.raises(ValueError) as error:
        load_labelled_texts(test_file, names=names)
    shown = repr(names)
    assert len(shown) == 201
    assert str(error.value) == (
        f"{test_file}: 2 lines {USE}line 2: the text must be a string; got an integer 5; "
        f"line 3: label 'w' is not one of the training file's classes {shown[:188]}... (201 characters)"
    )
    names = ["x", "y" * 191]
    with pytest.raises(ValueError, match=re.escape(f"classes {names!r}")):
        load_labelled_texts(test_file, names=names)
    with pytest.raises(
        TypeError, match=r"names must be a list of class names \(strings\) or None; got \[1, 2\]"
    ):
        load_labelled_texts(test_file, names=[1, 2])


def test_a_path_of_another_type_is_named_by_its_type():
    from lmcore.datasets import check_data_path

    with pytest.raises(TypeError, match=r"^data_file must be a file path \(str or Path\); got int$"):
        check_data_path("data_file", 3)
