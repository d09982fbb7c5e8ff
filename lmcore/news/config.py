"""What one run of the news project does: its configuration, checked field by field before any
work, and the book's recipe for each setting (:data:`RECIPES`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._checks import expect_int, expect_number, expect_probability
from ..datasets import check_data_path
from ..encoding import TextView

__all__ = ["SETTINGS", "DATA_FIELDS", "ADDED_FIELDS", "ProjectConfig", "RECIPES"]

SETTINGS = {"full": (), "removed": ("headers", "footers", "quotes")}
DATA_FIELDS = ("data_file", "test_file")
# Configuration fields added after some runs were stored, with the value those runs had
ADDED_FIELDS = {**dict.fromkeys(DATA_FIELDS), "head_share": 0.25}


@dataclass
class ProjectConfig:
    setting: str = "full"
    checkpoint: str | None = None  # a local checkpoint folder; None: the bundled all-MiniLM-L6-v2
    max_length: int = 128  # tokens per training sequence, [CLS] and [SEP] included
    truncation: str = "head+tail"
    head_share: float = 0.25  # of the tokens "head+tail" keeps, the share taken from the start
    epochs: int = 2
    batch_size: int = 32
    lr: float = 1e-4
    pooling: str = "mean"
    freeze_layers: int = 0  # keep the embeddings and this many lowest encoder layers as pretrained
    validation_fraction: float = 0.1
    dropout: float = 0.0  # every dropout rate during fine-tuning; 0 halves a CPU step (chapter 5)
    test_windows: int = (
        4  # extra windows per long message averaged at prediction time (encoding.encode_windows)
    )
    bf16: bool = False  # bf16 autocast: fast on GPUs and CPUs with AMX; measured slower on avx512_bf16 alone (chapter 5)
    train_limit: int | None = None  # use only this many training messages (class-sized and quick runs)
    test_limit: int | None = None
    seed: int = 0
    data_file: str | None = None  # your own labelled texts (.csv or .jsonl); None: 20 Newsgroups
    test_file: str | None = None  # its test set; None: a stratified 20% of data_file is held out

    @property
    def view(self) -> TextView:
        """How the run reads a message: its training view, and its windows at prediction time."""
        return TextView(self.max_length, self.truncation, self.head_share, self.test_windows)

    def __post_init__(self):
        """Every field checked before any work starts; errors name the field."""
        if self.setting not in SETTINGS:
            raise ValueError(f"setting must be one of {sorted(SETTINGS)}; got {self.setting!r}")
        if isinstance(self.checkpoint, Path):
            self.checkpoint = str(self.checkpoint)
        if self.checkpoint is not None and not isinstance(self.checkpoint, str):
            raise TypeError(f"checkpoint must be a folder path or None; got {type(self.checkpoint).__name__}")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean'; got {self.pooling!r}")
        for name in ("epochs", "batch_size"):
            expect_int(name, getattr(self, name), minimum=1)
        for name in ("train_limit", "test_limit"):  # None means all; 0 or -5 would silently mean all
            if getattr(self, name) is not None:
                expect_int(name, getattr(self, name), minimum=1)
        for name in ("freeze_layers", "test_windows", "seed"):
            expect_int(name, getattr(self, name), minimum=0)
        expect_number("lr", self.lr, above=0.0)
        _ = self.view  # the TextView checks max_length, truncation and head_share
        expect_probability("dropout", self.dropout)
        if not 0.0 < expect_number("validation_fraction", self.validation_fraction) < 0.5:
            raise ValueError(f"validation_fraction must be in (0, 0.5); got {self.validation_fraction!r}")
        if not isinstance(self.bf16, bool):
            raise TypeError(f"bf16 must be True or False; got {self.bf16!r}")
        for name in DATA_FIELDS:
            if getattr(self, name) is not None:
                setattr(self, name, check_data_path(name, getattr(self, name)))
        if self.test_file is not None and self.data_file is None:
            raise ValueError(
                f"test_file needs data_file, the training texts it tests; got test_file={self.test_file!r} alone"
            )
        if self.test_file is not None and Path(self.test_file).resolve() == Path(self.data_file).resolve():
            raise ValueError(
                f"test_file must be another file than data_file (both are {self.data_file!r}): a model "
                "tested on the texts it trained on scores what it memorised; leave test_file out to "
                "hold out a part of data_file"
            )
        if self.data_file is not None and self.setting != "full":
            raise ValueError(
                f"setting must be 'full' with data_file: {self.setting!r} strips 20 Newsgroups' "
                f"{', '.join(SETTINGS[self.setting])}, and the texts of a data file are used as they are"
            )


# The book's recipe for each setting (chapter 5 shows the validation runs behind each choice).
RECIPES = {
    "full": ProjectConfig(setting="full", max_length=192, epochs=2, lr=2e-4, freeze_layers=0, test_windows=4),
    "removed": ProjectConfig(
        setting="removed", max_length=256, epochs=2, lr=2e-4, freeze_layers=0, test_windows=4
    ),
}
