"""``relaykit_env`` against real stores: every method of the env, on a SQLite file and on
PostgreSQL (a schema of its own per test), with sync and async jobs.

Task functions count their real executions in ``effects``; the fictitious Tracker API counts
its requests, so "a mock ran instead of the task" and "nothing touched the network" are
counts, not assumptions.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx2
import pydantic
import pytest

import relaykit
from relaykit import (
    Client,
    Credentials,
    NonRetriable,
    Retry,
    RunStatus,
    TaskStatus,
    UnknownJob,
    UnknownTask,
    cron_trigger,
    event_trigger,
    interval_trigger,
)
from relaykit.testing import EnvFactory, MockNotReached, RelaykitEnv, UnmockedTask, _driver

START = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
Bind = Callable[..., RelaykitEnv]


class Api:
    """The Tracker API as an ``httpx2.MockTransport`` handler; ``hits`` counts requests."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.hits[request.url.path] += 1
        return httpx2.Response(201, json={"id": 9, "title": "from the API"})


class Ticket(pydantic.BaseModel):
    id: int
    title: str


class Tracker(relaykit.Integration):
    """A small integration whose transport is the counting ``Api``."""

    def create_client(self, credentials: Credentials) -> httpx2.AsyncClient:
        return self.http_client(base_url="https://tracker.test")

    @relaykit.task()
    async def open_ticket(self, client: httpx2.AsyncClient, *, title: str) -> Ticket:
        """POST a ticket."""
        response = await client.post("/tickets", json={"title": title})
        response.raise_for_status()
        return Ticket.model_validate(response.json())


