"""Shared fixtures: a real SQLite file per test and a client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from relaykit import Client
from relaykit.testing import ManualClock


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database file (synchronous=NORMAL keeps the suite fast)."""
    return f"sqlite:///{tmp_path / 'relaykit.db'}?synchronous=normal"


@pytest.fixture
def clock() -> ManualClock:
    """A clock under the test's control: waits and retry delays elapse at once."""
    return ManualClock()


@pytest.fixture
def client(db_url: str, clock: ManualClock) -> Iterator[Client]:
    """A client on a real SQLite file with a manual clock."""
    c = Client("test", database_url=db_url, clock=clock, lease_seconds=5)
    yield c
