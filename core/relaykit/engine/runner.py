"""One attempt of one run: the pure step (job, run, recorded tasks) -> outcome + new records.

An attempt calls the run function. Every task it meets is looked up by its scoped key among
the run's recorded tasks (loaded once, before the attempt): a completed task hands back its
recorded output without running; a new one runs and its outcome is committed before
``run_task`` returns. Anything that must wait (a ``wait``, a retry delay) raises ``Suspend``, a
``BaseException`` that ends the attempt; the run is replayed when it is due. See
``docs/internals/execution-model.md``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, TypeVar, cast

import pydantic

from .._base.serde import dumps, restore, return_hint
from .._base.sync import is_async_callable, run_in_thread
from .._base.threads import call_blocking
from ..definitions.context import Context, EventInfo, JobInfo, RunInfo, TaskInfo, _current
from ..definitions.jobs import Job
from ..definitions.retry import Retry
from ..errors import (
    DuplicateTaskKey,
    LeaseLost,
    MissingConnection,
    NonDeterministicRun,
    NonRetriable,
    RelaykitError,
    RetryAfter,
    RunError,
    SerializationError,
    StoreError,
    TaskFailed,
)
from ..integrations.plugins import TaskCall
from ..records import (
    TOKEN_WAIT_PREFIX,
    EventMatch,
    EventRecord,
    EventWait,
    KvWrite,
    LogRecord,
    RunRecord,
    RunStatus,
    TaskAttempt,
    TaskRecord,
    TaskStatus,
    to_datetime,
)
from .attempt import (
    Abort,
    ControlFlow,
    Outcome,
    Services,
    Suspend,
    WaitForConnection,
    error_info,
)

DEFAULT_RETRY = Retry()
_M = TypeVar("_M", bound=Callable[..., Awaitable[Any]])
_log = logging.getLogger("relaykit.engine")
#: ``io.logger`` lines, also handed to stdlib logging (``docs/observability.md``). Its
#: NullHandler keeps Python's last-resort handler from printing them a second time beside the
#: run's own display; the handlers a user configures (on the root logger) still see them.
run_log = logging.getLogger("relaykit.run")
run_log.addHandler(logging.NullHandler())
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING}


def _short(text: str | None, limit: int = 200) -> str:
    text = "null" if text is None else text
    return text if len(text) <= limit else text[:limit] + "…"


def _is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, NonRetriable):
        return False
    return bool(getattr(exc, "retriable", True))


def _parks(method: _M) -> _M:
    """An ``Attempt`` method whose suspension first parks its branch (``Attempt.park``)."""

    @functools.wraps(method)
    async def parked(self: Attempt, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except (Suspend, BaseExceptionGroup) as exc:
            if any(isinstance(e, Suspend) for e in _leaves(exc)):
                await self.park()
            raise

    return cast(_M, parked)


class Attempt:
    """The state of one attempt of one run. ``io`` methods all end up here."""

    def __init__(
        self,
        *,
        job: Job,
        run: RunRecord,
        recorded: Sequence[TaskRecord],
        log_keys: set[str],
        event_matches: Sequence[EventMatch] = (),
        services: Services,
    ) -> None:
        self.job = job
        self.run = run
        self.services = services
        self._store = services.store
        self._clock = services.clock
        self._observer = services.observer
        self._recorded = {t.key: t for t in recorded}
        self._log_keys = log_keys
        self._event_matches = {m.task_key: m.event for m in event_matches}
        self._event_waits: list[EventWait] = []
        self._seen: set[str] = set()
        self._pending: dict[str, TaskRecord] = {}
        # when the function of each task executing now began (its attempt's start)
        self._began: dict[str, float] = {}
        self._logs: list[LogRecord] = []
        self._log_seq: dict[str, int] = {}
        # the branches (asyncio tasks other than the root) with tasks in flight (running their
        # function or committing it), and those tasks' keys, outermost first
        self._inflight: dict[asyncio.Task[Any], list[str]] = {}
        # branches waiting, before they suspend, for the other branches' task functions
        self._parked: set[asyncio.Task[Any]] = set()
        self._changed: asyncio.Event | None = None
        self._root: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.suspended = False
        self.wake_at: float | None = None
        self.closed = False
        self.lost = False
        self.fatal: RunError | None = None
        # a dry replay (``relaykit check-replay``): nothing is executed or written; the store
        # and the lease check stop the attempt at the first new work
        self.dry = False

    @property
    def seen_keys(self) -> set[str]:
        """The full keys this attempt has asked for so far (recorded or new)."""
        return self._seen

    # -- running the run function -------------------------------------------------------------

    async def execute(self, make_io: Callable[[Attempt], Any]) -> Outcome:
        """Run the run function once and say how it ended."""
        self._root = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        try:
            payload = self.job.parse_payload(json.loads(self.run.payload))
        except pydantic.ValidationError as exc:
            return Outcome(RunStatus.INVALID_PAYLOAD, error=error_info(exc))
        try:
            result = await self._call_run_function(payload, make_io(self))
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise  # a lost lease or a shutdown: the engine handles it
        except BaseException as exc:
            return await self._ended_by(exc)
        finally:
            self.closed = True
        if self.lost:
            return Outcome(RunStatus.RUNNING)
        if self.fatal is not None:  # user code caught a broken rule: the run fails anyway
            return self._finish(Outcome(RunStatus.FAILED, error=error_info(self.fatal)))
        if self.suspended:  # user code swallowed the signal with a bare except: still waiting
            return self._finish(Outcome(RunStatus.WAITING, wake_at=self.wake_at))
        try:
            output = dumps(result, what=f"the output of job {self.job.id!r}")
        except SerializationError as exc:
            return self._finish(Outcome(RunStatus.FAILED, error=error_info(exc)))
        return self._finish(Outcome(RunStatus.SUCCEEDED, output=output))

    async def _ended_by(self, exc: BaseException) -> Outcome:
        """The outcome of a run function that raised ``exc`` — one exception, or an exception
        group from ``asyncio.TaskGroup`` / ``except*`` holding signals and errors together.

        A lost lease or a store fault wins (nothing more may be written), then a broken rule
        (the run fails with it whatever user code did with it), then an error that escaped,
        then a wait for a connection, then a suspension (the earliest wake time of all the
        branches)."""
        leaves = list(_leaves(exc))
        # relaykit's own database failing (io.store read outside a task, say) is no verdict
        # on the run: the attempt gives up and the run resumes once the store is back
        if self.lost or any(isinstance(e, (Abort, StoreError)) for e in leaves):
            store_errors = [e for e in leaves if isinstance(e, StoreError)]
            if store_errors and not self.lost:
                _log.warning(
                    "run %s: the store failed (%s); the run resumes later",
                    self.run.id,
                    store_errors[0],
                )
            self.lost = True
            await self._cancel_inflight()
            return Outcome(RunStatus.RUNNING)
        errors = [e for e in leaves if not isinstance(e, ControlFlow)]
        if self.fatal is not None or errors:
            await self._cancel_inflight()
            failure = self.fatal or (errors[0] if len(errors) == 1 else exc)
            return self._finish(Outcome(RunStatus.FAILED, error=error_info(failure)))
        self.suspended = True
        for sig in leaves:
            if isinstance(sig, Suspend):
                self._suspend_at(sig.wake_at)
        await self._drain()
        if any(isinstance(e, WaitForConnection) for e in leaves):
            return self._finish(Outcome(RunStatus.WAITING_FOR_CONNECTION))
        return self._finish(Outcome(RunStatus.WAITING, wake_at=self.wake_at))

    async def _call_run_function(self, payload: Any, io: Any) -> Any:
        ctx = self._context()
        if self.job.is_async:
            return await self.job.run(payload, io, ctx)
        return await run_in_thread(self.job.run, payload, io.sync_facade(), ctx)

    def _context(self) -> Context:
        run = self.run
        event_ts = to_datetime(run.created_at)
        assert event_ts is not None  # noqa: S101 -- created_at is never NULL
        return Context(
            run=RunInfo(run.id, run.attempt, run.is_test, to_datetime(run.started_at)),
            job=JobInfo(self.job.id, self.job.version),
            event=EventInfo(run.event_id or run.id, run.event_name or "invoke", event_ts),
            environment=run.environment,
        )

    def _finish(self, outcome: Outcome) -> Outcome:
        outcome.tasks = list(self._pending.values())
        outcome.logs = self._take_logs()
        outcome.event_waits = self._event_waits
        return outcome

    async def _drain(self) -> None:
        # Parallel branches still running a task finish it (and commit it) before the attempt
        # ends; they start nothing new, because ``suspended`` is set.
        current = asyncio.current_task()
        while pending := {t for t in self._inflight if t is not current and not t.done()}:
            await asyncio.wait(pending)

    async def _cancel_inflight(self) -> None:
        current = asyncio.current_task()
        pending = {t for t in self._inflight if t is not current and not t.done()}
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)

    def _suspend_at(self, wake_at: float | None) -> None:
        self.suspended = True
        if wake_at is not None and (self.wake_at is None or wake_at < self.wake_at):
            self.wake_at = wake_at

    def suspend(self, wake_at: float | None) -> NoReturn:
        """End the attempt: the run is due again at ``wake_at`` (None: when woken)."""
        self._suspend_at(wake_at)
        raise Suspend(wake_at)

    async def park(self) -> None:
        """Before a suspension leaves a parallel branch, wait until no other branch is in the
        middle of a task's function.

        ``asyncio.TaskGroup`` cancels the other branches as soon as one raises: a task function
        cancelled half-way (an HTTP request sent, its answer not yet recorded) would run again
        on the replay. Parked, the suspending branch lets them finish and commit first; they
        start nothing new (``enter`` suspends them too). Parked branches do not wait for each
        other, so nested suspensions cannot deadlock."""
        me = asyncio.current_task()
        if me is None or me is self._root:
            return  # the root suspends at once; ``execute`` drains the branches
        scope = _current.get()
        mine = scope.key if scope is not None and scope.run_id == self.run.id else None

        def busy(t: asyncio.Task[Any], keys: list[str]) -> bool:
            # a task whose function encloses this branch (a sync task's nested call runs in
            # a task of its own) waits for this branch: never wait for it
            encloses = mine is not None and any(
                mine == key or mine.startswith(f"{key}/") for key in keys
            )
            return t is not me and not t.done() and t not in self._parked and not encloses

        self._parked.add(me)
        self._poke()
        try:
            while any(busy(t, keys) for t, keys in self._inflight.items()):
                if self._changed is None:
                    self._changed = asyncio.Event()
                await self._changed.wait()
        finally:
            self._parked.discard(me)

    def _track(self, key: str) -> asyncio.Task[Any] | None:
        """Note that the current branch has task ``key`` in flight (the root is not noted:
        ``execute`` drains the branches itself)."""
        me = asyncio.current_task()
        if me is None or me is self._root:
            return None
        self._inflight.setdefault(me, []).append(key)
        return me

    def _untrack(self, me: asyncio.Task[Any] | None) -> None:
        if me is None:
            return
        keys = self._inflight[me]
        keys.pop()
        if not keys:
            del self._inflight[me]
        if self._parked:
            self._poke()

    def _poke(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- keys, replay checks and commits ------------------------------------------------------

    def _scoped(self, key: str) -> tuple[str, str | None]:
        """``key`` scoped by the enclosing task of this run: (full key, parent key)."""
        parent = _current.get()
        parent_key = parent.key if parent is not None and parent.run_id == self.run.id else None
        return (key if parent_key is None else f"{parent_key}/{key}"), parent_key

    def full_key(self, key: str) -> str:
        """``key`` scoped by the enclosing task, as ``enter`` would name it (claiming nothing)."""
        return self._scoped(key)[0]

    def _completed(self, key: str) -> TaskRecord | None:
        rec = self._recorded.get(self.full_key(key))
        return rec if rec is not None and rec.status is TaskStatus.COMPLETED else None

    def has_completed(self, key: str) -> bool:
        """Whether ``key`` (in the current scope) is recorded as completed."""
        return self._completed(key) is not None

    def completed_output(self, key: str) -> Any:
        """The recorded output of ``key`` (in the current scope) when it completed, else None."""
        rec = self._completed(key)
        return None if rec is None else restore(rec.output)

    def enter(self, key: str, *, while_suspended: bool = False) -> tuple[str, str | None]:
        """Claim ``key`` in the current scope; return (full key, parent key).

        Once the attempt is suspending, nothing new starts (``Suspend``), except what
        ``while_suspended`` allows: a wait, which only records its deadline.
        """
        if self.closed or self.lost:
            raise Abort()
        if not isinstance(key, str) or not key or "/" in key or "\x00" in key:
            raise RelaykitError(
                f"run {self.run.id}: task key {key!r} must be a non-empty string without '/' "
                "or NUL (\\x00)"
            )
        full, parent_key = self._scoped(key)
        if full in self._seen:
            where = f"inside task {parent_key!r}" if parent_key else "at the top of the run"
            raise self.fatal_error(
                DuplicateTaskKey(
                    f"run {self.run.id}: task key {key!r} is used twice {where}; give each "
                    "task a unique key (in a loop, add the index: f'step-{i}')"
                )
            )
        self._seen.add(full)
        if self.suspended and not while_suspended:
            raise Suspend(None)
        return full, parent_key

    def fatal_error(self, exc: RunError) -> RunError:
        """Remember a broken rule: the run fails with it even if user code swallows it."""
        if self.fatal is None:
            self.fatal = exc
        return exc

    def recorded(self, full: str, kind: str, name: str, params: str | None) -> TaskRecord | None:
        """The recorded task for ``full``, after checking the replay is deterministic."""
        rec = self._recorded.get(full)
        if rec is None:
            return None
        same_params = params is None or rec.params == params
        if rec.kind != kind or rec.name != name or not same_params:
            raise self.fatal_error(
                NonDeterministicRun(
                    f"run {self.run.id}: task {full!r} was recorded as {rec.kind} {rec.name!r} "
                    f"with params {_short(rec.params)} but this replay runs {kind} {name!r} with "
                    f"params {_short(params)}; a key must name the same work on every replay - "
                    "give new work a new key"
                )
            )
        if rec.status is TaskStatus.CANCELED:
            raise Abort()
        return rec

    async def commit(
        self,
        rec: TaskRecord,
        *,
        kv: Sequence[KvWrite] = (),
        events: Sequence[EventRecord] = (),
        runs: Sequence[RunRecord] = (),
    ) -> None:
        """Write a finished task (with pending logs and effects) in one transaction."""
        self._pending.pop(rec.key, None)
        logs = self._take_logs()
        try:
            await self._store.record_task(
                run_id=self.run.id,
                epoch=self.run.epoch,
                task=rec,
                logs=logs,
                kv=kv,
                events=events,
                runs=runs,
            )
        except StoreError as exc:  # lease lost, or the database failed: stop, write nothing
            self.give_up(exc)
        self._recorded[rec.key] = rec
        self._observer.task_ended(self.run.id, rec)

    def give_up(self, exc: StoreError) -> NoReturn:
        """The attempt cannot record anything more: it ends without an outcome and starts
        nothing new; the run is replayed by the attempt that took it or, after a store fault,
        once its lease expires (by this worker or another)."""
        if not isinstance(exc, LeaseLost):
            _log.warning("run %s: the store failed (%s); the run resumes later", self.run.id, exc)
        self.lost = True
        raise Abort() from exc

    def remember(self, rec: TaskRecord) -> None:
        """Keep a record to write when the attempt ends (a wait, a retry, a paused parent)."""
        self._pending[rec.key] = rec
        self._observer.task_ended(self.run.id, rec)

    def _take_logs(self) -> list[LogRecord]:
        logs, self._logs = self._logs, []
        return logs

    # -- tasks --------------------------------------------------------------------------------

    @_parks
    async def task(
        self,
        key: str,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        *,
        kind: str = "task",
        name: str | None = None,
        retry: Retry | None = None,
        properties: dict[str, Any] | None = None,
        icon: str | None = None,
        params: str | None = None,
        check_params: bool = True,
        hint: Any = None,
        kv: Sequence[KvWrite] = (),
        events: Sequence[EventRecord] = (),
        output_properties: Callable[[Any], Mapping[str, Any]] | None = None,
    ) -> Any:
        """Run ``fn(*args)`` once per run and key: memoized, retried, committed.

        ``output_properties(output)`` adds properties known only from the output (an
        integration's token usage); they are written with the completed task.
        """
        full, parent = self.enter(key)
        name = name or _default_name(fn, key)
        if params is None:
            params = dumps(list(args), what=f"the arguments of task {full!r}") if args else None
        rec = self.recorded(full, kind, name, params if check_params else None)
        if rec is not None and rec.status is TaskStatus.COMPLETED:  # the replay fast path
            return restore(rec.output, return_hint(fn) if hint is None else hint)
        now = self._clock.now()
        if rec is not None:
            if rec.status is TaskStatus.ERRORED:
                raise task_failed(full, rec)
            if rec.next_attempt_at is not None and rec.next_attempt_at > now:
                self.suspend(rec.next_attempt_at)
        # A task paused by its child's wait (waiting, no error) resumes the same attempt; a
        # task whose retry delay is over starts a new one.
        resumed = rec is not None and rec.status is TaskStatus.WAITING and rec.error is None
        fresh = TaskRecord(
            key=full,
            name=name,
            kind=kind,
            status=TaskStatus.RUNNING,
            started_at=rec.started_at if rec else now,
            params=params,
            attempts=(rec.attempts if rec else 0) + (0 if resumed else 1),
            failures=rec.failures if rec else 0,
            properties=properties,
            icon=icon,
            parent=parent,
            busy_seconds=rec.busy_seconds if rec else None,
        )
        try:  # the last check before the function runs: is this attempt still the run's?
            await self.services.ensure_lease(self.run.id)
        except StoreError as exc:
            self.give_up(exc)
        self._began[full] = self._clock.now()
        # From here until its record is committed the task is in flight: a branch that
        # suspends waits for it (``park``), so it is never cancelled half-way.
        me = self._track(full)
        try:
            return await self._execute(
                fresh,
                fn,
                args,
                retry or DEFAULT_RETRY,
                hint=hint,
                kv=kv,
                events=events,
                output_properties=output_properties,
            )
        finally:
            self._began.pop(full, None)
            self._untrack(me)

    async def _execute(
        self,
        fresh: TaskRecord,
        fn: Callable[..., Any],
        args: Sequence[Any],
        retry: Retry,
        *,
        hint: Any,
        kv: Sequence[KvWrite],
        events: Sequence[EventRecord],
        output_properties: Callable[[Any], Mapping[str, Any]] | None,
    ) -> Any:
        """Run a task's function (through the plugins' hooks), then commit its outcome."""
        full = fresh.key
        value = await self._attempt_task(fresh, fn, args, retry)
        try:
            fresh.output = dumps(value, what=f"the output of task {full!r}")
            restored = restore(
                fresh.output,
                return_hint(fn) if hint is None else hint,
                what=f"the output of task {full!r}",
            )
        except SerializationError as exc:
            fresh.output = None
            fresh.failures += 1
            await self._fail(fresh, exc)
        if output_properties is not None:
            try:
                extra = dict(output_properties(value))
            except Exception:  # properties are for display: never fail a task over them
                _log.exception("task %r: reading properties from its output failed", full)
                extra = {}
            fresh.properties = {**(fresh.properties or {}), **extra}
        fresh.status = TaskStatus.COMPLETED
        fresh.ended_at = self._clock.now()
        fresh.error = None
        self._attempt_ended(fresh, fresh.ended_at)
        await self.commit(fresh, kv=kv, events=events)
        return restored

    async def _attempt_task(
        self, rec: TaskRecord, fn: Callable[..., Any], args: Sequence[Any], retry: Retry
    ) -> Any:
        info = TaskInfo(
            run_id=self.run.id,
            key=rec.key,
            name=rec.name,
            attempt=rec.attempts,
            idempotency_key=f"{self.run.id}:{rec.key}",
        )
        token = _current.set(info)
        self._observer.task_started(self.run.id, rec.key, rec.name, rec.attempts)
        try:
            return await self.services.plugins.wrap_task(
                TaskCall(
                    run_id=self.run.id,
                    job_id=self.job.id,
                    key=rec.key,
                    name=rec.name,
                    attempt=rec.attempts,
                    params=rec.params,
                    integration=(rec.properties or {}).get("integration"),
                    icon=rec.icon,
                    properties=rec.properties,
                    _execute=lambda: self._call(fn, args),
                    _annotate=lambda extra: _annotate(rec, extra),
                )
            )
        except MissingConnection as exc:
            # no credentials: the run waits for a connection instead of failing
            rec.status = TaskStatus.WAITING
            rec.error = error_info(exc, task=rec.key)
            self._attempt_ended(rec, self._clock.now())
            self.remember(rec)
            raise WaitForConnection(exc.integration_id) from exc
        except Suspend:
            # A child of this task must wait: this task is paused, not failed (the same
            # attempt resumes later, so it has no history row yet; its time so far counts).
            rec.status = TaskStatus.WAITING
            self._attempt_ended(rec, self._clock.now(), paused=True)
            self.remember(rec)
            raise
        except (ControlFlow, RunError):
            raise  # a broken rule inside a task is the run's failure, not the task's
        except StoreError as exc:  # relaykit's own database failed (e.g. io.store reads)
            self.give_up(exc)
        except BaseExceptionGroup as group:  # a TaskGroup inside the task's function
            await self._group_ended(rec, group, retry)
        except Exception as exc:
            rec.failures += 1
            policy = getattr(exc, "retry_policy", None) or retry
            await self._fail(rec, exc, policy)
        finally:
            _current.reset(token)

    async def _group_ended(
        self, rec: TaskRecord, group: BaseExceptionGroup[BaseException], retry: Retry
    ) -> NoReturn:
        """A task's function ended with an exception group: signals and broken rules pass
        through; errors are the task's failure (retried); only suspensions pause it."""
        if any(isinstance(e, (Abort, RunError)) for e in _leaves(group)):
            raise group
        failure = group.subgroup(lambda e: not isinstance(e, ControlFlow))
        if failure is None:  # only suspensions: this task is paused, like a child's wait
            rec.status = TaskStatus.WAITING
            self._attempt_ended(rec, self._clock.now(), paused=True)
            self.remember(rec)
            raise group
        if not isinstance(failure, Exception):  # KeyboardInterrupt and the like
            raise group
        rec.failures += 1
        await self._fail(rec, failure, retry)

    async def _call(self, fn: Callable[..., Any], args: Sequence[Any]) -> Any:
        if is_async_callable(fn):
            return await fn(*args)
        result = await call_blocking(self.services.lanes, fn, tuple(args))
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _fail(
        self, rec: TaskRecord, exc: BaseException, retry: Retry = DEFAULT_RETRY
    ) -> NoReturn:
        now = self._clock.now()
        rec.error = error_info(exc, task=rec.key)
        self._attempt_ended(rec, now)
        delay: float | None
        if not _is_retriable(exc):
            delay = None
        elif isinstance(exc, RetryAfter):
            delay = exc.seconds if rec.failures < retry.limit else None
        else:
            delay = retry.delay(rec.failures, self.services.rng)
        if delay is None:
            rec.status = TaskStatus.ERRORED
            rec.ended_at = now
            rec.next_attempt_at = None
            await self.commit(rec)
            raise task_failed(rec.key, rec) from exc
        rec.status = TaskStatus.WAITING
        rec.next_attempt_at = now + delay
        self.remember(rec)
        self.suspend(rec.next_attempt_at)

    def _attempt_ended(self, rec: TaskRecord, now: float, *, paused: bool = False) -> None:
        """Count the time the task's function just ran into its busy time and (unless it
        only paused for a child's wait) hand the store the attempt's history row, written
        with ``rec``. Retry back-off and the run's waits fall between attempts: not counted.

        A first attempt that succeeds writes no history row: the task row holds all of it
        (``records.attempts_by_task`` rebuilds it), so the hot path stays one statement."""
        began = self._began.pop(rec.key, None)
        if began is None:
            return
        rec.busy_seconds = (rec.busy_seconds or 0.0) + max(0.0, now - began)
        first_success = rec.attempts == 1 and rec.error is None
        if not paused and not first_success:
            rec.ended_attempt = TaskAttempt(rec.key, rec.attempts, began, now, rec.error)

    @_parks
    async def patched(self, name: str) -> bool:
        """``io.patched(name)``: True where this run reaches the patch first, False where its
        recorded history went past this point without it (the old code's path).

        The answer is decided once per run and recorded (a ``patch`` marker at key
        ``patch:<name>``), so every replay gets the same one. Undecided, it is False when a
        task recorded in the same scope has not been replayed yet: the old code went on
        without the patch. Call it from the run's main flow (not beside parallel branches
        that have recorded tasks still to replay)."""
        full, parent = self.enter(f"patch:{name}")
        rec = self.recorded(full, "patch", name, None)
        if rec is not None:
            return rec.output == "true"
        ahead = any(r.parent == parent and r.key not in self._seen for r in self._recorded.values())
        now = self._clock.now()
        marker = TaskRecord(
            key=full,
            name=name,
            kind="patch",
            status=TaskStatus.COMPLETED,
            started_at=now,
            ended_at=now,
            output="false" if ahead else "true",
            attempts=1,
            parent=parent,
        )
        if self.dry:
            self._recorded[full] = marker
        else:
            try:
                await self.services.ensure_lease(self.run.id)
            except StoreError as exc:
                self.give_up(exc)
            await self.commit(marker)
        return not ahead

    @_parks
    async def wait_until(self, key: str, deadline: float, params: str) -> None:
        """A durable sleep until ``deadline`` (epoch seconds); suspends the run if not due."""
        # A wait has no side effect, so a parallel branch still records its deadline after
        # another branch suspended: both waits then elapse together.
        full, parent = self.enter(key, while_suspended=True)
        rec = self.recorded(full, "wait", "wait", None)
        now = self._clock.now()
        if rec is not None and rec.status is TaskStatus.COMPLETED:
            return
        due = rec.next_attempt_at if rec is not None else deadline
        started = rec.started_at if rec is not None else now
        if due is not None and due > now:
            if rec is None:
                self.remember(
                    TaskRecord(
                        key=full,
                        name="wait",
                        kind="wait",
                        status=TaskStatus.WAITING,
                        started_at=started,
                        params=params,
                        next_attempt_at=due,
                        parent=parent,
                    )
                )
            self.suspend(due)
        done = TaskRecord(
            key=full,
            name="wait",
            kind="wait",
            status=TaskStatus.COMPLETED,
            started_at=started,
            params=params,
            ended_at=max(now, due or now) if rec is None else now,
            next_attempt_at=due,
            parent=parent,
        )
        await self.commit(done)

    @_parks
    async def wait_for_event(
        self,
        key: str,
        name: str,
        flt: str | None,
        timeout: float | None,  # noqa: ASYNC109 -- a durable deadline, not an asyncio timeout
        params: str,
    ) -> Any:
        """Suspend until an event named ``name`` matching ``flt`` arrives (its body is handed
        back) or until ``timeout`` seconds have passed (None is handed back)."""
        now = self._clock.now()
        deadline = None if timeout is None else now + timeout
        found, event = await self._wait_for_match(
            key, "event", f"wait for {name}", EventWait("", name, flt), deadline, params
        )
        return event if found else None

    @_parks
    async def wait_for_token(
        self, key: str, token_id: str, expires_at: float | None, params: str
    ) -> tuple[bool, Any]:
        """Suspend until the token ``token_id`` is completed — (True, its data) — or until it
        expires at ``expires_at`` — (False, None). The wait is an event wait on the token's
        reserved name; completing the token resolves it (``Store.complete_token``)."""
        wait = EventWait("", TOKEN_WAIT_PREFIX + token_id, None)
        found, body = await self._wait_for_match(
            key, "token", "wait for token", wait, expires_at, params
        )
        return (True, body["data"]) if found else (False, None)

    async def _wait_for_match(
        self,
        key: str,
        kind: str,
        task_name: str,
        wait: EventWait,
        deadline: float | None,
        params: str,
    ) -> tuple[bool, Any]:
        """A wait resolved by the store (an ``EventWait``): (True, the body that resolved it)
        or, once ``deadline`` passed first, (False, None)."""
        full, parent = self.enter(key, while_suspended=True)
        rec = self.recorded(full, kind, task_name, None)
        if rec is not None and rec.status is TaskStatus.COMPLETED:
            return rec.output is not None and rec.output != "null", restore(rec.output)
        now = self._clock.now()
        started = rec.started_at if rec is not None else now
        done = TaskRecord(
            key=full,
            name=task_name,
            kind=kind,
            status=TaskStatus.COMPLETED,
            started_at=started,
            params=params,
            ended_at=now,
            parent=parent,
        )
        event = self._event_matches.pop(full, None)
        if event is not None:
            done.output = dumps(event, what=f"the event of {full!r}")
            await self.commit(done)
            return True, event
        if rec is not None:
            deadline = rec.next_attempt_at
        if deadline is not None and deadline <= now:
            if rec is None:  # a zero timeout: nothing to wait for
                await self.commit(done)
                return False, None
            if await self._expire(done):
                return False, None
            self.suspend(now)  # an event won the race: replay at once to take it
        if rec is None:
            self.remember(
                TaskRecord(
                    key=full,
                    name=task_name,
                    kind=kind,
                    status=TaskStatus.WAITING,
                    started_at=now,
                    params=params,
                    next_attempt_at=deadline,
                    parent=parent,
                )
            )
            self._event_waits.append(EventWait(full, wait.event_name, wait.filter))
        self.suspend(deadline)

    async def _expire(self, rec: TaskRecord) -> bool:
        try:
            ok = await self._store.expire_event_wait(
                run_id=self.run.id, epoch=self.run.epoch, task=rec
            )
        except StoreError as exc:
            self.give_up(exc)
        if ok:
            self._recorded[rec.key] = rec
            self._observer.task_ended(self.run.id, rec)
        return ok

    # -- logs ---------------------------------------------------------------------------------

    def log(self, level: str, message: str, properties: dict[str, Any]) -> None:
        """Buffer a log line (written with the next commit); skipped when already recorded."""
        if self.closed:
            raise Abort()
        scope = _current.get()
        in_task = scope is not None and scope.run_id == self.run.id
        scope_key = scope.key if scope is not None and in_task else ""
        # Each attempt of a task logs afresh; a replay of the same attempt does not.
        attempt_key = f"{scope_key}@{scope.attempt}" if scope is not None and in_task else ""
        seq = self._log_seq.get(attempt_key, 0) + 1
        self._log_seq[attempt_key] = seq
        key = f"{attempt_key}#{seq}"
        if key in self._log_keys:
            return
        props = json.loads(dumps(properties, what=f"the properties of log line {message!r}"))
        rec = LogRecord(key, level, str(message), props, self._clock.now(), scope_key or None)
        self._log_keys.add(key)
        self._logs.append(rec)
        self._observer.logged(self.run.id, rec)
        if self.dry:  # ``relaykit check-replay`` runs nothing: it logs nothing either
            return
        # after the replay check above: a replayed line is not logged again
        run_log.log(
            _LEVELS.get(level, logging.ERROR),
            rec.message,
            extra={
                "run_id": self.run.id,
                "job_id": self.job.id,
                "task_key": rec.task,
                "properties": props,
            },
        )


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside ``exc``, exception groups flattened (``exc`` itself otherwise)."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _annotate(rec: TaskRecord, extra: Mapping[str, Any]) -> None:
    # a new dict: ``rec.properties`` may be the one the user passed to io.run_task
    rec.properties = {**(rec.properties or {}), **extra}


def _default_name(fn: Callable[..., Any], key: str) -> str:
    name = getattr(fn, "__name__", None)
    return key if not name or name == "<lambda>" else str(name)


def task_failed(full: str, rec: TaskRecord) -> TaskFailed:
    err = rec.error
    cause_type = err["type"] if err else "Error"
    cause_message = err["message"] if err else ""
    return TaskFailed(
        f"task {full!r} failed after {rec.attempts} attempt(s): {cause_type}: {cause_message}",
        key=full,
        cause_type=cause_type,
        cause_message=cause_message,
    )
