"""Integration tasks through a real run: wrapping, memoization on replay, redaction of
secrets, error classification, credentials, ``io.use`` and the sync ``io``.

The API is an ``httpx2.MockTransport`` handler that counts every request it serves, so
"the replay did not call the API again" is a count, not an assumption.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2
import pydantic
import pytest

import relaykit
from relaykit import (
    IO,
    Client,
    Context,
    Credentials,
    MissingConnection,
    Retry,
    RunStatus,
    TaskCall,
    TaskStatus,
)
from relaykit.integrations.auth import Connections
from relaykit.testing import ManualClock

TOKEN = "tk_live_0123456789abcdef"  # a made-up token, checked never to be stored
KEY = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="  # a valid Fernet key (32 bytes)


class Thing(pydantic.BaseModel):
    id: int
    name: str


class Api:
    """The fictitious Tracker API; ``hits`` counts requests per path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.hits[path] += 1
        n = self.hits[path]
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx2.Response(401, json={"error": "bad credentials"})
        if path == "/limited" and n == 1:
            return httpx2.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"})
        if path == "/flaky" and n < 3:
            return httpx2.Response(503, json={"error": "try later"})
        if path == "/missing":
            return httpx2.Response(404, json={"error": "no such thing"})
        if path == "/echo":
            return httpx2.Response(200, json={"authorization": request.headers["authorization"]})
        return httpx2.Response(200, json={"id": 1, "name": f"thing at {path}"})


async def get_labelled(
    client: httpx2.AsyncClient, *, path: str, label: str = "plain", secret: str | None = None
) -> Thing:
    """GET a thing and label it (an API function, usable with any client)."""
    response = await client.get(path)
    response.raise_for_status()
    thing = Thing.model_validate(response.json())
    return thing.model_copy(update={"name": f"{label}: {thing.name}"})


class Tracker(relaykit.Integration):
    """A small test integration."""

    name = "Tracker"
    icon = "radar"
    token_env = "TRACKER_TOKEN"

    def create_client(self, credentials: Credentials) -> httpx2.AsyncClient:
        return self.http_client(
            base_url="https://tracker.test",
            headers={"Authorization": f"Bearer {credentials.access_token}"},
        )

    @relaykit.task(name="Get thing", icon="box")
    async def get_thing(self, client: httpx2.AsyncClient, *, path: str) -> Thing:
        """GET a thing."""
        response = await client.get(path)
        response.raise_for_status()
        return Thing.model_validate(response.json())

    get_labelled = relaykit.api_task(get_labelled, icon="tag", redact=("secret",))

    @relaykit.task(redact=("secret",), retry=Retry(limit=1))
    async def echo(self, client: httpx2.AsyncClient, *, secret: str) -> dict[str, Any]:
        """Return what the server saw (the Authorization header, i.e. the token)."""
        response = await client.get("/echo")
        return dict(response.json())

    @relaykit.task(retry=Retry(limit=1))
    async def leak(self, client: httpx2.AsyncClient) -> None:
        """Fail with the token in the message."""
        raise RuntimeError(f"rejected: {client.headers['authorization']}")


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def run_client(db_url: str, clock: ManualClock) -> Iterator[Client]:
    c = Client("integrations", database_url=db_url, clock=clock, lease_seconds=5)
    yield c
    asyncio.run(c.close())


