"""The ``GitHub`` integration in real runs: jobs driven with ``client.run`` on a real SQLite
file, their API calls replayed from cassettes through real httpx2, and ``register_webhooks``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Generator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.fernet import Fernet
from tests.vcr_scrub import recording_config

import relaykit
from relaykit import Client, Context, RunResult, TaskCall
from relaykit.testing import ManualClock
from relaykit_github import WEBHOOK_SECRET, GitHub, sign
from tests.github_examples import deliveries
from tests.github_replay import TOKEN

pytestmark = pytest.mark.vcr
REPO = {"owner": "octocat", "repo": "Hello-World"}
NEW_ISSUE = {"title": "Found a bug", "body": "I'm having a problem with this.", "labels": ["bug"]}


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    """The shared replay-only options; requests to the in-process app are not GitHub's."""
    return recording_config() | {"ignore_hosts": ["testserver"]}


def make_client(tmp_path: Path, clock: ManualClock | None = None) -> Client:
    """A client on a SQLite file whose jobs use ``io.github`` with a literal token."""
    client = Client(id="gh", database_url=f"sqlite:///{tmp_path / 'relaykit.db'}", clock=clock)
    github = GitHub(token=TOKEN)

    @client.define_job(id="file-bug", version="1.0.0", integrations={"github": github})
    async def file_bug(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        issue = await io.github.create_issue("create", **REPO, **NEW_ISSUE)
        # A durable wait suspends the run: the replay after it must not call GitHub again.
        await io.wait("settle", seconds=60)
        return {"number": issue["number"], "url": issue["html_url"]}

    @client.define_job(id="missing", version="1.0.0", integrations={"github": github})
    async def missing(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return await io.github.get_issue("get", **REPO, issue_number=9999)

    @client.define_job(id="thank", version="1.0.0", integrations={"github": github})
    async def thank(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return await io.github.create_issue_comment_with_reaction(
            "thank", **REPO, issue_number=1347, body="Me too", reaction="rocket"
        )

    return client


def run_job(client: Client, job: str) -> RunResult:
    async def go() -> RunResult:
        async with client:
            return await client.run(job, {})

    return asyncio.run(go())


def test_a_job_creates_an_issue_once_and_replays_it_without_a_request(
    cassette: Any, tmp_path: Path
) -> None:
    clock = ManualClock()
    result = run_job(make_client(tmp_path, clock), "file-bug")
    assert result.status == "succeeded", result.error
    assert result.output == {
        "number": 1347,
        "url": "https://github.com/octocat/Hello-World/issues/1347",
    }
    assert clock.slept >= 60  # the run was suspended and replayed
    assert cassette.play_count == 1  # the replay used the recorded output
    (create,) = [t for t in result.tasks if t.key == "create"]
    assert (create.name, create.attempts) == ("github.create_issue", 1)
    # The token is nowhere: not in the run's params, outputs or logs, nor in the database.
    assert TOKEN not in repr(result)
    assert TOKEN.encode() not in (tmp_path / "relaykit.db").read_bytes()


def test_a_rate_limited_task_is_retried_after_the_reset(cassette: Any, tmp_path: Path) -> None:
    # GitHub's x-ratelimit-reset is 1700000000: the run's clock starts 100 s before it.
    clock = ManualClock(start=1_700_000_000 - 100)
    result = run_job(make_client(tmp_path, clock), "file-bug")
    assert result.status == "succeeded", result.error
    (create,) = [t for t in result.tasks if t.key == "create"]
    assert create.attempts == 2
    assert cassette.play_count == 2
    # The retry waited until the reset (plus GitHub's one-second margin), not a backoff.
    assert clock.slept >= 101


def test_not_found_fails_the_task_without_a_retry(cassette: Any, tmp_path: Path) -> None:
    result = run_job(make_client(tmp_path), "missing")
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["type"] == "TaskFailed"
    assert "404" in result.error["message"]
    (get,) = result.tasks
    assert (get.status, get.attempts) == ("errored", 1)


def test_a_comment_and_its_reaction_are_two_nested_tasks(cassette: Any, tmp_path: Path) -> None:
    result = run_job(make_client(tmp_path), "thank")
    assert result.status == "succeeded", result.error
    tree = sorted((t.key, t.name, t.attempts) for t in result.tasks)
    assert tree == [
        ("thank", "github.create_issue_comment_with_reaction", 1),
        ("thank/comment", "github.create_issue_comment", 1),
        ("thank/reaction", "github.add_issue_comment_reaction", 1),
    ]
    assert result.output["reaction"]["content"] == "heart"  # GitHub's published example


class LoseFirstReactionAnswer:
    """A plugin: the first reaction attempt's answer is lost after GitHub got the request."""

    @relaykit.hookimpl(wrapper=True)
    def relaykit_wrap_task(self, task: TaskCall) -> Generator[None, Any, Awaitable[Any]]:
        inner = yield

        async def lose() -> Any:
            value = await inner
            if task.key == "thank/reaction" and task.attempt == 1:
                raise ConnectionError("the connection was reset before the answer arrived")
            return value

        return lose()


def test_a_retried_reaction_does_not_post_the_comment_again(cassette: Any, tmp_path: Path) -> None:
    client = make_client(tmp_path, ManualClock())
    client.plugins.register(LoseFirstReactionAnswer())
    result = run_job(client, "thank")
    assert result.status == "succeeded", result.error
    attempts = {t.key: t.attempts for t in result.tasks}
    # The parent was paused while its child waited for the retry, not failed.
    assert attempts == {"thank": 1, "thank/comment": 1, "thank/reaction": 2}
    posted = [r.path for r in cassette.requests]
    assert posted.count("/repos/octocat/Hello-World/issues/1347/comments") == 1
    assert cassette.play_count == 3


async def _deliver_a_push(client: Client, source: str, secret: str) -> None:
    """A push signed with the registered secret is accepted by the webhook route."""
    event, payload = deliveries("push")[0]
    body = json.dumps(payload).encode()
    headers = {
        "x-github-event": event,
        "x-github-delivery": "after-register",
        "x-hub-signature-256": sign(body, secret),
    }
    transport = httpx2.ASGITransport(app=client.asgi_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        r = await http.post(f"/webhooks/github/{source}", content=body, headers=headers)
    assert r.status_code == 200, r.text
    stored = await client.store.get_event("github:after-register")
    assert stored is not None and stored.name == "github.push"


def _register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **where: str
) -> tuple[dict[str, Any], str]:
    monkeypatch.setenv("RELAYKIT_SECRET_KEY", Fernet.generate_key().decode())
    client = make_client(tmp_path)
    github = GitHub(token=TOKEN)

    async def go() -> tuple[dict[str, Any], str]:
        async with client:
            hook = await github.register_webhooks(
                "https://relay.example.com/",
                client=client,
                owner=where.get("owner"),
                repo=where.get("repo"),
                org=where.get("org"),
            )
            source = where.get("org") or f"{where['owner']}/{where['repo']}"
            secret = await client.webhook_secrets("github", source).get(WEBHOOK_SECRET)
            assert secret is not None
            await _deliver_a_push(client, source, secret)
            return hook, secret

    hook, secret = asyncio.run(go())
    assert len(secret) == 64
    assert secret.encode() not in (tmp_path / "relaykit.db").read_bytes()
    return hook, secret


def test_register_webhooks_creates_a_hook_when_none_points_here(
    cassette: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, _ = _register(tmp_path, monkeypatch, **REPO)
    assert hook["id"] == 12345678
    assert [r.method for r in cassette.requests] == ["GET", "POST"]


def test_register_webhooks_updates_the_hook_that_points_here(
    cassette: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(tmp_path, monkeypatch, **REPO)
    assert [r.method for r in cassette.requests] == ["GET", "PATCH"]
    assert cassette.requests[1].path.endswith("/hooks/12345678")


def test_register_webhooks_on_an_organization(
    cassette: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, _ = _register(tmp_path, monkeypatch, org="octo-org")
    assert hook["type"] == "Organization"
    assert [r.method for r in cassette.requests] == ["GET", "POST"]
