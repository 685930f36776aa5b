"""Database URLs in SQLAlchemy's form: ``sqlite:///rel.db``, ``sqlite:////abs.db``,
``postgresql://user@host:port/db``. Query options are case-insensitive."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import final
from urllib.parse import parse_qsl, urlsplit

from ..errors import StoreError

DEFAULT_DATABASE_URL = "sqlite:///.relaykit/relaykit.db"


@final
@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A parsed database URL."""

    scheme: str
    path: str
    options: dict[str, str]
    raw: str

    @property
    def redacted(self) -> str:
        """The URL without a password, safe to print."""
        parts = urlsplit(self.raw)
        if parts.password:
            parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
        if "password" in self.options:
            query = "&".join(
                f"{k}=***" if k.lower() == "password" else f"{k}={v}"
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            )
            parts = parts._replace(query=query)
        return parts.geturl()


def database_url_from_env(explicit: str | None = None) -> str:
    """``explicit``, else ``RELAYKIT_DATABASE_URL``, else the default SQLite file."""
    return explicit or os.environ.get("RELAYKIT_DATABASE_URL") or DEFAULT_DATABASE_URL


def parse_database_url(url: str) -> DatabaseURL:
    """Parse ``url``; raise ``StoreError`` naming the problem when it is not one we support."""
    if not isinstance(url, str) or "://" not in url:
        raise StoreError(
            f"database URL {url!r} is not a URL; use sqlite:///path/to/file.db or "
            "postgresql://user@host:5432/dbname"
        )
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    location, _, query = rest.partition("?")
    # Option names are case-insensitive; values are kept as given (a backend may lowercase
    # the ones that are keywords, such as synchronous=NORMAL).
    options = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
    if scheme == "sqlite":
        # sqlite:///rel.db -> "/rel.db" after the authority, sqlite:////abs.db -> "//abs.db".
        if location in ("", "/", "/:memory:"):
            path = ":memory:"
        elif location.startswith("/"):
            path = location[1:]
        else:
            raise StoreError(
                f"database URL {url!r}: a SQLite URL has three slashes before a relative path "
                "(sqlite:///data/relaykit.db) and four before an absolute one"
            )
        return DatabaseURL("sqlite", path, options, url)
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return DatabaseURL("postgresql", location, options, url)
    raise StoreError(
        f"database URL {url!r}: unsupported scheme {scheme!r}; use sqlite:// or postgresql://"
    )
