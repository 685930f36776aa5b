"""Sample Events API requests: an ``event_callback`` envelope as Slack sends one, signed.

The envelope's fields are those of the Events API's ``event_callback`` (Slack's AsyncAPI
description, ``events-api/slack_events_api_async_v1.json``); each inner event is the example
of Slack's page for that event type (api.slack.com/events/<type>). Ids look like Slack's but
name nothing real; ``event_id`` is new for each request (Slack retries reuse it) and the times
are the time of sending, so the signature's timestamp is within Slack's five minutes.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Final

from relaykit import WebhookExample

from ._events import event_name, sign

TEAM: Final = "T0001EXAMPLE"
APP: Final = "A0001EXAMPLE"
BOT_USER: Final = "U0001BOT"
USER: Final = "U061F7AUR"
CHANNEL: Final = "C0LAN2Q65"


def _events(ts: str) -> dict[str, dict[str, Any]]:
    """The inner events, by example name, as sent at ``ts`` (Slack's ``"<epoch>.<micro>"``)."""
    return {
        "app_mention": {
            "type": "app_mention",
            "user": USER,
            "text": f"<@{BOT_USER}> is it everything a river should be?",
            "ts": ts,
            "channel": CHANNEL,
            "event_ts": ts,
        },
        "message": {
            "type": "message",
            "channel": CHANNEL,
            "channel_type": "channel",
            "user": USER,
            "text": "Live long and prospect.",
            "ts": ts,
            "event_ts": ts,
        },
        "reaction_added": {
            "type": "reaction_added",
            "user": USER,
            "reaction": "thumbsup",
            "item_user": BOT_USER,
            "item": {"type": "message", "channel": CHANNEL, "ts": "1360782400.498405"},
            "event_ts": ts,
        },
        "member_joined_channel": {
            "type": "member_joined_channel",
            "user": USER,
            "channel": CHANNEL,
            "channel_type": "C",
            "team": TEAM,
            "event_ts": ts,
        },
    }


EXAMPLE_NAMES: Final = tuple(sorted(_events("0")))


def example_delivery(name: str, secret: str, *, now: float) -> WebhookExample | None:
    """The ``event_callback`` request for the example event ``name``, signed with the app's
    signing secret at ``now`` (``X-Slack-Signature``, ``X-Slack-Request-Timestamp``); None
    for an unknown name."""
    stamp = int(now)
    event = _events(f"{now:.6f}").get(name)
    if event is None:
        return None
    envelope: dict[str, Any] = {
        "token": "XXYYZZ",  # Slack's deprecated verification token; relaykit drops it
        "team_id": TEAM,
        "api_app_id": APP,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": stamp,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM,
                "user_id": BOT_USER,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(8)}",
    }
    body = json.dumps(envelope, separators=(",", ":")).encode()
    headers = {
        "content-type": "application/json",
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "x-slack-request-timestamp": str(stamp),
        "x-slack-signature": sign(secret, stamp, body),
    }
    payload = {k: v for k, v in envelope.items() if k != "token"}
    return WebhookExample(
        name, event_name(event), payload, headers, body, f"slack:{envelope['event_id']}"
    )
