"""Value types shared by the engine, the store and the public results.

Store records keep times as UTC epoch seconds (floats) and JSON values as text: they are what
the store reads and writes on the hot path. The public ``RunResult``/``TaskResult`` turn them
into datetimes and Python values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, NamedTuple, TypedDict, final

from .errors import UnknownTask


class RunStatus(StrEnum):
    """The states of a run (DESIGN §3)."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"
    INVALID_PAYLOAD = "invalid_payload"
    WAITING_FOR_CONNECTION = "waiting_for_connection"

    @property
    def is_terminal(self) -> bool:
        """True for states a run never leaves."""
        return self in TERMINAL_RUN_STATUSES


TERMINAL_RUN_STATUSES: Final = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.CANCELED,
        RunStatus.TIMED_OUT,
        RunStatus.INVALID_PAYLOAD,
    }
)


class TaskStatus(StrEnum):
    """The states of a task (DESIGN §3)."""

    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    ERRORED = "errored"
    CANCELED = "canceled"


class ErrorInfo(TypedDict):
    """How an error is recorded and shown: the output contract's ``error`` object."""

    type: str
    message: str
    task: str | None
    traceback: str | None


@final
@dataclass(slots=True)
class TaskRecord:
    """One task of a run as the store keeps it. ``key`` is the full scoped path (``a/b``)."""

    key: str
    name: str
    kind: str
    status: TaskStatus
    started_at: float
    params: str | None = None
    output: str | None = None
    error: ErrorInfo | None = None
    attempts: int = 0
    failures: int = 0
    ended_at: float | None = None
    next_attempt_at: float | None = None
    properties: dict[str, Any] | None = None
    icon: str | None = None
    parent: str | None = None
    #: Seconds the task's function actually ran, summed over its attempts (None: a task that
    #: runs no function, or one recorded before relaykit kept it).
    busy_seconds: float | None = None
    #: The attempt this record ends (set by the engine, not stored on the task row): the store
    #: writes it as a ``task_attempts`` row in the same fenced write as the record.
    ended_attempt: TaskAttempt | None = None


@final
@dataclass(slots=True, frozen=True)
class TaskAttempt:
    """One ended execution of a task's function: when it ran and how it failed (if it did)."""

    task_key: str
    attempt: int
    started_at: float
    ended_at: float
    error: ErrorInfo | None = None


@final
@dataclass(slots=True)
class LogRecord:
    """One ``io.logger`` line. ``key`` makes it written once across replays."""

    key: str
    level: str
    message: str
    properties: dict[str, Any]
    at: float
    task: str | None = None


@final
@dataclass(slots=True)
class RunRecord:
    """One run as the store keeps it."""

    id: str
    job_id: str
    job_version: str
    status: RunStatus
    payload: str
    created_at: float
    output: str | None = None
    error: ErrorInfo | None = None
    started_at: float | None = None
    ended_at: float | None = None
    attempt: int = 0
    next_attempt_at: float | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    is_test: bool = False
    event_id: str | None = None
    event_name: str | None = None
    environment: str = "development"
    # flow control (see relaykit.definitions.flow): claimed by priority, then due time;
    # ``groups`` are the concurrency and throttle groups the run counts against
    priority: int = 0
    groups: tuple[RunGroup, ...] = ()
    idempotency_key: str | None = None
    cancel_key: str | None = None
    debounce_key: str | None = None
    # a run started by ``io.invoke``: its parent is woken when it ends
    parent_run_id: str | None = None
    parent_task_key: str | None = None
    root_run_id: str | None = None
    # how long ``idempotency_key`` holds (seconds after creation)
    idempotency_ttl: float = 86_400.0
    # the attempt epoch: incremented by every claim; an attempt's writes name the epoch it was
    # claimed with and are refused once it moved on (see docs/internals/execution-model.md)
    epoch: int = 0

    def evolve(self, **changes: Any) -> RunRecord:
        """A copy with some fields changed."""
        return replace(self, **changes)


class RunGroup(NamedTuple):
    """A group a run counts against: at most ``limit`` of its runs running at once or, with
    ``period``, at most ``limit`` of them started per ``period`` seconds."""

    name: str
    limit: int
    period: float | None = None


class Routing(NamedTuple):
    """What delivering an event does: the runs it starts and the ``cancel_key``s of the
    queued or waiting runs it cancels (``cancel_on``)."""

    runs: Sequence[RunRecord] = ()
    cancels: Sequence[str] = ()
    # tags given to every run it starts (``client.send_event(tags=)``)
    tags: Sequence[str] = ()


NO_ROUTING: Final = Routing()


