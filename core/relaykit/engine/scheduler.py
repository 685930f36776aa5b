"""The scheduler: cron and interval triggers become runs, once per (schedule, time).

Fire times live in the store (``schedules``), not in memory: any number of workers may run the
scheduler, and a (schedule, slot) pair is recorded once, so no slot fires twice. After downtime
the missed slots fire once, as the latest missed slot, not once each. A scheduled run's payload
is ``{"ts": <this slot>, "last_ts": <the previous slot or None>}`` (ISO 8601, UTC).

Cron slots are wall-clock times in the schedule's timezone and each fires once across
daylight-saving changes (``relaykit.definitions.cron`` has the rule); intervals are absolute
seconds and ignore the wall clock.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .._base.serde import dumps
from ..definitions.cron import latest_slot, next_slot_after
from ..definitions.triggers import CronTrigger, IntervalTrigger
from ..records import RunRecord, ScheduleFire, ScheduleSpec

if TYPE_CHECKING:
    from .engine import Engine

_log = logging.getLogger("relaykit.engine.scheduler")


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


class Scheduler:
    """Keeps the store's schedules in line with the jobs and fires the due ones.

    A schedule whose fire times cannot be computed (a stored expression that never fires, a
    timezone this machine does not know) never stops the worker: it is logged once, in one
    line naming it, and skipped; a stored one is deactivated (its row is kept), so it stops
    coming due. Registering it again with a valid expression revives it.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def sync(self) -> None:
        """Register the jobs' schedules (first fire: the next slot from now)."""
        now = self._engine.clock.now()
        specs, first = [], {}
        for spec in schedule_specs(self._engine):
            try:
                first[spec.id] = next_slot_after(spec, now)
            except Exception as exc:  # whatever the cause, one bad schedule stops nothing else
                _report(spec, exc, "it is skipped; fix the job's trigger")
            else:
                specs.append(spec)
        await self._engine.store.sync_schedules(specs, first_fire=lambda spec: first[spec.id])

    async def tick(self) -> list[str]:
        """Fire what is due; return the ids of the runs created."""
        now = self._engine.clock.now()
        broken: list[str] = []
        created = await self._engine.store.fire_due_schedules(
            now=now, plan=lambda due: self._plan(due, now, broken)
        )
        if broken:
            await self._engine.store.remove_schedules(broken)
        return created

    def _plan(
        self, due: ScheduleFire, now: float, broken: list[str]
    ) -> tuple[float, RunRecord, float] | None:
        job = self._engine.jobs.get(due.spec.job_id)
        if job is None or not job.enabled:
            return None
        try:
            slot = latest_slot(due, now)
            following = next_slot_after(due.spec, now, anchor=slot)
        except Exception as exc:  # whatever the cause, one bad schedule stops nothing else
            _report(due.spec, exc, "it is deactivated (register it again with a valid schedule)")
            broken.append(due.spec.id)
            return None
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
        return slot, run, following


def _report(spec: ScheduleSpec, exc: Exception, outcome: str) -> None:
    if spec.kind == "cron":
        what = f"cron {spec.spec!r} in {spec.timezone}"
    else:
        what = f"every {spec.spec!r} seconds"
    problem = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever exc says
    _log.error(
        "scheduler: schedule %r of job %r (%s) has no computable fire time (%s); %s",
        spec.id,
        spec.job_id,
        what,
        problem,
        outcome,
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
