"""Every operation the surfaces offer, in one place: enqueue and test-run a job, cancel and
replay a run, send and cancel an event, list and get runs, tasks, events and jobs.

The Python ``Client``, the CLI, the HTTP API and the dashboard all call these; none of them
reads or writes the store for these operations itself, so flow control (idempotency,
debounce, limits: applied by the engine's ``create_run``), the replay semantics
(``Store.replay_run`` keeps priority, groups, cancel key, test flag and event) and the
shapes returned (``resources``) are the same whichever surface asks. Store faults
(``StoreError``) pass through: each surface reports them its own way (a 503, one line).

Lists are keyset-paginated: a page's ``next_cursor`` is a string naming the last item's
(time, id) (``CURSOR_PATTERNS``; opaque to clients), and the next page is the items after it
in newest-first order. Items inserted while a client walks the pages are newer than every
cursor, so a walk returns each item that existed when it began exactly once.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from .._base.clock import Clock, new_id
from .._base.names import check_tags
from .._base.serde import dumps
from ..definitions.jobs import Job as JobDefinition
from ..definitions.triggers import CronTrigger, EventTrigger, IntervalTrigger
from ..errors import (
    ConfigurationError,
    InvalidCursor,
    NotFound,
    RunNotRetriable,
    TokenNotWaiting,
    UnknownEvent,
    UnknownJob,
    UnknownRun,
    UnknownToken,
)
from ..integrations.base import Integration
from ..records import (
    EventRecord,
    LogRecord,
    RunRecord,
    RunResult,
    RunStatus,
    TaskAttempt,
    TaskRecord,
    TokenRecord,
)
from . import watch
from .changes import ChangeFeed
from .resources import (
    BulkResult,
    Event,
    EventPage,
    EventSent,
    Job,
    JobList,
    KvEntry,
    Run,
    RunDetail,
    RunPage,
    Task,
    Token,
    TokenList,
)
from .resume import tasks_to_keep
from .tokens import TokenSigner

if TYPE_CHECKING:
    from ..store import Store
    from .engine import Engine

#: ``retry_run``'s "payload not given" (None is a payload).
_SAME: Final[Any] = object()
#: The ended states a plain retry resumes.
_RETRIABLE: Final = frozenset({RunStatus.FAILED, RunStatus.CANCELED, RunStatus.TIMED_OUT})

#: The most runs one bulk action acts on; how many ids its result lists.
BULK_CAP: Final = 10_000
BULK_SAMPLE: Final = 20
BULK_ACTIONS: Final = ("cancel", "replay", "retry")

#: The largest page a list hands out.
MAX_LIMIT: Final = 200
_STATUSES: Final = frozenset(s.value for s in RunStatus)
#: How many store pages of ``MAX_LIMIT`` runs one filtered ``list_runs`` page reads at most.
_SCAN_PAGES: Final = 10


#: A cursor: the list's letter (``r`` runs, ``e`` events), the last item's time in epoch
#: seconds, ``_``, its id. Clients pass it back as is; every string of this form is a valid
#: position (the items older than it), so the OpenAPI document can say exactly which are.
CURSOR_PATTERNS: Final = {
    kind: rf"^{kind[0]}(\d{{1,12}}(?:\.\d{{1,20}})?)_([!-~]{{1,200}})$"
    for kind in ("runs", "events")
}


def encode_cursor(kind: str, at: float, item_id: str) -> str:
    """The cursor for the items after (``at``, ``item_id``) in a ``kind`` list."""
    return f"{kind[0]}{at!r}_{item_id}"


def decode_cursor(kind: str, cursor: str) -> tuple[float, str]:
    """The (time, id) a ``kind`` cursor names; ``InvalidCursor`` for anything else."""
    found = re.fullmatch(CURSOR_PATTERNS[kind], cursor)
    if found is None:
        raise InvalidCursor(
            f"cursor {cursor[:60]!r} is not one a {kind} page handed out; pass a page's "
            "next_cursor, or leave it out for the first page"
        )
    return float(found.group(1)), found.group(2)


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidCursor(f"limit must be in [1, {MAX_LIMIT}], got {limit}")
    return limit


@dataclass(frozen=True, slots=True)
class Canceled:
    """What ``cancel_run`` did: the run as it is now, and whether this call canceled it
    (False: it had ended already)."""

    run: RunDetail
    canceled: bool


@dataclass(frozen=True, slots=True)
class SentRecord:
    """An event just sent, as stored: the runs it started, and whether it was sent before."""

    event: EventRecord
    runs: list[str]
    duplicate: bool


@dataclass(frozen=True, slots=True)
class EventRuns:
    """An event and the runs it started, oldest first (at most ``MAX_LIMIT``)."""

    event: Event
    runs: list[Run]


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What a search found: runs (by id or id prefix, then by payload or output text) and
    the event whose id is the text, newest first, each once."""

    text: str
    runs: list[Run]
    events: list[Event]


