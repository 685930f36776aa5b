"""``SqliteStore.wait_for_wakeup``: a worker idling on a SQLite file is woken when another
connection (another process, in production) stores work, without waiting for its poll.

The waits are given an hour: a wake-up that did not happen fails the test through the
``asyncio.wait_for`` guard, not through a measured duration.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from relaykit.errors import StoreError
from relaykit.records import RunRecord, RunStatus
from relaykit.store.sqlite import SqliteStore

NOW = 1_000.0
HOUR = 3600.0
GUARD = 30.0  # seconds before a missing wake-up fails the test


def _run(run_id: str, due: float = NOW) -> RunRecord:
    return RunRecord(
        id=run_id,
        job_id="j",
        job_version="1.0.0",
        status=RunStatus.QUEUED,
        payload="{}",
        created_at=NOW,
        next_attempt_at=due,
    )


async def _wakes(listener: SqliteStore, action: object) -> None:
    waiting = asyncio.create_task(listener.wait_for_wakeup(HOUR))
    await asyncio.sleep(0.05)  # the listener has looked at the file at least once
    await action  # type: ignore[misc]
    await asyncio.wait_for(waiting, GUARD)


def test_new_runs_wake_a_listener_on_the_same_file(tmp_path: Path) -> None:
    async def go() -> list[str]:
        path = str(tmp_path / "db.sqlite")
        listener, other = SqliteStore(path), SqliteStore(path)
        await listener.open()
        await other.open()
        try:
            await listener.wait_for_wakeup(0)  # the first call notes where the file is
            await _wakes(listener, other.create_run(_run("r1")))
            await _wakes(listener, other.create_run(_run("r0", due=NOW - 5)))  # due sooner
            await other.create_run(_run("r-early", due=NOW - 10))  # while nobody waits: kept
            await asyncio.wait_for(listener.wait_for_wakeup(HOUR), GUARD)
            return [r.id for r in await other.list_runs(limit=10)]
        finally:
            await listener.close()
            await other.close()

    assert sorted(asyncio.run(go())) == ["r-early", "r0", "r1"]


def test_writes_that_change_no_due_time_do_not_wake_it(tmp_path: Path) -> None:
    # A key-value write commits to the file but brings no work: the listener sleeps out its
    # timeout (short here), and the next new run still wakes it.
    async def go() -> bool:
        path = str(tmp_path / "db.sqlite")
        listener, other = SqliteStore(path), SqliteStore(path)
        await listener.open()
        await other.open()
        try:
            await listener.wait_for_wakeup(0)
            waiting = asyncio.create_task(listener.wait_for_wakeup(0.3))
            await asyncio.sleep(0.05)
            await other.kv_set("job:j", "k", '"v"', now=NOW)
            await asyncio.sleep(0.1)
            still_waiting = not waiting.done()
            await waiting
            await _wakes(listener, other.create_run(_run("r1")))
            return still_waiting
        finally:
            await listener.close()
            await other.close()

    assert asyncio.run(go())


def test_in_memory_it_sleeps_out_the_timeout(tmp_path: Path) -> None:
    async def go() -> None:
        store = SqliteStore(":memory:")
        await store.open()
        try:
            await asyncio.wait_for(store.wait_for_wakeup(0.01), GUARD)
        finally:
            await store.close()

    asyncio.run(go())


def test_a_store_not_open_is_an_error_and_closing_ends_a_wait(tmp_path: Path) -> None:
    async def go() -> str:
        store = SqliteStore(str(tmp_path / "db.sqlite"))
        try:
            await store.wait_for_wakeup(0)
        except StoreError as exc:
            message = str(exc)
        else:
            message = "no error"
        await store.open()
        waiting = asyncio.create_task(store.wait_for_wakeup(HOUR))
        await asyncio.sleep(0.05)
        await store.close()
        await asyncio.wait_for(waiting, GUARD)  # returns, does not raise
        return message

    assert "not open" in asyncio.run(go())
