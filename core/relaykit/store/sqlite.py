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
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import Any, Final, final

from .._models import (
    NO_ROUTING,
    ErrorInfo,
    EventRecord,
    EventWait,
    LogRecord,
    Routing,
    RunRecord,
    RunStatus,
    TaskRecord,
)
from ..errors import LeaseLost, SchemaTooNew, StoreCorrupt, StoreError
from ..filters import matches
from . import migrations
from ._access import Access
from ._connections import (
    CONNECTION_COLS,
    ConnectionRecord,
    Connections,
    connection_from_row,
    connection_params,
)
from ._events import Events
from ._flow import insert_run
from ._kv import Kv
from ._rows import (
    RUN_COLS,
    SUSPENDED,
    admit,
    dump_json,
    event_body,
    log_params,
    run_from_row,
    task_params,
)
from ._runs import Runs
from ._schedules import Schedules
from ._sqlite_io import QUERIES, SqliteDatabase, SqliteIO, SqliteTx, drive
from ._tasks import Tasks, event_params
from ._url import parse_database_url

_SYNCHRONOUS: Final = {"full": "FULL", "normal": "NORMAL", "off": "OFF", "extra": "EXTRA"}

# The ids of the runnable runs of the jobs bound as ``{jobs}``: due, or leased by a worker
# whose lease expired. Two branches, each a search of runs_live (status, job_id, ...): written
# as one OR, SQLite (which has no statistics) read the jobs' every run through
# runs_job_created instead, 14 ms at 100,000 runs for one job.
_RUNNABLE_IDS: Final = (
    "SELECT id FROM runs WHERE status IN ('queued', 'waiting') AND job_id IN ({jobs}) "
    "AND next_attempt_at <= :now "
    "UNION ALL SELECT id FROM runs WHERE status = 'running' AND job_id IN ({jobs}) "
    "AND lease_expires_at < :now"
)
# in EventRecord's field order
_EVENT_COLS: Final = "id, name, payload, timestamp, source, deliver_at, sent_by_run, status"


