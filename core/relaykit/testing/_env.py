"""``RelaykitEnv``: a user's own ``Client`` on a throwaway store and a ``ManualClock``.

Nothing runs in the background: work happens inside the env's methods, on the env's own event
loop (see ``_loop``). ``run`` and ``drive`` skip time: a run's waits and retry delays elapse at
once, and they return when the run ends or can only go on with something the test provides (an
event, a connection). ``start``, ``send_event`` and ``drain`` execute what is runnable now
without moving the clock; ``advance`` moves it, stopping at every due time on the way, so that
schedules fire once per slot and waits end in order.
"""

from __future__ import annotations

import math
import secrets
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Collection, Coroutine
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from .._client import Client, _plain
from .._models import RunRecord, RunResult, RunStatus, TaskRecord, TaskStatus
from ..errors import ConfigurationError, MockNotReached, RelaykitError, StoreError, UnknownRun
from ..scheduler import Scheduler
from ..store import Store, parse_database_url, store_from_url
from ._clock import ManualClock
from ._loop import EnvLoop, loop_store
from ._mocks import EnvPlugin, MockedTask, Raises

if TYPE_CHECKING:
    from .._engine import Engine
    from ..jobs import Job

T = TypeVar("T")

#: Attempts one env call may execute before it decides that a run loops without end.
MAX_ATTEMPTS: Final = 10_000
_ALL_RUNS: Final = 1_000_000
#: Run states ``run``/``drive`` hand back at once: the test must act (or another worker has it).
_HANDED_BACK: Final = frozenset({RunStatus.WAITING_FOR_CONNECTION, RunStatus.RUNNING})
_POOL_OPTIONS: Final = frozenset({"pool_min_size", "pool_max_size"})  # relaykit's, not libpq's
_bound: set[int] = set()  # ids of the clients an open env holds: one env per client at a time


