"""The dashboard's Connections page and the OAuth2 routes that connect an integration.

``/connections`` lists every integration the client's jobs declare with its stored
connection's state (never the credentials); its forms (CSRF-checked) store an API token or
delete the connection, through ``Connections`` (encrypted with ``RELAYKIT_SECRET_KEY``).

``/oauth/{id}/start`` begins the authorization code flow (PKCE S256, random ``state``) with
the redirect URI ``<public URL>/oauth/{id}/callback``. The public URL is configured
(``RELAYKIT_PUBLIC_URL``, or ``create_app(public_url=)``; ``relaykit serve``/``dev`` default it
to the address they listen on); when it has no path and the app is mounted under a root path,
that mount point is appended. It is never read from the request's ``Host`` header, which any
client can forge: a redirect URI built from it would send the authorization code to the
forger's host if the provider accepted it. Without one configured, the start page says so.

What the callback needs (the code verifier, the redirect URI, the integration and the
dashboard session that started it) is kept server-side in the store's ``sessions`` table, kind
``oauth``, keyed by the SHA-256 of the state, its data encrypted with ``RELAYKIT_SECRET_KEY``,
expiring after 10 minutes. The callback *takes* (deletes) that row, so a state works once; a
missing, wrong, expired or reused state, another integration's state, or one started by
another session answers 400 and stores nothing. Server-side rather than a cookie: single use
is then a database delete, not something a replayed cookie could get around.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any, Final
from urllib.parse import urlsplit

import httpx2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._base.secrets import SECRET_KEY_ENV, SecretBox
from ..errors import ConfigurationError, RelaykitError
from ..integrations.auth import (
    AuthorizationRequest,
    Connections,
    Credentials,
    OAuth2,
    authorization_request,
    exchange_code,
)
from ..integrations.base import Integration
from ..store.access import SessionRecord
from ._auth import sha256_hex
from ._dashboard import (
    SESSION_COOKIE,
    _base,
    _path_id,
    _principal,
    _redirect,
    _render,
    _state,
    action,
    page,
)
from ._state import PUBLIC_URL_ENV, ServerState
from ._views import iso

#: How long an OAuth2 authorization may take between start and callback.
OAUTH_STATE_SECONDS: Final = 10 * 60.0
_KIND: Final = "oauth"


def declared_integrations(state: ServerState) -> dict[str, Integration]:
    """Every integration instance the client's jobs declare, by id."""
    found: dict[str, Integration] = {}
    for job in state.client.jobs.values():
        for integration in job.integrations.values():
            if isinstance(integration, Integration):
                found.setdefault(integration.id, integration)
    return dict(sorted(found.items()))


def _oauth_of(integration: Integration) -> OAuth2 | None:
    # The instance's provider (``oauth=`` given to it), else its class's.
    provider = getattr(integration, "_oauth", None)
    return provider if isinstance(provider, OAuth2) else type(integration).oauth


def _box() -> SecretBox | None:
    try:
        return SecretBox.from_env()
    except ConfigurationError:
        return None


def _connections(state: ServerState, box: SecretBox) -> Connections:
    return Connections(state.store, clock=state.client.clock.now, box=lambda: box)