@final
class SqliteStore(Runs, Tasks, Events, Schedules, Kv, Access, Connections):
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
        self._url = f"sqlite:///{path}"

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
        # Named and positional parameters cannot be mixed: bind the lists by name too.
        names = {f"j{i}": j for i, j in enumerate(job_ids)}
        only = ""
        if run_id is not None:
            only = "AND (id = :run_id OR root_run_id = :run_id)" if family else "AND id = :run_id"
        if exclude:
            names["exclude"] = json.dumps(list(exclude))
            only += " AND id NOT IN (SELECT value FROM json_each(:exclude))"

        def tx(db: sqlite3.Connection) -> list[RunRecord]:
            busy = _busy_groups(db, now)
            skip = ""
            if busy:
                names["busy"] = json.dumps(busy)
                # a run in a group at its limit waits; a throttle holds back only a first start
                skip = (
                    "AND (limited = 0 OR NOT EXISTS (SELECT 1 FROM run_groups g WHERE "
                    "g.run_id = runs.id AND (g.period IS NULL OR runs.started_at IS NULL) "
                    "AND g.lim <= (SELECT value FROM json_each(:busy) WHERE key = g.grp)))"
                )
            runnable = _RUNNABLE_IDS.format(jobs=", ".join(f":j{i}" for i in range(len(job_ids))))
            rows = db.execute(
                f"SELECT id, limited, started_at IS NOT NULL FROM runs WHERE id IN ({runnable}) "
                f"{only} {skip} ORDER BY priority DESC, next_attempt_at LIMIT :cap",
                {"now": now, "run_id": run_id, "cap": limit * 2, **names},
            ).fetchall()
            limited = [r[0] for r in rows if r[1]]
            if limited:
                marks = ", ".join("?" * len(limited))
                groups = db.execute(
                    f"SELECT run_id, grp, lim, period FROM run_groups WHERE run_id IN ({marks})",
                    limited,
                ).fetchall()
                ids = admit([(r[0], bool(r[1]), bool(r[2])) for r in rows], groups, busy, limit)
            else:
                ids = [r[0] for r in rows[:limit]]
            if not ids:
                return []
            claimed = db.execute(
                "UPDATE runs SET status = 'running', lease_owner = ?, lease_expires_at = ?, "
                "attempt = attempt + 1, epoch = epoch + 1, started_at = COALESCE(started_at, ?) "
                f"WHERE id IN ({', '.join('?' * len(ids))}) RETURNING {RUN_COLS}",
                (owner, lease_until, now, *ids),
            ).fetchall()
            order = {run_id: i for i, run_id in enumerate(ids)}
            return sorted((run_from_row(r) for r in claimed), key=lambda r: order[r.id])

        return await self._io.write(tx)

    async def end_attempt(
        self,
        *,
        run_id: str,
        epoch: int,
        status: RunStatus,
        now: float,
        output: str | None = None,
        error: ErrorInfo | None = None,
        wake_at: float | None = None,
        tasks: Sequence[TaskRecord] = (),
        logs: Sequence[LogRecord] = (),
        event_waits: Sequence[EventWait] = (),
    ) -> None:
        """Write the attempt's last records and the run's new status in one transaction."""

        def tx(db: sqlite3.Connection) -> None:
            ended = None if status in SUSPENDED else now
            cur = db.execute(
                "UPDATE runs SET status = ?, output = ?, error = ?, ended_at = ?, "
                "next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL "
                "WHERE id = ? AND epoch = ? AND status = 'running'",
                (status.value, output, dump_json(error), ended, wake_at, run_id, epoch),
            )
            if cur.rowcount == 0:
                raise LeaseLost(f"run {run_id}: lease lost before the attempt could be recorded")
            if tasks:
                db.executemany(
                    QUERIES["upsert_task_unfenced"], [task_params(run_id, t) for t in tasks]
                )
            if ended is not None:  # a run that ended leaves no task waiting forever
                _close_run(db, run_id, now)
            else:
                db.executemany(
                    "INSERT OR IGNORE INTO event_waits (run_id, task_key, event_name, filter) "
                    "VALUES (?, ?, ?, ?)",
                    [(run_id, w.task_key, w.event_name, w.filter) for w in event_waits],
                )
                # an event that matched, or a child run that ended, while the attempt ran
                # makes the run due at once
                db.execute(
                    "UPDATE runs SET next_attempt_at = :now WHERE id = :id AND (EXISTS (SELECT 1 "
                    "FROM event_waits WHERE run_id = :id AND event_id IS NOT NULL) OR EXISTS "
                    "(SELECT 1 FROM tasks t WHERE t.run_id = :id AND t.kind = 'invoke' "
                    "AND t.status = 'waiting' AND NOT EXISTS (SELECT 1 FROM runs c WHERE "
                    "c.parent_run_id = :id AND c.parent_task_key = t.key "
                    "AND c.ended_at IS NULL)))",
                    {"now": now, "id": run_id},
                )
            if logs:
                db.executemany(QUERIES["insert_log"], [log_params(run_id, g) for g in logs])

        await self._io.write(tx)

    async def cancel_run(self, run_id: str, *, now: float) -> RunRecord | None:
        """Cancel a run that has not ended, and its waiting tasks."""

        def tx(db: sqlite3.Connection) -> None:
            cur = db.execute(
                "UPDATE runs SET status = 'canceled', ended_at = ?, lease_owner = NULL, "
                "lease_expires_at = NULL, next_attempt_at = NULL "
                f"WHERE id = ? AND status IN {_LIVE}",
                (now, run_id),
            )
            if cur.rowcount:
                _close_run(db, run_id, now)

        await self._io.write(tx)
        return await self.get_run(run_id)

    async def next_wakeup(self, *, job_ids: Sequence[str]) -> float | None:
        """The earliest due time or lease expiry among runs of ``job_ids``, or pending event."""
        marks = ", ".join("?" * len(job_ids)) or "NULL"
        query = (
            f"SELECT MIN(t) FROM ("
            f" SELECT MIN(next_attempt_at) AS t FROM runs WHERE status IN ('queued', 'waiting')"
            f"  AND job_id IN ({marks})"
            f" UNION ALL SELECT MIN(lease_expires_at) FROM runs WHERE status = 'running'"
            f"  AND job_id IN ({marks})"
            f" UNION ALL SELECT MIN(COALESCE(deliver_at, timestamp)) FROM events"
            f"  WHERE status = 'pending'"
            f" UNION ALL SELECT MIN(next_fire_at) FROM schedules WHERE active = 1)"
        )
        row = await self._io.read(lambda db: db.execute(query, (*job_ids, *job_ids)).fetchone())
        return None if row is None or row[0] is None else float(row[0])

    async def has_unfinished_work(self, *, job_ids: Sequence[str], now: float) -> bool:
        """True when a run of ``job_ids`` is due now or leased by any worker, or an event is
        due for delivery."""
        marks = ", ".join("?" * len(job_ids)) or "NULL"
        # One branch per status condition, not an OR: each is a search of runs_live (status,
        # job_id, next_attempt_at), where an OR let SQLite pick runs_job_created and read
        # every run the jobs ever had.
        query = (
            f"SELECT 1 FROM runs WHERE status IN ('queued', 'waiting') AND job_id IN ({marks})"
            " AND next_attempt_at <= ?"
            f" UNION ALL SELECT 1 FROM runs WHERE status = 'running' AND job_id IN ({marks})"
            " UNION ALL SELECT 1 FROM events WHERE status = 'pending' AND"
            " COALESCE(deliver_at, timestamp) <= ?"
            " UNION ALL SELECT 1 FROM schedules WHERE active = 1 AND next_fire_at <= ? LIMIT 1"
        )
        row = await self._io.read(
            lambda db: db.execute(query, (*job_ids, now, *job_ids, now, now)).fetchone()
        )
        return row is not None

    async def insert_event(
        self,
        event: EventRecord,
        *,
        routing: Routing = NO_ROUTING,
        deliver: bool = False,
        now: float = 0.0,
    ) -> list[RunRecord] | None:
        """Store an event once; with ``deliver``, route it in the same transaction."""

        def tx(db: sqlite3.Connection) -> list[RunRecord] | None:
            inserted = db.execute(QUERIES["insert_event"], event_params(event)).rowcount
            if not inserted:
                return None
            return self._deliver(db, event, routing, now) if deliver else []

        return await self._io.write(tx)

    def _deliver(
        self, db: sqlite3.Connection, event: EventRecord, routing: Routing, now: float
    ) -> list[RunRecord]:
        db.execute(
            "UPDATE events SET status = 'delivered', delivered_at = ? WHERE id = ?",
            (now, event.id),
        )
        for key in routing.cancels:
            # a running run too: its attempt's next write is refused (the status fence)
            canceled = db.execute(
                "UPDATE runs SET status = 'canceled', ended_at = ?, next_attempt_at = NULL, "
                "lease_owner = NULL, lease_expires_at = NULL WHERE cancel_key = ? "
                f"AND status IN {_LIVE} RETURNING id",
                (now, key),
            ).fetchall()
            for (run_id,) in canceled:
                _close_run(db, run_id, now)
        tx = SqliteTx(db)
        runs = [drive(insert_run(tx, run)) for run in routing.runs]
        waits = db.execute(
            "SELECT run_id, task_key, filter FROM event_waits WHERE event_name = ? "
            "AND event_id IS NULL",
            (event.name,),
        ).fetchall()
        payload = json.loads(event.payload)
        body = json.dumps(event_body(event))
        for run_id, task_key, flt in waits:
            if flt is not None and not matches(json.loads(flt), payload):
                continue
            db.execute(
                "UPDATE event_waits SET event_id = ?, event = ? WHERE run_id = ? AND task_key = ?",
                (event.id, body, run_id, task_key),
            )
            db.execute(
                "UPDATE runs SET next_attempt_at = ? WHERE id = ? AND status = 'waiting'",
                (now, run_id),
            )
        return runs

    async def deliver_due_events(
        self,
        *,
        now: float,
        route: Callable[[EventRecord], Routing],
        limit: int = 100,
    ) -> list[str]:
        """Route pending events that are due, each in its own transaction."""
        delivered: list[str] = []
        rows = await self._io.read(
            lambda db: db.execute(
                f"SELECT {_EVENT_COLS} FROM events WHERE status = 'pending' AND "
                "COALESCE(deliver_at, timestamp) <= ? ORDER BY COALESCE(deliver_at, timestamp) "
                "LIMIT ?",
                (now, limit),
            ).fetchall()
        )
        for row in rows:
            event = EventRecord(*row)
            routing = route(event)

            def tx(
                db: sqlite3.Connection, event: EventRecord = event, routing: Routing = routing
            ) -> bool:
                # BEGIN IMMEDIATE serializes writers: re-check it is still pending
                still = db.execute(
                    "SELECT 1 FROM events WHERE id = ? AND status = 'pending'", (event.id,)
                ).fetchone()
                if still:
                    self._deliver(db, event, routing, now)
                return bool(still)

            if await self._io.write(tx):
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

        def take(db: sqlite3.Connection) -> tuple[bool, tuple[Any, ...] | None]:
            """(whether the lock is ours or there is nothing to lock, the row)."""
            row = db.execute(
                f"SELECT {CONNECTION_COLS}, lock_owner, lock_until FROM connections "
                "WHERE integration_id = ?",
                (integration_id,),
            ).fetchone()
            if row is None:
                return True, None
            now = clock()
            if not (row[4] is None or row[5] is None or row[5] < now):
                return False, None  # another refresher holds it
            db.execute(
                "UPDATE connections SET lock_owner = ?, lock_until = ? WHERE integration_id = ?",
                (owner, now + lock_seconds, integration_id),
            )
            return True, tuple(row)

        while True:
            taken, row = await self._io.write(take)
            if taken:
                break
            await asyncio.sleep(_LOCK_POLL_SECONDS)
        if row is None:
            return None
        try:
            current = connection_from_row(row)
            fresh = await refresh(current)
        finally:
            await self._io.write(
                lambda db: db.execute(
                    "UPDATE connections SET lock_owner = NULL, lock_until = NULL "
                    "WHERE integration_id = ? AND lock_owner = ?",
                    (integration_id, owner),
                ),
                transaction=False,
            )
        if fresh is None:
            return current
        await self._io.write(
            lambda db: db.execute(QUERIES["put_connection"], connection_params(fresh)),
            transaction=False,
        )
        return fresh


