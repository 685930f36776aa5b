"""Stores: where runs, tasks, logs, events and the key-value store live.

``store_from_url(url)`` picks the backend from the URL's scheme. ``PostgresStore`` lives in
``relaykit.store.postgres`` and is imported only for a postgresql:// URL, so the core does not
need psycopg (``pip install "relaykit[postgres]"``). ``SqliteStore`` is imported on first use
too (``store_from_url`` or the ``relaykit.store.SqliteStore`` attribute): the engine depends on
the ``Store`` protocol only, and ``import relaykit`` does not load a backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ._url import DEFAULT_DATABASE_URL, DatabaseURL, database_url_from_env, parse_database_url
from .protocol import Store

if TYPE_CHECKING:
    from .sqlite import SqliteStore


def __getattr__(name: str) -> Any:
    """``SqliteStore``, imported when first asked for."""
    if name == "SqliteStore":
        from .sqlite import SqliteStore

        return SqliteStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def store_from_url(url: str) -> Store:
    """A (not yet opened) store for ``url``; raises ``StoreError`` for an unusable URL."""
    parsed = parse_database_url(url)
    if parsed.scheme == "sqlite":
        from .sqlite import SqliteStore

        return SqliteStore.from_url(url)
    try:
        from .postgres import PostgresStore
    except ImportError as exc:
        raise StoreError(
            f"database URL {parsed.redacted}: PostgreSQL needs the psycopg driver, which is "
            f'not installed ({exc}); install it with: pip install "relaykit[postgres]"'
        ) from exc
    return PostgresStore.from_url(url)


__all__ = [
    "DEFAULT_DATABASE_URL",
    "DatabaseURL",
    "SqliteStore",
    "Store",
    "database_url_from_env",
    "parse_database_url",
    "store_from_url",
]
