"""What a run function and a task function can know about where they run."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import final

from ..errors import RelaykitError


@final
@dataclass(frozen=True, slots=True)
class RunInfo:
    """``ctx.run``: the run being executed."""

    id: str
    attempt: int
    is_test: bool
    started_at: datetime | None


@final
@dataclass(frozen=True, slots=True)
class JobInfo:
    """``ctx.job``: the job definition the run belongs to."""

    id: str
    version: str


@final
@dataclass(frozen=True, slots=True)
class EventInfo:
    """``ctx.event``: the event (or invocation) that started the run."""

    id: str
    name: str
    timestamp: datetime


@final
@dataclass(frozen=True, slots=True)
class Context:
    """The ``ctx`` argument of a run function."""

    run: RunInfo
    job: JobInfo
    event: EventInfo
    environment: str


@final
@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What ``relaykit.current_task()`` returns inside a task function.

    ``idempotency_key`` is stable across attempts and replays of the same task in the same run:
    send it to APIs that deduplicate requests.
    """

    run_id: str
    key: str
    name: str
    attempt: int
    idempotency_key: str


_current: ContextVar[TaskInfo | None] = ContextVar("relaykit_current_task", default=None)


def current_task() -> TaskInfo:
    """Information about the task whose function is running now.

    Raises ``RelaykitError`` when called outside a task function.
    """
    info = _current.get()
    if info is None:
        raise RelaykitError(
            "relaykit.current_task() was called outside a task; call it inside a function "
            "passed to io.run_task"
        )
    return info
