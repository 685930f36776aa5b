"""The worker on a real SQLite file: concurrency, waits without slots, lease takeover, stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from relaykit import Client, RunStatus, Worker


def _client(tmp_path: Path) -> Client:
    return Client(
        "w",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}?synchronous=normal",
        lease_seconds=1.0,
        poll_interval=0.05,
    )


def test_runs_execute_concurrently_up_to_the_limit(tmp_path: Path) -> None:
    client = _client(tmp_path)
    live = {"now": 0, "max": 0}

    @client.define_job(id="slow", version="1.0.0")
    async def slow(payload: Any, io: Any, ctx: Any) -> int:
        async def work() -> int:
            live["now"] += 1
            live["max"] = max(live["max"], live["now"])
            await asyncio.sleep(0.05)
            live["now"] -= 1
            return int(payload["n"])

        return int(await io.run_task("work", work))

    async def go() -> list[Any]:
        ids = [await client.enqueue("slow", {"n": i}) for i in range(12)]
        await Worker(client, concurrency=4, exit_when_idle=True).run()
        results = [await client.get_run(i) for i in ids]
        await client.close()
        return results

    results = asyncio.run(go())
    assert [r.status for r in results] == [RunStatus.SUCCEEDED] * 12
    assert sorted(r.output for r in results) == list(range(12))
    assert live["max"] == 4


def test_a_waiting_run_holds_no_slot(tmp_path: Path) -> None:
    client = _client(tmp_path)

    @client.define_job(id="sleeper", version="1.0.0")
    async def sleeper(payload: Any, io: Any, ctx: Any) -> str:
        await io.wait("nap", seconds=0.4)
        return "rested"

    @client.define_job(id="quick", version="1.0.0")
    async def quick(payload: Any, io: Any, ctx: Any) -> str:
        return str(await io.run_task("t", lambda: "done"))

    async def go() -> tuple[Any, Any, float]:
        a = await client.enqueue("sleeper")
        b = await client.enqueue("quick")
        started = time.monotonic()
        # one slot: the quick run must not queue behind the sleeping one
        await Worker(client, concurrency=1, exit_when_idle=True).run()
        idle_after = time.monotonic() - started
        mid = (await client.get_run(a)).status, (await client.get_run(b)).status
        await asyncio.sleep(0.45)
        await Worker(client, concurrency=1, exit_when_idle=True).run()
        final = (await client.get_run(a)).output
        await client.close()
        return mid, final, idle_after

    mid, final, idle_after = asyncio.run(go())
    assert mid == (RunStatus.WAITING, RunStatus.SUCCEEDED)
    assert idle_after < 0.4  # the worker did not sit through the wait
    assert final == "rested"


def test_a_run_leased_by_a_dead_worker_is_taken_over_after_expiry(tmp_path: Path) -> None:
    client = _client(tmp_path)

    @client.define_job(id="j", version="1.0.0")
    async def job(payload: Any, io: Any, ctx: Any) -> int:
        return int(ctx.run.attempt)

    async def go() -> tuple[Any, float]:
        run_id = await client.enqueue("j")
        store = await client.open()
        now = time.time()
        # a worker that claimed the run and died: its lease runs out in 0.3 s
        await store.claim_runs(owner="dead", now=now, lease_until=now + 0.3, limit=1, job_ids=["j"])
        started = time.monotonic()
        await Worker(client, exit_when_idle=True).run()
        took = time.monotonic() - started
        result = await client.get_run(run_id)
        await client.close()
        return result, took

    result, took = asyncio.run(go())
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == 2  # the second attempt: the dead worker's was the first
    assert took >= 0.25  # it waited for the lease to expire


def test_stop_lets_running_attempts_finish(tmp_path: Path) -> None:
    client = _client(tmp_path)

    @client.define_job(id="j", version="1.0.0")
    async def job(payload: Any, io: Any, ctx: Any) -> str:
        async def work() -> str:
            await asyncio.sleep(0.2)
            return "finished"

        return str(await io.run_task("work", work))

    async def go() -> Any:
        run_id = await client.enqueue("j")
        worker = Worker(client, grace_seconds=5)
        runner = asyncio.create_task(worker.run())
        while (await client.get_run(run_id)).status is not RunStatus.RUNNING:
            await asyncio.sleep(0.01)
        worker.stop()
        await runner
        result = await client.get_run(run_id)
        await client.close()
        return result

    result = asyncio.run(go())
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == "finished"


def test_stop_after_grace_hands_the_run_back(tmp_path: Path) -> None:
    client = _client(tmp_path)
    calls = {"n": 0}

    @client.define_job(id="j", version="1.0.0")
    async def job(payload: Any, io: Any, ctx: Any) -> str:
        async def work() -> str:
            calls["n"] += 1
            if calls["n"] == 1:
                await asyncio.sleep(30)
            return "second time lucky"

        return str(await io.run_task("work", work))

    async def go() -> tuple[Any, Any]:
        run_id = await client.enqueue("j")
        worker = Worker(client, grace_seconds=0.1)
        runner = asyncio.create_task(worker.run())
        while calls["n"] == 0:
            await asyncio.sleep(0.01)
        worker.stop()
        await runner
        handed_back = await client.get_run(run_id)
        await Worker(client, exit_when_idle=True).run()  # picks it up at once
        final = await client.get_run(run_id)
        await client.close()
        return handed_back, final

    handed_back, final = asyncio.run(go())
    assert handed_back.status is RunStatus.WAITING
    assert final.status is RunStatus.SUCCEEDED
    assert final.output == "second time lucky"
    assert calls["n"] == 2


def test_an_idle_postgres_worker_is_woken_by_notify(postgres_url: str) -> None:
    """A run enqueued by another process's store wakes an idle worker at once, not at its
    next poll (the poll interval here is 60 s)."""
    worker_client = Client("w", database_url=postgres_url, poll_interval=60, lease_seconds=5)
    other = Client("w", database_url=postgres_url)

    for c in (worker_client, other):

        @c.define_job(id="ping", version="1.0.0")
        async def ping(payload: Any, io: Any, ctx: Any) -> str:
            return "pong"

    async def go() -> tuple[Any, float]:
        worker = Worker(worker_client)
        runner = asyncio.create_task(worker.run())
        await asyncio.sleep(0.5)  # the worker is idle, asleep until its next poll
        started = time.monotonic()
        run_id = await other.enqueue("ping")
        while (await other.get_run(run_id)).status is not RunStatus.SUCCEEDED:
            if time.monotonic() - started > 20:
                break
            await asyncio.sleep(0.05)
        took = time.monotonic() - started
        worker.stop()
        await runner
        result = await other.get_run(run_id)
        await worker_client.close()
        await other.close()
        return result, took

    result, took = asyncio.run(go())
    assert result.status is RunStatus.SUCCEEDED
    assert took < 20  # far below the 60 s poll: the NOTIFY woke it