@dataclass(frozen=True, slots=True)
class RunLabels:
    """What ``Operations.run_labels`` reads: a run's tags, metadata and the run it retries."""

    tags: list[str]
    metadata: dict[str, Any] | None
    retry_of: str | None


class Operations:
    """The operations on one open store.

    ``engine`` makes an engine for the operations that create runs (enqueue, test run, send
    event): it applies the jobs' flow control and routing; without it (the CLI's ``runs``
    commands, which load no app) those raise ``UnknownJob``. ``jobs`` are the defined jobs
    (None: not known, so a replay of any stored run is allowed). ``on_enqueue`` is called
    after a replay queued a run, to wake a worker in this process.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        jobs: Mapping[str, JobDefinition] | None = None,
        engine: Callable[[], Awaitable[Engine]] | None = None,
        on_enqueue: Callable[[], None] | None = None,
        changes: ChangeFeed | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.jobs = jobs
        self._engine = engine
        self._on_enqueue = on_enqueue
        self._changes = changes

    # -- jobs ---------------------------------------------------------------------------------

    def job(self, job_id: str) -> JobDefinition:
        """The defined job ``job_id``; ``UnknownJob`` naming the defined ones."""
        found = None if self.jobs is None else self.jobs.get(job_id)
        if found is None:
            known = ", ".join(sorted(self.jobs or ())) or "none"
            raise UnknownJob(f"no job {job_id!r} (defined: {known})")
        return found

    def list_jobs(self) -> JobList:
        """Every defined job."""
        return JobList(data=[Job.from_job(j) for j in (self.jobs or {}).values()])

    def get_job(self, job_id: str) -> Job:
        """One defined job; ``UnknownJob``."""
        return Job.from_job(self.job(job_id))

    def example_payload(self, job_id: str) -> Any:
        """A payload to start with when running ``job_id`` by hand: for a cron or interval
        job the one a fire now would get (``ts``, ``last_ts``); for a job triggered by an
        integration's webhook events, the payload of the integration's sample delivery of
        that event (GitHub's published example); else None (none known). ``UnknownJob``."""
        job = self.job(job_id)
        trigger = job.trigger
        if isinstance(trigger, CronTrigger | IntervalTrigger):
            return trigger.manual_payload(self.clock.now())
        if isinstance(trigger, EventTrigger):
            return self._webhook_example(job, trigger)
        return None

    def _webhook_example(self, job: JobDefinition, trigger: EventTrigger) -> Any:
        """The payload of the first sample delivery (``Integration.example_delivery``) of the
        job's integrations that becomes an event the trigger names, aimed at the source the
        trigger's filter picks; None when none does. Unsigned: only its payload is shown."""
        for integration in job.integrations.values():
            if not isinstance(integration, Integration):
                continue
            source = integration.example_source(trigger.filter)
            for name in integration.webhook_examples():
                example = integration.example_delivery(
                    name, "", source_id=source, now=self.clock.now()
                )
                if example is not None and example.event in trigger.names:
                    return example.payload
        return None

    def next_fire_times(self, job_id: str, count: int = 5) -> list[datetime]:
        """The next ``count`` fire times of a cron job's schedule after now (UTC); [] for a
        job without a cron trigger. ``UnknownJob``."""
        trigger = self.job(job_id).trigger
        if not isinstance(trigger, CronTrigger):
            return []
        times: list[datetime] = []
        when = datetime.fromtimestamp(self.clock.now(), UTC)
        for _ in range(count):
            try:
                when = trigger.next_after(when)
            except Exception:  # croniter: no fire time within its search window
                break
            times.append(when)
        return times

    # -- creating runs ------------------------------------------------------------------------

    async def _engine_for(self, what: str) -> Engine:
        if self._engine is None:
            raise UnknownJob(f"{what} needs the app's jobs: pass APP")
        return await self._engine()

    async def enqueue(
        self,
        job: JobDefinition,
        payload: Any,
        *,
        is_test: bool = False,
        idempotency_key: str | None = None,
        tags: Sequence[str] = (),
    ) -> RunRecord:
        """Queue a run of ``job`` for a worker (or return the run its idempotency or
        debounce key leads to), with ``tags`` added to it."""
        tag_list = check_tags(tags, f"enqueueing a run of {job.id!r}")
        engine = await self._engine_for(f"enqueueing a run of {job.id!r}")
        try:
            return await engine.create_run(
                job, payload, is_test=is_test, idempotency_key=idempotency_key, tags=tag_list
            )
        finally:
            await engine.close()

    async def test_run(self, job_id: str, payload: Any) -> RunDetail:
        """Queue a test run of the defined job ``job_id``; the run as stored."""
        run = await self.enqueue(self.job(job_id), payload, is_test=True)
        return await self.get_run(run.id)

    async def replay_run(self, run_id: str, *, payload: Any = _SAME) -> RunRecord:
        """Queue a new run of ``run_id``'s job with its payload (``payload`` instead, when
        given: an edited replay), test flag, event, priority, concurrency groups and cancel
        key (``Store.replay_run``). ``UnknownRun``; with the jobs known, ``UnknownJob`` for a
        run of a job the app no longer defines; ``PayloadTooLarge``, ``SerializationError``
        for a payload that cannot be stored (nothing is queued)."""
        run = await self._run(run_id)
        if self.jobs is not None and run.job_id not in self.jobs:
            raise UnknownJob(f"run {run_id}'s job {run.job_id!r} is not defined in this app")
        text = None if payload is _SAME else dumps(payload, what=f"the payload of run {run_id}")
        now = self.clock.now()
        new = await self.store.replay_run(run_id, new_id=new_id("run", now), now=now, payload=text)
        if new is None:
            raise UnknownRun(f"no run {run_id!r} in {self.store.url}; see `relaykit runs list`")
        if self._on_enqueue is not None:
            self._on_enqueue()
        return new

    async def cancel_run(self, run_id: str) -> Canceled:
        """Cancel a run that has not ended. ``UnknownRun``."""
        run = await self._run(run_id)
        if run.status.is_terminal:
            return Canceled(await self.get_run(run_id), canceled=False)
        await self.store.cancel_run(run_id, now=self.clock.now())
        return Canceled(await self.get_run(run_id), canceled=True)

    # -- bulk actions -------------------------------------------------------------------------

    async def bulk(
        self,
        action: str,
        *,
        job: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        since: float | None = None,
        until: float | None = None,
        version: str | None = None,
        dry_run: bool = False,
        cap: int = BULK_CAP,
    ) -> BulkResult:
        """Cancel, replay or retry every run matching the filters (those of ``list_runs``,
        plus ``until``: created at or before, epoch seconds), at most ``cap`` per call,
        each through the single-run operation. A dry run changes nothing and counts what
        would be done and skipped. ``ConfigurationError`` for an unknown action,
        ``InvalidCursor`` for a bad status."""
        if action not in BULK_ACTIONS:
            raise ConfigurationError(
                f"bulk action {action!r} is not one of {', '.join(BULK_ACTIONS)}"
            )
        runs, capped = await self._bulk_match(job, status, tag, since, until, version, cap)
        skipped: dict[str, int] = {}
        done, new_runs = 0, list[str]()
        for run in runs:
            reason = self._bulk_skip(action, run.status, run.job)
            if reason is None and not dry_run:
                reason, created = await self._bulk_one(action, run.id)
                if created is not None and len(new_runs) < BULK_SAMPLE:
                    new_runs.append(created)
            if reason is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
            elif not dry_run:
                done += 1
        return BulkResult(
            action=action,  # type: ignore[arg-type]  # checked against BULK_ACTIONS above
            dry_run=dry_run,
            matched=len(runs),
            done=done,
            skipped=skipped,
            sample=[r.id for r in runs[:BULK_SAMPLE]],
            new_runs=new_runs,
            cap=cap,
            capped=capped,
        )

    async def _bulk_match(
        self,
        job: str | None,
        status: str | None,
        tag: str | None,
        since: float | None,
        until: float | None,
        version: str | None,
        cap: int,
    ) -> tuple[list[Run], bool]:
        # ``until`` is a starting position: "~" sorts after every id character but itself.
        # Fixed-point, not repr: a tiny float's repr (1e-05) is no cursor.
        cursor = None if until is None else f"r{until:.6f}_~~"
        found: list[Run] = []
        while True:
            page = await self.list_runs(
                job=job,
                status=status,
                tag=tag,
                since=since,
                version=version,
                cursor=cursor,
                limit=MAX_LIMIT,
            )
            found += page.data
            if len(found) > cap:
                return found[:cap], True
            if page.next_cursor is None:
                return found, False
            cursor = page.next_cursor

    def _bulk_skip(self, action: str, status: RunStatus, job_id: str) -> str | None:
        """Why ``action`` leaves a run in ``status`` alone (None: it does not)."""
        terminal = status.is_terminal
        if action == "cancel":
            return "already ended" if terminal else None
        if self.jobs is not None and job_id not in self.jobs:
            return "job not defined in this app"
        if action == "retry" and not terminal:
            return "not ended"
        if action == "retry" and status not in _RETRIABLE:
            return f"{status.value}: not failed, canceled or timed out"
        return None

    async def _bulk_one(self, action: str, run_id: str) -> tuple[str | None, str | None]:
        """Apply ``action`` to one run: (why it was skipped, the run it queued)."""
        try:
            if action == "cancel":
                done = await self.cancel_run(run_id)
                return (None if done.canceled else "already ended"), None
            if action == "replay":
                return None, (await self.replay_run(run_id)).id
            return None, (await self.retry_run(run_id)).id
        except UnknownRun:
            return "deleted meanwhile", None
        except (RunNotRetriable, UnknownJob):
            # Its status changed since it was matched.
            return "changed meanwhile", None

    # -- reading runs -------------------------------------------------------------------------

    async def _run(self, run_id: str) -> RunRecord:
        run = None if "\x00" in run_id else await self.store.get_run(run_id)
        if run is None:
            raise UnknownRun(
                f"no run {run_id!r} in {self.store.url}; run `relaykit runs list` to see runs"
            )
        return run

    async def get_run(self, run_id: str) -> RunDetail:
        """A run with its tasks (and each task's attempt history) and logs. ``UnknownRun``."""
        run, tasks, attempts, logs, code = await self._records(run_id)
        labels = await self.run_labels(run_id)
        return RunDetail.from_records(
            run,
            tasks,
            logs,
            code=code,
            attempts=attempts,
            tags=labels.tags,
            metadata=labels.metadata,
            retry_of=labels.retry_of,
        )

    async def run_labels(self, run_id: str) -> RunLabels:
        """A run's tags, metadata (``io.metadata``) and the run it retries: what its detail
        shows beside its tasks, three small reads (``relaykit runs show`` prints them under
        the task tree without loading the tasks twice)."""
        tags = (await self.store.get_run_tags([run_id])).get(run_id, [])
        meta = await self.store.kv_get(f"meta:{run_id}", "metadata")
        return RunLabels(
            tags=list(tags),
            metadata=None if meta is None else json.loads(meta),
            retry_of=await self.store.get_retry_of(run_id),
        )

    async def result(self, run_id: str) -> RunResult:
        """A run as ``client.run`` returns it (``RunResult``). ``UnknownRun``."""
        run, tasks, attempts, logs, code = await self._records(run_id)
        return RunResult.from_records(run, tasks, logs, code=code, attempts=attempts)

    async def _records(
        self, run_id: str
    ) -> tuple[RunRecord, list[TaskRecord], list[TaskAttempt], list[LogRecord], str | None]:
        """What both views of a run are built from: the run, its tasks, their attempts, its
        logs and its code fingerprint. ``UnknownRun``."""
        run = await self._run(run_id)
        tasks = await self.store.load_tasks(run_id)
        attempts = await self.store.load_task_attempts(run_id)
        logs = await self.store.load_logs(run_id)
        return run, tasks, attempts, logs, await self.store.get_run_code(run_id)

    async def list_tasks(self, run_id: str) -> list[Task]:
        """A run's tasks in start order. ``UnknownRun``."""
        return (await self.get_run(run_id)).tasks

    async def list_runs(
        self,
        *,
        job: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        since: float | None = None,
        version: str | None = None,
        tag: str | None = None,
    ) -> RunPage:
        """A page of runs, newest first, of ``job``, in ``status`` and carrying ``tag`` when
        given, created at or after ``since`` (epoch seconds) and of job ``version`` when
        given, after ``cursor`` (a previous page's ``next_cursor``). ``InvalidCursor``.

        ``since`` ends the walk at the first older run (the order is by creation time);
        ``version`` is checked on the runs read, a bounded number per page: a page can then
        hold fewer than ``limit`` runs and still have a ``next_cursor``, the position the
        scan reached, so a walk over every page still returns each matching run once."""
        before = None if cursor is None else decode_cursor("runs", cursor)
        _check_limit(limit)
        if status is not None and status not in _STATUSES:
            raise InvalidCursor(f"status must be one of {', '.join(sorted(_STATUSES))}")
        # No job id holds a NUL (ids are slugs), and PostgreSQL text cannot: nothing matches.
        if (job is not None and "\x00" in job) or (tag is not None and "\x00" in tag):
            return RunPage(data=[], next_cursor=None)
        if since is not None or version is not None:
            return await self._scan_runs(job, status, tag, before, limit, since, version)
        runs = await self._runs_page(job, status, tag, limit + 1, before)
        page = runs[:limit]
        more = len(runs) > limit
        last = page[-1] if more else None
        return RunPage(
            data=[Run.from_record(r) for r in page],
            next_cursor=None if last is None else encode_cursor("runs", last.created_at, last.id),
        )

    async def _runs_page(
        self,
        job: str | None,
        status: str | None,
        tag: str | None,
        limit: int,
        before: tuple[float, str] | None,
    ) -> list[RunRecord]:
        if tag is not None:
            return await self.store.list_tagged_runs(
                tag, job_id=job, status=status, limit=limit, before=before
            )
        return await self.store.list_runs(job_id=job, status=status, limit=limit, before=before)

    async def _scan_runs(
        self,
        job: str | None,
        status: str | None,
        tag: str | None,
        before: tuple[float, str] | None,
        limit: int,
        since: float | None,
        version: str | None,
    ) -> RunPage:
        found: list[RunRecord] = []
        budget = _SCAN_PAGES
        while budget:
            budget -= 1
            batch = await self._runs_page(job, status, tag, MAX_LIMIT, before)
            for run in batch:
                if since is not None and run.created_at < since:
                    return RunPage(data=[Run.from_record(r) for r in found], next_cursor=None)
                if version is None or run.job_version == version:
                    found.append(run)
                    if len(found) == limit:
                        cur = encode_cursor("runs", run.created_at, run.id)
                        return RunPage(data=[Run.from_record(r) for r in found], next_cursor=cur)
                before = (run.created_at, run.id)
            if len(batch) < MAX_LIMIT:
                return RunPage(data=[Run.from_record(r) for r in found], next_cursor=None)
        # The scan budget ran out: the next page goes on from the last run read.
        return RunPage(
            data=[Run.from_record(r) for r in found],
            next_cursor=None if before is None else encode_cursor("runs", *before),
        )

    # -- realtime -------------------------------------------------------------------------------

    def _feed(self) -> ChangeFeed:
        if self._changes is None:
            self._changes = ChangeFeed(self.store)
        return self._changes

    async def watch_run(
        self, run_id: str, *, last_id: str | None = None, idle: float | None = None
    ) -> AsyncGenerator[watch.Change, None]:
        """The changes of run ``run_id`` as they happen: first the run, its tasks, log lines and
        tags/metadata as they are, then a ``run``, ``task`` or ``metadata`` change each time
        one changes (``log`` for each new log line), and ``end`` once the
        run has ended (the iterator stops). ``last_id``: the ``id`` of the last change a
        client saw (nothing is repeated while the run is still in that state); ``idle``:
        seconds after which an ``idle`` change says nothing happened. ``UnknownRun`` at once
        for a run that does not exist."""
        await self._run(run_id)

        async def read() -> RunDetail | None:
            try:
                return await self.get_run(run_id)
            except UnknownRun:
                return None

        return watch.watch_run(self._feed(), read, last_id=last_id, idle=idle)

    def run_state_id(self, run: RunDetail) -> str:
        """The id ``watch_run`` gives ``run``'s state as shown (run, tasks, logs): pass it as
        ``last_id`` to hear only of what changes after."""
        return watch.run_state_id(run)

    def runs_state_id(self, page: RunPage) -> str:
        """The id ``watch_runs`` gives the state of ``page`` (a first page of ``list_runs``
        with the same filters and limit): pass it as ``last_id`` to hear only of later
        changes."""
        return watch.runs_state_id(page.data)

    async def watch_runs(
        self,
        *,
        job: str | None = None,
        status: str | None = None,
        limit: int = 20,
        last_id: str | None = None,
        idle: float | None = None,
    ) -> AsyncGenerator[watch.Change, None]:
        """The changes of the newest ``limit`` runs of ``job`` in ``status`` (the first page
        ``list_runs`` gives): each as it is, oldest first, then a ``run`` change whenever one
        changes or a new one enters the page, and ``remove`` when one leaves it (its status
        no longer matches, or newer runs pushed it off). It never ends by itself.
        ``InvalidCursor`` at once for a bad status or limit; ``last_id``, ``idle``: as in
        ``watch_run``."""
        await self.list_runs(job=job, status=status, limit=limit)

        async def page() -> list[Run]:
            return (await self.list_runs(job=job, status=status, limit=limit)).data

        return watch.watch_runs(self._feed(), page, last_id=last_id, idle=idle)

    async def resolve_run_id(self, id_or_prefix: str) -> str:
        """The run whose id is ``id_or_prefix`` or, failing that, the one run whose id starts
        with it (the short ids a terminal shows). ``UnknownRun`` for none or several."""
        if "\x00" in id_or_prefix or not id_or_prefix:
            raise UnknownRun(f"no run {id_or_prefix!r} in {self.store.url}")
        if await self.store.get_run(id_or_prefix) is not None:
            return id_or_prefix
        ids = await self.store.run_ids_with_prefix(id_or_prefix, limit=3)
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise UnknownRun(
                f"no run {id_or_prefix!r} in {self.store.url}; run `relaykit runs list` to see runs"
            )
        shown = ", ".join(ids[:2]) + (", ..." if len(ids) > 2 else "")
        raise UnknownRun(
            f"run id prefix {id_or_prefix!r} matches several runs ({shown}); give more characters"
        )

    # -- events -------------------------------------------------------------------------------

    async def send_event(
        self,
        name: str,
        payload: Any,
        *,
        event_id: str | None = None,
        source: str = "relaykit",
        deliver_at: float | None = None,
    ) -> EventSent:
        """Store an event once and, in the same transaction, start the runs it triggers and
        hand it to the runs waiting for it (or keep it pending until ``deliver_at``)."""
        sent = await self.send_event_record(
            name, payload, event_id=event_id, source=source, deliver_at=deliver_at
        )
        return EventSent(**Event.fields_of(sent.event), runs=sent.runs, duplicate=sent.duplicate)

    async def send_event_record(
        self,
        name: str,
        payload: Any,
        *,
        event_id: str | None = None,
        source: str = "relaykit",
        deliver_at: float | None = None,
        tags: Sequence[str] = (),
    ) -> SentRecord:
        """``send_event``, answering with the stored record (exact epoch times, for the
        Python client's ``send_event``). ``tags`` are added to the runs the event starts now
        (not to those of a delayed event, refused with ``ConfigurationError``)."""
        tag_list = check_tags(tags, f"send_event({name!r})")
        if tag_list and deliver_at is not None:
            raise ConfigurationError(
                f"send_event({name!r}): tags= go to the runs an event starts when it is sent; "
                "a delayed event (deliver_at/deliver_after) cannot take them"
            )
        engine = await self._engine_for(f"sending event {name!r}")
        try:
            event, runs, inserted = await engine.send_event(
                name,
                payload,
                event_id=event_id,
                source=source,
                deliver_at=deliver_at,
                tags=tag_list,
            )
        finally:
            await engine.close()
        stored = await self.store.get_event(event.id) if inserted else None
        return SentRecord(stored or event, [r.id for r in runs], duplicate=not inserted)

    async def event_runs(self, event_id: str) -> EventRuns:
        """An event and the runs it started. ``UnknownEvent``."""
        event = None if "\x00" in event_id else await self.store.get_event(event_id)
        if event is None:
            raise UnknownEvent(f"no event {event_id!r}")
        # Runs are created with the event (or when a delayed one is delivered): never before it.
        runs = await self.store.runs_of_event(
            event.id, created_from=event.timestamp, limit=MAX_LIMIT
        )
        return EventRuns(Event.from_record(event), [Run.from_record(r) for r in runs])

    async def search(self, text: str, *, limit: int = 50) -> SearchResult:
        """Runs whose id is ``text`` or starts with it, the event with that id, and runs whose
        payload or output contains it (a plain, case-sensitive substring of their JSON).
        Empty or blank text finds nothing. ``InvalidCursor`` for a bad ``limit``."""
        _check_limit(limit)
        text = text.strip()
        if not text or "\x00" in text:
            return SearchResult(text, [], [])
        found: dict[str, RunRecord] = {}
        for run_id in await self.store.run_ids_with_prefix(text, limit=limit):
            run = await self.store.get_run(run_id)
            if run is not None:
                found[run.id] = run
        for run in await self.store.runs_containing(text, limit=limit):
            found.setdefault(run.id, run)
        runs = sorted(found.values(), key=lambda r: (r.created_at, r.id), reverse=True)
        event = await self.store.get_event(text)
        events = [] if event is None else [Event.from_record(event)]
        return SearchResult(text, [Run.from_record(r) for r in runs[:limit]], events)

    async def cancel_event(self, event_id: str) -> bool:
        """Withdraw a delayed event not yet delivered; False when it was not pending."""
        return await self.store.cancel_event(event_id)

    async def get_event(self, event_id: str) -> Event:
        """One event. ``UnknownEvent``."""
        event = None if "\x00" in event_id else await self.store.get_event(event_id)
        if event is None:
            raise UnknownEvent(f"no event {event_id!r}")
        return Event.from_record(event)

    async def list_events(self, *, cursor: str | None = None, limit: int = 50) -> EventPage:
        """A page of events, newest first, after ``cursor``. ``InvalidCursor``."""
        before = None if cursor is None else decode_cursor("events", cursor)
        _check_limit(limit)
        events = await self.store.list_events(limit=limit + 1, before=before)
        page = events[:limit]
        last = page[-1] if len(events) > limit else None
        return EventPage(
            data=[Event.from_record(e) for e in page],
            next_cursor=None if last is None else encode_cursor("events", last.timestamp, last.id),
        )

    # -- key-value store ----------------------------------------------------------------------

    async def get_kv(self, namespace: str, owner: str, name: str) -> KvEntry:
        """What ``io.store.<namespace>`` holds under ``name`` for ``owner``. ``NotFound``."""
        scope = f"{namespace}:{owner}"
        text = await self.store.kv_get(scope, name)
        if text is None:
            raise NotFound(f"no key {name!r} in {scope}")
        return KvEntry(namespace=namespace, owner=owner, name=name, value=json.loads(text))  # type: ignore[arg-type]  # namespace is checked by KvEntry

    async def set_kv(self, namespace: str, owner: str, name: str, value: Any) -> KvEntry:
        """Set a key that runs read with ``io.store``; the entry as stored."""
        text = dumps(value, what=f"the value of key {name!r}")
        await self.store.kv_set(f"{namespace}:{owner}", name, text, now=self.clock.now())
        return KvEntry(namespace=namespace, owner=owner, name=name, value=json.loads(text))  # type: ignore[arg-type]  # namespace is checked by KvEntry

    async def delete_kv(self, namespace: str, owner: str, name: str) -> None:
        """Remove a key (nothing happens if it is absent)."""
        await self.store.kv_set(f"{namespace}:{owner}", name, None, now=self.clock.now())

    # -- waitpoint tokens ---------------------------------------------------------------------

    def _token_resource(self, token: TokenRecord) -> Token:
        signer = TokenSigner.from_env()
        return Token.from_record(token, now=self.clock.now(), url=signer.url(token.id))

    async def _token(self, token_id: str) -> TokenRecord:
        found = None if "\x00" in token_id else await self.store.get_token(token_id)
        if found is None:
            raise UnknownToken(
                f"no token {token_id!r} in {self.store.url}; run `relaykit tokens list` to see "
                "tokens"
            )
        return found

    async def get_token(self, token_id: str) -> Token:
        """One waitpoint token. ``UnknownToken``."""
        return self._token_resource(await self._token(token_id))

    async def list_tokens(self, *, run_id: str | None = None, limit: int = 50) -> TokenList:
        """Waitpoint tokens newest first, of ``run_id`` when given."""
        _check_limit(limit)
        tokens = await self.store.list_tokens(run_id=run_id, limit=limit)
        return TokenList(data=[self._token_resource(t) for t in tokens])

    def check_token_signature(self, token_id: str, signature: str) -> bool:
        """Whether ``signature`` is the one in ``token_id``'s callback URL."""
        return TokenSigner.from_env().verify(token_id, signature)

    async def complete_token(self, token_id: str, data: Any = None) -> Token:
        """Complete a waiting token with ``data`` (any JSON value) and make the run waiting
        for it due, once. ``UnknownToken``; ``TokenNotWaiting`` when it was completed or timed
        out before (the data it has is kept)."""
        text = dumps(data, what=f"the data for token {token_id!r}")
        token, done = await self.store.complete_token(
            token_id, json.loads(text), now=self.clock.now()
        )
        if token is None:
            await self._token(token_id)  # raises UnknownToken
            raise AssertionError("unreachable")  # pragma: no cover
        if not done:
            status = token.status(self.clock.now())
            when = "was completed already" if status == "completed" else "timed out"
            raise TokenNotWaiting(
                f"token {token_id} {when}; its data is not replaced (a token completes once)",
                status=status,
            )
        if self._on_enqueue is not None:
            self._on_enqueue()
        return self._token_resource(token)

    # -- retrying a run from where it stopped -------------------------------------------------

    async def retry_run(
        self, run_id: str, *, from_task: str | None = None, payload: Any = _SAME
    ) -> RunRecord:
        """Queue a **new** run that resumes ``run_id`` where it stopped: it starts with copies
        of the old run's completed tasks (which replay from their outputs; the failed task and
        everything after it execute again) and of its ``io.store.run`` entries. The old run
        stays as it was, so its history and error remain visible.

        With ``from_task`` (a recorded task key), the new run keeps only the tasks completed
        before that one — a fork from that point; with ``payload``, it runs with that payload
        instead. A plain retry needs a run that failed, was canceled or timed out; a fork
        any run that ended. ``UnknownRun``, ``UnknownTask``, ``RunNotRetriable``; with the
        jobs known, ``UnknownJob`` for a job the app no longer defines."""
        run = await self._run(run_id)
        forking = from_task is not None or payload is not _SAME
        if not run.status.is_terminal:
            raise RunNotRetriable(
                f"run {run_id} is {run.status.value}: only a run that ended is retried; cancel "
                f"it first (`relaykit runs cancel {run_id}`)"
            )
        if not forking and run.status not in _RETRIABLE:
            raise RunNotRetriable(
                f"run {run_id} {run.status.value}: a retry resumes a failed, canceled or timed "
                "out run; fork it with --from-task KEY or --payload, or replay it"
            )
        if self.jobs is not None and run.job_id not in self.jobs:
            raise UnknownJob(f"run {run_id}'s job {run.job_id!r} is not defined in this app")
        tokens = await self.store.list_tokens(run_id=run_id, limit=10_000)
        answered = {t.task_key for t in tokens if t.completed_at is not None}
        keep = tasks_to_keep(run_id, await self.store.load_tasks(run_id), from_task, answered)
        text = None if payload is _SAME else dumps(payload, what=f"the payload of run {run_id}")
        now = self.clock.now()
        new = await self.store.retry_run(
            run_id, new_id=new_id("run", now), now=now, keep=keep, payload=text
        )
        if new is None:
            raise UnknownRun(f"no run {run_id!r} in {self.store.url}; see `relaykit runs list`")
        if self._on_enqueue is not None:
            self._on_enqueue()
        return new
