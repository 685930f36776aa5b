"""The seam between the store's algorithms and a database: named queries in a transaction.

Each aggregate module (``_runs``, ``_tasks``, ``_events``, ``_schedules``, ``_kv``,
``_access``, ``_connections``) writes its algorithm once, against two small protocols:

- ``Tx``: one connection inside one transaction (or one autocommitted statement). It runs a
  query **by name** — ``await tx.execute("upsert_task", params)`` — never SQL text, so the
  algorithm cannot tell which database it talks to.
- ``Database``: runs a unit of work (``async def work(tx) -> T``) as a read, a write
  transaction, or (``transaction=False``) the single statement it executes.

Each backend ships its statements as named blocks in ``queries/<dialect>.sql``
(``-- name: upsert_task`` above the statement, as procrastinate does), parsed once at import
by ``load_queries``. A block may be empty: the dialect has nothing to do at that step (SQLite
needs no row lock where PostgreSQL takes one), and ``Tx.execute`` returns 0 without a round
trip. Parameters are a tuple (``?``/``%s``) or a mapping (``:name``/``%(name)s``); a query's
two dialect versions take the same parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = tuple[Any, ...]
Params = Sequence[Any] | Mapping[str, Any]

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class Tx(Protocol):
    """One connection inside one unit of work; queries are named, never written inline."""

    async def execute(self, name: str, params: Params = ()) -> int:
        """Run the named statement; how many rows it changed (0 for an empty block)."""
        ...

    async def execute_many(self, name: str, rows: Iterable[Params]) -> None:
        """Run the named statement once per parameter row."""
        ...

    async def fetch_one(self, name: str, params: Params = ()) -> Row | None:
        """The named query's first row, or None."""
        ...

    async def fetch_all(self, name: str, params: Params = ()) -> list[Row]:
        """Every row of the named query."""
        ...

    def array(self, values: Iterable[Any]) -> Any:
        """``values`` bound as one parameter (a PostgreSQL array, SQLite JSON text read with
        ``json_each``)."""
        ...


Work = Callable[[Tx], Coroutine[Any, Any, T]]


class Database(Protocol):
    """Where a unit of work runs: the backend's connections, transactions and I/O rules."""

    def supports(self, name: str) -> bool:
        """Whether the dialect's block ``name`` is a statement (not empty): an algorithm asks
        before a shortcut one dialect has and the other does not need."""
        ...

    async def read(self, work: Work[T]) -> T:
        """Run read-only ``work``."""
        ...

    async def write(self, work: Work[T], *, transaction: bool = True) -> T:
        """Run ``work`` in one write transaction, or (``transaction=False``) as the one
        statement it executes."""
        ...


#: The backend's way of closing runs that just ended, inside the caller's transaction (see
#: ``_runs.Runs.end_attempt``): PostgreSQL closes a batch in one recursive statement, SQLite
#: one run at a time in several.
CloseRuns = Callable[[Tx, list[str], float], Coroutine[Any, Any, None]]


def parse_queries(text: str) -> dict[str, str]:
    """The named blocks of a ``.sql`` file: ``-- name: x`` starts block ``x``; other comment
    lines are dropped, and so is a trailing ``;``."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        code = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--"))
        queries[name] = code.strip().removesuffix(";").strip()
    return queries


def load_queries(dialect: str) -> dict[str, str]:
    """The named queries of ``queries/<dialect>.sql`` (package data)."""
    path = resources.files(__package__ or "relaykit.store").joinpath("queries", f"{dialect}.sql")
    return parse_queries(path.read_text(encoding="utf-8"))
