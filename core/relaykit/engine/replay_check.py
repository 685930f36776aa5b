"""``relaykit check-replay``: would the stored runs still replay on the code loaded now?

Each run is replayed *dry*: its run function is called with its recorded tasks, as a worker
would after a deploy, but nothing is executed or written. Recorded tasks return their
recorded outputs; the first piece of new work (a task not recorded yet, a wait that has not
started, an invoke) ends the replay there, where a worker would carry on. What the replay met
decides the verdict:

- ``compatible``: it reached new work (or the end of the run function) with every recorded
  task where the new code asked for it;
- ``diverges``: a key names different work than recorded (``NonDeterministicRun``), a key is
  used twice, or the replay reached new work while recorded tasks of the same scope were
  never asked for (a renamed or moved key: its work would be done again);
- ``fails``: the new code raises on the recorded history (or rejects the stored payload);
- ``unknown_job``: the run's job id is not defined by the code any more;
- ``stuck``: the run function waited longer than the time limit on something that is not a
  relaykit task (it is reported, not waited for).

The store is read, never written: every write the replay would make stops it instead (a
read-only view of the store), and so does the lease check that precedes every task's
function, so no task body, send, KV write or child run can happen.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from ..records import RunRecord, RunStatus, TaskRecord
from ..store import Store
from .attempt import Outcome, Suspend, headline_frame, user_frame
from .io import IO
from .runner import Attempt

if TYPE_CHECKING:
    from .engine import Engine

#: The statuses checked by default: runs a worker will replay.
UNFINISHED: tuple[RunStatus, ...] = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.WAITING,
    RunStatus.WAITING_FOR_CONNECTION,
)

# The store methods a dry replay may call: reads. Any other one is a write and ends it.
_READS = frozenset(
    {
        "url",
        "get_run",
        "list_runs",
        "load_tasks",
        "load_event_matches",
        "load_logs",
        "get_event",
        "list_events",
        "kv_get",
        "get_connection",
        "list_connections",
        "schema_version",
        "next_wakeup",
        "has_unfinished_work",
    }
)


class NewWork(Suspend):
    """The dry replay reached work that is not recorded: a worker would carry on here."""

    def __init__(self, what: str) -> None:
        super().__init__(None)
        self.what = what


class _ReadOnlyStore:
    """A store whose reads go through and whose writes end the dry replay."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in _READS:
            return getattr(self._store, name)

        async def write(*args: Any, **kwargs: Any) -> Any:
            raise NewWork(f"store.{name}")

        return write


@dataclass(frozen=True, slots=True)
class ReplayVerdict:
    """What replaying one run on the current code found."""

    run_id: str
    job_id: str
    job_version: str
    status: str
    verdict: str
    message: str = ""
    #: file:line in the user's code where the replay diverged, failed or reached new work
    where: str | None = None
    #: recorded tasks the replay returned from the record
    replayed: int = 0
    recorded: int = 0
    #: the first new work the replay reached (a task key), where a worker would carry on
    next_key: str | None = None
    #: the code fingerprint the run started on (None: not recorded) and the current code's
    code: str | None = None
    code_now: str | None = None

    @property
    def ok(self) -> bool:
        """Compatible (the run will replay on this code)."""
        return self.verdict == "compatible"

    def as_json(self) -> dict[str, Any]:
        """The verdict as a JSON object (``relaykit check-replay --json``)."""
        return {**dataclasses.asdict(self), "ok": self.ok}


def _unreached(recorded: Sequence[TaskRecord], seen: set[str]) -> list[str]:
    """Recorded keys the replay never asked for although their scope was replayed (a
    nested key counts only when its parent was asked for and not returned whole from the
    record)."""
    by_key = {r.key: r for r in recorded}
    out = []
    for rec in recorded:
        if rec.key in seen:
            continue
        parent = by_key.get(rec.parent) if rec.parent else None
        if rec.parent is None or (
            rec.parent in seen and parent is not None and parent.status.value != "completed"
        ):
            out.append(rec.key)
    return out


