"""``PostgresStore``: the scale-out store, one PostgreSQL database shared by any number of
worker processes on any number of machines.

psycopg 3 (async) with a connection pool; every statement runs in autocommit unless a method
needs several statements to be atomic. Workers claim runs with ``FOR UPDATE SKIP LOCKED``, so
two workers never wait for, or take, the same run. Task writes are fenced in the statement that
makes them: the run row is locked ``FOR SHARE`` while the task is written, so a write lands only
while its worker still holds the run, and a claim or cancel that wins the race makes the write
fail with ``LeaseLost`` instead of slipping in after it. Times are epoch seconds in double
precision, exactly as in SQLite: both stores hand the engine identical records.

``wait_for_wakeup`` (PostgreSQL only) returns as soon as another process signals work through
``LISTEN/NOTIFY``: a queued run, a run that will be due at a new time, or a released run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from importlib import resources
from typing import Any, Final, final
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .._models import (
    ErrorInfo,
    EventRecord,
    KvWrite,
    LogRecord,
    RunRecord,
    RunStatus,
    TaskRecord,
)
from ..errors import LeaseLost, SchemaTooNew, StoreError
from ._url import parse_database_url
from .sqlite import _RUN_COLS, _TASK_COLS, _dump, _run_from_row, _task_from_row

_log = logging.getLogger("relaykit.store")

_Conn = psycopg.AsyncConnection[tuple[Any, ...]]

#: The LISTEN/NOTIFY channel; the payload is the job id of the run concerned.
WAKEUP_CHANNEL: Final = "relaykit_wakeup"
# Held for the duration of a migration transaction, so concurrent workers never race
# (the value is arbitrary; it spells "rlkmig").
_MIGRATION_LOCK: Final = 0x726C6B6D6967
_OWN_OPTIONS: Final = ("pool_min_size", "pool_max_size")
_CONNECTION_ERRORS: Final = (psycopg.OperationalError, PoolTimeout)

_RUN_MARKS: Final = ", ".join(["%s"] * 18)
_RUNNABLE: Final = (
    "((status IN ('queued', 'waiting') AND next_attempt_at <= %(now)s) "
    "OR (status = 'running' AND lease_expires_at < %(now)s))"
)
_TASK_VALUES: Final = (
    "%s::text, %s::text, %s::text, %s::text, %s::text, %s::float8, %s::text, %s::text, "
    "%s::text, %s::int4, %s::int4, %s::float8, %s::float8, %s::text, %s::text, %s::text"
)
_TASK_ON_CONFLICT: Final = """
ON CONFLICT (run_id, key) DO UPDATE SET
    name = excluded.name, kind = excluded.kind, status = excluded.status,
    params = excluded.params, output = excluded.output, error = excluded.error,
    attempts = excluded.attempts, failures = excluded.failures, ended_at = excluded.ended_at,
    next_attempt_at = excluded.next_attempt_at, properties = excluded.properties,
    icon = excluded.icon
