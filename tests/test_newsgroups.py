"""20 Newsgroups from the data folder: counts, subsets, scikit-learn's removal rules, clear errors."""

import gzip
import io
import os
import shutil
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from lmcore import newsgroups as N

SHARED = os.environ.get(N.DATA_VARIABLE)
needs_data = pytest.mark.skipif(
    not SHARED or not (Path(SHARED) / N.ARCHIVE).exists(),
    reason=f"set {N.DATA_VARIABLE} to a folder with {N.ARCHIVE} (CI does)",
)


@needs_data
def test_counts_and_names():
    train, test = N.load_20newsgroups(), N.load_20newsgroups("test")  # the training split by default
    assert (len(train), len(test)) == (11_314, 7_532)
    assert len(train.names) == 20 and train.names == sorted(train.names)
    counts = Counter(train.names[label] for label in train.labels)
    assert counts["alt.atheism"] == 480 and counts["talk.religion.misc"] == 377


@needs_data
def test_category_subset_and_removal_follow_scikit_learn():
    from sklearn.datasets._twenty_newsgroups import strip_newsgroup_header

    subset = N.load_20newsgroups("train", categories=["sci.space", "rec.autos"])
    assert subset.names == ["rec.autos", "sci.space"] and set(subset.labels) == {0, 1}
    assert len(subset) == 594 + 593
    stripped = N.load_20newsgroups("train", categories=["sci.space", "rec.autos"], remove=("headers",))
    assert stripped.texts[0] == strip_newsgroup_header(subset.texts[0])
    assert "From:" in subset.texts[0] and not stripped.texts[0].startswith("From:")
    with pytest.raises(ValueError, match=r"unknown categories \['sci.spaec'\]; the 20 are \['alt.atheism'"):
        N.load_20newsgroups("train", categories=["sci.space", "sci.spaec"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="subset must be 'train' or 'test'"):
        N.load_20newsgroups("validation")
    with pytest.raises(ValueError, match="remove may contain"):
        N.load_20newsgroups("train", remove=("signatures",))


def test_missing_folder_and_missing_archive(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"data folder .*nope \(from data_dir\) does not exist"):
        N.load_20newsgroups("train", data_dir=tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"nope.tar.gz \(from data_dir\) does not exist"):
        N.find_data_dir(tmp_path / "nope.tar.gz")  # an archive's name is not enough: it must be there
    (tmp_path / "notes.txt").write_text("not the data")
    monkeypatch.setenv(N.DATA_VARIABLE, str(tmp_path / "notes.txt"))
    with pytest.raises(ValueError, match=r"LMCORE_DATA must name a data folder or the archive .*notes.txt"):
        N.find_data_dir()
    for name in ("copy.tar.gz", "copy.tgz"):  # LMCORE_DATA may name the archive itself
        (tmp_path / name).write_bytes(b"")
        assert N.find_data_dir(tmp_path / name) == tmp_path / name
    monkeypatch.setenv(N.DATA_VARIABLE, "")  # set but empty: as if unset, scikit-learn's download
    assert N.find_data_dir() is None and N.find_data_dir("") is None
    with pytest.raises(FileNotFoundError, match=r"holds neither 20news-bydate.tar.gz"):
        N.load_20newsgroups("train", data_dir=tmp_path)


def test_corrupt_archive(tmp_path):
    (tmp_path / N.ARCHIVE).write_bytes(b"\x1f\x8b\x08\x00 this is not really a gzip file")
    with pytest.raises(ValueError, match="corrupt or incomplete"):
        N.load_20newsgroups("train", data_dir=tmp_path)


def test_partial_archive_is_refused(tmp_path):
    with tarfile.open(tmp_path / N.ARCHIVE, "w:gz") as archive:
        for i in range(3):
            data = f"From: someone\n\nmessage {i}".encode()
            info = tarfile.TarInfo(f"20news-bydate-train/sci.space/{i}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(
        ValueError, match=r"\(3 messages, expected 11314\); messages missing: 11314 .*not in the original: 3"
    ):
        N.load_20newsgroups("train", data_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [N.ARCHIVE]  # nothing extracted or cached


@needs_data
def test_extracted_folders_work_too(tmp_path):
    with tarfile.open(Path(SHARED) / N.ARCHIVE) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith("20news-bydate-test")]
        archive.extractall(tmp_path, members=members, filter="data")
    test = N.load_20newsgroups("test", data_dir=tmp_path)
    assert len(test) == 7_532
    shutil.rmtree(tmp_path / "20news-bydate-test")


def _extract_train(tmp_path) -> Path:
    folder = tmp_path / "extracted"
    with tarfile.open(Path(SHARED) / N.ARCHIVE) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith("20news-bydate-train")]
        archive.extractall(folder, members=members, filter="data")
    return folder


