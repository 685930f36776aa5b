"""Stores: where runs, tasks, logs, events and the key-value store live.

``open_store(url)`` picks the backend from the URL's scheme.
"""

from __future__ import annotations

from ..errors import StoreError
from ._protocol import Store
from ._url import DEFAULT_DATABASE_URL, DatabaseURL, database_url_from_env, parse_database_url
from .sqlite import SqliteStore


def store_from_url(url: str) -> Store:
    """A (not yet opened) store for ``url``; raises ``StoreError`` for an unusable URL."""
    parsed = parse_database_url(url)
    if parsed.scheme == "sqlite":
        return SqliteStore.from_url(url)
    raise StoreError(
        f"database URL {parsed.redacted}: PostgreSQL support is not available in this "
        "version of relaykit yet; use a sqlite:/// URL"
    )


__all__ = [
    "DEFAULT_DATABASE_URL",
    "DatabaseURL",
    "SqliteStore",
    "Store",
    "database_url_from_env",
    "parse_database_url",
    "store_from_url",
]
