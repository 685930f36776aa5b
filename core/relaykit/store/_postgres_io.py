"""How ``PostgresStore`` talks to its database: the named-query adapter, migrations, locks.

The statements are ``queries/postgres.sql`` (named blocks, parsed once at import); the schema
is ``migrations/postgres/NNNN_*.sql``. Every value is bound as a parameter. A task row goes
through the same ``TaskRecord`` columns and decoding as in SQLite (``_rows``), so both stores
hand the engine identical records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Final, TypeVar, final

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from psycopg_pool.pool_async import MaintenanceTask, StopWorker

from ..errors import StoreError
from . import migrations
from ._tx import Params, Row, Tx, load_queries

T = TypeVar("T")
Conn = psycopg.AsyncConnection[tuple[Any, ...]]

#: PostgresStore's named queries (``queries/postgres.sql``), parsed once at import.
QUERIES: Final = load_queries("postgres")
#: The LISTEN/NOTIFY channel; the payload is the job id of the run concerned (empty for an
#: event waiting to be delivered). The queries that make a run runnable notify it.
WAKEUP_CHANNEL: Final = "relaykit_wakeup"
# Held for the duration of a migration transaction, so concurrent workers never race
# (the value is arbitrary; it spells "rlkmig").
MIGRATION_LOCK: Final = 0x726C6B6D6967
# The claim lock (``claim_runs``, limited candidates): "rlkclm".
CLAIM_LOCK: Final = 0x726C6B636C6D
#: What a lost connection or an exhausted pool raises.
CONNECTION_ERRORS: Final = (psycopg.OperationalError, PoolTimeout)


_log = logging.getLogger("relaykit.store.postgres")


class Pool(AsyncConnectionPool[Conn]):
    """psycopg's pool, with maintenance workers that end when their task is cancelled.

    psycopg_pool's workers catch ``CancelledError`` around each maintenance task (3.3.3:
    ``CLIENT_EXCEPTIONS``) and loop back to wait on their queue. When ``asyncio.run`` ends with
    a store still open, it cancels every task and waits for them; a worker that was opening a
    connection (the pool growing under load) swallowed that cancellation and waited forever,
    so the program hung at exit. These workers run each task the same way but stop once their
    own task is being cancelled (``tests/integration/test_pg_pool_teardown.py``).
    """

    @classmethod
    async def worker(cls, q: asyncio.Queue[MaintenanceTask]) -> None:
        """Run the pool's maintenance tasks until told to stop, or cancelled."""
        me = asyncio.current_task()
        while True:
            task = await q.get()
            if isinstance(task, StopWorker):
                return
            try:
                await task.run()
            except (Exception, asyncio.CancelledError) as exc:  # as psycopg's own worker does
                _log.debug("pool task %s failed: %r", task, exc)
            if me is not None and me.cancelling():
                raise asyncio.CancelledError


@final
class PgTx:
    """``_tx.Tx`` over one psycopg connection (autocommit, or inside its transaction)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def execute(self, name: str, params: Params = ()) -> int:
        """Run the named statement; how many rows it changed."""
        query = QUERIES[name]
        if not query:
            return 0
        cur = await self._conn.execute(query, params or None)
        return cur.rowcount

    async def execute_many(self, name: str, rows: Iterable[Params]) -> None:
        """Run the named statement once per parameter row (pipelined by psycopg)."""
        async with self._conn.cursor() as cur:
            await cur.executemany(QUERIES[name], rows)

    async def fetch_one(self, name: str, params: Params = ()) -> Row | None:
        """The named query's first row, or None."""
        cur = await self._conn.execute(QUERIES[name], params or None)
        return await cur.fetchone()

    async def fetch_all(self, name: str, params: Params = ()) -> list[Row]:
        """Every row of the named query."""
        cur = await self._conn.execute(QUERIES[name], params or None)
        return await cur.fetchall()

    def array(self, values: Iterable[Any]) -> list[Any]:
        """``values`` as a list: psycopg binds it as an array."""
        return list(values)


@final
class PgDatabase:
    """``_tx.Database`` over a pool: one pooled connection per unit of work; a lost
    connection or an exhausted pool becomes ``StoreUnavailable`` (``unusable``)."""

    __slots__ = ("_pool", "_unusable")

    def __init__(
        self,
        pool: Callable[[], Awaitable[AsyncConnectionPool[Conn]]],
        unusable: Callable[[BaseException], StoreError],
    ) -> None:
        self._pool = pool
        self._unusable = unusable

    def supports(self, name: str) -> bool:
        """Whether the dialect's block ``name`` is a statement."""
        return bool(QUERIES[name])

    async def read(self, work: Callable[[Tx], Coroutine[Any, Any, T]]) -> T:
        """Run ``work`` on an autocommit connection."""
        try:
            async with (await self._pool()).connection() as conn:
                return await work(PgTx(conn))
        except CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc

    async def write(
        self, work: Callable[[Tx], Coroutine[Any, Any, T]], *, transaction: bool = True
    ) -> T:
        """Run ``work`` in one transaction (or, ``transaction=False``, autocommitted)."""
        try:
            async with (await self._pool()).connection() as conn:
                if not transaction:
                    return await work(PgTx(conn))
                async with conn.transaction():
                    return await work(PgTx(conn))
        except CONNECTION_ERRORS as exc:
            raise self._unusable(exc) from exc


# -- migrations -------------------------------------------------------------------------------


def known_version() -> int:
    """The newest schema version this relaykit knows."""
    return max((v for v, _, _ in migrations.load("postgres")), default=0)


async def schema_version(conn: Conn) -> int:
    """The highest applied migration version (0 for an empty database)."""
    if not await has_migrations_table(conn):
        return 0
    cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def has_migrations_table(conn: Conn) -> bool:
    """Whether ``schema_migrations`` exists (in the current schema)."""
    # A catalogue query, not to_regclass(): that one consults this session's catalogue cache,
    # which still says "no such table" when another worker created it while we waited for
    # the migration lock; the query sees every committed table.
    cur = await conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = 'schema_migrations')"
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def apply_migrations(conn: Conn) -> tuple[int, list[int]]:
    """Apply pending migrations in the caller's transaction, which must hold
    ``MIGRATION_LOCK``; return the version found and the versions applied."""
    if not await has_migrations_table(conn):
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at double precision NOT NULL)"
        )
    current = await schema_version(conn)
    if current > known_version():
        return current, []
    # every version not yet recorded, not only those above the highest: a database made from
    # a development branch may have a later version and miss an earlier one
    cur = await conn.execute("SELECT version FROM schema_migrations")
    done = {row[0] for row in await cur.fetchall()}
    applied = []
    for version, name, sql in migrations.load("postgres"):
        if version in done:
            continue
        await conn.execute(sql.encode())  # bytes: a multi-statement script, no parameters
        await conn.execute(
            "INSERT INTO schema_migrations VALUES (%s, %s, extract(epoch FROM clock_timestamp()))",
            (version, name),
        )
        applied.append(version)
    return current, applied
