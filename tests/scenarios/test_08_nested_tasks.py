"""Scenario 8: nested tasks.

A task started inside another task's function gets the scoped key ``parent/child``. When a
child's retry delay suspends the run, the parent is paused (``waiting``), not failed; on the
replay the parent's function runs again and its completed children hand back their recorded
outputs. ``relaykit.current_task()`` inside a task function tells its scoped key, its attempt
and a stable idempotency key.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import relaykit
from relaykit import (
    IO,
    Client,
    Context,
    Job,
    RelaykitError,
    Retry,
    RunStatus,
    TaskInfo,
    TaskStatus,
)
from relaykit.testing import ManualClock

RETRY = Retry(limit=3, min_timeout=30.0, randomize=False)


def define_job(
    client: Client, kind: str, effects: Counter[str], infos: list[TaskInfo], outside: list[str]
) -> Job:
    """``order`` runs ``reserve`` (ok) then ``charge`` (fails once, retried 30 s later)."""

    def reserve(sku: str) -> str:
        infos.append(relaykit.current_task())
        effects["reserve"] += 1
        return f"reserved {sku}"

    def charge() -> str:
        info = relaykit.current_task()
        infos.append(info)
        effects["charge"] += 1
        if info.attempt == 1:
            raise ConnectionError("payment gateway timeout")
        return "charged"

    def check_outside() -> None:
        try:
            relaykit.current_task()
        except RelaykitError as exc:
            outside.append(str(exc))

    if kind == "async":

        @client.define_job(id="nested", version="1.0.0")
        async def nested(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
            async def order() -> list[str]:
                infos.append(relaykit.current_task())
                effects["order"] += 1
                reserved = await io.run_task("reserve", reserve, "sku-1")
                charged = await io.run_task("charge", charge, retry=RETRY)
                return [reserved, charged]

            check_outside()
            steps = await io.run_task("order", order)
            return {"steps": steps, "run": ctx.run.id}

        return nested

    @client.define_job(id="nested", version="1.0.0")
    def nested_sync(payload: Any, io: Any, ctx: Context) -> dict[str, Any]:
        def order() -> list[str]:
            infos.append(relaykit.current_task())
            effects["order"] += 1
            reserved = io.run_task("reserve", reserve, "sku-1")
            charged = io.run_task("charge", charge, retry=RETRY)
            return [reserved, charged]

        check_outside()
        steps = io.run_task("order", order)
        return {"steps": steps, "run": ctx.run.id}

    return nested_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_nested_children_are_scoped_and_memoized_when_the_parent_is_replayed(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    infos: list[TaskInfo] = []
    outside: list[str] = []

    result = client.run_sync(define_job(client, kind, effects, infos, outside))

    assert result.status is RunStatus.SUCCEEDED, result.error
    run_id = result.id
    assert result.output == {"steps": ["reserved sku-1", "charged"], "run": run_id}
    # The parent's function ran twice (paused by its child's retry delay, then replayed);
    # the child that had completed did not run again.
    assert effects == Counter({"order": 2, "reserve": 1, "charge": 2})
    assert clock.slept == pytest.approx(30.0)
    tasks = {t.key: t for t in result.tasks}
    # ``order`` was paused by its child's retry delay, not failed: its function ran twice
    # (effects above) but it is still its first attempt.
    assert {k: (t.status, t.attempts) for k, t in tasks.items()} == {
        "order": (TaskStatus.COMPLETED, 1),
        "order/reserve": (TaskStatus.COMPLETED, 1),
        "order/charge": (TaskStatus.COMPLETED, 2),
    }
    assert tasks["order"].output == ["reserved sku-1", "charged"]
    assert tasks["order/reserve"].params == ["sku-1"]

    # current_task() inside each function: the scoped key, the attempt, a stable idempotency key
    assert [(i.key, i.attempt) for i in infos] == [
        ("order", 1),
        ("order/reserve", 1),
        ("order/charge", 1),
        ("order", 1),  # resumed after the pause: the same attempt, replayed
        ("order/charge", 2),
    ]
    assert all(i.run_id == run_id for i in infos)
    assert {i.key: i.idempotency_key for i in infos} == {
        "order": f"{run_id}:order",
        "order/reserve": f"{run_id}:order/reserve",
        "order/charge": f"{run_id}:order/charge",
    }
    assert {i.key: i.name for i in infos} == {
        "order": "order",
        "order/reserve": "reserve",
        "order/charge": "charge",
    }
    # Outside a task function, current_task() says where it may be called (on each attempt).
    assert len(outside) == 2
    assert "outside a task" in outside[0]


def test_the_same_child_key_under_different_parents_is_not_a_duplicate(
    client: Client, effects: Counter[str]
) -> None:
    def leaf(tag: str) -> str:
        effects[relaykit.current_task().key] += 1
        return tag

    @client.define_job(id="siblings", version="1.0.0")
    async def siblings(payload: Any, io: IO, ctx: Context) -> list[str]:
        async def parent(tag: str) -> str:
            inner = await io.run_task("leaf", leaf, tag)
            deeper = await io.run_task("deeper", deep, tag)
            return f"{inner}+{deeper}"

        async def deep(tag: str) -> str:
            return str(await io.run_task("leaf", leaf, tag + "!"))

        return [
            await io.run_task("a", parent, "A"),
            await io.run_task("b", parent, "B"),
            await io.run_task("leaf", leaf, "top"),
        ]

    result = client.run_sync(siblings)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["A+A!", "B+B!", "top"]
    keys = {"a", "a/leaf", "a/deeper", "a/deeper/leaf", "b", "b/leaf", "b/deeper"}
    keys |= {"b/deeper/leaf", "leaf"}
    assert {t.key for t in result.tasks} == keys
    assert all(t.status is TaskStatus.COMPLETED and t.attempts == 1 for t in result.tasks)
    # Each leaf ran once, counted under its own scoped key.
    assert effects == Counter(["a/leaf", "a/deeper/leaf", "b/leaf", "b/deeper/leaf", "leaf"])


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_a_wait_inside_a_task_pauses_the_task_and_resumes_it(
    client: Client, clock: ManualClock, effects: Counter[str], kind: str
) -> None:
    def step(name: str) -> str:
        effects[name] += 1
        return name

    if kind == "async":

        @client.define_job(id="wait-inside", version="1.0.0")
        async def wait_inside(payload: Any, io: IO, ctx: Context) -> str:
            async def parent() -> str:
                await io.run_task("before", step, "before")
                await io.wait("cool-off", minutes=5)
                return str(await io.run_task("after", step, "after"))

            return str(await io.run_task("parent", parent))

        job = wait_inside
    else:

        @client.define_job(id="wait-inside", version="1.0.0")
        def wait_inside_sync(payload: Any, io: Any, ctx: Context) -> str:
            def parent() -> str:
                io.run_task("before", step, "before")
                io.wait("cool-off", minutes=5)
                return str(io.run_task("after", step, "after"))

            return str(io.run_task("parent", parent))

        job = wait_inside_sync

    result = client.run_sync(job)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "after"
    assert effects == Counter({"before": 1, "after": 1})
    assert clock.slept == pytest.approx(300.0)
    assert {t.key: (t.kind, t.status) for t in result.tasks} == {
        "parent": ("task", TaskStatus.COMPLETED),
        "parent/before": ("task", TaskStatus.COMPLETED),
        "parent/cool-off": ("wait", TaskStatus.COMPLETED),
        "parent/after": ("task", TaskStatus.COMPLETED),
    }
