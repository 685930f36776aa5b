"""Events API requests: signatures and their time window, url_verification, event names, and
the envelopes Slack's own Events API description publishes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from relaykit_slack import (
    AppMentionEvent,
    AppRateLimited,
    EventCallback,
    EventRejected,
    MessageEvent,
    ReactionAddedEvent,
    SlackEvent,
    UrlVerification,
    event_name,
    parse_event,
    parse_request,
    sign,
    verify_signature,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_531_420_618
ENVELOPE = json.loads((Path(__file__).parent / "data" / "slack-events-envelope.json").read_text())


def test_signature_matches_slacks_documented_example() -> None:
    # The worked example in Slack's "Verifying requests from Slack" guide (a slash command).
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign(SECRET, NOW, body) == expected
    verify_signature(SECRET, body=body, timestamp=str(NOW), signature=expected, now=NOW)


def envelope(event: dict[str, Any], event_id: str = "Ev0PV52K25") -> dict[str, Any]:
    return {
        "token": "XXYYZZ",
        "team_id": "T1H9RESGL",
        "api_app_id": "A2H9RFS1A",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": NOW,
        "authed_users": ["U061F7AUR"],
    }


def signed(body: bytes, timestamp: int = NOW, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }


MESSAGE = {
    "type": "message",
    "channel": "C2147483705",
    "user": "U2147483697",
    "text": "Hello world",
    "ts": "1355517523.000005",
    "event_ts": "1355517523.000005",
    "channel_type": "channel",
}


def test_an_event_callback_becomes_a_named_deduplicable_event() -> None:
    data = envelope(MESSAGE)
    Draft4Validator(ENVELOPE["schema"]).validate(data)  # the test's envelope is Slack's shape
    body = json.dumps(data).encode()
    headers = signed(body) | {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    result = parse_request(headers, body, SECRET, now=NOW + 10)
    assert isinstance(result, EventCallback)
    assert (result.id, result.name, result.event_type) == ("Ev0PV52K25", "slack.message", "message")
    assert (result.retry_num, result.retry_reason) == (1, "http_timeout")
    # The verification token (a deprecated shared secret) is not kept in the stored payload.
    assert "token" not in result.payload
    assert result.payload["event"] == MESSAGE
    assert result.payload["team_id"] == "T1H9RESGL"


def test_header_names_are_case_insensitive() -> None:
    body = json.dumps(envelope(MESSAGE)).encode()
    lower = {name.lower(): value for name, value in signed(body).items()}
    assert isinstance(parse_request(lower, body, SECRET, now=NOW), EventCallback)


def test_url_verification_is_answered_with_the_challenge() -> None:
    data = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    body = json.dumps(data).encode()
    result = parse_request(signed(body), body, SECRET, now=NOW)
    assert result == UrlVerification(data["challenge"])
    assert isinstance(result, UrlVerification)
    assert result.response_body() == {"challenge": data["challenge"]}


def test_app_rate_limited_is_recognised() -> None:
    data = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "type": "app_rate_limited",
        "team_id": "T123456",
        "minute_rate_limited": 1518467820,
        "api_app_id": "A123456",
    }
    body = json.dumps(data).encode()
    assert parse_request(signed(body), body, SECRET, now=NOW) == AppRateLimited(
        "T123456", "A123456", 1518467820
    )


BODY = json.dumps(envelope(MESSAGE)).encode()


@pytest.mark.parametrize(
    ("headers", "now", "reason"),
    [
        # a signature made with another secret
        (signed(BODY, secret="another secret"), NOW, "does not match the body"),
        # the right secret over another body (the body was altered on the way)
        (signed(BODY + b" "), NOW, "does not match the body"),
        # a signature in another format
        (signed(BODY) | {"X-Slack-Signature": "v1=abc"}, NOW, "does not match the body"),
        # replayed 5 minutes and 1 second later
        (signed(BODY), NOW + 301, "301s old"),
        # a timestamp from the future, beyond the window
        (signed(BODY), NOW - 301, "301s far in the future"),
        # missing headers
        ({"X-Slack-Signature": sign(SECRET, NOW, BODY)}, NOW, "no X-Slack-Request-Timestamp"),
        ({"X-Slack-Request-Timestamp": str(NOW)}, NOW, "no X-Slack-Signature header"),
        ({}, NOW, "no X-Slack-Request-Timestamp"),
        (signed(BODY) | {"X-Slack-Request-Timestamp": "yesterday"}, NOW, "is not a number"),
    ],
)
def test_bad_requests_are_rejected(headers: dict[str, str], now: int, reason: str) -> None:
    with pytest.raises(EventRejected, match=reason):
        parse_request(headers, BODY, SECRET, now=now)


def test_the_window_edge_is_accepted() -> None:
    # Exactly five minutes either way is still inside the window.
    for now in (NOW + 300, NOW - 300):
        assert isinstance(parse_request(signed(BODY), BODY, SECRET, now=now), EventCallback)


def test_an_unconfigured_secret_rejects_everything() -> None:
    with pytest.raises(EventRejected, match="no Slack signing secret is configured"):
        parse_request(signed(BODY, secret=""), BODY, "", now=NOW)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"payload=%7B%7D", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "block_actions"}', "unknown Events API request type 'block_actions'"),
        (b'{"type": "event_callback", "event": {"type": "message"}}', "malformed event_callback"),
        (b'{"type": "event_callback", "event_id": "Ev1", "event": {}}', "event has no type"),
        (b'{"type": "url_verification"}', "malformed url_verification"),
    ],
)
def test_signed_but_unusable_bodies_are_rejected(body: bytes, reason: str) -> None:
    with pytest.raises(EventRejected, match=reason):
        parse_request(signed(body), body, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ({"type": "message"}, "slack.message"),
        # a subtype is a different thing: a bot's own post cannot trigger slack.message jobs
        ({"type": "message", "subtype": "bot_message"}, "slack.message.bot_message"),
        ({"type": "message", "subtype": "message_changed"}, "slack.message.message_changed"),
        ({"type": "app_mention"}, "slack.app_mention"),
        ({"type": "reaction_added"}, "slack.reaction_added"),
        # only messages use the subtype in the name
        ({"type": "team_join", "subtype": "x"}, "slack.team_join"),
    ],
)
def test_event_names(event: dict[str, Any], name: str) -> None:
    assert event_name(event) == name


def test_the_published_envelope_examples_parse() -> None:
    # Slack's Events API description publishes two envelopes (which lack fields its own schema
    # requires: the models are lenient on purpose).
    found = []
    for example in ENVELOPE["schema"]["x-examples"]:
        body = json.dumps(example).encode()
        result = parse_request(signed(body), body, SECRET, now=NOW)
        assert isinstance(result, EventCallback)
        found.append((result.name, type(parse_event(result.payload["event"]))))
    assert found == [
        ("slack.resources_added", SlackEvent),
        ("slack.reaction_added", ReactionAddedEvent),
    ]


def test_typed_events() -> None:
    message = parse_event(MESSAGE)
    assert isinstance(message, MessageEvent)
    assert (message.channel, message.text, message.subtype) == ("C2147483705", "Hello world", None)
    mention = parse_event(
        {
            "type": "app_mention",
            "user": "U061F7AUR",
            "text": "<@U0LAN0Z89> is it everything a river should be?",
            "ts": "1515449522.000016",
            "channel": "C0LAN2Q65",
            "event_ts": "1515449522000016",
            "client_msg_id": "a1b2",  # unknown fields are kept
        }
    )
    assert isinstance(mention, AppMentionEvent)
    assert mention.channel == "C0LAN2Q65"
    assert mention.model_extra == {"client_msg_id": "a1b2"}
    reaction = parse_event(ENVELOPE["schema"]["x-examples"][1]["event"])
    assert isinstance(reaction, ReactionAddedEvent)
    assert (reaction.reaction, reaction.item.channel, reaction.item.ts) == (
        "thumbsup",
        "C0G9QF9GZ",
        "1360782400.498405",
    )