@final
@dataclass(slots=True)
class EventRecord:
    """An event as stored (sent by ``client.send_event`` or ``io.send_event``)."""

    id: str
    name: str
    payload: str
    timestamp: float
    source: str = "relaykit"
    deliver_at: float | None = None
    sent_by_run: str | None = None
    status: str = "pending"  # pending (not yet routed), delivered, canceled


@final
@dataclass(slots=True, frozen=True)
class ScheduleSpec:
    """A cron or interval schedule that starts runs of a job."""

    id: str
    job_id: str
    kind: str  # "cron" | "interval"
    spec: str  # the cron expression, or the interval in seconds
    timezone: str = "UTC"


@final
@dataclass(slots=True, frozen=True)
class ScheduleFire:
    """A due schedule as the store hands it to the engine to plan its run."""

    spec: ScheduleSpec
    next_fire_at: float
    last_fire_at: float | None


@final
@dataclass(slots=True, frozen=True)
class EventWait:
    """A run's ``io.wait_for_event``: resolved by the first matching event, at most once."""

    task_key: str
    event_name: str
    filter: str | None  # JSON text of an EventFilter, or None for any payload


@final
@dataclass(slots=True, frozen=True)
class EventMatch:
    """The event that resolved an ``EventWait`` (loaded with the run's tasks on replay)."""

    task_key: str
    event: dict[str, Any]


#: The event name of a run's wait for token ``<id>`` is this prefix and the id. Event names
#: sent by users cannot start with it (``check_event_name``), so only completing the token
#: resolves such a wait.
TOKEN_WAIT_PREFIX: Final = "$relaykit/token/"  # noqa: S105 -- an event name prefix


@final
@dataclass(slots=True, frozen=True)
class TokenRecord:
    """A waitpoint token (``io.create_token``): created by one task of one run, completed at
    most once with JSON data (``body`` is ``{"data": ...}`` as JSON text), or timed out."""

    id: str
    run_id: str
    task_key: str
    created_at: float
    expires_at: float | None = None
    tags: tuple[str, ...] = ()
    completed_at: float | None = None
    body: str | None = None

    def status(self, now: float) -> str:
        """``completed``, ``timed_out`` (expired, never completed) or ``waiting``."""
        if self.completed_at is not None:
            return "completed"
        if self.expires_at is not None and self.expires_at <= now:
            return "timed_out"
        return "waiting"

    @property
    def data(self) -> Any:
        """The data it was completed with (None while not completed)."""
        return None if self.body is None else json.loads(self.body)["data"]


@final
@dataclass(slots=True)
class KvWrite:
    """A key-value store write applied in the same transaction as its task."""

    scope: str
    name: str
    value: str | None  # JSON text; None deletes


MOCKED_PROPERTY: Final = "mocked"
"""The task property ``relaykit.testing`` sets on a task a mock answered for."""


