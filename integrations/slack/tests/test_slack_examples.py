"""``Slack.example_delivery``: the ``event_callback`` samples ``relaykit webhooks send``
posts. Each is a well-formed Events API request, signed as Slack signs them at the time of
sending, accepted by ``Slack.handle_webhook`` with that secret and refused with another."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from relaykit import WebhookRejected, WebhookRequest, WebhookResponse
from relaykit_slack import Slack
from relaykit_slack._payloads import EventEnvelope

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_796_000_000.0
SLACK = Slack(token="unused", signing_secret_env=None)


@dataclass
class Secrets:
    values: dict[str, str] = field(default_factory=dict)

    async def get(self, name: str) -> str | None:
        return self.values.get(name)

    async def set(self, name: str, value: str) -> None:
        self.values[name] = value


def _handle(headers: Any, body: bytes, secret: str, at: float = NOW) -> WebhookResponse:
    request = WebhookRequest("slack", "events", dict(headers), body, at)
    return asyncio.run(SLACK.handle_webhook(request, Secrets({"signing_secret": secret})))


@pytest.mark.parametrize("name", SLACK.webhook_examples())
def test_each_sample_is_accepted_and_becomes_its_event(name: str) -> None:
    example = SLACK.example_delivery(name, SECRET, source_id="events", now=NOW)
    assert example is not None
    EventEnvelope.model_validate_json(example.body)

    (event,) = _handle(example.headers, example.body, SECRET).events

    assert event.name == example.event == f"slack.{name}"
    assert event.id == example.event_id
    assert event.payload == example.payload
    assert "token" not in event.payload and json.loads(example.body)["token"]
    assert event.payload["event"]["event_ts"].startswith(str(int(NOW)))


def test_a_sample_signed_with_another_secret_or_too_long_ago_is_refused() -> None:
    example = SLACK.example_delivery("app_mention", "not-it", source_id="events", now=NOW)
    assert example is not None
    with pytest.raises(WebhookRejected) as wrong:
        _handle(example.headers, example.body, SECRET)
    assert wrong.value.status == 401
    stale = SLACK.example_delivery("app_mention", SECRET, source_id="events", now=NOW - 600)
    assert stale is not None
    with pytest.raises(WebhookRejected) as old:
        _handle(stale.headers, stale.body, SECRET)
    assert old.value.status == 401


def test_each_request_is_a_new_event_and_unknown_names_are_none() -> None:
    first = SLACK.example_delivery("message", SECRET, source_id="events", now=NOW)
    again = SLACK.example_delivery("message", SECRET, source_id="events", now=NOW)
    assert first is not None and again is not None
    assert first.event_id != again.event_id
    assert SLACK.example_delivery("nope", SECRET, source_id="events", now=NOW) is None


def test_the_secret_given_to_the_integration_is_the_one_samples_are_signed_with() -> None:
    given = Slack(token="unused", signing_secret="from-arg", signing_secret_env=None)
    stored = Secrets({"signing_secret": "stored"})
    assert asyncio.run(given.webhook_secret(stored)) == "from-arg"
    assert asyncio.run(SLACK.webhook_secret(stored)) == "stored"
