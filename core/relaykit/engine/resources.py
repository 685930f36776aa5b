"""What every surface shows of a run, task, log line, event and job: one pydantic model per
resource, and one per list page.

The CLI's ``--json``, the HTTP API's responses and the dashboard's pages all dump these
models, and the OpenAPI document's components are their JSON Schemas
(``server/_openapi.py``), so no surface can drift from another or from the document. Each
model is built from the store's records (``from_record``). Times are ISO 8601 strings in
UTC; JSON values stored as text are parsed back. Nothing secret is in a record these read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from ..definitions.jobs import Job as JobDefinition
from ..records import (
    EventRecord,
    LogRecord,
    RunRecord,
    RunStatus,
    TaskAttempt,
    TaskRecord,
    TaskStatus,
    TokenRecord,
    attempts_by_task,
    task_duration,
    to_datetime,
)


def _iso(value: datetime) -> str:
    return value.isoformat()


#: A timestamp: an aware UTC datetime, shown as ``datetime.isoformat()`` (``+00:00``).
Timestamp = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Resource(BaseModel):
    """Base of the resources: frozen, and every field listed (none omitted when null)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """The resource as JSON values (what the API answers and ``--json`` prints)."""
        return self.model_dump(mode="json")


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dt(ts: float | None) -> datetime | None:
    return to_datetime(ts)


def _at(ts: float) -> datetime:
    found = to_datetime(ts)
    assert found is not None  # noqa: S101 -- a float always converts
    return found


class RunError(Resource):
    """Why a run or task failed: the error's type and message, the task it escaped from."""

    # An error recorded by a newer relaykit may carry more fields: shown, not refused.
    model_config = ConfigDict(frozen=True, extra="allow")

    type: str
    message: str
    task: str | None = None
    traceback: str | None = None


class Run(Resource):
    """A run without its tasks (what lists show)."""

    id: str
    job: str = Field(description="The job id.")
    job_version: str
    status: RunStatus
    is_test: bool
    attempt: int
    payload: Any = Field(description="The run's payload (any JSON value).")
    output: Any = Field(description="What the run returned (null until it succeeded).")
    error: RunError | None
    event_id: str | None = Field(description="The event that started the run, if one did.")
    environment: str
    created_at: Timestamp
    started_at: Timestamp | None
    ended_at: Timestamp | None
    next_attempt_at: Timestamp | None

    @classmethod
    def fields_of(cls, run: RunRecord) -> dict[str, Any]:
        """The fields every run resource has, from the stored record."""
        return {
            "id": run.id,
            "job": run.job_id,
            "job_version": run.job_version,
            "status": run.status,
            "is_test": run.is_test,
            "attempt": run.attempt,
            "payload": _json(run.payload),
            "output": _json(run.output),
            "error": None if run.error is None else RunError.model_validate(dict(run.error)),
            "event_id": run.event_id,
            "environment": run.environment,
            "created_at": _at(run.created_at),
            "started_at": _dt(run.started_at),
            "ended_at": _dt(run.ended_at),
            "next_attempt_at": _dt(run.next_attempt_at),
        }

    @classmethod
    def from_record(cls, run: RunRecord) -> Run:
        """The resource of a stored run."""
        return cls(**cls.fields_of(run))


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class Attempt(Resource):
    """One execution of a task's function: when it ran, for how long, and how it failed."""

    attempt: int = Field(description="The attempt's number, from 1.")
    started_at: Timestamp
    ended_at: Timestamp
    duration_ms: int = Field(description="How long the function ran in this attempt.")
    error: RunError | None = Field(description="Why the attempt failed (null: it succeeded).")

    @classmethod
    def from_record(cls, attempt: TaskAttempt) -> Attempt:
        """The resource of a recorded attempt."""
        error = attempt.error
        return cls(
            attempt=attempt.attempt,
            started_at=_at(attempt.started_at),
            ended_at=_at(attempt.ended_at),
            duration_ms=_ms(max(0.0, attempt.ended_at - attempt.started_at)),
            error=None if error is None else RunError.model_validate(dict(error)),
        )


def _duration_ms(task: TaskRecord) -> int | None:
    seconds = task_duration(task)
    return None if seconds is None else _ms(seconds)


