"""Shared fixtures: a client on each store backend — a real SQLite file, and a real
PostgreSQL database (created once per session, emptied before every test)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pg import PostgresUnavailable, create_database, drop_database, empty_tables

from relaykit import Client
from relaykit.store.postgres import PostgresStore
from relaykit.testing import ManualClock


def create_test_database() -> str:
    """A fresh PostgreSQL database; an unreachable server fails the test (never a skip)."""
    try:
        return create_database()
    except PostgresUnavailable as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)  # outside the except: one message, not a chain


async def _migrate(url: str) -> int:
    store = PostgresStore.from_url(url)
    await store.open()
    try:
        return await store.schema_version()
    finally:
        await store.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[tuple[str, int]]:
    """A migrated PostgreSQL database for this session, and its schema version; dropped at
    the end of the session."""
    url = create_test_database()
    try:
        version = asyncio.run(_migrate(url))
        yield url, version
    finally:
        drop_database(url)


@pytest.fixture
def postgres_url(postgres_database: tuple[str, int]) -> str:
    """The session's PostgreSQL database, its tables emptied for this test."""
    url, version = postgres_database
    empty_tables(url, keep_version=version)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend in turn: a fresh SQLite file (synchronous=NORMAL
    keeps the suite fast), then the session's PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
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
