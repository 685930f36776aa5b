"""Scenario 21: ``io.invoke`` and ``io.batch_invoke`` start child runs from inside a run.

The children are created exactly once (with the task that invokes them), a waiting parent
holds no worker slot, and it is woken when its children end: their outputs come back, a
child that failed raises ``TaskFailed`` in the parent.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from pydantic import BaseModel

from relaykit import IO, Client, Context, RunStatus, TaskFailed, Worker, invoke_trigger
from relaykit.testing import ManualClock


class Square(BaseModel):
    n: int


def _children(client: Client, effects: Counter[str]) -> None:
    @client.define_job(id="square", version="1.0.0", trigger=invoke_trigger(schema=Square))
    async def square(payload: Square, io: IO, ctx: Context) -> int:
        effects[f"square {payload.n}"] += 1
        if payload.n < 0:
            raise ValueError(f"cannot square {payload.n} today")
        return payload.n * payload.n


def test_a_parent_waits_for_its_child_and_gets_its_output(
    client: Client, effects: Counter[str], clock: ManualClock
) -> None:
    _children(client, effects)

    @client.define_job(id="parent", version="1.0.0")
    async def parent(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        effects["parent attempts"] += 1
        four = await io.invoke("square-2", "square", {"n": 2})
        await io.wait("pause", seconds=60)  # a replay after the child: it is not started again
        nine = await io.invoke("square-3", "square", {"n": 3})
        return {"four": four, "nine": nine}

    async def go() -> Any:
        run_id = await client.enqueue(parent)
        # one slot only: if a waiting parent held it, its child could never run
        await Worker(client, concurrency=1, exit_when_idle=True).run()
        clock.advance(60)
        await Worker(client, concurrency=1, exit_when_idle=True).run()
        return await client.get_run(run_id)

    result = asyncio.run(go())
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == {"four": 4, "nine": 9}
    assert effects["square 2"] == 1 and effects["square 3"] == 1
    assert [(t.key, t.status) for t in result.tasks if t.key != "pause"] == [
        ("square-2", "completed"),
        ("square-3", "completed"),
    ]


def test_client_run_executes_the_children_too(client: Client, effects: Counter[str]) -> None:
    _children(client, effects)

    @client.define_job(id="fan-out", version="1.0.0")
    async def fan_out(payload: Any, io: IO, ctx: Context) -> list[int]:
        squares: list[int] = await io.batch_invoke(
            "squares", "square", [{"n": n} for n in (1, 2, 3)]
        )
        return squares

    result = client.run_sync(fan_out)
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == [1, 4, 9]
    assert effects == Counter({"square 1": 1, "square 2": 1, "square 3": 1})


def test_a_failed_child_raises_task_failed_in_the_parent(
    client: Client, effects: Counter[str]
) -> None:
    _children(client, effects)

    @client.define_job(id="careful", version="1.0.0")
    async def careful(payload: Any, io: IO, ctx: Context) -> str:
        try:
            await io.batch_invoke("squares", "square", [{"n": 1}, {"n": -1}])
        except TaskFailed as exc:
            return str(exc)
        return "no failure"

    result = client.run_sync(careful)
    assert result.status is RunStatus.SUCCEEDED
    assert "ended failed: cannot square -1 today (1 of 2 child runs did not succeed)" in (
        result.output
    )
    assert effects["square -1"] == 1  # a failed child is not run again by the parent


def test_without_wait_the_child_run_id_comes_back_at_once(
    client: Client, effects: Counter[str]
) -> None:
    _children(client, effects)

    @client.define_job(id="fire-and-forget", version="1.0.0")
    def fire(payload: Any, io: Any, ctx: Context) -> str:  # the sync io has invoke too
        run_id: str = io.invoke("later", "square", {"n": 5}, wait=False)
        return run_id

    async def go() -> tuple[Any, Any]:
        parent = await client.run(fire)
        child_before = await client.get_run(parent.output)
        await Worker(client, exit_when_idle=True).run()
        child_after = await client.get_run(parent.output)
        await client.close()  # on this loop: a pool left open is cancelled at its teardown
        return child_before, child_after

    before, after = asyncio.run(go())
    assert before.status is RunStatus.QUEUED
    assert after.status is RunStatus.SUCCEEDED and after.output == 25


def test_invoking_an_unknown_job_fails_the_run_with_a_clear_error(client: Client) -> None:
    @client.define_job(id="typo", version="1.0.0")
    async def typo(payload: Any, io: IO, ctx: Context) -> None:
        await io.invoke("child", "sqaure", {"n": 1})

    result = client.run_sync(typo)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "invokes job 'sqaure', which this client does not define" in result.error["message"]


def test_canceling_a_waiting_parent_cancels_the_children_it_waits_for(client: Client) -> None:
    @client.define_job(id="slow-child", version="1.0.0")
    async def slow_child(payload: Any, io: IO, ctx: Context) -> None:
        await io.wait("long", seconds=3600)

    @client.define_job(id="waiting-parent", version="1.0.0")
    async def waiting_parent(payload: Any, io: IO, ctx: Context) -> None:
        await io.invoke("detached", "slow-child", None, wait=False)
        await io.invoke("attached", "slow-child", None)

    async def go() -> tuple[Any, Any, Any]:
        run_id = await client.enqueue(waiting_parent)
        await Worker(client, exit_when_idle=True).run()
        parent = await client.get_run(run_id)
        started = {t.key: t.properties["runs"][0] for t in parent.tasks}  # type: ignore[index]
        detached, attached = started["detached"], started["attached"]
        await client.cancel_run(run_id)
        return (
            await client.get_run(run_id),
            await client.get_run(detached),
            await client.get_run(attached),
        )

    parent, detached, attached = asyncio.run(go())
    assert parent.status is RunStatus.CANCELED
    assert attached.status is RunStatus.CANCELED  # nobody is left to take its result
    assert detached.status is RunStatus.WAITING  # started with wait=False: it lives on
