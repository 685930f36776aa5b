"""The ``OpenAI`` integration in real runs: jobs driven by ``client.run`` on a SQLite file, the
real ``openai`` SDK over a real ``httpx2`` transport replaying generated cassettes.

A recording transport keeps every request that left the SDK, so "the replay did not ask
again" and "the Idempotency-Key was sent" are counted, not assumed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

import relaykit
import relaykit_openai
from relaykit import IO, Client, Context, Plugins, RunResult, RunStatus, TaskStatus
from relaykit.testing import ManualClock
from relaykit_openai import OpenAI
from tests.openai_replay import API_KEY

pytestmark = pytest.mark.vcr
CHAT: dict[str, Any] = {
    "model": "gpt-5.4",
    "messages": [
        {"role": "developer", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ],
}
STORY = {"model": "gpt-5.4", "input": "Tell me a three sentence bedtime story about a unicorn."}
USAGE = {
    "model": "gpt-5.4",
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "cached_tokens": 0,
    "reasoning_tokens": 0,
}


class Recording(httpx2.AsyncHTTPTransport):
    """The real transport (which vcrpy patches), keeping each request it is handed."""

    def __init__(self) -> None:
        super().__init__(retries=0)
        self.sent: list[httpx2.Request] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Keep ``request``, then send it."""
        self.sent.append(request)
        return await super().handle_async_request(request)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[Client]:
    c = Client("openai-tests", database_url=f"sqlite:///{tmp_path / 'rk.db'}", clock=clock)
    yield c
    asyncio.run(c.close())


@pytest.fixture
def transport() -> Recording:
    return Recording()


def run(client: Client, job: str) -> RunResult:
    return asyncio.run(client.run(job))


def task(result: RunResult, key: str) -> Any:
    return next(t for t in result.tasks if t.key == key)


def test_chat_completion_is_memoized_across_a_replay(
    cassette: Any, client: Client, transport: Recording, tmp_path: Path
) -> None:
    openai = OpenAI(api_key=API_KEY, transport=transport)

    @client.define_job(id="greet", version="1.0.0", integrations={"openai": openai})
    async def greet(payload: Any, io: IO, ctx: Context) -> str:
        completion = await io.openai.create_chat_completion("hello", **CHAT)
        await io.wait("pause", minutes=5)  # the run suspends here and is replayed after it
        return str(completion["choices"][0]["message"]["content"])

    result = run(client, "greet")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output.startswith("Hello! How can I")
    # One request over both executions of the run function: the replay read the stored output.
    assert [r.url.path for r in transport.sent] == ["/v1/chat/completions"]
    assert transport.sent[0].headers["idempotency-key"] == f"{result.id}:hello"
    hello = task(result, "hello")
    assert (hello.name, hello.status) == ("Chat completion", TaskStatus.COMPLETED)
    assert hello.params == CHAT
    assert hello.properties["integration"] == "openai"
    # The key was sent (as a bearer token) but is stored nowhere.
    assert transport.sent[0].headers["authorization"] == f"Bearer {API_KEY}"
    asyncio.run(client.close())
    assert API_KEY not in repr(result)
    assert API_KEY not in json.dumps(result.output)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("rk.db"))
    assert b"Hello! How can I" in stored  # the output is in these bytes...
    assert API_KEY.encode() not in stored  # ...and the key is not


def test_token_usage_is_shown_as_task_properties(
    cassette: Any, client: Client, transport: Recording
) -> None:
    openai = OpenAI(api_key=API_KEY, transport=transport)

    @client.define_job(id="usage", version="1.0.0", integrations={"openai": openai})
    async def usage(payload: Any, io: IO, ctx: Context) -> None:
        await io.openai.create_chat_completion("hello", **CHAT)

    result = run(client, "usage")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert task(result, "hello").properties == {"integration": "openai", **USAGE}


def test_rate_limit_is_retried_after_the_reset(
    cassette: Any, client: Client, transport: Recording, clock: ManualClock
) -> None:
    openai = OpenAI(api_key=API_KEY, transport=transport)

    @client.define_job(id="limited", version="1.0.0", integrations={"openai": openai})
    def limited(payload: Any, io: Any, ctx: Context) -> str:  # a sync job: the sync io
        completion = io.openai.create_chat_completion("hello", **CHAT)
        return str(completion["id"])

    result = run(client, "limited")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    # x-ratelimit-reset-requests: 6m0s (the exhausted limit), not the tokens' 15ms.
    assert clock.slept == 360.0
    assert len(transport.sent) == 2
    # Both attempts carried the same key: OpenAI sees one logical request.
    assert {r.headers["idempotency-key"] for r in transport.sent} == {f"{result.id}:hello"}
    hello = task(result, "hello")
    assert (hello.attempts, hello.status) == (2, TaskStatus.COMPLETED)


