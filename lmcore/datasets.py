"""Labelled texts of your own, from a CSV or JSON-lines file: the news project on another data set.

A CSV file (``.csv``) has a header row naming the columns ``text`` and ``label`` (other columns
are ignored); a JSON-lines file (``.jsonl``) has one object per line with the keys ``"text"``
and ``"label"``::

    text,label
    "The battery died after two days, and support never answered.",negative
    Exactly what I ordered; it arrived a day early.,positive

    {"text": "The battery died after two days.", "label": "negative"}
    {"text": "Exactly what I ordered.", "label": "positive"}

    reviews = load_labelled_texts("reviews.csv")         # texts, labels 0..k-1, names
    test = load_labelled_texts("test.jsonl", names=reviews.names)

Labels may be strings or integers; they become the class numbers 0..k-1 in sorted order
(numerically when every label is a whole number, so 2 comes before 10), and ``names[label]``
gives each number's label back as a string. The file must be UTF-8 (a byte-order mark, as
spreadsheets write, is accepted). Blank lines are skipped; texts are kept exactly as written.

Everything is checked before a text is used, and a file that cannot be used is refused with a
``ValueError`` that names the file, the lines at fault, what was expected and what was found:
a missing column or key, a row with more or fewer fields than the header, a repeated header
row (files joined together), a key given twice, an empty or whitespace-only text, a text that
is not a string, an empty label, a label that is neither a string nor an integer, bytes that
are not UTF-8, a lone surrogate, a file with fewer than two classes, and a class
with fewer than ``min_per_class`` texts (the project's validation split is stratified, so it
needs at least two of each).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._checks import expect_int

__all__ = ["DATA_SUFFIXES", "LabelledTexts", "check_data_path", "load_labelled_texts"]

DATA_SUFFIXES = (".csv", ".jsonl")
SHOWN_PROBLEMS = 5  # a file with many bad lines: the first few are listed, then how many more


@dataclass
class LabelledTexts:
    """Texts, integer labels and the label names (``names[label]``): one split of 20 Newsgroups
    (:func:`lmcore.newsgroups.load_20newsgroups`) or of a data file of one's own."""

    texts: list[str]
    labels: list[int]
    names: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self):  # allows: texts, labels, names = load_labelled_texts(...)
        return iter((self.texts, self.labels, self.names))


