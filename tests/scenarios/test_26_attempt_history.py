"""Scenario 26: every attempt of a task is kept, and a task's duration is the time its
function ran.

A task that fails twice (with different errors) and then succeeds keeps the three attempts —
each with its own start, end and error — after the retry succeeded; its duration is the sum of
the three, not the span from its first start to its end, which includes both back-offs. A
parent paused by its child's wait counts the time its function ran before and after the wait,
not the wait. The task functions advance the manual clock to stand for the time they work.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

import relaykit
from relaykit import IO, Client, Context, Retry, RunStatus
from relaykit.testing import ManualClock

WORK = 0.25  # seconds each attempt of the flaky task "works" (on the manual clock)


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_failed_attempts_keep_their_errors_and_the_backoff_is_not_counted(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    def call() -> str:
        attempt = relaykit.current_task().attempt
        effects["call"] += 1
        clock.advance(WORK)
        if attempt == 1:
            raise ConnectionError("refused")
        if attempt == 2:
            raise TimeoutError("too slow")
        return "answered"

    retry = Retry(limit=5, factor=2.0, min_timeout=10.0, randomize=False)
    if kind == "async":

        @client.define_job(id="flaky", version="1.0.0")
        async def flaky(payload: Any, io: IO, ctx: Context) -> str:
            return str(await io.run_task("call", call, retry=retry))

        job = flaky
    else:

        @client.define_job(id="flaky", version="1.0.0")
        def flaky_sync(payload: Any, io: Any, ctx: Context) -> str:
            return str(io.run_task("call", call, retry=retry))

        job = flaky_sync

    result = client.run_sync(job)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert effects["call"] == 3
    task = result.task("call")
    history = task.attempt_history
    assert [a.attempt for a in history] == [1, 2, 3]
    assert [a.error["type"] if a.error else None for a in history] == [
        "ConnectionError",
        "TimeoutError",
        None,
    ]
    messages = [a.error["message"] if a.error else None for a in history]
    assert messages == ["refused", "too slow", None]
    assert [a.ended_at - a.started_at for a in history] == pytest.approx([WORK] * 3)
    # the back-offs (10 s, then 20 s) fall between the attempts, outside each one
    gaps = [b.started_at - a.ended_at for a, b in itertools.pairwise(history)]
    assert gaps == pytest.approx([10.0, 20.0])
    assert task.duration == pytest.approx(3 * WORK)
    assert task.started_at is not None and task.ended_at is not None
    span = (task.ended_at - task.started_at).total_seconds()
    assert span == pytest.approx(3 * WORK + 30.0)


def test_a_task_that_gives_up_keeps_every_failed_attempt(
    client: Client, clock: ManualClock
) -> None:
    def call() -> str:
        clock.advance(WORK)
        raise ValueError(f"bad answer {relaykit.current_task().attempt}")

    @client.define_job(id="hopeless", version="1.0.0")
    async def hopeless(payload: Any, io: IO, ctx: Context) -> str:
        retry = Retry(limit=2, min_timeout=5.0, randomize=False)
        return str(await io.run_task("call", call, retry=retry))

    result = client.run_sync(hopeless)

    assert result.status is RunStatus.FAILED
    task = result.task("call")
    assert [(a.attempt, a.error["message"] if a.error else None) for a in task.attempt_history] == [
        (1, "bad answer 1"),
        (2, "bad answer 2"),
    ]
    assert task.duration == pytest.approx(2 * WORK)


def test_a_parent_paused_by_its_childs_wait_counts_only_its_own_time(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    @client.define_job(id="napper", version="1.0.0")
    async def napper(payload: Any, io: IO, ctx: Context) -> str:
        async def parent() -> str:
            effects["parent"] += 1
            clock.advance(0.1)  # runs again when the parent resumes after the wait
            await io.wait("nap", seconds=60)
            clock.advance(0.2)
            return "rested"

        return str(await io.run_task("parent", parent))

    result = client.run_sync(napper)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert effects["parent"] == 2  # before the wait, and resumed after it
    parent = result.task("parent")
    assert parent.duration == pytest.approx(0.1 + 0.1 + 0.2)  # not the 60 s nap
    # one attempt (resuming is not a new one), succeeded: rebuilt from the task row, it ran
    # the task's busy time, ending when the task ended
    [attempt] = parent.attempt_history
    assert (attempt.attempt, attempt.error) == (1, None)
    assert attempt.ended_at - attempt.started_at == pytest.approx(0.4)
    nap = result.task("parent/nap")
    assert nap.attempt_history == ()  # a wait runs no function
    # its span: recorded as ended when the resumed parent reached it again (0.1 s in)
    assert nap.duration == pytest.approx(60.0 + 0.1)
