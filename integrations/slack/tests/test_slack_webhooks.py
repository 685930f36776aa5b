"""``Slack.handle_webhook`` on signed, unsigned, expired and malformed Events API deliveries,
and ``slack.triggers.events`` starting runs from the events it returns (a real ``Client``).

``Secrets`` is an in-memory ``WebhookSecrets`` (the store-backed one is exercised through the
real route by the core's webhook tests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from relaykit import Client, InvalidJobDefinition, RelaykitError, WebhookRejected, WebhookRequest
from relaykit_slack import Slack, sign

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_531_420_618.0


@dataclass
class Secrets:
    """An in-memory ``WebhookSecrets`` of one source."""

    values: dict[str, str] = field(default_factory=dict)

    async def get(self, name: str) -> str | None:
        return self.values.get(name)

    async def set(self, name: str, value: str) -> None:
        self.values[name] = value


def delivery(
    body: dict[str, Any] | bytes, *, secret: str = SECRET, at: float = NOW
) -> WebhookRequest:
    """A request as Slack sends it: the raw body, signed at ``at``."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "content-type": "application/json",
        "x-slack-request-timestamp": str(int(at)),
        "x-slack-signature": sign(secret, int(at), raw),
    }
    return WebhookRequest(
        integration_id="slack", source_id="events", headers=headers, body=raw, received_at=NOW
    )


MENTION = {
    "token": "XXYYZZ",
    "team_id": "T1H9RESGL",
    "api_app_id": "A2H9RFS1A",
    "event": {
        "type": "app_mention",
        "user": "U061F7AUR",
        "text": "<@U0LAN0Z89> is it everything a river should be?",
        "ts": "1515449522.000016",
        "channel": "C0LAN2Q65",
        "event_ts": "1515449522000016",
    },
    "type": "event_callback",
    "event_id": "Ev0LAN670R",
    "event_time": 1515449522,
    "authed_users": ["U0LAN0Z89"],
}


def handle(slack: Slack, request: WebhookRequest, secrets: Secrets | None = None) -> Any:
    return asyncio.run(slack.handle_webhook(request, secrets or Secrets()))


def rejected(slack: Slack, request: WebhookRequest, secrets: Secrets | None = None) -> Any:
    with pytest.raises(RelaykitError) as caught:
        handle(slack, request, secrets)
    assert isinstance(caught.value, WebhookRejected)
    return caught.value


def test_a_signed_event_becomes_one_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    response = handle(Slack(), delivery(MENTION))
    assert (response.status, response.body) == (200, None)
    [event] = response.events
    assert (event.id, event.name, event.source) == (
        "slack:Ev0LAN670R",
        "slack.app_mention",
        "slack",
    )
    assert event.payload["event"]["channel"] == "C0LAN2Q65"
    assert "token" not in event.payload  # the envelope's verification token is not stored


def test_url_verification_answers_the_challenge() -> None:
    challenge = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aB",
        "type": "url_verification",
    }
    response = handle(Slack(signing_secret=SECRET), delivery(challenge))
    assert (response.status, response.body, tuple(response.events)) == (
        200,
        {"challenge": "3eZbrw1aB"},
        (),
    )


def test_the_secret_may_come_from_the_sources_stored_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    response = handle(Slack(), delivery(MENTION), Secrets({"signing_secret": SECRET}))
    assert [e.id for e in response.events] == ["slack:Ev0LAN670R"]


def test_an_unsigned_delivery_is_rejected_with_401() -> None:
    request = delivery(MENTION)
    unsigned = dataclasses.replace(
        request,
        headers={k: v for k, v in request.headers.items() if k != "x-slack-signature"},
    )
    error = rejected(Slack(signing_secret=SECRET), unsigned)
    assert error.status == 401
    assert "no X-Slack-Signature header" in str(error)


def test_a_delivery_signed_with_another_secret_is_rejected_with_401() -> None:
    error = rejected(Slack(signing_secret=SECRET), delivery(MENTION, secret="not-the-secret"))
    assert error.status == 401
    assert "does not match the body" in str(error)


def test_an_expired_delivery_is_rejected_with_401() -> None:
    # Signed correctly, but six minutes before the request is received: a replay.
    error = rejected(Slack(signing_secret=SECRET), delivery(MENTION, at=NOW - 360))
    assert error.status == 401
    assert "360s old" in str(error)


def test_a_signed_but_malformed_delivery_is_rejected_with_400() -> None:
    error = rejected(Slack(signing_secret=SECRET), delivery(b"not json"))
    assert error.status == 400
    event_without_id = {k: v for k, v in MENTION.items() if k != "event_id"}
    assert rejected(Slack(signing_secret=SECRET), delivery(event_without_id)).status == 400


def test_without_a_signing_secret_every_delivery_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    error = rejected(Slack(), delivery(MENTION))
    assert error.status == 401
    assert "has no Slack signing secret" in str(error)
    assert SECRET not in str(error)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    c = Client("slack-webhooks", database_url=f"sqlite:///{tmp_path / 'relaykit.db'}")
    yield c
    asyncio.run(c.close())


def test_the_trigger_starts_runs_from_the_events_once(client: Client) -> None:
    slack = Slack(signing_secret=SECRET)
    options: dict[str, Any] = {"version": "1.0.0", "integrations": {"slack": slack}}

    def noop(payload: Any, io: Any, ctx: Any) -> None:
        return None

    client.define_job(
        id="on-mention", trigger=slack.triggers.events("app_mention"), run=noop, **options
    )
    client.define_job(
        id="elsewhere",
        trigger=slack.triggers.events(["app_mention"], filter={"event": {"channel": ["C999"]}}),
        run=noop,
        **options,
    )
    client.define_job(
        id="on-reaction", trigger=slack.triggers.events("reaction_added"), run=noop, **options
    )

    async def deliver() -> list[dict[str, Any]]:
        sent = []
        for _ in range(2):  # Slack retries a delivery it thinks failed: same event_id
            response = await slack.handle_webhook(delivery(MENTION), Secrets())
            for e in response.events:
                sent.append(await client.send_event(e.name, e.payload, id=e.id, source=e.source))
        return sent

    first, retry = asyncio.run(deliver())
    assert first["id"] == "slack:Ev0LAN670R" and not first["duplicate"]
    assert len(first["runs"]) == 1  # on-mention only: the filter and the type keep out the others
    runs = [asyncio.run(client.get_run(r)) for r in first["runs"]]
    assert [r.job for r in runs] == ["on-mention"]
    assert retry["duplicate"] and retry["runs"] == []


def test_trigger_names_are_prefixed_once() -> None:
    trigger = Slack().triggers.events(["app_mention", "slack.message.bot_message"])
    assert trigger.names == ("slack.app_mention", "slack.message.bot_message")
    assert trigger.source == "slack"


def test_a_bad_trigger_filter_names_the_slack_trigger() -> None:
    with pytest.raises(InvalidJobDefinition) as caught:
        Slack().triggers.events("app_mention", filter={"event": {"channel": "C0123"}})
    assert caught.value.message.startswith(
        "slack.triggers.events('app_mention'): filter.event.channel: a value to match must be "
        "in a list"
    )
    kept = Slack().triggers.events("app_mention", filter={"event": {"channel": ["C0123"]}})
    assert kept.filter == {"event": {"channel": ["C0123"]}}
