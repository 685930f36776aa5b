"""Scenario 4: ``NonRetriable`` raised in a task fails it at once, whatever its retry policy.

One attempt, the task ``errored``, the run ``failed`` with a ``TaskFailed`` error that names
the task key and carries the underlying message; nothing after the task runs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from relaykit import IO, Client, Context, NonRetriable, Retry, RunStatus, TaskStatus
from relaykit.testing import ManualClock


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_non_retriable_stops_at_once(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    def charge_card(amount: int) -> str:
        effects["charge-card"] += 1
        raise NonRetriable(f"card declined for {amount} EUR")

    def ship() -> str:
        effects["ship"] += 1
        return "shipped"

    retry = Retry(limit=10, min_timeout=1.0)  # plenty of attempts, none of them used

    if kind == "async":

        @client.define_job(id="checkout", version="1.0.0")
        async def checkout(payload: Any, io: IO, ctx: Context) -> str:
            await io.run_task("charge-card", charge_card, 30, retry=retry)
            return str(await io.run_task("ship", ship))

        job = checkout
    else:

        @client.define_job(id="checkout", version="1.0.0")
        def checkout_sync(payload: Any, io: Any, ctx: Context) -> str:
            io.run_task("charge-card", charge_card, 30, retry=retry)
            return str(io.run_task("ship", ship))

        job = checkout_sync

    result = client.run_sync(job)

    assert result.status is RunStatus.FAILED
    assert result.output is None
    assert effects == Counter({"charge-card": 1})  # one attempt; `ship` never ran
    assert clock.slept == 0  # no retry delay was scheduled
    assert result.error is not None
    assert result.error["type"] == "TaskFailed"
    assert result.error["task"] == "charge-card"
    assert "'charge-card'" in result.error["message"]
    assert "NonRetriable: card declined for 30 EUR" in result.error["message"]
    assert {t.key: (t.status, t.attempts) for t in result.tasks} == {
        "charge-card": (TaskStatus.ERRORED, 1)
    }
    task = result.tasks[0]
    assert task.error is not None
    assert task.error["type"] == "NonRetriable"
    assert task.error["message"] == "card declined for 30 EUR"
    assert task.ended_at is not None