async def _connections_page(
    request: Request,
    state: ServerState,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    rows = []
    for integration in declared_integrations(state).values():
        record = await state.store.get_connection(integration.id)
        cls = type(integration)
        rows.append(
            {
                "id": integration.id,
                "name": cls.name,
                "auth_modes": list(cls.auth_modes),
                "oauth": _oauth_of(integration) is not None,
                "connected": record is not None,
                "expires_at": iso(record.expires_at) if record else None,
                "updated_at": iso(record.updated_at) if record else None,
            }
        )
    return _render(
        request,
        "connections.html",
        status,
        integrations=rows,
        has_key=_box() is not None,
        key_env=SECRET_KEY_ENV,
        error=error,
        notice=notice,
    )


@page
async def connections_page(request: Request, state: ServerState) -> Response:
    """GET /connections: integrations and their connection state."""
    notice = None
    query = request.query_params
    for key, text in (("connected", "connected"), ("disconnected", "disconnected")):
        value = query.get(key, "")
        if value and value in declared_integrations(state):
            notice = f"{value} {text}"
    return await _connections_page(request, state, notice=notice)


def _known(
    request: Request, state: ServerState
) -> tuple[Integration | None, SecretBox | None, str]:
    integration_id = _path_id(request, "integration_id")
    return declared_integrations(state).get(integration_id), _box(), integration_id


def _no_key() -> str:
    return f"{SECRET_KEY_ENV} is not set: connections are stored encrypted with it"


@action
async def save_token(request: Request, state: ServerState, form: Any) -> Response:
    """POST /connections/{integration_id}/token: store an API token (encrypted)."""
    integration, box, integration_id = _known(request, state)
    if integration is None:
        return _render(request, "not_found.html", 404, what=f"integration {integration_id!r}")
    if box is None:
        return await _connections_page(request, state, status=400, error=_no_key())
    token = str(form.get("token", "")).strip()
    if not token:
        return await _connections_page(
            request, state, status=400, error=f"no token given for {integration_id}"
        )
    await _connections(state, box).save(integration_id, Credentials(token))
    return _redirect(request, f"/connections?connected={integration_id}")


@action
async def disconnect(request: Request, state: ServerState, form: Any) -> Response:
    """POST /connections/{integration_id}/disconnect: delete the stored connection."""
    integration, _, integration_id = _known(request, state)
    if integration is None:
        return _render(request, "not_found.html", 404, what=f"integration {integration_id!r}")
    await state.store.delete_connection(integration_id)
    return _redirect(request, f"/connections?disconnected={integration_id}")


def _failure(request: Request, status: int, message: str) -> Response:
    return _render(request, "oauth_error.html", status, message=message)


@page
async def oauth_start(request: Request, state: ServerState) -> Response:
    """GET /oauth/{integration_id}/start: redirect to the provider's authorization page."""
    integration, box, integration_id = _known(request, state)
    if integration is None:
        return _render(request, "not_found.html", 404, what=f"integration {integration_id!r}")
    oauth = _oauth_of(integration)
    if oauth is None:
        return _failure(request, 400, f"{integration_id} does not connect with OAuth2")
    if box is None:
        return _failure(request, 400, _no_key())
    base = _public_base(request, state)
    if base is None:
        return _failure(
            request,
            400,
            f"{PUBLIC_URL_ENV} is not set: OAuth builds its redirect URI from the dashboard's "
            "public URL (never from the request's Host header); set it to e.g. "
            "https://ops.example.com/relaykit and restart",
        )
    redirect_uri = f"{base}/oauth/{integration_id}/callback"
    try:
        auth = authorization_request(oauth, redirect_uri, os.environ)
    except RelaykitError as exc:  # e.g. no OAuth2 client id configured
        return _failure(request, 400, str(exc))
    now = state.client.clock.now()
    data = {
        "integration": integration_id,
        "verifier": auth.code_verifier,
        "redirect_uri": redirect_uri,
        "session": sha256_hex(request.cookies.get(SESSION_COOKIE, "")),
    }
    await state.store.create_session(
        SessionRecord(
            sha256_hex(auth.state), _KIND, box.encrypt(data), now, now + OAUTH_STATE_SECONDS
        )
    )
    return Response(status_code=303, headers={"Location": auth.url})


def _public_base(request: Request, state: ServerState) -> str | None:
    """The configured public URL; with no path of its own, the mount point (the ASGI root
    path, set by ``Mount`` or the server's ``--root-path``, not by request headers) joins it."""
    configured = state.public_url
    if configured is None:
        return None
    if urlsplit(configured).path:
        return configured
    return configured + _base(request)


async def oauth_callback(request: Request) -> Response:
    """GET /oauth/{integration_id}/callback?code=&state=: exchange the code, store the
    connection, back to the Connections page."""
    principal = await _principal(request)
    state = _state(request)
    integration, box, integration_id = _known(request, state)
    query = request.query_params
    # Take the state first (whatever else is wrong): a state is good for one callback only.
    given = query.get("state", "")
    pending = (
        await state.store.take_session(sha256_hex(given), now=state.client.clock.now())
        if given
        else None
    )
    if principal is None:
        return _failure(request, 401, "not logged in: log in to the dashboard and connect again")
    if integration is None:
        return _render(request, "not_found.html", 404, what=f"integration {integration_id!r}")
    if query.get("error"):
        text = query.get("error_description") or query["error"]
        return _failure(
            request, 400, f"{integration.name} refused the authorization ({text}); nothing stored"
        )
    oauth = _oauth_of(integration)
    if box is None or oauth is None:
        return _failure(request, 400, _no_key() if box is None else "not an OAuth2 integration")
    data = _open(box, pending)
    session = sha256_hex(request.cookies.get(SESSION_COOKIE, ""))
    if (
        data is None
        or data.get("integration") != integration_id
        or not secrets.compare_digest(str(data.get("session", "")), session)
    ):
        return _failure(
            request,
            400,
            "the authorization's state is missing, wrong, expired or used already; "
            "connect again from the Connections page",
        )
    code = query.get("code", "")
    if not code:
        return _failure(request, 400, "the provider's redirect has no code; nothing stored")
    auth = AuthorizationRequest("", given, str(data["verifier"]), str(data["redirect_uri"]))
    try:
        credentials = await exchange_code(
            oauth,
            auth,
            code,
            now=state.client.clock.now(),
            environ=os.environ,
            transport=integration.transport,
        )
    except RelaykitError as exc:
        return _failure(request, 400, f"{exc}; nothing stored")
    except (httpx2.HTTPError, ValueError) as exc:  # unreachable, or not answering JSON
        return _failure(
            request, 502, f"the token endpoint failed ({type(exc).__name__}); nothing stored"
        )
    await _connections(state, box).save(integration_id, credentials)
    response = _redirect(request, f"/connections?connected={integration_id}")
    response.headers["Cache-Control"] = "no-store"
    return response


def _open(box: SecretBox, pending: SessionRecord | None) -> dict[str, Any] | None:
    if pending is None or pending.kind != _KIND:
        return None
    try:
        return box.decrypt(pending.subject, what="the OAuth2 state")
    except (ConfigurationError, json.JSONDecodeError):
        return None


def connection_routes() -> list[Route]:
    """The Connections page, its forms and the OAuth2 start and callback routes."""
    return [
        Route("/connections", connections_page, methods=["GET"]),
        Route("/connections/{integration_id}/token", save_token, methods=["POST"]),
        Route("/connections/{integration_id}/disconnect", disconnect, methods=["POST"]),
        Route("/oauth/{integration_id}/start", oauth_start, methods=["GET"]),
        Route("/oauth/{integration_id}/callback", oauth_callback, methods=["GET"]),
    ]
