"""``PostgresStore``: the scale-out store, one PostgreSQL database shared by any number of
worker processes on any number of machines.

psycopg 3 (async) with a connection pool; every statement runs in autocommit unless a method
needs several statements to be atomic. Workers claim runs with ``FOR UPDATE SKIP LOCKED``, so
two workers never wait for, or take, the same run; claims that involve runs under a
concurrency or throttle limit also take one advisory lock, so that workers never exceed a limit
together (``claim_runs``). Task writes are fenced in the statement that
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
import math
import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Final, final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..definitions.filters import matches
from ..errors import LeaseLost, SchemaTooNew, StoreError, StoreUnavailable
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
from . import _postgres_sql as sql
from ._connections import CONNECTION_COLS, ConnectionRecord, connection_from_row
from ._postgres_sql import WAKEUP_CHANNEL, Conn
from ._rows import (
    SUSPENDED,
    admit,
    dump_json,
    event_body,
    log_params,
    run_from_row,
    run_params,
    task_from_row,
    task_params,
)
from ._url import parse_database_url
from .access import ApiKeyRecord, SessionRecord, UserRecord

_log = logging.getLogger("relaykit.store")

_OWN_OPTIONS: Final = ("pool_min_size", "pool_max_size")
_CONNECTION_ERRORS: Final = (psycopg.OperationalError, PoolTimeout)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


#: What a server says while it restarts, fails over or recovers: connecting may work later.
_RESTARTING: Final = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "server closed the connection unexpectedly",
)


def _connect_problem(exc: BaseException) -> tuple[str, bool]:
    """What a failed connection attempt means and what to do about it, and whether it may
    succeed if tried again later (the server is down or restarting) rather than being a
    problem of the URL (host, user, database, options)."""
    text = _one_line(exc)
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
        transient = any(phrase in low for phrase in _RESTARTING)
    return f"{problem} ({text})", transient


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
        self._opened = False
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard: AsyncGenerator[None] | None = None
        self._listener: Conn | None = None
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
        # %20 for a space, never "+": libpq decodes only %XX escapes in a URL.
        query_text = urlencode(libpq, quote_via=quote)
        conninfo = parts._replace(scheme="postgresql", query=query_text).geturl()
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
    #
    # psycopg's pool lives on the event loop that opened it, but a store outlives loops:
    # ``client.run_sync`` and tests call ``asyncio.run`` once per step. So the pool (and the
    # LISTEN connection) belong to one loop at a time: an async generator started on that loop
    # closes them when the loop shuts down (``asyncio.run`` finalizes async generators before
    # it closes the loop), and the first use on another loop opens a new pool there.

    async def _db(self) -> AsyncConnectionPool[Conn]:
        pool = self._pool
        if pool is not None and self._loop is asyncio.get_running_loop():
            return pool
        if not self._opened:
            raise StoreError(f"the store {self._url} is not open; call `await store.open()`")
        if pool is not None:  # its loop is gone without shutting down: nothing can close it
            self._pool = self._listener = self._guard = None
        return await self._start_pool()

    async def _start_pool(self) -> AsyncConnectionPool[Conn]:
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
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
            raise StoreUnavailable(
                f"cannot open database {self._url}: the connection pool could not connect"
            ) from exc
        self._pool, self._loop = pool, asyncio.get_running_loop()
        self._listener_lock = asyncio.Lock()
        guard = self._until_loop_shutdown()
        await anext(guard)
        self._guard = guard
        return pool

    async def _until_loop_shutdown(self) -> AsyncGenerator[None]:
        try:
            yield
        finally:
            await self._stop_pool()

    async def _stop_pool(self) -> None:
        pool, self._pool = self._pool, None
        listener, self._listener = self._listener, None
        self._loop = self._guard = None
        if listener is not None:
            await listener.close()
        if pool is not None:
            await pool.close()

    def _unusable(self, exc: BaseException) -> StoreError:
        return StoreUnavailable(f"database {self._url} cannot be used: {_one_line(exc)}")

    async def _connect(self) -> Conn:
        try:
            return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            problem, transient = _connect_problem(exc)
            message = f"cannot open database {self._url}: {problem}"
            if transient:  # the server is away or restarting: it may come back
                raise StoreUnavailable(message) from None
            raise StoreError(message) from None

    async def open(self, *, migrate: bool = True) -> None:
        """Connect (one probe connection names any problem), check the schema version and
        migrate, then open the pool. Nothing is changed when an error is raised."""
        if self._opened:
            return
        conn = await self._connect()
        try:
            self._refuse_newer(await sql.schema_version(conn))
            if migrate:
                await self._migrate_on(conn)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open database {self._url}: {_one_line(exc)}") from exc
        finally:
            await conn.close()
        await self._start_pool()
        self._opened = True

    async def close(self) -> None:
        """Close the pool and the LISTEN connection (a pending ``wait_for_wakeup`` returns)."""
        self._opened = False
        guard = self._guard
        if guard is not None and self._loop is asyncio.get_running_loop():
            await guard.aclose()  # runs _stop_pool
        else:
            self._pool = self._listener = self._guard = self._loop = None

    async def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""
        try:
            async with (await self._db()).connection() as conn:
                return await sql.schema_version(conn)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def check(self) -> None:
        """Nothing to verify client-side: the server guards its own pages (checksums, WAL);
        this only proves the database answers."""
        await self._fetchall("SELECT 1")

    async def migrate(self) -> list[int]:
        """Apply pending migrations in one transaction under an advisory lock."""
        try:
            async with (await self._db()).connection() as conn:
                return await self._migrate_on(conn)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def _migrate_on(self, conn: Conn) -> list[int]:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (sql.MIGRATION_LOCK,))
            current, applied = await sql.apply_migrations(conn)
            self._refuse_newer(current)  # another process may have migrated meanwhile
        return applied

    def _refuse_newer(self, version: int) -> None:
        known = sql.known_version()
        if version > known:
            raise SchemaTooNew(
                f"database {self._url} has schema version {version}, newer than this "
                f"relaykit knows ({known}); upgrade relaykit"
            )

    # -- statements ---------------------------------------------------------------------------

    async def _fetchall(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        try:
            async with (await self._db()).connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall()
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def _rowcount(self, query: str, params: Any = None) -> int:
        try:
            async with (await self._db()).connection() as conn:
                cur = await conn.execute(query, params)
                return cur.rowcount
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    # -- runs ---------------------------------------------------------------------------------

    async def create_run(self, run: RunRecord) -> RunRecord:
        """Insert a new run — or find the run its idempotency or debounce key leads to — and
        return the run that stands for it; a new queued or waiting run wakes listening
        workers. One statement for a run without flow-control keys or groups."""
        if not (run.groups or run.idempotency_key or run.debounce_key):
            await self._rowcount(sql.CREATE_RUN, run_params(run, bool))
            return run
        try:
            async with (await self._db()).connection() as conn, conn.transaction():
                return await _insert_run(conn, run)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        rows = await self._fetchall(sql.GET_RUN, (run_id,))
        return run_from_row(rows[0]) if rows else None

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
        where: list[str] = ["true"]
        args: list[object] = []
        if before is not None:
            where.append("(created_at, id) < (%s, %s)")
            args.extend(before)
        if job_id is not None:
            where.append("job_id = %s")
            args.append(job_id)
        if status is not None:
            where.append("status = %s")
            args.append(status)
        rows = await self._fetchall(
            sql.LIST_RUNS.format(where=" AND ".join(where)), (*args, limit, offset)
        )
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
        concurrency and throttle limit; runs locked by another claimer are skipped.

        Unlimited runs are claimed as before flow control, in one statement that takes no
        lock but the rows' own: many workers claim side by side. Only when a limited run is
        among the best candidates does the claim count the groups' busy runs, and it does that
        under one transaction-level advisory lock (``sql.CLAIM_LOCK``), so the count and the
        claim it admits commit before another claim counts — two workers can never together
        exceed a limit. One lock for all groups, rather than one per group: a claim does not
        know its candidates' groups before it has selected them, and taking several locks as
        they are found could deadlock; the locked section is two short statements.
        """
        if not job_ids or limit < 1:
            return []
        only = "all" if run_id is None else "family" if family else "run"
        args = {
            "owner": owner,
            "lease_until": lease_until,
            "now": now,
            "limit": limit,
            "cap": limit * 2,
            "run_id": run_id,
            "jobs": list(job_ids),
            "exclude": list(exclude),
        }
        try:
            async with (await self._db()).connection() as conn:
                cur = await conn.execute(sql.CLAIM_FAST[only], args)
                rows = await cur.fetchall()
                if not rows[0][0]:  # no limited candidate: claimed in that one statement
                    runs = [run_from_row(r[1:]) for r in rows if r[1] is not None]
                    return sorted(runs, key=_claim_order)
                async with conn.transaction():
                    await conn.execute(sql.TAKE_CLAIM_LOCK, (sql.CLAIM_LOCK,))
                    cur = await conn.execute(sql.CLAIM_LIMITED[only], args)
                    ids = _admitted(await cur.fetchall(), limit)
                    if not ids:
                        return []
                    cur = await conn.execute(sql.CLAIM_ADMITTED, {**args, "ids": ids})
                    claimed = [run_from_row(r) for r in await cur.fetchall()]
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc
        order = {rid: i for i, rid in enumerate(ids)}
        return sorted(claimed, key=lambda r: order[r.id])

    async def renew_leases(self, *, leases: Mapping[str, int], lease_until: float) -> set[str]:
        """Extend the leases of runs still running under the given epochs; return those ids."""
        if not leases:
            return set()
        rows = await self._fetchall(
            sql.RENEW_LEASES, (lease_until, list(leases), list(leases.values()))
        )
        return {r[0] for r in rows}

    async def release_runs(self, *, leases: Mapping[str, int], now: float) -> None:
        """Make runs still running under the given epochs runnable again at once, and wake
        listening workers."""
        if not leases:
            return
        await self._rowcount(sql.RELEASE_RUNS, (now, list(leases), list(leases.values())))

    async def replay_run(self, run_id: str, *, new_id: str, now: float) -> RunRecord | None:
        """Queue a copy of ``run_id`` (same job, payload, groups, priority) as ``new_id``."""
        args = {"id": run_id, "new": new_id, "now": now}
        try:
            async with (await self._db()).connection() as conn, conn.transaction():
                if not (await conn.execute(sql.REPLAY_RUN, args)).rowcount:
                    return None
                await conn.execute(sql.REPLAY_GROUPS, args)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc
        return await self.get_run(new_id)

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
        """Write the attempt's last records and the run's new status in one transaction
        (one statement for an ended run with none). A run that ended leaves no task waiting
        and drops its event waits, and wakes the run that invoked it; a waiting run stores its
        new event waits, and is due at once when one of its waits was matched meanwhile or
        the child runs one of its tasks waits for have all ended. A run that will wake at a
        time wakes listening workers."""
        ended = None if status in SUSPENDED else now
        args = {
            "status": status.value,
            "output": output,
            "error": dump_json(error),
            "ended": ended,
            "wake_at": wake_at,
            "id": run_id,
            "epoch": epoch,
            "now": now,
            "wakes": status is RunStatus.WAITING and wake_at is not None,
        }
        lost = f"run {run_id}: lease lost before the attempt could be recorded"
        try:
            async with (await self._db()).connection() as conn:
                if ended is not None and not (tasks or logs):
                    # one statement, unless the run has a parent or children (or lost its lease)
                    if (await conn.execute(sql.END_ATTEMPT_ENDED, args)).rowcount:
                        return
                async with conn.transaction():
                    if ended is not None:
                        await conn.execute(sql.LOCK_PARENT, args)
                    if (await conn.execute(sql.END_ATTEMPT, args)).rowcount == 0:
                        raise LeaseLost(lost)
                    async with conn.cursor() as cur:
                        if tasks:
                            await cur.executemany(
                                sql.UPSERT_TASK_UNFENCED,
                                [task_params(run_id, t) for t in tasks],
                            )
                        if logs:
                            await cur.executemany(
                                sql.INSERT_LOG, [log_params(run_id, g) for g in logs]
                            )
                        if ended is not None:
                            await _close_runs(conn, [run_id], now)
                        else:
                            if event_waits:
                                await cur.executemany(
                                    sql.INSERT_EVENT_WAIT,
                                    [
                                        (run_id, w.task_key, w.event_name, w.filter)
                                        for w in sorted(event_waits, key=lambda w: w.task_key)
                                    ],
                                )
                            await cur.execute(sql.DUE_IF_MATCHED, args)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def cancel_run(self, run_id: str, *, now: float) -> RunRecord | None:
        """Cancel a run that has not ended, its waiting tasks and its event waits, and wake
        the run that invoked it."""
        args = {"now": now, "id": run_id}
        try:
            async with (await self._db()).connection() as conn:
                async with conn.transaction():
                    await conn.execute(sql.LOCK_PARENT, args)
                    if (await conn.execute(sql.CANCEL_RUN, args)).rowcount:
                        await _close_runs(conn, [run_id], now)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc
        return await self.get_run(run_id)

    async def next_wakeup(self, *, job_ids: Sequence[str]) -> float | None:
        """The earliest due time or lease expiry among runs of ``job_ids``, due time of a
        pending event, or schedule's next fire time."""
        rows = await self._fetchall(sql.NEXT_WAKEUP, {"jobs": list(job_ids)})
        return None if rows[0][0] is None else float(rows[0][0])

    async def has_unfinished_work(self, *, job_ids: Sequence[str], now: float) -> bool:
        """True when a run of ``job_ids`` is due now or leased by any worker, or a pending
        event or a schedule is due."""
        rows = await self._fetchall(sql.HAS_UNFINISHED_WORK, {"jobs": list(job_ids), "now": now})
        return bool(rows[0][0])

    # -- tasks and logs -----------------------------------------------------------------------

    async def load_tasks(self, run_id: str) -> list[TaskRecord]:
        """All task records of a run, in one query."""
        rows = await self._fetchall(sql.LOAD_TASKS, (run_id,))
        return [task_from_row(r) for r in rows]

    async def load_event_matches(self, run_id: str) -> list[EventMatch]:
        """The run's event waits resolved by an event."""
        rows = await self._fetchall(sql.LOAD_EVENT_MATCHES, (run_id,))
        return [EventMatch(r[0], json.loads(r[1])) for r in rows]

    async def load_logs(self, run_id: str) -> list[LogRecord]:
        """All log lines of a run, oldest first."""
        return [sql.log_from_row(r) for r in await self._fetchall(sql.LOAD_LOGS, (run_id,))]

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
        """Write one task outcome (and its effects, and the child runs it starts) in exactly
        one transaction, fenced."""
        params = (run_id, epoch, *task_params(run_id, task))
        lost = f"run {run_id}: lease lost; task {task.key!r} was not recorded"
        consumes_wait = task.kind == "event" and task.status is TaskStatus.COMPLETED
        if not (logs or kv or events or runs or consumes_wait):
            if await self._rowcount(sql.UPSERT_TASK, params) == 0:
                raise LeaseLost(lost)
            return
        try:
            async with (await self._db()).connection() as conn, conn.transaction():
                if (await conn.execute(sql.UPSERT_TASK, params)).rowcount == 0:
                    raise LeaseLost(lost)
                if consumes_wait:
                    await conn.execute(sql.CONSUME_EVENT_WAIT, (run_id, task.key))
                await sql.write_effects(conn, run_id, task, logs, kv, events)
                for run in runs:
                    await _insert_run(conn, run)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def expire_event_wait(self, *, run_id: str, epoch: int, task: TaskRecord) -> bool:
        """Record an event wait's timeout unless an event matched it first (fenced)."""
        lost = f"run {run_id}: lease lost; task {task.key!r} was not recorded"
        try:
            async with (await self._db()).connection() as conn, conn.transaction():
                # The run row locked FOR SHARE: a delivery (which locks it FOR UPDATE before
                # resolving its waits) either committed already or waits for this one.
                if not await (await conn.execute(sql.LEASE_FENCE, (run_id, epoch))).fetchall():
                    raise LeaseLost(lost)
                gone = (await conn.execute(sql.EXPIRE_EVENT_WAIT, (run_id, task.key))).rowcount
                if not gone:
                    cur = await conn.execute(sql.EVENT_WAIT_EXISTS, (run_id, task.key))
                    if await cur.fetchall():
                        return False  # an event resolved it first
                params = (run_id, epoch, *task_params(run_id, task))
                if (await conn.execute(sql.UPSERT_TASK, params)).rowcount == 0:
                    raise LeaseLost(lost)
                return True
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    # -- events and key-value store -----------------------------------------------------------

    async def insert_event(
        self,
        event: EventRecord,
        *,
        routing: Routing = NO_ROUTING,
        deliver: bool = False,
        now: float = 0.0,
    ) -> list[RunRecord] | None:
        """Store an event once (None when it was stored before); with ``deliver``, route it in
        the same transaction and return the runs that stand for ``routing.runs``."""
        try:
            async with (await self._db()).connection() as conn:
                if not deliver:
                    cur = await conn.execute(sql.INSERT_EVENT, sql.event_params(event))
                    return [] if cur.rowcount == 1 else None
                async with conn.transaction():
                    cur = await conn.execute(sql.INSERT_EVENT_TO_DELIVER, sql.event_params(event))
                    if cur.rowcount != 1:
                        return None
                    return await self._deliver(conn, event, routing, now)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    @staticmethod
    async def _deliver(
        conn: Conn, event: EventRecord, routing: Routing, now: float
    ) -> list[RunRecord]:
        """Route ``event`` inside the caller's transaction: mark it delivered, cancel the
        runs not yet ended with its cancel keys (a running one stops at its next task
        boundary), create its runs, resolve the open waits
        it matches and make their runs due. Returns the runs that stand for ``routing.runs``."""
        await conn.execute(sql.MARK_DELIVERED, (now, event.id))
        async with conn.cursor() as cur:
            if routing.cancels:
                keys = {"keys": list(routing.cancels), "now": now}
                await cur.execute(sql.LOCK_CANCEL_PARENTS, keys)
                await cur.execute(sql.CANCEL_BY_KEYS, keys)
                canceled = [r[0] for r in await cur.fetchall()]
                if canceled:
                    await _close_runs(conn, canceled, now)
            plain = [run_params(r, bool) for r in routing.runs if not _has_flow_keys(r)]
            if plain:  # the common case: batched
                await cur.executemany(sql.CREATE_RUN, plain)
            runs = [await _insert_run(conn, r) if _has_flow_keys(r) else r for r in routing.runs]
            await PostgresStore._resolve_waits(cur, event, now)
        return runs

    @staticmethod
    async def _resolve_waits(
        cur: psycopg.AsyncCursor[tuple[Any, ...]], event: EventRecord, now: float
    ) -> None:
        """Resolve the open waits ``event`` matches and make their runs due."""
        payload = json.loads(event.payload)

        def matching(rows: list[tuple[Any, ...]]) -> list[tuple[str, str]]:
            return [
                (run_id, key)
                for run_id, key, flt in rows
                if flt is None or matches(json.loads(flt), payload)
            ]

        await cur.execute(sql.OPEN_WAITS, (event.name,))
        candidates = matching(await cur.fetchall())
        if not candidates:
            return
        run_ids = sorted({run_id for run_id, _ in candidates})
        await cur.execute(sql.LOCK_RUNS, (run_ids,))
        # Read again under the locks: another delivery may have resolved a wait, the run
        # may have ended (its waits dropped) or added waits meanwhile.
        await cur.execute(sql.LOCK_OPEN_WAITS, (event.name, run_ids))
        resolved = matching(await cur.fetchall())
        if not resolved:
            return
        body = json.dumps(event_body(event))
        await cur.executemany(
            sql.RESOLVE_WAIT, [(event.id, body, run_id, key) for run_id, key in resolved]
        )
        await cur.execute(sql.WAKE_RESOLVED, (now, sorted({r for r, _ in resolved})))

    async def deliver_due_events(
        self,
        *,
        now: float,
        route: Callable[[EventRecord], Routing],
        limit: int = 100,
    ) -> list[str]:
        """Route pending events that are due, each claimed (``FOR UPDATE SKIP LOCKED``) in
        the transaction that delivers it: concurrent deliverers share the events out and
        never deliver one twice."""
        delivered: list[str] = []
        try:
            async with (await self._db()).connection() as conn:
                while len(delivered) < limit:
                    async with conn.transaction():
                        cur = await conn.execute(sql.CLAIM_DUE_EVENT, (now,))
                        row = await cur.fetchone()
                        if row is None:
                            break
                        event = EventRecord(*row)
                        await self._deliver(conn, event, route(event), now)
                    delivered.append(event.id)
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc
        return delivered

    async def cancel_event(self, event_id: str) -> bool:
        """Cancel a pending event."""
        return await self._rowcount(sql.CANCEL_EVENT, (event_id,)) == 1

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event, or None."""
        rows = await self._fetchall(sql.GET_EVENT, (event_id,))
        return EventRecord(*rows[0]) if rows else None

    async def list_events(
        self, *, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[EventRecord]:
        """Events, newest first (after ``before``)."""
        where, args = ("(timestamp, id) < (%s, %s)", before) if before else ("true", ())
        rows = await self._fetchall(sql.LIST_EVENTS.format(where=where), (*args, limit))
        return [EventRecord(*r) for r in rows]

    # -- schedules ----------------------------------------------------------------------------

    async def sync_schedules(
        self, specs: Sequence[ScheduleSpec], *, first_fire: Callable[[ScheduleSpec], float]
    ) -> None:
        """Add new schedules, re-time changed ones, keep the others' timing."""
        try:
            async with (await self._db()).connection() as conn, conn.transaction():
                for spec in sorted(specs, key=lambda s: s.id):  # id order: no deadlocks
                    cur = await conn.execute(sql.GET_SCHEDULE, (spec.id,))
                    row = await cur.fetchone()
                    if row == (spec.kind, spec.spec, spec.timezone, True):
                        continue
                    await conn.execute(
                        sql.UPSERT_SCHEDULE,
                        (
                            spec.id,
                            spec.job_id,
                            spec.kind,
                            spec.spec,
                            spec.timezone,
                            first_fire(spec),
                        ),
                    )
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def remove_schedules(self, schedule_ids: Sequence[str]) -> int:
        """Deactivate schedules; return how many were active."""
        if not schedule_ids:
            return 0
        return await self._rowcount(sql.REMOVE_SCHEDULES, (list(schedule_ids),))

    async def fire_due_schedules(
        self,
        *,
        now: float,
        plan: Callable[[ScheduleFire], tuple[float, RunRecord, float] | None],
        limit: int = 100,
    ) -> list[str]:
        """Fire due schedules; each (schedule, slot) at most once. Schedules another
        scheduler is firing are skipped."""
        created: list[str] = []
        try:
            async with (await self._db()).connection() as conn, conn.transaction():
                cur = await conn.execute(sql.CLAIM_DUE_SCHEDULES, (now, limit))
                for sid, job_id, kind, spec, tz, next_at, last_at in await cur.fetchall():
                    due = ScheduleFire(ScheduleSpec(sid, job_id, kind, spec, tz), next_at, last_at)
                    planned = plan(due)
                    if planned is None:
                        continue
                    slot, run, following = planned
                    fired = await conn.execute(sql.RECORD_FIRE, (sid, slot, run.id))
                    if fired.rowcount:
                        await _insert_run(conn, run)
                        created.append(run.id)
                    await conn.execute(sql.MOVE_SCHEDULE, (following, slot, sid))
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc
        return created

    async def kv_get(self, scope: str, name: str) -> str | None:
        """A key-value entry's JSON text, or None."""
        rows = await self._fetchall(sql.KV_GET, (scope, name))
        return str(rows[0][0]) if rows else None

    # -- wake-ups -----------------------------------------------------------------------------

    async def wait_for_wakeup(self, timeout: float) -> None:  # noqa: ASYNC109 -- the signature the engine will call
        """Return when another process signals work (a run queued, a run due at a new time,
        a run released), or after ``timeout`` seconds.

        The first call subscribes; signals sent between calls are kept and end the next call
        at once (an early return is harmless: the caller just looks for due runs). When the
        connection breaks, this sleeps out ``timeout`` and reconnects on the next call.
        """
        await self._db()  # raises StoreError when the store is not open
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        try:
            conn = await self._listening()
            async for _ in conn.notifies(timeout=max(0.0, timeout), stop_after=1):
                pass
        except (*_CONNECTION_ERRORS, StoreError) as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # the wait was cancelled (a worker stopping, a loop shutting down) and the
                # driver reported it as a connection error: stop, do not sleep and retry
                raise asyncio.CancelledError from exc
            if not self._opened:
                return  # closed while waiting
            _log.warning(
                "LISTEN connection to %s failed (polling until it is back): %s", self._url, exc
            )
            if self._listener is not None:
                listener, self._listener = self._listener, None
                await listener.close()
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    async def _listening(self) -> Conn:
        async with self._listener_lock:
            if self._listener is None or self._listener.closed:
                conn = await self._connect()
                try:
                    await conn.execute(f"LISTEN {WAKEUP_CHANNEL}")
                except BaseException:  # cancelled (worker stopping) or failed: don't leak it
                    await asyncio.shield(conn.close())
                    raise
                self._listener = conn
            return self._listener

    # -- HTTP API and dashboard: API keys, users, sessions, key-value writes ------------------

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        """Store a new API key (its hash only)."""
        await self._rowcount(
            sql.CREATE_API_KEY, (key.id, key.name, key.key_hash, key.created_at, key.revoked_at)
        )

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """One API key by id, or None."""
        rows = await self._fetchall(sql.GET_API_KEY, (key_id,))
        return ApiKeyRecord(*rows[0]) if rows else None

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """All API keys, oldest first."""
        return [ApiKeyRecord(*r) for r in await self._fetchall(sql.LIST_API_KEYS)]

    async def revoke_api_key(self, key_id: str, *, now: float) -> bool:
        """Revoke a key; False when there is no such unrevoked key."""
        return await self._rowcount(sql.REVOKE_API_KEY, (now, key_id)) == 1

    async def create_user(self, user: UserRecord) -> bool:
        """Store a new user; False when the name is taken."""
        params = (user.name, user.password_hash, user.created_at)
        return await self._rowcount(sql.CREATE_USER, params) == 1

    async def get_user(self, name: str) -> UserRecord | None:
        """One user, or None."""
        rows = await self._fetchall(sql.GET_USER, (name,))
        return UserRecord(*rows[0]) if rows else None

    async def create_session(self, session: SessionRecord) -> None:
        """Store a session or login token, dropping expired ones on the way."""
        s = session
        try:
            async with (await self._db()).connection() as conn, conn.transaction():
                await conn.execute(sql.DROP_EXPIRED_SESSIONS, (s.created_at,))
                await conn.execute(
                    sql.CREATE_SESSION,
                    (s.token_hash, s.kind, s.subject, s.created_at, s.expires_at),
                )
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def get_session(self, token_hash: str, *, now: float) -> SessionRecord | None:
        """An unexpired session, or None."""
        rows = await self._fetchall(sql.GET_SESSION, (token_hash, now))
        return SessionRecord(*rows[0]) if rows else None

    async def take_session(self, token_hash: str, *, now: float) -> SessionRecord | None:
        """Delete a session and return it unless it had expired."""
        rows = await self._fetchall(sql.TAKE_SESSION, (token_hash,))
        if not rows:
            return None
        found = SessionRecord(*rows[0])
        return found if found.expires_at > now else None

    async def kv_set(self, scope: str, name: str, value: str | None, *, now: float) -> None:
        """Write or (with None) delete one key-value entry."""
        if value is None:
            await self._rowcount(sql.KV_DELETE, (scope, name))
        else:
            await self._rowcount(sql.KV_SET, (scope, name, value, now))

    # -- connections (issue 5: integration credentials, stored encrypted) ---------------------

    async def get_connection(self, integration_id: str) -> ConnectionRecord | None:
        """The connection of the integration with this id, or None."""
        rows = await self._fetchall(
            f"SELECT {CONNECTION_COLS} FROM connections WHERE integration_id = %s",
            (integration_id,),
        )
        return connection_from_row(rows[0]) if rows else None

    async def put_connection(self, connection: ConnectionRecord) -> None:
        """Insert or replace a connection, and make the runs waiting for one due."""
        try:
            async with (await self._db()).connection() as conn, conn.transaction():
                await conn.execute(_PUT_CONNECTION, _connection_params(connection))
                # runs that waited for a connection try again (one still missing its own goes
                # back to waiting when its task meets the missing credentials again)
                await conn.execute(
                    "UPDATE runs SET status = 'queued', next_attempt_at = %s "
                    f"WHERE status = 'waiting_for_connection' RETURNING {sql.NOTIFY}",
                    (connection.updated_at,),
                )
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def delete_connection(self, integration_id: str) -> bool:
        """Remove a connection; True when there was one."""
        query = "DELETE FROM connections WHERE integration_id = %s"
        return await self._rowcount(query, (integration_id,)) > 0

    async def list_connections(self) -> list[ConnectionRecord]:
        """Every connection, by integration id."""
        rows = await self._fetchall(
            f"SELECT {CONNECTION_COLS} FROM connections ORDER BY integration_id"
        )
        return [connection_from_row(r) for r in rows]

    async def refresh_connection(
        self,
        integration_id: str,
        refresh: Callable[[ConnectionRecord], Awaitable[ConnectionRecord | None]],
        *,
        clock: Callable[[], float],
        lock_seconds: float = 60.0,
    ) -> ConnectionRecord | None:
        """Run ``refresh`` holding the row ``FOR UPDATE``: other refreshers of this connection,
        in any process, wait for the commit and then see the new token. (``clock`` and
        ``lock_seconds`` are not needed: a dead holder's transaction ends with its session.)"""
        try:
            async with (await self._db()).connection() as conn, conn.transaction():
                cur = await conn.execute(
                    f"SELECT {CONNECTION_COLS} FROM connections WHERE integration_id = %s "
                    "FOR UPDATE",
                    (integration_id,),
                )
                row = await cur.fetchone()
                if row is None:
                    return None
                current = connection_from_row(row)
                fresh = await refresh(current)
                if fresh is None:
                    return current
                await conn.execute(_PUT_CONNECTION, _connection_params(fresh))
                return fresh
        except _CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc


