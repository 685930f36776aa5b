"""The vocabulary of an attempt: the signals that end it, how it ended, what it shares
with its engine, and who watches it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import importlib.util
import os
import random as _random
import threading
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .._base.clock import Clock
from .._base.threads import ThreadLanes
from ..errors import TaskFailed
from ..integrations.clients import ClientPool
from ..integrations.plugins import Plugins
from ..records import ErrorInfo, EventWait, LogRecord, RunRecord, RunStatus, TaskRecord
from ..store import Store

#: The key-value scope where what ``relaykit_trace_context`` carries is kept, by the id of the
#: event or run it was carried to, so that a worker in another process reads it back.
TRACE_SCOPE = "relaykit.trace"


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
    # the attempt lost its run (lease expired or taken, run canceled): nothing was recorded
    lease_lost: bool = False
    # the code fingerprint of what ran, when it is not the job's own (endpoint mode: the
    # deploy that answered)
    code: str | None = None


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
    """An exception as the output contract's error object; its traceback is ``user_traceback``'s."""
    if isinstance(exc, TaskFailed) and task is None:
        task = exc.key
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "task": task,
        "traceback": user_traceback(exc),
    }


@functools.cache
def _machinery() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The folders of relaykit's machinery (the core package, pluggy — every task goes through
    its hooks —, asyncio and the thread pools), and those of installed libraries and the
    stdlib. Computed on the first error: finding pluggy must not slow ``import relaykit``."""
    import sysconfig

    spec = importlib.util.find_spec("pluggy")
    folders = [Path(__file__).parent.parent, Path(asyncio.__file__).parent]
    folders.append(Path(concurrent.futures.__file__).parent)
    if spec is not None and spec.origin is not None:
        folders.append(Path(spec.origin).parent)
    machinery = tuple(str(p.resolve()) + os.sep for p in folders)
    machinery += (threading.__file__, contextvars.__file__ or "<none>")
    libraries = {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return machinery, tuple(str(Path(p).resolve()) + os.sep for p in libraries if p)


def _is_machinery(filename: str) -> bool:
    return filename.startswith(_machinery()[0])


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback for a run's error: the user's frame first, engine frames trimmed.

    The first line names the innermost frame of the user's code (``at FILE:LINE in NAME``);
    then comes Python's own traceback with relaykit's, pluggy's and asyncio's frames left
    out of every exception in the chain (causes, contexts, exception groups). The headline
    prefers a frame outside the stdlib and installed libraries; a payload that fails
    validation points at pydantic. An exception with no frame outside relaykit's machinery
    keeps its whole traceback: then relaykit's frames are what there is to debug.
    """
    te = traceback.TracebackException.from_exception(exc)
    at = _headline(_trim(te, set()))
    if at is None:
        return "".join(traceback.format_exception(exc))
    return f"at {at.filename}:{at.lineno} in {at.name}\n" + "".join(te.format())


def user_frame(exc: BaseException) -> str | None:
    """``FILE:LINE`` of the frame ``user_traceback`` names first, or None."""
    te = traceback.TracebackException.from_exception(exc)
    at = _headline(_trim(te, set()))
    return None if at is None else f"{at.filename}:{at.lineno}"


def headline_frame(text: str | None) -> str | None:
    """``FILE:LINE`` from the first line of a ``user_traceback`` (a stored error's)."""
    first = (text or "").partition("\n")[0]
    if not first.startswith("at "):
        return None
    where, _, _ = first[3:].rpartition(" in ")
    return where or None


def _headline(frames: list[traceback.FrameSummary]) -> traceback.FrameSummary | None:
    """The innermost frame of the user's own code: not an installed library's (an app
    installed into site-packages has only "library" frames: then the innermost frame that
    is not relaykit's)."""
    if not frames:
        return None
    libraries = _machinery()[1]
    own = [f for f in frames if not f.filename.startswith(libraries)] or frames
    return own[-1]


def _trim(te: traceback.TracebackException, seen: set[int]) -> list[traceback.FrameSummary]:
    """Drop the machinery's frames from ``te`` and the exceptions it chains; return the
    frames left in ``te`` itself (or, when it has none, in the first one it chains)."""
    if id(te) in seen:
        return []
    seen.add(id(te))
    kept = [f for f in te.stack if not _is_machinery(f.filename)]
    if kept:
        te.stack = traceback.StackSummary.from_list(kept)
    for inner in (te.__cause__, te.__context__, *(te.exceptions or ())):
        if inner is not None:
            found = _trim(inner, seen)
            kept = kept or found
    return kept
