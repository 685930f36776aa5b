"""``io``: what a run function uses to do durable work. Every method with an effect takes a
key first; the key makes it happen once per run, however often the run is replayed."""

from __future__ import annotations

import asyncio
import math
import uuid as _uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .._base.durations import check_seconds, total_seconds
from .._base.names import check_text
from .._base.serde import dumps, loads
from .._base.sync import Bridged, SyncBridge, SyncProxy
from ..definitions.events import check_event_name, delivery_time
from ..definitions.filters import validate_filter
from ..definitions.jobs import Job
from ..definitions.retry import NO_RETRY, Retry
from ..definitions.triggers import DynamicSchedule, register_schedules
from ..errors import ConfigurationError
from ..records import EventRecord, KvWrite, to_datetime
from .invoke import invoke
from .metadata import Metadata, RunTags
from .runner import Attempt
from .waitpoints import create_token, wait_for_token

T = TypeVar("T")

if TYPE_CHECKING:
    from ..integrations.base import Integration
    from .resources import Token

    IntegrationT = TypeVar("IntegrationT", bound=Integration)

_UUID_NAMESPACE = _uuid.UUID("6f1c1f0e-5b4c-4a57-9a43-9d0c6f2f7a11")


class Logger(Bridged):
    """``io.logger``: run log lines, shown with the run and never repeated on replay."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt

    async def debug(self, message: str, **properties: Any) -> None:
        """Log at debug level."""
        self._log("debug", message, properties)

    async def info(self, message: str, **properties: Any) -> None:
        """Log at info level."""
        self._log("info", message, properties)

    async def warn(self, message: str, **properties: Any) -> None:
        """Log at warning level."""
        self._log("warn", message, properties)

    warning = warn

    async def error(self, message: str, **properties: Any) -> None:
        """Log at error level."""
        self._log("error", message, properties)

    def _log(self, level: str, message: str, properties: dict[str, Any]) -> None:
        # the message is a text column; properties are JSON, where a NUL is an escape
        if isinstance(message, str):
            check_text(
                message,
                "the message",
                f"io.logger.{level}",
                fix="remove it, or log the text as a property (properties are JSON)",
            )
        self._attempt.log(level, message, properties)


class KeyValueStore(Bridged):
    """One namespace of the durable key-value store (``io.store.run``, ``.job``, ``.env``).

    Each call is a task: ``await io.store.job.set("remember", "last-id", 42)``.
    """

    def __init__(self, attempt: Attempt, namespace: str, scope: str) -> None:
        self._attempt = attempt
        self._namespace = namespace
        self._scope = scope

    async def _read(self, name: str) -> Any:
        return loads(await self._attempt.services.store.kv_get(self._scope, name))

    def _check(self, verb: str, key: str, name: str) -> None:
        if isinstance(name, str):
            check_text(name, "the name", f"io.store.{self._namespace}.{verb}({key!r})")

    async def get(self, key: str, name: str, default: Any = None) -> Any:
        """The value stored under ``name`` (``default`` when absent)."""
        self._check("get", key, name)

        async def get() -> Any:
            value = await self._read(name)
            return default if value is None else value

        return await self._op(key, "get", name, get)

    async def has(self, key: str, name: str) -> bool:
        """Whether a value is stored under ``name``."""
        self._check("has", key, name)

        async def has() -> bool:
            return await self._read(name) is not None

        return bool(await self._op(key, "has", name, has))

    async def set(self, key: str, name: str, value: Any) -> Any:
        """Store ``value`` (JSON) under ``name``; returns it."""
        self._check("set", key, name)
        text = dumps(value, what=f"the value for store key {name!r}")

        async def set_() -> Any:
            return value

        write = KvWrite(self._scope, name, text)
        return await self._op(key, "set", name, set_, kv=(write,), value=value)

    async def delete(self, key: str, name: str) -> bool:
        """Remove ``name``; True when something was stored."""
        self._check("delete", key, name)

        async def delete() -> bool:
            return await self._read(name) is not None

        write = KvWrite(self._scope, name, None)
        return bool(await self._op(key, "delete", name, delete, kv=(write,)))

    async def _op(
        self,
        key: str,
        verb: str,
        name: str,
        fn: Callable[[], Any],
        *,
        kv: tuple[KvWrite, ...] = (),
        value: Any = None,
    ) -> Any:
        return await self._attempt.task(
            key,
            fn,
            kind="store",
            name=f"store.{self._namespace}.{verb}",
            params=dumps({"name": name, "value": value}, what="store params"),
            check_params=False,
            retry=NO_RETRY,
            hint=Any,
            kv=kv,
            icon="database",
        )


class Stores(Bridged):
    """``io.store``: the ``run``, ``job`` and ``env`` key-value namespaces."""

    def __init__(self, attempt: Attempt) -> None:
        run = attempt.run
        self.run = KeyValueStore(attempt, "run", f"run:{run.id}")
        self.job = KeyValueStore(attempt, "job", f"job:{run.job_id}")
        self.env = KeyValueStore(attempt, "env", f"env:{run.environment}")


class Status(Bridged):
    """A progress status shown with the run; ``update`` changes it (each update has a key)."""

    def __init__(self, io: IO, key: str, state: dict[str, Any]) -> None:
        self._io = io
        self.key = key
        self.label: str = state["label"]
        self.state: str | None = state.get("state")
        self.data: Any = state.get("data")

    async def update(
        self,
        key: str,
        *,
        label: str | None = None,
        state: str | None = None,
        data: Any = None,
    ) -> Status:
        """Record a new version of this status."""
        return await self._io.status(
            key,
            label=label if label is not None else self.label,
            state=state if state is not None else self.state,
            data=data if data is not None else self.data,
            _status_id=self.key,
        )


class IO(Bridged):
    """The ``io`` argument of an ``async def`` run function."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self.logger = Logger(attempt)
        self.store = Stores(attempt)
        self.tags = RunTags(attempt)
        self.metadata = Metadata(attempt)

    def __getattr__(self, name: str) -> Any:
        """``io.<name>``: the job's integration declared as ``name``, bound to this run."""
        from ..integrations.base import bind_named

        return bind_named(self._attempt, name)

    def use(self, integration: IntegrationT) -> IntegrationT:
        """The typed ``io.<name>``: ``integration`` (declared on the job) bound to this run."""
        from ..integrations.base import bind_declared

        return bind_declared(self._attempt, integration)

    def sync_facade(self) -> SyncProxy:
        """The same ``io`` for a plain ``def`` run function (blocking methods)."""
        return SyncProxy(self, SyncBridge(asyncio.get_running_loop()))

    async def run_task(
        self,
        key: str,
        fn: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        retry: Retry | None = None,
        properties: dict[str, Any] | None = None,
        icon: str | None = None,
    ) -> Any:
        """Run ``fn(*args)`` once for this run and ``key``; memoized, retried, recorded.

        ``fn`` may be sync (run in a thread) or async. ``args`` are recorded as the task's
        params. The returned value is the serialized-then-restored output (validated into
        ``fn``'s return annotation when it has one). Raises ``TaskFailed`` when the task
        fails for good.
        """
        for what, text in (("name", name), ("icon", icon)):
            if isinstance(text, str):
                check_text(text, f"the {what}", f"io.run_task({key!r})")
        return await self._attempt.task(
            key, fn, args, name=name, retry=retry, properties=properties, icon=icon
        )

    async def wait(
        self,
        key: str,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
    ) -> None:
        """Sleep durably; the run suspends and no worker slot is held meanwhile.

        The duration must total a finite number of seconds from 0 to 100 years
        (``ConfigurationError`` otherwise, naming the argument and its value)."""
        delay = total_seconds(
            f"io.wait({key!r})",
            error=ConfigurationError,
            seconds=(seconds, 1),
            minutes=(minutes, 60),
            hours=(hours, 3600),
            days=(days, 86400),
        )
        deadline = self._attempt.services.clock.now() + delay
        await self._attempt.wait_until(key, deadline, dumps({"seconds": delay}, what="wait"))

    async def wait_until(self, key: str, when: datetime) -> None:
        """Sleep durably until ``when`` (a timezone-aware datetime)."""
        if not isinstance(when, datetime) or when.tzinfo is None:
            raise ConfigurationError(
                f"io.wait_until({key!r}): `when` must be a timezone-aware datetime, "
                f"e.g. datetime.now(UTC) + timedelta(hours=1); got {when!r}"
            )
        deadline = when.timestamp()
        await self._attempt.wait_until(key, deadline, dumps({"until": when}, what="wait_until"))

    async def patched(self, name: str) -> bool:
        """Whether this run takes the new path of a code change named ``name``.

        True for runs that reach this point in code that has the patch (new runs, and runs
        whose history has not got this far), False for runs that recorded the old path
        without it, so that they replay unchanged::

            if await io.patched("send-receipt-v2"):
                await io.run_task("receipt", send_receipt_v2, order)
            else:
                await io.run_task("email", send_email, order)

        Once no run on the old path is left (``relaykit runs list --status waiting``), remove
        the patch and keep the new path. The answer is recorded (once per run), so every
        replay gets the same one; ``relaykit check-replay`` replays it too."""
        if not isinstance(name, str) or not name or "/" in name or "\x00" in name:
            raise ConfigurationError(
                f"io.patched({name!r}): the patch name must be a non-empty string without "
                "'/' or NUL (\\x00)"
            )
        return await self._attempt.patched(name)

    async def random(
        self, key: str, *, min: float = 0.0, max: float = 1.0, round: bool = False
    ) -> float:
        """A random number in ``[min, max)`` (an int in ``[min, max]`` when ``round``),
        the same on every replay."""
        if max < min:
            raise ValueError(f"io.random({key!r}): max ({max}) is below min ({min})")
        rng = self._attempt.services.rng

        async def draw() -> float:
            if round:
                return float(rng.randint(math.ceil(min), math.floor(max)))
            return min + (max - min) * rng.random()

        value = await self._op(key, "random", draw, {"min": min, "max": max, "round": round})
        return int(value) if round else float(value)

    async def uuid(self, key: str) -> str:
        """A random UUID4 string, the same on every replay."""

        async def make() -> str:
            return str(_uuid.uuid4())

        return str(await self._op(key, "uuid", make, None))

    async def now(self, key: str) -> datetime:
        """The current time (UTC), the same on every replay."""
        clock = self._attempt.services.clock

        async def read() -> float:
            return clock.now()

        value = to_datetime(float(await self._op(key, "now", read, None)))
        assert value is not None  # noqa: S101 -- a float always converts
        return value

    async def status(
        self,
        key: str,
        label: str | None = None,
        *,
        state: str | None = None,
        data: Any = None,
        _status_id: str | None = None,
    ) -> Status:
        """Create a progress status (``label``, optional ``state`` and ``data``) for this run."""
        if not label:
            raise ValueError(f"io.status({key!r}): a label is required")
        value = {"label": label, "state": state, "data": data, "id": _status_id or key}

        async def record() -> dict[str, Any]:
            return value

        saved = await self._op(key, "status", record, value, kind="status")
        return Status(self, saved["id"], saved)

    async def send_event(
        self,
        key: str,
        name: str,
        payload: Any = None,
        *,
        deliver_at: datetime | None = None,
        deliver_after: float | None = None,
        id: str | None = None,
    ) -> dict[str, Any]:
        """Send an event exactly once for this run and key; returns the stored event."""
        attempt = self._attempt
        now = attempt.services.clock.now()
        where = f"io.send_event({key!r})"
        check_event_name(name, where)
        if id is not None:
            check_text(id, "the event id", where)
        when = delivery_time(deliver_at, deliver_after, now, where)
        event_id = id or str(_uuid.uuid5(_UUID_NAMESPACE, f"{attempt.run.id}/{key}"))
        text = dumps(payload, what=f"the payload of event {name!r}")
        event = EventRecord(event_id, name, text, now, "relaykit", when, attempt.run.id)
        result = {
            "id": event_id,
            "name": name,
            "payload": loads(text),
            "timestamp": now,
            "deliver_at": when,
        }

        async def send() -> dict[str, Any]:
            return result

        return dict(
            await attempt.task(
                key,
                send,
                kind="event",
                name=f"send {name}",
                params=dumps({"name": name, "id": event_id}, what="event params"),
                check_params=False,
                retry=NO_RETRY,
                hint=Any,
                events=(event,),
                icon="send",
            )
        )

    async def wait_for_event(
        self,
        key: str,
        name: str,
        *,
        filter: Mapping[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- a durable deadline, in seconds
    ) -> dict[str, Any] | None:
        """Suspend the run until an event ``name`` whose payload matches ``filter`` arrives,
        and return it (``{"id", "name", "payload", "timestamp", "source"}``); return None when
        ``timeout`` seconds pass first (None: wait as long as it takes). The first matching
        event resumes the run, once; no worker slot is held meanwhile."""
        check_event_name(name, f"io.wait_for_event({key!r})")
        if timeout is not None:
            where = f"io.wait_for_event({key!r}): timeout"
            check_seconds(timeout, where, error=ConfigurationError)
        flt = None
        if filter is not None:
            validate_filter(filter, where=f"io.wait_for_event({key!r})")
            flt = dumps(filter, what="the event filter")
        params = dumps(
            {"name": name, "filter": filter, "timeout": timeout}, what="wait_for_event params"
        )
        event = await self._attempt.wait_for_event(key, name, flt, timeout, params)
        return None if event is None else dict(event)

    async def create_token(
        self,
        key: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 -- the token's lifetime, in seconds
        tags: Sequence[str] = (),
    ) -> Token:
        """Create a waitpoint token, once per run and key: someone (a person approving, an
        external system) completes it with JSON data through its signed ``url``, the HTTP API,
        ``relaykit tokens complete``, the dashboard or ``client.complete_token``, and
        ``io.wait_for_token`` hands that data back. It times out ``timeout`` seconds after it
        was created (None: never). ``tags`` (up to 10 strings) label it."""
        return await create_token(self._attempt, key, timeout=timeout, tags=tags)

    async def wait_for_token(self, token: Token | str, *, key: str | None = None) -> Any:
        """Suspend the run — holding no worker slot — until ``token`` (what
        ``io.create_token`` returned, its id, or the key it was created with in this run) is
        completed, and return the data it was completed with; return None once the token
        timed out first. A run waits only for tokens it created (a retried run also takes
        the answer its predecessor's token got). The wait is recorded under ``key`` (default
        ``wait:<token id>``)."""
        return await wait_for_token(self._attempt, token, key=key)

    async def invoke(
        self, key: str, job: Job | str, payload: Any = None, *, wait: bool = True
    ) -> Any:
        """Start a run of ``job`` (a Job or its id; defined on the same Client).

        With ``wait`` (the default) the run suspends — holding no worker slot — until the
        child run ends, and returns its output; a child that does not succeed raises
        ``TaskFailed``. Without ``wait`` it returns the child's run id at once. The child
        is created exactly once, however often this run is replayed.
        """
        return await invoke(self._attempt, key, job, [payload], wait=wait, batch=False)

    async def batch_invoke(
        self, key: str, job: Job | str, payloads: Sequence[Any], *, wait: bool = True
    ) -> list[Any]:
        """Start one run of ``job`` per payload; with ``wait``, return all their outputs
        (in order) once every one has ended, raising ``TaskFailed`` if any did not succeed;
        without, return their run ids."""
        if isinstance(payloads, (str, bytes)) or not isinstance(payloads, Sequence):
            raise TypeError(f"io.batch_invoke({key!r}): payloads must be a list")
        if not payloads:
            return []
        result: list[Any] = await invoke(
            self._attempt, key, job, list(payloads), wait=wait, batch=True
        )
        return result

    async def register_schedule(
        self,
        key: str,
        schedule: DynamicSchedule,
        schedule_key: str,
        *,
        cron: str | None = None,
        interval: int | None = None,
        timezone: str = "UTC",
    ) -> None:
        """``schedule.register(schedule_key, ...)`` as a task: done once per run and key."""
        specs = schedule.specs(schedule_key, cron=cron, interval=interval, timezone=timezone)
        store, clock = self._attempt.services.store, self._attempt.services.clock

        async def register() -> None:
            await register_schedules(store, specs, clock.now())

        params = {"schedule": schedule.id, "key": schedule_key, "cron": cron, "interval": interval}
        await self._op(key, "register schedule", register, params, kind="schedule")

    async def unregister_schedule(
        self, key: str, schedule: DynamicSchedule, schedule_key: str
    ) -> bool:
        """``schedule.unregister(schedule_key)`` as a task: done once per run and key."""
        store = self._attempt.services.store

        async def unregister() -> bool:
            return bool(await store.remove_schedules(schedule.ids(schedule_key)))

        params = {"schedule": schedule.id, "key": schedule_key}
        removed: bool = await self._op(
            key, "unregister schedule", unregister, params, kind="schedule"
        )
        return removed

    async def background_fetch(
        self,
        key: str,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        body: str | bytes | None = None,
        retry: Mapping[str, Retry] | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109 -- the HTTP request's timeout, not ours
    ) -> dict[str, Any]:
        """A durable HTTP request; see ``relaykit.engine.fetch`` for the retry rules."""
        from .fetch import background_fetch

        return await background_fetch(
            self._attempt,
            key,
            url,
            method=method,
            headers=headers,
            json_body=json,
            body=body,
            retry=retry,
            timeout=timeout,
        )

    async def _op(
        self,
        key: str,
        name: str,
        fn: Callable[[], Any],
        params: Any,
        *,
        kind: str | None = None,
    ) -> Any:
        return await self._attempt.task(
            key,
            fn,
            kind=kind or name,
            name=name,
            params=None if params is None else dumps(params, what=f"{name} params"),
            check_params=False,
            retry=NO_RETRY,
            hint=Any,
        )
