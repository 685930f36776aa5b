"""The runs aggregate: creating, reading, leasing, ending, cancelling and replaying runs.

Written once over ``Database``. Two pieces are each backend's own: ``claim_runs``, where the
two databases' concurrency models really differ (PostgreSQL skips rows other claimers hold
and counts limited groups under an advisory lock; SQLite has one writer at a time), and
``close_runs`` (``_tx.CloseRuns``), which PostgreSQL does for a batch in one recursive
statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import LeaseLost
from ..records import (
    TOKEN_WAIT_PREFIX,
    ErrorInfo,
    EventWait,
    LogRecord,
    RunRecord,
    RunStatus,
    TaskRecord,
)
from ._flow import has_flow_keys, insert_run
from ._rows import SUSPENDED, attempt_params, dump_json, log_params, run_from_row, task_params
from ._tx import CloseRuns, Database, Tx

#: ``list_runs``'s query by which filters are given (job id, status, keyset page): no SQL
#: built per call, and each is one index range (migration 0009).
_LIST_RUNS = {
    (False, False, False): "list_runs",
    (False, False, True): "list_runs_before",
    (False, True, False): "list_runs_with_status",
    (False, True, True): "list_runs_with_status_before",
    (True, False, False): "list_runs_of_job",
    (True, False, True): "list_runs_of_job_before",
    (True, True, False): "list_runs_of_job_with_status",
    (True, True, True): "list_runs_of_job_with_status_before",
}


class Runs:
    """Runs, written once over ``Database``."""

    _db: Database
    _close_runs: CloseRuns

    async def create_run(self, run: RunRecord, *, tags: Sequence[str] = ()) -> RunRecord:
        """Insert a new run (or find the one its idempotency or debounce key leads to), with
        ``tags`` added to it in the same transaction; one statement, no transaction, for a
        run without flow-control keys, groups or tags."""

        async def work(tx: Tx) -> RunRecord:
            stored = await insert_run(tx, run)
            if tags:
                rows = [(stored.id, t) for t in sorted(set(tags))]
                await tx.execute_many("insert_run_tag", rows)
            return stored

        return await self._db.write(work, transaction=has_flow_keys(run) or bool(tags))

    async def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""

        async def work(tx: Tx) -> RunRecord | None:
            row = await tx.fetch_one("get_run", (run_id,))
            return None if row is None else run_from_row(row)

        return await self._db.read(work)

    async def unfinished_by_job(self) -> dict[str, dict[str, int]]:
        """How many runs of each job have not ended, by status (queued, running, waiting...)."""

        async def work(tx: Tx) -> dict[str, dict[str, int]]:
            found: dict[str, dict[str, int]] = {}
            for job_id, status, count in await tx.fetch_all("unfinished_by_job", ()):
                found.setdefault(str(job_id), {})[str(status)] = int(count)
            return found

        return await self._db.read(work)

    async def get_run_code(self, run_id: str) -> str | None:
        """The code fingerprint the first attempt that ended recorded (None: none yet)."""

        async def work(tx: Tx) -> str | None:
            row = await tx.fetch_one("get_run_code", (run_id,))
            return None if row is None or row[0] is None else str(row[0])

        return await self._db.read(work)

    async def list_runs(
        self,
        *,
        job_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first (skipping the first ``offset``, or after ``before``)."""
        name = _LIST_RUNS[job_id is not None, status is not None, before is not None]
        at, last = before if before is not None else (None, None)
        params = {
            "job": job_id,
            "status": status,
            "limit": limit,
            "offset": offset,
            "before_at": at,
            "before_id": last,
        }

        async def work(tx: Tx) -> list[RunRecord]:
            return [run_from_row(r) for r in await tx.fetch_all(name, params)]

        return await self._db.read(work)

    async def run_ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        """The ids of up to ``limit`` runs that start with ``prefix``, in id order."""
        # An id range rather than LIKE: an index range on the primary key in both databases
        # (byte order: COLLATE "C" in PostgreSQL), and no escaping of ``%``/``_`` in prefixes.
        high = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\x7f"
        params = {"low": prefix, "high": high, "limit": limit}

        async def work(tx: Tx) -> list[str]:
            return [str(r[0]) for r in await tx.fetch_all("run_ids_with_prefix", params)]

        return await self._db.read(work)

    async def runs_of_event(
        self, event_id: str, *, created_from: float, limit: int
    ) -> list[RunRecord]:
        """The runs event ``event_id`` started, oldest first (created at or after
        ``created_from``, the event's time: an index range from there, not the whole table)."""
        params = {"event": event_id, "from_at": created_from, "limit": limit}

        async def work(tx: Tx) -> list[RunRecord]:
            return [run_from_row(r) for r in await tx.fetch_all("runs_of_event", params)]

        return await self._db.read(work)

    async def runs_containing(self, text: str, *, limit: int) -> list[RunRecord]:
        """Up to ``limit`` runs, newest first, whose payload or output JSON text contains
        ``text`` (case-sensitive; a scan of the runs table, for the dashboard's search)."""
        params = {"text": text, "limit": limit}

        async def work(tx: Tx) -> list[RunRecord]:
            return [run_from_row(r) for r in await tx.fetch_all("runs_containing", params)]

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

    async def replay_run(
        self, run_id: str, *, new_id: str, now: float, payload: str | None = None
    ) -> RunRecord | None:
        """Queue a copy of ``run_id`` (same job, payload unless ``payload`` is given, groups,
        priority) as ``new_id``."""
        params = {"id": run_id, "new": new_id, "now": now, "payload": payload}

        async def work(tx: Tx) -> bool:
            if not await tx.execute("replay_run", params):
                return False
            await tx.execute("replay_groups", params)
            return True

        return await self.get_run(new_id) if await self._db.write(work) else None

    async def end_attempt(
        self,
        *,
        run_id: str,
        epoch: int,
        status: RunStatus,
        now: float,
        output: str | None = None,
        error: ErrorInfo | None = None,
        wake_at: float | None = None,
        tasks: Sequence[TaskRecord] = (),
        logs: Sequence[LogRecord] = (),
        event_waits: Sequence[EventWait] = (),
        code: str | None = None,
    ) -> None:
        """Write the attempt's last records and the run's new status in one transaction,
        fenced by the epoch (``end_attempt`` matches nothing once the run is no longer running
        under it: ``LeaseLost``, nothing written). A run that ended leaves no task waiting,
        drops its event waits and wakes the run that invoked it (``close_runs``); a waiting
        run stores its new event waits, and is due at once when one of its waits was matched
        meanwhile or the child runs one of its tasks waits for have all ended.

        Where the dialect has it (PostgreSQL), a run that ended with nothing more to write
        and no parent or children is one statement, ``end_attempt_ended``."""
        ended = None if status in SUSPENDED else now
        args = {
            "status": status.value,
            "output": output,
            "error": dump_json(error),
            "ended": ended,
            "wake_at": wake_at,
            "id": run_id,
            "epoch": epoch,
            "now": now,
            "wakes": status is RunStatus.WAITING and wake_at is not None,
            "code": code,
        }

        async def alone(tx: Tx) -> bool:
            return bool(await tx.execute("end_attempt_ended", args))

        async def work(tx: Tx) -> None:
            if ended is not None:
                await tx.execute("lock_parent", args)
            if await tx.execute("end_attempt", args) == 0:
                raise LeaseLost(f"run {run_id}: lease lost before the attempt could be recorded")
            if tasks:
                await _write_tasks(tx, run_id, tasks)
            if logs:
                await tx.execute_many("insert_log", [log_params(run_id, g) for g in logs])
            if ended is not None:
                await self._close_runs(tx, [run_id], now)
                return
            if event_waits:
                ordered = sorted(event_waits, key=lambda w: w.task_key)
                rows = [(run_id, w.task_key, w.event_name, w.filter) for w in ordered]
                await tx.execute_many("insert_event_wait", rows)
                if any(w.event_name.startswith(TOKEN_WAIT_PREFIX) for w in ordered):
                    await tx.execute("resolve_done_token_waits", args)
            await tx.execute("due_if_matched", args)

        if ended is not None and not (tasks or logs) and self._db.supports("end_attempt_ended"):
            if await self._db.write(alone, transaction=False):
                return  # otherwise: the run has a parent or children, or lost its lease
        await self._db.write(work)

    async def cancel_run(self, run_id: str, *, now: float) -> RunRecord | None:
        """Cancel a run that has not ended, its waiting tasks and its event waits, and wake
        the run that invoked it; a running run's next fenced write is refused."""
        args = {"now": now, "id": run_id}

        async def work(tx: Tx) -> None:
            await tx.execute("lock_parent", args)
            if await tx.execute("cancel_run", args):
                await self._close_runs(tx, [run_id], now)

        await self._db.write(work)
        return await self.get_run(run_id)

    async def next_wakeup(self, *, job_ids: Sequence[str]) -> float | None:
        """The earliest due time or lease expiry among runs of ``job_ids``, due time of a
        pending event, or schedule's next fire time."""

        async def work(tx: Tx) -> float | None:
            row = await tx.fetch_one("next_wakeup", {"jobs": tx.array(job_ids)})
            return None if row is None or row[0] is None else float(row[0])

        return await self._db.read(work)

    async def has_unfinished_work(self, *, job_ids: Sequence[str], now: float) -> bool:
        """True when a run of ``job_ids`` is due now or leased by any worker, or a pending
        event or a schedule is due."""

        async def work(tx: Tx) -> bool:
            row = await tx.fetch_one("has_unfinished_work", {"jobs": tx.array(job_ids), "now": now})
            return bool(row and row[0])

        return await self._db.read(work)


async def _write_tasks(tx: Tx, run_id: str, tasks: Sequence[TaskRecord]) -> None:
    """An attempt's last task rows, and the history rows of the task attempts they end (the
    attempts that failed and retry later), inside ``end_attempt``'s fenced transaction."""
    await tx.execute_many("upsert_task_unfenced", [task_params(run_id, t) for t in tasks])
    ends = [t.ended_attempt for t in tasks if t.ended_attempt is not None]
    if ends:
        await tx.execute_many("insert_task_attempt", [attempt_params(run_id, a) for a in ends])
