"""``RelaykitEnv``: a user's own ``Client`` on a throwaway store and a ``ManualClock``.

Nothing runs in the background: work happens inside the env's methods, on the env's own event
loop (see ``_loop``). ``run`` and ``drive`` skip time: a run's waits and retry delays elapse at
once, and they return when the run ends or can only go on with something the test provides (an
event, a connection). ``start``, ``send_event`` and ``drain`` execute what is runnable now
without moving the clock; ``advance`` moves it, stopping at every due time on the way, so that
schedules fire once per slot and waits end in order.
"""

from __future__ import annotations

from collections.abc import Collection, Coroutine
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, final

from ..client import Client
from ..errors import ConfigurationError, MockNotReached
from ..records import RunResult
from ..store import Store, store_from_url
from ._clock import ManualClock
from ._database import EnvDatabase
from ._driver import Budget, Driver
from ._loop import EnvLoop, loop_store
from ._mocks import EnvPlugin, MockedTask, Raises, check_key, unreached

if TYPE_CHECKING:
    from ..definitions.jobs import Job

T = TypeVar("T")

_bound: set[int] = set()  # ids of the clients an open env holds: one env per client at a time


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
        self._plugin_name = f"relaykit.testing.env-{id(self):x}"
        self._closed = False
        self._database = EnvDatabase(directory, database_url)
        self._loop = EnvLoop(f"relaykit-env-{client.id}")
        try:
            self._store: Store = self._loop.call("relaykit_env()", _open(self._database.url))
        except BaseException:
            self._loop.stop(_nothing())
            self._database.drop()
            raise
        self._restore = client._bind(loop_store(self._store, self._loop), self.clock)
        _bound.add(id(client))
        try:
            self._driver = self._loop.call("relaykit_env()", self._start_driver())
        except BaseException:
            self.close()
            raise

    async def _start_driver(self) -> Driver:
        self.client.plugins.register(self._plugin, name=self._plugin_name)
        driver = Driver(self.client, await self.client.engine(), self._store, self.clock)
        await driver.scheduler.sync()  # the first slots come after the clock's start
        return driver

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
        check_key(key)
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
            recorded = self._call("env.verify()", self._driver.recorded())
            raise MockNotReached("\n".join(unreached(m, recorded) for m in missing))

    # -- driving runs -------------------------------------------------------------------------

    def run(
        self, job: Job | str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> RunResult:
        """Start a run of ``job`` and drive it, skipping time, until it ends or can only go on
        with something the test provides: an event it waits for (``send_event``), a
        connection. Waits and retry delays elapse at once; runs it invokes are driven too.
        """
        coro = self._driver.start(job, payload, idempotency_key, skip=True)
        return self._call("env.run()", coro)

    async def run_async(
        self, job: Job | str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> RunResult:
        """``run`` for ``async def`` tests."""
        return await self._acall(self._driver.start(job, payload, idempotency_key, skip=True))

    def start(
        self, job: Job | str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> str:
        """Start a run of ``job``, execute it as far as it goes without moving the clock (up to
        its first wait, say), and return its id."""
        coro = self._driver.start(job, payload, idempotency_key, skip=False)
        return self._call("env.start()", coro).id

    async def start_async(
        self, job: Job | str, payload: Any = None, *, idempotency_key: str | None = None
    ) -> str:
        """``start`` for ``async def`` tests."""
        coro = self._driver.start(job, payload, idempotency_key, skip=False)
        return (await self._acall(coro)).id

    def drive(self, run_id: str) -> RunResult:
        """Drive a run already started, as ``run`` does: skipping its waits and retry delays,
        until it ends or waits for the test."""
        coro = self._driver.drive(run_id, Budget("env.drive()"), skip=True)
        return self._call("env.drive()", coro)

    async def drive_async(self, run_id: str) -> RunResult:
        """``drive`` for ``async def`` tests."""
        return await self._acall(self._driver.drive(run_id, Budget("env.drive()"), skip=True))

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
        return self._call("env.result()", self._driver.engine.result(run_id))

    async def result_async(self, run_id: str) -> RunResult:
        """``result`` for ``async def`` tests."""
        return await self._acall(self._driver.engine.result(run_id))

    def runs(self, job: Job | str | None = None) -> list[RunResult]:
        """Every run in the env (of ``job`` only, when given), oldest first."""
        return self._call("env.runs()", self._driver.runs(job))

    async def runs_async(self, job: Job | str | None = None) -> list[RunResult]:
        """``runs`` for ``async def`` tests."""
        return await self._acall(self._driver.runs(job))

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
                self._database.drop()

    async def _shutdown(self) -> None:
        driver = getattr(self, "_driver", None)
        try:
            if driver is not None:
                await driver.engine.close()
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

    async def _drain_results(self) -> list[RunResult]:
        return await self._driver.results(await self._driver.drain(Budget("env.drain()")))

    async def _advance(self, seconds: float) -> list[RunResult]:
        return await self._driver.results(await self._driver.advance(seconds))

    async def _send_event(self, name: str, payload: Any, options: dict[str, Any]) -> Any:
        sent = await self.client.send_event(name, payload, **options)
        await self._driver.drain(Budget("env.send_event()"))
        return sent

    def _classify(self, integration_id: str | None, exc: Exception) -> BaseException:
        """A mocked failure as the integration's real call would report it."""
        integration = (
            None if integration_id is None else self.client.find_integration(integration_id)
        )
        if integration is None:
            return exc
        return integration.classify_error(exc) or exc


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


__all__ = ["EnvFactory", "RelaykitEnv"]
