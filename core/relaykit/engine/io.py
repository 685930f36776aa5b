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
from .._base.names import check_tags, check_text
from .._base.serde import dumps, loads
from .._base.sync import Bridged, SyncBridge, SyncProxy
from ..definitions.events import check_event_name, delivery_time
from ..definitions.filters import validate_filter
from ..definitions.jobs import Job
from ..definitions.retry import NO_RETRY, Retry
from ..definitions.triggers import DynamicSchedule, register_schedules
from ..errors import ConfigurationError, NonRetriable, StoreError
from ..records import EventRecord, KvWrite, TokenRecord, to_datetime
from .attempt import Abort
from .invoke import invoke
from .resources import Token
from .runner import Attempt
from .tokens import TokenSigner

T = TypeVar("T")

if TYPE_CHECKING:
    from ..integrations.base import Integration

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


#: Where a run's metadata document is kept (a key-value entry of its own scope).
METADATA_SCOPE = "meta:"
METADATA_NAME = "metadata"
#: The largest metadata document a run may keep (JSON text).
MAX_METADATA_BYTES = 64 * 1024


class Metadata(Bridged):
    """``io.metadata``: a small JSON object this run updates while it works (progress,
    counts), shown with the run (``runs show``, ``GET /api/v1/runs/{id}`` ``"metadata"``).

    Each update is a task (a key first), so a replay neither repeats an ``append`` nor counts
    an ``increment`` twice; the new document is written in the task's own transaction.
    """

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self._scope = f"{METADATA_SCOPE}{attempt.run.id}"
        # parallel branches updating at once: each reads the document its predecessor wrote
        self._lock = asyncio.Lock()

    async def set(self, key: str, name: str, value: Any) -> Any:
        """Set ``name`` to ``value`` (JSON); returns it."""
        return await self._update(key, "set", name, value, lambda _old: value)

    async def append(self, key: str, name: str, value: Any) -> list[Any]:
        """Append ``value`` to the list under ``name`` (made when absent); returns the list."""

        def add(old: Any) -> list[Any]:
            if old is not None and not isinstance(old, list):
                raise ConfigurationError(
                    f"io.metadata.append({key!r}): {name!r} holds {type(old).__name__}, not a list"
                )
            return [*(old or []), value]

        found: list[Any] = await self._update(key, "append", name, value, add)
        return found

    async def increment(self, key: str, name: str, by: float = 1) -> float:
        """Add ``by`` to the number under ``name`` (0 when absent); returns the new number."""
        if isinstance(by, bool) or not isinstance(by, (int, float)) or not math.isfinite(by):
            raise ConfigurationError(f"io.metadata.increment({key!r}): by must be a number")

        def add(old: Any) -> float:
            if old is not None and (isinstance(old, bool) or not isinstance(old, (int, float))):
                raise ConfigurationError(
                    f"io.metadata.increment({key!r}): {name!r} holds {type(old).__name__}, "
                    "not a number"
                )
            return (old or 0) + by

        found: float = await self._update(key, "increment", name, by, add)
        return found

    async def _update(
        self, key: str, verb: str, name: str, value: Any, change: Callable[[Any], Any]
    ) -> Any:
        where = f"io.metadata.{verb}({key!r})"
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{where}: the name must be a non-empty string")
        check_text(name, "the name", where)
        params = dumps({"name": name, "value": value}, what=f"{where} params")
        store, scope = self._attempt.services.store, self._scope
        writes: list[KvWrite] = []  # filled by the task, written with it

        async def update() -> Any:
            document = loads(await store.kv_get(scope, METADATA_NAME)) or {}
            document[name] = change(document.get(name))
            text = dumps(document, what="the run's metadata")
            if len(text.encode()) > MAX_METADATA_BYTES:
                raise NonRetriable(
                    f"{where}: the run's metadata would be {len(text.encode()):,} bytes, over "
                    f"{MAX_METADATA_BYTES:,}; keep metadata small (progress, counts)"
                )
            writes.append(KvWrite(scope, METADATA_NAME, text))
            return document[name]

        async with self._lock:
            return await self._attempt.task(
                key,
                update,
                kind="metadata",
                name=f"metadata.{verb}",
                params=params,
                check_params=False,
                retry=NO_RETRY,
                hint=Any,
                kv=writes,
                icon="chart",
            )


