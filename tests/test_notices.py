"""lmcore.notices: every notice is a warning of its own category, so it can be filtered."""

import warnings

import pytest

from lmcore import notices


@pytest.mark.parametrize(
    "category", [notices.UnverifiedCheckpoint, notices.WebScripts, notices.RunTrainedAgain]
)
def test_each_notice_can_be_silenced_alone(category):
    assert issubclass(category, notices.LmcoreNotice) and issubclass(category, UserWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", category)
        warnings.warn("silenced", category, stacklevel=1)
        warnings.warn("shown", notices.LmcoreNotice, stacklevel=1)
    assert [str(w.message) for w in caught] == ["shown"]
