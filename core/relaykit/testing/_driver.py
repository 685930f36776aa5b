"""How an env executes work: claiming runs itself, on its own loop, and moving its clock.

``drive`` executes one run (and the runs it invoked); with ``skip`` it moves the clock to the
next timer — a wait, a retry delay, a delayed start — whenever nothing else can run, and stops
when the run ends or only the test can move it on (an event, a connection). ``drain``
executes everything runnable now (due events, schedule slots, any run) without moving the
clock; ``advance`` moves the clock from due time to due time, draining at each.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Final

from ..client import Client, _plain
from ..engine.scheduler import Scheduler
from ..errors import RelaykitError, UnknownRun
from ..records import RunRecord, RunResult, RunStatus, TaskRecord, TaskStatus
from ..store import Store
from ._clock import ManualClock

if TYPE_CHECKING:
    from ..definitions.jobs import Job
    from ..engine.engine import Engine

#: Attempts one env call may execute before it decides that a run loops without end.
MAX_ATTEMPTS: Final = 10_000
_ALL_RUNS: Final = 1_000_000
#: Run states ``drive`` hands back at once: the test must act (or another worker has it).
_HANDED_BACK: Final = frozenset({RunStatus.WAITING_FOR_CONNECTION, RunStatus.RUNNING})


class Budget:
    """Counts the attempts one env call executes (see ``MAX_ATTEMPTS``)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.used = 0

    def spend(self) -> None:
        """Count one attempt; raise when the call has executed too many."""
        self.used += 1
        if self.used > MAX_ATTEMPTS:
            raise RelaykitError(
                f"{self.what} executed {MAX_ATTEMPTS:,} attempts and there is still work due; "
                "a run may loop without end (a task key reused in a loop with wait(0), an "
                "interval trigger of a second over a long env.advance?)"
            )