class Task(Resource):
    """One task of a run, with everything the run detail shows."""

    key: str = Field(description="The full scoped key (``parent/child``).")
    parent: str | None
    name: str
    kind: str
    status: TaskStatus
    attempts: int
    params: Any
    output: Any
    error: RunError | None
    properties: dict[str, Any] | None
    icon: str | None
    started_at: Timestamp = Field(description="When the first attempt started.")
    ended_at: Timestamp | None
    next_attempt_at: Timestamp | None
    duration_ms: int | None = Field(
        description="The time spent executing the task's function, summed over its attempts "
        "(retry back-off and the run's waits left out); for a task without a function (a wait) "
        "or one recorded before relaykit kept busy time, ended_at - started_at. Null while "
        "such a task has not ended."
    )
    attempt_history: list[Attempt] = Field(
        description="Every recorded execution of the task's function, oldest first: the "
        "errors of failed attempts stay after a retry succeeds (empty for waits and for tasks "
        "recorded before relaykit kept attempts)."
    )

    @classmethod
    def from_record(cls, task: TaskRecord, attempts: Sequence[TaskAttempt] = ()) -> Task:
        """The resource of a stored task, with its recorded attempts."""
        return cls(
            key=task.key,
            parent=task.parent,
            name=task.name,
            kind=task.kind,
            status=task.status,
            attempts=task.attempts,
            params=_json(task.params),
            output=_json(task.output),
            error=None if task.error is None else RunError.model_validate(dict(task.error)),
            properties=task.properties,
            icon=task.icon,
            started_at=_at(task.started_at),
            ended_at=_dt(task.ended_at),
            next_attempt_at=_dt(task.next_attempt_at),
            duration_ms=_duration_ms(task),
            attempt_history=[Attempt.from_record(a) for a in attempts],
        )


class Log(Resource):
    """One ``io.logger`` line of a run."""

    level: str
    message: str
    properties: dict[str, Any]
    task: str | None
    at: Timestamp

    @classmethod
    def from_record(cls, log: LogRecord) -> Log:
        """The resource of a stored log line."""
        return cls(
            level=log.level,
            message=log.message,
            properties=log.properties,
            task=log.task,
            at=_at(log.at),
        )


class RunDetail(Run):
    """A run with its tasks (in start order) and its log lines."""

    code: str | None = Field(
        default=None,
        description="Fingerprint of the run function's code the run started on (the first "
        "attempt that ended), as `Job.fingerprint`; null before that or for older runs.",
    )
    tags: list[str] = Field(
        default_factory=list,
        description="The run's tags (given when it was triggered, or by io.tags.add), sorted.",
    )
    retry_of: str | None = Field(
        default=None, description="The run this run retries (POST /runs/{id}/retry), if any."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="What the run recorded with io.metadata.set/append/increment.",
    )
    tasks: list[Task]
    logs: list[Log]

    @classmethod
    def from_records(
        cls,
        run: RunRecord,
        tasks: list[TaskRecord],
        logs: list[LogRecord],
        *,
        code: str | None = None,
        tags: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        retry_of: str | None = None,
        attempts: Sequence[TaskAttempt] = (),
    ) -> RunDetail:
        """The resource of a stored run with its tasks (and their attempts) and logs."""
        ordered = sorted(tasks, key=lambda t: (t.started_at, t.key))
        of = attempts_by_task(attempts, ordered)
        return cls(
            **Run.fields_of(run),
            code=code,
            tags=list(tags),
            metadata=metadata or {},
            retry_of=retry_of,
            tasks=[Task.from_record(t, of.get(t.key, ())) for t in ordered],
            logs=[Log.from_record(g) for g in logs],
        )


class Event(Resource):
    """A stored event."""

    id: str
    name: str
    payload: Any
    source: str
    timestamp: Timestamp = Field(description="When the event was sent.")
    deliver_at: Timestamp | None = Field(description="When a delayed event is delivered.")
    status: Literal["pending", "delivered", "canceled"]

    @classmethod
    def fields_of(cls, event: EventRecord) -> dict[str, Any]:
        """The fields every event resource has, from the stored record."""
        return {
            "id": event.id,
            "name": event.name,
            "payload": _json(event.payload),
            "source": event.source,
            "timestamp": _at(event.timestamp),
            "deliver_at": _dt(event.deliver_at),
            "status": event.status,
        }

    @classmethod
    def from_record(cls, event: EventRecord) -> Event:
        """The resource of a stored event."""
        return cls(**cls.fields_of(event))