async def check_run(engine: Engine, run: RunRecord, *, stuck_after: float = 5.0) -> ReplayVerdict:
    """Replay one stored run dry on ``engine``'s jobs."""
    base = ReplayVerdict(
        run_id=run.id,
        job_id=run.job_id,
        job_version=run.job_version,
        status=run.status.value,
        verdict="compatible",
    )
    job = engine.jobs.get(run.job_id)
    base = replace(
        base,
        code=await engine.store.get_run_code(run.id),
        code_now=None if job is None else job.fingerprint,
    )
    if job is None:
        return replace(
            base,
            verdict="unknown_job",
            message=f"job {run.job_id!r} is not defined by this code; the run cannot resume "
            "(define the job again, or cancel the run)",
        )
    store = engine.store
    recorded = await store.load_tasks(run.id)
    matches = await store.load_event_matches(run.id)

    async def stop_at_new_work(run_id: str) -> None:
        raise NewWork("a task")

    def no_spawn(*args: Any) -> RunRecord:
        raise NewWork("io.invoke")

    services = dataclasses.replace(
        engine.services,
        store=cast("Store", _ReadOnlyStore(store)),
        ensure_lease=stop_at_new_work,
        spawn=no_spawn,
    )
    attempt = Attempt(
        job=job,
        run=dataclasses.replace(run, attempt=run.attempt + 1),
        recorded=recorded,
        log_keys=set(),  # its log lines are never written: which were is of no concern
        event_matches=matches,
        services=services,
    )
    attempt.dry = True
    base = replace(base, recorded=len(recorded))
    try:
        outcome = await asyncio.wait_for(attempt.execute(IO), stuck_after)
    except TimeoutError:
        return replace(
            base,
            verdict="stuck",
            message=f"the run function did not reach new work within {stuck_after:g} s: it waits "
            "on something that is not a relaykit task",
        )
    return _verdict(base, attempt, outcome, recorded)


def _verdict(
    base: ReplayVerdict,
    attempt: Attempt,
    outcome: Outcome,
    recorded: Sequence[TaskRecord],
) -> ReplayVerdict:
    recorded_keys = {r.key for r in recorded}
    seen = attempt.seen_keys
    replayed = len(seen & recorded_keys)
    new = sorted(seen - recorded_keys - {k for k in seen if k.startswith("patch:")})
    base = replace(base, replayed=replayed, next_key=new[0] if new else None)
    if attempt.fatal is not None:
        return replace(
            base,
            verdict="diverges",
            message=str(attempt.fatal),
            where=user_frame(attempt.fatal),
        )
    if outcome.status is RunStatus.INVALID_PAYLOAD:
        why = outcome.error["message"] if outcome.error else ""
        return replace(
            base,
            verdict="fails",
            message=f"the stored payload is invalid for this code: {why}",
        )
    if outcome.status is RunStatus.FAILED and outcome.error is not None:
        error = outcome.error
        return replace(
            base,
            verdict="fails",
            message=f"the replay raises {error['type']}: {error['message']}",
            where=headline_frame(error.get("traceback")),
        )
    unreached = _unreached(recorded, seen)
    if new and unreached:
        return replace(
            base,
            verdict="diverges",
            message=f"the replay reached new work ({', '.join(repr(k) for k in new[:3])}) but "
            f"never asked for recorded task(s) {', '.join(repr(k) for k in unreached[:5])}: "
            "a renamed or moved key would do its work again - keep the recorded key, or "
            "guard the change with io.patched()",
        )
    return base


async def check_replay(
    engine: Engine,
    *,
    job_id: str | None = None,
    statuses: Sequence[RunStatus] = UNFINISHED,
    limit: int = 10_000,
    stuck_after: float = 5.0,
    concurrency: int = 16,
) -> list[ReplayVerdict]:
    """Replay dry every stored run of ``statuses`` (of ``job_id``, if given), at most
    ``limit`` runs, newest first per status; ``concurrency`` runs at a time (each waits on
    its store reads), verdicts in that order."""
    runs: list[RunRecord] = []
    for status in statuses:
        if len(runs) >= limit:
            break
        runs += await engine.store.list_runs(
            job_id=job_id, status=status.value, limit=limit - len(runs)
        )
    gate = asyncio.Semaphore(concurrency)

    async def one(run: RunRecord) -> ReplayVerdict:
        async with gate:
            return await check_run(engine, run, stuck_after=stuck_after)

    return list(await asyncio.gather(*(one(r) for r in runs)))


__all__ = ["UNFINISHED", "NewWork", "ReplayVerdict", "check_replay", "check_run"]
