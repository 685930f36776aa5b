"""Store faults on a real SQLite file: a write lock held by another process (within and past
the busy timeout), a full database, a damaged file. None may block the event loop, fail a
run, take a worker down, or surface as anything but a one-line ``StoreError``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import relaykit
from relaykit import Client, Context, RunStatus
from relaykit.errors import StoreBusy, StoreCorrupt, StoreError, StoreUnavailable
from relaykit.records import RunRecord
from relaykit.store.sqlite import SqliteStore

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@contextmanager
def locked(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``path``'s write lock for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.communicate(timeout=60)


def _run(run_id: str, now: float = 1000.0) -> RunRecord:
    return RunRecord(
        id=run_id,
        job_id="j",
        job_version="1.0.0",
        status=RunStatus.QUEUED,
        payload="{}",
        created_at=now,
        next_attempt_at=now,
    )


async def _ticking(coro: Any) -> tuple[Any, list[float]]:
    """Await ``coro`` while a ticker records the loop's time every 10 ms."""
    loop = asyncio.get_running_loop()
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(loop.time())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        result = await coro
    finally:
        ticker.cancel()
    return result, ticks


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_waiting_for_another_process_s_lock_never_blocks_the_loop(
    tmp_path: Path, sync: str
) -> None:
    path = tmp_path / "rk.db"

    async def go() -> tuple[RunRecord | None, list[float], float, float]:
        store = SqliteStore.from_url(f"sqlite:///{path}?synchronous={sync}&busy_timeout=10000")
        await store.open()
        try:
            with locked(path, 1.0):
                started = time.monotonic()
                _, ticks = await _ticking(store.create_run(_run("r1")))
                ended = time.monotonic()
            return await store.get_run("r1"), ticks, started, ended
        finally:
            await store.close()

    stored, ticks, started, ended = asyncio.run(go())
    assert stored is not None and stored.id == "r1"  # written once the lock was released
    # the loop went on ticking all the while the write waited for the lock
    waited = [t for t in ticks if started < t < ended]
    assert len(waited) >= 10, (len(waited), ended - started)


def test_a_lock_held_past_the_busy_timeout_is_one_store_busy_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rk.db"

    async def go() -> tuple[str, list[RunRecord]]:
        store = SqliteStore.from_url(f"sqlite:///{path}?synchronous=normal&busy_timeout=200")
        await store.open()
        try:
            with locked(path, 1.5):
                with pytest.raises(StoreBusy) as caught:
                    await store.create_run(_run("r1"))
            left = await store.list_runs()
            await store.create_run(_run("r2"))  # the lock is gone: works again
            return str(caught.value), left + await store.list_runs()
        finally:
            await store.close()

    message, runs = asyncio.run(go())
    assert "\n" not in message and str(path) in message and "locked" in message
    assert [r.id for r in runs] == ["r2"]


