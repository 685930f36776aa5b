"""relaykit's HTTP layer: the JSON API under ``/api/v1``, webhooks under ``/webhooks`` and the
dashboard, as one ASGI app.

``client.asgi_app()`` builds it (importing this package only then, so ``import relaykit``
never loads Starlette); ``relaykit serve``/``relaykit dev`` run it with a worker. Mount it in
your own app with ``app.mount("/relaykit", client.asgi_app())``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from ..errors import StoreError
from ._api import api_routes
from ._auth import Access, NewKey
from ._connections import connection_routes
from ._dashboard import dashboard_routes, make_templates
from ._dashboard_bulk import bulk_dashboard_routes
from ._dashboard_tokens import token_dashboard_routes
from ._state import PUBLIC_URL_ENV, ServerState, resolve_public_url
from ._stream import stream_routes
from ._tokens import run_control_routes
from ._webhooks import webhook_routes

if TYPE_CHECKING:
    from ..client import Client


def create_app(
    client: Client, *, public_url: str | None = None, load_error: str | None = None
) -> Starlette:
    """The ASGI app serving ``client``'s API and dashboard.

    It opens the client's store on first use; it does not execute runs (run a worker, or use
    ``relaykit serve``/``relaykit dev``, which run both). ``public_url`` (default
    ``$RELAYKIT_PUBLIC_URL``) is the URL the app is reached at; OAuth redirect URIs are built
    from it, never from a request's ``Host`` header. Raises ``ConfigurationError`` for a
    malformed one. ``load_error`` puts a banner on every dashboard page: the app failed to load
    (``relaykit dev`` serving on after a reload hit a broken file), with this text as the
    detail for a logged-in user.
    """
    app = Starlette(
        exception_handlers={HTTPException: _http_error, StoreError: _store_error},
        routes=[
            Mount(
                "/api/v1",
                # Streams and run control first: /runs/stream and /runs/bulk must win over
                # /runs/{run_id}, or its 405s would name GET only.
                app=Router(
                    [*stream_routes(), *run_control_routes(), *api_routes()],
                    default=_api_not_found,
                ),
            ),
            *webhook_routes(),
            Mount("/static", app=StaticFiles(packages=[("relaykit.server", "static")])),
            *bulk_dashboard_routes(),
            *dashboard_routes(),
            *token_dashboard_routes(),
            *connection_routes(),
        ],
    )
    app.state.relaykit = ServerState(client, resolve_public_url(public_url))
    app.state.templates = make_templates(load_error=load_error)
    return app


async def _api_not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """No API route matched: a JSON 404 like every other API error."""
    path = scope.get("path", "")
    body = {"error": {"code": "not_found", "message": f"no API route {path!r}; see openapi.json"}}
    await JSONResponse(body, status_code=404)(scope, receive, send)


async def _store_error(request: Request, exc: Exception) -> Response:
    """The database failed (locked too long, disk full, unreachable): a 503 that says so —
    JSON under ``/api/`` — with a Retry-After, never a traceback or a bare 500."""
    root = str(request.scope.get("root_path", ""))
    path = request.url.path.removeprefix(root) if root else request.url.path
    message = " ".join(str(exc).split())
    headers = {"Retry-After": "5"}
    if path.startswith("/api/") or root.endswith("/api/v1"):
        body = {"error": {"code": "store_unavailable", "message": message}}
        return JSONResponse(body, status_code=503, headers=headers)
    return PlainTextResponse(
        f"relaykit's database is unavailable: {message}", status_code=503, headers=headers
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405: a JSON error body under ``/api/``, plain text elsewhere."""
    assert isinstance(exc, HTTPException)  # noqa: S101 -- registered for HTTPException only
    root = str(request.scope.get("root_path", ""))
    path = request.url.path.removeprefix(root) if root else request.url.path
    # Mount rewrites the scope in place, so under /api/v1 the root path ends with it.
    if not (path.startswith("/api/") or root.endswith("/api/v1")):
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        {"error": {"code": code, "message": f"{exc.detail}: {request.method} {path}"}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


__all__ = ["PUBLIC_URL_ENV", "Access", "NewKey", "create_app"]