def _everything(result: relaykit.RunResult) -> str:
    return json.dumps(dataclasses.asdict(result), default=str)


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_task_methods_are_memoized_tasks_and_a_replay_does_not_call_the_api(
    run_client: Client, api: Api, kind: str
) -> None:
    tracker = Tracker(id="tracker", token=TOKEN, transport=httpx2.MockTransport(api))
    seen_types: list[type] = []

    if kind == "async":

        @run_client.define_job(id="fetch", version="1.0.0", integrations={"tracker": tracker})
        async def fetch(payload: Any, io: IO, ctx: Context) -> str:
            first = await io.tracker.get_thing("first", path="/things/1")
            seen_types.append(type(first))
            await io.wait("pause", seconds=60)  # suspends: the run is replayed after it
            second = await io.use(tracker).get_thing("second", path="/things/2")
            return f"{first.name} / {second.name}"

    else:

        @run_client.define_job(id="fetch", version="1.0.0", integrations={"tracker": tracker})
        def fetch_sync(payload: Any, io: Any, ctx: Context) -> str:
            first = io.tracker.get_thing("first", path="/things/1")
            seen_types.append(type(first))
            io.wait("pause", seconds=60)
            second = io.use(tracker).get_thing("second", path="/things/2")
            return f"{first.name} / {second.name}"

    result = run_client.run_sync("fetch")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "thing at /things/1 / thing at /things/2"
    assert api.hits == {"/things/1": 1, "/things/2": 1}  # the replay took /things/1 from the record
    assert seen_types == [Thing, Thing]  # the recorded output comes back as the declared type
    first = next(t for t in result.tasks if t.key == "first")
    assert (first.name, first.kind, first.status) == (
        "Get thing",
        "integration",
        TaskStatus.COMPLETED,
    )
    assert first.params == {"path": "/things/1"}
    assert first.properties == {"integration": "tracker"}


def test_an_api_function_declared_with_api_task_is_a_task_method(
    run_client: Client, api: Api
) -> None:
    tracker = Tracker(id="tracker", token=TOKEN, transport=httpx2.MockTransport(api))
    method = Tracker.get_labelled
    assert isinstance(method, relaykit.TaskMethod)
    assert method.__doc__ == get_labelled.__doc__
    assert list(method.signature.parameters) == ["self", "client", "path", "label", "secret"]
    seen: list[Any] = []

    @run_client.define_job(id="labelled", version="1.0.0", integrations={"tracker": tracker})
    async def labelled(payload: Any, io: IO, ctx: Context) -> str:
        thing = await io.tracker.get_labelled("thing", path="/things/3", label="x", secret="s3")
        seen.append(thing)
        await io.wait("pause", seconds=60)  # the replay restores the output into a Thing
        return str(thing.name)

    result = run_client.run_sync("labelled")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "x: thing at /things/3"
    assert api.hits == {"/things/3": 1}
    assert [type(t) for t in seen] == [Thing, Thing]
    task = result.task("thing")
    assert task.name == "tracker.get_labelled"
    assert task.params == {"path": "/things/3", "label": "x", "secret": "[redacted]"}


