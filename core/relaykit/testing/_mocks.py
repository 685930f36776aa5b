"""Mocked tasks, and the plugin that answers for them.

A mock is not a second way of running tasks: the env registers ``EnvPlugin`` on the client's
plugin manager, and its ``relaykit_wrap_task`` implementation answers, instead of the task's
function, for every task execution whose key has a mock. The engine records the answer like
any task's outcome (retries, ``TaskFailed``, memoization and replay included) and the task is
marked ``mocked``. The same hook keeps integrations off the network: an integration task with
no mock fails at once with ``UnmockedTask`` unless the env lets that integration run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, final

from .._base.serde import dumps
from ..errors import UnmockedTask
from ..integrations.hookimpl import hookimpl
from ..integrations.plugins import TaskCall
from ..records import MOCKED_PROPERTY, TaskRecord

#: What ``raises=`` takes: one exception (every attempt fails), or several (one per attempt).
Raises = BaseException | type[BaseException] | Sequence[BaseException | type[BaseException]]


def _exception(value: object, key: str) -> Exception:
    if isinstance(value, type) and issubclass(value, Exception):
        try:
            return value(f"mocked failure of task {key!r}")
        except (TypeError, ValueError):  # e.g. RetryAfter(seconds) refuses a message
            raise TypeError(
                f"mock_task({key!r}, raises={value.__name__}): {value.__name__} needs "
                f"arguments; pass an instance, e.g. raises={value.__name__}(...)"
            ) from None
    if isinstance(value, Exception):
        return value
    raise TypeError(
        f"mock_task({key!r}, raises=...) takes an exception (or a list of them, one per "
        f"attempt), got {value!r}"
    )


@final
class MockedTask:
    """A task ``env.mock_task`` replaced: what it answers, and each execution it answered.

    ``calls`` holds the ``TaskCall`` of every execution (``params``, ``attempt``, ``run_id``);
    ``reached`` says whether there was one.
    """

    def __init__(
        self, key: str, *, output: Any = None, raises: Raises | None = None, job: str | None = None
    ) -> None:
        self.key = key
        self.job = job
        self.output = output
        # output goes through the same JSON round trip as a real task's, so a bad one fails here
        dumps(output, what=f"the output of mock_task({key!r})")
        self._always: Exception | None = None
        self._failures: tuple[Exception, ...] = ()
        if isinstance(raises, Sequence):
            self._failures = tuple(_exception(e, key) for e in raises)
        elif raises is not None:
            self._always = _exception(raises, key)
        self.calls: list[TaskCall] = []

    def __repr__(self) -> str:
        where = f" job={self.job!r}" if self.job else ""
        return f"<MockedTask {self.key!r}{where} calls={len(self.calls)}>"

    @property
    def reached(self) -> bool:
        """True once a task execution was answered by this mock."""
        return bool(self.calls)

    def describe(self) -> str:
        """How the test wrote this mock: ``mock_task('key', job='id')``."""
        job = "" if self.job is None else f", job={self.job!r}"
        return f"mock_task({self.key!r}{job})"

    async def answer(self, call: TaskCall, classify: Callable[[Exception], BaseException]) -> Any:
        """The outcome of one execution: ``output``, or the exception for this attempt."""
        self.calls.append(call)
        call.annotate(**{MOCKED_PROPERTY: True})
        failure = self._always
        if failure is None and call.attempt <= len(self._failures):
            failure = self._failures[call.attempt - 1]
        if failure is not None:
            raise classify(failure.with_traceback(None))
        return self.output


@final
class EnvPlugin:
    """The env's ``relaykit_wrap_task`` hook: mocks first, then the network rule."""

    def __init__(
        self,
        *,
        allow_network: bool | Collection[str],
        classify: Callable[[str | None, Exception], BaseException],
    ) -> None:
        self.mocks: dict[tuple[str | None, str], MockedTask] = {}
        self._allow = allow_network
        self._classify = classify

    def add(self, mock: MockedTask) -> None:
        """Answer for ``mock.key`` (in ``mock.job`` only, when given) from now on."""
        self.mocks[(mock.job, mock.key)] = mock

    def remove(self, job: str | None, key: str) -> MockedTask | None:
        """Stop answering for ``key`` (in ``job``); return the mock that was removed."""
        return self.mocks.pop((job, key), None)

    def find(self, job_id: str, key: str) -> MockedTask | None:
        """The mock for this task: one for its job first, then one for any job."""
        return self.mocks.get((job_id, key)) or self.mocks.get((None, key))

    def allows(self, integration: str) -> bool:
        """Whether this integration's unmocked tasks run for real."""
        if isinstance(self._allow, bool):
            return self._allow
        return integration in self._allow

    @hookimpl(tryfirst=True)
    def relaykit_wrap_task(self, task: TaskCall) -> Awaitable[Any] | None:
        """Answer for a mocked task; refuse an unmocked integration task the env keeps off
        the network; leave every other task to the next implementation (None)."""
        mock = self.find(task.job_id, task.key)
        if mock is not None:
            integration = task.integration
            return mock.answer(task, lambda exc: self._classify(integration, exc))
        if task.integration is not None and not self.allows(task.integration):
            return _refuse(task)
        return None


async def _refuse(task: TaskCall) -> Any:
    raise UnmockedTask(
        f"task {task.key!r} ({task.name}) of job {task.job_id!r} calls integration "
        f"{task.integration!r}, which relaykit_env keeps off the network: mock it with "
        f"env.mock_task({task.key!r}, output=...), or let it run with "
        f"relaykit_env(client, allow_network=[{task.integration!r}])",
        key=task.key,
    )


def check_key(key: object) -> None:
    """Refuse what cannot be a task's full key."""
    if not isinstance(key, str) or not key or not all(key.split("/")):
        raise ValueError(
            f"mock_task(key): {key!r} is not a task key; pass the task's full key, e.g. "
            "'classify', or 'notify/post' for task 'post' inside task 'notify'"
        )


def _unmockable(rec: TaskRecord) -> str | None:
    """What a recorded task is when no mock can stand for it (it runs no function)."""
    if rec.kind == "wait":
        return "a wait, which env.run skips and env.advance lets pass"
    if rec.kind == "event" and rec.name.startswith("wait for "):
        return "a wait for an event: send it with env.send_event(...)"
    if rec.kind == "invoke":
        return "an invoke of another job: mock that job's tasks instead"
    return None


def unreached(mock: MockedTask, recorded: list[tuple[str, TaskRecord]]) -> str:
    """One line on why no execution reached ``mock``, from the env's recorded tasks (with
    their runs' job ids)."""
    head = f"relaykit_env: {mock.describe()} was never reached:"
    same = [(job, rec) for job, rec in recorded if rec.key == mock.key]
    for _, rec in same:
        if (kind := _unmockable(rec)) is not None:
            return f"{head} task {mock.key!r} is {kind}"
    if same and mock.job is not None and all(job != mock.job for job, _ in same):
        jobs = ", ".join(sorted({repr(job) for job, _ in same}))
        return f"{head} task {mock.key!r} ran in job {jobs} only, not in {mock.job!r}"
    if same:
        return (
            f"{head} task {mock.key!r} ran before the mock was made, or was replayed from "
            "its record; make the mock before the run starts"
        )
    keys = ", ".join(sorted({repr(rec.key) for _, rec in recorded})) or "none (no run executed)"
    return (
        f"{head} no task {mock.key!r} ran (nested tasks are 'parent/child'); the tasks that "
        f"ran: {keys}; check the key or remove the mock"
    )


__all__ = ["EnvPlugin", "MockedTask", "Raises", "check_key", "unreached"]