def to_datetime(ts: float | None) -> datetime | None:
    """Epoch seconds to an aware UTC datetime."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def attempts_by_task(
    attempts: Sequence[TaskAttempt], tasks: Sequence[TaskRecord] = ()
) -> dict[str, list[TaskAttempt]]:
    """Recorded attempts grouped by task key, each task's in attempt order.

    A task whose function succeeded at its first attempt has no history row (the hot path
    writes only the task row, which says everything about that attempt): its one attempt is
    rebuilt here from the row of ``tasks`` — ended at ``ended_at``, having run its busy time."""
    of: dict[str, list[TaskAttempt]] = {}
    for a in sorted(attempts, key=lambda a: (a.task_key, a.attempt)):
        of.setdefault(a.task_key, []).append(a)
    for t in tasks:
        if (
            t.key not in of
            and t.status is TaskStatus.COMPLETED
            and t.attempts == 1
            and t.busy_seconds is not None
            and t.ended_at is not None
        ):
            of[t.key] = [TaskAttempt(t.key, 1, t.ended_at - t.busy_seconds, t.ended_at, None)]
    return of


def task_duration(rec: TaskRecord) -> float | None:
    """Seconds a task took: the time its function ran, summed over its attempts (retry
    back-off and the run's waits left out); for a task without a function (a wait, a patch) or
    one recorded before relaykit kept busy time, ``ended_at - started_at`` (None until then)."""
    if rec.busy_seconds is not None:
        return rec.busy_seconds
    return None if rec.ended_at is None else max(0.0, rec.ended_at - rec.started_at)


@final
@dataclass(slots=True, frozen=True)
class TaskResult:
    """A task as reported in a ``RunResult``."""

    key: str
    name: str
    kind: str
    status: TaskStatus
    attempts: int
    params: Any
    output: Any
    error: ErrorInfo | None
    started_at: datetime | None
    ended_at: datetime | None
    properties: dict[str, Any] | None = None
    #: ``task_duration`` of the record, in seconds.
    duration: float | None = None
    #: The recorded executions of the task's function, oldest first.
    attempt_history: tuple[TaskAttempt, ...] = ()

    @property
    def mocked(self) -> bool:
        """True when ``env.mock_task`` answered for this task (``relaykit.testing``)."""
        return bool((self.properties or {}).get(MOCKED_PROPERTY))

    @classmethod
    def from_record(cls, rec: TaskRecord, attempts: Sequence[TaskAttempt] = ()) -> TaskResult:
        """Build from a store record (and the task's recorded attempts)."""
        return cls(
            key=rec.key,
            name=rec.name,
            kind=rec.kind,
            status=rec.status,
            attempts=rec.attempts,
            params=_loads(rec.params),
            output=_loads(rec.output),
            error=rec.error,
            started_at=to_datetime(rec.started_at),
            ended_at=to_datetime(rec.ended_at),
            properties=rec.properties,
            duration=task_duration(rec),
            attempt_history=tuple(attempts),
        )

    def to_dict(self) -> dict[str, Any]:
        """The output contract's task object."""
        return {
            "key": self.key,
            "name": self.name,
            "status": str(self.status),
            "attempts": self.attempts,
            "output": self.output,
            "error": self.error,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
        }


@final
@dataclass(slots=True, frozen=True)
class RunResult:
    """The outcome of a run: what ``client.run`` returns and ``relaykit run --json`` prints."""

    id: str
    job: str
    status: RunStatus
    payload: Any
    output: Any
    error: ErrorInfo | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    tasks: list[TaskResult] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    job_version: str = ""
    code: str | None = None
    """The fingerprint of the run function the run started on (``Job.fingerprint``)."""

    @property
    def ok(self) -> bool:
        """True when the run succeeded."""
        return self.status is RunStatus.SUCCEEDED

    def task(self, key: str) -> TaskResult:
        """The task with this full key (``"notify/post"`` inside task ``notify``).

        Raises ``UnknownTask`` (a ``KeyError``) naming the keys the run has.
        """
        for found in self.tasks:
            if found.key == key:
                return found
        keys = ", ".join(repr(t.key) for t in self.tasks) or "none"
        raise UnknownTask(
            f"run {self.id} of job {self.job!r} has no task {key!r}; its tasks are: {keys}"
        )

    @classmethod
    def from_records(
        cls,
        run: RunRecord,
        tasks: list[TaskRecord] | None = None,
        logs: list[LogRecord] | None = None,
        *,
        code: str | None = None,
        attempts: Sequence[TaskAttempt] = (),
    ) -> RunResult:
        """Build from store records; tasks are ordered by start time."""
        ordered = sorted(tasks or [], key=lambda t: (t.started_at, t.key))
        of = attempts_by_task(attempts, ordered)
        created = to_datetime(run.created_at)
        assert created is not None  # noqa: S101 -- created_at is NOT NULL in every store
        return cls(
            id=run.id,
            job=run.job_id,
            status=run.status,
            payload=_loads(run.payload),
            output=_loads(run.output),
            error=run.error,
            created_at=created,
            started_at=to_datetime(run.started_at),
            ended_at=to_datetime(run.ended_at),
            tasks=[TaskResult.from_record(t, of.get(t.key, ())) for t in ordered],
            logs=list(logs or []),
            job_version=run.job_version,
            code=code,
        )

    def to_dict(self, *, with_tasks: bool = True) -> dict[str, Any]:
        """The output contract's run object (``relaykit run --json``)."""
        data: dict[str, Any] = {
            "id": self.id,
            "job": self.job,
            "status": str(self.status),
            "payload": self.payload,
            "output": self.output,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
        }
        if with_tasks:
            data["tasks"] = [t.to_dict() for t in self.tasks]
        return data


__all__ = [
    "MOCKED_PROPERTY",
    "TOKEN_WAIT_PREFIX",
    "ErrorInfo",
    "EventMatch",
    "EventRecord",
    "EventWait",
    "KvWrite",
    "LogRecord",
    "RunRecord",
    "RunResult",
    "RunStatus",
    "ScheduleFire",
    "ScheduleSpec",
    "TaskAttempt",
    "TaskRecord",
    "TaskResult",
    "TaskStatus",
    "TokenRecord",
    "attempts_by_task",
    "task_duration",
    "to_datetime",
]
