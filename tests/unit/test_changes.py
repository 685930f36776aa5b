"""``ChangeFeed``: one watcher shared by its subscribers, on a real SQLite file: a commit wakes
a waiting subscriber, quiet is a timeout, the watcher stops with the last subscriber, and
``close`` ends a pending wait at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

from relaykit import RunStatus
from relaykit.engine.changes import ChangeFeed
from relaykit.records import RunRecord
from relaykit.store import Store, store_from_url


class _Counted:
    """A real store's ``change_marker``, counting the reads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads = 0

    async def change_marker(self) -> str | None:
        self.reads += 1
        return await self.store.change_marker()


def _run(run_id: str) -> RunRecord:
    return RunRecord(
        id=run_id,
        job_id="j",
        job_version="1.0.0",
        status=RunStatus.QUEUED,
        payload="null",
        created_at=1.0,
        next_attempt_at=1.0,
    )


def test_a_commit_wakes_a_subscriber_and_quiet_is_a_timeout(tmp_path: Path) -> None:
    async def go() -> tuple[bool, bool, bool, int, int]:
        store = store_from_url(f"sqlite:///{tmp_path / 'relaykit.db'}")
        await store.open()
        try:
            counted = _Counted(store)
            feed = ChangeFeed(cast("Store", counted), interval=0.02)
            async with feed.subscribe() as sub:
                quiet = await sub.wait(0.1)
                await store.create_run(_run("run_a"))
                woken = await sub.wait(2.0)
                again = await sub.wait(0.1)  # nothing new since
            assert feed.subscribers == 0
            reads = counted.reads
            await asyncio.sleep(0.2)
            return quiet, woken, again, reads, counted.reads
        finally:
            await store.close()

    quiet, woken, again, reads, later = asyncio.run(go())
    assert (quiet, woken, again) == (False, True, False)
    assert later == reads  # the watcher stopped with its last subscriber


def test_close_ends_a_pending_wait_at_once(tmp_path: Path) -> None:
    async def go() -> tuple[bool, float, bool]:
        store = store_from_url(f"sqlite:///{tmp_path / 'relaykit.db'}")
        await store.open()
        try:
            feed = ChangeFeed(store, interval=0.02)
            loop = asyncio.get_running_loop()
            async with feed.subscribe() as sub:
                waiting = asyncio.create_task(sub.wait(30.0))
                await asyncio.sleep(0.05)
                started = loop.time()
                feed.close()
                woken = await waiting
                return woken, loop.time() - started, sub.closed
        finally:
            await store.close()

    woken, took, closed = asyncio.run(go())
    assert (woken, closed) == (False, True)
    assert took < 0.5
