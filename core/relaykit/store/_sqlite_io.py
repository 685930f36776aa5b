"""How ``SqliteStore`` uses its file without ever blocking the event loop.

A SQLite statement costs microseconds, far less than handing it to a thread, so statements
run on the loop's thread — but only those that cannot wait:

- **Reads** run on the loop. In WAL mode a reader never waits for a writer.
- **Writes** at ``synchronous=NORMAL`` run on the loop on a connection whose busy timeout is
  zero: when another process holds the write lock, SQLite answers ``SQLITE_BUSY`` at once
  (before anything is written) and the same work is handed to the store's own thread, whose
  connection waits up to the configured busy timeout. The loop never sleeps on a lock.
- **Writes** at ``synchronous=FULL`` (the default) always run in that thread: every commit
  waits for an fsync, which is blocking I/O.
- Checkpoints (which fsync) never run on the loop: the loop's connection has automatic
  checkpoints off, and every ``CHECKPOINT_EVERY`` commits a passive checkpoint runs in the
  thread.

Work is a plain function of a connection; a write is wrapped in ``BEGIN IMMEDIATE`` and
``COMMIT`` (rolled back on any exception), so handing it to the thread after a busy answer
runs it again from the start. Every ``sqlite3`` error leaves as a one-line ``StoreError``
naming the file: ``StoreBusy`` (locked past the timeout), ``StoreCorrupt`` (damaged or not a
database), or ``StoreUnavailable`` (disk full, read-only, I/O).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final, TypeVar, cast, final

from .._base.threads import ThreadLanes
from ..errors import StoreBusy, StoreCorrupt, StoreError, StoreUnavailable
from ._tx import Params, Row, Tx, load_queries

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], T]

#: A passive checkpoint runs in the store's thread after this many commits on the loop.
CHECKPOINT_EVERY: Final = 500

# Primary result codes (https://sqlite.org/rescode.html).
_BUSY: Final = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_CORRUPT: Final = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_FULL: Final = 13

_log = logging.getLogger("relaykit.store")


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "the lock is held elsewhere" answers."""
    return isinstance(exc, sqlite3.Error) and (
        _code(exc) in _BUSY or "database is locked" in str(exc)
    )


def fault(exc: sqlite3.Error, path: str, busy_ms: int) -> StoreError:
    """The one-line ``StoreError`` for a ``sqlite3`` error on the file at ``path``."""
    code = _code(exc)
    if is_busy(exc):
        return StoreBusy(
            f"database {path} stayed locked by another process for over {busy_ms / 1000:g}s "
            f"({exc}); relaykit retries — if it persists, stop whatever holds the file open "
            "(a stuck process, a sqlite3 shell)"
        )
    if code in _CORRUPT or "malformed" in str(exc) or "not a database" in str(exc):
        return StoreCorrupt(
            f"database {path} is damaged or is not a SQLite database ({exc}); restore it from "
            "a backup, or point --database / RELAYKIT_DATABASE_URL at another file"
        )
    if code == _FULL:
        return StoreUnavailable(
            f"database {path}: the disk is full ({exc}); nothing was written — free some "
            "space and relaykit carries on"
        )
    return StoreUnavailable(f"database {path}: {exc}")


