"""The env's throwaway database: a SQLite file, or a schema of its own in a PostgreSQL
database (so nothing already stored there is seen or touched), removed again on ``drop()``."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from ..errors import StoreError
from ..store import parse_database_url

_POOL_OPTIONS: Final = frozenset({"pool_min_size", "pool_max_size"})  # relaykit's, not libpq's


class EnvDatabase:
    """Where one env keeps its runs: ``url`` is the store's URL."""

    def __init__(self, directory: str | Path | None, database_url: str | None) -> None:
        self._own_directory: Path | None = None
        self._schema: tuple[str, str] | None = None  # (admin URL, schema) to drop
        if database_url is None:
            if directory is None:
                directory = self._own_directory = Path(tempfile.mkdtemp(prefix="relaykit-env-"))
            folder = Path(directory).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            # a throwaway file: durability buys nothing, and off is several times faster
            self.url = f"sqlite:///{folder / 'relaykit.db'}?synchronous=off"
        elif parse_database_url(database_url).scheme == "sqlite":
            self.url = database_url
        else:
            self.url = self._new_schema(database_url)

    def _new_schema(self, url: str) -> str:
        """Create a schema in the PostgreSQL database ``url`` names; return the URL whose
        connections use it (``search_path``)."""
        import psycopg
        from psycopg import sql

        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        libpq = [(k, v) for k, v in query if k.lower() not in _POOL_OPTIONS]
        admin = parts._replace(scheme="postgresql", query=urlencode(libpq, quote_via=quote))
        schema = f"relaykit_env_{secrets.token_hex(6)}"
        try:
            with psycopg.connect(admin.geturl(), autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        except psycopg.Error as exc:
            shown = parse_database_url(url).redacted
            raise StoreError(
                f"relaykit_env(database_url={shown!r}): cannot create a schema for the test "
                f"there ({' '.join(str(exc).split())}); the user needs CREATE on the database"
            ) from None
        self._schema = (admin.geturl(), schema)
        options = " ".join(
            [*(v for k, v in query if k.lower() == "options"), f"-c search_path={schema}"]
        )
        rest = [(k, v) for k, v in query if k.lower() != "options"]
        return parts._replace(
            query=urlencode([*rest, ("options", options)], quote_via=quote)
        ).geturl()

    def drop(self) -> None:
        """Remove the schema or the temporary directory this env made (once)."""
        if self._schema is not None:
            import psycopg
            from psycopg import sql

            admin, schema = self._schema
            self._schema = None
            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
        if self._own_directory is not None:
            shutil.rmtree(self._own_directory, ignore_errors=True)
            self._own_directory = None


__all__ = ["EnvDatabase"]
