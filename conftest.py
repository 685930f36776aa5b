"""Session-wide set-up for every test folder (tests/, integrations/, examples/): the PostgreSQL
server the tests use, chosen (and, where there is none, started) once per session — see
``tests/pg_server.py`` for the order and the embedded server."""

from __future__ import annotations

import os

import pytest

from tests import pg_server

_STASH_SERVER = pytest.StashKey[pg_server.EmbeddedPostgres | None]()
_STASH_URL = pytest.StashKey[str | None]()


def pytest_configure(config: pytest.Config) -> None:
    """Choose the PostgreSQL server and publish its URL in ``$RELAYKIT_TEST_POSTGRES_URL`` for
    this process, its subprocesses and its xdist workers. A server that cannot be had is not an
    error here: the PostgreSQL tests fail with the reason (``tests.pg.PostgresUnavailable``)."""
    config.stash[_STASH_URL] = os.environ.get(pg_server.URL_VAR)
    config.stash[_STASH_SERVER] = None
    try:
        url, server = pg_server.choose()
    except pg_server.EmbeddedPostgresError as exc:
        pg_server.startup_failure = str(exc)
        return
    config.stash[_STASH_SERVER] = server
    os.environ[pg_server.URL_VAR] = url


def pytest_report_header(config: pytest.Config) -> str:
    """Say which PostgreSQL server this session uses."""
    server = config.stash.get(_STASH_SERVER, None)
    url = os.environ.get(pg_server.URL_VAR, "none")
    kind = f"embedded, {server.root}" if server is not None else "given or local"
    return f"postgresql: {url} ({kind})"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the embedded server this process started, and restore the environment."""
    server = config.stash.get(_STASH_SERVER, None)
    if server is not None:
        server.stop()
    before = config.stash.get(_STASH_URL, None)
    if before is None:
        os.environ.pop(pg_server.URL_VAR, None)
    else:
        os.environ[pg_server.URL_VAR] = before
