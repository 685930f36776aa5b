"""The runs aggregate: creating, reading, leasing and replaying runs.

Written once over ``Database``. ``claim_runs``, ``end_attempt``, ``cancel_run``,
``next_wakeup`` and ``has_unfinished_work`` are each backend's own (see ``sqlite`` and
``postgres``): claiming is where the two databases' concurrency models really differ, and the
others close runs with a batched recursive statement on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._models import RunRecord
from ._flow import has_flow_keys, insert_run
from ._rows import run_from_row
from ._tx import Database, Tx

#: ``list_runs``'s query by which filters are given (job id, status): no SQL built per call.
_LIST_RUNS = {
    (False, False): "list_runs",
    (True, False): "list_runs_of_job",
    (False, True): "list_runs_with_status",
    (True, True): "list_runs_of_job_with_status",
}


class Runs:
    """Runs, written once over ``Database``."""

    _db: Database

    async def create_run(self, run: RunRecord) -> RunRecord:
        """Insert a new run (or find the one its idempotency or debounce key leads to); one
        statement, no transaction, for a run without flow-control keys or groups."""

        async def work(tx: Tx) -> RunRecord:
            return await insert_run(tx, run)

        return await self._db.write(work, transaction=has_flow_keys(run))

    async def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""

        async def work(tx: Tx) -> RunRecord | None:
            row = await tx.fetch_one("get_run", (run_id,))
            return None if row is None else run_from_row(row)

        return await self._db.read(work)

    async def list_runs(
        self,
        *,
        job_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs, newest first (skipping the first ``offset``)."""
        name = _LIST_RUNS[job_id is not None, status is not None]
        params = {"job": job_id, "status": status, "limit": limit, "offset": offset}

        async def work(tx: Tx) -> list[RunRecord]:
            return [run_from_row(r) for r in await tx.fetch_all(name, params)]

        return await self._db.read(work)

    async def renew_leases(self, *, leases: Mapping[str, int], lease_until: float) -> set[str]:
        """Extend the leases of runs still running under the given epochs; return those ids."""
        if not leases:
            return set()

        async def work(tx: Tx) -> set[str]:
            params = (lease_until, tx.array(leases), tx.array(leases.values()))
            return {r[0] for r in await tx.fetch_all("renew_leases", params)}

        return await self._db.write(work, transaction=False)

    async def release_runs(self, *, leases: Mapping[str, int], now: float) -> None:
        """Make runs still running under the given epochs runnable again at once (and wake
        listening workers)."""
        if not leases:
            return

        async def work(tx: Tx) -> None:
            params = (now, tx.array(leases), tx.array(leases.values()))
            await tx.execute("release_runs", params)

        await self._db.write(work, transaction=False)

    async def replay_run(self, run_id: str, *, new_id: str, now: float) -> RunRecord | None:
        """Queue a copy of ``run_id`` (same job, payload, groups, priority) as ``new_id``."""
        params = {"id": run_id, "new": new_id, "now": now}

        async def work(tx: Tx) -> bool:
            if not await tx.execute("replay_run", params):
                return False
            await tx.execute("replay_groups", params)
            return True

        return await self.get_run(new_id) if await self._db.write(work) else None
