"""Scenario 7: parallel tasks with ``asyncio.gather``.

Every branch's task is recorded and runs once. When one branch waits while another is still
running a task, that task finishes and is committed before the attempt ends, so the replay
after the wait hands back its output instead of running it again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest

from relaykit import IO, Client, Context, RunStatus, TaskStatus
from relaykit.testing import ManualClock

WAIT = 300.0  # five minutes; the manual clock makes them elapse at once


def test_gathered_tasks_all_run_once_and_are_recorded(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    live = {"now": 0, "max": 0}

    async def fetch(i: int) -> int:
        effects[f"fetch-{i}"] += 1
        live["now"] += 1
        live["max"] = max(live["max"], live["now"])
        await asyncio.sleep(0.02)  # real time: the branches overlap
        live["now"] -= 1
        return i * 10

    all_three = threading.Barrier(3, timeout=10)

    def blocking(i: int) -> int:
        effects[f"blocking-{i}"] += 1
        all_three.wait()  # passes only if the three sync tasks run at the same time
        return i

    @client.define_job(id="fan-out", version="1.0.0")
    async def fan_out(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        values = await asyncio.gather(*(io.run_task(f"fetch-{i}", fetch, i) for i in range(4)))
        blocked = await asyncio.gather(
            *(io.run_task(f"blocking-{i}", blocking, i) for i in range(3))
        )
        return {"values": list(values), "blocking": list(blocked)}

    result = client.run_sync(fan_out)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == {"values": [0, 10, 20, 30], "blocking": [0, 1, 2]}
    assert live["max"] == 4  # the async tasks really ran concurrently
    assert effects == Counter(
        [f"fetch-{i}" for i in range(4)] + [f"blocking-{i}" for i in range(3)]
    )
    assert {t.key: (t.status, t.attempts) for t in result.tasks} == {
        **{f"fetch-{i}": (TaskStatus.COMPLETED, 1) for i in range(4)},
        **{f"blocking-{i}": (TaskStatus.COMPLETED, 1) for i in range(3)},
    }
    assert clock.slept == 0


def test_a_branch_waiting_while_another_runs_a_task_re_runs_nothing(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    attempts: list[int] = []

    async def slow_upload() -> str:
        effects["upload"] += 1
        await asyncio.sleep(0.05)  # still running when the other branch suspends
        return "uploaded"

    def after_wait() -> str:
        effects["after-wait"] += 1
        return "reminded"

    @client.define_job(id="race", version="1.0.0")
    async def race(payload: Any, io: IO, ctx: Context) -> list[str]:
        attempts.append(ctx.run.attempt)

        async def upload_branch() -> str:
            return str(await io.run_task("upload", slow_upload))

        async def wait_branch() -> str:
            await asyncio.sleep(0.01)  # let the upload start first
            await io.wait("reminder-delay", minutes=5)
            return str(await io.run_task("remind", after_wait))

        return list(await asyncio.gather(upload_branch(), wait_branch()))

    result = client.run_sync(race)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["uploaded", "reminded"]
    assert attempts == [1, 2]
    assert effects == Counter({"upload": 1, "after-wait": 1})
    assert clock.slept == pytest.approx(WAIT)
    tasks = {t.key: t for t in result.tasks}
    assert {k: t.status for k, t in tasks.items()} == {
        "upload": TaskStatus.COMPLETED,
        "reminder-delay": TaskStatus.COMPLETED,
        "remind": TaskStatus.COMPLETED,
    }
    assert tasks["upload"].attempts == 1
    # The upload was committed during the first attempt, i.e. before the wait elapsed.
    upload_end, wait_end = tasks["upload"].ended_at, tasks["reminder-delay"].ended_at
    assert upload_end is not None and wait_end is not None
    assert (wait_end - upload_end).total_seconds() == pytest.approx(WAIT)


def test_branches_that_each_wait_run_each_task_once(client: Client, effects: Counter[str]) -> None:
    def step(name: str) -> str:
        effects[name] += 1
        return name

    @client.define_job(id="two-waits", version="1.0.0")
    async def two_waits(payload: Any, io: IO, ctx: Context) -> list[str]:
        async def branch(name: str, minutes: int) -> str:
            await io.run_task(f"{name}-before", step, f"{name}-before")
            await io.wait(f"{name}-wait", minutes=minutes)
            return str(await io.run_task(f"{name}-after", step, f"{name}-after"))

        return list(await asyncio.gather(branch("a", 10), branch("b", 20)))

    result = client.run_sync(two_waits)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["a-after", "b-after"]
    assert effects == Counter({"a-before": 1, "b-before": 1, "a-after": 1, "b-after": 1})
    assert {t.key: t.status for t in result.tasks} == {
        key: TaskStatus.COMPLETED
        for key in ("a-before", "a-wait", "a-after", "b-before", "b-wait", "b-after")
    }


def test_parallel_waits_elapse_concurrently(client: Client, clock: ManualClock) -> None:
    attempts: list[int] = []

    @client.define_job(id="parallel-waits", version="1.0.0")
    async def parallel_waits(payload: Any, io: IO, ctx: Context) -> str:
        attempts.append(ctx.run.attempt)
        await asyncio.gather(io.wait("short", minutes=10), io.wait("long", minutes=20))
        return "both done"

    result = client.run_sync(parallel_waits)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "both done"
    # Like asyncio.gather(sleep(600), sleep(1200)): the waits overlap, the longer one decides.
    assert clock.slept == pytest.approx(20 * 60)
    # Woken when the short wait is due (its branch may have more to do), then when the long
    # one is: three attempts, and the long wait was not restarted at the second.
    assert attempts == [1, 2, 3]
