"""``client.run_sync`` and ``send_event_sync`` each run on an event loop of their own: the store
opened on it is closed before it ends, on both backends. Before, PostgreSQL's pool was left to
the loop's shutdown, and a pool task cancelled mid-connect retried instead of ending, so
``asyncio.run`` waited forever (seen within ~40 calls of a job with parallel tasks)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from relaykit import IO, Client, Context, RunStatus
from relaykit.testing import ManualClock


@pytest.mark.timeout(90)
def test_many_run_sync_calls_in_a_row_never_hang(db_url: str) -> None:
    client = Client("sync-calls", database_url=db_url, clock=ManualClock(), lease_seconds=5)

    async def fetch(i: int) -> int:
        await asyncio.sleep(0.01)
        return i

    @client.define_job(id="fan-out", version="1.0.0")
    async def fan_out(payload: object, io: IO, ctx: Context) -> list[list[int]]:
        barrier = threading.Barrier(3, timeout=10)

        def blocking(i: int) -> int:
            barrier.wait()  # three threads at once: the executor and the loop both busy
            return i

        values = await asyncio.gather(*(io.run_task(f"fetch-{i}", fetch, i) for i in range(4)))
        blocked = await asyncio.gather(
            *(io.run_task(f"blocking-{i}", blocking, i) for i in range(3))
        )
        return [values, blocked]

    results = [client.run_sync("fan-out") for _ in range(60)]
    client.send_event_sync("nobody.listens", {"n": 1})

    assert {r.status for r in results} == {RunStatus.SUCCEEDED}
    assert results[-1].output == [[0, 1, 2, 3], [0, 1, 2]]