def _has_flow_keys(run: RunRecord) -> bool:
    """Whether creating ``run`` takes more than one INSERT (``_insert_run``)."""
    return bool(run.groups or run.idempotency_key or run.debounce_key)


async def _close_runs(conn: Conn, run_ids: list[str], now: float) -> None:
    """After runs ended (their rows locked by the caller's transaction): cancel the child
    runs they were waiting for (and theirs), leave no task of theirs waiting, drop their
    event waits and concurrency-group rows, and wake the runs that invoked them once the
    last child their task waits for has ended (``sql.CLOSE_RUNS``, ``sql.WAKE_PARENTS``)."""
    cur = await conn.execute(sql.CLOSE_RUNS, {"ids": run_ids, "now": now})
    rows = await cur.fetchall()
    orphans = [run_id for kind, run_id in rows if kind == "orphan"]
    parents = [run_id for kind, run_id in rows if kind == "parent"]
    if orphans:
        await _close_runs(conn, orphans, now)
    if parents:
        await conn.execute(sql.WAKE_PARENTS, {"ids": run_ids, "parents": parents, "now": now})


async def _insert_run(conn: Conn, run: RunRecord) -> RunRecord:
    """Insert ``run`` — unless a live idempotency key leads to an existing run, or a queued
    run with its debounce key takes its payload and due time — and return the run that
    stands for it. Inside a transaction when the run has flow-control keys or groups.

    The idempotency key is settled first, by the key row itself (see
    ``sql.CLAIM_IDEMPOTENCY_KEY``): of concurrent creators with one key, exactly one inserts
    and the others wait for its commit and return its run. Debounced triggers are serialized
    per (job, key) by an advisory lock (``sql.DEBOUNCE_LOCK``).
    """
    if not _has_flow_keys(run):
        await conn.execute(sql.CREATE_RUN, run_params(run, bool))
        return run
    key = {
        "job": run.job_id,
        "key": run.idempotency_key,
        "id": run.id,
        "expires": run.created_at + run.idempotency_ttl,
        "now": run.created_at,
    }
    if run.idempotency_key is not None:
        cur = await conn.execute(sql.CLAIM_IDEMPOTENCY_KEY, key)
        if not await cur.fetchall():  # a live key, now locked by this transaction
            cur = await conn.execute(sql.IDEMPOTENT_RUN, key)
            row = await cur.fetchone()
            if row is not None:
                return run_from_row(row)
            await conn.execute(sql.MOVE_IDEMPOTENCY_KEY, key)  # its run is gone: take it
    if run.debounce_key is not None:
        # the (job, key) pair hashed to the lock's second int4 (signed); two keys sharing a
        # hash only wait for each other a moment
        lock = zlib.crc32(f"{run.job_id}\x00{run.debounce_key}".encode())
        await conn.execute(sql.DEBOUNCE_LOCK, (sql.DEBOUNCE_LOCK_CLASS, lock - (lock >> 31 << 32)))
        cur = await conn.execute(
            sql.DEBOUNCE_RUN,
            {
                "payload": run.payload,
                "due": run.next_attempt_at,
                "job": run.job_id,
                "key": run.debounce_key,
            },
        )
        row = await cur.fetchone()
        if row is not None:
            found = run_from_row(row)
            if run.idempotency_key is not None:  # the key leads to the run that stands for it
                await conn.execute(sql.MOVE_IDEMPOTENCY_KEY, {**key, "id": found.id})
            return found
    await conn.execute(sql.CREATE_RUN, run_params(run, bool))
    if run.groups:
        async with conn.cursor() as cur:
            await cur.executemany(sql.INSERT_RUN_GROUP, [(run.id, *g) for g in run.groups])
    return run


