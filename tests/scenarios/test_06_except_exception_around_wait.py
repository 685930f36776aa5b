"""Scenario 6: ``except Exception:`` around ``io.wait`` does not swallow the suspension.

Suspension is a ``BaseException``: the wait still ends the attempt, the handler never runs, and
the code after the ``try`` is reached exactly once, on the replay after the wait. Even a bare
``except BaseException:`` that swallows it cannot make the run skip the wait.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from relaykit import IO, Client, Context, RunStatus, TaskStatus
from relaykit.testing import ManualClock

WAIT = 300.0  # five minutes; the manual clock makes them elapse at once


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_except_exception_does_not_catch_a_wait(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    def after() -> str:
        effects["after-task"] += 1
        return "after"

    if kind == "async":

        @client.define_job(id="guarded", version="1.0.0")
        async def guarded(payload: Any, io: IO, ctx: Context) -> str:
            try:
                await io.wait("nap", minutes=5)
            except Exception:
                effects["handler"] += 1
            effects["after-try"] += 1
            return str(await io.run_task("after", after))

        job = guarded
    else:

        @client.define_job(id="guarded", version="1.0.0")
        def guarded_sync(payload: Any, io: Any, ctx: Context) -> str:
            try:
                io.wait("nap", minutes=5)
            except Exception:
                effects["handler"] += 1
            effects["after-try"] += 1
            return str(io.run_task("after", after))

        job = guarded_sync

    result = client.run_sync(job)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "after"
    assert effects == Counter({"after-try": 1, "after-task": 1})  # the handler never ran
    assert clock.slept == pytest.approx(WAIT)
    assert {t.key: t.status for t in result.tasks} == {
        "nap": TaskStatus.COMPLETED,
        "after": TaskStatus.COMPLETED,
    }


def test_a_swallowed_suspension_still_suspends_the_run(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    def after() -> str:
        effects["after-task"] += 1
        return "after"

    @client.define_job(id="swallower", version="1.0.0")
    async def swallower(payload: Any, io: IO, ctx: Context) -> str:
        try:
            await io.wait("nap", minutes=5)
        except BaseException:  # the footgun under test: swallows the suspension
            effects[f"swallowed on attempt {ctx.run.attempt}"] += 1
        # The next io call after a swallowed suspension suspends again.
        return str(await io.run_task("after", after))

    result = client.run_sync(swallower)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "after"
    assert effects == Counter({"swallowed on attempt 1": 1, "after-task": 1})
    assert clock.slept == pytest.approx(WAIT)  # the full wait elapsed


def test_a_swallowed_suspension_before_returning_still_waits(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    @client.define_job(id="swallow-and-return", version="1.0.0")
    async def swallow_and_return(payload: Any, io: IO, ctx: Context) -> int:
        try:
            await io.wait("nap", minutes=5)
        except BaseException:  # the footgun under test: swallows the suspension
            effects["swallowed"] += 1
        return ctx.run.attempt

    result = client.run_sync(swallow_and_return)

    # The first attempt's return value is discarded: the run was suspended, so it is replayed.
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == 2
    assert effects == Counter({"swallowed": 1})
    assert clock.slept == pytest.approx(WAIT)
    assert {t.key: t.status for t in result.tasks} == {"nap": TaskStatus.COMPLETED}