"""
# The hot path: one statement per completed task. The CTE locks the run row FOR SHARE only if
# this owner holds it; a claim (FOR UPDATE) or cancel that committed first makes it select no
# row, so nothing is inserted.
_UPSERT_TASK: Final = f"""
WITH fence AS (
    SELECT 1 FROM runs WHERE id = %s AND lease_owner = %s AND status = 'running' FOR SHARE
)
INSERT INTO tasks (run_id, {_TASK_COLS}) SELECT {_TASK_VALUES} FROM fence
{_TASK_ON_CONFLICT}
"""
# Inside end_attempt the run row's fenced UPDATE already proved (and locked) the lease.
_UPSERT_TASK_UNFENCED: Final = (
    f"INSERT INTO tasks (run_id, {_TASK_COLS}) VALUES ({_TASK_VALUES}) {_TASK_ON_CONFLICT}"
)
_INSERT_LOG: Final = (
    "INSERT INTO logs (run_id, key, level, message, properties, at, task) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, key) DO NOTHING"
)
_INSERT_EVENT: Final = (
    "INSERT INTO events (id, name, payload, source, timestamp, deliver_at, sent_by_run) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"
)
_NOTIFY: Final = f"pg_notify('{WAKEUP_CHANNEL}', job_id)"


def _task_params(run_id: str, t: TaskRecord) -> tuple[Any, ...]:
    return (
        run_id,
        t.key,
        t.name,
        t.kind,
        t.status.value,
        t.started_at,
        t.params,
        t.output,
        _dump(t.error),
        t.attempts,
        t.failures,
        t.ended_at,
        t.next_attempt_at,
        _dump(t.properties),
        t.icon,
        t.parent,
    )


def _log_params(run_id: str, log: LogRecord) -> tuple[Any, ...]:
    return (run_id, log.key, log.level, log.message, json.dumps(log.properties), log.at, log.task)


def _event_params(e: EventRecord) -> tuple[Any, ...]:
    return (e.id, e.name, e.payload, e.source, e.timestamp, e.deliver_at, e.sent_by_run)


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("relaykit.store.migrations") / "postgres"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql"):
            found.append((int(name.split("_", 1)[0]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _connect_problem(exc: BaseException) -> str:
    """What a failed connection attempt means, and what to do about it."""
    text = _one_line(exc)
    low = text.lower()
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
    elif "timeout expired" in low or "timed out" in low:
        problem = "the server did not answer in time; check the host, port and firewall"
    else:
        problem = "cannot connect"
    return f"{problem} ({text})"


@final
class PostgresStore:
    """The PostgreSQL store. ``PostgresStore.from_url("postgresql://user@host:5432/db")``.

    URL query options: ``pool_min_size`` (default 1) and ``pool_max_size`` (default 10)
    size the connection pool; every other option (``sslmode``, ``connect_timeout``,
    ``application_name``, ...) is passed to libpq as is.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        url: str | None = None,
    ) -> None:
        if not 0 <= min_size <= max_size or max_size < 1:
            raise StoreError(
                f"PostgreSQL pool sizes must satisfy 0 <= min <= max and max >= 1, got "
                f"min={min_size} max={max_size}"
            )
        self._conninfo = conninfo
        self._min_size = min_size
        self._max_size = max_size
        self._url = url or _describe(conninfo)
        self._pool: AsyncConnectionPool[_Conn] | None = None
        self._listener: _Conn | None = None
        self._listener_lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """Build from a ``postgresql://`` URL; raises ``StoreError`` for a malformed one."""
        parsed = parse_database_url(url)
        redacted = _redact(url)
        if parsed.scheme != "postgresql":
            raise StoreError(f"PostgresStore needs a postgresql:// URL, got {redacted!r}")
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        own = {k.lower(): v for k, v in query if k.lower() in _OWN_OPTIONS}
        libpq = [(k, v) for k, v in query if k.lower() not in _OWN_OPTIONS]
        if not any(k == "connect_timeout" for k, _ in libpq):
            libpq.append(("connect_timeout", "10"))  # never hang on a black-holed host
        conninfo = parts._replace(scheme="postgresql", query=urlencode(libpq)).geturl()
        try:
            conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            raise StoreError(
                f"database URL {redacted}: {_one_line(exc)}; a PostgreSQL URL takes libpq "
                "options (sslmode=, connect_timeout=, ...) and pool_min_size=/pool_max_size="
            ) from exc
        try:
            sizes = {k: int(v) for k, v in own.items()}
        except ValueError as exc:
            raise StoreError(
                f"database URL {redacted}: pool_min_size and pool_max_size must be integers"
            ) from exc
        return cls(
            conninfo,
            min_size=sizes.get("pool_min_size", 1),
            max_size=sizes.get("pool_max_size", 10),
            url=redacted,
        )

    @property
    def url(self) -> str:
        """The database URL without its password."""
        return self._url

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def _db(self) -> AsyncConnectionPool[_Conn]:
        if self._pool is None:
            raise StoreError(f"the store {self._url} is not open; call `await store.open()`")
        return self._pool

    def _unusable(self, exc: BaseException) -> StoreError:
        return StoreError(f"database {self._url} cannot be used: {_one_line(exc)}")

    async def _connect(self) -> _Conn:
        try:
            return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot open database {self._url}: {_connect_problem(exc)}") from None

    async def open(self, *, migrate: bool = True) -> None:
        """Connect (one probe connection names any problem), check the schema version and
        migrate, then open the pool. Nothing is changed when an error is raised."""
        if self._pool is not None:
            return
        conn = await self._connect()
        try:
            current = await _version(conn)
            known = _known_version()
            if current > known:
                raise SchemaTooNew(
                    f"database {self._url} has schema version {current}, newer than this "
                    f"relaykit knows ({known}); upgrade relaykit"
                )
            if migrate:
                await self._migrate_on(conn)
        except psycopg.Error as exc:
            raise self._unusable(exc) from exc
        finally:
            await conn.close()
        pool: AsyncConnectionPool[_Conn] = AsyncConnectionPool(
            self._conninfo,
            min_size=self._min_size,
            max_size=self._max_size,
            kwargs={"autocommit": True},
            open=False,
            name="relaykit",
        )
        try:
            await pool.open(wait=True, timeout=30.0)
        except PoolTimeout as exc:
            await pool.close()
            raise StoreError(
                f"cannot open database {self._url}: the connection pool could not connect"
            ) from exc
        self._pool = pool

    async def close(self) -> None:
        """Close the pool and the LISTEN connection."""
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""
        try:
            async with self._db.connection() as conn:
                return await _version(conn)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def migrate(self) -> list[int]:
        """Apply pending migrations in one transaction under an advisory lock."""
        try:
            async with self._db.connection() as conn:
                return await self._migrate_on(conn)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def _migrate_on(self, conn: _Conn) -> list[int]:
        applied: list[int] = []
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            if not await _has_migrations_table(conn):
                await conn.execute(
                    "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                    "name text NOT NULL, applied_at double precision NOT NULL)"
                )
            current = await _version(conn)  # another process may have migrated meanwhile
            if current > _known_version():
                raise SchemaTooNew(
                    f"database {self._url} has schema version {current}, newer than this "
                    f"relaykit knows ({_known_version()}); upgrade relaykit"
                )
            for version, name, sql in _migrations():
                if version <= current:
                    continue
                await conn.execute(sql.encode())  # bytes: a multi-statement script, no params
                await conn.execute(
                    "INSERT INTO schema_migrations VALUES "
                    "(%s, %s, extract(epoch FROM clock_timestamp()))",
                    (version, name),
                )
                applied.append(version)
        return applied

    # -- statements ---------------------------------------------------------------------------

    async def _fetchall(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        try:
            async with self._db.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall()
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def _rowcount(self, query: str, params: Any = None) -> int:
        try:
            async with self._db.connection() as conn:
                cur = await conn.execute(query, params)
                return cur.rowcount
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    # -- runs ---------------------------------------------------------------------------------

    async def create_run(self, run: RunRecord) -> None:
        """Insert a new run; a queued or waiting one wakes listening workers."""
        await self._rowcount(
            f"WITH ins AS (INSERT INTO runs ({_RUN_COLS}) VALUES ({_RUN_MARKS}) "
            "RETURNING job_id, status) "
            f"SELECT {_NOTIFY} FROM ins WHERE status IN ('queued', 'waiting')",
            (
                run.id,
                run.job_id,
                run.job_version,
                run.status.value,
                run.payload,
                run.output,
                _dump(run.error),
                run.created_at,
                run.started_at,
                run.ended_at,
                run.attempt,
                run.next_attempt_at,
                run.lease_owner,
                run.lease_expires_at,
                run.is_test,
                run.event_id,
                run.event_name,
                run.environment,
            ),
        )

    async def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        rows = await self._fetchall(f"SELECT {_RUN_COLS} FROM runs WHERE id = %s", (run_id,))
        return _run_from_row(rows[0]) if rows else None

    async def list_runs(
        self, *, job_id: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        """Runs, newest first."""
        where, args = ["true"], []
        if job_id is not None:
            where.append("job_id = %s")
            args.append(job_id)
        if status is not None:
            where.append("status = %s")
            args.append(status)
        rows = await self._fetchall(
            f"SELECT {_RUN_COLS} FROM runs WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            (*args, limit),
        )
        return [_run_from_row(r) for r in rows]

    async def claim_runs(
        self,
        *,
        owner: str,
        now: float,
        lease_until: float,
        limit: int,
        job_ids: Sequence[str],
        run_id: str | None = None,
    ) -> list[RunRecord]:
        """Lease runnable runs to ``owner``; runs locked by another claimer are skipped."""
        if not job_ids or limit < 1:
            return []
        only = "AND id = %(run_id)s" if run_id is not None else ""
        rows = await self._fetchall(
            f"""
            UPDATE runs SET status = 'running', lease_owner = %(owner)s,
                lease_expires_at = %(lease_until)s, attempt = attempt + 1,
                started_at = COALESCE(started_at, %(now)s)
            WHERE id IN (
                SELECT id FROM runs WHERE job_id = ANY(%(jobs)s) {only} AND {_RUNNABLE}
                ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
            )
            RETURNING {_RUN_COLS}
            """,
            {
                "owner": owner,
                "lease_until": lease_until,
                "now": now,
                "limit": limit,
                "run_id": run_id,
                "jobs": list(job_ids),
            },
        )
        return [_run_from_row(r) for r in rows]

    async def renew_leases(
        self, *, owner: str, run_ids: Sequence[str], lease_until: float
    ) -> set[str]:
        """Extend leases still held by ``owner``; return those ids."""
        if not run_ids:
            return set()
        rows = await self._fetchall(
            "UPDATE runs SET lease_expires_at = %s WHERE lease_owner = %s AND status = 'running' "
            "AND id = ANY(%s) RETURNING id",
            (lease_until, owner, list(run_ids)),
        )
        return {r[0] for r in rows}

    async def release_runs(self, *, owner: str, run_ids: Sequence[str], now: float) -> None:
        """Make ``owner``'s running runs runnable again at once, and wake listening workers."""
        if not run_ids:
            return
        await self._rowcount(
            "WITH released AS (UPDATE runs SET status = 'waiting', next_attempt_at = %s, "
            "lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = %s "
            "AND status = 'running' AND id = ANY(%s) RETURNING job_id) "
            f"SELECT {_NOTIFY} FROM (SELECT DISTINCT job_id FROM released) AS j",
            (now, owner, list(run_ids)),
        )

    async def end_attempt(
        self,
        *,
        run_id: str,
        owner: str,
        status: RunStatus,
        now: float,
        output: str | None = None,
        error: ErrorInfo | None = None,
        wake_at: float | None = None,
        tasks: Sequence[TaskRecord] = (),
        logs: Sequence[LogRecord] = (),
    ) -> None:
        """Write the attempt's last records and the run's new status in one transaction
        (one statement when there are none); a run that will wake at a time wakes workers."""
        ended = None if status is RunStatus.WAITING else now
        wakes = status is RunStatus.WAITING and wake_at is not None
        query = (
            "WITH ended AS (UPDATE runs SET status = %s, output = %s, error = %s, "
            "ended_at = %s, next_attempt_at = %s, lease_owner = NULL, lease_expires_at = NULL "
            "WHERE id = %s AND lease_owner = %s AND status = 'running' RETURNING job_id) "
            f"SELECT CASE WHEN %s::boolean THEN {_NOTIFY} END FROM ended"
        )
        params = (status.value, output, _dump(error), ended, wake_at, run_id, owner, wakes)
        lost = f"run {run_id}: lease lost before the attempt could be recorded"
        try:
            async with self._db.connection() as conn:
                if not (tasks or logs):
                    if (await conn.execute(query, params)).rowcount == 0:
                        raise LeaseLost(lost)
                    return
                async with conn.transaction():
                    if (await conn.execute(query, params)).rowcount == 0:
                        raise LeaseLost(lost)
                    async with conn.cursor() as cur:
                        if tasks:
                            await cur.executemany(
                                _UPSERT_TASK_UNFENCED, [_task_params(run_id, t) for t in tasks]
                            )
                        if logs:
                            await cur.executemany(
                                _INSERT_LOG, [_log_params(run_id, g) for g in logs]
                            )
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def cancel_run(self, run_id: str, *, now: float) -> RunRecord | None:
        """Cancel a run that has not ended, and its waiting tasks (one statement)."""
        await self._rowcount(
            "WITH canceled AS (UPDATE runs SET status = 'canceled', ended_at = %(now)s, "
            "lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = NULL "
            "WHERE id = %(id)s AND status IN "
            "('queued', 'running', 'waiting', 'waiting_for_connection') RETURNING id) "
            "UPDATE tasks SET status = 'canceled', ended_at = %(now)s, next_attempt_at = NULL "
            "WHERE run_id IN (SELECT id FROM canceled) AND status IN ('waiting', 'running')",
            {"now": now, "id": run_id},
        )
        return await self.get_run(run_id)

    async def next_wakeup(self, *, job_ids: Sequence[str]) -> float | None:
        """The earliest due time or lease expiry among runs of ``job_ids``."""
        if not job_ids:
            return None
        rows = await self._fetchall(
            "SELECT LEAST("
            "(SELECT MIN(next_attempt_at) FROM runs WHERE status IN ('queued', 'waiting') "
            " AND job_id = ANY(%(jobs)s)), "
            "(SELECT MIN(lease_expires_at) FROM runs WHERE status = 'running' "
            " AND job_id = ANY(%(jobs)s)))",
            {"jobs": list(job_ids)},
        )
        return None if rows[0][0] is None else float(rows[0][0])

    async def has_unfinished_work(self, *, job_ids: Sequence[str], now: float) -> bool:
        """True when a run of ``job_ids`` is due now or leased by any worker."""
        if not job_ids:
            return False
        rows = await self._fetchall(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE job_id = ANY(%s) AND ("
            "(status IN ('queued', 'waiting') AND next_attempt_at <= %s) OR status = 'running'"
            "))",
            (list(job_ids), now),
        )
        return bool(rows[0][0])

    # -- tasks and logs -----------------------------------------------------------------------

    async def load_tasks(self, run_id: str) -> list[TaskRecord]:
        """All task records of a run, in one query."""
        rows = await self._fetchall(
            f"SELECT {_TASK_COLS} FROM tasks WHERE run_id = %s ORDER BY started_at, key",
            (run_id,),
        )
        return [_task_from_row(r) for r in rows]

    async def load_logs(self, run_id: str) -> list[LogRecord]:
        """All log lines of a run, oldest first."""
        rows = await self._fetchall(
            "SELECT key, level, message, properties, at, task FROM logs WHERE run_id = %s "
            "ORDER BY at, key",
            (run_id,),
        )
        return [LogRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    async def record_task(
        self,
        *,
        run_id: str,
        owner: str,
        task: TaskRecord,
        logs: Sequence[LogRecord] = (),
        kv: Sequence[KvWrite] = (),
        events: Sequence[EventRecord] = (),
    ) -> None:
        """Write one task outcome (and its effects) in exactly one transaction, fenced."""
        params = (run_id, owner, *_task_params(run_id, task))
        lost = f"run {run_id}: lease lost; task {task.key!r} was not recorded"
        if not (logs or kv or events):
            if await self._rowcount(_UPSERT_TASK, params) == 0:
                raise LeaseLost(lost)
            return
        try:
            async with self._db.connection() as conn, conn.transaction():
                if (await conn.execute(_UPSERT_TASK, params)).rowcount == 0:
                    raise LeaseLost(lost)
                await _write_effects(conn, run_id, task, logs, kv, events)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    # -- events and key-value store -----------------------------------------------------------

    async def insert_event(self, event: EventRecord) -> bool:
        """Store an event unless its id exists."""
        return await self._rowcount(_INSERT_EVENT, _event_params(event)) == 1

    async def list_events(self, *, limit: int = 50) -> list[EventRecord]:
        """Events, newest first."""
        rows = await self._fetchall(
            # EventRecord's field order (timestamp before source), not the table's.
            "SELECT id, name, payload, timestamp, source, deliver_at, sent_by_run FROM events "
            "ORDER BY timestamp DESC LIMIT %s",
            (limit,),
        )
        return [EventRecord(*r) for r in rows]

    async def kv_get(self, scope: str, name: str) -> str | None:
        """A key-value entry's JSON text, or None."""
        rows = await self._fetchall(
            "SELECT value FROM kv WHERE scope = %s AND name = %s", (scope, name)
        )
        return str(rows[0][0]) if rows else None

    # -- wake-ups -----------------------------------------------------------------------------

    async def wait_for_wakeup(self, timeout: float) -> None:  # noqa: ASYNC109 -- the signature the engine will call
        """Return when another process signals work (a run queued, a run due at a new time,
        a run released), or after ``timeout`` seconds.

        The first call subscribes; signals sent between calls are kept and end the next call
        at once (an early return is harmless: the caller just looks for due runs). When the
        connection breaks, this sleeps out ``timeout`` and reconnects on the next call.
        """
        self._db  # noqa: B018 -- raises StoreError when the store is not open
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        try:
            conn = await self._listening()
            async for _ in conn.notifies(timeout=max(0.0, timeout), stop_after=1):
                pass
        except (*_CONNECTION_ERRORS, StoreError) as exc:
            if self._pool is None:
                return  # closed while waiting
            _log.warning(
                "LISTEN connection to %s failed (polling until it is back): %s", self._url, exc
            )
            if self._listener is not None:
                listener, self._listener = self._listener, None
                await listener.close()
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    async def _listening(self) -> _Conn:
        async with self._listener_lock:
            if self._listener is None or self._listener.closed:
                conn = await self._connect()
                await conn.execute(f"LISTEN {WAKEUP_CHANNEL}")
                self._listener = conn
            return self._listener


async def _write_effects(
    conn: _Conn,
    run_id: str,
    task: TaskRecord,
    logs: Sequence[LogRecord],
    kv: Sequence[KvWrite],
    events: Sequence[EventRecord],
) -> None:
    # Rows are written in key order (a stable sort keeps a key's writes in their order), so two
    # transactions writing the same keys lock them in the same order and cannot deadlock.
    async with conn.cursor() as cur:
        if logs:
            await cur.executemany(_INSERT_LOG, [_log_params(run_id, g) for g in logs])
        for w in sorted(kv, key=lambda w: (w.scope, w.name)):
            if w.value is None:
                await cur.execute(
                    "DELETE FROM kv WHERE scope = %s AND name = %s", (w.scope, w.name)
                )
            else:
                await cur.execute(
                    "INSERT INTO kv (scope, name, value, updated_at) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at",
                    (w.scope, w.name, w.value, task.ended_at or task.started_at),
                )
        if events:
            ordered = sorted(events, key=lambda e: e.id)
            await cur.executemany(_INSERT_EVENT, [_event_params(e) for e in ordered])


async def _has_migrations_table(conn: _Conn) -> bool:
    # A catalogue query, not to_regclass(): that one consults this session's catalogue cache,
    # which still says "no such table" when another worker created it while we waited for
    # the migration lock; the query sees every committed table.
    cur = await conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = 'schema_migrations')"
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def _version(conn: _Conn) -> int:
    if not await _has_migrations_table(conn):
        return 0
    cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def _known_version() -> int:
    return max((v for v, _, _ in _migrations()), default=0)


def _describe(conninfo: str) -> str:
    """A printable URL for a conninfo string (either form), without the password."""
    if "://" in conninfo:
        return _redact(conninfo)
    try:
        info = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "postgresql://?"
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{info.get('host', '')}{port}/{info.get('dbname', '')}"


def _redact(url: str) -> str:
    """``url`` without a password, in the authority or as a ``password=`` option."""
    try:
        redacted = parse_database_url(url).redacted
    except StoreError:
        redacted = url
    parts = urlsplit(redacted)
    if "password=" not in parts.query.lower():
        return redacted
    query = [
        (k, "***" if k.lower() == "password" else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return parts._replace(query=urlencode(query, safe="*")).geturl()


__all__ = ["WAKEUP_CHANNEL", "PostgresStore"]