@needs_data
def test_a_flipped_bit_in_the_archive_is_never_used(tmp_path):
    """A bit flipped anywhere (a message, the tar padding after its end, the gzip trailer) gives a
    clear error naming the file; nothing is loaded silently altered."""
    original = (Path(SHARED) / N.ARCHIVE).read_bytes()
    for where in (len(original) // 2, len(original) - 20, len(original) - 3):
        damaged = bytearray(original)
        damaged[where] ^= 0x10
        folder = tmp_path / f"flip{where}"
        folder.mkdir()
        (folder / N.ARCHIVE).write_bytes(bytes(damaged))
        N._read_split.cache_clear()
        with pytest.raises(ValueError, match=rf"{folder / N.ARCHIVE}.*(corrupt|not the published)") as error:
            N.load_20newsgroups("train", data_dir=folder)
        assert "again" in str(error.value)  # says how to get a good copy


@needs_data
def test_an_edited_or_replaced_message_is_named(tmp_path):
    folder = _extract_train(tmp_path)
    space = folder / "20news-bydate-train" / "sci.space"
    first, second = sorted(space.iterdir())[:2]
    first.write_bytes(first.read_bytes().replace(b"space", b"spice", 1))
    second.unlink()
    with pytest.raises(
        ValueError,
        match=rf"changed: 1 \(train/sci.space/{first.name}\).*missing: 1 "
        rf"\(train/sci.space/{second.name}\)",
    ):
        N.load_20newsgroups("train", data_dir=folder)


@needs_data
def test_harmless_extras_are_ignored_and_a_repacked_archive_is_accepted(tmp_path):
    folder = _extract_train(tmp_path)
    (folder / "20news-bydate-train" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "20news-bydate-train" / "sci.space" / "Thumbs.db").write_bytes(b"thumbnails")
    (folder / "20news-bydate-train" / "sci.space" / "._60804").write_bytes(b"AppleDouble")
    assert len(N.load_20newsgroups("train", data_dir=folder)) == 11_314
    repacked = tmp_path / "repacked.tar.gz"  # another packing of the same messages: other bytes
    with tarfile.open(repacked, "w:gz", compresslevel=1) as archive:
        archive.add(folder / "20news-bydate-train", arcname="20news-bydate-train")
    assert repacked.read_bytes() != (Path(SHARED) / N.ARCHIVE).read_bytes()
    train = N.load_20newsgroups("train", data_dir=repacked)  # LMCORE_DATA may name the archive itself
    assert len(train) == 11_314


def test_scikit_learns_download_is_verified_too(monkeypatch):
    """The fallback's messages go through the same digest: an altered cache is refused."""
    from types import SimpleNamespace

    import sklearn.datasets

    fake = SimpleNamespace(
        data=["From: a\n\nhello"],
        filenames=["/cache/20news_home/train/sci.space/1"],
        target=[0],
        target_names=["sci.space"],
    )
    monkeypatch.delenv(N.DATA_VARIABLE, raising=False)
    monkeypatch.delenv("SCIKIT_LEARN_DATA", raising=False)
    monkeypatch.setattr(sklearn.datasets, "fetch_20newsgroups", lambda **kwargs: fake)
    with pytest.raises(
        ValueError,
        match=r"read from scikit-learn's download \(in ~/scikit_learn_data\) is not the published"
        r".*not in the original: 1 \(train/sci.space/1\)",
    ):
        N.load_20newsgroups("train")
    monkeypatch.setenv("SCIKIT_LEARN_DATA", "/courses/data")  # scikit-learn's own setting
    with pytest.raises(ValueError, match=r"read from scikit-learn's download \(in /courses/data\)"):
        N.load_20newsgroups("train")


@needs_data
def test_scikit_learns_download_gives_what_the_data_folder_gives(monkeypatch, scikit_learn_home):
    """Without LMCORE_DATA the data come from scikit-learn's own cache (here made by its own code
    from the shared archive): the same texts, labels and names, split, categories and removal
    rules included."""
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(scikit_learn_home))
    two = ["sci.space", "rec.autos"]
    for subset, categories, remove in [("test", None, ()), ("train", two, N.REMOVABLE)]:
        monkeypatch.delenv(N.DATA_VARIABLE)
        downloaded = N.load_20newsgroups(subset, categories, remove)
        monkeypatch.setenv(N.DATA_VARIABLE, SHARED)
        from_folder = N.load_20newsgroups(subset, categories, remove)
        assert len(downloaded) == len(from_folder) == (7_532 if subset == "test" else 594 + 593)
        assert downloaded.names == from_folder.names
        assert list(downloaded.labels) == list(from_folder.labels)
        assert list(downloaded.texts) == list(from_folder.texts)


def _published_keys(subset: str) -> list[str]:
    """The published messages of a split, "newsgroup/file", in the data folder's order."""
    with gzip.open(N.MESSAGE_TABLE, "rt") as table:
        keys = [line.split()[0].removeprefix(f"{subset}/") for line in table if line.startswith(f"{subset}/")]
    return sorted(keys, key=lambda key: tuple(key.split("/")))


def test_a_mismatch_names_five_messages_of_each_kind_and_counts_the_rest():
    keys = _published_keys("test")
    for edited, listed_edits in [
        (5, ", ".join(f"test/{key}" for key in keys[:5])),
        (6, ", ".join(f"test/{key}" for key in keys[:5]) + " and 1 more"),
        (12, ", ".join(f"test/{key}" for key in keys[:5]) + " and 7 more"),
    ]:
        messages = [(key, b"edited") for key in keys[:edited]] + [("sci.space/1", b"not published")]
        with pytest.raises(ValueError) as error:
            N.verify_messages("test", messages, "a classroom copy")
        missing = ", ".join(f"test/{key}" for key in keys[edited : edited + 5])
        assert str(error.value) == (
            f"the test split read from a classroom copy is not the published 20 Newsgroups 'bydate' "
            f"data ({edited + 1} messages, expected 7532); messages changed: {edited} ({listed_edits}); "
            f"missing: {7532 - edited} ({missing} and {7532 - edited - 5} more); "
            f"not in the original: 1 (test/sci.space/1). {N.GOOD_COPY}."
        )


@needs_data
def test_the_published_messages_in_another_order_are_refused():
    texts, _ = N._read_split(str(Path(SHARED).resolve()), "test")
    messages = [(key, text.encode("latin-1")) for key, text in zip(_published_keys("test"), texts)]
    N.verify_messages("test", messages, "the data folder")  # in order: accepted
    with pytest.raises(
        ValueError, match=r"\(7532 messages, expected 7532\); messages in another order or encoding\. "
    ):
        N.verify_messages("test", messages[::-1], "a shuffled copy")