def check_data_path(name: str, path) -> str:
    """``path`` as a string, after checking it is a path (``TypeError``) ending with one of
    :data:`DATA_SUFFIXES` (``ValueError``); ``name`` is the argument named in the messages."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or Path); got {type(path).__name__}")
    path = os.fspath(path)
    if not path.lower().endswith(DATA_SUFFIXES):
        raise ValueError(
            f"{name} must be a .csv file (columns text,label) or a .jsonl file (one "
            f'{{"text": ..., "label": ...}} object per line); got {path!r}'
        )
    return path


def load_labelled_texts(
    path: str | Path, names: Sequence[str] | None = None, min_per_class: int = 2
) -> LabelledTexts:
    """The texts and labels of a ``.csv`` or ``.jsonl`` file (see the module's docstring).

    ``names``: the class names of a training file, for its test file: every label must be one of
    them and is numbered as there (a test file may lack some classes). Without ``names`` the
    classes are the file's own labels, sorted; there must be at least two, each with at least
    ``min_per_class`` texts. Raises ``FileNotFoundError`` for a missing file and ``ValueError``,
    naming the file and its lines, for one that cannot be used.
    """
    path = Path(check_data_path("path", path))
    expect_int("min_per_class", min_per_class, minimum=1)
    if names is not None:
        if (
            isinstance(names, str)
            or not isinstance(names, Sequence)
            or not all(isinstance(n, str) for n in names)
        ):
            raise TypeError(f"names must be a list of class names (strings) or None; got {names!r}")
        if len(set(names)) != len(names) or len(names) < 2:
            raise ValueError(f"names must hold at least two distinct class names; got {list(names)!r}")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (relative paths start from {Path.cwd()})")
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    text = _decode(path, path.read_bytes())
    rows, problems = (_read_csv if path.suffix.lower() == ".csv" else _read_jsonl)(path, text)
    if not rows and not problems:
        raise ValueError(
            f"{path} holds no texts: expected "
            + (
                "a header row 'text,label' and one row per text"
                if path.suffix.lower() == ".csv"
                else 'one {"text": ..., "label": ...} object per line'
            )
        )
    own_classes = names is None
    if own_classes:
        found = {label for _, _, label in rows}
        names = (
            sorted(found, key=lambda n: (int(n), n))
            if all(re.fullmatch(r"[+-]?\d+", n) for n in found)
            else sorted(found)
        )
    else:
        known = set(names)
        problems += [
            (line, f"label {_cut(label)} is not one of the training file's classes {_cut(list(names), 200)}")
            for line, _, label in rows
            if label not in known
        ]
    if problems:
        problems.sort()
        shown = "; ".join(f"line {line}: {problem}" for line, problem in problems[:SHOWN_PROBLEMS])
        more = f"; and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        n_lines = len({line for line, _ in problems})  # a line may have two problems (its text and its label)
        lines = "1 line" if n_lines == 1 else f"{n_lines} lines"
        raise ValueError(f"{path}: {lines} cannot be used: {shown}{more}")
    index = {name: i for i, name in enumerate(names)}
    texts, labels = [text for _, text, _ in rows], [index[label] for _, _, label in rows]
    if own_classes:
        _check_classes(path, rows, names, min_per_class)
    return LabelledTexts(texts, labels, list(names))


def _check_classes(path: Path, rows, names, min_per_class: int) -> None:
    """At least two classes, each with at least ``min_per_class`` texts."""
    counts = Counter(label for _, _, label in rows)
    if len(counts) < 2:
        label = next(iter(counts))
        raise ValueError(
            f"{path}: every text has the label {_cut(label)} ({len(rows)} texts); "
            "a classifier needs at least 2 classes"
        )
    rare = [name for name in names if 0 < counts[name] < min_per_class]
    if rare:
        listed = "; ".join(
            f"{_cut(name)} has {counts[name]} (line{'s' * (counts[name] > 1)} "
            f"{', '.join(str(line) for line, _, label in rows if label == name)})"
            for name in rare
        )
        raise ValueError(
            f"{path}: each class needs at least {min_per_class} texts (the validation split is "
            f"stratified); {listed}: add texts of {'it' if len(rare) == 1 else 'them'} or remove "
            f"{'its' if len(rare) == 1 else 'their'} lines"
        )


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        hint = (
            "it looks like a zip file, such as an Excel workbook: save it as 'CSV UTF-8'"
            if data.startswith(b"PK\x03\x04")
            else "save it as UTF-8 (in a spreadsheet: 'CSV UTF-8'; in an editor: encoding UTF-8)"
        )
        raise ValueError(
            f"{path}: line {line} is not UTF-8 text (byte 0x{data[error.start]:02x} at byte "
            f"{error.start}); expected a UTF-8 file: {hint}"
        ) from None


def _label(value, line: int, problems: list) -> str | None:
    """A label as its name (a string), or ``None`` after noting why it cannot be one."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append((line, f"the label must be a string or an integer; got {_json(value)}"))
        return None
    name = str(value).strip()
    if not name:
        problems.append((line, "the label is empty"))
        return None
    return _unicode(name, "label", line, problems)


def _text(value, line: int, problems: list) -> str | None:
    if not isinstance(value, str):
        problems.append((line, f"the text must be a string; got {_json(value)}"))
        return None
    if not value.strip():
        problems.append((line, "the text is empty" if not value else "the text is only whitespace"))
        return None
    return _unicode(value, "text", line, problems)


def _unicode(value: str, what: str, line: int, problems: list) -> str | None:
    """``value`` unless it holds a lone surrogate (JSON's ``"\\ud800"``): half of a character's
    UTF-16 pair, no character at all, which a tokenizer would fail on much later."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        problems.append(
            (
                line,
                f"the {what} holds a lone surrogate (\\u{ord(value[error.start]):04x} at character "
                f"{error.start}), half of a UTF-16 pair and no character: write the whole character",
            )
        )
        return None
    return value


def _cut(value, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters: a message quotes values, never megabytes."""
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[: limit - 12]}... ({len(shown):,} characters)"


def _kind(value) -> str:
    return {
        type(None): "null",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "an object",
        str: "a string",
    }.get(type(value), type(value).__name__)


def _json(value) -> str:
    """A JSON value as a message shows it: ``null``, ``an integer 42``, ``a list ["a", 1]`` (cut short)."""
    if value is None:
        return "null"
    shown = json.dumps(value, ensure_ascii=False)
    return f"{_kind(value)} {shown if len(shown) <= 60 else shown[:57] + '...'}"