def _admitted(rows: Sequence[tuple[Any, ...]], limit: int) -> list[str]:
    """The runs a limited claim may take: ``sql.CLAIM_LIMITED``'s rows (a candidate per
    group it is in, in claim order, with the group's busy count) through ``admit``."""
    candidates: list[tuple[str, bool, bool]] = []
    groups: list[tuple[str, str, int, float | None]] = []
    busy: dict[str, int] = {}
    for run_id, limited, started, grp, lim, period, n in rows:
        if not candidates or candidates[-1][0] != run_id:
            candidates.append((run_id, bool(limited), bool(started)))
        if grp is not None:
            groups.append((run_id, grp, lim, period))
            busy[grp] = n
    return admit(candidates, groups, busy, limit)


def _claim_order(run: RunRecord) -> tuple[int, float]:
    """The order runs are claimed in: priority, then due time (none last, as in SQL)."""
    due = run.next_attempt_at
    return (-run.priority, math.inf if due is None else due)


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


__all__ = ["WAKEUP_CHANNEL", "PostgresStore"]


_PUT_CONNECTION: Final = (
    f"INSERT INTO connections ({CONNECTION_COLS}) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (integration_id) DO UPDATE SET credentials = excluded.credentials, "
    "expires_at = excluded.expires_at, updated_at = excluded.updated_at"
)


def _connection_params(c: ConnectionRecord) -> tuple[Any, ...]:
    return (c.integration_id, c.credentials, c.expires_at, c.updated_at)
