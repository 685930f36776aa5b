"""Scenario 3: a failing task is retried with backoff, or after exactly ``RetryAfter`` seconds.

Every retry delay suspends the run (nothing sleeps in a worker slot); the run is replayed when
the next attempt is due. ``Retry(limit=n)`` counts the first attempt; an attempt that raised
``RetryAfter`` counts like any other, and running out of attempts raises ``TaskFailed``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

import relaykit
from relaykit import IO, Client, Context, Job, Retry, RetryAfter, RunStatus, TaskStatus
from relaykit.testing import ManualClock


def define_job(
    client: Client, kind: str, effects: Counter[str], fn: Callable[[], str], retry: Retry
) -> Job:
    """``setup`` (counted), then the flaky task ``call`` under ``retry``; returns its output."""

    def setup() -> str:
        effects["setup"] += 1
        return "ready"

    if kind == "async":

        @client.define_job(id="flaky", version="1.0.0")
        async def flaky(payload: Any, io: IO, ctx: Context) -> list[str]:
            return [await io.run_task("setup", setup), await io.run_task("call", fn, retry=retry)]

        return flaky

    @client.define_job(id="flaky", version="1.0.0")
    def flaky_sync(payload: Any, io: Any, ctx: Context) -> list[str]:
        return [io.run_task("setup", setup), io.run_task("call", fn, retry=retry)]

    return flaky_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_task_failing_twice_succeeds_on_its_third_attempt_after_the_backoff(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    seen: list[int] = []

    def call() -> str:
        attempt = relaykit.current_task().attempt
        seen.append(attempt)
        effects["call"] += 1
        if attempt < 3:
            raise ConnectionError(f"remote busy (attempt {attempt})")
        return "answered"

    retry = Retry(limit=3, factor=2.0, min_timeout=10.0, randomize=False)
    result = client.run_sync(define_job(client, kind, effects, call, retry))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["ready", "answered"]
    assert seen == [1, 2, 3]
    assert effects == Counter({"setup": 1, "call": 3})  # setup is memoized across both replays
    # 10 s after the first failure, 10 * 2 s after the second.
    assert clock.slept == pytest.approx(10.0 + 20.0)
    tasks = {t.key: t for t in result.tasks}
    assert {k: (t.status, t.attempts) for k, t in tasks.items()} == {
        "setup": (TaskStatus.COMPLETED, 1),
        "call": (TaskStatus.COMPLETED, 3),
    }
    assert tasks["call"].error is None
    assert tasks["call"].output == "answered"


def test_the_randomized_backoff_stays_within_its_jitter_bounds(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    def call() -> str:
        effects["call"] += 1
        if relaykit.current_task().attempt < 3:
            raise ConnectionError("remote busy")
        return "answered"

    retry = Retry(limit=3, factor=2.0, min_timeout=10.0)  # randomize=True by default
    result = client.run_sync(define_job(client, "async", effects, call, retry))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert effects["call"] == 3
    # Each delay is the base delay times a factor in [1, 2): [10, 20) then [20, 40).
    assert 30.0 <= clock.slept < 60.0


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_the_limit_counts_the_first_attempt(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    def call() -> str:
        effects["call"] += 1
        raise ConnectionError(f"still down (attempt {relaykit.current_task().attempt})")

    retry = Retry(limit=3, factor=2.0, min_timeout=10.0, randomize=False)
    result = client.run_sync(define_job(client, kind, effects, call, retry))

    assert result.status is RunStatus.FAILED
    assert effects == Counter({"setup": 1, "call": 3})
    assert clock.slept == pytest.approx(10.0 + 20.0)  # no delay after the last attempt
    assert result.error is not None
    assert result.error["type"] == "TaskFailed"
    assert result.error["task"] == "call"
    assert "'call' failed after 3 attempt(s)" in result.error["message"]
    assert "still down (attempt 3)" in result.error["message"]
    call_task = {t.key: t for t in result.tasks}["call"]
    assert (call_task.status, call_task.attempts) == (TaskStatus.ERRORED, 3)
    assert call_task.error is not None
    assert call_task.error["type"] == "ConnectionError"


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_retry_after_sets_the_exact_delay(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    def call() -> str:
        effects["call"] += 1
        if relaykit.current_task().attempt == 1:
            raise RetryAfter(7)  # e.g. a 429 with Retry-After: 7
        return "answered"

    # The backoff would wait 100 s; RetryAfter overrides it.
    retry = Retry(limit=3, min_timeout=100.0, max_timeout=100.0, randomize=False)
    result = client.run_sync(define_job(client, kind, effects, call, retry))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["ready", "answered"]
    assert effects == Counter({"setup": 1, "call": 2})
    assert clock.slept == pytest.approx(7.0)
    call_task = {t.key: t for t in result.tasks}["call"]
    assert (call_task.status, call_task.attempts) == (TaskStatus.COMPLETED, 2)


def test_a_retry_after_attempt_counts_towards_the_limit(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    def call() -> str:
        attempt = relaykit.current_task().attempt
        effects["call"] += 1
        if attempt == 1:
            raise RetryAfter(5)
        raise ConnectionError(f"down (attempt {attempt})")

    retry = Retry(limit=2, min_timeout=1.0, randomize=False)
    result = client.run_sync(define_job(client, "async", effects, call, retry))

    # Attempt 1 (RetryAfter) + attempt 2 (ConnectionError) = the limit of 2.
    assert result.status is RunStatus.FAILED
    assert effects["call"] == 2
    assert clock.slept == pytest.approx(5.0)
    assert result.error is not None
    assert result.error["type"] == "TaskFailed"
    assert "down (attempt 2)" in result.error["message"]


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_exhausting_the_limit_with_retry_after_fails_the_task(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    def call() -> str:
        effects["call"] += 1
        raise RetryAfter(5, "rate limited")

    result = client.run_sync(define_job(client, kind, effects, call, Retry(limit=3)))

    assert result.status is RunStatus.FAILED
    assert effects == Counter({"setup": 1, "call": 3})
    assert clock.slept == pytest.approx(5.0 + 5.0)  # exactly RetryAfter's delay, twice
    assert result.error is not None
    assert result.error["type"] == "TaskFailed"
    assert result.error["task"] == "call"
    assert "rate limited" in result.error["message"]
    call_task = {t.key: t for t in result.tasks}["call"]
    assert (call_task.status, call_task.attempts) == (TaskStatus.ERRORED, 3)
    assert call_task.error is not None
    assert call_task.error["type"] == "RetryAfter"
