"""Webhook deliveries: signatures, event names, dedupe ids, and every published example."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from relaykit_github import (
    WebhookRejected,
    generate_webhook_secret,
    parse_delivery,
    sign,
    verify_signature,
)
from tests.github_examples import deliveries

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"


def headers(body: bytes, event: str = "issues", secret: str = SECRET) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": sign(body, secret),
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "Content-Type": "application/json",
    }


def test_signature_matches_githubs_documented_example() -> None:
    # The worked example in GitHub's "Validating webhook deliveries" guide.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(BODY, SECRET) == expected
    verify_signature(BODY, expected, SECRET)  # raises when wrong


@pytest.mark.parametrize(
    ("signature", "secret", "reason"),
    [
        (None, SECRET, "unsigned"),
        ("", SECRET, "unsigned"),
        ("sha1=abc", SECRET, "is not 'sha256=<hex>'"),
        (sign(BODY, "another secret"), SECRET, "does not match"),
        (sign(BODY + b" ", SECRET), SECRET, "does not match"),
        (sign(BODY, SECRET), "", "no webhook secret is configured"),
    ],
)
def test_bad_signatures_are_rejected(signature: str | None, secret: str, reason: str) -> None:
    with pytest.raises(WebhookRejected, match=reason):
        verify_signature(BODY, signature, secret)


def test_generated_secrets_are_long_and_unique() -> None:
    secrets = {generate_webhook_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(len(secret) == 64 and int(secret, 16) >= 0 for secret in secrets)


def test_parse_delivery_reads_name_id_and_payload_with_any_header_case() -> None:
    body = json.dumps({"action": "opened", "issue": {"number": 1}}).encode()
    lower = {name.lower(): value for name, value in headers(body).items()}
    delivery = parse_delivery(lower, body, SECRET)
    assert delivery.name == "issues.opened"
    assert (delivery.event, delivery.action) == ("issues", "opened")
    assert delivery.id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert delivery.payload["issue"] == {"number": 1}


def test_an_event_without_action_is_named_after_the_event() -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    delivery = parse_delivery(headers(body, event="push"), body, SECRET)
    assert (delivery.name, delivery.action) == ("push", None)


def test_form_encoded_deliveries_are_read_from_the_payload_field() -> None:
    body = b"payload=%7B%22action%22%3A%22created%22%7D"
    sent = headers(body, event="star") | {"Content-Type": "application/x-www-form-urlencoded"}
    assert parse_delivery(sent, body, SECRET).name == "star.created"


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        ("X-Hub-Signature-256", "unsigned"),
        ("X-GitHub-Event", "no X-GitHub-Event header"),
        ("X-GitHub-Delivery", "no X-GitHub-Delivery header"),
    ],
)
def test_missing_headers_are_rejected(drop: str, reason: str) -> None:
    body = b'{"action": "opened"}'
    sent = {name: value for name, value in headers(body).items() if name != drop}
    with pytest.raises(WebhookRejected, match=reason):
        parse_delivery(sent, body, SECRET)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_bodies_that_are_not_json_objects_are_rejected(body: bytes) -> None:
    with pytest.raises(WebhookRejected, match="not a JSON object"):
        parse_delivery(headers(body), body, SECRET)


EXAMPLES = deliveries()


def test_the_example_file_holds_every_published_delivery() -> None:
    counts = Counter(event for event, _ in EXAMPLES)
    assert sum(counts.values()) == 329
    assert len(counts) == 58


@pytest.mark.parametrize(
    ("event", "body"), EXAMPLES, ids=[f"{event}-{i}" for i, (event, _) in enumerate(EXAMPLES)]
)
def test_every_published_delivery_verifies_and_gets_its_event_name(
    event: str, body: dict[str, Any]
) -> None:
    raw = json.dumps(body).encode()
    delivery = parse_delivery(headers(raw, event=event), raw, SECRET)
    action = body.get("action")
    assert delivery.name == (f"{event}.{action}" if action else event)
    assert delivery.payload == body
    with pytest.raises(WebhookRejected, match="does not match"):
        parse_delivery(headers(raw, event=event, secret="wrong"), raw, SECRET)
