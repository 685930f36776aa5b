"""What every command shares: one-line errors with exit code 2, the --database option."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar

import click
from rich.console import Console

from .._base.serde import parse_json
from .._base.sync import run_coroutine
from ..errors import JsonTooDeep, RelaykitError, StoreUnavailable
from ..store import Store, database_url_from_env, parse_database_url, store_from_url

T = TypeVar("T")

EXIT_RUN_NOT_SUCCEEDED = 1
EXIT_USAGE = 2

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


class _RunEndHandler(logging.Handler):
    """Prints the worker's run-end lines (logger ``relaykit.worker``) on the console."""

    _STYLE: Final = MappingProxyType({"succeeded": "green", "canceled": "yellow"})

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        """One line, coloured by the run's status."""
        from rich.markup import escape

        style = self._STYLE.get(str(getattr(record, "status", "")), "red")
        try:
            # soft_wrap: one line however narrow the terminal (or a pipe, 80 columns)
            line = f"[{style}]{escape(record.getMessage())}[/]"
            self._console.print(line, highlight=False, soft_wrap=True)
        except Exception:  # a logging handler never raises into the worker
            self.handleError(record)


class RunTally(logging.Handler):
    """Counts the worker's run-end records (logger ``relaykit.worker``) by status and keeps
    the last failures, for the summary a worker prints when it stops."""

    KEEP: Final = 10

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.by_status: Counter[str] = Counter()
        self.failures: list[str] = []
        self.failed = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count one run end."""
        status = str(getattr(record, "status", ""))
        if not status:
            return
        self.by_status[status] += 1
        if status not in ("succeeded", "canceled"):
            self.failed += 1
            self.failures = [*self.failures[-(self.KEEP - 1) :], record.getMessage()]

    def summary(self) -> list[str]:
        """The lines to print on stop: counts by status, then the failed runs (newest last)."""
        if not self.by_status:
            return []
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.by_status.items()))
        lines = [f"runs ended: {counts}"]
        if self.failed:
            shown = len(self.failures)
            more = f" (the last {shown})" if shown < self.failed else ""
            lines.append(f"{self.failed} run(s) did not succeed{more}:")
            lines.extend(f"  {line}" for line in self.failures)
        return lines


def show_run_ends(console: Console = stderr) -> RunTally:
    """Make ``relaykit worker``/``dev``/``serve`` print one line per run end, and count them.

    When the app configured logging itself (the root logger has handlers), its handlers
    print them and nothing is added here, so no line shows twice; otherwise a handler on
    ``relaykit.worker`` prints them on ``console``. ``io.logger`` lines (``relaykit.run``)
    are shown by the progress printer, never by a handler added here. The tally returned
    counts them either way (``print_run_summary`` on stop).
    """
    worker_log = logging.getLogger("relaykit.worker")
    if worker_log.level == logging.NOTSET or worker_log.level > logging.INFO:
        worker_log.setLevel(logging.INFO)
    for old in [h for h in worker_log.handlers if isinstance(h, RunTally)]:
        worker_log.removeHandler(old)
    tally = RunTally()
    worker_log.addHandler(tally)
    if not logging.getLogger().handlers and not any(
        isinstance(h, _RunEndHandler) for h in worker_log.handlers
    ):
        worker_log.addHandler(_RunEndHandler(console))
    return tally


def print_run_summary(tally: RunTally, console: Console = stderr) -> None:
    """The summary of the runs that ended while the worker ran (nothing when none did)."""
    from rich.markup import escape

    for i, line in enumerate(tally.summary()):
        console.print(escape(line) if i else f"[bold]{escape(line)}[/]", soft_wrap=True)
    logging.getLogger("relaykit.worker").removeHandler(tally)


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


def existing_database(database: str | None) -> str:
    """The database URL of ``--database`` or the environment, for a command that only reads
    (or changes what is stored): a SQLite file that does not exist is a ``CliError`` naming
    the path, so such a command never creates an empty database in the wrong folder."""
    url = database_url_from_env(database)
    try:
        parsed = parse_database_url(url)
    except RelaykitError as exc:
        raise CliError(str(exc)) from exc
    if parsed.scheme == "sqlite" and parsed.path != ":memory:":
        path = Path(parsed.path)
        if not path.is_file():
            where = "directory" if not path.parent.is_dir() else "file"
            missing = path.parent if where == "directory" else path
            raise CliError(
                f"no database at {path.resolve()} (the {where} {missing} does not exist); "
                "run this where the app ran, or pass --database / set RELAYKIT_DATABASE_URL"
            )
    return url


def describe_database(url: str) -> str:
    """The database a URL names, safe to print: a SQLite file's absolute path, else the
    URL without its password."""
    parsed = parse_database_url(url)
    if parsed.scheme == "sqlite" and parsed.path != ":memory:":
        return str(Path(parsed.path).resolve())
    return parsed.redacted


def on_store(
    database: str | None, action: Callable[[Store], Awaitable[T]], *, create: bool = True
) -> T:
    """Open the store, run ``action`` on it, close it: what every ``runs`` command does.
    ``create=False``: the database must exist already (``existing_database``)."""
    url = database if create else existing_database(database)

    async def go() -> T:
        store = await open_store(url)
        try:
            return await action(store)
        finally:
            await store.close()

    return run_async(go())


PAYLOAD_HELP = "The payload: JSON, @FILE (JSON read from FILE) or - (JSON read from stdin)."


def read_payload_text(text: str) -> str:
    """``--payload``'s JSON text: ``@path`` reads the file, ``-`` reads stdin."""
    if text == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise CliError("--payload -: pipe the JSON on stdin (`cat p.json | relaykit ...`)")
        return sys.stdin.read()
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise CliError(f"--payload {text}: cannot read {path.resolve()} ({why})") from exc
    return text


def parse_payload(text: str | None) -> Any:
    """The ``--payload`` JSON (None when not given); ``@FILE`` and ``-`` read it from a file
    or stdin."""
    if text is None:
        return None
    source = text
    text = read_payload_text(text)
    try:
        return parse_json(text, what="--payload")
    except JsonTooDeep as exc:
        raise CliError(exc.message) from exc
    except ValueError as exc:
        why = f"{exc.msg} at char {exc.pos}" if isinstance(exc, json.JSONDecodeError) else exc
        where = f" (read from {source})" if source != text else ""
        raise CliError(
            f"--payload{where} is not valid JSON ({why}); "
            """pass e.g. --payload '{"email": "a@b.c"}'"""
        ) from exc


def print_json(data: Any) -> None:
    """Exactly one JSON object on one line on the real stdout (strict JSON: no NaN)."""
    out = sys.__stdout__ or sys.stdout
    out.write(json.dumps(data, default=str, separators=(",", ":"), allow_nan=False) + "\n")
    out.flush()


_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float, option: str = "--since") -> float:
    """An age (``30s``, ``10m``, ``2h``, ``3d``, ``1w``) before ``now``, or an ISO date or
    date-time (local time unless it names its offset), as epoch seconds (``--since``,
    ``--until``); anything else is a ``CliError`` naming ``option``."""
    age = _AGE.fullmatch(text.strip().lower())
    if age is not None:
        return now - float(age.group(1)) * _SECONDS[age.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(
            f"{option} {text!r} is neither an age (30s, 10m, 2h, 3d, 1w) nor an ISO date "
            "(2026-01-31, 2026-01-31T09:00)"
        ) from None
    return when.timestamp()
