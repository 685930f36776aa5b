"""Scenario 11: a plain ``def`` job with the sync ``io`` behaves exactly like an ``async def`` one.

The same workflow - tasks, a nested task, a wait, log lines and the key-value store - is
written once per flavour. Both runs end with the same output, the same task records, the same
log lines and the same side-effect counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from relaykit import IO, Client, Context, RunResult, RunStatus, TaskStatus
from relaykit.testing import ManualClock

TASK_NAMES = ("fetch_user", "render", "send")


def make_tasks(effects: Counter[str], flavour: str) -> dict[str, Any]:
    """Task functions that count their executions under ``flavour``."""

    def fetch_user(user_id: int) -> dict[str, Any]:
        effects[f"{flavour} fetch_user"] += 1
        return {"id": user_id, "name": "Ada"}

    def render(name: str) -> str:
        effects[f"{flavour} render"] += 1
        return f"Hello {name}"

    def send(text: str) -> str:
        effects[f"{flavour} send"] += 1
        return f"sent: {text}"

    return {"fetch_user": fetch_user, "render": render, "send": send}


def define_async(client: Client, effects: Counter[str], attempts: list[int]) -> None:
    t = make_tasks(effects, "async")

    @client.define_job(id="welcome-async", version="1.0.0")
    async def welcome(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        attempts.append(ctx.run.attempt)
        await io.logger.info("starting", user=payload["user"])
        user = await io.run_task("fetch-user", t["fetch_user"], payload["user"])

        async def compose() -> str:
            await io.logger.debug("composing")
            return str(await io.run_task("render", t["render"], user["name"]))

        text = await io.run_task("compose", compose)
        await io.store.job.set("remember", "last-user", user["id"])
        await io.store.run.set("draft", "text", text)
        await io.wait("cool-off", minutes=10)
        draft = await io.store.run.get("read-draft", "text")
        sent = await io.run_task("send", t["send"], draft)
        await io.logger.warn("done", sent=sent)
        last = await io.store.job.get("read-last", "last-user")
        return {"sent": sent, "last": last, "has": await io.store.run.has("has-draft", "text")}


def define_sync(client: Client, effects: Counter[str], attempts: list[int]) -> None:
    t = make_tasks(effects, "sync")

    @client.define_job(id="welcome-sync", version="1.0.0")
    def welcome(payload: Any, io: Any, ctx: Context) -> dict[str, Any]:
        attempts.append(ctx.run.attempt)
        io.logger.info("starting", user=payload["user"])
        user = io.run_task("fetch-user", t["fetch_user"], payload["user"])

        def compose() -> str:
            io.logger.debug("composing")
            return str(io.run_task("render", t["render"], user["name"]))

        text = io.run_task("compose", compose)
        io.store.job.set("remember", "last-user", user["id"])
        io.store.run.set("draft", "text", text)
        io.wait("cool-off", minutes=10)
        draft = io.store.run.get("read-draft", "text")
        sent = io.run_task("send", t["send"], draft)
        io.logger.warn("done", sent=sent)
        last = io.store.job.get("read-last", "last-user")
        return {"sent": sent, "last": last, "has": io.store.run.has("has-draft", "text")}


def shape(result: RunResult) -> dict[str, Any]:
    """What must be equal between the two flavours (ids and timestamps aside)."""
    return {
        "status": result.status,
        "output": result.output,
        "error": result.error,
        "tasks": {
            t.key: (t.kind, t.name, t.status, t.attempts, t.params, t.output, t.error)
            for t in result.tasks
        },
        "logs": sorted((g.level, g.message, repr(g.properties), g.task or "") for g in result.logs),
    }


def test_sync_and_async_jobs_give_the_same_results(
    client: Client, clock: ManualClock, effects: Counter[str]
) -> None:
    async_attempts: list[int] = []
    sync_attempts: list[int] = []
    define_async(client, effects, async_attempts)
    define_sync(client, effects, sync_attempts)

    a = client.run_sync("welcome-async", {"user": 7})
    s = client.run_sync("welcome-sync", {"user": 7})

    assert a.status is RunStatus.SUCCEEDED, a.error
    assert s.status is RunStatus.SUCCEEDED, s.error
    assert a.output == {"sent": "sent: Hello Ada", "last": 7, "has": True}
    assert shape(s) == shape(a)
    assert async_attempts == sync_attempts == [1, 2]
    assert effects == Counter(
        {f"{flavour} {name}": 1 for flavour in ("async", "sync") for name in TASK_NAMES}
    )
    assert clock.slept == pytest.approx(2 * 600.0)  # one ten-minute wait per run

    tasks = {t.key: t for t in s.tasks}
    assert {k: (t.kind, t.status) for k, t in tasks.items()} == {
        "fetch-user": ("task", TaskStatus.COMPLETED),
        "compose": ("task", TaskStatus.COMPLETED),
        "compose/render": ("task", TaskStatus.COMPLETED),
        "remember": ("store", TaskStatus.COMPLETED),
        "draft": ("store", TaskStatus.COMPLETED),
        "cool-off": ("wait", TaskStatus.COMPLETED),
        "read-draft": ("store", TaskStatus.COMPLETED),
        "send": ("task", TaskStatus.COMPLETED),
        "read-last": ("store", TaskStatus.COMPLETED),
        "has-draft": ("store", TaskStatus.COMPLETED),
    }
    assert tasks["compose"].output == "Hello Ada"
    assert tasks["fetch-user"].params == [7]
    # One line each although the run function ran twice.
    assert sorted((g.level, g.message, g.task) for g in s.logs) == [
        ("debug", "composing", "compose"),
        ("info", "starting", None),
        ("warn", "done", None),
    ]
