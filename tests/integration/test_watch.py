"""``Operations.watch_run``/``watch_runs`` and the one ``ChangeFeed`` they share, on a real
SQLite file and a real PostgreSQL: changes made by a real worker arrive in order, a run that
leaves a watched page is removed, many subscribers cost one watcher, and closing the feed
ends every stream at once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from tests.http_app import make_client

import relaykit
from relaykit import Context
from relaykit.engine.changes import ChangeFeed
from relaykit.engine.watch import Change

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from tests.pg import Backend

    from relaykit.store import Store


def _label(change: Change) -> str:
    data = change.data or {}
    if change.kind == "task":
        return f"task {data['key']} {data['status']}"
    if change.kind == "log":
        return f"log {data['message']}"
    if change.kind == "metadata":
        return f"metadata {data['tags']} {data['metadata']}"
    if change.kind == "remove":
        return f"remove {data['id']}"
    return f"{change.kind} {data.get('status')}"


async def _take(changes: AsyncGenerator[Change, None], until: str) -> list[str]:
    got: list[str] = []
    async with asyncio.timeout(30):
        async for change in changes:
            got.append(_label(change))
            if got[-1] == until:
                break
    return got


def test_a_run_watched_while_a_worker_runs_it(backend: Backend) -> None:
    async def go() -> tuple[list[str], list[str]]:
        client = make_client(backend.url)
        async with client:
            ops = await client.operations()
            run = await ops.test_run("slow", {"seconds": 0.6})
            changes = await ops.watch_run(run.id)
            got = await _take(changes, "run queued")
            worker = asyncio.create_task(client.worker(exit_when_idle=True).run())
            got += await _take(changes, "end succeeded")
            await worker
            tasks = [t.key for t in (await ops.get_run(run.id)).tasks]
            return got, tasks

    got, tasks = asyncio.run(go())
    assert tasks == ["first", "second"]
    settled = [
        g
        for g in got
        if not (g.startswith("task") and g.endswith("running")) and g != "metadata [] {}"
    ]
    assert settled == [
        "run queued",
        "run running",
        "task first completed",
        "task second completed",
        "run succeeded",
        "end succeeded",
    ], got


def test_a_runs_log_lines_arrive_before_its_end(backend: Backend) -> None:
    async def go() -> list[str]:
        client = make_client(backend.url)
        async with client:
            ops = await client.operations()
            run = await ops.test_run("hello", {"n": 1})
            changes = await ops.watch_run(run.id)
            got = await _take(changes, "run queued")
            await client.worker(exit_when_idle=True).run()
            return got + await _take(changes, "end succeeded")

    got = asyncio.run(go())
    assert got[0] == "run queued" and got[-2:] == ["run succeeded", "end succeeded"]
    assert got.index("log computed") < got.index("run succeeded"), got
    assert got.count("log computed") == 1


def test_tags_and_metadata_a_run_sets_arrive_as_they_change(backend: Backend) -> None:
    async def go() -> list[str]:
        client = make_client(backend.url)

        @client.define_job(id="progress", name="Progress", version="1.0.0")
        async def progress(payload: Any, io: relaykit.IO, ctx: Context) -> str:
            await io.tags.add("batch")
            await io.metadata.set("done", "done", 3)
            return "ok"

        async with client:
            ops = await client.operations()
            run = await ops.test_run("progress", None)
            changes = await ops.watch_run(run.id)
            got = await _take(changes, "run queued")
            await client.worker(exit_when_idle=True).run()
            return got + await _take(changes, "end succeeded")

    got = asyncio.run(go())
    assert got[:2] == ["run queued", "metadata [] {}"], got
    final = "metadata ['batch'] {'done': 3}"
    assert final in got and got.index(final) < got.index("run succeeded"), got


def test_a_run_leaving_a_watched_page_is_removed(backend: Backend) -> None:
    async def go() -> list[str]:
        client = make_client(backend.url)
        async with client:
            ops = await client.operations()
            changes = await ops.watch_runs(status="queued", idle=0.05)
            assert await _take(changes, "idle None") == ["idle None"]  # nothing queued yet
            run = await ops.test_run("hello", None)
            got = await _take(changes, "run queued")
            await client.worker(exit_when_idle=True).run()
            got += await _take(changes, f"remove {run.id}")
            await changes.aclose()
            return [g.replace(run.id, "ID") for g in got if g != "idle None"]

    assert asyncio.run(go()) == ["run queued", "remove ID"]


class _Counted:
    """A real store's ``change_marker``, counting the reads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads = 0

    async def change_marker(self) -> str | None:
        self.reads += 1
        return await self.store.change_marker()


def test_many_subscribers_share_one_watcher_and_close_ends_them(backend: Backend) -> None:
    async def go() -> tuple[int, list[int], float]:
        client = make_client(backend.url)
        async with client:
            counted = _Counted(await client.open())
            feed = ChangeFeed(cast("Store", counted), interval=0.05)
            ops = await client.operations()
            ops._changes = feed  # the feed a server process would share

            async def follow() -> int:
                n = 0
                async for change in await ops.watch_runs(job="hello"):
                    n += change.kind == "run"
                return n

            followers = [asyncio.create_task(follow()) for _ in range(20)]
            await asyncio.sleep(0.1)
            await ops.test_run("hello", None)
            await asyncio.sleep(0.5)
            reads = counted.reads
            loop = asyncio.get_running_loop()
            started = loop.time()
            feed.close()
            seen = await asyncio.gather(*followers)
            return reads, seen, loop.time() - started

    reads, seen, took = asyncio.run(go())
    assert seen == [1] * 20  # every follower saw the new run once
    # ~0.6 s at one read per 0.05 s: one watcher, not twenty
    assert 5 <= reads <= 20, reads
    assert took < 0.5