class EventSent(Event):
    """An event just sent: the runs it started, and whether it was sent before."""

    runs: list[str] = Field(description="Ids of the runs the event started.")
    duplicate: bool = Field(description="True when an event with this id was sent before.")


class Job(Resource):
    """A job the app defines."""

    id: str
    name: str
    version: str
    trigger: str = Field(description="The trigger, described for people.")
    trigger_kind: str
    enabled: bool
    concurrency_limit: int | None
    integrations: list[str]
    sync: bool = Field(description="True when the run function is a plain ``def``.")

    @classmethod
    def from_job(cls, job: JobDefinition) -> Job:
        """The resource of a defined job."""
        return cls(
            id=job.id,
            name=job.name,
            version=job.version,
            trigger=job.trigger.describe(),
            trigger_kind=job.trigger.kind,
            enabled=job.enabled,
            concurrency_limit=job.concurrency_limit,
            integrations=sorted(job.integrations),
            sync=not job.is_async,
        )


class RunPage(Resource):
    """A page of runs, newest first."""

    data: list[Run]
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next page; null on the last page."
    )


class BulkResult(Resource):
    """What a bulk action on the runs matching some filters did (or, as a dry run, would
    do)."""

    action: Literal["cancel", "replay", "retry"]
    dry_run: bool
    matched: int = Field(description="How many runs matched the filters (at most ``cap``).")
    done: int = Field(description="How many were canceled, replayed or retried (0 dry).")
    skipped: dict[str, int] = Field(
        description="Matched runs left alone, counted by reason (e.g. ``already ended``)."
    )
    sample: list[str] = Field(description="The ids of the first matching runs, newest first.")
    new_runs: list[str] = Field(description="The first runs a replay or retry queued.")
    cap: int = Field(description="The most runs one call acts on.")
    capped: bool = Field(
        description="More runs matched than ``cap``: call again (with ``until``) for the rest."
    )


class EventPage(Resource):
    """A page of events, newest first."""

    data: list[Event]
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next page; null on the last page."
    )


class JobList(Resource):
    """Every job the app defines."""

    data: list[Job]


class KvEntry(Resource):
    """A key-value store entry (what ``io.store.<namespace>`` reads)."""

    namespace: Literal["run", "job", "env"]
    owner: str
    name: str
    value: Any


TokenStatus = Literal["waiting", "completed", "timed_out"]


class Token(Resource):
    """A waitpoint token (``io.create_token``): a run waits for it with ``io.wait_for_token``
    until someone completes it with JSON data, or it times out."""

    id: str
    run_id: str = Field(description="The run that created the token (and may wait for it).")
    task_key: str = Field(description="The key of the io.create_token call in that run.")
    status: TokenStatus
    tags: list[str]
    created_at: Timestamp
    expires_at: Timestamp | None = Field(description="When it times out (null: never).")
    completed_at: Timestamp | None
    data: Any = Field(description="What it was completed with (null until then).")
    url: str | None = Field(
        description=(
            "The signed callback URL: POST JSON data to it to complete the token, with no API "
            "key. Null when RELAYKIT_SECRET_KEY (which signs it) is not set."
        )
    )

    @classmethod
    def from_record(cls, token: TokenRecord, *, now: float, url: str | None) -> Token:
        """The resource of a stored token, its status as of ``now``."""
        return cls(
            id=token.id,
            run_id=token.run_id,
            task_key=token.task_key,
            status=token.status(now),  # type: ignore[arg-type]  # one of TokenStatus
            tags=list(token.tags),
            created_at=_at(token.created_at),
            expires_at=_dt(token.expires_at),
            completed_at=_dt(token.completed_at),
            data=token.data,
            url=url,
        )


class TokenList(Resource):
    """Tokens, newest first."""

    data: list[Token]


class ErrorDetail(Resource):
    """What went wrong, and what to do."""

    code: str
    message: str
    details: Any = None


class ErrorBody(Resource):
    """The body of every API error response."""

    error: ErrorDetail


#: Every response resource, in the order the OpenAPI document lists them.
RESOURCES: tuple[type[Resource], ...] = (
    Run,
    RunDetail,
    RunPage,
    BulkResult,
    Task,
    Log,
    RunError,
    Event,
    EventSent,
    EventPage,
    Job,
    JobList,
    KvEntry,
    Token,
    TokenList,
    ErrorBody,
)