def test_insufficient_quota_fails_without_a_retry(
    cassette: Any, client: Client, transport: Recording
) -> None:
    openai = OpenAI(api_key=API_KEY, transport=transport)

    @client.define_job(id="broke", version="1.0.0", integrations={"openai": openai})
    async def broke(payload: Any, io: IO, ctx: Context) -> str:
        try:
            await io.openai.create_chat_completion("hello", **CHAT)
        except relaykit.TaskFailed as exc:
            return f"caught: {exc}"
        return "not reached"

    result = run(client, "broke")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output.startswith("caught: ")
    assert "insufficient_quota" in result.output
    assert len(transport.sent) == 1
    hello = task(result, "hello")
    assert (hello.attempts, hello.status) == (1, TaskStatus.ERRORED)
    assert hello.error is not None and "add credit" in hello.error["message"]


def test_background_response_is_a_durable_wait(
    cassette: Any, client: Client, transport: Recording, clock: ManualClock
) -> None:
    openai = OpenAI(api_key=API_KEY, transport=transport)

    @client.define_job(id="story", version="1.0.0", integrations={"openai": openai})
    async def story(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        created = await io.openai.create_response("start", **STORY, background=True)
        done = await io.openai.wait_for_response("done", response_id=created["id"], poll_every=30)
        return {"created": created["status"], "done": done["status"]}

    result = run(client, "story")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == {"created": "queued", "done": "completed"}
    assert [r.method for r in transport.sent] == ["POST", "GET", "GET"]
    # The first poll found it in progress: the run slept 30 s durably, then polled again.
    assert clock.slept == 30.0
    done = task(result, "done")
    assert (done.name, done.attempts, done.status) == ("Wait for response", 2, TaskStatus.COMPLETED)
    assert done.params == {
        "response_id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
        "poll_every": 30,
    }
    # Polls are reads: only the create carried an Idempotency-Key.
    assert [r.headers.get("idempotency-key") for r in transport.sent] == [
        f"{result.id}:start",
        None,
        None,
    ]


def test_a_wait_gives_up_after_max_polls(
    cassette: Any, client: Client, transport: Recording, clock: ManualClock
) -> None:
    # The file stays "uploaded" for both polls, so the second poll ends the wait.
    openai = OpenAI(api_key=API_KEY, transport=transport)

    @client.define_job(id="slow", version="1.0.0", integrations={"openai": openai})
    async def slow(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.openai.wait_for_file(
            "processed", file_id="file-abc123", poll_every=5, max_polls=2
        )

    result = run(client, "slow")
    assert result.status is RunStatus.FAILED
    processed = task(result, "processed")
    assert (processed.attempts, processed.status) == (2, TaskStatus.ERRORED)
    assert processed.error is not None
    assert "had not finished after 2 polls 5s apart" in processed.error["message"]
    assert clock.slept == 5.0
    assert len(transport.sent) == 2


def test_run_batch(cassette: Any, client: Client, transport: Recording, clock: ManualClock) -> None:
    openai = OpenAI(api_key=API_KEY, transport=transport)
    request = {
        "custom_id": "request-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-5.4", "messages": [{"role": "user", "content": "Hello!"}]},
    }

    @client.define_job(id="nightly", version="1.0.0", integrations={"openai": openai})
    async def nightly(payload: Any, io: IO, ctx: Context) -> list[Any]:
        lines = await io.use(openai).run_batch(
            "nightly", requests=[request], endpoint="/v1/chat/completions", poll_every=600
        )
        return [line["custom_id"] for line in lines]

    result = run(client, "nightly")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["request-1", "request-2"]
    assert {t.key: t.name for t in result.tasks} == {
        "nightly.upload": "Upload file",
        "nightly.processed": "Wait for file",
        "nightly.batch": "Create batch",
        "nightly.done": "Wait for batch",
        "nightly.results": "Batch results",
    }
    # The file's poll used its default (5 s), the batch's the 600 s asked for.
    assert clock.slept == 5.0 + 600.0
    assert [r.method for r in transport.sent] == ["POST", "GET", "GET", "POST", "GET", "GET", "GET"]


def test_the_plugin_registers_the_integration() -> None:
    plugins = Plugins(entry_points=False)
    plugins.register(relaykit_openai, name="openai")
    assert plugins.integration("openai") is OpenAI
    [info] = plugins.list()
    assert info.integrations == ("openai",)


def test_the_key_is_read_from_the_environment_when_a_task_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    openai = OpenAI()
    assert openai.id == "openai"
    credentials = asyncio.run(openai.credentials())
    assert credentials.access_token == API_KEY
    monkeypatch.setenv("MY_OPENAI_KEY", "sk-other")
    assert asyncio.run(OpenAI(token_env="MY_OPENAI_KEY").credentials()).access_token == "sk-other"
