"""The scheduler: cron and interval triggers become runs, once per (schedule, time).

Fire times live in the store (``schedules``), not in memory: any number of workers may run the
scheduler, and a (schedule, slot) pair is recorded once, so no slot fires twice. After downtime
the missed slots fire once, as the latest missed slot, not once each. A scheduled run's payload
is ``{"ts": <this slot>, "last_ts": <the previous slot or None>}`` (ISO 8601, UTC).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from croniter import croniter

from ._models import RunRecord, ScheduleFire, ScheduleSpec
from ._serde import dumps
from .triggers import CronTrigger, IntervalTrigger

if TYPE_CHECKING:
    from ._engine import Engine


def schedule_specs(engine: Engine) -> list[ScheduleSpec]:
    """The schedules of the engine's enabled jobs with cron or interval triggers."""
    specs = []
    for job in engine.jobs.values():
        trigger = job.trigger
        if not job.enabled:
            continue
        if isinstance(trigger, CronTrigger):
            specs.append(
                ScheduleSpec(f"job:{job.id}", job.id, "cron", trigger.expr, trigger.timezone)
            )
        elif isinstance(trigger, IntervalTrigger):
            specs.append(ScheduleSpec(f"job:{job.id}", job.id, "interval", str(trigger.seconds)))
    return specs


def next_slot_after(spec: ScheduleSpec, when: float, anchor: float | None = None) -> float:
    """The first fire time strictly after ``when`` (an interval counts from ``anchor``)."""
    if spec.kind == "interval":
        every = float(spec.spec)
        start = when if anchor is None else anchor
        steps = max(1, math.floor((when - start) / every) + 1)
        return start + steps * every
    local = datetime.fromtimestamp(when, UTC).astimezone(ZoneInfo(spec.timezone))
    nxt: datetime = croniter(spec.spec, local).get_next(datetime)
    return nxt.timestamp()


def latest_slot(due: ScheduleFire, now: float) -> float:
    """The latest fire time at or before ``now`` (at least the due one)."""
    spec = due.spec
    if spec.kind == "interval":
        every = float(spec.spec)
        return due.next_fire_at + math.floor((now - due.next_fire_at) / every) * every
    local = datetime.fromtimestamp(now + 1, UTC).astimezone(ZoneInfo(spec.timezone))
    prev: datetime = croniter(spec.spec, local).get_prev(datetime)
    return max(due.next_fire_at, prev.timestamp())


class Scheduler:
    """Keeps the store's schedules in line with the jobs and fires the due ones."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def sync(self) -> None:
        """Register the jobs' schedules (first fire: the next slot from now)."""
        now = self._engine.clock.now()
        await self._engine.store.sync_schedules(
            schedule_specs(self._engine), first_fire=lambda spec: next_slot_after(spec, now)
        )

    async def tick(self) -> list[str]:
        """Fire what is due; return the ids of the runs created."""
        now = self._engine.clock.now()
        return await self._engine.store.fire_due_schedules(
            now=now, plan=lambda due: self._plan(due, now)
        )

    def _plan(self, due: ScheduleFire, now: float) -> tuple[float, RunRecord, float] | None:
        job = self._engine.jobs.get(due.spec.job_id)
        if job is None or not job.enabled:
            return None
        slot = latest_slot(due, now)
        payload = {
            "ts": _iso(slot),
            "last_ts": None if due.last_fire_at is None else _iso(due.last_fire_at),
        }
        if due.spec.id.startswith("dynamic:"):  # dynamic:<schedule>:<job>:<key>
            payload["key"] = due.spec.id.split(":", 3)[3]
        run = self._engine.new_run(
            job,
            dumps(payload, what="a schedule payload"),
            event_id=None,
            name=f"schedule:{due.spec.id}",
        )
        return slot, run, next_slot_after(due.spec, now, anchor=slot)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
