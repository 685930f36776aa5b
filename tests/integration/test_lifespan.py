"""``client.lifespan`` on a real SQLite file and a real PostgreSQL database, entered as an
ASGI server enters an app's lifespan (the served case, with uvicorn and SIGTERM, is
tests/acceptance/test_frameworks.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from tests.pg import Backend

from relaykit import Client, RunStatus
from relaykit.errors import StoreError


def _client(url: str, **options: Any) -> tuple[Client, list[str]]:
    client = Client(id="lifespan", database_url=url, **options)
    ran: list[str] = []

    @client.define_job(id="note", version="1.0.0")
    async def note(payload: Any, io: Any, ctx: Any) -> str:
        def write() -> str:
            ran.append(payload["n"])
            return str(payload["n"])

        return str(await io.run_task("write", write))

    return client, ran


async def _until(client: Client, run_id: str, status: RunStatus) -> float:
    started = time.monotonic()
    while (await client.get_run(run_id)).status is not status:
        assert time.monotonic() - started < 20, await client.get_run(run_id)
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def test_a_run_enqueued_inside_the_lifespan_wakes_its_worker_at_once(backend: Backend) -> None:
    # a poll interval far longer than the test: only the in-process wake-up can be quick
    client, ran = _client(backend.url, poll_interval=60.0)

    async def go() -> list[float]:
        async with client.lifespan(concurrency=2):
            waits = []
            for n in ("a", "b", "c"):
                run_id = await client.enqueue("note", {"n": n})
                waits.append(await _until(client, run_id, RunStatus.SUCCEEDED))
            return waits

    waits = asyncio.run(go())
    assert ran == ["a", "b", "c"]
    assert max(waits) < 5  # far below one poll interval (60 s): the enqueue woke the worker


def test_worker_false_opens_the_store_and_executes_nothing(backend: Backend) -> None:
    client, ran = _client(backend.url, poll_interval=0.05)

    async def go() -> RunStatus:
        async with client.lifespan(None, worker=False):
            run_id = await client.enqueue("note", {"n": "x"})
            await asyncio.sleep(0.5)  # ten poll intervals
            return (await client.get_run(run_id)).status

    assert asyncio.run(go()) is RunStatus.QUEUED
    assert ran == []


def test_a_store_that_cannot_open_fails_the_start(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_text("this is no SQLite file", encoding="utf-8")
    client = Client(id="lifespan", database_url=f"sqlite:///{tmp_path / 'not-a-db'}")

    async def go() -> None:
        async with client.lifespan():
            raise AssertionError("the app started on a store that cannot open")

    with pytest.raises(StoreError):
        asyncio.run(go())


def test_a_store_the_app_opened_itself_stays_open(tmp_path: Path) -> None:
    client, _ = _client(f"sqlite:///{tmp_path / 'rk.db'}")

    async def go() -> str:
        await client.open()
        async with client.lifespan():
            pass
        run_id = await client.enqueue("note", {"n": "later"})  # the store is still usable
        await client.close()
        return run_id

    assert asyncio.run(go()).startswith("run_")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "lifespan concurrency must be at least 1, got 0"),
        ({"grace_seconds": -1.0}, "lifespan grace_seconds must be >= 0, got -1.0"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    client, _ = _client(f"sqlite:///{tmp_path / 'rk.db'}")

    async def go() -> None:
        async with client.lifespan(**options):
            pass

    with pytest.raises(ValueError, match=message):
        asyncio.run(go())