# The runs that have not ended.
_LIVE: Final = "('queued', 'running', 'waiting', 'waiting_for_connection')"


def _close_run(db: sqlite3.Connection, run_id: str, now: float) -> None:
    """After a run ended: the children it was waiting for are canceled (and theirs), no task
    of it waits forever, its event waits go, and the run that invoked it (if any) is woken
    to take its result."""
    orphans = db.execute(
        "UPDATE runs SET status = 'canceled', ended_at = :now, next_attempt_at = NULL, "
        "lease_owner = NULL, lease_expires_at = NULL WHERE parent_run_id = :id "
        "AND ended_at IS NULL AND parent_task_key IN (SELECT key FROM tasks "
        "WHERE run_id = :id AND kind = 'invoke' AND status = 'waiting') RETURNING id",
        {"now": now, "id": run_id},
    ).fetchall()
    for (child,) in orphans:
        _close_run(db, child, now)
    db.execute("DELETE FROM run_groups WHERE run_id = ? AND period IS NULL", (run_id,))
    db.execute(
        "UPDATE tasks SET status = 'canceled', ended_at = ?, next_attempt_at = NULL "
        "WHERE run_id = ? AND status IN ('waiting', 'running')",
        (now, run_id),
    )
    db.execute("DELETE FROM event_waits WHERE run_id = ?", (run_id,))
    # the parent is woken when the last child its task waits for has ended
    db.execute(
        "UPDATE runs SET next_attempt_at = :now WHERE status = 'waiting' AND id = "
        "(SELECT parent_run_id FROM runs WHERE id = :id) AND NOT EXISTS (SELECT 1 FROM runs s "
        "JOIN runs me ON me.id = :id WHERE s.parent_run_id = me.parent_run_id "
        "AND s.parent_task_key = me.parent_task_key AND s.ended_at IS NULL)",
        {"now": now, "id": run_id},
    )


def _busy_groups(db: sqlite3.Connection, now: float) -> dict[str, int]:
    """How many runs each group has running (a throttle: started within its period)."""
    # Throttle rows older than their period count for nothing any more: drop them, so the
    # table (scanned here on every claim) holds only live windows.
    db.execute(
        "DELETE FROM run_groups WHERE period IS NOT NULL AND EXISTS (SELECT 1 FROM runs x "
        "WHERE x.id = run_groups.run_id AND x.started_at <= :now - run_groups.period)",
        {"now": now},
    )
    rows = db.execute(
        "SELECT g.grp, COUNT(*) FROM runs x JOIN run_groups g ON g.run_id = x.id "
        "WHERE x.status = 'running' AND x.limited = 1 AND x.lease_expires_at >= :now "
        "AND g.period IS NULL GROUP BY g.grp "
        "UNION ALL SELECT g.grp, COUNT(*) FROM run_groups g JOIN runs x "
        "ON x.id = g.run_id WHERE g.period IS NOT NULL AND x.started_at > :now - g.period "
        "GROUP BY g.grp",
        {"now": now},
    ).fetchall()
    return {g: n for g, n in rows}


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
