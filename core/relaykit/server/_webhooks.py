"""``POST /webhooks/{integration_id}/{source_id}``: deliveries from vendors (GitHub, Slack).

No API key: the integration authenticates each delivery by its signature, with the secret
stored for the source. The route only verifies and stores: ``handle_webhook``'s events are sent
(deduplicated by id, so a redelivery starts nothing twice; and by ``replay_key`` within
``REPLAY_WINDOW_SECONDS``, so a signed body re-sent under a new id starts nothing either) and
runs start later on a worker, so the vendor gets its answer within its timeout. When every
event of a delivery was stored before, a JSON answer gets ``"duplicate": true``. A refused
delivery stores nothing. Errors are ``{"error": {"code": ..., "message": ...}}`` like the
API's.
"""

from __future__ import annotations

import json
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import (
    ConfigurationError,
    JsonTooDeep,
    PayloadTooLarge,
    SerializationError,
    WebhookRejected,
)
from ..integrations.base import Integration
from ..integrations.webhooks import (
    REPLAY_WINDOW_SECONDS,
    WebhookEvent,
    WebhookRequest,
    WebhookResponse,
    WebhookSecrets,
)
from ..store.access import SessionRecord
from ._api import ApiError
from ._auth import sha256_hex
from ._state import ServerState

_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 413: "payload_too_large"}
_REPLAY_KIND: Final = "webhook-replay"


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # a sender may omit or understate Content-Length
            raise _too_large(len(body), limit)
    return bytes(body)


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"the delivery is {size:,} bytes, over the limit of {limit:,}; raise "
        "Client(max_payload_bytes=...) to accept it",
    )


async def receive_webhook(request: Request) -> Response:
    """Verify one delivery with its integration, send its events, answer as it says."""
    state: ServerState = request.app.state.relaykit
    client = state.client
    integration_id = request.path_params["integration_id"]
    source_id = str(request.path_params["source_id"])
    try:
        integration = client.find_integration(integration_id)
        # No source id holds a control character (PostgreSQL text cannot even hold a NUL).
        if integration is None or not source_id.isprintable():
            raise ApiError(
                404,
                "not_found",
                f"no integration {integration_id!r}: no job declares one with that id"
                if integration is None
                else f"no webhook source {source_id!r}",
            )
        body = await _read_body(request, client.max_payload_bytes)
        await client.open()
        delivery = WebhookRequest(
            integration_id=integration_id,
            source_id=source_id,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            received_at=client.clock.now(),
        )
        secrets = client.webhook_secrets(integration_id, source_id)
        answer = await _handle(integration, delivery, secrets)
        duplicates = [await _send(state, delivery, event) for event in answer.events]
    except ApiError as exc:
        return exc.response()
    if answer.body is None:
        return Response(status_code=answer.status)
    body_json = answer.body
    if duplicates and all(duplicates) and isinstance(body_json, dict):
        body_json = {**body_json, "duplicate": True}
    return JSONResponse(body_json, status_code=answer.status)


async def _handle(
    integration: Integration, delivery: WebhookRequest, secrets: WebhookSecrets
) -> WebhookResponse:
    """The integration's answer, its refusals as JSON errors."""
    try:
        answer = await integration.handle_webhook(delivery, secrets)
    except WebhookRejected as exc:
        raise ApiError(exc.status, _CODES.get(exc.status, "rejected"), exc.message) from exc
    except JsonTooDeep as exc:  # an integration reading the body with relaykit.parse_json
        raise ApiError(400, "bad_request", exc.message) from exc
    except ConfigurationError as exc:  # e.g. RELAYKIT_SECRET_KEY unset: the server's fault
        raise ApiError(500, "misconfigured", exc.message) from exc
    if not isinstance(answer, WebhookResponse):
        raise ApiError(
            500,
            "bad_integration",
            f"{type(integration).__name__}.handle_webhook returned {answer!r}, "
            "not a WebhookResponse",
        )
    return answer


async def _send(state: ServerState, delivery: WebhookRequest, event: WebhookEvent) -> bool:
    """Send one event of a verified delivery; True when it was stored before (the same id)
    or is a replay (another id, the same ``replay_key``)."""
    if event.replay_key is not None and await _is_replay(state, delivery, event):
        return True
    try:
        sent = await state.client.send_event(
            event.name, event.payload, id=event.id, source=event.source
        )
    except PayloadTooLarge as exc:
        raise ApiError(413, "payload_too_large", exc.message) from exc
    except (ConfigurationError, SerializationError) as exc:  # e.g. a NUL in a header's name
        raise ApiError(400, "bad_request", exc.message) from exc
    return bool(sent["duplicate"])


async def _is_replay(state: ServerState, delivery: WebhookRequest, event: WebhookEvent) -> bool:
    """Whether another delivery brought ``event.replay_key`` within the window; otherwise
    remember that this one did (the SHA-256 of ``event.id`` is the row's subject).

    The row's primary key makes this atomic: of two deliveries racing with one body, one
    inserts and the other fails to, then reads the winner's row. The store's own error type
    for a duplicate key differs by backend, so the row read afterwards decides: no row, and
    the failure was something else, raised as it is.
    """
    ids = json.dumps([delivery.integration_id, delivery.source_id, event.replay_key])
    # Not a bare SHA-256 hex digest: no session or login token can hash to this row.
    token = f"{_REPLAY_KIND}:{sha256_hex(ids)}"
    now = delivery.received_at
    delivered = sha256_hex(event.id)  # an id is the vendor's text: hashed, it is safe to store
    row = SessionRecord(token, _REPLAY_KIND, delivered, now, now + REPLAY_WINDOW_SECONDS)
    try:
        await state.store.create_session(row)
    except Exception:
        held = await state.store.get_session(token, now=now)
        if held is None:
            raise
        # the same id again is a redelivery (or a retry after a failure): the event id
        # decides, so an event whose first delivery failed is still stored
        return held.subject != delivered
    return False


def webhook_routes() -> list[Route]:
    """The webhook route (outside ``/api/v1``: it takes no API key)."""
    return [
        Route(
            "/webhooks/{integration_id}/{source_id:path}",
            receive_webhook,
            methods=["POST"],
        )
    ]