@pytest.fixture(params=["sqlite", "postgres"])
def bind(request: pytest.FixtureRequest, relaykit_env: EnvFactory) -> Bind:
    """``relaykit_env`` on each store in turn (PostgreSQL: the session's test database)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None

    def make(client: Client, **options: Any) -> RelaykitEnv:
        return relaykit_env(client, database_url=url, **options)

    return make


@pytest.fixture
def effects() -> Counter[str]:
    """Real executions of task functions."""
    return Counter()


@pytest.fixture
def api() -> Api:
    return Api()


def _app(effects: Counter[str], api: Api) -> Client:
    """An app like a user's: jobs with a retried task, a wait, an event wait, an integration
    call, nested tasks, a sync job, a cron job and an invoked child."""
    client = Client("app")
    tracker = Tracker(id="tracker", token="tk_test", transport=httpx2.MockTransport(api))

    def classify(text: str) -> str:
        effects["classify"] += 1
        return "vip" if "!" in text else "normal"

    @client.define_job(
        id="welcome",
        version="1.0.0",
        trigger=event_trigger(name="user.created"),
        integrations={"tracker": tracker},
    )
    async def welcome(payload: Any, io: Any, ctx: Any) -> Any:
        label = await io.run_task("classify", classify, payload["text"], retry=Retry(limit=3))
        await io.wait("cool-off", hours=1)
        ticket = await io.tracker.open_ticket("ticket", title=label)
        return {"label": label, "ticket": ticket.id, "title": ticket.title}

    @client.define_job(id="approval", version="1.0.0")
    async def approval(payload: Any, io: Any, ctx: Any) -> Any:
        answer = await io.wait_for_event(
            "answer", "approved", filter={"id": [payload["id"]]}, timeout=payload.get("timeout")
        )
        return {"approved": answer is not None and answer["payload"]}

    @client.define_job(id="notify", version="1.0.0")
    async def notify(payload: Any, io: Any, ctx: Any) -> Any:
        def post() -> str:
            effects["post"] += 1
            return "sent"

        async def send() -> str:
            sent: str = await io.run_task("post", post)
            return sent

        return await io.run_task("notify", send)

    @client.define_job(id="sync-job", version="1.0.0")
    def sync_job(payload: Any, io: Any, ctx: Any) -> Any:
        label = io.run_task("classify", classify, payload["text"])
        io.wait("pause", minutes=5)
        return {"label": label}

    @client.define_job(id="nightly", version="1.0.0", trigger=cron_trigger("0 * * * *"))
    async def nightly(payload: Any, io: Any, ctx: Any) -> Any:
        return payload["ts"]

    @client.define_job(id="parent", version="1.0.0")
    async def parent(payload: Any, io: Any, ctx: Any) -> Any:
        return await io.invoke("child", "sync-job", {"text": "from parent"})

    return client


# -- binding --------------------------------------------------------------------------------


def test_the_client_gets_its_own_store_and_clock_back(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    own_clock = client.clock
    env = bind(client, start=START)
    assert client.clock is env.clock
    assert env.clock.now() == START.timestamp()
    env.close()
    assert client.clock is own_clock
    assert client._store is None  # as before: made from its database URL on first use
    assert "relaykit.testing" not in " ".join(
        n for n, _ in client.plugins.manager.list_name_plugin()
    )


def test_a_new_env_starts_clean(bind: Bind, effects: Counter[str], api: Api) -> None:
    client = _app(effects, api)
    with bind(client) as first:
        first.mock_task("classify", output="x")
        first.start("welcome", {"text": "a"})
        assert len(first.runs()) == 1
    second = bind(client)
    assert second.runs() == []
    assert second.store_url != first.store_url


def test_a_client_is_bound_to_one_env_at_a_time(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    bind(client)
    with pytest.raises(relaykit.RelaykitError, match="already bound to an open relaykit_env"):
        bind(client)


def test_something_else_than_a_client_is_refused(relaykit_env: EnvFactory) -> None:
    with pytest.raises(TypeError, match=r"takes your app's relaykit\.Client, got str"):
        relaykit_env("app:client")  # type: ignore[arg-type]


# -- run: time skipping ---------------------------------------------------------------------


def test_run_lets_waits_and_retry_delays_elapse_at_once(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    env = bind(client, start=START)
    env.mock_task(
        "classify", raises=[ConnectionError("down"), ConnectionError("down")], output="vip"
    )
    env.mock_task("ticket", output={"id": 7, "title": "mocked"})
    result = env.run("welcome", {"text": "hi!"})
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == {"label": "vip", "ticket": 7, "title": "mocked"}
    classify = result.task("classify")
    assert (classify.status, classify.attempts, classify.mocked) == ("completed", 3, True)
    assert result.task("cool-off").status is TaskStatus.COMPLETED
    assert env.clock.now() >= START.timestamp() + 3600  # the hour passed, on the manual clock
    assert effects["classify"] == 0 and api.hits == {}


def test_run_hands_back_a_run_that_waits_for_an_event(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    env = bind(client, start=START)
    result = env.run("approval", {"id": 1, "timeout": 86_400})
    assert result.status is RunStatus.WAITING
    assert result.task("answer").status is TaskStatus.WAITING
    assert env.clock.now() == START.timestamp()  # an event's timeout is not skipped
    env.send_event("approved", {"id": 2})  # filtered out
    assert env.result(result.id).status is RunStatus.WAITING
    env.send_event("approved", {"id": 1})
    done = env.result(result.id)
    assert done.output == {"approved": {"id": 1}}


def test_a_sync_job_and_the_child_a_run_invokes_are_driven_too(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    env = bind(client)
    result = env.run("parent", {})
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == {"label": "normal"}
    [child] = [r for r in env.runs() if r.job == "sync-job"]
    assert child.ok and child.task("pause").status is TaskStatus.COMPLETED
    assert effects["classify"] == 1  # not mocked: the real function ran, once


def test_run_takes_a_job_object_and_a_pydantic_payload(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    class Text(pydantic.BaseModel):
        text: str

    client = _app(effects, api)
    env = bind(client)
    result = env.run(client.jobs["sync-job"], Text(text="ok!"))
    assert result.output == {"label": "vip"}


def test_run_of_an_unknown_job_names_the_defined_ones(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api))
    with pytest.raises(UnknownJob, match=r"no job 'welcom' .*defined: approval, nightly"):
        env.run("welcom", {})


# -- mock_task --------------------------------------------------------------------------------


def test_a_mocked_integration_task_is_restored_into_its_return_type(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    env = bind(client)
    env.mock_task("classify", output="normal")
    ticket = env.mock_task("ticket", output={"id": 3, "title": "t"})
    result = env.run("welcome", {"text": "x"})
    assert result.output == {"label": "normal", "ticket": 3, "title": "t"}  # via Ticket
    record = result.task("ticket")
    assert record.mocked and record.properties == {"integration": "tracker", "mocked": True}
    assert record.params == {"title": "normal"}  # recorded like the real call
    assert len(ticket.calls) == 1 and ticket.calls[0].integration == "tracker"
    assert api.hits == {}


def test_a_mock_is_memoized_like_the_task_across_replays(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    env = bind(client)
    classify = env.mock_task("classify", output="normal")
    env.mock_task("ticket", output={"id": 3, "title": "t"})
    env.run("welcome", {"text": "x"})  # replayed after the wait: classify is not asked again
    assert len(classify.calls) == 1


def test_a_mock_that_always_raises_uses_up_the_retries(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    env = bind(client)
    env.mock_task("classify", raises=TimeoutError)
    result = env.run("welcome", {"text": "x"})
    assert result.status is RunStatus.FAILED
    record = result.task("classify")
    assert (record.status, record.attempts) == (TaskStatus.ERRORED, 3)  # Retry(limit=3)
    assert record.error is not None
    assert record.error["message"] == "mocked failure of task 'classify'"


def test_a_non_retriable_mock_fails_at_once(bind: Bind, effects: Counter[str], api: Api) -> None:
    env = bind(_app(effects, api))
    env.mock_task("classify", raises=NonRetriable("bad input"))
    result = env.run("welcome", {"text": "x"})
    assert result.task("classify").attempts == 1
    assert result.error is not None and "bad input" in result.error["message"]


def test_a_mocked_integration_error_is_classified_like_the_real_one(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    request = httpx2.Request("POST", "https://tracker.test/tickets")
    limited = httpx2.HTTPStatusError(
        "429",
        request=request,
        response=httpx2.Response(429, headers={"Retry-After": "90"}, request=request),
    )
    missing = httpx2.HTTPStatusError(
        "404", request=request, response=httpx2.Response(404, text="no", request=request)
    )
    env = bind(_app(effects, api), start=START)
    env.mock_task("classify", output="normal")
    env.mock_task("ticket", raises=[limited, missing])
    result = env.run("welcome", {"text": "x"})
    ticket = result.task("ticket")
    assert ticket.attempts == 2  # 429: retried after its Retry-After; 404: NonRetriable
    assert ticket.error is not None and ticket.error["type"] == "NonRetriable"
    # one hour of cool-off, then the 90 s the 429 asked for
    assert env.clock.now() == START.timestamp() + 3600 + 90


def test_a_nested_key_and_a_job_scope(bind: Bind, effects: Counter[str], api: Api) -> None:
    client = _app(effects, api)
    env = bind(client)
    env.mock_task("notify/post", output="mocked", job="notify")
    env.mock_task("classify", output="only in welcome", job=client.jobs["welcome"])
    assert env.run("notify", {}).output == "mocked"
    assert env.run("sync-job", {"text": "x"}).output == {"label": "normal"}  # not this job's
    assert effects == {"classify": 1}
    with pytest.raises(
        MockNotReached,
        match=r"mock_task\('classify', job='welcome'\) .* ran in job 'sync-job' only",
    ):
        env.verify()
    env.unmock("classify", job="welcome")
    assert [m.describe() for m in env.mocks] == ["mock_task('notify/post', job='notify')"]


def test_a_new_mock_for_a_key_replaces_the_old(bind: Bind, effects: Counter[str], api: Api) -> None:
    env = bind(_app(effects, api))
    env.mock_task("notify/post", output="first")
    env.mock_task("notify/post", output="second")
    assert env.run("notify", {}).output == "second"
    assert [m.output for m in env.mocks] == ["second"]


@pytest.mark.parametrize(
    ("key", "options", "error", "message"),
    [
        ("", {}, ValueError, "'' is not a task key"),
        ("a//b", {}, ValueError, "'notify/post' for task 'post' inside task 'notify'"),
        ("a", {"output": object()}, relaykit.SerializationError, "output of mock_task"),
        ("a", {"raises": "boom"}, TypeError, "takes an exception"),
        ("a", {"raises": relaykit.RetryAfter}, TypeError, "RetryAfter needs arguments"),
        ("a", {"job": "nope"}, UnknownJob, "no job 'nope'"),
    ],
)
def test_a_bad_mock_is_refused_when_made(
    relaykit_env: EnvFactory,
    effects: Counter[str],
    api: Api,
    key: str,
    options: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    env = relaykit_env(_app(effects, api))
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        env.mock_task(key, **options)
    assert env.mocks == []


# -- the network -------------------------------------------------------------------------------


def test_an_unmocked_integration_task_fails_in_one_line_without_a_request(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api))
    env.mock_task("classify", output="normal")
    result = env.run("welcome", {"text": "x"})
    assert result.status is RunStatus.FAILED
    ticket = result.task("ticket")
    assert (ticket.attempts, ticket.error and ticket.error["type"]) == (1, "UnmockedTask")
    assert ticket.error is not None
    message = ticket.error["message"]
    assert message == (
        "task 'ticket' (tracker.open_ticket) of job 'welcome' calls integration 'tracker', "
        "which relaykit_env keeps off the network: mock it with "
        "env.mock_task('ticket', output=...), or let it run with "
        "relaykit_env(client, allow_network=['tracker'])"
    )
    assert api.hits == {}


@pytest.mark.parametrize("allow", [True, ["tracker"], "tracker"])
def test_allow_network_lets_an_integration_call_its_api(
    bind: Bind, effects: Counter[str], api: Api, allow: Any
) -> None:
    env = bind(_app(effects, api), allow_network=allow)
    env.mock_task("classify", output="normal")
    result = env.run("welcome", {"text": "x"})
    assert result.output == {"label": "normal", "ticket": 9, "title": "from the API"}
    assert api.hits == {"/tickets": 1}
    assert not result.task("ticket").mocked


def test_unmocked_task_is_a_non_retriable_error() -> None:
    assert issubclass(UnmockedTask, NonRetriable)


# -- never reached ----------------------------------------------------------------------------


def test_verify_names_a_mock_no_task_reached_and_the_keys_that_ran(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api))
    env.mock_task("notify/pots", output="x")
    env.mock_task("pause", output="x")
    env.run("notify", {})
    env.run("sync-job", {"text": "x"})
    with pytest.raises(MockNotReached) as caught:
        env.verify()
    assert str(caught.value).splitlines() == [
        "relaykit_env: mock_task('notify/pots') was never reached: no task 'notify/pots' ran "
        "(nested tasks are 'parent/child'); the tasks that ran: 'classify', 'notify', "
        "'notify/post', 'pause'; check the key or remove the mock",
        "relaykit_env: mock_task('pause') was never reached: task 'pause' is a wait, which "
        "env.run skips and env.advance lets pass",
    ]
    assert isinstance(caught.value, AssertionError)
    env.unmock("notify/pots")
    env.unmock("pause")
    with pytest.raises(KeyError, match=r"env.unmock\('pause'\): no such mock; the mocks are: none"):
        env.unmock("pause")
    env.verify()


def test_verify_says_when_a_mock_came_after_its_task(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api))
    env.run("notify", {})
    env.mock_task("notify/post", output="late")
    with pytest.raises(MockNotReached, match="ran before the mock was made"):
        env.verify()
    env.unmock("notify/post")


# -- RunResult.task ---------------------------------------------------------------------------


def test_result_task_raises_a_key_error_naming_the_keys(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api))
    result = env.run("notify", {})
    with pytest.raises(KeyError) as caught:
        result.task("post")
    assert isinstance(caught.value, UnknownTask)
    assert str(caught.value) == (
        f"run {result.id} of job 'notify' has no task 'post'; its tasks are: "
        "'notify', 'notify/post'"
    )


# -- start, drive, send_event, advance, drain, result, runs ------------------------------------


def test_start_goes_as_far_as_it_can_without_moving_the_clock(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api), start=START)
    env.mock_task("classify", output="normal")
    env.mock_task("ticket", output={"id": 1, "title": "t"})
    run_id = env.start("welcome", {"text": "x"})
    waiting = env.result(run_id)
    assert waiting.status is RunStatus.WAITING
    assert waiting.task("cool-off").status is TaskStatus.WAITING
    assert env.clock.now() == START.timestamp()
    assert env.result(run_id) == waiting  # result runs nothing
    assert env.drive(run_id).ok


def test_advance_ends_waits_in_order_and_returns_what_ran(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api), start=START)
    env.mock_task("classify", output="normal")
    env.mock_task("ticket", output={"id": 1, "title": "t"})
    run_id = env.start("welcome", {"text": "x"})
    assert [r.id for r in env.advance(1800)] == []
    assert env.result(run_id).status is RunStatus.WAITING
    ran = env.advance(1800)
    assert [r.id for r in ran if r.job == "welcome"] == [run_id]
    assert ran[-1].ok if ran[-1].id == run_id else env.result(run_id).ok
    assert env.clock.now() == START.timestamp() + 3600


def test_advance_lets_an_event_wait_time_out(bind: Bind, effects: Counter[str], api: Api) -> None:
    env = bind(_app(effects, api))
    run_id = env.start("approval", {"id": 1, "timeout": 600})
    env.advance(599)
    assert env.result(run_id).status is RunStatus.WAITING
    env.advance(1)
    assert env.result(run_id).output == {"approved": False}


def test_a_cron_job_fires_once_per_slot_through_advance(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api), start=START)  # 08:00: first slot 09:00
    ran = env.advance(3 * 3600)
    assert [(r.job, r.output[11:16]) for r in ran] == [
        ("nightly", "09:00"),
        ("nightly", "10:00"),
        ("nightly", "11:00"),
    ]
    assert all(r.ok for r in ran)


def test_drain_fires_a_slot_due_on_the_clock_and_runs_queued_work(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    env = bind(client, start=START)
    assert env.drain() == []
    env.clock.advance(3600)  # the clock alone: nothing runs
    assert env.runs() == []
    queued = asyncio.run(client.enqueue("sync-job", {"text": "queued by the app"}))
    ran = {r.job: r for r in env.drain()}
    assert set(ran) == {"nightly", "sync-job"}
    assert ran["nightly"].output.startswith("2026-07-01T09:00:00")
    assert ran["sync-job"].id == queued
    assert ran["sync-job"].status is RunStatus.WAITING  # drain does not skip its 5 minutes
    assert env.clock.now() == START.timestamp() + 3600


def test_an_interval_job_fires_through_advance(relaykit_env: EnvFactory) -> None:
    client = Client("intervals")

    @client.define_job(id="tick", version="1.0.0", trigger=interval_trigger(seconds=600))
    async def tick(payload: Any, io: Any, ctx: Any) -> Any:
        return payload["ts"]

    env = relaykit_env(client, start=START)
    assert len(env.advance(3600)) == 6


def test_send_event_starts_the_runs_it_triggers_and_returns_the_event(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api))
    env.mock_task("classify", output="normal")
    env.mock_task("ticket", output={"id": 1, "title": "t"})
    sent = env.send_event("user.created", {"text": "x"}, id="evt-1")
    assert sent["id"] == "evt-1" and sent["duplicate"] is False
    [run_id] = sent["runs"]
    assert env.result(run_id).status is RunStatus.WAITING  # at its cool-off
    assert env.send_event("user.created", {"text": "x"}, id="evt-1")["duplicate"] is True
    assert env.drive(run_id).ok


def test_a_delayed_event_is_delivered_when_its_time_comes(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api))
    run_id = env.start("approval", {"id": 5})
    env.send_event("approved", {"id": 5}, deliver_after=120)
    assert env.result(run_id).status is RunStatus.WAITING
    env.advance(120)
    assert env.result(run_id).output == {"approved": {"id": 5}}


def test_runs_lists_every_run_oldest_first_and_by_job(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api))
    first = env.run("notify", {})
    second = env.run("sync-job", {"text": "x"})
    assert [r.id for r in env.runs()] == [first.id, second.id]
    assert [r.id for r in env.runs("sync-job")] == [second.id]


def test_an_unknown_run_id_is_a_clear_error(bind: Bind, effects: Counter[str], api: Api) -> None:
    env = bind(_app(effects, api))
    with pytest.raises(relaykit.UnknownRun, match="no run 'run_nope'"):
        env.result("run_nope")
    with pytest.raises(relaykit.UnknownRun, match="no run 'run_nope' in this env"):
        env.drive("run_nope")


def test_advance_refuses_a_negative_duration(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(Client("x"))
    with pytest.raises(ValueError, match="seconds must be >= 0, got -1"):
        env.advance(-1)


def test_work_that_never_runs_out_is_stopped_with_a_clear_error(
    relaykit_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_driver, "MAX_ATTEMPTS", 25)
    client = Client("busy")

    @client.define_job(id="often", version="1.0.0", trigger=interval_trigger(seconds=1))
    async def often(payload: Any, io: Any, ctx: Any) -> Any:
        return None

    env = relaykit_env(client)
    with pytest.raises(relaykit.RelaykitError, match=r"env\.advance\(\) executed 25 attempts"):
        env.advance(3600)


# -- code under test that uses the client itself ---------------------------------------------


def test_app_code_calling_the_client_reaches_the_env_store(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    env = bind(client)
    run_id = env.start("approval", {"id": 3})
    # what a web handler of the app would do, on a loop of its own
    client.send_event_sync("approved", {"id": 3})
    asyncio.run(client.close())  # closing the app's client leaves the env's store open
    assert env.drain()[0].id == run_id
    assert env.result(run_id).output == {"approved": {"id": 3}}
    assert client.run_sync("notify", {}).ok  # runs in this thread, on the env's store


def test_the_env_cannot_be_called_from_inside_a_run(relaykit_env: EnvFactory) -> None:
    client = Client("inside")
    holder: dict[str, RelaykitEnv] = {}

    @client.define_job(id="meddle", version="1.0.0")
    async def meddle(payload: Any, io: Any, ctx: Any) -> Any:
        holder["env"].result("run_x")

    holder["env"] = env = relaykit_env(client)
    result = env.run("meddle", {})
    assert result.error is not None
    assert "was called from inside a run of the env" in result.error["message"]


def test_a_closed_env_says_so(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(Client("closed"))
    env.close()
    env.close()  # twice: nothing
    with pytest.raises(RuntimeError, match="the env is closed"):
        env.runs()


# -- async tests ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_every_method_has_an_async_twin(bind: Bind, effects: Counter[str], api: Api) -> None:
    client = _app(effects, api)
    env = bind(client, start=START)
    env.mock_task("classify", output="normal")
    env.mock_task("ticket", output={"id": 1, "title": "t"})
    done = await env.run_async("welcome", {"text": "x"})
    assert done.ok
    run_id = await env.start_async("approval", {"id": 8})
    sent = await env.send_event_async("approved", {"id": 8})
    assert sent["runs"] == []
    assert (await env.result_async(run_id)).output == {"approved": {"id": 8}}
    started = await env.start_async("sync-job", {"text": "x"})
    assert (await env.drive_async(started)).ok
    # run_async skipped the cool-off hour to 09:00: send_event_async's drain fired that slot
    ran = await env.advance_async(3600)
    assert [r.output[11:16] for r in ran] == ["10:00"]
    assert await env.drain_async() == []
    runs = await env.runs_async()
    assert [r.job for r in runs] == ["welcome", "approval", "nightly", "sync-job", "nightly"]
    # code under test awaiting the client on the test's own loop reaches the env's store
    assert (await client.get_run(run_id)).ok
    # and the blocking methods work here too
    assert env.result(run_id).ok


@pytest.fixture
def anyio_backend() -> str:
    """The async tests run on asyncio (anyio's pytest plugin; pytest-asyncio works alike)."""
    return "asyncio"


# -- one path for mocks and real tasks ------------------------------------------------------


def test_a_plugin_wrapping_tasks_wraps_the_mocked_ones_too(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    seen: list[tuple[str, Any]] = []

    class Tracing:
        @relaykit.hookimpl(wrapper=True)
        def relaykit_wrap_task(self, task: relaykit.TaskCall) -> Any:
            inner = yield

            async def traced() -> Any:
                value = await inner
                seen.append((task.key, value))
                return value

            return traced()

    client = _app(effects, api)
    client.plugins.register(Tracing(), name="tracing")
    env = bind(client)
    env.mock_task("notify/post", output="mocked")
    assert env.run("notify", {}).output == "mocked"
    assert seen == [("notify/post", "mocked"), ("notify", "mocked")]


# -- PostgreSQL: a schema of its own ----------------------------------------------------------


def test_on_postgresql_the_env_uses_a_schema_of_its_own_and_drops_it(
    relaykit_env: EnvFactory, postgres_url: str, effects: Counter[str], api: Api
) -> None:
    from tests.pg import execute

    # a run already in the database: the env must neither see it nor touch it
    outside = Client("outside", database_url=postgres_url)
    outside.define_job(id="noop", version="1.0.0", run=lambda payload, io, ctx: None)
    assert outside.run_sync("noop", {}).ok
    client = _app(effects, api)
    env = relaykit_env(client, database_url=postgres_url)
    assert env.runs() == []
    assert env.run("notify", {}).ok
    schemas = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'relaykit_env_%'"
    [(schema,)] = execute(postgres_url, schemas)
    tables = "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename = 'runs'"
    assert execute(postgres_url, tables, (schema,)) == [("runs",)]
    env.close()
    assert execute(postgres_url, schemas) == []
    assert execute(postgres_url, "SELECT job_id FROM runs") == [("noop",)]


def test_an_unusable_postgresql_url_is_a_clear_error(
    relaykit_env: EnvFactory, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    url = "postgresql://nobody:secret@127.0.0.1:1/none"
    with pytest.raises(relaykit.errors.StoreError) as caught:
        relaykit_env(client, database_url=url)
    message = str(caught.value)
    assert "cannot create a schema for the test" in message and "secret" not in message
    assert client.clock is not None and client._store is None  # nothing was bound


def test_an_already_open_store_of_the_client_is_given_back_as_it_was(
    relaykit_env: EnvFactory, tmp_path: Any, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    client.use_database(f"sqlite:///{tmp_path / 'own.db'}")
    own = client.store
    asyncio.run(client.open())
    with relaykit_env(client) as env:
        env.run("notify", {})
    assert client.store is own
    assert asyncio.run(client.open()) is own  # still open: not opened again
    assert asyncio.run(own.list_runs()) == []  # the env's run went to its own store


def test_io_helpers_that_run_a_function_can_be_mocked_too(relaykit_env: EnvFactory) -> None:
    client = Client("helpers")

    @client.define_job(id="helpers", version="1.0.0")
    async def helpers(payload: Any, io: Any, ctx: Any) -> Any:
        roll = await io.random("roll", min=1, max=6, round=True)
        page = await io.background_fetch("page", "https://example.invalid/page")
        await io.send_event("tell", "rolled", {"roll": roll})
        return {"roll": roll, "page": page["body"]}

    env = relaykit_env(client)
    env.mock_task("roll", output=4)
    env.mock_task("page", output={"status": 200, "headers": {}, "body": "mocked page"})
    tell = env.mock_task("tell", output={"id": "evt_mocked"})
    result = env.run("helpers", {})
    assert result.output == {"roll": 4, "page": "mocked page"}
    assert all(t.mocked for t in result.tasks)
    assert tell.reached
    # the event is written with its task, whatever answers for the task's function
    [event] = asyncio.run(client.store.list_events())
    assert (event.name, event.payload) == ("rolled", '{"roll":4}')


def test_start_with_an_idempotency_key_returns_the_same_run(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    env = bind(_app(effects, api))
    first = env.start("approval", {"id": 1}, idempotency_key="once")
    assert env.start("approval", {"id": 2}, idempotency_key="once") == first
    assert len(env.runs()) == 1


def test_a_worker_the_app_runs_itself_works_on_the_env_store(
    bind: Bind, effects: Counter[str], api: Api
) -> None:
    client = _app(effects, api)
    env = bind(client)
    queued = asyncio.run(client.enqueue("notify", {}))
    asyncio.run(client.worker(exit_when_idle=True).run())  # the app's own loop and worker
    assert env.result(queued).output == "sent"
    assert effects["post"] == 1


def test_an_allowed_integration_without_credentials_hands_the_run_back(
    relaykit_env: EnvFactory,
) -> None:
    client = Client("no-credentials")

    @client.define_job(id="open", version="1.0.0", integrations={"tracker": Tracker(id="tracker")})
    async def open_ticket(payload: Any, io: Any, ctx: Any) -> Any:
        return await io.tracker.open_ticket("ticket", title="t")

    env = relaykit_env(client, allow_network=True)
    result = env.run("open", {})
    assert result.status is RunStatus.WAITING_FOR_CONNECTION
