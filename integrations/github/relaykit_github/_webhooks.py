"""Verifying GitHub webhook deliveries and turning them into named events.

GitHub signs each delivery's raw body with the webhook's secret (HMAC-SHA256, hex, in
``X-Hub-Signature-256: sha256=<hex>``), names the event in ``X-GitHub-Event`` and gives each
delivery a unique id in ``X-GitHub-Delivery`` (the same id when GitHub redelivers it, so it is the
natural dedupe key). A delivery is JSON, or a form body whose ``payload`` field holds the JSON when
the webhook was created with ``content_type=form``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from relaykit import JsonTooDeep, parse_json

from .errors import WebhookRejected

SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"


@dataclass(frozen=True)
class WebhookDelivery:
    """A verified delivery.

    ``name`` is ``<event>.<action>`` (``issues.opened``), or ``<event>`` for events without an
    action (``push``); ``id`` is GitHub's delivery id, used to drop redeliveries.
    """

    id: str
    event: str
    action: str | None
    payload: dict[str, Any]

    @property
    def name(self) -> str:
        """The relaykit event name: ``<event>.<action>``, or ``<event>``."""
        return f"{self.event}.{self.action}" if self.action else self.event


def generate_webhook_secret() -> str:
    """A new random webhook secret (256 bits, hex): give it to GitHub and to ``verify``."""
    return secrets.token_hex(32)


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` signed with ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, signature: str | None, secret: str) -> None:
    """Check ``signature`` (the ``X-Hub-Signature-256`` header) against the raw ``body``.

    Raises ``WebhookRejected`` when the header is missing, malformed or does not match. The
    comparison takes constant time, so the signature cannot be guessed byte by byte.
    """
    if not secret:
        raise WebhookRejected(
            "no webhook secret is configured, so deliveries cannot be verified; "
            "set one with generate_webhook_secret() on both GitHub and relaykit"
        )
    if not signature:
        raise WebhookRejected(
            "the delivery is unsigned (no X-Hub-Signature-256 header); "
            "give the webhook a secret on GitHub"
        )
    if not signature.startswith("sha256="):
        raise WebhookRejected(
            f"the X-Hub-Signature-256 header is not 'sha256=<hex>': {signature[:20]!r}"
        )
    if not hmac.compare_digest(sign(body, secret).encode(), signature.encode()):
        raise WebhookRejected(
            "the delivery's signature does not match; the webhook's secret on GitHub differs "
            "from the one relaykit has, or the body was changed on the way"
        )


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    text: str | None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and content_type.startswith("application/x-www-form-urlencoded"):
        text = parse_qs(text).get("payload", [None])[0]
    try:
        payload = parse_json(text, what="the delivery's body") if text is not None else None
    except JsonTooDeep as exc:
        raise WebhookRejected(exc.message) from None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise WebhookRejected(
            "the delivery's body is not a JSON object; set the webhook's content type to "
            "application/json on GitHub"
        )
    return payload


def parse_delivery(headers: Mapping[str, str], body: bytes, secret: str) -> WebhookDelivery:
    """Verify a delivery and read its event name, id and payload.

    ``headers`` are the request's headers (any case); ``body`` is the raw body, exactly as
    received (the signature covers those bytes). Raises ``WebhookRejected`` naming what is wrong:
    a bad or missing signature, a missing ``X-GitHub-Event``/``X-GitHub-Delivery`` header, or a
    body that is not a JSON object.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    verify_signature(body, lower.get(SIGNATURE_HEADER), secret)
    event = lower.get(EVENT_HEADER, "").strip()
    if not event:
        raise WebhookRejected("the delivery has no X-GitHub-Event header; is it from GitHub?")
    delivery_id = lower.get(DELIVERY_HEADER, "").strip()
    if not delivery_id:
        raise WebhookRejected("the delivery has no X-GitHub-Delivery header; is it from GitHub?")
    payload = _payload(body, lower.get("content-type", "application/json").lower())
    action = payload.get("action")
    return WebhookDelivery(
        id=delivery_id,
        event=event,
        action=action if isinstance(action, str) and action else None,
        payload=payload,
    )
