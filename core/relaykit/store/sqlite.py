"""``SqliteStore``: the embedded default store, one SQLite file in WAL mode.

Statements that cannot wait run on the event loop's thread (microseconds, far less than a
hand-off); anything that could wait — a write lock held by another process, an fsync at
``synchronous=FULL``, a checkpoint — runs in the store's own thread (see ``_sqlite_io``), so
the loop never blocks. Several processes may share one file; SQLite's WAL and
``busy_timeout`` serialize their writers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import Any, Final, final

from ..errors import SchemaTooNew, StoreCorrupt, StoreError
from ..records import (
    EventRecord,
    Routing,
    RunRecord,
)
from . import migrations
from ._auth import Access
from ._connections import (
    ConnectionRecord,
    Connections,
    connection_from_row,
    connection_params,
)
from ._events import Events, deliver_event
from ._kv import Kv
from ._retry import Retries
from ._rows import (
    admit,
    run_from_row,
)
from ._runs import Runs
from ._schedules import Schedules
from ._sqlite_io import SqliteDatabase, SqliteIO
from ._tags import Tags
from ._tasks import Tasks
from ._tokens import Tokens
from ._tx import Tx
from ._url import parse_database_url

_log = logging.getLogger("relaykit.store")

#: How often an idle ``wait_for_wakeup`` reads the file's ``data_version`` (seconds).
WAKEUP_POLL: Final = 0.01
# The earliest time anything is due, whatever the job: a run, an expiring lease, an event, a
# schedule (``next_wakeup`` without the job filter; each branch one search of an index).
_EARLIEST_DUE: Final = (
    "SELECT MIN(t) FROM ("
    " SELECT MIN(next_attempt_at) AS t FROM runs WHERE status = 'queued'"
    " UNION ALL SELECT MIN(next_attempt_at) FROM runs WHERE status = 'waiting'"
    " UNION ALL SELECT MIN(lease_expires_at) FROM runs WHERE status = 'running'"
    " UNION ALL SELECT MIN(COALESCE(deliver_at, timestamp)) FROM events WHERE status = 'pending'"
    " UNION ALL SELECT MIN(next_fire_at) FROM schedules WHERE active = 1)"
)

_SYNCHRONOUS: Final = {"full": "FULL", "normal": "NORMAL", "off": "OFF", "extra": "EXTRA"}


@final
class SqliteStore(Runs, Tasks, Events, Schedules, Kv, Access, Connections, Tokens, Retries, Tags):
    """The embedded store. ``SqliteStore.from_url("sqlite:///.relaykit/relaykit.db")``.

    Durability is ``synchronous=FULL`` by default; ``?synchronous=normal`` trades the last
    commits before a power loss (never corruption) for several times faster commits.
    """

    def __init__(
        self, path: str, *, synchronous: str = "full", busy_timeout_ms: int = 10_000
    ) -> None:
        if synchronous.lower() not in _SYNCHRONOUS:
            raise StoreError(
                f"SQLite option synchronous={synchronous!r} is not one of "
                f"{', '.join(_SYNCHRONOUS)}; use ?synchronous=normal or full"
            )
        self._path = path
        self._synchronous = _SYNCHRONOUS[synchronous.lower()]
        self._busy_timeout_ms = busy_timeout_ms
        self._io = SqliteIO(
            path,
            synchronous=self._synchronous,
            busy_timeout_ms=busy_timeout_ms,
            memory=path == ":memory:",
        )
        self._db = SqliteDatabase(self._io)
        self._close_runs = close_runs
        self._url = f"sqlite:///{path}"
        # what wait_for_wakeup saw last: the file's data_version and earliest due time
        self._seen_version: int | None = None
        self._seen_due: float | None = None

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """Build from a ``sqlite://`` URL (options: ``synchronous``, ``busy_timeout``)."""
        parsed = parse_database_url(url)
        if parsed.scheme != "sqlite":
            raise StoreError(f"SqliteStore needs a sqlite:// URL, got {parsed.redacted!r}")
        unknown = set(parsed.options) - {"synchronous", "busy_timeout"}
        if unknown:
            raise StoreError(
                f"database URL {url!r}: unknown option(s) {', '.join(sorted(unknown))}; "
                "SQLite takes synchronous= and busy_timeout= (milliseconds)"
            )
        try:
            busy = int(parsed.options.get("busy_timeout", "10000"))
        except ValueError as exc:
            raise StoreError(f"database URL {url!r}: busy_timeout must be milliseconds") from exc
        store = cls(
            parsed.path,
            synchronous=parsed.options.get("synchronous", "full"),
            busy_timeout_ms=busy,
        )
        store._url = url
        return store

    @property
    def url(self) -> str:
        """The database URL."""
        return self._url

    @property
    def path(self) -> str:
        """The database file's path (``:memory:`` for an in-memory database)."""
        return self._path

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self, *, migrate: bool = True) -> None:
        """Open the file (creating its folder), set WAL and durability, then migrate."""
        if self._io.is_open:
            return
        if self._path != ":memory:":
            try:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot open database {self._url}: cannot create folder "
                    f"{Path(self._path).parent}: {exc.strerror}"
                ) from exc
        try:
            await self._io.open()
        except StoreCorrupt:
            raise  # its message names the file and what to do
        except StoreError as exc:
            raise StoreError(
                f"cannot open database {self._url}: {exc}; pass a SQLite file made by relaykit "
                "or a path for a new one (--database / RELAYKIT_DATABASE_URL)"
            ) from exc
        try:
            current = await self._io.read(_version)
            known = max((v for v, _, _ in migrations.load("sqlite")), default=0)
            if current > known:
                raise SchemaTooNew(
                    f"database {self._url} has schema version {current}, newer than this "
                    f"relaykit knows ({known}); upgrade relaykit"
                )
            if migrate:
                await self.migrate()
        except BaseException:
            await self._io.close()
            raise

    async def close(self) -> None:
        """Close the connections."""
        await self._io.close()

    async def schema_version(self) -> int:
        """The highest applied migration version."""
        return await self._io.read(_version)

    async def change_marker(self) -> str | None:
        """The file's ``PRAGMA data_version`` (read on a connection that never writes, so it
        moves with this store's own commits too); None in memory or while SQLite is busy."""
        if self._io.memory:
            return None
        version = await self._io.data_version()
        return None if version is None else str(version)

    async def check(self) -> None:
        """Raise ``StoreCorrupt`` when SQLite's ``quick_check`` finds the file damaged."""
        rows = await self._io.read(lambda db: db.execute("PRAGMA quick_check").fetchall())
        problems = [" ".join(str(r[0]).split()) for r in rows if r[0] != "ok"]
        if problems:
            raise StoreCorrupt(
                f"database {self._url} is damaged ({problems[0]}); restore it from a backup"
            )

    async def migrate(self) -> list[int]:
        """Apply pending migrations, all in one transaction (another process may race us).
        An up-to-date file is only read: opening a store takes no write lock."""

        def pending(db: sqlite3.Connection) -> bool:
            if not _version(db):
                return True
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            return any(v not in done for v, _, _ in migrations.load("sqlite"))

        if not await self._io.read(pending):
            return []

        def tx(db: sqlite3.Connection) -> list[int]:
            applied: list[int] = []
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            # every version not yet recorded, not only those above the highest: a database
            # made from a development branch may have a later version and miss an earlier one
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migrations.load("sqlite"):
                if version in done:
                    continue
                for statement in _statements(sql):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations VALUES "
                    "(?, ?, (julianday('now') - 2440587.5) * 86400.0)",
                    (version, name),
                )
                applied.append(version)
            return applied

        return await self._io.write(tx)

    # -- runs ---------------------------------------------------------------------------------

    async def claim_runs(
        self,
        *,
        owner: str,
        now: float,
        lease_until: float,
        limit: int,
        job_ids: Sequence[str],
        run_id: str | None = None,
        family: bool = False,
        exclude: Collection[str] = (),
    ) -> list[RunRecord]:
        """Lease runnable runs to ``owner`` by priority then due time, within every
        concurrency and throttle limit (one write transaction: SQLite serializes writers)."""
        if not job_ids or limit < 1:
            return []
        args = {
            "owner": owner,
            "lease_until": lease_until,
            "now": now,
            "cap": limit * 2,
            "run_id": run_id,
            "jobs": json.dumps(list(job_ids)),
            "exclude": json.dumps(list(exclude)),
        }
        candidates = (
            "claim_candidates_all"
            if run_id is None
            else "claim_candidates_family"
            if family
            else "claim_candidates_run"
        )

        async def work(tx: Tx) -> list[RunRecord]:
            await tx.execute("drop_expired_throttles", args)
            busy: dict[str, int] = {g: n for g, n in await tx.fetch_all("busy_groups", args)}
            rows = await tx.fetch_all(candidates, {**args, "busy": json.dumps(busy)})
            limited = [r[0] for r in rows if r[1]]
            if limited:
                groups = await tx.fetch_all("candidate_groups", (json.dumps(limited),))
                ids = admit([(r[0], bool(r[1]), bool(r[2])) for r in rows], groups, busy, limit)
            else:
                ids = [r[0] for r in rows[:limit]]
            if not ids:
                return []
            claimed = await tx.fetch_all("claim_admitted", {**args, "ids": json.dumps(ids)})
            order = {run_id: i for i, run_id in enumerate(ids)}
            return sorted((run_from_row(r) for r in claimed), key=lambda r: order[r.id])

        return await self._db.write(work)

    async def wait_for_wakeup(self, timeout: float) -> None:  # noqa: ASYNC109 -- the signature the worker calls
        """Return soon after another process stores work (``relaykit send``, a run queued or
        released by another worker), or after ``timeout`` seconds.

        Every ``WAKEUP_POLL`` seconds it reads the file's ``data_version`` (a few µs, no table
        read), which changes whenever any connection commits. Only then does it look at the
        earliest due time of any run, lease, pending event or schedule: the call returns when
        that time moved (new work, work due sooner, the earliest claimed and the next one now
        first), not for every commit (task records, logs, key-value writes). What changed
        between calls ends the next call at once; an early return is harmless (the caller
        looks for due runs). In memory no other process can write: it sleeps out ``timeout``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        if self._io.memory:
            await asyncio.sleep(max(0.0, timeout))
            return
        was_open = self._io.is_open
        try:
            await self._watch(loop, deadline)
        except StoreError as exc:
            if not was_open:
                raise  # "the store is not open": the caller's mistake
            if not self._io.is_open:
                return  # closed while waiting
            # the file cannot be read for now: the worker's own polling carries on meanwhile
            _log.warning("watching %s for other processes' work failed: %s", self._path, exc)
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    async def _watch(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if self._seen_version is None:
            self._seen_version = await self._io.data_version()
            self._seen_due = await self._earliest_due()
        while True:
            version = await self._io.data_version()
            if version != self._seen_version:
                self._seen_version = version
                due, seen = await self._earliest_due(), self._seen_due
                self._seen_due = due
                if due is not None and due != seen:
                    return
            now = loop.time()
            if now >= deadline:
                return
            await asyncio.sleep(min(WAKEUP_POLL, deadline - now))

    async def _earliest_due(self) -> float | None:
        row = await self._io.read(lambda db: db.execute(_EARLIEST_DUE).fetchone())
        return None if row is None or row[0] is None else float(row[0])

    async def deliver_due_events(
        self,
        *,
        now: float,
        route: Callable[[EventRecord], Routing],
        limit: int = 100,
    ) -> list[str]:
        """Route pending events that are due, each in its own transaction. The candidates are
        read on the loop (no write lock taken while there are none); ``BEGIN IMMEDIATE``
        serializes writers, so each is re-checked inside the transaction that delivers it."""

        async def due(tx: Tx) -> list[EventRecord]:
            return [EventRecord(*r) for r in await tx.fetch_all("due_events", (now, limit))]

        delivered: list[str] = []
        for event in await self._db.read(due):
            routing = route(event)

            async def one(tx: Tx, event: EventRecord = event, routing: Routing = routing) -> bool:
                if await tx.fetch_one("event_still_pending", (event.id,)) is None:
                    return False
                await deliver_event(tx, close_runs, event, routing, now)
                return True

            if await self._db.write(one):
                delivered.append(event.id)
        return delivered

    # -- connections (issue 5: integration credentials, stored encrypted) ---------------------

    async def refresh_connection(
        self,
        integration_id: str,
        refresh: Callable[[ConnectionRecord], Awaitable[ConnectionRecord | None]],
        *,
        clock: Callable[[], float],
        lock_seconds: float = 60.0,
    ) -> ConnectionRecord | None:
        """Run ``refresh`` holding the connection's lock row (``lock_owner``/``lock_until``,
        claimed in a ``BEGIN IMMEDIATE`` transaction); other refreshers poll until it is
        released. SQLite's own write lock is not held over ``refresh``'s network call: every
        other writer, in this process or another, would stall behind it."""
        owner = uuid.uuid4().hex

        async def take(tx: Tx) -> tuple[bool, tuple[Any, ...] | None]:
            """(whether the lock is ours or there is nothing to lock, the row)."""
            row = await tx.fetch_one("connection_with_lock", (integration_id,))
            if row is None:
                return True, None
            now = clock()
            if not (row[4] is None or row[5] is None or row[5] < now):
                return False, None  # another refresher holds it
            await tx.execute("lock_connection", (owner, now + lock_seconds, integration_id))
            return True, row

        async def unlock(tx: Tx) -> None:
            await tx.execute("unlock_connection", (integration_id, owner))

        while True:
            taken, row = await self._db.write(take)
            if taken:
                break
            await asyncio.sleep(_LOCK_POLL_SECONDS)
        if row is None:
            return None
        try:
            current = connection_from_row(row)
            fresh = await refresh(current)
        finally:
            await self._db.write(unlock, transaction=False)
        if fresh is None:
            return current

        async def store(tx: Tx) -> None:
            await tx.execute("put_connection", connection_params(fresh))

        await self._db.write(store, transaction=False)
        return fresh


async def close_runs(tx: Tx, run_ids: list[str], now: float) -> None:
    """After runs ended: the children each was waiting for are canceled (and closed in turn),
    no task of it waits forever, its event waits and concurrency-group rows go, and the run
    that invoked it (if any) is woken to take its result (queries ``cancel_orphans`` ...
    ``wake_parent``, one run at a time: SQLite has no data-modifying CTEs)."""
    for run_id in run_ids:
        args = {"now": now, "id": run_id}
        orphans = [r[0] for r in await tx.fetch_all("cancel_orphans", args)]
        if orphans:
            await close_runs(tx, orphans, now)
        await tx.execute("drop_concurrency_groups", args)
        await tx.execute("cancel_open_tasks", args)
        await tx.execute("drop_event_waits", args)
        await tx.execute("wake_parent", args)


def _version(db: sqlite3.Connection) -> int:
    """The highest applied migration version (0 for a new file)."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def _statements(sql: str) -> list[str]:
    # Migration files hold plain DDL: no ';' inside literals, comments on lines of their own.
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in code.split(";") if s.strip()]


_LOCK_POLL_SECONDS: Final = 0.05
