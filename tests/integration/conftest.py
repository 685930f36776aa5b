"""Fixtures for the integration tests: the store backends, a real SQLite file and a real
PostgreSQL database.

``backend`` is parametrized over both, so a test that takes it runs once per backend; the
PostgreSQL database is created once per session (see ``tests/pg.py``) and its tables are
emptied before every test. An unreachable PostgreSQL server fails the tests that need it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import create_test_database
from tests.pg import Backend, drop_database, sqlite_backend


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each store backend in turn, on an empty (migrated) database."""
    if request.param == "sqlite":
        return sqlite_backend(str(tmp_path / "relaykit.db"))
    return Backend("postgres", request.getfixturevalue("postgres_url"))


@pytest.fixture
def empty_database(backend: Backend, tmp_path: Path) -> Iterator[Backend]:
    """A database of ``backend``'s kind with no tables at all (for migration tests)."""
    if backend.name == "sqlite":
        yield sqlite_backend(str(tmp_path / "empty.db"))
        return
    url = create_test_database()
    try:
        yield Backend("postgres", url)
    finally:
        drop_database(url)
