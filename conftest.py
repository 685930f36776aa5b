"""Session-wide set-up for every test folder (tests/, integrations/, examples/).

The PostgreSQL server the tests use is chosen (and, where there is none, started) once per
session — see ``tests/pg_server.py`` for the order and the embedded server.

The whole suite runs on every core (pytest-xdist): ``pytest`` without paths (the README's
command, CI) means ``-n auto --dist loadfile``, one worker per core, each test file on one
worker, so a module's fixtures (the packaging test's wheels and venv) are made once.
``pytest PATH...`` (a targeted run) stays in one process, where starting workers would cost more
than it saves; add ``-n auto`` to spread it. A command line that chooses keeps its choice:
``-n 0``, ``-n 4``, ``--dist load``; ``-p no:xdist`` runs without the plugin. This is a hook
rather than ``addopts`` because ``-n`` in ``addopts`` makes ``-p no:xdist`` an error (an
unknown option). Runs that cannot be distributed stay in one process: ``--pdb`` (xdist refuses
it), ``-s`` (workers' output is not shown live) and ``--collect-only``. Each worker is its own
pytest session: its own PostgreSQL database (``tests/pg.py``), its own ``tmp_path`` root and
free ports (``tests/serving.py``); the server chosen here is the controller's, published to the
workers in ``$RELAYKIT_TEST_POSTGRES_URL``.
"""

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


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which turns "auto" into a count
def pytest_cmdline_main(config: pytest.Config) -> None:
    """``-n auto --dist loadfile`` for a whole-suite run when nothing else was chosen."""
    if not config.pluginmanager.hasplugin("xdist"):
        return  # -p no:xdist, or not installed
    if hasattr(config, "workerinput") or "PYTEST_XDIST_WORKER" in os.environ:
        return  # inside a worker: it runs what the controller sends
    option = config.option
    chose = option.numprocesses is not None or option.tx or option.dist != "no"
    targeted = config.args_source is pytest.Config.ArgsSource.ARGS
    cannot = option.usepdb or option.collectonly or option.capture == "no"
    if chose or targeted or cannot:
        return
    option.numprocesses = "auto"
    option.dist = "loadfile"
