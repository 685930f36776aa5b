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
import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from typing import Any, final

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..errors import SchemaTooNew, StoreError, StoreUnavailable
from ..records import (
    EventRecord,
    Routing,
    RunRecord,
)
from ._auth import Access
from ._connections import ConnectionRecord, Connections, connection_from_row, connection_params
from ._events import Events, deliver_event
from ._kv import Kv
from ._postgres_io import (
    CLAIM_LOCK,
    CONNECTION_ERRORS,
    MIGRATION_LOCK,
    WAKEUP_CHANNEL,
    Conn,
    PgDatabase,
    Pool,
    apply_migrations,
    known_version,
    schema_version,
)
from ._postgres_url import connect_problem, describe, one_line, parse_postgres_url
from ._retry import Retries
from ._rows import (
    admit,
    run_from_row,
)
from ._runs import Runs
from ._schedules import Schedules
from ._tags import Tags
from ._tasks import Tasks
from ._tokens import Tokens
from ._tx import Tx

_log = logging.getLogger("relaykit.store")


@final
class PostgresStore(Runs, Tasks, Events, Schedules, Kv, Access, Connections, Tokens, Retries, Tags):
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
        self._url = url or describe(conninfo)
        self._opened = False
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard: AsyncGenerator[None] | None = None
        self._listener: Conn | None = None
        self._listener_lock = asyncio.Lock()
        self._db = PgDatabase(self._get_pool, self._unusable)
        self._close_runs = close_runs

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """Build from a ``postgresql://`` URL; raises ``StoreError`` for a malformed one."""
        conninfo, sizes, redacted = parse_postgres_url(url)
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

    async def _get_pool(self) -> AsyncConnectionPool[Conn]:
        pool = self._pool
        if pool is not None and self._loop is asyncio.get_running_loop():
            return pool
        if not self._opened:
            raise StoreError(f"the store {self._url} is not open; call `await store.open()`")
        if pool is not None:  # its loop is gone without shutting down: nothing can close it
            self._pool = self._listener = self._guard = None
        return await self._start_pool()

    async def _start_pool(self) -> AsyncConnectionPool[Conn]:
        pool: AsyncConnectionPool[Conn] = Pool(
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
        return StoreUnavailable(f"database {self._url} cannot be used: {one_line(exc)}")

    async def _connect(self) -> Conn:
        try:
            return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            problem, transient = connect_problem(exc)
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
            self._refuse_newer(await schema_version(conn))
            if migrate:
                await self._migrate_on(conn)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open database {self._url}: {one_line(exc)}") from exc
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
            async with (await self._get_pool()).connection() as conn:
                return await schema_version(conn)
        except CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def check(self) -> None:
        """Nothing to verify client-side: the server guards its own pages (checksums, WAL);
        this only proves the database answers."""
        await self._db.read(_ping)

    async def change_marker(self) -> str | None:
        """The server's WAL insert position (a standby's replay position): it moves with
        every commit (of any database on the server, hence the occasional spurious change)
        and costs one cheap query."""
        return await self._db.read(_wal_position)

    async def migrate(self) -> list[int]:
        """Apply pending migrations in one transaction under an advisory lock."""
        try:
            async with (await self._get_pool()).connection() as conn:
                return await self._migrate_on(conn)
        except CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def _migrate_on(self, conn: Conn) -> list[int]:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            current, applied = await apply_migrations(conn)
            self._refuse_newer(current)  # another process may have migrated meanwhile
        return applied

    def _refuse_newer(self, version: int) -> None:
        known = known_version()
        if version > known:
            raise SchemaTooNew(
                f"database {self._url} has schema version {version}, newer than this "
                f"relaykit knows ({known}); upgrade relaykit"
            )

    # -- runs: what PostgreSQL does its own way ------------------------------------------------

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

        Unlimited runs are claimed in one statement (``claim_fast_*``) that takes no lock but
        the rows' own: many workers claim side by side. Only when a limited run is among the
        best candidates does the claim count the groups' busy runs, and it does that under one
        transaction-level advisory lock (``CLAIM_LOCK``), so the count and the claim it admits
        commit before another claim counts — two workers can never together exceed a limit.
        One lock for all groups, rather than one per group: a claim does not know its
        candidates' groups before it has selected them, and taking several locks as they are
        found could deadlock; the locked section is two short statements.
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

        async def fast(tx: Tx) -> list[RunRecord] | None:
            rows = await tx.fetch_all(f"claim_fast_{only}", args)
            if rows[0][0]:  # a limited candidate: claim under the lock instead
                return None
            return sorted((run_from_row(r[1:]) for r in rows if r[1] is not None), key=_claim_order)

        async def limited(tx: Tx) -> list[RunRecord]:
            await tx.execute("take_claim_lock", (CLAIM_LOCK,))
            ids = _admitted(await tx.fetch_all(f"claim_limited_{only}", args), limit)
            if not ids:
                return []
            claimed = await tx.fetch_all("claim_admitted", {**args, "ids": ids})
            order = {rid: i for i, rid in enumerate(ids)}
            return sorted((run_from_row(r) for r in claimed), key=lambda r: order[r.id])

        runs = await self._db.write(fast, transaction=False)
        return runs if runs is not None else await self._db.write(limited)

    # -- events: delivery -----------------------------------------------------------------------

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

        async def one(tx: Tx) -> str | None:
            row = await tx.fetch_one("claim_due_event", (now,))
            if row is None:
                return None
            event = EventRecord(*row)
            await deliver_event(tx, close_runs, event, route(event), now)
            return event.id

        delivered: list[str] = []
        while len(delivered) < limit:
            event_id = await self._db.write(one)
            if event_id is None:
                break
            delivered.append(event_id)
        return delivered

    # -- wake-ups -----------------------------------------------------------------------------

    async def wait_for_wakeup(self, timeout: float) -> None:  # noqa: ASYNC109 -- the signature the engine will call
        """Return when another process signals work (a run queued, a run due at a new time,
        a run released), or after ``timeout`` seconds.

        The first call subscribes; signals sent between calls are kept and end the next call
        at once (an early return is harmless: the caller just looks for due runs). When the
        connection breaks, this sleeps out ``timeout`` and reconnects on the next call.
        """
        await self._get_pool()  # raises StoreError when the store is not open
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        try:
            conn = await self._listening()
            async for _ in conn.notifies(timeout=max(0.0, timeout), stop_after=1):
                pass
        except (*CONNECTION_ERRORS, StoreError) as exc:
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

    # -- connections: single-flight refresh ----------------------------------------------------

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

        async def work(tx: Tx) -> ConnectionRecord | None:
            row = await tx.fetch_one("connection_for_update", (integration_id,))
            if row is None:
                return None
            current = connection_from_row(row)
            fresh = await refresh(current)
            if fresh is None:
                return current
            await tx.execute("put_connection", connection_params(fresh))
            return fresh

        return await self._db.write(work)


async def close_runs(tx: Tx, run_ids: list[str], now: float) -> None:
    """After runs ended (their rows locked by the caller's transaction): cancel the child
    runs they were waiting for (and theirs), leave no task of theirs waiting, drop their
    event waits and concurrency-group rows, and wake the runs that invoked them once the
    last child their task waits for has ended (``close_runs``, ``wake_parents``)."""
    rows = await tx.fetch_all("close_runs", {"ids": run_ids, "now": now})
    orphans = [run_id for kind, run_id in rows if kind == "orphan"]
    parents = [run_id for kind, run_id in rows if kind == "parent"]
    if orphans:
        await close_runs(tx, orphans, now)
    if parents:
        await tx.execute("wake_parents", {"ids": run_ids, "parents": parents, "now": now})


async def _ping(tx: Tx) -> None:
    await tx.fetch_one("ping")


async def _wal_position(tx: Tx) -> str | None:
    row = await tx.fetch_one("change_marker")
    return None if row is None else str(row[0])


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


__all__ = ["WAKEUP_CHANNEL", "PostgresStore"]
