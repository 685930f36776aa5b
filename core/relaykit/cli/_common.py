"""What every command shares: one-line errors with exit code 2, the --database option."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click
from rich.console import Console

from .._base.serde import parse_json
from .._base.sync import run_coroutine
from ..errors import JsonTooDeep, RelaykitError, StoreUnavailable
from ..store import Store, database_url_from_env, store_from_url

T = TypeVar("T")

EXIT_RUN_NOT_SUCCEEDED = 1
EXIT_USAGE = 2

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


class CliError(click.ClickException):
    """An error before any run exists: one line on stderr, exit code 2."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        """Print ``relaykit: error: <message>``."""
        click.echo(f"relaykit: error: {self.format_message()}", err=True)


class CliFault(CliError):
    """The database failed while the command used it (locked too long, disk full, a lost
    connection): one line on stderr, exit code 1. Nothing half-done was stored."""

    exit_code = EXIT_RUN_NOT_SUCCEEDED


def reports_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn relaykit errors raised by a command into ``CliError`` (``CliFault`` for a store
    that failed while in use)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except StoreUnavailable as exc:
            raise CliFault(str(exc).replace("\n", " ")) from exc
        except RelaykitError as exc:
            raise CliError(str(exc).replace("\n", " ")) from exc

    return wrapper


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh event loop."""
    return run_coroutine(coro)


database_option = click.option(
    "--database",
    "database",
    metavar="URL",
    default=None,
    help="Database URL (default: $RELAYKIT_DATABASE_URL, else sqlite:///.relaykit/relaykit.db).",
)


async def open_store(database: str | None) -> Store:
    """Open (and migrate) the store named by ``--database`` or the environment."""
    store = store_from_url(database_url_from_env(database))
    await store.open()
    return store


def on_store(database: str | None, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store, run ``action`` on it, close it: what every ``runs`` command does."""

    async def go() -> T:
        store = await open_store(database)
        try:
            return await action(store)
        finally:
            await store.close()

    return run_async(go())


def parse_payload(text: str | None) -> Any:
    """The ``--payload`` JSON (None when not given)."""
    if text is None:
        return None
    try:
        return parse_json(text, what="--payload")
    except JsonTooDeep as exc:
        raise CliError(exc.message) from exc
    except ValueError as exc:
        why = f"{exc.msg} at char {exc.pos}" if isinstance(exc, json.JSONDecodeError) else exc
        raise CliError(
            f"--payload is not valid JSON ({why}); "
            """pass e.g. --payload '{"email": "a@b.c"}'"""
        ) from exc


def print_json(data: Any) -> None:
    """Exactly one JSON object on one line on the real stdout (strict JSON: no NaN)."""
    out = sys.__stdout__ or sys.stdout
    out.write(json.dumps(data, default=str, separators=(",", ":"), allow_nan=False) + "\n")
    out.flush()
