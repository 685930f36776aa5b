"""The schedules aggregate: cron and interval schedules, each (schedule, slot) fired once."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..records import RunRecord, ScheduleFire, ScheduleSpec
from ._flow import insert_run
from ._tx import Database, Tx


class Schedules:
    """Schedules, written once over ``Database``."""

    _db: Database

    async def sync_schedules(
        self, specs: Sequence[ScheduleSpec], *, first_fire: Callable[[ScheduleSpec], float]
    ) -> None:
        """Add new schedules, re-time changed ones, keep the others' timing."""

        async def work(tx: Tx) -> None:
            for spec in sorted(specs, key=lambda s: s.id):  # id order: no deadlocks
                row = await tx.fetch_one("get_schedule", (spec.id,))
                # ``active`` is true on PostgreSQL, 1 on SQLite: equal in Python either way
                if row == (spec.kind, spec.spec, spec.timezone, True):
                    continue
                params = (spec.id, spec.job_id, spec.kind, spec.spec, spec.timezone)
                await tx.execute("upsert_schedule", (*params, first_fire(spec)))

        await self._db.write(work)

    async def remove_schedules(self, schedule_ids: Sequence[str]) -> int:
        """Deactivate schedules; return how many were active."""
        if not schedule_ids:
            return 0

        async def work(tx: Tx) -> int:
            return await tx.execute("remove_schedules", (tx.array(schedule_ids),))

        return await self._db.write(work, transaction=False)

    async def fire_due_schedules(
        self,
        *,
        now: float,
        plan: Callable[[ScheduleFire], tuple[float, RunRecord, float] | None],
        limit: int = 100,
    ) -> list[str]:
        """Fire due schedules; each (schedule, slot) at most once, in one transaction with
        moving the schedule on. ``claim_due_schedules`` skips schedules another scheduler is
        firing on PostgreSQL (``FOR UPDATE SKIP LOCKED``); SQLite's ``BEGIN IMMEDIATE`` lets
        one scheduler in at a time."""

        async def work(tx: Tx) -> list[str]:
            created: list[str] = []
            rows = await tx.fetch_all("claim_due_schedules", (now, limit))
            for sid, job_id, kind, spec, tz, next_at, last_at in rows:
                due = ScheduleFire(ScheduleSpec(sid, job_id, kind, spec, tz), next_at, last_at)
                planned = plan(due)
                if planned is None:
                    continue
                slot, run, following = planned
                if await tx.execute("record_fire", (sid, slot, run.id)):
                    await insert_run(tx, run)
                    created.append(run.id)
                await tx.execute("move_schedule", (following, slot, sid))
            return created

        return await self._db.write(work)
