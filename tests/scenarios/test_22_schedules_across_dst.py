"""Scenario: cron schedules across a daylight-saving change fire once per wall-clock slot.

Two workers share one database and take turns every ten minutes of a ManualClock, through the
night a zone changes its clocks. Counting the runs created: a daily job fires once on the
fall-back night (not once per occurrence of its time), a job whose time is skipped on the
spring-forward night fires once when the clock jumps, an hourly job fires once per wall-clock
hour, and an interval trigger keeps firing every N real seconds whatever the wall clock does.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from relaykit import Client, Worker, cron_trigger, interval_trigger
from relaykit.definitions.triggers import Trigger
from relaykit.testing import ManualClock


def _define(client: Client, zone: str) -> None:
    jobs: dict[str, Trigger] = {
        "daily-0130": cron_trigger("30 1 * * *", timezone=zone),
        "daily-0230": cron_trigger("30 2 * * *", timezone=zone),
        "hourly": cron_trigger("0 * * * *", timezone=zone),
        "every-hour": interval_trigger(seconds=3600),
    }
    for job_id, trigger in jobs.items():

        async def record(payload: Any, io: Any, ctx: Any) -> Any:
            return payload

        client.define_job(id=job_id, version="1.0.0", trigger=trigger, run=record)


def _night(db_url: str, zone: str, start: str, hours: int) -> dict[str, list[str]]:
    """Run two workers in turns from ``start`` for ``hours``; the local fire times per job."""
    clock = ManualClock(start=datetime.fromisoformat(start).timestamp())
    clients = [Client("dst", database_url=db_url, clock=clock) for _ in range(2)]
    for client in clients:
        _define(client, zone)

    async def go() -> dict[str, list[str]]:
        for step in range(hours * 6):
            clock.advance(600)
            for client in (clients[step % 2], clients[(step + 1) % 2]):
                await Worker(client, exit_when_idle=True).run()
        store = await clients[0].open()
        fired: dict[str, list[str]] = {}
        for job_id in clients[0].jobs:
            runs = await store.list_runs(job_id=job_id, limit=1000)
            results = [await clients[0].get_run(r.id) for r in runs]
            assert {r.status for r in results} <= {"succeeded"}
            stamps = sorted(datetime.fromisoformat(r.output["ts"]) for r in results)
            fired[job_id] = [_local(ts, zone) for ts in stamps]
        for client in clients:
            await client.close()
        return fired

    return asyncio.run(go())


def _local(ts: datetime, zone: str) -> str:
    return ts.astimezone(ZoneInfo(zone)).strftime("%H:%M%z")


# New York, 2024-11-03: 02:00 EDT becomes 01:00 EST. From 22:00 EDT to 05:00 EST (8 real hours;
# the schedules are registered at the first pass, 22:10).
NEW_YORK_FALL_BACK = {
    "daily-0130": ["01:30-0400"],  # once, not again at 01:30 EST
    "daily-0230": ["02:30-0500"],
    "hourly": [
        "23:00-0400",
        "00:00-0400",
        "01:00-0400",
        "02:00-0500",
        "03:00-0500",
        "04:00-0500",
        "05:00-0500",
    ],
    # absolute seconds: the repeated hour gets two runs, 3600 s apart
    "every-hour": [
        "23:10-0400",
        "00:10-0400",
        "01:10-0400",
        "01:10-0500",
        "02:10-0500",
        "03:10-0500",
        "04:10-0500",
    ],
}

# New York, 2024-03-10: 02:00 EST becomes 03:00 EDT. From 22:00 EST to 06:00 EDT (7 real hours).
NEW_YORK_SPRING_FORWARD = {
    "daily-0130": ["01:30-0500"],
    "daily-0230": ["03:00-0400"],  # 02:30 never happens: it fires when the clock jumps
    "hourly": [
        "23:00-0500",
        "00:00-0500",
        "01:00-0500",
        "03:00-0400",
        "04:00-0400",
        "05:00-0400",
        "06:00-0400",
    ],
    "every-hour": [
        "23:10-0500",
        "00:10-0500",
        "01:10-0500",
        "03:10-0400",
        "04:10-0400",
        "05:10-0400",
    ],
}

# Berlin, 2024-10-27: 03:00 CEST becomes 02:00 CET. From 22:00 CEST to 05:00 CET (8 real hours).
BERLIN_FALL_BACK = {
    "daily-0130": ["01:30+0200"],
    "daily-0230": ["02:30+0200"],  # once, not again at 02:30 CET
    "hourly": [
        "23:00+0200",
        "00:00+0200",
        "01:00+0200",
        "02:00+0200",
        "03:00+0100",
        "04:00+0100",
        "05:00+0100",
    ],
    "every-hour": [
        "23:10+0200",
        "00:10+0200",
        "01:10+0200",
        "02:10+0200",
        "02:10+0100",
        "03:10+0100",
        "04:10+0100",
    ],
}


@pytest.mark.parametrize(
    ("zone", "start", "hours", "expected"),
    [
        pytest.param(
            "America/New_York", "2024-11-02T22:00-04:00", 8, NEW_YORK_FALL_BACK, id="ny-fall"
        ),
        pytest.param(
            "America/New_York", "2024-03-09T22:00-05:00", 7, NEW_YORK_SPRING_FORWARD, id="ny-spring"
        ),
        pytest.param("Europe/Berlin", "2024-10-26T22:00+02:00", 8, BERLIN_FALL_BACK, id="berlin"),
    ],
)
def test_one_run_per_wall_clock_slot_across_the_night(
    db_url: str, zone: str, start: str, hours: int, expected: dict[str, list[str]]
) -> None:
    assert _night(db_url, zone, start, hours) == expected
