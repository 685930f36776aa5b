"""Database URLs in SQLAlchemy's form."""

from __future__ import annotations

import pytest

from relaykit.errors import StoreError
from relaykit.store import parse_database_url, store_from_url
from relaykit.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative/path.db", "relative/path.db"),  # three slashes: relative
        ("sqlite:////absolute/path.db", "/absolute/path.db"),  # four: absolute
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("SQLITE:///x.db", "x.db"),  # scheme is case-insensitive
    ],
)
def test_sqlite_paths(url: str, path: str) -> None:
    assert parse_database_url(url).path == path


def test_query_option_names_are_case_insensitive_and_values_kept() -> None:
    parsed = parse_database_url("sqlite:///x.db?Synchronous=NORMAL")
    assert parsed.options == {"synchronous": "NORMAL"}
    store = store_from_url("sqlite:///x.db?SYNCHRONOUS=Normal")
    assert isinstance(store, SqliteStore)


def test_password_in_the_query_is_redacted() -> None:
    parsed = parse_database_url("postgresql://u@db/app?password=hunter2&sslmode=require")
    assert "hunter2" not in parsed.redacted
    assert "sslmode=require" in parsed.redacted


def test_postgres_password_is_redacted() -> None:
    parsed = parse_database_url("postgresql://u:secret@db:5432/app")
    assert parsed.scheme == "postgresql"
    assert "secret" not in parsed.redacted


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("relaykit.db", "not a URL"),
        ("mysql://x/y", "unsupported scheme"),
        ("sqlite://host/x.db", "three slashes"),
        ("sqlite:///x.db?synchronous=sometimes", "synchronous"),
        ("sqlite:///x.db?color=blue", "unknown option"),
    ],
)
def test_bad_urls_name_the_problem(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        store_from_url(url)


def test_synchronous_normal_is_selectable() -> None:
    store = store_from_url("sqlite:///x.db?synchronous=normal")
    assert isinstance(store, SqliteStore)
