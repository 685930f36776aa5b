"""Scenario 14: ``io.logger`` lines are written once, however often the run is replayed.

A line logged before a wait is met again on the replay after the wait and is not written a
second time; lines are kept in order, with their level, properties and the task they were
logged in.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import relaykit
from relaykit import IO, Client, Context, Job, Retry, RunResult, RunStatus


def define(client: Client, kind: str, effects: Counter[str]) -> Job:
    def work(n: int) -> int:
        effects["work"] += 1
        return n * 2

    if kind == "async":

        @client.define_job(id="chatty", version="1.0.0")
        async def chatty(payload: Any, io: IO, ctx: Context) -> int:
            effects["run function"] += 1
            await io.logger.info("before the wait", step=1)

            async def inner() -> int:
                await io.logger.debug("inside a task", attempt=relaykit.current_task().attempt)
                return int(await io.run_task("work", work, 21))

            value = await io.run_task("inner", inner)
            await io.wait("pause", minutes=5)
            await io.logger.warn("after the wait", value=value)
            await io.logger.error("the end")
            return int(value)

        return chatty

    @client.define_job(id="chatty", version="1.0.0")
    def chatty_sync(payload: Any, io: Any, ctx: Context) -> int:
        effects["run function"] += 1
        io.logger.info("before the wait", step=1)

        def inner() -> int:
            io.logger.debug("inside a task", attempt=relaykit.current_task().attempt)
            return int(io.run_task("work", work, 21))

        value = io.run_task("inner", inner)
        io.wait("pause", minutes=5)
        io.logger.warn("after the wait", value=value)
        io.logger.error("the end")
        return int(value)

    return chatty_sync


def lines(result: RunResult) -> list[tuple[str, str, dict[str, Any], str | None]]:
    return [(g.level, g.message, g.properties, g.task) for g in result.logs]


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_log_before_a_wait_appears_once(client: Client, effects: Counter[str], kind: str) -> None:
    result = client.run_sync(define(client, kind, effects))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == 42
    assert effects == Counter({"run function": 2, "work": 1})
    assert lines(result) == [
        ("info", "before the wait", {"step": 1}, None),
        ("debug", "inside a task", {"attempt": 1}, "inner"),
        ("warn", "after the wait", {"value": 42}, None),
        ("error", "the end", {}, None),
    ]


def test_logs_of_a_run_are_its_own(client: Client, effects: Counter[str]) -> None:
    job = define(client, "async", effects)

    first = client.run_sync(job)
    second = client.run_sync(job)

    assert [g.message for g in first.logs] == [g.message for g in second.logs]
    assert len(second.logs) == 4  # a second run logs its lines; it is not a replay of the first


def test_each_attempt_of_a_retried_task_keeps_its_log_lines(
    client: Client, effects: Counter[str]
) -> None:
    @client.define_job(id="flaky-logs", version="1.0.0")
    async def flaky_logs(payload: Any, io: IO, ctx: Context) -> str:
        async def call_remote() -> str:
            attempt = relaykit.current_task().attempt
            effects["call"] += 1
            await io.logger.info(f"calling remote, attempt {attempt}")
            if attempt < 3:
                raise ConnectionError(f"busy on attempt {attempt}")
            return "answered"

        retry = Retry(limit=3, min_timeout=1.0, randomize=False)
        return str(await io.run_task("call", call_remote, retry=retry))

    result = client.run_sync(flaky_logs)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert effects == Counter({"call": 3})
    assert [g.message for g in result.logs] == [
        "calling remote, attempt 1",
        "calling remote, attempt 2",
        "calling remote, attempt 3",
    ]
