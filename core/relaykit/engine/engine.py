"""The engine: creates runs, executes claimed attempts, keeps leases, drives a run to its end.

It depends on the ``Store`` protocol and a ``Clock`` only; the worker, ``client.run`` and the
CLI are built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._base.clock import Clock, new_id
from .._base.names import check_text
from .._base.serde import dumps
from .._base.threads import ThreadLanes
from ..definitions.events import check_event_fields, check_event_name
from ..definitions.filters import matches
from ..definitions.jobs import Job, slugify
from ..definitions.triggers import EventTrigger
from ..errors import LeaseLost, PayloadTooLarge, StoreError, UnknownJob, UnknownRun
from ..integrations.clients import ClientPool
from ..integrations.plugins import AttemptCall, AttemptEnd, Plugins
from ..records import EventRecord, Routing, RunRecord, RunResult, RunStatus
from ..store import Store
from .attempt import TRACE_SCOPE, NullObserver, Observer, Outcome, Services, error_info
from .io import IO
from .runner import Attempt

if TYPE_CHECKING:
    import httpx2  # imported with the first HTTP request: `import relaykit` stays light

_log = logging.getLogger("relaykit.engine")


@dataclass(slots=True)
class _Lease:
    epoch: int
    task: asyncio.Task[Any]
    expires_at: float
    lost: bool = False


class LeaseKeeper:
    """Keeps the leases of the runs this engine is executing, each fenced by its epoch.

    A background loop renews them every third of the TTL. Because that loop can be late (a
    stalled event loop, a slow database), every task checks its lease with ``ensure`` before
    its function runs: a lease that has (nearly) run out is renewed on the spot, and one that
    cannot be renewed — another claim took the run, or it was canceled — stops the attempt
    before it does anything. An attempt whose lease is lost is cancelled.
    """

    def __init__(self, store: Store, clock: Clock, ttl: float) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._held: dict[str, _Lease] = {}
        self._loop_task: asyncio.Task[None] | None = None

    def hold(self, run: RunRecord, task: asyncio.Task[Any]) -> None:
        """Keep ``run``'s lease (under its epoch) alive while ``task`` executes it."""
        expires = run.lease_expires_at or (self._clock.now() + self._ttl)
        self._held[run.id] = _Lease(run.epoch, task, expires)
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._renew_forever(), name="relaykit-leases")

    def release(self, run_id: str) -> bool:
        """Stop renewing; return True when the lease had been lost meanwhile."""
        lease = self._held.pop(run_id, None)
        return lease is not None and lease.lost

    async def ensure(self, run_id: str) -> None:
        """Raise ``LeaseLost`` unless ``run_id`` is still held for at least a third of the
        TTL (renewing it now, fenced by its epoch, when less is left)."""
        lease = self._held.get(run_id)
        if lease is None:
            return
        if lease.lost:
            raise LeaseLost(f"run {run_id}: the lease of this attempt was lost")
        now = self._clock.now()
        if lease.expires_at - now > self._ttl / 3:
            return
        kept = await self._store.renew_leases(
            leases={run_id: lease.epoch}, lease_until=now + self._ttl
        )
        if run_id not in kept:
            lease.lost = True
            raise LeaseLost(
                f"run {run_id}: lease lost (another attempt took the run, or it was canceled "
                "or released); this attempt stops"
            )
        lease.expires_at = now + self._ttl

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(self._ttl / 3)
            held = {run_id: lease.epoch for run_id, lease in self._held.items()}
            if not held:
                break
            until = self._clock.now() + self._ttl
            try:
                kept = await self._store.renew_leases(leases=held, lease_until=until)
            except Exception as exc:  # a database hiccup: try again next period
                _log.warning("renewing leases failed (%s); retrying in %.1fs", exc, self._ttl / 3)
                continue
            for run_id, epoch in held.items():
                lease = self._held.get(run_id)
                if lease is None or lease.epoch != epoch:
                    continue
                if run_id in kept:
                    lease.expires_at = until
                elif not lease.lost:
                    lease.lost = True
                    lease.task.cancel("relaykit: lease lost")

    async def close(self) -> None:
        """Stop the renewal loop."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task


class Engine:
    """Executes runs of ``jobs`` against ``store``. One per event loop; close it when done."""

    def __init__(
        self,
        *,
        store: Store,
        jobs: Mapping[str, Job],
        clock: Clock,
        owner: str,
        environment: str,
        lease_seconds: float,
        poll_interval: float = 1.0,
        observer: Observer | None = None,
        on_enqueue: Callable[[], None] | None = None,
        http_transport: httpx2.AsyncBaseTransport | None = None,
        max_payload_bytes: int = 1_048_576,
        plugins: Plugins | None = None,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.clock = clock
        self.owner = owner
        self.environment = environment
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.leases = LeaseKeeper(store, clock, lease_seconds)
        # the runs this engine claimed and has not finished executing (id -> epoch): it never
        # claims them again, even once their lease has expired
        self._executing: dict[str, int] = {}
        self._on_enqueue = on_enqueue
        self.max_payload_bytes = max_payload_bytes
        self._http: httpx2.AsyncClient | None = None
        self._http_transport = http_transport
        self._lanes = ThreadLanes(max_threads=32, name="relaykit-task")
        self._services = Services(
            store=store,
            clock=clock,
            owner=owner,
            lanes=self._lanes,
            observer=observer or NullObserver(),
            environment=environment,
            http=self._http_client,
            rng=random.Random(),  # noqa: S311 -- jitter and io.random, not cryptography
            spawn=self.spawn,
            plugins=plugins or Plugins(entry_points=False),
            ensure_lease=self.leases.ensure,
            clients=ClientPool(request_hooks=self._request_hooks),
        )

    def _request_hooks(self) -> Sequence[Callable[[Any], Any]]:
        return self._services.plugins.request_hooks()

    async def _carry_context(self, key: str, now: float) -> None:
        """Store what the plugins carry from this caller to the run or event ``key``."""
        carried = self._services.plugins.trace_context()
        if carried:
            await self.store.kv_set(TRACE_SCOPE, key, json.dumps(carried), now=now)

    async def _carried_context(self, run: RunRecord) -> dict[str, str] | None:
        for key in (run.id, run.event_id):
            if key is not None and (text := await self.store.kv_get(TRACE_SCOPE, key)):
                found = json.loads(text)
                return found if isinstance(found, dict) else None
        return None

    @property
    def services(self) -> Services:
        """What this engine's attempts share (its store, clock, plugins, clients...)."""
        return self._services

    def _http_client(self) -> httpx2.AsyncClient:
        if self._http is None:
            import httpx2

            self._http = httpx2.AsyncClient(transport=self._http_transport, follow_redirects=True)
        return self._http

    async def close(self) -> None:
        """Release the lease loop, the HTTP clients and the task threads."""
        await self.leases.close()
        await self._services.clients.close()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._lanes.shutdown()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- runs ---------------------------------------------------------------------------------

    async def create_run(
        self,
        job: Job,
        payload: Any,
        *,
        is_test: bool = False,
        event_id: str | None = None,
        event_name: str | None = None,
        claim: bool = False,
        idempotency_key: str | None = None,
        tags: Sequence[str] = (),
    ) -> RunRecord:
        """Store a new run of ``job`` (its payload is validated when it starts) and return it
        — or the existing run its idempotency key or debounce key leads to — with ``tags``.

        With ``claim`` the run is stored already leased to this engine (one write instead of
        an insert and a claim): ``execute`` it next. Otherwise, and always for a job under
        flow control, it is queued for any worker.
        """
        if idempotency_key is not None:
            check_text(idempotency_key, "the idempotency key", f"enqueue({job.id!r})")
        text = self._payload(payload, f"the payload for job {job.id!r}")
        now = self.clock.now()
        run = self.new_run(
            job,
            text,
            event_id=event_id,
            name=event_name,
            is_test=is_test,
            now=now,
            idempotency_key=idempotency_key,
        )
        claim = claim and not (run.groups or run.debounce_key or run.idempotency_key)
        if claim:
            run = run.evolve(
                status=RunStatus.RUNNING,
                started_at=now,
                attempt=1,
                epoch=1,
                lease_owner=self.owner,
                lease_expires_at=now + self.lease_seconds,
            )
            self._executing[run.id] = run.epoch
        try:
            await self._carry_context(run.id, now)
            stored = await self.store.create_run(run, tags=tags)
        except BaseException:
            self._executing.pop(run.id, None)
            raise
        if self._on_enqueue is not None and not claim:
            self._on_enqueue()
        return stored

    def claimed_here(self, run: RunRecord) -> bool:
        """Whether ``run`` (as ``create_run`` returned it) is leased to this engine, to be
        executed next; False for a queued run (flow control, or an existing run)."""
        return self._executing.get(run.id) == run.epoch and run.lease_owner == self.owner

    async def claim(
        self,
        *,
        limit: int,
        job_ids: Sequence[str] | None = None,
        run_id: str | None = None,
        family: bool = False,
    ) -> list[RunRecord]:
        """Lease runnable runs to this engine — never one it is still executing. Each
        claimed run must then be passed to ``execute`` (or ``release``)."""
        now = self.clock.now()
        claimed = await self.store.claim_runs(
            owner=self.owner,
            now=now,
            lease_until=now + self.lease_seconds,
            limit=limit,
            job_ids=list(self.jobs) if job_ids is None else job_ids,
            run_id=run_id,
            family=family,
            exclude=list(self._executing),
        )
        for run in claimed:
            self._executing[run.id] = run.epoch
        return claimed

    def spawn(self, job: Job | str, payload: Any, parent: RunRecord, task_key: str) -> RunRecord:
        """A child run of ``parent`` started by its task ``task_key`` (not stored)."""
        target = self.jobs.get(job.id if isinstance(job, Job) else slugify(job))
        if target is None:
            raise UnknownJob(
                f"run {parent.id}: task {task_key!r} invokes job "
                f"{job.id if isinstance(job, Job) else job!r}, which this client does not "
                "define; define it on the same Client (every worker loads the same jobs)"
            )
        text = self._payload(payload, f"the payload for job {target.id!r}")
        child = self.new_run(
            target,
            text,
            event_id=None,
            name=None,
            is_test=parent.is_test,
            parent=(parent.id, task_key, parent.root_run_id or parent.id),
        )
        # The invoking task already makes the child exactly-once, and its id must stay the
        # one the task records: no idempotency or debounce redirection for children.
        child.idempotency_key = child.debounce_key = None
        if child.next_attempt_at is not None:
            child.next_attempt_at = child.created_at
        return child

    # -- events -------------------------------------------------------------------------------

    def _payload(self, payload: Any, what: str) -> str:
        text = dumps(payload, what=what)
        size = len(text.encode())
        if size > self.max_payload_bytes:
            raise PayloadTooLarge(
                f"{what} is {size:,} bytes of JSON, over the limit of "
                f"{self.max_payload_bytes:,}; store large data elsewhere and pass a reference, "
                "or raise Client(max_payload_bytes=...)"
            )
        return text

    def new_run(
        self,
        job: Job,
        payload: str,
        *,
        event_id: str | None,
        name: str | None,
        is_test: bool = False,
        now: float | None = None,
        idempotency_key: str | None = None,
        parent: tuple[str, str, str] | None = None,
    ) -> RunRecord:
        """A queued run of ``job`` (not stored), with its flow-control keys."""
        now = self.clock.now() if now is None else now
        run = RunRecord(
            id=new_id("run", now),
            job_id=job.id,
            job_version=job.version,
            status=RunStatus.QUEUED,
            payload=payload,
            created_at=now,
            next_attempt_at=now,
            is_test=is_test,
            event_id=event_id,
            event_name=name,
            environment=self.environment,
            idempotency_key=idempotency_key,
        )
        if parent is not None:
            run.parent_run_id, run.parent_task_key, run.root_run_id = parent
        flow = job.flow
        if flow is None:
            return run
        data = json.loads(payload) if flow.needs_payload else None
        run.priority = flow.priority
        run.groups = flow.groups(data)
        run.idempotency_key = idempotency_key or flow.idempotency(data)
        run.cancel_key = flow.cancel_key(data)
        run.debounce_key = flow.debounce_key(data)
        if flow.debounce is not None:
            run.next_attempt_at = now + flow.debounce.seconds
        return run

    def route(self, event: EventRecord) -> Routing:
        """What an event does: the runs it starts (one per enabled job whose event trigger
        matches its name, source and filter; payloads are validated when each run starts),
        and the runs it cancels (``cancel_on``)."""
        payload = json.loads(event.payload)
        runs, cancels = [], []
        for job in self.jobs.values():
            trigger = job.trigger
            if job.flow is not None and job.flow.cancel_on is not None:
                key = job.flow.event_cancel_key(event.name, payload)
                if key is not None:
                    cancels.append(key)
            if not job.enabled or not isinstance(trigger, EventTrigger):
                continue
            if event.name not in trigger.names:
                continue
            if trigger.source is not None and trigger.source != event.source:
                continue
            if trigger.filter and not matches(trigger.filter, payload):
                continue
            runs.append(self.new_run(job, event.payload, event_id=event.id, name=event.name))
        return Routing(runs, cancels)

    async def send_event(
        self,
        name: str,
        payload: Any,
        *,
        event_id: str | None,
        source: str,
        deliver_at: float | None,
        tags: Sequence[str] = (),
    ) -> tuple[EventRecord, list[RunRecord], bool]:
        """Store an event once and route it now (or leave it pending until ``deliver_at``);
        return it, the runs it started (with ``tags``, in the same transaction) and whether
        it was new."""
        check_event_name(name, "send_event")
        check_event_fields(event_id, source, "send_event")
        now = self.clock.now()
        text = self._payload(payload, f"the payload of event {name!r}")
        event = EventRecord(event_id or new_id("evt", now), name, text, now, source, deliver_at)
        delayed = deliver_at is not None and deliver_at > now
        routing = Routing() if delayed else self.route(event)._replace(tags=tuple(tags))
        await self._carry_context(event.id, now)
        runs = await self.store.insert_event(event, routing=routing, deliver=not delayed, now=now)
        if runs is None:  # sent before: hand back the event as it was stored then
            return (await self.store.get_event(event.id)) or event, [], False
        if (runs or delayed) and self._on_enqueue is not None:
            self._on_enqueue()
        return event, runs, True

    async def deliver_due_events(self) -> list[str]:
        """Route the pending events that are due (delayed ones, and those sent by runs)."""
        return await self.store.deliver_due_events(now=self.clock.now(), route=self.route)

    async def execute(self, run: RunRecord) -> Outcome:
        """Execute one attempt of a run this engine has claimed, and record how it ended
        (through the plugins' ``relaykit_wrap_attempt`` hooks)."""
        try:
            plugins = self._services.plugins
            if not plugins.wraps_attempts():
                return await self._execute(run)
            ended: list[Outcome] = []

            async def attempt() -> AttemptEnd:
                outcome = await self._execute(run)
                ended.append(outcome)
                return AttemptEnd(str(outcome.status), outcome.error, outcome.lease_lost)

            await plugins.wrap_attempt(
                AttemptCall(
                    run_id=run.id,
                    job_id=run.job_id,
                    job_version=run.job_version,
                    attempt=run.attempt,
                    event_id=run.event_id,
                    event_name=run.event_name,
                    parent_run_id=run.parent_run_id,
                    started_at=run.started_at,
                    trace_context=await self._carried_context(run),
                    _execute=attempt,
                )
            )
            return ended[0]
        finally:
            if self._executing.get(run.id) == run.epoch:
                del self._executing[run.id]

    async def _execute(self, run: RunRecord) -> Outcome:
        job = self.jobs[run.job_id]
        if run.attempt > 1:  # a first attempt has no history to load
            recorded = await self.store.load_tasks(run.id)
            log_keys = {g.key for g in await self.store.load_logs(run.id)}
            matches = await self.store.load_event_matches(run.id)
        else:
            recorded, log_keys, matches = [], set(), []
        deadline = self._deadline(job, run)
        attempt: Attempt | None = None
        if job.remote is not None:
            # endpoint mode (engine/remote.py): the attempt runs in the user's deployed app,
            # which streams its commits back; they are written here under this epoch
            step = job.remote.attempt(
                run, recorded=recorded, log_keys=log_keys, event_matches=matches, store=self.store
            )
        else:
            attempt = Attempt(
                job=job,
                run=run,
                recorded=recorded,
                log_keys=log_keys,
                event_matches=matches,
                services=self._services,
            )
            step = self._attempt_until(attempt, job, deadline)
        me = asyncio.current_task()
        assert me is not None  # noqa: S101 -- always called from a task
        self.leases.hold(run, me)
        try:
            outcome: Outcome = await step
        except asyncio.CancelledError:
            if self.leases.release(run.id):  # the lease keeper stopped an attempt it lost
                me.uncancel()
                return Outcome(RunStatus.RUNNING, lease_lost=True)
            # Cancelled from outside (a worker's shutdown, Ctrl-C in `relaykit run`): hand the
            # run back at once, for anyone, rather than after its lease expires.
            try:
                await self.store.release_runs(leases={run.id: run.epoch}, now=self.clock.now())
            except Exception as exc:  # its lease expires instead
                _log.warning("run %s: handing it back failed (%s)", run.id, exc)
            raise
        lost = outcome.lease_lost if attempt is None else attempt.lost
        if self.leases.release(run.id) or lost:
            return Outcome(RunStatus.RUNNING, lease_lost=True)
        if outcome.status is RunStatus.WAITING and deadline is not None:
            # wake in time to end it at its deadline, whatever it waits for
            outcome.wake_at = (
                deadline if outcome.wake_at is None else min(outcome.wake_at, deadline)
            )
        try:
            await self.store.end_attempt(
                run_id=run.id,
                epoch=run.epoch,
                status=outcome.status,
                now=self.clock.now(),
                output=outcome.output,
                error=outcome.error,
                wake_at=outcome.wake_at,
                tasks=outcome.tasks,
                logs=outcome.logs,
                event_waits=outcome.event_waits,
                code=outcome.code or job.fingerprint or None,
            )
        except LeaseLost:
            return Outcome(RunStatus.RUNNING, lease_lost=True)
        except StoreError as exc:  # the run resumes once its lease expires
            _log.warning("run %s: recording the attempt failed (%s)", run.id, exc)
            return Outcome(RunStatus.RUNNING)
        if outcome.status.is_terminal:
            await self._callback(job, run.id, outcome.status)
        return outcome

    def _deadline(self, job: Job, run: RunRecord) -> float | None:
        timeout = None if job.flow is None else job.flow.timeout
        if timeout is None:
            return None
        return (run.started_at or self.clock.now()) + timeout

    async def _attempt_until(self, attempt: Attempt, job: Job, deadline: float | None) -> Outcome:
        """Execute the attempt, ending it ``timed_out`` at ``deadline`` (epoch seconds)."""
        if deadline is None:
            return await attempt.execute(IO)
        left = deadline - self.clock.now()
        if left > 0:
            try:
                async with asyncio.timeout(left):
                    return await attempt.execute(IO)
            except TimeoutError:
                pass
        assert job.flow is not None and job.flow.timeout is not None  # noqa: S101 -- has deadline
        error = TimeoutError(
            f"run {attempt.run.id} of job {job.id!r} did not finish within its timeout of "
            f"{job.flow.timeout:g}s; raise `timeout=` in define_job if it needs longer"
        )
        return Outcome(RunStatus.TIMED_OUT, error=error_info(error))

    async def _callback(self, job: Job, run_id: str, status: RunStatus) -> None:
        callback = job.on_success if status is RunStatus.SUCCEEDED else job.on_failure
        if callback is None:
            return
        try:
            result = callback(await self.result(run_id))
            if inspect.isawaitable(result):
                await result
        except Exception:  # a callback's failure must not undo or fail the ended run
            _log.exception("the %s callback of job %r failed for run %s", status, job.id, run_id)

    async def drive(self, run_id: str, *, claimed_run: RunRecord | None = None) -> RunResult:
        """Execute ``run_id`` here until it ends, sleeping through its waits.

        ``claimed_run`` is the run as returned by ``create_run(..., claim=True)``.
        """
        while True:
            if claimed_run is not None:
                claimed, claimed_run = [claimed_run], None
            else:
                # and the child runs it invoked: nobody else may run them
                claimed = await self.claim(limit=1, run_id=run_id, family=True)
            if claimed:
                await self.execute(claimed[0])
            run = await self.store.get_run(run_id)
            if run is None:
                raise UnknownRun(f"run {run_id} does not exist; was the database reset?")
            if run.status.is_terminal or run.status is RunStatus.WAITING_FOR_CONNECTION:
                # a run waiting for a connection needs someone to add one: hand it back
                return await self.result(run_id)
            if claimed:
                continue
            due = run.lease_expires_at if run.status is RunStatus.RUNNING else run.next_attempt_at
            delay = self.poll_interval if due is None else max(0.0, due - self.clock.now())
            # Sleep on the engine's clock (a ManualClock jumps at once), but look at the store
            # at least every poll interval of real time: a cancel from elsewhere is seen soon.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.clock.sleep(delay), timeout=self.poll_interval)

    async def result(self, run_id: str) -> RunResult:
        """The run with its tasks and logs."""
        run = await self.store.get_run(run_id)
        if run is None:
            raise UnknownRun(
                f"no run {run_id!r} in {self.store.url}; run `relaykit runs list` to see runs"
            )
        tasks = await self.store.load_tasks(run_id)
        attempts = await self.store.load_task_attempts(run_id)
        logs = await self.store.load_logs(run_id)
        return RunResult.from_records(run, tasks, logs, attempts=attempts)
