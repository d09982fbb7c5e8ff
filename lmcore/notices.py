"""What lmcore tells a reader that is not an error, as warnings of one category per kind, so a
test, a notebook or a script can filter each (``warnings.simplefilter("ignore", UnverifiedCheckpoint)``)."""

from __future__ import annotations

__all__ = ["LmcoreNotice", "UnverifiedCheckpoint", "WebScripts", "RunTrainedAgain", "TestTextsSeenInTraining"]


class LmcoreNotice(UserWarning):
    """Every notice of lmcore."""


class UnverifiedCheckpoint(LmcoreNotice):
    """A checkpoint whose SHA-256 lmcore does not know was read (its size and header were checked)."""


class WebScripts(LmcoreNotice):
    """An attention view loads bertviz's scripts from the web: d3 and jQuery were not fetched."""


class RunTrainedAgain(LmcoreNotice):
    """A run folder held a damaged or unfinished run, so the run is trained again."""


class TestTextsSeenInTraining(LmcoreNotice):
    """Some test texts also occur among the training texts: their scores flatter the model."""
