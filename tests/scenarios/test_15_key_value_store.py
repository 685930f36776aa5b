"""Scenario 15: the durable key-value store, ``io.store.run / .job / .env``.

Each operation is a task (it has a key, is memoized and is written in the task's transaction),
so a read-modify-write before a wait is applied exactly once although the run is replayed.
``job`` values persist across the runs of one job, ``env`` values across all jobs of one
environment, and ``run`` values live only within their run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from relaykit import IO, Client, Context, Job, RunStatus, TaskStatus
from relaykit.testing import ManualClock


def define_counter(client: Client, kind: str, job_id: str = "counter") -> Job:
    """Increment a counter in each scope (read before a wait, written before it too)."""
    if kind == "async":

        @client.define_job(id=job_id, version="1.0.0")
        async def counter(payload: Any, io: IO, ctx: Context) -> dict[str, int]:
            counts = {}
            for scope in ("run", "job", "env"):
                store = getattr(io.store, scope)
                seen = await store.get(f"read-{scope}", "visits", default=0)
                counts[scope] = await store.set(f"write-{scope}", "visits", seen + 1)
            await io.wait("pause", minutes=1)
            return counts

        return counter

    @client.define_job(id=job_id, version="1.0.0")
    def counter_sync(payload: Any, io: Any, ctx: Context) -> dict[str, int]:
        counts = {}
        for scope in ("run", "job", "env"):
            store = getattr(io.store, scope)
            seen = store.get(f"read-{scope}", "visits", default=0)
            counts[scope] = store.set(f"write-{scope}", "visits", seen + 1)
        io.wait("pause", minutes=1)
        return counts

    return counter_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_job_and_env_values_persist_across_runs_and_run_values_do_not(
    client: Client, kind: str
) -> None:
    job = define_counter(client, kind)

    results = [client.run_sync(job) for _ in range(3)]

    assert [r.status for r in results] == [RunStatus.SUCCEEDED] * 3
    # Each run incremented each counter exactly once, although each run was replayed.
    assert [r.output for r in results] == [
        {"run": 1, "job": 1, "env": 1},
        {"run": 1, "job": 2, "env": 2},
        {"run": 1, "job": 3, "env": 3},
    ]
    tasks = {t.key: t for t in results[2].tasks}
    assert {k: (t.kind, t.name, t.status) for k, t in tasks.items()} == {
        "read-run": ("store", "store.run.get", TaskStatus.COMPLETED),
        "write-run": ("store", "store.run.set", TaskStatus.COMPLETED),
        "read-job": ("store", "store.job.get", TaskStatus.COMPLETED),
        "write-job": ("store", "store.job.set", TaskStatus.COMPLETED),
        "read-env": ("store", "store.env.get", TaskStatus.COMPLETED),
        "write-env": ("store", "store.env.set", TaskStatus.COMPLETED),
        "pause": ("wait", "wait", TaskStatus.COMPLETED),
    }
    assert tasks["read-job"].output == 2
    assert tasks["write-job"].output == 3


def test_job_values_are_per_job_and_env_values_are_shared(client: Client) -> None:
    define_counter(client, "async", "counter")
    define_counter(client, "async", "other-counter")

    first = client.run_sync("counter")
    other = client.run_sync("other-counter")

    assert first.output == {"run": 1, "job": 1, "env": 1}
    assert other.output == {"run": 1, "job": 1, "env": 2}


def test_env_values_are_per_environment(db_url: str, clock: ManualClock) -> None:
    outputs: dict[str, list[Any]] = {}
    for environment in ("staging", "production", "staging"):
        client = Client("scenarios", database_url=db_url, clock=clock, environment=environment)
        define_counter(client, "async")
        try:
            outputs.setdefault(environment, []).append(client.run_sync("counter").output)
        finally:
            asyncio.run(client.close())

    # The job scope is per job (shared by environments), the env scope per environment.
    assert outputs == {
        "staging": [{"run": 1, "job": 1, "env": 1}, {"run": 1, "job": 3, "env": 2}],
        "production": [{"run": 1, "job": 2, "env": 1}],
    }


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_get_set_has_delete(client: Client, kind: str) -> None:
    if kind == "async":

        @client.define_job(id="crud", version="1.0.0")
        async def crud(payload: Any, io: IO, ctx: Context) -> list[Any]:
            kv = io.store.job
            return [
                await kv.has("has-1", "profile"),
                await kv.get("get-1", "profile"),
                await kv.get("get-2", "profile", default={"name": "nobody"}),
                await kv.set("set", "profile", {"name": "Ada", "tags": ["a", "b"]}),
                await kv.has("has-2", "profile"),
                await kv.get("get-3", "profile"),
                await kv.delete("delete-1", "profile"),
                await kv.has("has-3", "profile"),
                await kv.delete("delete-2", "profile"),
                await kv.get("get-4", "profile", default=0),
            ]

        job = crud
    else:

        @client.define_job(id="crud", version="1.0.0")
        def crud_sync(payload: Any, io: Any, ctx: Context) -> list[Any]:
            kv = io.store.job
            return [
                kv.has("has-1", "profile"),
                kv.get("get-1", "profile"),
                kv.get("get-2", "profile", default={"name": "nobody"}),
                kv.set("set", "profile", {"name": "Ada", "tags": ["a", "b"]}),
                kv.has("has-2", "profile"),
                kv.get("get-3", "profile"),
                kv.delete("delete-1", "profile"),
                kv.has("has-3", "profile"),
                kv.delete("delete-2", "profile"),
                kv.get("get-4", "profile", default=0),
            ]

        job = crud_sync

    result = client.run_sync(job)

    assert result.status is RunStatus.SUCCEEDED, result.error
    ada = {"name": "Ada", "tags": ["a", "b"]}
    assert result.output == [
        False,
        None,
        {"name": "nobody"},
        ada,
        True,
        ada,
        True,  # something was deleted
        False,
        False,  # nothing left to delete
        0,
    ]
    assert len(result.tasks) == 10
    assert all(t.kind == "store" and t.status is TaskStatus.COMPLETED for t in result.tasks)


def test_a_read_before_a_wait_is_memoized_even_if_the_value_changes_meanwhile(
    client: Client,
) -> None:
    @client.define_job(id="writer", version="1.0.0")
    async def writer(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.store.env.set("write", "flag", payload)

    def change_it() -> None:
        # Another run changes the value while this one is suspended. (A task function runs in
        # a worker thread without an event loop, so it may drive a whole run itself.)
        assert client.run_sync(writer, "changed").status is RunStatus.SUCCEEDED

    @client.define_job(id="reader", version="1.0.0")
    async def reader(payload: Any, io: IO, ctx: Context) -> list[Any]:
        before = await io.store.env.get("read-before", "flag")
        await io.run_task("change-it", change_it)  # memoized: runs on the first attempt only
        await io.wait("pause", minutes=1)
        after = await io.store.env.get("read-after", "flag")
        return [before, after]

    assert client.run_sync(writer, "original").output == "original"
    result = client.run_sync(reader)

    assert result.status is RunStatus.SUCCEEDED, result.error
    # The first read is memoized: the replay sees what the first attempt saw.
    assert result.output == ["original", "changed"]
