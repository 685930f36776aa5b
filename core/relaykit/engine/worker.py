"""The worker: claims runnable runs under a lease and executes many of them concurrently.

Waits and retry delays are due times in the store, not sleeps in a slot: the worker sleeps only
until the next due time (or a poll interval, or an in-process wake-up), claims what is due, and
replays it. A run whose worker died is claimed again once its lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import SchemaTooNew, StoreError, StoreUnavailable
from .attempt import Observer, Outcome
from .scheduler import Scheduler

_log = logging.getLogger("relaykit.engine.worker")
#: One INFO line per run that ends here (``docs/observability.md``): job, run id, status and
#: duration as text and as ``extra`` fields; ``relaykit worker`` and ``relaykit dev`` print it.
run_end_log = logging.getLogger("relaykit.worker")

#: The longest pause between two tries while the store keeps failing (the pause doubles from
#: the poll interval up to this).
MAX_BACKOFF_SECONDS = 30.0

if TYPE_CHECKING:
    from ..client import Client
    from ..records import RunRecord
    from ..store import Store
    from .engine import Engine


class Worker:
    """Executes the runs of a client's jobs until stopped.

    ``concurrency`` bounds the runs executed at once by this process. With ``exit_when_idle``
    the worker returns once nothing is runnable and no run is leased by anyone (runs waiting
    for a future time do not keep it busy). ``stop()`` (or SIGTERM/SIGINT under the CLI) stops
    claiming; running attempts get ``grace_seconds`` to finish, then are cancelled and their
    runs handed back for another worker.
    """

    def __init__(
        self,
        client: Client,
        *,
        concurrency: int = 10,
        exit_when_idle: bool = False,
        grace_seconds: float | None = None,
        observer: Observer | None = None,
        depth_interval: float = 15.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"Worker concurrency must be at least 1, got {concurrency}")
        if not depth_interval > 0:
            raise ValueError(f"Worker depth_interval must be above 0 seconds, got {depth_interval}")
        #: seconds between two ``relaykit_queue_depth`` reports (when a plugin wants them)
        self.depth_interval = depth_interval
        self.client = client
        self.concurrency = concurrency
        self.exit_when_idle = exit_when_idle
        self.grace_seconds = grace_seconds
        self._observer = observer
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._leases_noted: set[str] = set()
        self.executed = 0

    async def open_store(self) -> bool:
        """Open the client's store; False when the worker was stopped before it could.

        A store that is away for now (``StoreUnavailable``: the server is down, restarting or
        failing over) is tried again with the worker's backoff, one warning line per try, so
        that workers started while the database restarts wait for it instead of exiting. With
        ``exit_when_idle`` (a batch that should fail fast) and for every other ``StoreError``
        (a wrong URL, user, database; a damaged file) the error is raised at once.
        """
        failures = 0
        while not self._stopping.is_set():
            try:
                await self.client.open()
                return True
            except StoreUnavailable as exc:
                if self.exit_when_idle:
                    raise
                failures += 1
                await self._back_off("the store cannot be reached", exc, failures)
        return False

    async def _back_off(self, what: str, exc: BaseException, failures: int) -> None:
        """Log one line and pause after the ``failures``-th store failure in a row (doubling
        from the poll interval up to ``MAX_BACKOFF_SECONDS``); ``stop()`` ends the pause."""
        pause = min(self.client.poll_interval * 2.0 ** (failures - 1), MAX_BACKOFF_SECONDS)
        _log.warning("worker: %s (%s); retrying in %.1fs", what, " ".join(str(exc).split()), pause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), pause)

    def stop(self) -> None:
        """Stop claiming new runs and shut down gracefully."""
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Look for runnable runs now (called when a run is enqueued in this process)."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and execute runs until stopped (or idle, with ``exit_when_idle``); a store
        that is away for now is waited for first (``open_store``)."""
        if not await self.open_store():
            return
        engine = await self.client.engine(observer=self._observer, on_enqueue=self.wake)
        # A store that can signal work from other processes (PostgreSQL's LISTEN/NOTIFY) wakes
        # the worker at once instead of at its next poll.
        waiter = getattr(engine.store, "wait_for_wakeup", None)
        helpers = [] if waiter is None else [asyncio.create_task(self._listen(waiter, engine))]
        if (report := self.client.plugins.queue_depth_hook()) is not None:
            helpers.append(asyncio.create_task(self._report_depth(engine, report)))
        try:
            await self._loop(engine)
        finally:
            for helper in helpers:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
            self.client.remove_listener(self.wake)
            await self._shutdown(engine)
            await engine.close()

    async def _listen(self, waiter: Any, engine: Engine) -> None:
        while True:
            await waiter(max(engine.poll_interval, 1.0) * 10)
            self._wake.set()

    async def _report_depth(
        self, engine: Engine, report: Callable[[Mapping[str, Mapping[str, int]]], None]
    ) -> None:
        while True:
            try:
                report(await engine.store.unfinished_by_job())
            except StoreError as exc:  # the loop reports the store being away; skip this one
                _log.debug("worker: queue depth not counted (%s)", exc)
            except Exception:  # a plugin's bug must not stop the worker
                _log.exception("worker: a relaykit_queue_depth hook failed")
            await asyncio.sleep(self.depth_interval)

    async def _loop(self, engine: Engine) -> None:
        job_ids = [j.id for j in self.client.jobs.values() if j.enabled]
        scheduler = Scheduler(engine)
        failures, synced = 0, False
        while not self._stopping.is_set():
            try:
                if not synced:  # at start, and again if the store was away then
                    await scheduler.sync()
                    await self._report_vanished(engine)
                    synced = True
                if await self._step(engine, scheduler, job_ids):
                    return
                failures = 0
            except StoreError as exc:  # the database is away: keep trying, it may come back
                if isinstance(exc, SchemaTooNew):
                    raise
                failures += 1
                await self._back_off("the store failed", exc, failures)

    async def _note_leases(self, store: Store, job_ids: list[str], now: float) -> None:
        """Say once per run (a WARNING line) that an idle ``exit_when_idle`` worker waits for
        another worker's lease: a worker that died leaves its runs leased until the lease
        expires, and the wait would otherwise look like a hang."""
        wanted = set(job_ids)
        for run in await store.list_runs(status="running", limit=200):
            expires = run.lease_expires_at
            if run.id in self._leases_noted or run.job_id not in wanted or expires is None:
                continue
            if expires <= now:
                continue
            self._leases_noted.add(run.id)
            until = datetime.fromtimestamp(expires).strftime("%H:%M:%S")
            _log.warning(
                "worker: waiting for run %s (job %s), leased by worker %s until %s (in %.0fs): "
                "it is taken over then if that worker died",
                run.id,
                run.job_id,
                run.lease_owner or "?",
                until,
                expires - now,
            )

    async def _report_vanished(self, engine: Engine) -> None:
        """Warn, once at start, about unfinished runs of jobs this app no longer defines: no
        worker of this code claims them, so they would otherwise wait unseen."""
        for job_id, by_status in (await engine.store.unfinished_by_job()).items():
            count = sum(by_status.values())
            if job_id not in self.client.jobs:
                _log.warning(
                    "worker: %d unfinished run(s) of job %r, which this app does not define, "
                    "will not run here; define the job again, or cancel them "
                    "(relaykit runs list --job %s)",
                    count,
                    job_id,
                    job_id,
                )

    async def _step(self, engine: Engine, scheduler: Scheduler, job_ids: list[str]) -> bool:
        """One pass: deliver due events, fire schedules, claim runs, then sleep until there
        may be work. True when the worker should exit (idle, with ``exit_when_idle``)."""
        store, clock = engine.store, engine.clock
        self._wake.clear()
        free = self.concurrency - len(self._running)
        await engine.deliver_due_events()  # delayed events, and events sent by runs
        await scheduler.tick()  # cron and interval triggers
        if free > 0:
            claimed = await engine.claim(limit=free, job_ids=job_ids)
            for run in claimed:
                self._start(engine, run)
            if len(claimed) == free:
                return False  # there may be more runnable runs than free slots
        if self.exit_when_idle and not self._running:
            if not await store.has_unfinished_work(job_ids=job_ids, now=clock.now()):
                return True
            await self._note_leases(store, job_ids, clock.now())
        timeout = engine.poll_interval
        if free > 0:
            due = await store.next_wakeup(job_ids=job_ids)
            now = clock.now()
            # Work due already but not claimed is held back by a concurrency or throttle
            # limit: a run ending here, or a NOTIFY, wakes us; otherwise look again after a
            # poll interval rather than spin.
            if due is not None and due > now:
                timeout = min(timeout, due - now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        return False

    def _start(self, engine: Engine, run: RunRecord) -> None:
        run_id = run.id
        task = asyncio.create_task(engine.execute(run), name=f"relaykit-run-{run_id}")
        self._running[run_id] = task

        def done(finished: asyncio.Task[Any]) -> None:
            if not finished.cancelled() and (exc := finished.exception()) is not None:
                _log.warning("run %s: the attempt ended with %r; it resumes later", run_id, exc)
            elif not finished.cancelled():
                _log_run_end(run, finished.result(), engine.clock.now())
            self._running.pop(run_id, None)
            self.executed += 1
            self._wake.set()

        task.add_done_callback(done)

    async def _shutdown(self, engine: Engine) -> None:
        if not self._running:
            return
        grace = self.grace_seconds if self.grace_seconds is not None else engine.lease_seconds
        tasks = list(self._running.values())
        _, pending = await asyncio.wait(tasks, timeout=grace)
        if not pending:
            return
        # A cancelled attempt hands its run back at once (``Engine.execute``), rather than
        # after its lease expires.
        for t in pending:
            t.cancel()
        await asyncio.wait(pending)


def _log_run_end(run: RunRecord, outcome: Outcome, now: float) -> None:
    """The INFO line of a run that ended (nothing for an attempt that suspended)."""
    if not outcome.status.is_terminal:
        return
    seconds = max(0.0, now - (run.started_at or run.created_at))
    error = outcome.error
    why = f": {error['type']}: {' '.join(error['message'].split())[:300]}" if error else ""
    run_end_log.info(
        "run %s of job %s %s in %.3fs%s",
        run.id,
        run.job_id,
        outcome.status,
        seconds,
        why,
        extra={
            "run_id": run.id,
            "job_id": run.job_id,
            "status": str(outcome.status),
            "duration": seconds,
        },
    )
