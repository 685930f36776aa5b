"""Scenario: cron and interval triggers fire once per slot, however many workers run them.

Two workers (two clients, each with its own store connection) share one database and take
turns; a ManualClock moves time. Every slot is recorded once per (schedule, time), so no slot
fires twice; after downtime the missed slots fire once, as the latest one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from relaykit import Client, InvalidJobDefinition, Worker, cron_trigger, interval_trigger
from relaykit.definitions.triggers import DynamicSchedule
from relaykit.records import ScheduleFire, ScheduleSpec
from relaykit.testing import ManualClock

START = 1_782_900_000.0  # 2026-07-01T10:00:00Z, a Wednesday (summer time in Paris)


def _app(db_url: str, clock: ManualClock, define: Callable[[Client], None]) -> Client:
    client = Client("schedules", database_url=db_url, clock=clock)
    define(client)
    return client


def _slots(client: Client, job: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        runs = await (await client.open()).list_runs(job_id=job, limit=1000)
        results = [await client.get_run(r.id) for r in runs]
        return sorted((r.output for r in results), key=lambda p: p["ts"])

    return asyncio.run(go())


def _take_turns(workers: list[Client], clock: ManualClock, step: float, turns: int) -> None:
    async def go() -> None:
        for i in range(turns):
            clock.advance(step)
            await Worker(workers[i % len(workers)], exit_when_idle=True).run()
            await Worker(workers[(i + 1) % len(workers)], exit_when_idle=True).run()

    asyncio.run(go())


def _define_cron(client: Client) -> None:
    @client.define_job(id="minutely", version="1.0.0", trigger=cron_trigger("* * * * *"))
    async def minutely(payload: Any, io: Any, ctx: Any) -> Any:
        return payload


def test_each_cron_slot_fires_once_across_two_workers(db_url: str) -> None:
    clock = ManualClock(start=START)
    a, b = _app(db_url, clock, _define_cron), _app(db_url, clock, _define_cron)
    _take_turns([a, b], clock, step=20, turns=15)  # 5 minutes in 20 s steps, both every step

    slots = _slots(a, "minutely")
    assert [s["ts"][11:19] for s in slots] == [f"10:0{m}:00" for m in range(1, 6)]
    assert slots[0]["last_ts"] is None
    assert [s["last_ts"] for s in slots[1:]] == [s["ts"] for s in slots[:-1]]
    asyncio.run(a.close())
    asyncio.run(b.close())


def test_missed_slots_after_downtime_fire_once(db_url: str) -> None:
    clock = ManualClock(start=START)
    client = _app(db_url, clock, _define_cron)
    _take_turns([client], clock, step=60, turns=2)  # registered at 10:01, fires at 10:02
    clock.advance(3 * 3600)  # the workers are down for three hours
    _take_turns([client], clock, step=0, turns=1)

    slots = [s["ts"][11:19] for s in _slots(client, "minutely")]
    assert slots == ["10:02:00", "13:02:00"]  # one run for the 180 missed slots
    asyncio.run(client.close())


def test_interval_payload_and_fire_once(db_url: str) -> None:
    def define(client: Client) -> None:
        @client.define_job(id="tick", version="1.0.0", trigger=interval_trigger(seconds=30))
        async def tick(payload: Any, io: Any, ctx: Any) -> Any:
            return payload

    clock = ManualClock(start=START)
    a, b = _app(db_url, clock, define), _app(db_url, clock, define)
    _take_turns([a, b], clock, step=10, turns=12)  # two minutes

    slots = _slots(a, "tick")
    times = [datetime.fromisoformat(s["ts"]).timestamp() - START for s in slots]
    # registered at START + 10 s (the first worker pass): fires every 30 s from then
    assert times == [40.0, 70.0, 100.0]
    assert [s["last_ts"] for s in slots[1:]] == [s["ts"] for s in slots[:-1]]
    asyncio.run(a.close())
    asyncio.run(b.close())


def test_cron_follows_its_timezone(db_url: str) -> None:
    def define(client: Client) -> None:
        @client.define_job(
            id="paris-noon",
            version="1.0.0",
            trigger=cron_trigger("0 12 * * *", timezone="Europe/Paris"),
        )
        async def noon(payload: Any, io: Any, ctx: Any) -> Any:
            return payload

    clock = ManualClock(start=START)  # 12:00 in Paris is 10:00 UTC in July
    client = _app(db_url, clock, define)
    _take_turns([client], clock, step=12 * 3600, turns=4)

    assert [s["ts"] for s in _slots(client, "paris-noon")] == [
        "2026-07-02T10:00:00+00:00",
        "2026-07-03T10:00:00+00:00",
    ]
    asyncio.run(client.close())


def test_disabled_scheduled_jobs_do_not_fire(db_url: str) -> None:
    def define(client: Client) -> None:
        @client.define_job(
            id="off", version="1.0.0", trigger=cron_trigger("* * * * *"), enabled=False
        )
        async def off(payload: Any, io: Any, ctx: Any) -> Any:
            return payload

    clock = ManualClock(start=START)
    client = _app(db_url, clock, define)
    _take_turns([client], clock, step=60, turns=3)
    assert _slots(client, "off") == []
    asyncio.run(client.close())


def test_dynamic_schedules_register_and_unregister_per_key(db_url: str) -> None:
    clock = ManualClock(start=START)

    def define(client: Client) -> None:
        digest = client.define_schedule("digest")

        @client.define_job(id="send-digest", version="1.0.0", trigger=digest)
        async def send_digest(payload: Any, io: Any, ctx: Any) -> Any:
            return payload

        @client.define_job(id="onboard", version="1.0.0")
        async def onboard(payload: Any, io: Any, ctx: Any) -> None:
            # registering inside a run is a task: a replay does not register it again
            await io.register_schedule("schedule", digest, payload["user"], interval=60)
            if payload.get("stop"):
                await io.unregister_schedule("stop", digest, payload["user"])

    a, b = _app(db_url, clock, define), _app(db_url, clock, define)
    schedule = a.jobs["send-digest"].trigger
    assert isinstance(schedule, DynamicSchedule)
    unused = a.define_schedule("unused")

    async def setup() -> None:
        await a.run("onboard", {"user": "ada"})
        await schedule.register("bob", cron="*/2 * * * *")

    asyncio.run(setup())
    _take_turns([a, b], clock, step=30, turns=8)  # 4 minutes
    slots = _slots(a, "send-digest")
    by_key = {k: [s["ts"][11:19] for s in slots if s["key"] == k] for k in ("ada", "bob")}
    assert by_key == {
        "ada": ["10:01:00", "10:02:00", "10:03:00", "10:04:00"],
        "bob": ["10:02:00", "10:04:00"],
    }

    async def stop() -> bool:
        removed: bool = await schedule.unregister("bob")
        await a.run("onboard", {"user": "ada", "stop": True})
        return removed

    assert asyncio.run(stop()) is True
    _take_turns([a, b], clock, step=30, turns=8)
    assert len(_slots(a, "send-digest")) == 6  # nothing fired after both keys stopped
    with pytest.raises(InvalidJobDefinition, match="seconds must be an integer >= 1"):
        asyncio.run(schedule.register("x", interval=0))
    with pytest.raises(InvalidJobDefinition, match="not a valid 5-field cron expression"):
        asyncio.run(schedule.register("x", cron="61 * * * *"))
    with pytest.raises(InvalidJobDefinition, match="exactly one of cron= or interval="):
        asyncio.run(schedule.register("x", cron="* * * * *", interval=5))
    with pytest.raises(InvalidJobDefinition, match="no job uses this schedule"):
        asyncio.run(unused.register("x", interval=5))
    asyncio.run(a.close())
    asyncio.run(b.close())


def test_a_schedule_that_cannot_be_computed_is_logged_and_skipped(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Stored schedules an older relaykit accepted (an expression that never fires), or that
    this machine cannot compute (an unknown timezone), stop neither the worker nor the other
    schedules: one log line each, naming it, and the schedule is deactivated."""
    clock = ManualClock(start=START)

    def define(client: Client) -> None:
        digest = client.define_schedule("digest")

        @client.define_job(id="send-digest", version="1.0.0", trigger=digest)
        async def send_digest(payload: Any, io: Any, ctx: Any) -> Any:
            return payload

    client = _app(db_url, clock, define)
    bad = {
        "dynamic:digest:send-digest:feb-30": ScheduleSpec(
            "dynamic:digest:send-digest:feb-30", "send-digest", "cron", "0 0 30 2 *"
        ),
        "dynamic:digest:send-digest:mars": ScheduleSpec(
            "dynamic:digest:send-digest:mars", "send-digest", "cron", "0 * * * *", "Mars/Olympus"
        ),
        "dynamic:digest:send-digest:zero": ScheduleSpec(
            "dynamic:digest:send-digest:zero", "send-digest", "interval", "0"
        ),
    }
    good = ScheduleSpec("dynamic:digest:send-digest:ada", "send-digest", "interval", "60")

    async def store_them() -> None:
        store = await client.open()
        await store.sync_schedules([good, *bad.values()], first_fire=lambda spec: START + 30)

    asyncio.run(store_them())
    with caplog.at_level(logging.ERROR, logger="relaykit.engine.scheduler"):
        _take_turns([client], clock, step=60, turns=3)

    assert [s["key"] for s in _slots(client, "send-digest")] == ["ada"] * 3
    lines = [r.getMessage() for r in caplog.records if r.name == "relaykit.engine.scheduler"]
    assert sorted(next(i for i in bad if repr(i) in line) for line in lines) == sorted(bad)
    assert all("\n" not in line and "deactivated" in line for line in lines)

    async def due_later() -> list[str]:
        clock.advance(86400 * 400)  # nothing bad comes due again
        store = await client.open()
        return [f.spec.id for f in await _due(store, clock.now())]

    assert asyncio.run(due_later()) == [good.id]
    asyncio.run(client.close())


async def _due(store: Any, now: float) -> list[ScheduleFire]:
    """The schedules due at ``now`` (planned and left alone: nothing fires)."""
    seen: list[ScheduleFire] = []

    def plan(due: ScheduleFire) -> None:
        seen.append(due)

    await store.fire_due_schedules(now=now, plan=plan)
    return seen
