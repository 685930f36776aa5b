"""Scenario 9: a task key used twice in one scope fails the run with ``DuplicateTaskKey``.

The first use runs; the second is refused before its function is called, and the run ends
``failed`` (a broken rule of the execution model is not retried).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from relaykit import IO, Client, Context, RunStatus, TaskStatus


def assert_duplicate(error: Any, key: str) -> None:
    assert error is not None
    assert error["type"] == "DuplicateTaskKey", error
    assert f"task key {key!r} is used twice" in error["message"]


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_key_used_twice_fails_the_run(client: Client, effects: Counter[str], kind: str) -> None:
    def send(n: int) -> int:
        effects[f"send {n}"] += 1
        return n

    if kind == "async":

        @client.define_job(id="dup", version="1.0.0")
        async def dup(payload: Any, io: IO, ctx: Context) -> None:
            for n in range(3):
                await io.run_task("send", send, n)  # should be f"send-{n}"

        job = dup
    else:

        @client.define_job(id="dup", version="1.0.0")
        def dup_sync(payload: Any, io: Any, ctx: Context) -> None:
            for n in range(3):
                io.run_task("send", send, n)

        job = dup_sync

    result = client.run_sync(job)

    assert result.status is RunStatus.FAILED
    assert_duplicate(result.error, "send")
    assert "at the top of the run" in str(result.error and result.error["message"])
    assert effects == Counter({"send 0": 1})
    assert {t.key: (t.status, t.attempts) for t in result.tasks} == {
        "send": (TaskStatus.COMPLETED, 1)
    }


def test_a_wait_and_a_task_share_the_key_namespace(client: Client, effects: Counter[str]) -> None:
    def step() -> str:
        effects["step"] += 1
        return "ok"

    @client.define_job(id="dup-wait", version="1.0.0")
    async def dup_wait(payload: Any, io: IO, ctx: Context) -> None:
        await io.run_task("step", step)
        await io.wait("step", seconds=5)

    result = client.run_sync(dup_wait)

    assert result.status is RunStatus.FAILED
    assert_duplicate(result.error, "step")
    assert effects == Counter({"step": 1})


def test_a_duplicate_across_a_replay_is_detected(client: Client, effects: Counter[str]) -> None:
    def step() -> str:
        effects["step"] += 1
        return "ok"

    @client.define_job(id="dup-replay", version="1.0.0")
    async def dup_replay(payload: Any, io: IO, ctx: Context) -> None:
        await io.run_task("step", step)
        await io.wait("pause", minutes=1)
        await io.run_task("step", step)  # memoized above on the replay, then reused: refused

    result = client.run_sync(dup_replay)

    assert result.status is RunStatus.FAILED
    assert_duplicate(result.error, "step")
    assert effects == Counter({"step": 1})
    assert {t.key: t.status for t in result.tasks} == {
        "step": TaskStatus.COMPLETED,
        "pause": TaskStatus.COMPLETED,
    }


def test_parallel_branches_with_the_same_key(client: Client, effects: Counter[str]) -> None:
    async def fetch(n: int) -> int:
        effects[f"fetch {n}"] += 1
        await asyncio.sleep(0.01)
        return n

    @client.define_job(id="dup-gather", version="1.0.0")
    async def dup_gather(payload: Any, io: IO, ctx: Context) -> list[int]:
        return list(
            await asyncio.gather(io.run_task("fetch", fetch, 1), io.run_task("fetch", fetch, 2))
        )

    result = client.run_sync(dup_gather)

    assert result.status is RunStatus.FAILED
    assert_duplicate(result.error, "fetch")
    assert effects == Counter({"fetch 1": 1})


def test_a_duplicate_inside_a_parent_task_fails_the_run_with_duplicate_task_key(
    client: Client, effects: Counter[str]
) -> None:
    def leaf(n: int) -> int:
        effects[f"leaf {n}"] += 1
        return n

    @client.define_job(id="dup-nested", version="1.0.0")
    async def dup_nested(payload: Any, io: IO, ctx: Context) -> list[int]:
        async def parent() -> list[int]:
            return [await io.run_task("leaf", leaf, n) for n in range(2)]

        return list(await io.run_task("parent", parent))

    result = client.run_sync(dup_nested)

    assert result.status is RunStatus.FAILED
    assert effects == Counter({"leaf 0": 1})
    assert_duplicate(result.error, "leaf")
    assert "inside task 'parent'" in str(result.error and result.error["message"])
