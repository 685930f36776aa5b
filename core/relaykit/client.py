"""``Client``: where jobs are defined and from where they are run."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

import pydantic

from ._base.clock import Clock, SystemClock, new_owner_id
from ._base.serde import loads
from ._base.sync import run_coroutine
from .definitions.events import delivery_time
from .definitions.flow import ConcurrencyLimit, FlowOptions
from .definitions.jobs import Callback, Job, RunFunction, make_job, slugify
from .definitions.triggers import DynamicSchedule, Trigger
from .engine.attempt import Observer
from .engine.changes import ChangeFeed
from .engine.engine import Engine
from .engine.operations import Operations
from .engine.resources import Token
from .errors import ConfigurationError, DuplicateJob, UnknownJob
from .integrations.base import Integration
from .integrations.plugins import Plugins
from .integrations.webhooks import StoredWebhookSecrets, WebhookSecrets
from .records import RunResult, RunStatus
from .store import Store, database_url_from_env, store_from_url

T = TypeVar("T")

if TYPE_CHECKING:
    import httpx2  # the engine imports it when it first needs it

    from .engine.remote import RemoteEndpoint

DEFAULT_LEASE_SECONDS = 30.0


def _lease_seconds_from_env() -> float:
    raw = os.environ.get("RELAYKIT_LEASE_SECONDS")
    if raw is None or raw == "":
        return DEFAULT_LEASE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigurationError(
            f"RELAYKIT_LEASE_SECONDS={raw!r} is not a positive number of seconds"
        )
    return value


class Client:
    """A relaykit application: its jobs and the store their runs live in.

    ``database_url`` (or ``RELAYKIT_DATABASE_URL``) picks the store; the default is the SQLite
    file ``.relaykit/relaykit.db`` under the current directory. ``store`` and ``clock`` may be
    given directly (tests, embedding). Payloads of runs and events are limited to
    ``max_payload_bytes`` of JSON (1 MiB by default). ``endpoints`` are URLs of deployed apps
    (their ``client.endpoint()``) whose jobs this client drives over signed HTTP: endpoint
    mode, ``docs/deployment.md`` (``RELAYKIT_ENDPOINT_SECRET`` must be set).
    """

    def __init__(
        self,
        id: str,
        *,
        database_url: str | None = None,
        store: Store | None = None,
        environment: str | None = None,
        clock: Clock | None = None,
        lease_seconds: float | None = None,
        poll_interval: float = 1.0,
        http_transport: httpx2.AsyncBaseTransport | None = None,
        max_payload_bytes: int = 1_048_576,
        endpoints: Sequence[str] = (),
    ) -> None:
        if not isinstance(id, str) or not id.strip():
            raise ConfigurationError(f"Client id must be a non-empty string, got {id!r}")
        self.id = id
        self._database_url = database_url
        self._store = store
        self._store_open = False
        self.environment = environment or os.environ.get("RELAYKIT_ENV", "development")
        self.clock: Clock = clock or SystemClock()
        self._lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self._http_transport = http_transport
        if max_payload_bytes < 1:
            raise ConfigurationError(f"max_payload_bytes must be positive, got {max_payload_bytes}")
        self.max_payload_bytes = max_payload_bytes
        self._jobs: dict[str, Job] = {}
        self._limits: dict[str, ConcurrencyLimit] = {}
        self._schedules: dict[str, DynamicSchedule] = {}
        self.plugins = Plugins()
        """This client's plugins (a pluggy ``PluginManager``, loaded on first use)."""
        self._listeners: list[Callable[[], None]] = []
        self._changes: ChangeFeed | None = None
        if isinstance(endpoints, str):
            raise ConfigurationError("Client(endpoints=...) takes a list of URLs, not one string")
        self._endpoint_urls = list(endpoints)
        self._remotes: list[RemoteEndpoint] = []

    def __repr__(self) -> str:
        return f"<Client {self.id!r} jobs={list(self._jobs)}>"

    # -- jobs ---------------------------------------------------------------------------------

    @property
    def jobs(self) -> Mapping[str, Job]:
        """The defined jobs by id (read-only)."""
        return MappingProxyType(self._jobs)

    @overload
    def define_job(
        self,
        *,
        id: str,
        version: str,
        name: str | None = None,
        trigger: Trigger | None = None,
        integrations: Mapping[str, Any] | None = None,
        enabled: bool = True,
        on_success: Callback | None = None,
        on_failure: Callback | None = None,
        run: None = None,
        **flow: Unpack[FlowOptions],
    ) -> Callable[[RunFunction], Job]: ...

    @overload
    def define_job(
        self,
        *,
        id: str,
        version: str,
        name: str | None = None,
        trigger: Trigger | None = None,
        integrations: Mapping[str, Any] | None = None,
        enabled: bool = True,
        on_success: Callback | None = None,
        on_failure: Callback | None = None,
        run: RunFunction,
        **flow: Unpack[FlowOptions],
    ) -> Job: ...

    def define_job(
        self,
        *,
        id: str,
        version: str,
        name: str | None = None,
        trigger: Trigger | None = None,
        integrations: Mapping[str, Any] | None = None,
        enabled: bool = True,
        on_success: Callback | None = None,
        on_failure: Callback | None = None,
        run: RunFunction | None = None,
        **flow: Unpack[FlowOptions],
    ) -> Job | Callable[[RunFunction], Job]:
        """Define a job: as a decorator on its run function, or with ``run=``.

        ``id`` is slugified; ``version`` must be MAJOR.MINOR.PATCH; a duplicate id raises
        ``DuplicateJob``. The run function takes ``(payload, io, ctx)`` and may be
        ``async def`` or plain ``def``. ``enabled=False`` jobs get no runs from events or
        workers. ``on_success``/``on_failure`` are called with the ``RunResult`` when a run
        ends, by the process that ended it (at most once: not if that process dies first).
        Flow control — ``concurrency_limit``, ``throttle``, ``debounce``, ``idempotency_key``,
        ``timeout``, ``cancel_on``, ``priority`` — is described in ``relaykit.definitions.flow``.
        """

        def register(fn: RunFunction) -> Job:
            job = make_job(
                id=id,
                name=name,
                version=version,
                trigger=trigger,
                run=fn,
                integrations=integrations,
                enabled=enabled,
                on_success=on_success,
                on_failure=on_failure,
                flow=flow,
                client=self,
            )
            if job.id in self._jobs:
                raise DuplicateJob(
                    f"client {self.id!r} already has a job with id {job.id!r}; job ids must be "
                    "unique (bump `version` to change a job, or pick another id)"
                )
            self._jobs[job.id] = job
            return job

        return register if run is None else register(run)

    def add_remote_jobs(self, jobs: Sequence[Job]) -> None:
        """Register jobs that run in a deployed endpoint (``RemoteEndpoint.describe``'s):
        their runs are executed over HTTP (endpoint mode); a duplicate id is ``DuplicateJob``."""
        for job in jobs:
            if job.remote is None:
                raise ConfigurationError(f"job {job.id!r} is not an endpoint's job")
            if job.id in self._jobs:
                raise DuplicateJob(f"client {self.id!r} already has a job with id {job.id!r}")
            self._jobs[job.id] = job

    def define_schedule(self, id: str) -> DynamicSchedule:
        """A dynamic schedule: use it as jobs' ``trigger``, then ``register(key, cron=...)``
        schedules at run time (see ``DynamicSchedule``)."""
        slug = slugify(id) if isinstance(id, str) else ""
        if not slug or slug != id:
            raise ConfigurationError(
                f"schedule id {id!r} must be a slug: lowercase letters, digits and -._~"
            )
        if slug in self._schedules:
            raise ConfigurationError(f"client {self.id!r} already has a schedule {slug!r}")
        schedule = DynamicSchedule(slug, self)
        self._schedules[slug] = schedule
        return schedule

    def define_concurrency_limit(self, id: str, limit: int) -> ConcurrencyLimit:
        """A concurrency limit several jobs share: pass it as their ``concurrency_limit``.

        At most ``limit`` runs of all those jobs together run at once, across all workers.
        """
        existing = self._limits.get(id)
        if existing is not None and existing.limit != limit:
            raise ConfigurationError(
                f"client {self.id!r} already has concurrency limit {id!r} with limit "
                f"{existing.limit}; define it once and share the object"
            )
        shared = existing or ConcurrencyLimit(id, limit)
        self._limits[id] = shared
        return shared

    def get_job(self, job: Job | str) -> Job:
        """The job for a Job or an id; raises ``UnknownJob`` naming the defined ids."""
        if isinstance(job, Job):
            if self._jobs.get(job.id) is not job:
                raise UnknownJob(f"job {job.id!r} is not defined on client {self.id!r}")
            return job
        found = self._jobs.get(job)
        if found is None:
            known = ", ".join(sorted(self._jobs)) or "none"
            raise UnknownJob(
                f"no job {job!r} in client {self.id!r} (defined: {known}); "
                "run `relaykit jobs APP` to list them"
            )
        return found

    # -- store and engine ---------------------------------------------------------------------

    def use_database(self, url: str) -> None:
        """Use the database at ``url`` (before the store is first used; the CLI's --database)."""
        if self._store_open:
            raise ConfigurationError(
                f"client {self.id!r}: the store is already open; call use_database() first"
            )
        self._database_url = url
        self._store = None

    @property
    def database_url(self) -> str:
        """The URL of the database this client uses: the constructor's or ``use_database``'s,
        else ``RELAYKIT_DATABASE_URL``, else the SQLite default."""
        return database_url_from_env(self._database_url)

    def _bind(self, store: Store, clock: Clock) -> Callable[[], None]:
        """Run on ``store`` (already open) and ``clock`` until the returned function is called;
        it puts back the database URL, store and clock the client had, as they were.

        ``relaykit.testing.RelaykitEnv`` binds a user's own client to a throwaway store this
        way; nothing else needs it.
        """
        saved = (self._database_url, self._store, self._store_open, self.clock)
        self._store, self._store_open, self.clock = store, True, clock

        def restore() -> None:
            self._database_url, self._store, self._store_open, self.clock = saved

        return restore

    @property
    def store(self) -> Store:
        """The store (created from the database URL on first use; ``await client.open()``)."""
        if self._store is None:
            self._store = store_from_url(database_url_from_env(self._database_url))
        return self._store

    async def open(self) -> Store:
        """Open the store (and migrate it) if not yet open; the first time, register the jobs
        of the ``endpoints`` (endpoint mode), asking each to describe them (an endpoint that
        cannot be reached raises ``EndpointError``)."""
        store = self.store
        if not self._store_open:
            await store.open()
            self._store_open = True
        if self._endpoint_urls and not self._remotes:
            await self._register_endpoints()
        return store

    async def _register_endpoints(self) -> None:
        from .engine.remote import RemoteEndpoint

        remotes = [RemoteEndpoint(url) for url in self._endpoint_urls]
        try:
            for remote in remotes:
                _, jobs = await remote.describe()
                self.add_remote_jobs(jobs)
        except BaseException:
            for remote in remotes:
                await remote.aclose()
            raise
        self._remotes = remotes

    async def close(self) -> None:
        """Close the store (and the endpoints' HTTP clients); open realtime streams end."""
        if self._changes is not None:
            self._changes.close()
            self._changes = None
        for remote in self._remotes:  # reopened on next use, on the loop that uses them
            await remote.aclose()
        if self._store is not None and self._store_open:
            await self._store.close()
            self._store_open = False

    async def __aenter__(self) -> Client:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def lease_seconds(self) -> float:
        """Lease TTL: the constructor argument, else ``RELAYKIT_LEASE_SECONDS``, else 30."""
        return self._lease_seconds or _lease_seconds_from_env()

    async def engine(
        self,
        *,
        observer: Observer | None = None,
        on_enqueue: Callable[[], None] | None = None,
    ) -> Engine:
        """An engine bound to the running event loop (close it when done).

        The installed plugins are imported first, in a thread, so no task's first call stalls
        the loop importing a vendor SDK."""
        if not self.plugins.loaded:
            await asyncio.to_thread(self.plugins.load)
        store = await self.open()
        if on_enqueue is not None:
            self._listeners.append(on_enqueue)
        return Engine(
            store=store,
            jobs=self.jobs,
            clock=self.clock,
            owner=new_owner_id(),
            environment=self.environment,
            lease_seconds=self.lease_seconds,
            poll_interval=self.poll_interval,
            observer=observer,
            on_enqueue=self._notify,
            http_transport=self._http_transport,
            max_payload_bytes=self.max_payload_bytes,
            plugins=self.plugins,
        )

    async def operations(self) -> Operations:
        """The operations every surface calls (``relaykit.engine.operations``), on this
        client's store (opened) and jobs."""
        store = await self.open()
        return Operations(
            store,
            clock=self.clock,
            jobs=self.jobs,
            engine=self.engine,
            on_enqueue=self._notify,
            changes=self.changes,
        )

    @property
    def changes(self) -> ChangeFeed:
        """This process's one watcher of the store, shared by every realtime stream
        (``Operations.watch_run``); ``close()`` ends those streams."""
        if self._changes is None:
            self._changes = ChangeFeed(self.store)
        return self._changes

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener`` when a run is enqueued (see ``engine(on_enqueue=)``)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    # -- running ------------------------------------------------------------------------------

    async def run(
        self,
        job: Job | str,
        payload: Any = None,
        *,
        is_test: bool = False,
        observer: Observer | None = None,
        on_created: Callable[[str], None] | None = None,
    ) -> RunResult:
        """Create a run and execute it in this process until it ends (waits included).

        A run under flow control (limits, debounce, idempotency) is queued like any other and
        executed here once its limits let it start, never beside a worker's attempt.
        ``on_created(run_id)`` is called once the run is stored. An invalid payload is not an
        exception: the result's status is ``invalid_payload``. Cancelling the call hands the
        run back to the store for a worker to resume.
        """
        if self._endpoint_urls:
            await self.open()  # an endpoint's jobs are known once it has described them
        target = self.get_job(job)
        engine = await self.engine(observer=observer)
        try:
            run = await engine.create_run(target, _plain(payload), is_test=is_test, claim=True)
            if on_created is not None:
                on_created(run.id)
            claimed = run if engine.claimed_here(run) else None
            return await engine.drive(run.id, claimed_run=claimed)
        finally:
            await engine.close()

    def run_sync(self, job: Job | str, payload: Any = None, *, is_test: bool = False) -> RunResult:
        """``client.run`` for synchronous code."""
        _no_running_loop("client.run_sync", "await client.run(...)")
        return self._on_own_loop(self.run(job, payload, is_test=is_test))

    def _on_own_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on a new event loop and close the store before that loop ends.

        A store's connections belong to the loop that opened them, and PostgreSQL's pool keeps
        background tasks on it; left to the loop's shutdown, a pool task caught mid-connect
        retries instead of ending and ``asyncio.run`` waits for it forever. The next call
        opens the store again on its own loop. A store that was open already (a call from a
        task's thread while the run that called it is executing) is left open for its owner."""
        opened_here = not self._store_open

        async def main() -> T:
            try:
                return await coro
            finally:
                if opened_here:
                    await self.close()

        return run_coroutine(main())

    async def enqueue(
        self,
        job: Job | str,
        payload: Any = None,
        *,
        is_test: bool = False,
        idempotency_key: str | None = None,
        tags: Sequence[str] = (),
    ) -> str:
        """Create a queued run for a worker to execute; return its id.

        With ``idempotency_key`` (or the job's own ``idempotency_key`` option), a run of the
        job created with the same key in the last 24 hours is returned instead. ``tags`` (up
        to 10 strings) label the run: ``relaykit runs list --tag``, ``GET /api/v1/runs?tag=``.
        """
        ops = await self.operations()
        run = await ops.enqueue(
            self.get_job(job),
            _plain(payload),
            is_test=is_test,
            idempotency_key=idempotency_key,
            tags=tags,
        )
        return run.id

    async def get_run(self, run_id: str) -> RunResult:
        """A run with its tasks and logs; raises ``UnknownRun``."""
        return await (await self.operations()).result(run_id)

    async def cancel_run(self, run_id: str) -> RunResult:
        """Cancel a run that has not ended (one that has is returned as it is); raises
        ``UnknownRun``."""
        ops = await self.operations()
        await ops.cancel_run(run_id)
        return await ops.result(run_id)

    async def replay_run(self, run_id: str) -> str:
        """Queue a new run of the same job with the same payload, test flag, priority and
        limits as ``run_id``; return its id. Raises ``UnknownRun``."""
        return (await (await self.operations()).replay_run(run_id)).id

    async def retry_run(self, run_id: str, *, from_task: str | None = None, **options: Any) -> str:
        """Queue a new run that resumes ``run_id`` where it stopped — its completed tasks
        replay from their outputs, the failed task and everything after it run again — and
        return its id; the old run stays as it was. ``from_task=KEY`` forks from that task
        (only the tasks completed before it are kept); ``payload=`` runs it with another
        payload. Raises ``UnknownRun``, ``UnknownTask``, or ``RelaykitError`` for a run that
        has not ended (or succeeded, unless forked)."""
        unknown = set(options) - {"payload"}
        if unknown:
            raise TypeError(f"retry_run() got unexpected keyword argument(s) {sorted(unknown)}")
        ops = await self.operations()
        if "payload" in options:
            new = await ops.retry_run(
                run_id, from_task=from_task, payload=_plain(options["payload"])
            )
        else:
            new = await ops.retry_run(run_id, from_task=from_task)
        return new.id

    async def send_event(
        self,
        name: str,
        payload: Any = None,
        *,
        id: str | None = None,
        source: str = "relaykit",
        deliver_at: datetime | None = None,
        deliver_after: float | None = None,
        tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Send an event: stored once per id (sending an id again does nothing) and, in the
        same transaction, turned into runs of every enabled job whose event trigger matches
        it, and handed to runs waiting for it. ``deliver_at``/``deliver_after`` delay it (a
        worker delivers it when due; ``cancel_event`` withdraws it until then). Returns the
        event with ``runs`` (ids of the runs it started) and ``duplicate``. ``tags`` are added
        to the runs it starts (not allowed with a delay)."""
        when = delivery_time(deliver_at, deliver_after, self.clock.now(), "send_event")
        ops = await self.operations()
        sent = await ops.send_event_record(
            name, _plain(payload), event_id=id, source=source, deliver_at=when, tags=tags
        )
        event = sent.event
        return {
            "id": event.id,
            "name": event.name,
            "payload": loads(event.payload),
            "timestamp": event.timestamp,
            "deliver_at": event.deliver_at,
            "runs": sent.runs,
            "duplicate": sent.duplicate,
        }

    def send_event_sync(self, name: str, payload: Any = None, **options: Any) -> dict[str, Any]:
        """``client.send_event`` for synchronous code."""
        _no_running_loop("client.send_event_sync", "await client.send_event(...)")
        return self._on_own_loop(self.send_event(name, payload, **options))

    async def cancel_event(self, event_id: str) -> bool:
        """Withdraw a delayed event not yet delivered; False when it was delivered already,
        canceled already, or never sent."""
        return await (await self.operations()).cancel_event(event_id)

    async def complete_token(self, token_id: str, data: Any = None) -> Token:
        """Complete the waitpoint token ``token_id`` (``io.create_token``) with ``data`` (any
        JSON value): the run waiting for it resumes and ``io.wait_for_token`` returns the data.
        Raises ``UnknownToken``, or ``RelaykitError`` (``TokenNotWaiting``) when it was
        completed before or timed out — the data it has is kept."""
        return await (await self.operations()).complete_token(token_id, _plain(data))

    def complete_token_sync(self, token_id: str, data: Any = None) -> Token:
        """``client.complete_token`` for synchronous code."""
        _no_running_loop("client.complete_token_sync", "await client.complete_token(...)")
        return self._on_own_loop(self.complete_token(token_id, data))

    async def get_token(self, token_id: str) -> Token:
        """One waitpoint token (status, data, signed ``url``); raises ``UnknownToken``."""
        return await (await self.operations()).get_token(token_id)

    def webhook_secrets(self, integration_id: str, source_id: str) -> WebhookSecrets:
        """The stored secrets of one webhook source (``/webhooks/{integration_id}/{source_id}``),
        encrypted with ``RELAYKIT_SECRET_KEY``; open the client first."""
        return StoredWebhookSecrets(self.store, integration_id, source_id, clock=self.clock.now)

    def find_integration(self, integration_id: str) -> Integration | None:
        """The integration instance with this id among the jobs' ``integrations`` (what
        ``/webhooks/{integration_id}/...`` reaches), or None."""
        for job in self._jobs.values():
            for integration in job.integrations.values():
                if isinstance(integration, Integration) and integration.id == integration_id:
                    return integration
        return None

    def asgi_app(self) -> Any:
        """The HTTP API (``/api/v1``) and dashboard as an ASGI app (a Starlette app), to run
        with ``relaykit serve`` or mount: ``app.mount("/relaykit", client.asgi_app())``."""
        # Imported here so that `import relaykit` never loads Starlette or Jinja2.
        from .server import create_app

        return create_app(self)

    def endpoint(self, *, secret: str | None = None, max_seconds: float | None = None) -> Any:
        """This client's jobs as an endpoint (an ASGI app, a Starlette app) that relaykit
        workers drive over signed HTTP: ``relaykit serve --endpoint URL`` (endpoint mode,
        ``docs/deployment.md``). Mount it (``app.mount("/api/relaykit", client.endpoint())``)
        or serve it alone. The app needs no database: relaykit sends each attempt its recorded
        tasks and stores what it answers.

        ``secret`` defaults to ``RELAYKIT_ENDPOINT_SECRET`` (the same value relaykit has);
        a missing one raises ``ConfigurationError``. ``max_seconds`` caps each attempt's time
        budget (your platform's request timeout, less your longest task): past it, the
        attempt yields at the next task boundary and relaykit resumes it in a new request.
        """
        from .server._endpoint import create_endpoint_app

        return create_endpoint_app(self, secret=secret, max_seconds=max_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(
        self,
        app: object = None,
        *,
        worker: bool = True,
        concurrency: int = 10,
        grace_seconds: float | None = None,
    ) -> AsyncIterator[None]:
        """An ASGI lifespan: open the store, run a worker (and the scheduler) on the app's
        event loop while the app serves, stop it gracefully on shutdown, close the store.

        Pass it as the app's lifespan (``FastAPI(lifespan=client.lifespan)``,
        ``Starlette(lifespan=client.lifespan)``; ``app`` is the app, unused) or enter it in your
        own (``async with client.lifespan(concurrency=4): yield``). ``worker=False`` runs none
        (an API-only process: other processes execute the runs). On shutdown the runs in
        flight get ``grace_seconds`` (default 10) to end, then are handed back to the store
        for the next worker, not failed. A store that cannot be opened raises, so the app fails
        to start. See ``relaykit.engine.lifespan``.
        """
        del app  # Starlette calls lifespan(app); the client needs nothing from it
        # Imported here so that `import relaykit` does not load the worker.
        from .engine.lifespan import DEFAULT_GRACE_SECONDS, in_process_worker

        grace = DEFAULT_GRACE_SECONDS if grace_seconds is None else grace_seconds
        opened_here = not self._store_open
        await self.open()
        try:
            async with in_process_worker(
                self, worker=worker, concurrency=concurrency, grace_seconds=grace
            ):
                yield
        finally:
            if opened_here:
                await self.close()

    def worker(self, **options: Any) -> Any:
        """A ``Worker`` for this client (see ``relaykit.engine.worker.Worker`` for options)."""
        from .engine.worker import Worker

        return Worker(self, **options)


def _plain(payload: Any) -> Any:
    if isinstance(payload, pydantic.BaseModel):
        return payload.model_dump(mode="json")
    return payload


def _no_running_loop(what: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{what} cannot be called from a running event loop; use {instead}")


__all__ = ["Client", "RunStatus"]
