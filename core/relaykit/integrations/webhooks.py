"""Webhook deliveries: what an integration's ``handle_webhook`` receives and returns, and the
per-source secrets it verifies them with.

A delivery reaches ``POST /webhooks/{integration_id}/{source_id}`` (authenticated by the
vendor's signature, not an API key). The integration turns it into ``WebhookEvent``s, which the
server sends as relaykit events (deduplicated by id, so a vendor's redelivery starts nothing
twice). Secrets are kept per (integration id, source id) in the store's ``connections`` table
under the id ``webhook:{integration_id}:{source_id}``, encrypted with ``RELAYKIT_SECRET_KEY``
like every other credential, so no migration was needed.

**Replays.** The event id deduplicates a vendor's redeliveries, but only a vendor that signs
the id makes it a defence against replays: GitHub signs the body alone, so a captured delivery
re-sent with a new ``X-GitHub-Delivery`` id would pass its signature check and start every run
again. An integration therefore gives such an event a ``replay_key`` (a digest of the signed
body): a *different* delivery with the same key within ``REPLAY_WINDOW_SECONDS`` of the first
is a replay, stored nothing for and answered 200 with ``"duplicate": true``. The route records
each key as a row of the store's ``sessions`` table (kind ``webhook-replay``, expiring with
the window; its primary key makes the check atomic across processes), so again no migration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, final

from .._base.secrets import SecretBox
from ..store import Store
from ..store._connections import ConnectionRecord


@final
@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One delivery, as received."""

    integration_id: str
    """The integration instance's id, from the URL."""
    source_id: str
    """The rest of the URL after the integration id (``octocat/Hello-World``, ``T0123``)."""
    headers: Mapping[str, str]
    """Header names lower-cased."""
    body: bytes
    """The raw body, unparsed (signatures cover these exact bytes)."""
    received_at: float
    """Epoch seconds, on the client's clock."""


#: How long a ``WebhookEvent.replay_key`` is remembered (seconds). A trade-off, as no vendor
#: header tells a replay from a genuine repeat: some GitHub events carry no timestamp
#: (``membership.removed``, ``org_block.blocked``, ``github_app_authorization.revoked``), so the
#: same change made twice arrives as two byte-identical bodies, and the second is dropped if it
#: comes within the window. Ten minutes catches a captured delivery re-sent soon after (by a
#: retrying proxy, or someone replaying traffic they watched) and keeps that loss unlikely.
REPLAY_WINDOW_SECONDS: Final = 600.0


@final
@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """An event a delivery stands for; ``id`` deduplicates redeliveries.

    ``replay_key`` (optional) is a second dedupe key, for vendors whose signature does not
    cover ``id``: a digest of the signed body. A delivery with another ``id`` but the same
    key, within ``REPLAY_WINDOW_SECONDS`` of the first, is a replay and stores nothing.
    """

    id: str
    name: str
    payload: Any
    source: str
    replay_key: str | None = None


@final
@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What the route answers (``body`` JSON-able; None for an empty body) and sends."""

    status: int = 200
    body: Any = None
    events: tuple[WebhookEvent, ...] = ()


@final
@dataclass(frozen=True, slots=True)
class WebhookExample:
    """A sample delivery an integration builds (``Integration.example_delivery``), signed as
    the vendor signs it: what ``relaykit webhooks send`` posts, and the payload the dashboard's
    test-run form starts from for a job triggered by ``event``."""

    name: str
    """The example's name (``issues.opened``)."""
    event: str
    """The relaykit event the delivery becomes (``github.issues.opened``)."""
    payload: Any
    """That event's payload: what a run it starts receives."""
    headers: Mapping[str, str]
    """The headers to send, signature included."""
    body: bytes
    """The exact bytes the signature covers."""
    event_id: str | None = None
    """The id of the event the delivery becomes (``github:<delivery id>``), when known."""


class WebhookSecrets(Protocol):
    """The secrets of one webhook source (an integration id and a source id), stored encrypted."""

    async def get(self, name: str) -> str | None:
        """The secret ``name``, or None when none is stored."""
        ...

    async def set(self, name: str, value: str) -> None:
        """Store (or replace) the secret ``name``."""
        ...


def webhook_connection_id(integration_id: str, source_id: str) -> str:
    """The ``connections`` row that holds a webhook source's secrets."""
    return f"webhook:{integration_id}:{source_id}"


@final
class StoredWebhookSecrets:
    """``WebhookSecrets`` in the store's ``connections`` table, one encrypted JSON object per
    source. The key (``RELAYKIT_SECRET_KEY``) is needed only once a secret exists."""

    def __init__(
        self,
        store: Store,
        integration_id: str,
        source_id: str,
        *,
        clock: Callable[[], float],
        box: Callable[[], SecretBox] = SecretBox.from_env,
    ) -> None:
        self._store = store
        self._id = webhook_connection_id(integration_id, source_id)
        self._clock = clock
        self._box = box

    def __repr__(self) -> str:
        return f"<StoredWebhookSecrets {self._id!r}>"

    async def _all(self) -> dict[str, Any]:
        row = await self._store.get_connection(self._id)
        if row is None:
            return {}
        return self._box().decrypt(row.credentials, what=f"the webhook secrets {self._id!r}")

    async def get(self, name: str) -> str | None:
        """The secret ``name``, or None when none is stored."""
        value = (await self._all()).get(name)
        return None if value is None else str(value)

    async def set(self, name: str, value: str) -> None:
        """Store (or replace) the secret ``name``."""
        values = await self._all()
        values[name] = value
        token = self._box().encrypt(values)
        await self._store.put_connection(ConnectionRecord(self._id, token, None, self._clock()))


__all__ = [
    "REPLAY_WINDOW_SECONDS",
    "StoredWebhookSecrets",
    "WebhookEvent",
    "WebhookExample",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookSecrets",
    "webhook_connection_id",
]