def _read_csv(path: Path, text: str):
    """``([(line, text, label)], [(line, problem)])`` of a CSV file; raises for a bad header."""
    limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long text is one field: no 128 KiB limit
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows, problems, header, header_line, start = [], [], None, 0, 1
        for fields in reader:
            line, start = start, reader.line_num + 1  # the line the record began on
            if not "".join(fields).strip():
                continue  # a blank line, or a row of empty cells as spreadsheets leave at the end
            if header is None:
                header, header_line = [name.strip() for name in fields], line
                _check_header(path, header, header_line)
                text_at, label_at = header.index("text"), header.index("label")
                continue
            if [name.strip() for name in fields] == header:
                problems.append(
                    (
                        line,
                        f"repeats the header row (line {header_line}): files joined together? keep only the first",
                    )
                )
                continue
            if len(fields) != len(header):
                problems.append(
                    (
                        line,
                        (
                            f"{len(fields)} field{'s' * (len(fields) != 1)}, but the header (line "
                            f"{header_line}) has {len(header)}: a text holding a comma must be in double "
                            'quotes ("like, this"), and a quote inside it doubled ("")'
                        ),
                    )
                )
                continue
            value, label = _text(fields[text_at], line, problems), _label(fields[label_at], line, problems)
            if value is not None and label is not None:
                rows.append((line, value, label))
    except csv.Error as error:
        raise ValueError(f"{path}: line {reader.line_num} is not valid CSV ({error})") from None
    finally:
        csv.field_size_limit(limit)
    return rows, problems


def _check_header(path: Path, header: list[str], line: int) -> None:
    missing = [name for name in ("text", "label") if name not in header]
    if missing:
        separator = next((s for s in ";\t|" if len(header) == 1 and s in header[0]), None)
        hint = (
            f"; the file seems to separate its columns with {separator!r}: save it with commas"
            if separator
            else "; the first non-blank line must be the header, for example: text,label"
        )
        raise ValueError(
            f"{path}: the header row (line {line}) must name the columns 'text' and 'label'; "
            f"column{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))} "
            f"missing, found {_cut(header)}{hint}"
        )
    twice = sorted(name for name, n in Counter(header).items() if n > 1 and name in ("text", "label"))
    if twice:
        raise ValueError(
            f"{path}: the header row (line {line}) names {', '.join(map(repr, twice))} more than "
            f"once; expected each of 'text' and 'label' once, found {_cut(header)}"
        )


class _RepeatedKey(ValueError):
    """A JSON object names a key twice (``json`` would keep the last value silently)."""


def _object_without_repeated_keys(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    twice = next((key for key in keys if keys.count(key) > 1), None)
    if twice is not None:
        raise _RepeatedKey(twice)
    return dict(pairs)


def _read_jsonl(path: Path, text: str):
    """``([(line, text, label)], [(line, problem)])`` of a JSON-lines file."""
    rows, problems = [], []
    for line, raw in enumerate(text.split("\n"), start=1):  # not splitlines: JSON strings may hold U+2028
        if not raw.strip():
            continue
        try:
            item = json.loads(raw, object_pairs_hook=_object_without_repeated_keys)
        except json.JSONDecodeError as error:
            where = f"column {error.colno}" if error.msg.endswith(" at") else f"at column {error.colno}"
            problems.append(
                (
                    line,
                    (
                        f"not valid JSON ({error.msg} {where}); expected one "
                        '{"text": ..., "label": ...} object per line'
                    ),
                )
            )
            continue
        except _RepeatedKey as error:
            problems.append(
                (line, f"the key {_cut(error.args[0])} appears more than once: which value is meant?")
            )
            continue
        if not isinstance(item, dict):
            problems.append((line, f'expected an object {{"text": ..., "label": ...}}; got {_kind(item)}'))
            continue
        missing = [key for key in ("text", "label") if key not in item]
        if missing:
            problems.append(
                (
                    line,
                    (
                        f"key{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))} missing; "
                        f"found keys {_cut(sorted(item))}"
                    ),
                )
            )
            continue
        value, label = _text(item["text"], line, problems), _label(item["label"], line, problems)
        if value is not None and label is not None:
            rows.append((line, value, label))
    return rows, problems
