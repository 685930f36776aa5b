"""Scenario 1: a task completed before a suspended wait is memoized when the run is replayed.

The run function calls ``before``, waits one hour (a ``ManualClock`` makes it elapse at once),
then calls ``after``. The wait ends the first attempt; the run is replayed from the top after
the hour, and ``before`` hands back its recorded output without running again. A run whose
tasks all complete inline is never replayed at all.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from relaykit import IO, Client, Context, Job, RunStatus, TaskStatus
from relaykit.testing import ManualClock

HOUR = 3600.0


def define_pause_job(client: Client, kind: str, effects: Counter[str], attempts: list[int]) -> Job:
    """``before`` -> wait one hour -> ``after``; both tasks count their executions."""

    def before(n: int) -> dict[str, int]:
        effects["before"] += 1
        return {"n": n, "doubled": n * 2}

    def after(n: int) -> int:
        effects["after"] += 1
        return n + 1

    if kind == "async":

        @client.define_job(id="pause", version="1.0.0")
        async def pause(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
            attempts.append(ctx.run.attempt)
            first = await io.run_task("before", before, payload["n"])
            await io.wait("nap", hours=1)
            second = await io.run_task("after", after, first["doubled"])
            return {"before": first, "after": second}

        return pause

    @client.define_job(id="pause", version="1.0.0")
    def pause_sync(payload: Any, io: Any, ctx: Context) -> dict[str, Any]:
        attempts.append(ctx.run.attempt)
        first = io.run_task("before", before, payload["n"])
        io.wait("nap", hours=1)
        second = io.run_task("after", after, first["doubled"])
        return {"before": first, "after": second}

    return pause_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_task_before_a_wait_runs_once_although_the_run_is_replayed(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    attempts: list[int] = []
    job = define_pause_job(client, kind, effects, attempts)
    started = clock.now()

    result = client.run_sync(job, {"n": 21})

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == {"before": {"n": 21, "doubled": 42}, "after": 43}
    # The run function ran twice (first attempt, then the replay after the wait) ...
    assert attempts == [1, 2]
    # ... but each task function exactly once.
    assert effects == Counter({"before": 1, "after": 1})
    # The hour elapsed on the manual clock, not in real time.
    assert clock.slept == pytest.approx(HOUR)
    assert clock.now() - started == pytest.approx(HOUR)

    tasks = {t.key: t for t in result.tasks}
    assert set(tasks) == {"before", "nap", "after"}
    assert (tasks["before"].status, tasks["before"].attempts) == (TaskStatus.COMPLETED, 1)
    assert (tasks["after"].status, tasks["after"].attempts) == (TaskStatus.COMPLETED, 1)
    assert (tasks["nap"].kind, tasks["nap"].status) == ("wait", TaskStatus.COMPLETED)
    assert tasks["before"].output == {"n": 21, "doubled": 42}
    assert tasks["before"].params == [21]
    nap_started, nap_ended = tasks["nap"].started_at, tasks["nap"].ended_at
    assert nap_started is not None and nap_ended is not None
    assert (nap_ended - nap_started).total_seconds() == pytest.approx(HOUR)


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_run_without_suspension_is_never_replayed(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    entered: list[int] = []

    def step(i: int) -> int:
        effects[f"step-{i}"] += 1
        return i * i

    if kind == "async":

        @client.define_job(id="inline", version="1.0.0")
        async def inline(payload: Any, io: IO, ctx: Context) -> list[int]:
            entered.append(ctx.run.attempt)
            return [await io.run_task(f"step-{i}", step, i) for i in range(5)]

        job = inline
    else:

        @client.define_job(id="inline", version="1.0.0")
        def inline_sync(payload: Any, io: Any, ctx: Context) -> list[int]:
            entered.append(ctx.run.attempt)
            return [io.run_task(f"step-{i}", step, i) for i in range(5)]

        job = inline_sync

    result = client.run_sync(job)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == [0, 1, 4, 9, 16]
    assert entered == [1]  # one attempt: completing tasks inline never causes a replay
    assert effects == Counter({f"step-{i}": 1 for i in range(5)})
    assert {t.key: (t.status, t.attempts) for t in result.tasks} == {
        f"step-{i}": (TaskStatus.COMPLETED, 1) for i in range(5)
    }
    assert clock.slept == 0


class CountingClock:
    """A ``ManualClock`` that counts the engine's sleeps and gives up after ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.manual = ManualClock()
        self.sleeps = 0
        self.limit = limit

    def now(self) -> float:
        return self.manual.now()

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.sleeps > self.limit:
            raise AssertionError(
                f"the engine slept {self.sleeps} times ({self.manual.slept:.0f}s in all) "
                "to get through one wait"
            )
        await self.manual.sleep(seconds)


def test_a_long_wait_elapses_at_once_under_a_manual_clock(db_url: str) -> None:
    clock = CountingClock(limit=100)
    client = Client("scenarios", database_url=db_url, clock=clock, lease_seconds=5)

    @client.define_job(id="month", version="1.0.0")
    async def month(payload: Any, io: IO, ctx: Context) -> str:
        await io.wait("a-month", days=30)
        return "later"

    try:
        result = client.run_sync(month)
    finally:
        asyncio.run(client.close())

    assert result.status is RunStatus.SUCCEEDED
    assert result.output == "later"
    assert clock.manual.slept == pytest.approx(30 * 24 * HOUR)
