"""The core's webhook types (``WebhookEvent``, ``WebhookResponse``, ``WebhookRejected``), taken
from relaykit when it has them, else minimal stand-ins with the same fields.

MERGE: relaykit-slack was written in parallel with the core's webhook route (the shared
interface: ``POST /webhooks/{integration_id}/{source_id}`` calls
``Integration.handle_webhook(request, secrets)``). Once ``relaykit`` exports these three names,
delete the stand-ins and import them directly (``from relaykit import WebhookEvent, ...``), and
type ``Slack.handle_webhook`` with ``WebhookRequest``/``WebhookSecrets``. Until then the lookup
below already returns the core's classes when they exist, so the route catches the core's
``WebhookRejected`` and reads the core's ``WebhookResponse``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import relaykit
from relaykit import RelaykitError


@dataclass(frozen=True, slots=True)
class _WebhookEvent:
    """Stand-in for ``relaykit.WebhookEvent``: an event a delivery stands for."""

    id: str
    name: str
    payload: Any
    source: str


@dataclass(frozen=True, slots=True)
class _WebhookResponse:
    """Stand-in for ``relaykit.WebhookResponse``: the answer, and the events to send."""

    status: int = 200
    body: Any = None
    events: tuple[Any, ...] = ()


class _WebhookRejected(RelaykitError):
    """Stand-in for ``relaykit.WebhookRejected``: the delivery was rejected."""

    retriable = False

    def __init__(self, status: int = 400, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status


# ``getattr`` with a default: the core's class when this relaykit has it (see the docstring).
WebhookEvent: Any = getattr(relaykit, "WebhookEvent", _WebhookEvent)
WebhookResponse: Any = getattr(relaykit, "WebhookResponse", _WebhookResponse)
WebhookRejected: Any = getattr(relaykit, "WebhookRejected", _WebhookRejected)
