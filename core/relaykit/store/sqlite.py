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
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, final

from ..definitions.filters import matches
from ..errors import LeaseLost, SchemaTooNew, StoreCorrupt, StoreError
from ..records import (
    NO_ROUTING,
    ErrorInfo,
    EventMatch,
    EventRecord,
    EventWait,
    KvWrite,
    LogRecord,
    Routing,
    RunRecord,
    RunStatus,
    ScheduleFire,
    ScheduleSpec,
    TaskRecord,
    TaskStatus,
)
from . import migrations
from ._connections import CONNECTION_COLS, ConnectionRecord, connection_from_row
from ._rows import (
    RUN_COLS,
    RUN_MARKS,
    SUSPENDED,
    TASK_COLS,
    admit,
    dump_json,
    event_body,
    log_params,
    run_from_row,
    run_params,
    task_from_row,
    task_params,
)
from ._sqlite_io import SqliteIO
from ._url import parse_database_url
from .access import ApiKeyRecord, SessionRecord, UserRecord

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
# One statement, hence one implicit transaction: the task row is written only while the run is
# running under this attempt's epoch (the fence), and a retry's earlier row is updated in place.
_UPSERT_TASK: Final = f"""
INSERT INTO tasks (run_id, {TASK_COLS})
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
WHERE EXISTS (SELECT 1 FROM runs WHERE id = ? AND epoch = ? AND status = 'running')
ON CONFLICT (run_id, key) DO UPDATE SET
    name = excluded.name, kind = excluded.kind, status = excluded.status,
    params = excluded.params, output = excluded.output, error = excluded.error,
    attempts = excluded.attempts, failures = excluded.failures, ended_at = excluded.ended_at,
    next_attempt_at = excluded.next_attempt_at, properties = excluded.properties,
    icon = excluded.icon
"""
# in EventRecord's field order
_EVENT_COLS: Final = "id, name, payload, timestamp, source, deliver_at, sent_by_run, status"
_INSERT_LOG: Final = (
    "INSERT OR IGNORE INTO logs (run_id, key, level, message, properties, at, task) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _event_params(e: EventRecord) -> tuple[Any, ...]:
    return (e.id, e.name, e.payload, e.source, e.timestamp, e.deliver_at, e.sent_by_run)


@final
class SqliteStore:
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

    async def create_run(self, run: RunRecord) -> RunRecord:
        """Insert a new run (or find the one its idempotency or debounce key leads to)."""
        plain = not (run.groups or run.idempotency_key or run.debounce_key)
        # a plain run is one statement: no transaction needed
        return await self._io.write(lambda db: self._insert_run(db, run), transaction=not plain)

    @staticmethod
    def _insert_run(db: sqlite3.Connection, run: RunRecord) -> RunRecord:
        """Insert ``run`` — unless a live idempotency key leads to an existing run, or a
        queued run with its debounce key takes its payload and due time — and return the run
        that stands for it. Call inside a transaction when the run has flow-control keys."""
        if run.idempotency_key is not None:
            row = db.execute(
                f"SELECT {RUN_COLS} FROM runs WHERE id = (SELECT run_id FROM idempotency_keys "
                "WHERE job_id = ? AND key = ? AND expires_at > ?)",
                (run.job_id, run.idempotency_key, run.created_at),
            ).fetchone()
            if row is not None:
                return run_from_row(row)
            db.execute(
                "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?) ON CONFLICT (job_id, key) "
                "DO UPDATE SET run_id = excluded.run_id, expires_at = excluded.expires_at",
                (run.job_id, run.idempotency_key, run.id, run.created_at + run.idempotency_ttl),
            )
        if run.debounce_key is not None:
            row = db.execute(
                f"UPDATE runs SET payload = ?, next_attempt_at = ? WHERE id = (SELECT id FROM "
                "runs WHERE job_id = ? AND debounce_key = ? AND status = 'queued' "
                f"AND attempt = 0 LIMIT 1) RETURNING {RUN_COLS}",
                (run.payload, run.next_attempt_at, run.job_id, run.debounce_key),
            ).fetchone()
            if row is not None:
                existing = run_from_row(row)
                if run.idempotency_key is not None:  # the key leads to the run standing for it
                    db.execute(
                        "UPDATE idempotency_keys SET run_id = ? WHERE job_id = ? AND key = ?",
                        (existing.id, run.job_id, run.idempotency_key),
                    )
                return existing
        db.execute(f"INSERT INTO runs ({RUN_COLS}) VALUES ({RUN_MARKS})", run_params(run))
        if run.groups:
            db.executemany(
                "INSERT OR IGNORE INTO run_groups VALUES (?, ?, ?, ?)",
                [(run.id, *g) for g in run.groups],
            )
        return run

    async def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        row = await self._io.read(
            lambda db: db.execute(f"SELECT {RUN_COLS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        )
        return None if row is None else run_from_row(row)

    async def list_runs(
        self,
        *,
        job_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first (skipping the first ``offset``, or after ``before``)."""
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if before is not None:
            where.append("(created_at, id) < (?, ?)")
            args.extend(before)
        if job_id is not None:
            where.append("job_id = ?")
            args.append(job_id)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        query = (
            f"SELECT {RUN_COLS} FROM runs WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        rows = await self._io.read(lambda db: db.execute(query, (*args, limit, offset)).fetchall())
        return [run_from_row(r) for r in rows]

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

    async def renew_leases(self, *, leases: Mapping[str, int], lease_until: float) -> set[str]:
        """Extend the leases of runs still running under the given epochs; return those ids."""
        if not leases:
            return set()
        rows = await self._io.write(
            lambda db: db.execute(
                f"UPDATE runs SET lease_expires_at = ? WHERE status = 'running' AND {_HELD}"
                " RETURNING id",
                (lease_until, json.dumps(leases)),
            ).fetchall()
        )
        return {r[0] for r in rows}

    async def release_runs(self, *, leases: Mapping[str, int], now: float) -> None:
        """Make runs still running under the given epochs runnable again at once."""
        if not leases:
            return
        await self._io.write(
            lambda db: db.execute(
                "UPDATE runs SET status = 'waiting', next_attempt_at = ?, lease_owner = NULL, "
                f"lease_expires_at = NULL WHERE status = 'running' AND {_HELD}",
                (now, json.dumps(leases)),
            ),
            transaction=False,
        )

    async def replay_run(self, run_id: str, *, new_id: str, now: float) -> RunRecord | None:
        """Queue a copy of ``run_id`` (same job, payload, groups, priority) as ``new_id``."""

        def tx(db: sqlite3.Connection) -> bool:
            if not db.execute(_REPLAY_RUN, {"id": run_id, "new": new_id, "now": now}).rowcount:
                return False
            db.execute(_REPLAY_GROUPS, {"id": run_id, "new": new_id})
            return True

        return await self.get_run(new_id) if await self._io.write(tx) else None

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
            for t in tasks:
                _write_task_unfenced(db, run_id, t)
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
                db.executemany(_INSERT_LOG, [log_params(run_id, g) for g in logs])

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

    # -- tasks and logs -----------------------------------------------------------------------

    async def load_tasks(self, run_id: str) -> list[TaskRecord]:
        """All task records of a run, in one query."""
        rows = await self._io.read(
            lambda db: db.execute(
                f"SELECT {TASK_COLS} FROM tasks WHERE run_id = ? ORDER BY started_at, key",
                (run_id,),
            ).fetchall()
        )
        return [task_from_row(r) for r in rows]

    async def load_event_matches(self, run_id: str) -> list[EventMatch]:
        """The run's event waits resolved by an event."""
        rows = await self._io.read(
            lambda db: db.execute(
                "SELECT task_key, event FROM event_waits WHERE run_id = ? AND event_id IS NOT NULL",
                (run_id,),
            ).fetchall()
        )
        return [EventMatch(r[0], json.loads(r[1])) for r in rows]

    async def load_logs(self, run_id: str) -> list[LogRecord]:
        """All log lines of a run, oldest first."""
        rows = await self._io.read(
            lambda db: db.execute(
                "SELECT key, level, message, properties, at, task FROM logs WHERE run_id = ? "
                "ORDER BY at, key",
                (run_id,),
            ).fetchall()
        )
        return [LogRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    async def record_task(
        self,
        *,
        run_id: str,
        epoch: int,
        task: TaskRecord,
        logs: Sequence[LogRecord] = (),
        kv: Sequence[KvWrite] = (),
        events: Sequence[EventRecord] = (),
        runs: Sequence[RunRecord] = (),
    ) -> None:
        """Write one task outcome (and its effects) in exactly one transaction, fenced."""
        params = (*task_params(run_id, task), run_id, epoch)
        consumes_wait = task.kind == "event" and task.status is TaskStatus.COMPLETED
        alone = not (logs or kv or events or runs or consumes_wait)

        def tx(db: sqlite3.Connection) -> None:
            if db.execute(_UPSERT_TASK, params).rowcount == 0:
                raise LeaseLost(f"run {run_id}: lease lost; task {task.key!r} was not recorded")
            if alone:
                return
            if logs:
                db.executemany(_INSERT_LOG, [log_params(run_id, g) for g in logs])
            if consumes_wait:
                db.execute(
                    "DELETE FROM event_waits WHERE run_id = ? AND task_key = ?", (run_id, task.key)
                )
            for w in kv:
                if w.value is None:
                    db.execute("DELETE FROM kv WHERE scope = ? AND name = ?", (w.scope, w.name))
                else:
                    db.execute(
                        "INSERT INTO kv (scope, name, value, updated_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value, "
                        "updated_at = excluded.updated_at",
                        (w.scope, w.name, w.value, task.ended_at or task.started_at),
                    )
            for e in events:
                db.execute(
                    "INSERT OR IGNORE INTO events (id, name, payload, source, timestamp, "
                    "deliver_at, sent_by_run) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    _event_params(e),
                )
            for run in runs:
                self._insert_run(db, run)

        # the hot path: a task alone is one statement, hence one implicit transaction
        await self._io.write(tx, transaction=not alone)

    # -- events and key-value store -----------------------------------------------------------

    async def expire_event_wait(self, *, run_id: str, epoch: int, task: TaskRecord) -> bool:
        """Record an event wait's timeout unless an event matched it first."""

        def tx(db: sqlite3.Connection) -> bool:
            gone = db.execute(
                "DELETE FROM event_waits WHERE run_id = ? AND task_key = ? AND event_id IS NULL "
                "AND EXISTS (SELECT 1 FROM runs WHERE id = ? AND epoch = ? "
                "AND status = 'running')",
                (run_id, task.key, run_id, epoch),
            ).rowcount
            if not gone:
                matched = db.execute(
                    "SELECT 1 FROM event_waits WHERE run_id = ? AND task_key = ? "
                    "AND event_id IS NOT NULL",
                    (run_id, task.key),
                ).fetchone()
                if matched:
                    return False
            if db.execute(_UPSERT_TASK, (*task_params(run_id, task), run_id, epoch)).rowcount:
                return True
            raise LeaseLost(f"run {run_id}: lease lost; task {task.key!r} was not recorded")

        return await self._io.write(tx)

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
            inserted = db.execute(
                "INSERT OR IGNORE INTO events (id, name, payload, source, timestamp, deliver_at, "
                "sent_by_run, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                _event_params(event),
            ).rowcount
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
        runs = [self._insert_run(db, run) for run in routing.runs]
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

    async def cancel_event(self, event_id: str) -> bool:
        """Cancel a pending event."""
        cur = await self._io.write(
            lambda db: db.execute(
                "UPDATE events SET status = 'canceled' WHERE id = ? AND status = 'pending'",
                (event_id,),
            ),
            transaction=False,
        )
        return cur.rowcount == 1

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event, or None."""
        row = await self._io.read(
            lambda db: db.execute(
                f"SELECT {_EVENT_COLS} FROM events WHERE id = ?", (event_id,)
            ).fetchone()
        )
        return None if row is None else EventRecord(*row)

    async def list_events(
        self, *, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[EventRecord]:
        """Events, newest first (after ``before``)."""
        where, args = ("(timestamp, id) < (?, ?)", before) if before else ("1 = 1", ())
        query = (
            f"SELECT {_EVENT_COLS} FROM events WHERE {where} "
            "ORDER BY timestamp DESC, id DESC LIMIT ?"
        )
        rows = await self._io.read(lambda db: db.execute(query, (*args, limit)).fetchall())
        return [EventRecord(*r) for r in rows]

    # -- schedules ----------------------------------------------------------------------------

    async def sync_schedules(
        self, specs: Sequence[ScheduleSpec], *, first_fire: Callable[[ScheduleSpec], float]
    ) -> None:
        """Add new schedules, re-time changed ones, keep the others' timing."""

        def tx(db: sqlite3.Connection) -> None:
            for spec in specs:
                row = db.execute(
                    "SELECT kind, spec, timezone, active FROM schedules WHERE id = ?", (spec.id,)
                ).fetchone()
                if row == (spec.kind, spec.spec, spec.timezone, 1):
                    continue
                db.execute(
                    "INSERT INTO schedules (id, job_id, kind, spec, timezone, next_fire_at, "
                    "active) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO UPDATE SET "
                    "job_id = excluded.job_id, kind = excluded.kind, spec = excluded.spec, "
                    "timezone = excluded.timezone, next_fire_at = excluded.next_fire_at, "
                    "active = 1",
                    (spec.id, spec.job_id, spec.kind, spec.spec, spec.timezone, first_fire(spec)),
                )

        await self._io.write(tx)

    async def remove_schedules(self, schedule_ids: Sequence[str]) -> int:
        """Deactivate schedules; return how many were active."""
        if not schedule_ids:
            return 0
        marks = ", ".join("?" * len(schedule_ids))
        cur = await self._io.write(
            lambda db: db.execute(
                f"UPDATE schedules SET active = 0 WHERE active = 1 AND id IN ({marks})",
                tuple(schedule_ids),
            ),
            transaction=False,
        )
        return cur.rowcount

    async def fire_due_schedules(
        self,
        *,
        now: float,
        plan: Callable[[ScheduleFire], tuple[float, RunRecord, float] | None],
        limit: int = 100,
    ) -> list[str]:
        """Fire due schedules; each (schedule, slot) at most once."""

        def tx(db: sqlite3.Connection) -> list[str]:  # BEGIN IMMEDIATE: one scheduler at a time
            created: list[str] = []
            rows = db.execute(
                "SELECT id, job_id, kind, spec, timezone, next_fire_at, last_fire_at "
                "FROM schedules WHERE active = 1 AND next_fire_at <= ? "
                "ORDER BY next_fire_at LIMIT ?",
                (now, limit),
            ).fetchall()
            for sid, job_id, kind, spec, tz, next_at, last_at in rows:
                due = ScheduleFire(ScheduleSpec(sid, job_id, kind, spec, tz), next_at, last_at)
                planned = plan(due)
                if planned is None:
                    continue
                slot, run, following = planned
                fired = db.execute(
                    "INSERT OR IGNORE INTO schedule_fires (schedule_id, fire_at, run_id) "
                    "VALUES (?, ?, ?)",
                    (sid, slot, run.id),
                ).rowcount
                if fired:
                    self._insert_run(db, run)
                    created.append(run.id)
                db.execute(
                    "UPDATE schedules SET next_fire_at = ?, last_fire_at = ? WHERE id = ?",
                    (following, slot, sid),
                )
            return created

        return await self._io.write(tx)

    async def kv_get(self, scope: str, name: str) -> str | None:
        """A key-value entry's JSON text, or None."""
        row = await self._io.read(
            lambda db: db.execute(
                "SELECT value FROM kv WHERE scope = ? AND name = ?", (scope, name)
            ).fetchone()
        )
        return None if row is None else str(row[0])

    # -- HTTP API and dashboard: API keys, users, sessions, key-value writes ------------------

    async def _one(self, query: str, args: tuple[Any, ...] = ()) -> Any:
        return await self._io.read(lambda db: db.execute(query, args).fetchone())

    async def _all(self, query: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return await self._io.read(lambda db: db.execute(query, args).fetchall())

    async def _change(self, query: str, args: tuple[Any, ...]) -> int:
        """Run one writing statement; how many rows it changed."""
        cur = await self._io.write(lambda db: db.execute(query, args), transaction=False)
        return int(cur.rowcount)

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        """Store a new API key (its hash only)."""
        await self._change(
            "INSERT INTO api_keys (id, name, key_hash, created_at, revoked_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (key.id, key.name, key.key_hash, key.created_at, key.revoked_at),
        )

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """One API key by id, or None."""
        row = await self._one(f"SELECT {_API_KEY_COLS} FROM api_keys WHERE id = ?", (key_id,))
        return None if row is None else ApiKeyRecord(*row)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """All API keys, oldest first."""
        rows = await self._all(f"SELECT {_API_KEY_COLS} FROM api_keys ORDER BY created_at, id")
        return [ApiKeyRecord(*r) for r in rows]

    async def revoke_api_key(self, key_id: str, *, now: float) -> bool:
        """Revoke a key; False when there is no such unrevoked key."""
        changed = await self._change(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now, key_id),
        )
        return changed == 1

    async def create_user(self, user: UserRecord) -> bool:
        """Store a new user; False when the name is taken."""
        changed = await self._change(
            "INSERT OR IGNORE INTO users (name, password_hash, created_at) VALUES (?, ?, ?)",
            (user.name, user.password_hash, user.created_at),
        )
        return changed == 1

    async def get_user(self, name: str) -> UserRecord | None:
        """One user, or None."""
        row = await self._one(
            "SELECT name, password_hash, created_at FROM users WHERE name = ?", (name,)
        )
        return None if row is None else UserRecord(*row)

    async def create_session(self, session: SessionRecord) -> None:
        """Store a session or login token, dropping expired ones on the way."""

        def tx(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM sessions WHERE expires_at <= ?", (session.created_at,))
            db.execute(
                f"INSERT INTO sessions ({_SESSION_COLS}) VALUES (?, ?, ?, ?, ?)",
                (
                    session.token_hash,
                    session.kind,
                    session.subject,
                    session.created_at,
                    session.expires_at,
                ),
            )

        await self._io.write(tx)

    async def get_session(self, token_hash: str, *, now: float) -> SessionRecord | None:
        """An unexpired session, or None."""
        row = await self._one(
            f"SELECT {_SESSION_COLS} FROM sessions WHERE token_hash = ? AND expires_at > ?",
            (token_hash, now),
        )
        return None if row is None else SessionRecord(*row)

    async def take_session(self, token_hash: str, *, now: float) -> SessionRecord | None:
        """Delete a session and return it unless it had expired."""
        row = await self._io.write(
            lambda db: db.execute(
                f"DELETE FROM sessions WHERE token_hash = ? RETURNING {_SESSION_COLS}",
                (token_hash,),
            ).fetchone(),
            transaction=False,
        )
        if row is None:
            return None
        found = SessionRecord(*row)
        return found if found.expires_at > now else None

    async def kv_set(self, scope: str, name: str, value: str | None, *, now: float) -> None:
        """Write or (with None) delete one key-value entry."""
        if value is None:
            await self._change("DELETE FROM kv WHERE scope = ? AND name = ?", (scope, name))
            return
        await self._change(
            "INSERT INTO kv (scope, name, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (scope, name, value, now),
        )

    # -- connections (issue 5: integration credentials, stored encrypted) ---------------------

    async def get_connection(self, integration_id: str) -> ConnectionRecord | None:
        """The connection of the integration with this id, or None."""
        row = await self._one(
            f"SELECT {CONNECTION_COLS} FROM connections WHERE integration_id = ?",
            (integration_id,),
        )
        return None if row is None else connection_from_row(row)

    async def put_connection(self, connection: ConnectionRecord) -> None:
        """Insert or replace a connection."""

        def tx(db: sqlite3.Connection) -> None:
            db.execute(_PUT_CONNECTION, _connection_params(connection))
            # runs that waited for a connection try again (one still missing its own goes
            # back to waiting when its task meets the missing credentials again)
            db.execute(
                "UPDATE runs SET status = 'queued', next_attempt_at = ? "
                "WHERE status = 'waiting_for_connection'",
                (connection.updated_at,),
            )

        await self._io.write(tx)

    async def delete_connection(self, integration_id: str) -> bool:
        """Remove a connection; True when there was one."""
        changed = await self._change(
            "DELETE FROM connections WHERE integration_id = ?", (integration_id,)
        )
        return changed > 0

    async def list_connections(self) -> list[ConnectionRecord]:
        """Every connection, by integration id."""
        rows = await self._all(f"SELECT {CONNECTION_COLS} FROM connections ORDER BY integration_id")
        return [connection_from_row(r) for r in rows]

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
            await self._change(
                "UPDATE connections SET lock_owner = NULL, lock_until = NULL "
                "WHERE integration_id = ? AND lock_owner = ?",
                (integration_id, owner),
            )
        if fresh is None:
            return current
        await self._change(_PUT_CONNECTION, _connection_params(fresh))
        return fresh


_UPSERT_TASK_UNFENCED: Final = _UPSERT_TASK.replace(
    "WHERE EXISTS (SELECT 1 FROM runs WHERE id = ? AND epoch = ? AND status = 'running')",
    "WHERE true",
)


# The runs that have not ended.
_LIVE: Final = "('queued', 'running', 'waiting', 'waiting_for_connection')"
# Runs named by a JSON object of run id -> attempt epoch (renewing and releasing leases).
_HELD: Final = "(id, epoch) IN (SELECT key, value FROM json_each(?))"
# A replay copies what the job's definition derived when the run was created (priority,
# groups, cancel key) so that it obeys the same limits, without needing the job's code.
_REPLAY_COPY: Final = (
    "job_id, job_version, payload, is_test, event_id, event_name, environment, priority, "
    "limited, cancel_key"
)
_REPLAY_RUN: Final = (
    f"INSERT INTO runs (id, status, created_at, next_attempt_at, {_REPLAY_COPY}) "
    f"SELECT :new, 'queued', :now, :now, {_REPLAY_COPY} FROM runs WHERE id = :id"
)
_REPLAY_GROUPS: Final = (
    "INSERT INTO run_groups (run_id, grp, lim, period) "
    "SELECT :new, grp, lim, period FROM run_groups WHERE run_id = :id"
)
_API_KEY_COLS: Final = "id, name, key_hash, created_at, revoked_at"  # ApiKeyRecord's order
_SESSION_COLS: Final = "token_hash, kind, subject, created_at, expires_at"  # SessionRecord's


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


def _write_task_unfenced(db: sqlite3.Connection, run_id: str, task: TaskRecord) -> None:
    # Inside end_attempt the run row's fenced UPDATE already proved the lease.
    db.execute(_UPSERT_TASK_UNFENCED, task_params(run_id, task))


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
_PUT_CONNECTION: Final = (
    f"INSERT INTO connections ({CONNECTION_COLS}) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (integration_id) DO UPDATE SET credentials = excluded.credentials, "
    "expires_at = excluded.expires_at, updated_at = excluded.updated_at"
)


def _connection_params(c: ConnectionRecord) -> tuple[Any, ...]:
    return (c.integration_id, c.credentials, c.expires_at, c.updated_at)
