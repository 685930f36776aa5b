"""Reading a ``postgresql://`` URL for ``PostgresStore``: the libpq conninfo and the pool's
own options, the URL as it may be printed (no password), and what a failed connection means.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..errors import StoreError
from ._url import parse_database_url

_OWN_OPTIONS: Final = ("pool_min_size", "pool_max_size")


def one_line(exc: BaseException) -> str:
    """An error message on one line (the type name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


#: What a server says while it restarts, fails over or recovers: connecting may work later.
RESTARTING: Final = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "server closed the connection unexpectedly",
)


def connect_problem(exc: BaseException) -> tuple[str, bool]:
    """What a failed connection attempt means and what to do about it, and whether it may
    succeed if tried again later (the server is down or restarting) rather than being a
    problem of the URL (host, user, database, options)."""
    text = one_line(exc)
    low = text.lower()
    transient = False
    if "could not translate host name" in low or "name or service not known" in low:
        problem = "unknown host; check the host name in the URL"
    elif "password authentication failed" in low or "no password supplied" in low:
        problem = "the server refused the credentials; check the user name and password"
    elif "role" in low and "does not exist" in low:
        problem = "no such user on the server; check the user name in the URL"
    elif "database" in low and "does not exist" in low:
        problem = "the database does not exist; create it (createdb NAME) or fix its name"
    elif "connection refused" in low or "is the server running" in low:
        problem = (
            "no PostgreSQL server is accepting connections there; start it or fix the host/port"
        )
        transient = True
    elif "timeout expired" in low or "timed out" in low:
        problem = "the server did not answer in time; check the host, port and firewall"
        transient = True
    else:
        problem = "cannot connect"
        transient = any(phrase in low for phrase in RESTARTING)
    return f"{problem} ({text})", transient


def parse_postgres_url(url: str) -> tuple[str, dict[str, int], str]:
    """(libpq conninfo, pool sizes given as ``pool_min_size``/``pool_max_size``, the URL
    without its password); raises ``StoreError`` for a malformed URL."""
    parsed = parse_database_url(url)
    redacted = redact(url)
    if parsed.scheme != "postgresql":
        raise StoreError(f"PostgresStore needs a postgresql:// URL, got {redacted!r}")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {k.lower(): v for k, v in query if k.lower() in _OWN_OPTIONS}
    libpq = [(k, v) for k, v in query if k.lower() not in _OWN_OPTIONS]
    if not any(k == "connect_timeout" for k, _ in libpq):
        libpq.append(("connect_timeout", "10"))  # never hang on a black-holed host
    # %20 for a space, never "+": libpq decodes only %XX escapes in a URL.
    query_text = urlencode(libpq, quote_via=quote)
    conninfo = parts._replace(scheme="postgresql", query=query_text).geturl()
    try:
        conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise StoreError(
            f"database URL {redacted}: {one_line(exc)}; a PostgreSQL URL takes libpq "
            "options (sslmode=, connect_timeout=, ...) and pool_min_size=/pool_max_size="
        ) from exc
    try:
        sizes = {k: int(v) for k, v in own.items()}
    except ValueError as exc:
        raise StoreError(
            f"database URL {redacted}: pool_min_size and pool_max_size must be integers"
        ) from exc
    return conninfo, sizes, redacted


def describe(conninfo: str) -> str:
    """A printable URL for a conninfo string (either form), without the password."""
    if "://" in conninfo:
        return redact(conninfo)
    try:
        info = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "postgresql://?"
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{info.get('host', '')}{port}/{info.get('dbname', '')}"


def redact(url: str) -> str:
    """``url`` without its password, in the authority or as a ``password=`` option."""
    parts = urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    if "password=" in parts.query.lower():
        query = [
            (k, "***" if k.lower() == "password" else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        parts = parts._replace(query=urlencode(query, safe="*"))
    return parts.geturl()