class _Budget:
    """Counts the attempts one env call executes (see ``MAX_ATTEMPTS``)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.used = 0

    def spend(self) -> None:
        self.used += 1
        if self.used > MAX_ATTEMPTS:
            raise RelaykitError(
                f"{self.what} executed {MAX_ATTEMPTS:,} attempts and there is still work due; "
                "a run may loop without end (a task key reused in a loop with wait(0), an "
                "interval trigger of a second over a long env.advance?)"
            )


@final
class RelaykitEnv:
    """A ``Client`` from the user's own code, bound for one test to a throwaway store and a
    ``ManualClock``, and driven by the test. ``relaykit_env(client)`` (the pytest fixture)
    makes one and closes it after the test; outside pytest use ``with RelaykitEnv(client):``.

    The store is a new SQLite file in ``directory`` (a temporary directory by default), or,
    with ``database_url``, that database: for ``postgresql://`` a new schema in it, dropped
    again on ``close()``, so nothing already stored there is seen or touched. ``start`` is the
    clock's starting time (epoch seconds or an aware datetime; default now). Integration tasks
    without a mock fail with ``UnmockedTask`` unless ``allow_network`` is True or names the
    integration's id. ``close()`` gives the client back its own store and clock.

    Every method has an ``..._async`` twin for ``async def`` tests; both run the work on the
    env's own event loop, so either works from any test.
    """

    def __init__(
        self,
        client: Client,
        *,
        directory: str | Path | None = None,
        database_url: str | None = None,
        start: float | datetime | None = None,
        allow_network: bool | Collection[str] = False,
    ) -> None:
        if not isinstance(client, Client):
            raise TypeError(
                f"relaykit_env() takes your app's relaykit.Client, got {type(client).__name__}"
            )
        if id(client) in _bound:
            raise ConfigurationError(
                f"client {client.id!r} is already bound to an open relaykit_env; use that env "
                "(one env per client at a time)"
            )
        if isinstance(allow_network, str):
            allow_network = [allow_network]
        self.client = client
        self.clock = ManualClock(start)
        self._plugin = EnvPlugin(allow_network=allow_network, classify=self._classify)
        self._plugin_name = f"relaykit.testing.env-{secrets.token_hex(4)}"
        self._own_directory: Path | None = None
        self._schema: tuple[str, str] | None = None  # (admin URL, schema) to drop on close
        self._closed = False
        # the order the env met runs in: runs made in the same millisecond of a frozen clock
        # have ids in random order
        self._order: dict[str, int] = {}
        url = self._database(directory, database_url)
        self._loop = EnvLoop(f"relaykit-env-{client.id}")
        try:
            self._store: Store = self._loop.call("relaykit_env()", _open(url))
        except BaseException:
            self._loop.stop(_nothing())
            self._drop_database()
            raise
        self._restore = client._bind(loop_store(self._store, self._loop), self.clock)
        _bound.add(id(client))
        try:
            client.plugins.register(self._plugin, name=self._plugin_name)
            self._engine: Engine = self._loop.call("relaykit_env()", client.engine())
            self._scheduler = Scheduler(self._engine)
            self._loop.call("relaykit_env()", self._scheduler.sync())
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        state = "closed" if self._closed else self._store.url
        return f"<RelaykitEnv client={self.client.id!r} {state} {self.clock!r}>"

    def __enter__(self) -> RelaykitEnv:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                self.verify()
        finally:
            self.close()

    @property
    def store_url(self) -> str:
        """The throwaway store's URL (without a password)."""
        return self._store.url

    # -- mocks --------------------------------------------------------------------------------

    def mock_task(
        self,
        key: str,
        output: Any = None,
        *,
        raises: Raises | None = None,
        job: Job | str | None = None,
    ) -> MockedTask:
        """Answer for the task with this full key instead of executing it.

        ``key`` is the task's scoped key: ``"classify"``, ``"notify/post"`` inside task
        ``notify``, or an integration call's key (``"issue"`` in
        ``io.github.create_issue("issue", ...)``). The task completes with ``output`` (restored
        into the function's return type like a real output) or fails with ``raises``: one
        exception fails every attempt (retries apply, an integration's errors are classified
        as its real calls' are: a 404 fails at once, a 429 retries after its delay); a list
        fails the first attempts, one each, and the next completes with ``output``. With
        ``job`` only that job's task is mocked. A new mock for the same key replaces the old.
        The task is recorded like any other and marked ``mocked``; a mock no task execution
        reached fails the test at its end (``verify``).
        """
        _check_key(key)
        job_id = None if job is None else self.client.get_job(job).id
        mock = MockedTask(key, output=output, raises=raises, job=job_id)
        self._plugin.add(mock)
        return mock

    def unmock(self, key: str, *, job: Job | str | None = None) -> None:
        """Remove the mock for ``key`` (made with the same ``job``): the task runs for real
        from now on, and the mock is not reported if it was never reached. Raises
        ``KeyError`` when there is no such mock."""
        job_id = None if job is None else self.client.get_job(job).id
        if self._plugin.remove(job_id, key) is None:
            made = ", ".join(m.describe() for m in self._plugin.mocks.values()) or "none"
            raise KeyError(f"env.unmock({key!r}): no such mock; the mocks are: {made}")

    @property
    def mocks(self) -> list[MockedTask]:
        """The mocks in force, in the order they were made."""
        return list(self._plugin.mocks.values())

    def verify(self) -> None:
        """Raise ``MockNotReached`` (an ``AssertionError``) naming every mock that no task
        execution reached, and why; the fixture calls it after a test that passed."""
        missing = [m for m in self._plugin.mocks.values() if not m.reached]
        if missing:
            recorded = self._call("env.verify()", self._recorded())
            raise MockNotReached("\n".join(_unreached(m, recorded) for m in missing))

    # -- driving runs -------------------------------------------------------------------------

    def run(
        self, job: Job | str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> RunResult:
        """Start a run of ``job`` and drive it, skipping time, until it ends or can only go on
        with something the test provides: an event it waits for (``send_event``), a
        connection. Waits and retry delays elapse at once; runs it invokes are driven too.
        """
        return self._call("env.run()", self._run(job, payload, idempotency_key, skip=True))

    async def run_async(
        self, job: Job | str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> RunResult:
        """``run`` for ``async def`` tests."""
        return await self._acall(self._run(job, payload, idempotency_key, skip=True))

    def start(
        self, job: Job | str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> str:
        """Start a run of ``job``, execute it as far as it goes without moving the clock (up to
        its first wait, say), and return its id."""
        coro = self._run(job, payload, idempotency_key, skip=False)
        return self._call("env.start()", coro).id

    async def start_async(
        self, job: Job | str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> str:
        """``start`` for ``async def`` tests."""
        return (await self._acall(self._run(job, payload, idempotency_key, skip=False))).id

    def drive(self, run_id: str) -> RunResult:
        """Drive a run already started, as ``run`` does: skipping its waits and retry delays,
        until it ends or waits for the test."""
        return self._call("env.drive()", self._drive(run_id, _Budget("env.drive()"), skip=True))

    async def drive_async(self, run_id: str) -> RunResult:
        """``drive`` for ``async def`` tests."""
        return await self._acall(self._drive(run_id, _Budget("env.drive()"), skip=True))

    def send_event(self, name: str, payload: Any = None, **options: Any) -> dict[str, Any]:
        """Send an event (``Client.send_event``'s options: ``id``, ``source``, ``deliver_at``,
        ``deliver_after``), then execute what it made runnable — the runs it starts, the runs
        waiting for it — without moving the clock. Returns the event with ``runs``, the ids of
        the runs it started."""
        return self._call("env.send_event()", self._send_event(name, payload, options))

    async def send_event_async(
        self, name: str, payload: Any = None, **options: Any
    ) -> dict[str, Any]:
        """``send_event`` for ``async def`` tests."""
        return await self._acall(self._send_event(name, payload, options))

    def advance(self, seconds: float) -> list[RunResult]:
        """Let ``seconds`` pass: the clock moves to each due time on the way (a wait's end, a
        retry, an event wait's timeout, a delayed event, a cron or interval slot) and what
        became runnable is executed there. Returns the runs that were executed."""
        return self._call("env.advance()", self._advance(seconds))

    async def advance_async(self, seconds: float) -> list[RunResult]:
        """``advance`` for ``async def`` tests."""
        return await self._acall(self._advance(seconds))

    def drain(self) -> list[RunResult]:
        """Execute everything runnable now — queued runs, runs whose wait is over, due
        delayed events, cron and interval slots due on the clock — until nothing is left,
        without moving the clock. Returns the runs that were executed."""
        return self._call("env.drain()", self._drain_results())

    async def drain_async(self) -> list[RunResult]:
        """``drain`` for ``async def`` tests."""
        return await self._acall(self._drain_results())

    def result(self, run_id: str) -> RunResult:
        """The run as it is now, with its tasks (``RunResult.task(key)``); runs nothing."""
        return self._call("env.result()", self._engine.result(run_id))

    async def result_async(self, run_id: str) -> RunResult:
        """``result`` for ``async def`` tests."""
        return await self._acall(self._engine.result(run_id))

    def runs(self, job: Job | str | None = None) -> list[RunResult]:
        """Every run in the env (of ``job`` only, when given), oldest first."""
        return self._call("env.runs()", self._runs(job))

    async def runs_async(self, job: Job | str | None = None) -> list[RunResult]:
        """``runs`` for ``async def`` tests."""
        return await self._acall(self._runs(job))

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Give the client back its own store, clock and plugins; close and delete the
        throwaway store. Closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self.client.plugins.unregister(self._plugin_name)
        finally:
            self._restore()
            _bound.discard(id(self.client))
            try:
                self._loop.stop(self._shutdown())
            finally:
                self._drop_database()

    async def _shutdown(self) -> None:
        engine = getattr(self, "_engine", None)
        try:
            if engine is not None:
                await engine.close()
        finally:
            await self._store.close()

    # -- the work, on the env's loop ----------------------------------------------------------

    def _call(self, what: str, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.call(what, coro)

    async def _acall(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("the env is closed; make a new one with relaykit_env()")
        return await self._loop.acall(coro)

    async def _run(
        self, job: Job | str, payload: Any, idempotency_key: str | None, *, skip: bool
    ) -> RunResult:
        target = self.client.get_job(job)
        run = await self._engine.create_run(
            target, _plain(payload), idempotency_key=idempotency_key
        )
        self._met(run.id)
        what = "env.run()" if skip else "env.start()"
        return await self._drive(run.id, _Budget(what), skip=skip)

    async def _drive(self, run_id: str, budget: _Budget, *, skip: bool) -> RunResult:
        while True:
            await self._engine.deliver_due_events()
            claimed = await self._claim(run_id)
            if claimed is not None:
                await self._execute(claimed, budget)
                continue
            run = await self._store.get_run(run_id)
            if run is None:
                raise UnknownRun(f"no run {run_id!r} in this env; env.runs() lists its runs")
            if not skip or run.status.is_terminal or run.status in _HANDED_BACK:
                break
            due = await self._next_timer(run_id)
            if due is None:  # it waits for the test (an event), or for a limit to free up
                break
            self.clock.advance(due - self.clock.now())
        return await self._engine.result(run_id)

    async def _execute(self, run: RunRecord, budget: _Budget) -> None:
        budget.spend()
        self._met(run.id)
        await self._engine.execute(run)

    def _met(self, run_id: str) -> None:
        self._order.setdefault(run_id, len(self._order))

    async def _claim(self, run_id: str | None = None) -> RunRecord | None:
        now = self.clock.now()
        claimed = await self._store.claim_runs(
            owner=self._engine.owner,
            now=now,
            lease_until=now + self._engine.lease_seconds,
            limit=1,
            job_ids=list(self.client.jobs),
            run_id=run_id,
            family=run_id is not None,
        )
        return claimed[0] if claimed else None

    async def _next_timer(self, run_id: str) -> float | None:
        """The next due time of the run or the runs it invoked — when one of them waits on a
        timer (a wait, a retry delay, a delayed start); None when they only wait for the
        test (events) or for nothing that time brings."""
        now = self.clock.now()
        due_times: list[float] = []
        timer = False
        for run in await self._family(run_id):
            due = run.next_attempt_at
            if run.status not in (RunStatus.QUEUED, RunStatus.WAITING) or due is None:
                continue
            if due <= now:
                continue
            due_times.append(due)
            if run.status is RunStatus.QUEUED or _has_timer(
                await self._store.load_tasks(run.id), now
            ):
                timer = True
        return min(due_times) if timer else None

    async def _family(self, run_id: str) -> list[RunRecord]:
        runs = await self._store.list_runs(limit=_ALL_RUNS)
        by_id = {r.id: r for r in runs}
        children: dict[str, list[str]] = defaultdict(list)
        for r in runs:
            if r.parent_run_id is not None:
                children[r.parent_run_id].append(r.id)
        found, todo = [], [run_id]
        while todo:
            current = todo.pop()
            if current in by_id:
                found.append(by_id[current])
                todo.extend(children[current])
        return found

    async def _drain(self, budget: _Budget) -> list[str]:
        await self._scheduler.sync()  # jobs defined since the env was made
        ran: dict[str, None] = {}
        while True:
            delivered = await self._engine.deliver_due_events()
            fired = await self._scheduler.tick()
            run = await self._claim()
            if run is None:
                if delivered or fired:
                    continue
                return list(ran)
            ran[run.id] = None
            await self._execute(run, budget)

    async def _drain_results(self) -> list[RunResult]:
        return [await self._engine.result(i) for i in await self._drain(_Budget("env.drain()"))]

    async def _advance(self, seconds: float) -> list[RunResult]:
        if not isinstance(seconds, int | float) or seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"env.advance(seconds): seconds must be >= 0, got {seconds!r}")
        budget = _Budget("env.advance()")
        target = self.clock.now() + seconds
        ran = dict.fromkeys(await self._drain(budget))
        while True:
            due = await self._store.next_wakeup(job_ids=list(self.client.jobs))
            now = self.clock.now()
            if due is None or due > target:
                break
            stuck = due <= now  # due already, yet nothing ran: held back by a limit
            self.clock.advance(max(0.0, due - now))
            more = await self._drain(budget)
            ran.update(dict.fromkeys(more))
            if stuck and not more:
                break
        self.clock.advance(max(0.0, target - self.clock.now()))
        ran.update(dict.fromkeys(await self._drain(budget)))
        return [await self._engine.result(i) for i in ran]

    async def _send_event(self, name: str, payload: Any, options: dict[str, Any]) -> Any:
        sent = await self.client.send_event(name, payload, **options)
        await self._drain(_Budget("env.send_event()"))
        return sent

    async def _runs(self, job: Job | str | None) -> list[RunResult]:
        job_id = None if job is None else self.client.get_job(job).id
        runs = await self._store.list_runs(job_id=job_id, limit=_ALL_RUNS)
        late = len(self._order)  # runs the env never met (queued by app code): after those it did
        ordered = sorted(runs, key=lambda r: (r.created_at, self._order.get(r.id, late), r.id))
        return [await self._engine.result(r.id) for r in ordered]

    async def _recorded(self) -> list[tuple[str, TaskRecord]]:
        """Every task recorded in the env, with its run's job id."""
        found: list[tuple[str, TaskRecord]] = []
        for run in await self._store.list_runs(limit=_ALL_RUNS):
            found.extend((run.job_id, t) for t in await self._store.load_tasks(run.id))
        return found

    def _classify(self, integration_id: str | None, exc: Exception) -> BaseException:
        """A mocked failure as the integration's real call would report it."""
        integration = (
            None if integration_id is None else self.client.find_integration(integration_id)
        )
        if integration is None:
            return exc
        return integration.classify_error(exc) or exc

    # -- the database -------------------------------------------------------------------------

    def _database(self, directory: str | Path | None, database_url: str | None) -> str:
        if database_url is None:
            if directory is None:
                directory = self._own_directory = Path(tempfile.mkdtemp(prefix="relaykit-env-"))
            folder = Path(directory).resolve()
            folder.mkdir(parents=True, exist_ok=True)
            # a throwaway file: durability buys nothing, and off is several times faster
            return f"sqlite:///{folder / 'relaykit.db'}?synchronous=off"
        if parse_database_url(database_url).scheme == "sqlite":
            return database_url
        return self._new_schema(database_url)

    def _new_schema(self, url: str) -> str:
        """Create a schema of its own in the PostgreSQL database ``url`` names; return the
        URL whose connections use it (``search_path``)."""
        import psycopg
        from psycopg import sql

        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        libpq = [(k, v) for k, v in query if k.lower() not in _POOL_OPTIONS]
        admin = parts._replace(scheme="postgresql", query=urlencode(libpq, quote_via=quote))
        schema = f"relaykit_env_{secrets.token_hex(6)}"
        try:
            with psycopg.connect(admin.geturl(), autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        except psycopg.Error as exc:
            shown = parse_database_url(url).redacted
            raise StoreError(
                f"relaykit_env(database_url={shown!r}): cannot create a schema for the test "
                f"there ({' '.join(str(exc).split())}); the user needs CREATE on the database"
            ) from None
        self._schema = (admin.geturl(), schema)
        options = " ".join(
            [*(v for k, v in query if k.lower() == "options"), f"-c search_path={schema}"]
        )
        rest = [(k, v) for k, v in query if k.lower() != "options"]
        return parts._replace(
            query=urlencode([*rest, ("options", options)], quote_via=quote)
        ).geturl()

    def _drop_database(self) -> None:
        if self._schema is not None:
            import psycopg
            from psycopg import sql

            admin, schema = self._schema
            self._schema = None
            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
        if self._own_directory is not None:
            shutil.rmtree(self._own_directory, ignore_errors=True)
            self._own_directory = None


class EnvFactory(Protocol):
    """The ``relaykit_env`` fixture's type, for annotating tests:
    ``def test_welcome(relaykit_env: EnvFactory) -> None``."""

    def __call__(
        self,
        client: Client,
        *,
        database_url: str | None = None,
        start: float | datetime | None = None,
        allow_network: bool | Collection[str] = False,
    ) -> RelaykitEnv:
        """Bind ``client`` to a throwaway store for this test (see ``RelaykitEnv``)."""
        ...


async def _open(url: str) -> Store:
    store = store_from_url(url)
    await store.open()
    return store


async def _nothing() -> None:
    return None


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key or not all(key.split("/")):
        raise ValueError(
            f"mock_task(key): {key!r} is not a task key; pass the task's full key, e.g. "
            "'classify', or 'notify/post' for task 'post' inside task 'notify'"
        )


def _has_timer(tasks: list[TaskRecord], now: float) -> bool:
    """Whether a task waits on time alone: a wait, or a retry delay (a failed attempt)."""
    return any(
        t.status is TaskStatus.WAITING
        and t.next_attempt_at is not None
        and t.next_attempt_at > now
        and (t.kind == "wait" or t.error is not None)
        for t in tasks
    )


def _kind(rec: TaskRecord) -> str | None:
    """What a recorded task is when no mock can stand for it (it runs no function)."""
    if rec.kind == "wait":
        return "a wait, which env.run skips and env.advance lets pass"
    if rec.kind == "event" and rec.name.startswith("wait for "):
        return "a wait for an event: send it with env.send_event(...)"
    if rec.kind == "invoke":
        return "an invoke of another job: mock that job's tasks instead"
    return None


def _unreached(mock: MockedTask, recorded: list[tuple[str, TaskRecord]]) -> str:
    head = f"relaykit_env: {mock.describe()} was never reached:"
    same = [(job, rec) for job, rec in recorded if rec.key == mock.key]
    for _, rec in same:
        if (kind := _kind(rec)) is not None:
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


__all__ = ["MAX_ATTEMPTS", "EnvFactory", "RelaykitEnv"]
