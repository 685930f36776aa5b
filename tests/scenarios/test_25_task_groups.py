"""Scenario 25: suspension through ``asyncio.TaskGroup``, ``except*``, ``gather`` and
``asyncio.timeout``.

A durable wait inside a ``TaskGroup`` reaches the engine wrapped in a ``BaseExceptionGroup``;
the run must wait and resume, never stay ``running`` or fail. The branch that suspends lets the
other branches finish the task they are running (a ``TaskGroup`` would cancel them half-way),
so no task runs twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from relaykit import IO, Client, Context, Retry, RunStatus, TaskStatus
from relaykit.testing import ManualClock


def test_a_wait_inside_a_task_group_suspends_and_resumes(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    async def slow(name: str) -> str:
        effects[f"{name} started"] += 1
        await asyncio.sleep(0.2)  # still running when the other branch suspends
        effects[f"{name} done"] += 1
        return name

    @client.define_job(id="group", version="1.0.0")
    async def group(payload: Any, io: IO, ctx: Context) -> list[str]:
        async with asyncio.TaskGroup() as tg:
            a = tg.create_task(io.run_task("a", slow, "a"))
            b = tg.create_task(io.run_task("b", slow, "b"))
            tg.create_task(io.wait("pause", seconds=30))
        return [a.result(), b.result()]

    result = client.run_sync(group)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["a", "b"]
    # the wait's suspension did not cancel the slow branches: each ran exactly once
    assert effects == Counter({"a started": 1, "a done": 1, "b started": 1, "b done": 1})
    assert clock.slept == pytest.approx(30.0)
    assert {t.key: t.status for t in result.tasks} == {
        "a": TaskStatus.COMPLETED,
        "b": TaskStatus.COMPLETED,
        "pause": TaskStatus.COMPLETED,
    }


def test_a_retry_delay_inside_a_task_group_suspends_the_run(
    client: Client, effects: Counter[str]
) -> None:
    def flaky() -> str:
        effects["flaky"] += 1
        if effects["flaky"] < 3:
            raise ConnectionError("try again")
        return "ok"

    @client.define_job(id="group-retry", version="1.0.0")
    async def group_retry(payload: Any, io: IO, ctx: Context) -> str:
        async with asyncio.TaskGroup() as tg:
            t = tg.create_task(io.run_task("flaky", flaky, retry=Retry(limit=5)))
            tg.create_task(io.run_task("steady", lambda: effects.update(["steady"])))
        return str(t.result())

    result = client.run_sync(group_retry)

    assert (result.status, result.output) == (RunStatus.SUCCEEDED, "ok")
    assert effects == Counter({"flaky": 3, "steady": 1})


def test_except_star_around_a_task_group_keeps_the_suspension(
    client: Client, effects: Counter[str]
) -> None:
    @client.define_job(id="star", version="1.0.0")
    async def star(payload: Any, io: IO, ctx: Context) -> str:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(io.wait("pause", seconds=10))
                tg.create_task(io.run_task("count", lambda: effects.update(["count"])))
        except* ValueError:
            effects["value error"] += 1
        return "after"

    result = client.run_sync(star)

    assert (result.status, result.output) == (RunStatus.SUCCEEDED, "after")
    assert effects == Counter({"count": 1})


def test_an_error_in_a_task_group_fails_the_run_with_that_error(
    client: Client, effects: Counter[str]
) -> None:
    def broken() -> None:
        raise KeyError("missing")

    @client.define_job(id="boom", version="1.0.0")
    async def boom(payload: Any, io: IO, ctx: Context) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(io.run_task("broken", broken, retry=Retry(limit=1)))
            tg.create_task(io.wait("pause", seconds=10))

    result = client.run_sync(boom)

    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["type"] == "TaskFailed"
    assert result.error["task"] == "broken"


def test_a_task_group_inside_a_task_pauses_that_task(client: Client, effects: Counter[str]) -> None:
    @client.define_job(id="nested-group", version="1.0.0")
    async def nested_group(payload: Any, io: IO, ctx: Context) -> int:
        async def fan_out() -> int:
            effects["fan-out body"] += 1
            async with asyncio.TaskGroup() as tg:
                tg.create_task(io.run_task("x", lambda: effects.update(["x"])))
                tg.create_task(io.wait("cool-off", seconds=5))
            return 2

        return int(await io.run_task("fan-out", fan_out))

    result = client.run_sync(nested_group)

    assert (result.status, result.output) == (RunStatus.SUCCEEDED, 2)
    assert effects == Counter({"fan-out body": 2, "x": 1})
    tasks = {t.key: (t.status, t.attempts) for t in result.tasks}
    assert tasks["fan-out"] == (TaskStatus.COMPLETED, 1)  # paused, not failed


def test_asyncio_timeout_and_gather_around_a_wait(client: Client, effects: Counter[str]) -> None:
    @client.define_job(id="timeouts", version="1.0.0")
    async def timeouts(payload: Any, io: IO, ctx: Context) -> str:
        async with asyncio.timeout(30):  # real seconds: the durable wait does not count
            await asyncio.gather(
                io.wait("pause", seconds=3600),
                io.run_task("side", lambda: effects.update(["side"])),
            )
        return "done"

    result = client.run_sync(timeouts)

    assert (result.status, result.output) == (RunStatus.SUCCEEDED, "done")
    assert effects == Counter({"side": 1})


class _SlowCommits:
    """The real store, with the commit of the tasks named in ``slow`` held up a little: the
    window in which another branch suspends while this one's result is being written."""

    def __init__(self, store: Any, slow: set[str]) -> None:
        self._store = store
        self._slow = slow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def record_task(self, **kwargs: Any) -> None:
        if kwargs["task"].key in self._slow:
            await asyncio.sleep(0.2)
        await self._store.record_task(**kwargs)


@pytest.mark.parametrize("group", ["gather", "task-group"])
def test_a_suspension_waits_for_a_branch_whose_result_is_being_committed(
    db_url: str, clock: ManualClock, effects: Counter[str], group: str
) -> None:
    """Branch ``a`` suspends while ``b``'s finished task is still being written: the attempt
    must let that write land before it ends, or the replay runs ``b-before`` again."""
    from relaykit.store import store_from_url

    client = Client(
        "slow-commits",
        store=_SlowCommits(store_from_url(db_url), {"b-before"}),
        clock=clock,
        lease_seconds=5,
    )

    def step(name: str) -> str:
        effects[name] += 1
        return name

    @client.define_job(id="two-waits", version="1.0.0")
    async def two_waits(payload: Any, io: IO, ctx: Context) -> list[str]:
        async def branch(name: str, minutes: int) -> str:
            await io.run_task(f"{name}-before", step, f"{name}-before")
            await io.wait(f"{name}-wait", minutes=minutes)
            return str(await io.run_task(f"{name}-after", step, f"{name}-after"))

        if group == "gather":
            return list(await asyncio.gather(branch("a", 10), branch("b", 20)))
        async with asyncio.TaskGroup() as tg:
            a, b = tg.create_task(branch("a", 10)), tg.create_task(branch("b", 20))
        return [a.result(), b.result()]

    try:
        result = client.run_sync(two_waits)
    finally:
        asyncio.run(client.close())

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert effects == Counter({"a-before": 1, "b-before": 1, "a-after": 1, "b-after": 1})