def test_secrets_never_reach_params_outputs_or_errors(
    run_client: Client, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_TOKEN", TOKEN)  # read when the task runs
    tracker = Tracker(id="tracker", transport=httpx2.MockTransport(api))

    @run_client.define_job(id="leaky", version="1.0.0", integrations={"tracker": tracker})
    async def leaky(payload: Any, io: IO, ctx: Context) -> Any:
        seen = await io.tracker.echo("echo", secret="webhook-secret-42")
        try:
            await io.tracker.leak("leak")
        except relaykit.TaskFailed as exc:
            return {"seen": seen, "error": str(exc)}
        return None

    result = run_client.run_sync("leaky")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output["seen"] == {"authorization": "Bearer [redacted]"}
    assert "rejected: Bearer [redacted]" in result.output["error"]
    echo = next(t for t in result.tasks if t.key == "echo")
    assert echo.params == {"secret": "[redacted]"}
    everything = _everything(result)
    assert TOKEN not in everything
    assert "webhook-secret-42" not in everything


def test_a_rate_limit_waits_exactly_the_servers_delay(
    run_client: Client, api: Api, clock: ManualClock
) -> None:
    tracker = Tracker(id="tracker", token=TOKEN, transport=httpx2.MockTransport(api))

    @run_client.define_job(id="limited", version="1.0.0", integrations={"tracker": tracker})
    async def limited(payload: Any, io: IO, ctx: Context) -> str:
        return (await io.use(tracker).get_thing("get", path="/limited")).name

    result = run_client.run_sync("limited")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert api.hits["/limited"] == 2
    assert result.tasks[0].attempts == 2
    assert clock.slept == pytest.approx(7.0)  # Retry-After: 7, not the default backoff


def test_a_client_error_fails_at_once_and_a_server_error_is_retried(
    run_client: Client, api: Api
) -> None:
    tracker = Tracker(id="tracker", token=TOKEN, transport=httpx2.MockTransport(api))

    @run_client.define_job(id="errors", version="1.0.0", integrations={"tracker": tracker})
    async def errors(payload: Any, io: IO, ctx: Context) -> str:
        flaky = await io.use(tracker).get_thing("flaky", path="/flaky")
        await io.tracker.get_thing("missing", path="/missing")
        return flaky.name

    result = run_client.run_sync("errors")
    assert result.status is RunStatus.FAILED
    assert api.hits == {"/flaky": 3, "/missing": 1}  # 503 retried by the policy; 404 never
    missing = next(t for t in result.tasks if t.key == "missing")
    assert missing.error is not None and missing.error["type"] == "NonRetriable"
    assert "GET /missing -> 404" in missing.error["message"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {},
            "integration 'tracker' has no credentials: pass token=, set TRACKER_TOKEN, or run "
            "`relaykit connect tracker`",
        ),
        ({"token_env": "MY_TRACKER_TOKEN"}, "the environment variable MY_TRACKER_TOKEN is not set"),
    ],
)
def test_missing_credentials_name_the_fix(
    run_client: Client, api: Api, options: dict[str, str], message: str
) -> None:
    tracker = Tracker(
        id="tracker", transport=httpx2.MockTransport(api), token_env=options.get("token_env")
    )

    @run_client.define_job(id="nocreds", version="1.0.0", integrations={"tracker": tracker})
    async def nocreds(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.tracker.get_thing("get", path="/things/1")

    result = run_client.run_sync("nocreds")
    assert result.status is RunStatus.WAITING_FOR_CONNECTION  # not failed: it waits
    task = result.tasks[0]
    assert task.error is not None and task.error["type"] == MissingConnection.__name__
    assert message in task.error["message"]
    assert api.hits == {}


def test_a_stored_connection_is_used_and_raw_run_task_gets_the_client(
    run_client: Client, api: Api, monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    monkeypatch.setenv("RELAYKIT_SECRET_KEY", KEY)
    monkeypatch.delenv("TRACKER_TOKEN", raising=False)
    tracker = Tracker(id="tracker", transport=httpx2.MockTransport(api))

    async def connect() -> None:
        store = await run_client.open()
        await Connections(store, clock=clock.now).save("tracker", Credentials(TOKEN))

    asyncio.run(connect())

    async def raw(client: httpx2.AsyncClient) -> Any:
        return (await client.get("/raw")).json()

    @run_client.define_job(id="stored", version="1.0.0", integrations={"tracker": tracker})
    async def stored(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.tracker.run_task("raw", raw)

    result = run_client.run_sync("stored")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == {"id": 1, "name": "thing at /raw"}
    assert result.tasks[0].name == "tracker.raw"


def test_a_run_waiting_for_a_connection_resumes_when_one_is_added(
    run_client: Client, api: Api, monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    monkeypatch.setenv("RELAYKIT_SECRET_KEY", KEY)
    monkeypatch.delenv("TRACKER_TOKEN", raising=False)
    tracker = Tracker(id="tracker", transport=httpx2.MockTransport(api))
    effects: Counter[str] = Counter()

    @run_client.define_job(id="patient", version="1.0.0", integrations={"tracker": tracker})
    async def patient(payload: Any, io: IO, ctx: Context) -> Any:
        await io.run_task("before", lambda: effects.update(["before"]))
        thing = await io.tracker.get_thing("get", path="/things/7")
        return thing.name

    async def go() -> tuple[relaykit.RunResult, relaykit.RunResult]:
        run_id = await run_client.enqueue("patient")
        await relaykit.Worker(run_client, exit_when_idle=True).run()
        waiting = await run_client.get_run(run_id)
        store = await run_client.open()
        await Connections(store, clock=clock.now).save("tracker", Credentials(TOKEN))
        clock.advance(3600)  # the connection came an hour later
        await relaykit.Worker(run_client, exit_when_idle=True).run()
        return waiting, await run_client.get_run(run_id)

    waiting, done = asyncio.run(go())
    assert waiting.status is RunStatus.WAITING_FOR_CONNECTION
    assert [t.status for t in waiting.tasks] == [TaskStatus.COMPLETED, TaskStatus.WAITING]
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.output == "thing at /things/7"
    assert effects == Counter({"before": 1})  # the task before it ran once
    assert api.hits == {"/things/7": 1}
    # the attempt without credentials is kept; the hour the run waited is not its duration
    get = done.task("get")
    assert [(a.attempt, a.error["type"] if a.error else None) for a in get.attempt_history] == [
        (1, "MissingConnection"),
        (2, None),
    ]
    assert get.duration is not None and get.duration < 60


def test_the_wrap_hook_sees_every_task_not_only_integration_tasks(run_client: Client) -> None:
    seen: list[tuple[str, str | None]] = []

    class Tracing:
        @relaykit.hookimpl(wrapper=True)
        def relaykit_wrap_task(self, task: TaskCall) -> Any:
            seen.append((task.key, task.integration))
            return (yield)

    run_client.plugins.register(Tracing(), name="tracing")

    @run_client.define_job(id="plain", version="1.0.0")
    async def plain(payload: Any, io: IO, ctx: Context) -> int:
        async def two() -> int:
            return 2

        return int(await io.run_task("two", two)) + int(await io.random("r", min=0, max=0))

    result = run_client.run_sync("plain")
    assert result.status is RunStatus.SUCCEEDED and result.output == 2
    assert seen == [("two", None), ("r", None)]


def test_the_wrap_hook_runs_once_per_execution_and_not_on_replay(
    run_client: Client, api: Api
) -> None:
    calls: list[tuple[str, int, str | None]] = []

    class Tracing:
        @relaykit.hookimpl(wrapper=True)
        def relaykit_wrap_task(self, task: TaskCall) -> Any:
            inner = yield

            async def traced() -> Any:
                calls.append((task.key, task.attempt, task.params))
                return await inner

            return traced()

    run_client.plugins.register(Tracing(), name="tracing")
    tracker = Tracker(id="tracker", token=TOKEN, transport=httpx2.MockTransport(api))

    @run_client.define_job(id="traced", version="1.0.0", integrations={"tracker": tracker})
    async def traced_job(payload: Any, io: IO, ctx: Context) -> str:
        thing = await io.use(tracker).get_thing("flaky", path="/flaky")
        await io.wait("pause", seconds=5)
        return thing.name

    result = run_client.run_sync("traced")
    assert result.status is RunStatus.SUCCEEDED, result.error
    params = '{"path":"/flaky"}'
    assert calls == [("flaky", 1, params), ("flaky", 2, params), ("flaky", 3, params)]


def test_misuse_is_a_clear_error(run_client: Client, api: Api) -> None:
    tracker = Tracker(id="tracker", token=TOKEN, transport=httpx2.MockTransport(api))
    with pytest.raises(relaykit.RelaykitError, match=r"call it on io.<name>.get_thing\(key"):
        asyncio.run(tracker.get_thing("k", path="/things/1"))

    @run_client.define_job(id="typo", version="1.0.0", integrations={"tracker": tracker})
    async def typo(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.trackr.get_thing("get", path="/things/1")

    result = run_client.run_sync("typo")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert (
        "io has no attribute 'trackr' (job 'typo' declares the integrations: tracker"
        in (result.error["message"])
    )
    with pytest.raises(ValueError, match="the id must be lowercase"):
        Tracker(id="Not An Id")
