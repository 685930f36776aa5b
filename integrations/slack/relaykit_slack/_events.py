"""The Events API receiver, as pure functions: verify a request, then say what it is.

An HTTP endpoint (relaykit's ``/webhooks/slack/events``, or a user's own route) calls
``parse_request(headers, raw_body, signing_secret, now=time.time())`` and answers:

- ``EventRejected``     -> its ``status``: 401 (bad or missing signature, stale timestamp), 400
  (a signed body that is not a JSON object or not a known, well-formed request);
- ``UrlVerification``   -> 200 with ``result.response_body()`` (``{"challenge": ...}``);
- ``EventCallback``     -> store the event (deduplicated by ``result.id``) and answer 200;
- ``AppRateLimited``    -> log it and answer 200.

**Slack's deadline is 3 seconds.** A request not answered with a 2xx by then counts as failed:
Slack retries it (up to three times, ``X-Slack-Retry-Num``) and disables the subscription after
too many failures. So the endpoint must only verify, store and return; the jobs the event
triggers run later, on a worker. A retried delivery carries the same ``event_id``: storing
events with it as the key makes the retry a no-op.

Signing (Slack's "Verifying requests from Slack"): ``X-Slack-Signature`` is ``v0=`` and the hex
HMAC-SHA256, keyed by the app's signing secret, of ``v0:{X-Slack-Request-Timestamp}:{body}``.
A timestamp more than five minutes from ``now`` (past or future) is refused, so a captured
request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from relaykit import JsonTooDeep, parse_json

from ._payloads import AppRateLimitedNotice, EventEnvelope, UrlVerificationRequest
from .errors import EventRejected

SIGNATURE_VERSION = "v0"
TIMESTAMP_TOLERANCE = 300
"""Seconds a request's timestamp may differ from ``now`` (Slack's guidance: five minutes)."""

EVENT_PREFIX = "slack."
"""Prefix of every relaykit event name made from a Slack event (see ``event_name``)."""


def sign(signing_secret: str, timestamp: str | int, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack sends for ``body`` at ``timestamp``."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_signature(
    signing_secret: str,
    *,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance: float = TIMESTAMP_TOLERANCE,
) -> None:
    """Raise ``EventRejected`` unless ``signature`` signs ``body`` at a recent ``timestamp``.

    The comparison takes constant time. ``now`` is the current epoch time in seconds (a
    parameter so the window is testable without patching a clock).
    """
    if not signing_secret:
        raise EventRejected("no Slack signing secret is configured; copy it from the app's page")
    if not timestamp or not signature:
        missing = "X-Slack-Request-Timestamp" if not timestamp else "X-Slack-Signature"
        raise EventRejected(f"the request has no {missing} header (it is not from Slack)")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise EventRejected(f"X-Slack-Request-Timestamp {timestamp!r} is not a number") from None
    if abs(now - sent_at) > tolerance:
        when = "old" if sent_at < now else "far in the future"
        raise EventRejected(
            f"the request's timestamp is {abs(now - sent_at):.0f}s {when} (more than "
            f"{tolerance:g}s): a replayed request, or this server's clock is wrong"
        )
    expected = sign(signing_secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        raise EventRejected("X-Slack-Signature does not match the body (wrong signing secret?)")


def event_name(event: Mapping[str, Any]) -> str:
    """The relaykit event name of a Slack event: ``slack.<type>``, or
    ``slack.message.<subtype>`` for a message with a subtype.

    The prefix keeps Slack's generic names (``message``, ``team_join``) apart from a user's own
    events and other integrations'. Subtypes get their own names because a ``message`` with a
    subtype is a different thing: ``bot_message`` (often the job's own post: a trigger on plain
    ``slack.message`` cannot loop on its own replies), ``message_changed``,
    ``message_deleted``, ``channel_join``. It mirrors GitHub's ``issues.opened`` (event.action).
    """
    name = f"{EVENT_PREFIX}{event.get('type')}"
    subtype = event.get("subtype")
    return f"{name}.{subtype}" if event.get("type") == "message" and subtype else name


@dataclass(frozen=True)
class UrlVerification:
    """Slack is checking the Request URL; answer 200 with ``response_body()``."""

    challenge: str

    def response_body(self) -> dict[str, str]:
        """The JSON body that proves the endpoint belongs to the app."""
        return {"challenge": self.challenge}


@dataclass(frozen=True)
class EventCallback:
    """One event: store it under ``id`` (Slack's ``event_id``) and answer 200 at once.

    ``payload`` is the envelope without its verification ``token``: team, app, event time,
    ``authorizations`` and the ``event`` itself.
    """

    id: str
    name: str
    event_type: str
    payload: dict[str, Any]
    retry_num: int
    retry_reason: str | None


@dataclass(frozen=True)
class AppRateLimited:
    """Slack is dropping this app's events for a minute; log it and answer 200."""

    team_id: str | None
    api_app_id: str | None
    minute_rate_limited: int | None


SlackRequest = UrlVerification | EventCallback | AppRateLimited
"""What ``parse_request`` recognises."""


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = parse_json(body, what="the request body")
    except JsonTooDeep as exc:
        raise EventRejected(exc.message, status=400) from None
    except ValueError:
        raise EventRejected(
            "the request body is not JSON (Events API requests are)", status=400
        ) from None
    if not isinstance(data, dict):
        raise EventRejected("the request body is not a JSON object", status=400)
    return data


def _retry_num(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


def parse_request(
    headers: Mapping[str, str],
    body: bytes,
    signing_secret: str,
    *,
    now: float,
    tolerance: float = TIMESTAMP_TOLERANCE,
) -> SlackRequest:
    """Verify an Events API request and say what it is (see the module docstring).

    ``headers`` may use any case; ``body`` is the raw body, exactly as received (a re-encoded
    body no longer matches its signature). Raises ``EventRejected`` naming the reason.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    verify_signature(
        signing_secret,
        body=body,
        timestamp=lower.get("x-slack-request-timestamp"),
        signature=lower.get("x-slack-signature"),
        now=now,
        tolerance=tolerance,
    )
    data = _json_object(body)
    kind = data.get("type")
    try:
        if kind == "url_verification":
            return UrlVerification(UrlVerificationRequest.model_validate(data).challenge)
        if kind == "app_rate_limited":
            notice = AppRateLimitedNotice.model_validate(data)
            return AppRateLimited(notice.team_id, notice.api_app_id, notice.minute_rate_limited)
        if kind == "event_callback":
            envelope = EventEnvelope.model_validate(data)
            event_type = envelope.event.get("type")
            if not isinstance(event_type, str):
                raise EventRejected("the event_callback's event has no type", status=400)
            return EventCallback(
                id=envelope.event_id,
                name=event_name(envelope.event),
                event_type=event_type,
                payload={key: value for key, value in data.items() if key != "token"},
                retry_num=_retry_num(lower.get("x-slack-retry-num")),
                retry_reason=lower.get("x-slack-retry-reason"),
            )
    except ValidationError as exc:
        raise EventRejected(
            f"malformed {kind} request: {exc.errors()[0]['msg']}", status=400
        ) from None
    raise EventRejected(f"unknown Events API request type {kind!r}", status=400)
