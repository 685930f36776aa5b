"""The vocabulary of an attempt: the signals that end it, how it ended, what it shares
with its engine, and who watches it."""

from __future__ import annotations

import random as _random
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._base.clock import Clock
from .._base.threads import ThreadLanes
from ..errors import TaskFailed
from ..integrations.clients import ClientPool
from ..integrations.plugins import Plugins
from ..records import ErrorInfo, EventWait, LogRecord, RunRecord, RunStatus, TaskRecord
from ..store import Store


class ControlFlow(BaseException):
    """Base of the signals that end an attempt. A ``BaseException``, so user code's
    ``except Exception:`` cannot swallow it."""


class Suspend(ControlFlow):
    """The run must wait: until ``wake_at`` (epoch seconds) or, when None, until woken."""

    def __init__(self, wake_at: float | None) -> None:
        super().__init__(wake_at)
        self.wake_at = wake_at


class WaitForConnection(Suspend):
    """A task's integration has no credentials: the run waits (``waiting_for_connection``)
    until a connection is added, without a wake time."""

    def __init__(self, integration_id: str | None) -> None:
        super().__init__(None)
        self.integration_id = integration_id


class Abort(ControlFlow):
    """The attempt must stop without writing anything more (lease lost, run canceled)."""


class Observer(Protocol):
    """Receives progress of attempts as it happens (the CLI's live view, the dashboard)."""

    def task_started(self, run_id: str, key: str, name: str, attempt: int) -> None:
        """A task's function is about to run."""

    def task_ended(self, run_id: str, task: TaskRecord) -> None:
        """A task completed, failed, or is waiting (retry delay or wait)."""

    def logged(self, run_id: str, log: LogRecord) -> None:
        """A log line was written by ``io.logger``."""


class NullObserver:
    """An observer that ignores everything."""

    def task_started(self, run_id: str, key: str, name: str, attempt: int) -> None:
        """Ignore."""

    def task_ended(self, run_id: str, task: TaskRecord) -> None:
        """Ignore."""

    def logged(self, run_id: str, log: LogRecord) -> None:
        """Ignore."""


@dataclass(slots=True)
class Outcome:
    """How an attempt ended. ``status`` is ``waiting`` when it suspended."""

    status: RunStatus
    output: str | None = None
    error: ErrorInfo | None = None
    wake_at: float | None = None
    tasks: list[TaskRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    event_waits: list[EventWait] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Services:
    """What attempts share inside one engine."""

    store: Store
    clock: Clock
    owner: str
    # the threads that run sync task functions (``_base/threads.py``)
    lanes: ThreadLanes
    observer: Observer
    environment: str
    http: Callable[[], Any]
    rng: _random.Random
    # (job or id, payload, parent run, task key) -> the child run to store (``io.invoke``)
    spawn: Callable[[Any, Any, RunRecord, str], RunRecord]
    # the client's plugins: every task execution goes through their relaykit_wrap_task hooks
    plugins: Plugins
    # (run id) -> raises LeaseLost unless the attempt still holds the run: called before
    # every task's function runs, so an attempt that lost its lease starts nothing more
    ensure_lease: Callable[[str], Awaitable[None]]
    # the integrations' authenticated clients, one per integration and credentials, reused
    # by every task of this engine and closed with it
    clients: ClientPool


def error_info(exc: BaseException, task: str | None = None) -> ErrorInfo:
    """An exception as the output contract's error object."""
    if isinstance(exc, TaskFailed) and task is None:
        task = exc.key
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "task": task,
        "traceback": "".join(traceback.format_exception(exc)),
    }