class RunTags(Bridged):
    """``io.tags``: labels on this run, listed by ``relaykit runs list --tag``."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt

    async def add(self, *tags: str) -> None:
        """Add ``tags`` to this run (up to 10 per call; one it has already is kept once).

        Tags are a set, so this takes no key: a replay adding them again changes nothing.
        The write is fenced by the attempt, like every write of a run."""
        attempt = self._attempt
        found = check_tags(list(tags), "io.tags.add")
        if attempt.closed or attempt.lost:
            raise Abort()
        if attempt.dry or not found:  # ``relaykit check-replay`` writes nothing
            return
        try:
            await attempt.services.store.add_run_tags(
                attempt.run.id, found, epoch=attempt.run.epoch
            )
        except StoreError as exc:
            attempt.give_up(exc)


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
        ``relaykit tokens complete`` or ``client.complete_token``, and ``io.wait_for_token``
        hands that data back. It times out ``timeout`` seconds after it was created (None:
        never). ``tags`` (up to 10 strings) label it in ``relaykit tokens list``."""
        where = f"io.create_token({key!r})"
        if timeout is not None:
            check_seconds(timeout, f"{where}: timeout", error=ConfigurationError)
        tag_list = check_tags(tags, where)
        attempt = self._attempt
        run = attempt.run
        full = attempt.full_key(key)
        token_id = "tok_" + _uuid.uuid5(_UUID_NAMESPACE, f"token/{run.id}/{full}").hex
        now = attempt.services.clock.now()
        record = TokenRecord(
            id=token_id,
            run_id=run.id,
            task_key=full,
            created_at=now,
            expires_at=None if timeout is None else now + timeout,
            tags=tuple(tag_list),
        )
        store = attempt.services.store

        async def create() -> dict[str, Any]:
            await store.create_token(run_id=run.id, epoch=run.epoch, token=record)
            return {
                "id": token_id,
                "created_at": record.created_at,
                "expires_at": record.expires_at,
                "tags": tag_list,
            }

        made = await attempt.task(
            key,
            create,
            kind="token",
            name="create token",
            params=dumps({"timeout": timeout, "tags": tag_list}, what="create_token params"),
            check_params=False,
            retry=NO_RETRY,
            hint=Any,
            icon="key",
        )
        stored = TokenRecord(
            id=made["id"],
            run_id=run.id,
            task_key=full,
            created_at=made["created_at"],
            expires_at=made["expires_at"],
            tags=tuple(made["tags"]),
        )
        signer = TokenSigner.from_env()
        return Token.from_record(stored, now=now, url=signer.url(stored.id))

    async def wait_for_token(self, token: Token | str, *, key: str | None = None) -> Any:
        """Suspend the run — holding no worker slot — until ``token`` (what
        ``io.create_token`` returned, its id, or the key it was created with in this run) is
        completed, and return the data it was completed with; return None once the token
        timed out first. A run waits only for tokens it created. The wait is recorded under
        ``key`` (default ``wait:<token id>``)."""
        attempt = self._attempt
        run = attempt.run
        where = f"io.wait_for_token({token if isinstance(token, str) else token.id!r})"
        if isinstance(token, Token):
            token_id, owner = token.id, token.run_id
            expires = None if token.expires_at is None else token.expires_at.timestamp()
        elif isinstance(token, str) and token:
            token_id = token
            if not token.startswith("tok_"):  # the key of an io.create_token in this scope
                made = attempt.completed_output(token)
                full = attempt.full_key(token)
                token_id = (
                    made["id"]
                    if isinstance(made, dict) and "id" in made
                    else "tok_" + _uuid.uuid5(_UUID_NAMESPACE, f"token/{run.id}/{full}").hex
                )
            found = await attempt.services.store.get_token(token_id)
            if found is None:
                raise ConfigurationError(
                    f"{where}: run {run.id} has no token {token!r}; create it first with "
                    f"`token = await io.create_token(key)` and pass the token or its key"
                )
            owner, expires = found.run_id, found.expires_at
        else:
            raise ConfigurationError(
                f"{where}: pass the token io.create_token returned, its id, or its key"
            )
        wait_key = key or f"wait:{token_id}"
        params = dumps({"token": token_id}, what="wait_for_token params")
        if owner != run.id and not attempt.has_completed(wait_key):
            # another run's token (a retried run's predecessor made it): only its answer can
            # be taken, since only the run that made a token is woken when it is completed
            found = await attempt.services.store.get_token(token_id)
            if found is None or found.completed_at is None:
                raise ConfigurationError(
                    f"{where}: token {token_id} was created by run {owner}; a run waits only "
                    "for tokens it created (create one with io.create_token in this run)"
                )
            answer = {"data": found.data}

            async def answered() -> dict[str, Any]:
                return answer

            await attempt.task(
                wait_key,
                answered,
                kind="token",
                name="wait for token",
                params=params,
                check_params=False,
                retry=NO_RETRY,
                hint=Any,
            )
            return found.data
        _found, data = await attempt.wait_for_token(wait_key, token_id, expires, params)
        return data

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
