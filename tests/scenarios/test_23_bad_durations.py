"""Scenario 23: a duration no due time can hold is an error at the call, inside a run too.

NaN compares false with everything, infinity overflows and ``1e308`` seconds is no date, so a
wait, an event delay or a retry delay built from one would never come due (or always be, or
crash the worker that reads it back). Each such call fails where it is made, with one message
naming the call, the argument and the value and saying what is allowed; nothing is stored for
it: no waiting task, no event, no retry. Sync run functions get the same checks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest

from relaykit import IO, Client, Context, Retry, RetryAfter, RunStatus, TaskStatus

ALLOWED = "a finite number of seconds from 0 to 3155760000 (100 years)"
NAN, INF = float("nan"), float("inf")

Call = Callable[[IO], Coroutine[Any, Any, Any]]

# (what the run calls, the run's error message)
CALLS: list[tuple[str, Call, str]] = [
    (
        "wait-nan",
        lambda io: io.wait("pause", seconds=NAN),
        "io.wait('pause'): seconds must be a finite number, got nan",
    ),
    (
        "wait-inf",
        lambda io: io.wait("pause", minutes=INF),
        "io.wait('pause'): minutes must be a finite number, got inf",
    ),
    (
        "wait-negative",
        lambda io: io.wait("pause", seconds=-1),
        f"io.wait('pause'): the total duration must be {ALLOWED}; got -1.0",
    ),
    (
        "wait-too-long",
        lambda io: io.wait("pause", days=1e308),
        f"io.wait('pause'): the total duration must be {ALLOWED}; got inf",
    ),
    (
        "wait-string",
        lambda io: io.wait("pause", hours="1"),  # type: ignore[arg-type]
        "io.wait('pause'): hours must be a finite number, got '1'",
    ),
    (
        "wait-until-nan",
        lambda io: io.wait_until("later", NAN),  # type: ignore[arg-type]
        "io.wait_until('later'): `when` must be a timezone-aware datetime, "
        "e.g. datetime.now(UTC) + timedelta(hours=1); got nan",
    ),
    (
        "wait-until-naive",
        lambda io: io.wait_until("later", datetime(2030, 1, 1)),  # naive: the point
        "io.wait_until('later'): `when` must be a timezone-aware datetime, "
        "e.g. datetime.now(UTC) + timedelta(hours=1); got datetime.datetime(2030, 1, 1, 0, 0)",
    ),
    (
        "send-nan",
        lambda io: io.send_event("tell", "tick", {}, deliver_after=NAN),
        f"io.send_event('tell'): deliver_after must be {ALLOWED}; got nan",
    ),
    (
        "send-inf",
        lambda io: io.send_event("tell", "tick", {}, deliver_after=INF),
        f"io.send_event('tell'): deliver_after must be {ALLOWED}; got inf",
    ),
    (
        "send-1e308",
        lambda io: io.send_event("tell", "tick", {}, deliver_after=1e308),
        f"io.send_event('tell'): deliver_after must be {ALLOWED}; got 1e+308",
    ),
    (
        "wait-for-event-nan",
        lambda io: io.wait_for_event("reply", "answer", timeout=NAN),
        f"io.wait_for_event('reply'): timeout must be {ALLOWED}; got nan",
    ),
    (
        "wait-for-event-inf",
        lambda io: io.wait_for_event("reply", "answer", timeout=INF),
        f"io.wait_for_event('reply'): timeout must be {ALLOWED}; got inf",
    ),
    (
        "wait-for-event-negative",
        lambda io: io.wait_for_event("reply", "answer", timeout=-5),
        f"io.wait_for_event('reply'): timeout must be {ALLOWED}; got -5",
    ),
    (
        "fetch-timeout-nan",
        lambda io: io.background_fetch("get", "http://127.0.0.1:9/", timeout=NAN),
        f"io.background_fetch('get'): timeout must be {ALLOWED}; got nan",
    ),
    (
        "retry-policy-nan",
        lambda io: io.run_task("t", lambda: 1, retry=Retry(min_timeout=NAN)),
        f"Retry: min_timeout must be {ALLOWED}; got nan",
    ),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CALLS], ids=[c[0] for c in CALLS])
def test_the_call_fails_the_run_and_stores_nothing(
    client: Client, call: Call, message: str
) -> None:
    @client.define_job(id="bad", version="1.0.0")
    async def bad(payload: Any, io: IO, ctx: Context) -> Any:
        return await call(io)

    async def go() -> None:
        result = await client.run(bad)
        assert result.status is RunStatus.FAILED
        assert result.error is not None
        assert result.error["type"] == "ConfigurationError"
        assert result.error["message"] == message
        assert result.tasks == []  # no waiting task, no event task, no retried task
        store = await client.open()
        assert await store.list_events() == []

    asyncio.run(go())


def test_a_sync_run_function_gets_the_same_checks(client: Client) -> None:
    @client.define_job(id="bad-sync", version="1.0.0")
    def bad_sync(payload: Any, io: Any, ctx: Context) -> Any:
        return io.wait("pause", seconds=NAN)

    result = client.run_sync(bad_sync)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error["message"] == "io.wait('pause'): seconds must be a finite number, got nan"


@pytest.mark.parametrize("seconds", [NAN, INF, -1, 1e308])
def test_a_task_raising_a_bad_retry_after_fails_at_once(
    client: Client, effects: Counter[str], seconds: float
) -> None:
    # The task's own bug (a RetryAfter from a computed NaN) fails it at once, naming the value;
    # it is not retried after "nan seconds", which would never come due.
    @client.define_job(id="limited", version="1.0.0")
    async def limited(payload: Any, io: IO, ctx: Context) -> Any:
        def call() -> None:
            effects["call"] += 1
            raise RetryAfter(seconds)

        return await io.run_task("call", call, retry=Retry(limit=5))

    result = client.run_sync(limited)
    assert result.status is RunStatus.FAILED
    assert effects["call"] == 1
    (task,) = result.tasks
    assert task.status is TaskStatus.ERRORED
    assert task.error is not None
    assert task.error["type"] == "ConfigurationError"
    assert task.error["message"] == f"RetryAfter: seconds must be {ALLOWED}; got {seconds!r}"


def test_good_durations_still_work(client: Client) -> None:
    @client.define_job(id="good", version="1.0.0")
    async def good(payload: Any, io: IO, ctx: Context) -> Any:
        await io.wait("pause", minutes=1, seconds=30)
        await io.wait_until("later", datetime(2000, 1, 1, tzinfo=UTC))  # in the past: at once
        event = await io.send_event("tell", "tick", {}, deliver_after=3600)
        return await io.wait_for_event("reply", "answer", timeout=0) is None and event["id"]

    result = client.run_sync(good)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert isinstance(result.output, str)
