"""The endpoint's side of endpoint mode: *describe* the jobs, *execute* one attempt.

An attempt runs here exactly as in relaykit's own worker: the same ``Attempt`` (runner.py)
and the same ``IO``, over the recorded tasks relaykit sent with the request. Only the store
differs: a ``Recorder`` turns each commit the attempt makes (a finished task, with its logs,
key-value writes, events and child runs) into a message relaykit writes to its store under the
attempt's epoch, as it arrives. A task that finishes inline costs no round trip; a budget that
runs out makes the attempt yield at the next task boundary (``ensure_lease``, which the runner
calls before every task's function, is where it checks), as if it were suspended until now.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn, cast

from .._base.clock import Clock, SystemClock
from ..definitions.jobs import Job
from ..definitions.triggers import CronTrigger, EventTrigger, IntervalTrigger, Trigger
from ..errors import EndpointError, EndpointUnsupported
from ..integrations.plugins import Plugins
from ..records import EventRecord, KvWrite, LogRecord, RunRecord, TaskRecord
from ..store import Store
from . import wire
from .attempt import Suspend
from .engine import Engine
from .io import IO
from .runner import Attempt

Emit = Callable[[dict[str, Any]], Awaitable[None]]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def describe_trigger(trigger: Trigger) -> dict[str, Any]:
    """What relaykit needs of a trigger to route events and fire schedules."""
    if isinstance(trigger, EventTrigger):
        return {
            "kind": "event",
            "names": list(trigger.names),
            "filter": None if trigger.filter is None else dict(trigger.filter),
            "source": trigger.source,
        }
    if isinstance(trigger, CronTrigger):
        return {"kind": "cron", "expr": trigger.expr, "timezone": trigger.timezone}
    if isinstance(trigger, IntervalTrigger):
        return {"kind": "interval", "seconds": trigger.seconds}
    return {"kind": str(getattr(trigger, "kind", "invoke"))}


class Recorder:
    """The store of an attempt executed at the endpoint: its writes become answer messages.

    Reads of relaykit's database (``io.store`` gets, waiting on a child run's output, stored
    connections) are not available here yet: they raise ``EndpointUnsupported`` (not retried)
    naming the feature."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit

    async def record_task(
        self,
        *,
        run_id: str,
        epoch: int,
        task: TaskRecord,
        logs: tuple[LogRecord, ...] | list[LogRecord] = (),
        kv: tuple[KvWrite, ...] | list[KvWrite] = (),
        events: tuple[EventRecord, ...] | list[EventRecord] = (),
        runs: tuple[RunRecord, ...] | list[RunRecord] = (),
    ) -> None:
        """Send one committed task (and what goes with it) to relaykit."""
        await self._emit(
            {
                "t": "task",
                "task": wire.dump(task),
                "logs": [wire.dump(g) for g in logs],
                "kv": [wire.dump(w) for w in kv],
                "events": [wire.dump(e) for e in events],
                "runs": [wire.dump(r) for r in runs],
            }
        )

    async def expire_event_wait(self, *, run_id: str, epoch: int, task: TaskRecord) -> bool:
        """Send an event wait's timeout; relaykit records it unless an event won the race,
        and then stops the attempt (the replay takes the event)."""
        await self._emit({"t": "expire", "task": wire.dump(task)})
        return True

    async def get_connection(self, integration_id: str) -> NoReturn:
        """Stored connections live in relaykit's database: not readable here (yet)."""
        raise EndpointUnsupported(
            f"integration {integration_id!r}: endpoint mode cannot read the connections stored "
            "in relaykit's database yet; give the deployed app the token (token=, or the "
            "integration's token variable)"
        )

    def __getattr__(self, name: str) -> NoReturn:
        raise EndpointUnsupported(
            f"endpoint mode cannot read relaykit's database yet (store.{name}): io.store reads "
            "and io.invoke(..., wait=True) need a relaykit worker (`relaykit worker APP`)"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Execution:
    """A checked execute request, ready to run."""

    job: Job
    run: RunRecord
    recorded: list[TaskRecord]
    log_keys: set[str]
    event_matches: list[Any]
    budget: float


class EndpointRuntime:
    """What an endpoint's attempts share: the app's jobs, plugins, task threads and HTTP
    clients (an ``Engine`` without a store of its own: every attempt gets a ``Recorder``)."""

    def __init__(
        self,
        jobs: Mapping[str, Job],
        *,
        plugins: Plugins,
        environment: str,
        client_id: str,
        max_seconds: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.jobs = jobs
        self.client_id = client_id
        self.max_seconds = max_seconds
        self._engine = Engine(
            store=cast(Store, Recorder(_refuse)),
            jobs=jobs,
            clock=clock or SystemClock(),
            owner="endpoint",
            environment=environment,
            lease_seconds=30.0,
            plugins=plugins,
        )

    async def close(self) -> None:
        """Close the task threads and HTTP clients."""
        await self._engine.close()

    def describe(self) -> dict[str, Any]:
        """The jobs, their triggers, versions and code fingerprints."""
        return {
            "protocol": wire.PROTOCOL,
            "client": self.client_id,
            "jobs": [
                {
                    "id": job.id,
                    "name": job.name,
                    "version": job.version,
                    "enabled": job.enabled,
                    "fingerprint": job.fingerprint,
                    "trigger": describe_trigger(job.trigger),
                }
                for job in self.jobs.values()
            ],
        }

    def prepare(self, message: Mapping[str, Any]) -> Execution | dict[str, Any]:
        """An ``Execution``, or the refusal to answer (an unknown job; a run started on a
        newer version of the job than this deploy has)."""
        run = wire.run(message["run"])
        job = self.jobs.get(run.job_id)
        if job is None:
            return _refusal("unknown_job", f"this endpoint defines no job {run.job_id!r}")
        if _version(run.job_version) > _version(job.version):
            return _refusal(
                "version_mismatch",
                f"run {run.id} was started on job {job.id!r} version {run.job_version}, newer "
                f"than this deploy's {job.version}; it is retried until a deploy with that "
                "version answers",
            )
        budget = float(message.get("budget_seconds") or 60.0)
        if self.max_seconds is not None:
            budget = min(budget, self.max_seconds)
        return Execution(
            job=job,
            run=run,
            recorded=[wire.task(t) for t in message.get("tasks", [])],
            log_keys=set(message.get("log_keys", [])),
            event_matches=[wire.event_match(m) for m in message.get("event_matches", [])],
            budget=budget,
        )

    async def execute(self, ex: Execution, emit: Emit) -> None:
        """Run one attempt; ``emit`` each committed task, then the attempt's end."""
        deadline = time.monotonic() + ex.budget
        yielded = False
        clock = self._engine.clock

        async def checkpoint(run_id: str) -> None:
            # before each task's function: a spent budget ends the attempt here, a task
            # boundary, as a suspension due now (relaykit asks again at once)
            nonlocal yielded
            if time.monotonic() >= deadline:
                yielded = True
                raise Suspend(clock.now())

        services = dataclasses.replace(
            self._engine.services, store=cast(Store, Recorder(emit)), ensure_lease=checkpoint
        )
        attempt = Attempt(
            job=ex.job,
            run=ex.run,
            recorded=ex.recorded,
            log_keys=ex.log_keys,
            event_matches=ex.event_matches,
            services=services,
        )
        outcome = await attempt.execute(IO)
        await emit(
            {
                "t": "end",
                "status": str(outcome.status),
                "yielded": yielded,
                "code": ex.job.fingerprint,
                "output": outcome.output,
                "error": outcome.error,
                "wake_at": outcome.wake_at,
                "tasks": [wire.dump(t) for t in outcome.tasks],
                "logs": [wire.dump(g) for g in outcome.logs],
                "event_waits": [wire.dump(w) for w in outcome.event_waits],
            }
        )


def _refusal(reason: str, message: str) -> dict[str, Any]:
    return {"t": "refused", "reason": reason, "message": message}


async def _refuse(message: dict[str, Any]) -> None:
    raise EndpointError("the endpoint's engine has no store: attempts get their own recorder")