@final
class SqliteIO:
    """The loop's connection and the store's thread (with its own connection) to one file."""

    def __init__(self, path: str, *, synchronous: str, busy_timeout_ms: int, memory: bool) -> None:
        self._path = path
        self._synchronous = synchronous
        self._busy_ms = busy_timeout_ms
        self._memory = memory
        self._loop_conn: sqlite3.Connection | None = None
        self._thread_conn: sqlite3.Connection | None = None
        self._thread: ThreadLanes | None = None
        self._commits = 0
        self._watch_conn: sqlite3.Connection | None = None
        # an in-memory database has one connection and no other process: nothing waits
        self._writes_in_thread = synchronous in ("FULL", "EXTRA") and not memory

    @property
    def is_open(self) -> bool:
        """Whether ``open`` succeeded and ``close`` was not called since."""
        return self._loop_conn is not None

    async def open(self) -> None:
        """Connect (in the store's thread: opening may wait for a lock or run a recovery)."""
        if self._memory:
            try:
                self._loop_conn = self._connect(busy_ms=0, checkpoints=True)
            except sqlite3.Error as exc:
                raise fault(exc, self._path, self._busy_ms) from exc
            return
        self._thread = ThreadLanes(max_threads=1, name="relaykit-sqlite")
        try:
            await self._thread.run(self._open_both)
        except BaseException:
            await self.close()
            raise

    def _open_both(self) -> None:
        try:
            self._thread_conn = self._connect(busy_ms=self._busy_ms, checkpoints=True)
            self._loop_conn = self._connect(busy_ms=0, checkpoints=False)
        except sqlite3.Error as exc:
            raise fault(exc, self._path, self._busy_ms) from exc

    def _connect(self, *, busy_ms: int, checkpoints: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            # Connecting runs in the store's thread, so it may wait: on a new file another
            # process (or another store here) may be switching it to WAL, which takes an
            # exclusive lock for a moment. Only then does the connection get its own timeout.
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
            self._set_wal(conn)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            if not checkpoints:
                conn.execute("PRAGMA wal_autocheckpoint = 0")
            if busy_ms != self._busy_ms:
                conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        """``PRAGMA journal_mode = WAL``, retried while another connection holds the lock.

        SQLite does not call the busy handler when two connections race to change the
        journal mode of a new file (each holds a shared lock the other's change needs): the
        loser is answered "database is locked" at once. So the change is retried here, in the
        store's thread, until the busy timeout has passed.
        """
        deadline = time.monotonic() + self._busy_ms / 1000
        pause = 0.001
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    @property
    def memory(self) -> bool:
        """Whether the database is in memory (no other process can see it)."""
        return self._memory

    async def data_version(self) -> int | None:
        """The file's ``PRAGMA data_version`` on a connection that never writes: it changes
        whenever another connection (another process, or this store's own) commits.

        The connection is opened in the store's thread on first use; the pragma then runs on
        the loop (it reads the WAL index, takes no lock, and has a zero busy timeout). None
        when SQLite answers busy.
        """
        if self._watch_conn is None:
            conn = await self._in_thread(lambda _: self._connect(busy_ms=0, checkpoints=False))
            if self._loop_conn is None:  # closed meanwhile
                conn.close()
                raise StoreError(f"the store for {self._path} is closed")
            self._watch_conn = conn
        try:
            return int(self._watch_conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            if is_busy(exc):
                return None
            raise fault(exc, self._path, self._busy_ms) from exc

    async def close(self) -> None:
        """Close the connections and stop the thread."""
        conn, self._loop_conn = self._loop_conn, None
        if conn is not None:
            conn.close()
        watch, self._watch_conn = self._watch_conn, None
        if watch is not None:
            watch.close()
        if self._thread is not None:
            thread, self._thread = self._thread, None
            other, self._thread_conn = self._thread_conn, None
            if other is not None:
                await thread.run(other.close)
            thread.shutdown()

    def _conn(self) -> sqlite3.Connection:
        if self._loop_conn is None:
            raise StoreError(f"the store for {self._path} is not open; call `await store.open()`")
        return self._loop_conn

    def trace(self, callback: Callable[[str], None] | None) -> None:
        """Pass every statement either connection runs to ``callback`` (tests, debugging)."""
        for conn in (self._loop_conn, self._thread_conn):
            if conn is not None:
                conn.set_trace_callback(callback)

    # -- running work -------------------------------------------------------------------------

    async def read(self, work: Work[T]) -> T:
        """Run read-only ``work`` (on the loop; in the thread if SQLite says busy)."""
        try:
            return work(self._conn())
        except sqlite3.Error as exc:
            if not is_busy(exc) or self._thread is None:
                raise fault(exc, self._path, self._busy_ms) from exc
        return await self._in_thread(work)

    async def write(self, work: Work[T], *, transaction: bool = True) -> T:
        """Run ``work`` as one write transaction (or, with ``transaction=False``, as the one
        statement it executes): on the loop unless it would wait, else in the thread."""
        if not self._writes_in_thread:
            conn = self._conn()
            try:
                result = _transact(conn, work) if transaction else work(conn)
            except sqlite3.Error as exc:
                if not is_busy(exc) or self._thread is None:
                    raise fault(exc, self._path, self._busy_ms) from exc
            else:
                self._committed()
                return result
        if transaction:
            return await self._in_thread(lambda conn: _transact(conn, work))
        return await self._in_thread(work)

    def _committed(self) -> None:
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and self._thread is not None:
            self._thread.call_soon(self._checkpoint)

    def _checkpoint(self) -> None:
        conn = self._thread_conn
        if conn is None:
            return
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # a checkpoint is housekeeping: the next one catches up
            _log.warning("checkpointing %s failed: %s", self._path, exc)

    async def _in_thread(self, work: Work[T]) -> T:
        if self._thread is None:
            raise StoreError(f"the store for {self._path} is not open; call `await store.open()`")
        # the lane's hand-off, cheaper than run_in_executor; no bounded wait (spin): a commit
        # here waits for an fsync, longer than any spin worth holding the loop for
        result: T = await self._thread.run(self._run_in_thread, work)
        return result

    def _run_in_thread(self, work: Work[T]) -> T:
        conn = self._thread_conn
        if conn is None:
            raise StoreError(f"the store for {self._path} is closed")
        try:
            return work(conn)
        except sqlite3.Error as exc:
            raise fault(exc, self._path, self._busy_ms) from exc


def _transact(conn: sqlite3.Connection, work: Work[T]) -> T:
    """``work`` inside ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


# -- the named-query adapter (``_tx.Tx``/``_tx.Database``) --------------------------------------

#: SqliteStore's named queries (``queries/sqlite.sql``), parsed once at import.
QUERIES: Final = load_queries("sqlite")


@final
class SqliteTx:
    """``_tx.Tx`` over one sqlite3 connection. Its coroutines never suspend: each statement
    runs at once, on whichever thread ``SqliteIO`` runs the work (``drive``)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, name: str, params: Params = ()) -> int:
        """Run the named statement; how many rows it changed."""
        query = QUERIES[name]
        if not query:  # a step SQLite does not need (see queries/sqlite.sql)
            return 0
        return self._conn.execute(query, params).rowcount

    async def execute_many(self, name: str, rows: Iterable[Params]) -> None:
        """Run the named statement once per parameter row."""
        query = QUERIES[name]
        if query:
            self._conn.executemany(query, rows)

    async def fetch_one(self, name: str, params: Params = ()) -> Row | None:
        """The named query's first row, or None."""
        query = QUERIES[name]
        if not query:
            return None
        row: Row | None = self._conn.execute(query, params).fetchone()
        return row

    async def fetch_all(self, name: str, params: Params = ()) -> list[Row]:
        """Every row of the named query."""
        query = QUERIES[name]
        return self._conn.execute(query, params).fetchall() if query else []

    def array(self, values: Iterable[Any]) -> str:
        """``values`` as JSON text, read in SQL with ``json_each``."""
        return json.dumps(list(values))


def drive(work: Coroutine[Any, Any, T]) -> T:
    """Run a unit of work written against ``SqliteTx`` to its end, synchronously.

    Every await in it reaches a ``SqliteTx`` method, which never suspends, so one ``send``
    runs it through: the statements execute on the thread calling ``drive`` — the loop's or
    the store's own, as ``SqliteIO`` decides — exactly as a plain function would.
    """
    try:
        work.send(None)
    except StopIteration as done:
        return cast("T", done.value)
    work.close()
    raise RuntimeError("a SQLite unit of work awaited something other than the store")


@final
class SqliteDatabase:
    """``_tx.Database`` over ``SqliteIO``: the off-loop rules stay ``SqliteIO``'s."""

    __slots__ = ("_io",)

    def __init__(self, io: SqliteIO) -> None:
        self._io = io

    def supports(self, name: str) -> bool:
        """Whether the dialect's block ``name`` is a statement."""
        return bool(QUERIES[name])

    async def read(self, work: Callable[[Tx], Coroutine[Any, Any, T]]) -> T:
        """Run read-only ``work`` (on the loop; in the thread if SQLite says busy)."""
        return await self._io.read(lambda conn: drive(work(SqliteTx(conn))))

    async def write(
        self, work: Callable[[Tx], Coroutine[Any, Any, T]], *, transaction: bool = True
    ) -> T:
        """Run ``work`` as one ``BEGIN IMMEDIATE`` transaction (or as its one statement)."""
        return await self._io.write(
            lambda conn: drive(work(SqliteTx(conn))), transaction=transaction
        )
