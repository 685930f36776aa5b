"""Sync task functions run off the event loop (``_threads``): a blocking one never holds it,
a sync job lends its own thread, and results and errors come back unchanged."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from relaykit import IO, Client, Context, Retry, RunStatus


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client("threads", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")


NO_RETRY = Retry(limit=1)


def test_a_blocking_sync_task_leaves_the_loop_free(client: Client) -> None:
    # The task function blocks until a coroutine *on the loop* sets the event: if the loop
    # were held while the function runs, the coroutine could never run and the run would hang.
    released = threading.Event()

    def blocks() -> str:
        if not released.wait(timeout=30):
            return "timed out"
        return "released"

    async def release_soon() -> None:
        await asyncio.sleep(0.05)
        released.set()

    @client.define_job(id="blocking", version="1.0.0")
    async def blocking(payload: Any, io: IO, ctx: Context) -> str:
        helper = asyncio.ensure_future(release_soon())
        out = str(await io.run_task("block", blocks))
        await helper
        return out

    result = client.run_sync("blocking", {})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "released"


def test_a_sync_job_runs_its_sync_tasks_in_its_own_thread(client: Client) -> None:
    threads: dict[str, int] = {}

    def where(name: str) -> str:
        threads[name] = threading.get_ident()
        return name.upper()

    @client.define_job(id="sync-job", version="1.0.0")
    def sync_job(payload: Any, io: Any, ctx: Context) -> list[str]:
        threads["run"] = threading.get_ident()
        return [io.run_task(f"t{i}", where, f"task{i}") for i in range(3)]

    result = client.run_sync("sync-job", {})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["TASK0", "TASK1", "TASK2"]
    assert {threads[f"task{i}"] for i in range(3)} == {threads["run"]}
    assert threads["run"] != threading.get_ident()  # not the loop's thread


def test_concurrent_sync_tasks_run_in_parallel_threads(client: Client) -> None:
    # Two branches that each wait for the other: they finish only if they run at once.
    barrier = threading.Barrier(2, timeout=30)

    def meet(name: str) -> str:
        barrier.wait()
        return name

    @client.define_job(id="parallel", version="1.0.0")
    async def parallel(payload: Any, io: IO, ctx: Context) -> list[Any]:
        return list(await asyncio.gather(io.run_task("a", meet, "a"), io.run_task("b", meet, "b")))

    result = client.run_sync("parallel", {})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["a", "b"]


def test_a_sync_task_error_reaches_the_run_with_its_message(client: Client) -> None:
    def fails() -> None:
        raise ValueError("no such user: 42")

    @client.define_job(id="fails", version="1.0.0")
    async def failing(payload: Any, io: IO, ctx: Context) -> None:
        await io.run_task("fail", fails, retry=NO_RETRY)

    result = client.run_sync("fails", {})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "no such user: 42" in str(result.error["message"])