class Driver:
    """Executes the bound client's runs against the env's store, on the env's loop."""

    def __init__(self, client: Client, engine: Engine, store: Store, clock: ManualClock) -> None:
        self.client = client
        self.engine = engine
        self.store = store
        self.clock = clock
        self.scheduler = Scheduler(engine)
        # the order the env met runs in: runs made in one millisecond of a frozen clock have
        # ids in random order
        self._order: dict[str, int] = {}

    async def start(
        self, job: Job | str, payload: Any, idempotency_key: str | None, *, skip: bool
    ) -> RunResult:
        """Create a run of ``job`` and drive it (skipping time with ``skip``)."""
        target = self.client.get_job(job)
        run = await self.engine.create_run(target, _plain(payload), idempotency_key=idempotency_key)
        self._met(run.id)
        return await self.drive(run.id, Budget("env.run()" if skip else "env.start()"), skip=skip)

    async def drive(self, run_id: str, budget: Budget, *, skip: bool) -> RunResult:
        """Execute ``run_id`` and the runs it invoked as far as they go (see the module)."""
        while True:
            await self.engine.deliver_due_events()
            claimed = await self._claim(run_id)
            if claimed is not None:
                await self._execute(claimed, budget)
                continue
            run = await self.store.get_run(run_id)
            if run is None:
                raise UnknownRun(f"no run {run_id!r} in this env; env.runs() lists its runs")
            if not skip or run.status.is_terminal or run.status in _HANDED_BACK:
                break
            due = await self._next_timer(run_id)
            if due is None:  # it waits for the test (an event), or for a limit to free up
                break
            self.clock.advance(due - self.clock.now())
        return await self.engine.result(run_id)

    async def drain(self, budget: Budget) -> list[str]:
        """Execute everything runnable now; return the ids of the runs executed."""
        await self.scheduler.sync()  # jobs defined since the env was made
        ran: dict[str, None] = {}
        while True:
            delivered = await self.engine.deliver_due_events()
            fired = await self.scheduler.tick()
            run = await self._claim()
            if run is None:
                if delivered or fired:
                    continue
                return list(ran)
            ran[run.id] = None
            await self._execute(run, budget)

    async def advance(self, seconds: float) -> list[str]:
        """Move the clock by ``seconds``, draining at every due time on the way."""
        if not isinstance(seconds, int | float) or seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"env.advance(seconds): seconds must be >= 0, got {seconds!r}")
        budget = Budget("env.advance()")
        target = self.clock.now() + seconds
        ran = dict.fromkeys(await self.drain(budget))
        while True:
            due = await self.store.next_wakeup(job_ids=list(self.client.jobs))
            now = self.clock.now()
            if due is None or due > target:
                break
            stuck = due <= now  # due already, yet nothing ran: held back by a limit
            self.clock.advance(max(0.0, due - now))
            more = await self.drain(budget)
            ran.update(dict.fromkeys(more))
            if stuck and not more:
                break
        self.clock.advance(max(0.0, target - self.clock.now()))
        ran.update(dict.fromkeys(await self.drain(budget)))
        return list(ran)

    async def results(self, run_ids: list[str]) -> list[RunResult]:
        """The runs with these ids, in this order."""
        return [await self.engine.result(run_id) for run_id in run_ids]

    async def runs(self, job: Job | str | None) -> list[RunResult]:
        """Every run (of ``job``), oldest first; runs made at one instant in the order the
        env met them."""
        job_id = None if job is None else self.client.get_job(job).id
        runs = await self.store.list_runs(job_id=job_id, limit=_ALL_RUNS)
        late = len(self._order)  # runs the env never met (queued by app code) come after
        ordered = sorted(runs, key=lambda r: (r.created_at, self._order.get(r.id, late), r.id))
        return await self.results([r.id for r in ordered])

    async def recorded(self) -> list[tuple[str, TaskRecord]]:
        """Every task recorded in the env, with its run's job id."""
        found: list[tuple[str, TaskRecord]] = []
        for run in await self.store.list_runs(limit=_ALL_RUNS):
            found.extend((run.job_id, t) for t in await self.store.load_tasks(run.id))
        return found

    async def _execute(self, run: RunRecord, budget: Budget) -> None:
        budget.spend()
        self._met(run.id)
        await self.engine.execute(run)

    def _met(self, run_id: str) -> None:
        self._order.setdefault(run_id, len(self._order))

    async def _claim(self, run_id: str | None = None) -> RunRecord | None:
        now = self.clock.now()
        claimed = await self.store.claim_runs(
            owner=self.engine.owner,
            now=now,
            lease_until=now + self.engine.lease_seconds,
            limit=1,
            job_ids=list(self.client.jobs),
            run_id=run_id,
            family=run_id is not None,
        )
        return claimed[0] if claimed else None

    async def _next_timer(self, run_id: str) -> float | None:
        """The next due time of the run or the runs it invoked, when one of them waits on a
        timer; None when they only wait for the test (events) or for nothing time brings."""
        now = self.clock.now()
        due_times: list[float] = []
        timer = False
        for run in await self._family(run_id):
            due = run.next_attempt_at
            if run.status not in (RunStatus.QUEUED, RunStatus.WAITING) or due is None:
                continue
            if due <= now:
                continue
            due_times.append(due)
            if run.status is RunStatus.QUEUED or _has_timer(
                await self.store.load_tasks(run.id), now
            ):
                timer = True
        return min(due_times) if timer else None

    async def _family(self, run_id: str) -> list[RunRecord]:
        """The run and the runs it invoked, and theirs."""
        runs = await self.store.list_runs(limit=_ALL_RUNS)
        by_id = {r.id: r for r in runs}
        children: dict[str, list[str]] = defaultdict(list)
        for r in runs:
            if r.parent_run_id is not None:
                children[r.parent_run_id].append(r.id)
        found, todo = [], [run_id]
        while todo:
            current = todo.pop()
            if current in by_id:
                found.append(by_id[current])
                todo.extend(children[current])
        return found


def _has_timer(tasks: list[TaskRecord], now: float) -> bool:
    """Whether a task waits on time alone: a wait, or a retry delay (a failed attempt)."""
    return any(
        t.status is TaskStatus.WAITING
        and t.next_attempt_at is not None
        and t.next_attempt_at > now
        and (t.kind == "wait" or t.error is not None)
        for t in tasks
    )


__all__ = ["MAX_ATTEMPTS", "Budget", "Driver"]
