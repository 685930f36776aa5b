"""Fixtures every integration package's tests share: cassettes are replayed, never recorded
(the vendors' APIs are unreachable from CI), and anything recorded by hand is scrubbed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.vcr_scrub import recording_config


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """pytest-recording's options: replay only, match on the body, scrub secrets."""
    return recording_config()


@pytest.fixture
def cassette(vcr: Any) -> Iterator[Any]:
    """The test's cassette (``@pytest.mark.vcr``); fails the test if it left an interaction
    unplayed, so a cassette cannot hold requests the code no longer makes."""
    if vcr is None:
        pytest.fail("the `cassette` fixture needs @pytest.mark.vcr on the test", pytrace=False)
    yield vcr
    unplayed = len(vcr.data) - vcr.play_count
    assert unplayed == 0, f"{vcr._path}: {unplayed} recorded interaction(s) were not replayed"
