"""Signed webhook deliveries that try something, posted to the real route
(``POST /webhooks/{integration}/{source}``) of a real app, on SQLite and PostgreSQL:

- a correctly signed body nested thousands of levels deep (GitHub and Slack) is a JSON 400
  that stores nothing, never a 500 or a ``RecursionError``;
- a GitHub delivery re-sent with a new ``X-GitHub-Delivery`` id but the same signed body —
  GitHub signs the body only, so the id (and ``X-GitHub-Event``) can be changed by whoever
  captured it — is a replay within ``REPLAY_WINDOW_SECONDS``: 200 with ``"duplicate": true``,
  no second event and no second run. GitHub's own redelivery (the same id) stays a duplicate
  by id, and the same body on another webhook source is that source's own event;
- Slack needs no second key: it signs ``v0:<timestamp>:<body>`` and refuses a timestamp over
  five minutes old, so a replay under a new timestamp fails its signature, and one under the
  old timestamp carries the same signed ``event_id``, a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from cryptography.fernet import Fernet

import relaykit
from relaykit import Client, Context
from relaykit.integrations.webhooks import REPLAY_WINDOW_SECONDS
from relaykit.testing import ManualClock
from relaykit_github import WEBHOOK_SECRET, GitHub
from relaykit_github import sign as github_sign
from relaykit_slack import Slack
from relaykit_slack import sign as slack_sign

SECRET = "0123456789abcdef" * 4
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
REPO = "octocat/Hello-World"
ISSUE = {
    "action": "opened",
    "issue": {"number": 7, "title": "Refund twice?"},
    "repository": {"full_name": "octocat/Hello-World", "name": "Hello-World"},
    "sender": {"login": "octocat"},
}


@dataclass
class Hooks:
    client: Client
    clock: ManualClock
    http: httpx2.AsyncClient

    async def github(
        self, body: bytes, delivery: str, *, event: str = "issues", source: str = REPO
    ) -> httpx2.Response:
        headers = {
            "content-type": "application/json",
            "x-github-event": event,
            "x-github-delivery": delivery,
            "x-hub-signature-256": github_sign(body, SECRET),
        }
        return await self.http.post(f"/webhooks/github/{source}", content=body, headers=headers)

    async def slack(self, body: bytes, *, at: int, signed_at: int | None = None) -> httpx2.Response:
        headers = {
            "content-type": "application/json",
            "x-slack-request-timestamp": str(at),
            "x-slack-signature": slack_sign(SLACK_SECRET, signed_at or at, body),
        }
        return await self.http.post("/webhooks/slack/events", content=body, headers=headers)

    async def event_ids(self) -> list[str]:
        return sorted(e.id for e in await self.client.store.list_events(limit=1000))


@asynccontextmanager
async def hooks(url: str) -> AsyncIterator[Hooks]:
    clock = ManualClock(time.time())  # Slack checks timestamps against the client's clock
    client = Client(id="hooks", database_url=url, clock=clock)
    github = GitHub(token="unused")
    slack = Slack(signing_secret=SLACK_SECRET)

    @client.define_job(
        id="refund",
        version="1.0.0",
        trigger=github.triggers.repo(event="issues.opened", owner="octocat", repo="Hello-World"),
        integrations={"github": github, "slack": slack},
    )
    async def refund(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return payload["issue"]["number"]

    await client.open()
    for source in (REPO, "octocat"):
        await client.webhook_secrets("github", source).set(WEBHOOK_SECRET, SECRET)
    transport = httpx2.ASGITransport(app=client.asgi_app())
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Hooks(client, clock, http)
    finally:
        await client.close()


def run(url: str, scenario: Callable[[Hooks], Awaitable[None]]) -> None:
    async def go() -> None:
        async with hooks(url) as h:
            await scenario(h)

    asyncio.run(go())


@pytest.fixture
def url(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RELAYKIT_SECRET_KEY", Fernet.generate_key().decode())
    return db_url


def _bad_request(response: httpx2.Response) -> str:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    message: str = response.json()["error"]["message"]
    return message


@pytest.mark.parametrize(
    "deep",
    [
        b'{"action": "opened", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
    ],
    ids=["array", "object"],
)
def test_a_signed_deeply_nested_delivery_is_a_400_that_stores_nothing(
    url: str, deep: bytes
) -> None:
    async def scenario(h: Hooks) -> None:
        assert "more than 200 levels deep" in _bad_request(await h.github(deep, "deep-1"))
        now = int(h.clock.now())
        assert "more than 200 levels deep" in _bad_request(await h.slack(deep, at=now))
        assert await h.event_ids() == []
        assert await h.client.store.list_runs() == []

    run(url, scenario)


def test_the_same_signed_body_under_a_new_delivery_id_is_a_replay(url: str) -> None:
    body = json.dumps(ISSUE).encode()

    async def scenario(h: Hooks) -> None:
        first = await h.github(body, "delivery-1")
        assert (first.status_code, first.json()) == (200, {"ok": True})
        # Replayed by someone who captured it: a new id, even another event name.
        for delivery, event in (("forged-2", "issues"), ("forged-3", "issue_comment")):
            r = await h.github(body, delivery, event=event)
            assert (r.status_code, r.json()) == (200, {"ok": True, "duplicate": True}), r.text
        # GitHub's own redelivery keeps the id: a duplicate by id, as before.
        again = await h.github(body, "delivery-1")
        assert again.json() == {"ok": True, "duplicate": True}
        assert await h.event_ids() == ["github:delivery-1"]
        assert len(await h.client.store.list_runs(job_id="refund")) == 1
        # The same body delivered by another webhook (the organization's) is its own event.
        org = await h.github(body, "org-1", source="octocat")
        assert org.json() == {"ok": True}
        # Past the window, the body is no longer remembered (the documented trade-off).
        h.clock.advance(REPLAY_WINDOW_SECONDS + 1)
        late = await h.github(body, "delivery-9")
        assert late.json() == {"ok": True}
        assert await h.event_ids() == ["github:delivery-1", "github:delivery-9", "github:org-1"]

    run(url, scenario)


def test_replays_racing_each_other_store_one_event(url: str) -> None:
    body = json.dumps({**ISSUE, "issue": {"number": 8, "title": "race"}}).encode()

    async def scenario(h: Hooks) -> None:
        answers = await asyncio.gather(*(h.github(body, f"race-{i}") for i in range(6)))
        assert [r.status_code for r in answers] == [200] * 6
        duplicates = [r.json().get("duplicate", False) for r in answers]
        assert duplicates.count(False) == 1, duplicates
        assert len(await h.event_ids()) == 1
        assert len(await h.client.store.list_runs(job_id="refund")) == 1

    run(url, scenario)


def test_slack_signs_its_timestamp_so_a_replay_needs_the_secret(url: str) -> None:
    envelope = {
        "type": "event_callback",
        "team_id": "T1",
        "api_app_id": "A1",
        "event_id": "Ev1",
        "event_time": 1,
        "event": {"type": "app_mention", "text": "hi", "channel": "C1"},
    }
    body = json.dumps(envelope).encode()

    async def scenario(h: Hooks) -> None:
        sent_at = int(h.clock.now())
        assert (await h.slack(body, at=sent_at)).status_code == 200
        # The captured request as it was, within five minutes: the signed event_id dedupes it.
        assert (await h.slack(body, at=sent_at)).status_code == 200
        # A fresh timestamp with the captured signature: refused (signing it needs the secret).
        h.clock.advance(400)
        fresh = await h.slack(body, at=int(h.clock.now()), signed_at=sent_at)
        assert fresh.status_code == 401
        stale = await h.slack(body, at=sent_at)  # the old timestamp is now too old
        assert stale.status_code == 401
        assert await h.event_ids() == ["slack:Ev1"]

    run(url, scenario)
