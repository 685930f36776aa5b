"""Fixtures for the replay scenarios.

Each scenario file defines its jobs on the ``client`` fixture (a real SQLite file and a
``ManualClock``, so waits and retry delays elapse at once) and counts the side effects of its
task functions in ``effects``. The client's store is closed after every test.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from relaykit import Client
from relaykit.testing import ManualClock


@pytest.fixture
def client(db_url: str, clock: ManualClock) -> Iterator[Client]:
    """A client on a real SQLite file with a manual clock; its store is closed afterwards."""
    c = Client("scenarios", database_url=db_url, clock=clock, lease_seconds=5)
    yield c
    asyncio.run(c.close())


@pytest.fixture
def effects() -> Counter[str]:
    """How many times each side effect really happened (task functions increment it)."""
    return Counter()