def test_a_full_database_is_a_store_error_and_keeps_what_was_stored(tmp_path: Path) -> None:
    path = tmp_path / "rk.db"

    async def go() -> tuple[StoreUnavailable, list[str]]:
        store = SqliteStore.from_url(f"sqlite:///{path}?synchronous=normal")
        await store.open()
        try:
            await store.create_run(_run("kept"))
            pages = await store._io.read(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
            # SQLite's own cap on the file's size (set on the connection that writes at
            # synchronous=normal): the same SQLITE_FULL answer as a full disk
            await store._io.write(
                lambda db: db.execute(f"PRAGMA max_page_count = {pages}"), transaction=False
            )
            big = _run("big").evolve(payload='"' + "x" * 200_000 + '"')
            with pytest.raises(StoreUnavailable) as caught:
                await store.create_run(big)
            return caught.value, [r.id for r in await store.list_runs()]
        finally:
            await store.close()

    error, ids = asyncio.run(go())
    assert "full" in str(error) and str(path) in str(error)
    assert ids == ["kept"]


def test_a_damaged_file_is_one_line_naming_it_and_never_up_to_date(tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-db.sqlite"
    garbage.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    damaged = tmp_path / "damaged.sqlite"

    async def go() -> tuple[StoreError, StoreError]:
        with pytest.raises(StoreCorrupt) as not_db:
            await SqliteStore.from_url(f"sqlite:///{garbage}").open()
        store = SqliteStore.from_url(f"sqlite:///{damaged}")
        await store.open()
        for i in range(300):
            await store.create_run(_run(f"r{i:03}").evolve(payload='"' + "y" * 500 + '"'))
        await store.close()
        with damaged.open("r+b") as f:  # scribble over a table page, not the header
            f.seek(4096 * 5)
            f.write(b"\xff" * 64)
        store = SqliteStore.from_url(f"sqlite:///{damaged}")
        await store.open(migrate=False)
        try:
            with pytest.raises(StoreCorrupt) as bad_page:
                await store.check()
        finally:
            await store.close()
        return not_db.value, bad_page.value

    not_db, bad_page = asyncio.run(go())
    assert str(garbage) in str(not_db) and "\n" not in str(not_db)
    assert str(damaged) in str(bad_page) and "\n" not in str(bad_page)


def test_a_store_fault_during_a_run_fails_no_run_and_keeps_the_worker_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The store stays locked past its busy timeout right when a task's result is written:
    the attempt gives up (nothing written), the worker logs one line per failure and keeps
    going, and once the lock is gone the run is resumed and succeeds."""
    path = tmp_path / "rk.db"
    url = f"sqlite:///{path}?synchronous=normal&busy_timeout=200"
    client = Client("faults", database_url=url, lease_seconds=1.0, poll_interval=0.1)
    effects: Counter[str] = Counter()
    lockers: list[subprocess.Popen[str]] = []

    @client.define_job(id="pay", version="1.0.0")
    async def pay(payload: Any, io: Any, ctx: Context) -> str:
        def charge() -> str:
            effects["charge"] += 1
            if effects["charge"] == 1:  # the database is taken away as the task ends
                proc = subprocess.Popen(
                    [sys.executable, "-c", LOCKER, str(path), "1.5"],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
                lockers.append(proc)
            return "charged"

        def receipt() -> str:
            effects["receipt"] += 1
            return "sent"

        await io.run_task("charge", charge)
        return str(await io.run_task("receipt", receipt))

    async def go() -> RunStatus:
        run_id = await client.enqueue("pay")
        await client.worker(exit_when_idle=True).run()
        result = await client.get_run(run_id)
        await client.close()
        return result.status

    with caplog.at_level(logging.WARNING, logger="relaykit"):
        status = asyncio.run(go())
    for proc in lockers:
        proc.communicate(timeout=30)
    assert status is RunStatus.SUCCEEDED
    # the charge whose record could not be written ran again (the one in-flight task a
    # fault may repeat); everything after it ran once
    assert effects == Counter({"charge": 2, "receipt": 1})
    faults = [r for r in caplog.records if "store failed" in r.getMessage()]
    assert faults and all("\n" not in r.getMessage() for r in faults)
    assert all(r.exc_info is None for r in faults)  # one line each, no traceback


class LateServer:
    """A TCP port that refuses connections until ``start()``, then forwards each one to the
    test PostgreSQL server: a database that comes up after the worker started."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        """Stop listening and close every forwarded connection."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def _late(postgres_url: str) -> tuple[LateServer, str]:
    parts = urlsplit(postgres_url)
    late = LateServer((parts.hostname or "127.0.0.1", parts.port or 5432))
    user = f"{parts.username}@" if parts.username else ""
    return late, parts._replace(netloc=f"{user}127.0.0.1:{late.port}").geturl()


def test_a_worker_started_before_its_database_waits_for_it(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    late, url = _late(postgres_url)
    client = Client("late", database_url=url, poll_interval=0.2)

    async def go() -> tuple[bool, list[str]]:
        worker = relaykit.Worker(client)
        opening = asyncio.create_task(worker.open_store())
        await asyncio.sleep(0.5)  # nothing listens yet: the worker keeps trying
        assert not opening.done()
        await late.start()
        opened = await asyncio.wait_for(opening, 30)
        await client.close()
        await late.close()
        return opened, [r.getMessage() for r in caplog.records]

    with caplog.at_level(logging.WARNING, logger="relaykit.engine.worker"):
        opened, messages = asyncio.run(go())

    assert opened
    waits = [m for m in messages if "the store cannot be reached" in m]
    assert waits and all("retrying in" in m and "\n" not in m for m in waits)


def test_a_worker_stopped_while_waiting_for_its_database_returns_without_opening(
    postgres_url: str,
) -> None:
    _, url = _late(postgres_url)
    client = Client("late", database_url=url, poll_interval=0.2)

    async def go() -> bool:
        worker = relaykit.Worker(client)
        opening = asyncio.create_task(worker.open_store())
        await asyncio.sleep(0.3)
        worker.stop()
        return await asyncio.wait_for(opening, 10)

    assert asyncio.run(go()) is False


@pytest.mark.parametrize(
    ("exit_when_idle", "database", "error"),
    [
        (True, None, StoreUnavailable),  # a batch worker fails fast
        (False, "relaykit_no_such_db", StoreError),  # a wrong URL is never waited for
    ],
)
def test_a_database_that_cannot_be_used_is_not_waited_for(
    postgres_url: str, exit_when_idle: bool, database: str | None, error: type[StoreError]
) -> None:
    _, url = _late(postgres_url)
    if database is not None:
        url = urlsplit(postgres_url)._replace(path=f"/{database}").geturl()
    client = Client("late", database_url=url, poll_interval=0.2)

    async def go() -> None:
        await asyncio.wait_for(
            relaykit.Worker(client, exit_when_idle=exit_when_idle).open_store(), 10
        )

    with pytest.raises(error) as raised:
        asyncio.run(go())
    assert "\n" not in str(raised.value)
    if database is not None:
        assert not isinstance(raised.value, StoreUnavailable)
