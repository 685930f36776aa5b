"""Scenario 5: user code catches ``TaskFailed`` and carries on.

The failure is memoized like an output: when the run is replayed after a later wait, the failed
task raises the same ``TaskFailed`` again without its function being called.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from relaykit import (
    IO,
    Client,
    Context,
    Job,
    NonRetriable,
    Retry,
    RunStatus,
    TaskFailed,
    TaskStatus,
)
from relaykit.testing import ManualClock

WAIT = 300.0  # five minutes; the manual clock makes them elapse at once


def define_job(
    client: Client, kind: str, effects: Counter[str], caught: list[tuple[int, str, str]]
) -> Job:
    """``primary`` fails; the run falls back to ``backup``, waits, then ``notify``."""

    def primary() -> str:
        effects["primary"] += 1
        raise NonRetriable("primary provider is gone")

    def backup() -> str:
        effects["backup"] += 1
        return "sent by backup"

    def notify(how: str) -> str:
        effects["notify"] += 1
        return f"notified: {how}"

    def record(ctx: Context, exc: TaskFailed) -> None:
        caught.append((ctx.run.attempt, str(exc.key), str(exc.cause_message)))

    if kind == "async":

        @client.define_job(id="fallback", version="1.0.0")
        async def fallback(payload: Any, io: IO, ctx: Context) -> str:
            try:
                how = await io.run_task("primary", primary)
            except TaskFailed as exc:
                record(ctx, exc)
                how = await io.run_task("backup", backup)
            await io.wait("cool-off", minutes=5)
            return str(await io.run_task("notify", notify, how))

        return fallback

    @client.define_job(id="fallback", version="1.0.0")
    def fallback_sync(payload: Any, io: Any, ctx: Context) -> str:
        try:
            how = io.run_task("primary", primary)
        except TaskFailed as exc:
            record(ctx, exc)
            how = io.run_task("backup", backup)
        io.wait("cool-off", minutes=5)
        return str(io.run_task("notify", notify, how))

    return fallback_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_caught_task_failure_is_not_re_executed_on_replay(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    caught: list[tuple[int, str, str]] = []

    result = client.run_sync(define_job(client, kind, effects, caught))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "notified: sent by backup"
    assert result.error is None
    assert effects == Counter({"primary": 1, "backup": 1, "notify": 1})
    # The user's handler saw the same failure on the first attempt and on the replay.
    assert caught == [
        (1, "primary", "primary provider is gone"),
        (2, "primary", "primary provider is gone"),
    ]
    assert clock.slept == pytest.approx(WAIT)
    tasks = {t.key: t for t in result.tasks}
    assert {k: (t.kind, t.status) for k, t in tasks.items()} == {
        "primary": ("task", TaskStatus.ERRORED),
        "backup": ("task", TaskStatus.COMPLETED),
        "cool-off": ("wait", TaskStatus.COMPLETED),
        "notify": ("task", TaskStatus.COMPLETED),
    }
    assert [tasks[k].attempts for k in ("primary", "backup", "notify")] == [1, 1, 1]
    primary_error = tasks["primary"].error
    assert primary_error is not None and primary_error["type"] == "NonRetriable"


def test_a_task_that_exhausted_its_retries_can_be_caught_and_stays_failed(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    def flaky() -> str:
        effects["flaky"] += 1
        raise ConnectionError("timeout")

    @client.define_job(id="best-effort", version="1.0.0")
    async def best_effort(payload: Any, io: IO, ctx: Context) -> str:
        try:
            await io.run_task(
                "flaky", flaky, retry=Retry(limit=2, min_timeout=1.0, randomize=False)
            )
        except TaskFailed as exc:
            effects[f"caught {exc.cause_type}"] += 1
        await io.wait("later", minutes=5)
        return "done anyway"

    result = client.run_sync(best_effort)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "done anyway"
    # Two attempts (limit=2), then never again: not on the replay after the wait either.
    assert effects["flaky"] == 2
    # Caught once on the attempt that exhausted the retries, once more on the replay.
    assert effects["caught ConnectionError"] == 2
    assert clock.slept == pytest.approx(1.0 + 300.0)
    flaky_task = {t.key: t for t in result.tasks}["flaky"]
    assert (flaky_task.status, flaky_task.attempts) == (TaskStatus.ERRORED, 2)
