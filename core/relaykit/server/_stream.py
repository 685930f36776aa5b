"""The realtime streams: ``GET /api/v1/runs/{run_id}/stream`` and ``GET /api/v1/runs/stream``,
server-sent events of ``Operations.watch_run``/``watch_runs``.

Each event is ``id: <state digest>``, ``event: run|task|remove|end`` and ``data: <resource
JSON>``; a ``: keep-alive`` comment every ``HEARTBEAT_SECONDS`` of quiet keeps proxies from
closing the connection. Authenticated like the rest of the API (``Authorization: Bearer``),
or by the dashboard's session cookie, so a dashboard page's ``EventSource`` can use it. A
stream ends when its run ends, when the client goes away, and when the server shuts down
(``Client.close`` or ``relaykit serve`` stopping closes the feed every stream waits on).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..engine.watch import Change
from ..errors import InvalidCursor, StoreError, UnknownRun
from ._api import _STATUSES, ApiError, _authenticate, _int_query, _known_query, _path_id
from ._auth import Principal
from ._dashboard import SESSION_COOKIE
from ._state import ServerState

_log = logging.getLogger("relaykit.server")

#: Seconds of quiet after which a stream sends a keep-alive comment.
HEARTBEAT_SECONDS: Final = 15.0
#: What a browser's EventSource waits before reconnecting (milliseconds).
RETRY_MS: Final = 2000
_HEADERS: Final = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.relaykit
    return state


async def _principal(request: Request, state: ServerState) -> Principal:
    """An API key when one is sent, else the dashboard's session; 401 without either."""
    token = request.cookies.get(SESSION_COOKIE)
    if not request.headers.get("authorization") and token:
        found = await state.access.session(token)
        if found is not None:
            return found
    return await _authenticate(request, state)


def _frame(change: Change) -> str:
    if change.kind == "idle":
        return ": keep-alive\n\n"
    data = json.dumps(change.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {change.id}\nevent: {change.kind}\ndata: {data}\n\n"


async def _frames(changes: AsyncGenerator[Change, None]) -> AsyncIterator[str]:
    # closed here, not when garbage-collected: the subscription ends with the response
    async with contextlib.aclosing(changes):
        yield f"retry: {RETRY_MS}\n\n"
        try:
            async for change in changes:
                yield _frame(change)
        except StoreError as exc:
            # the database went away mid-stream: end the stream (a client reconnects, and
            # gets a 503 until it is back), never a traceback
            _log.warning("an event stream ended: %s", exc)
            yield f": store unavailable: {' '.join(str(exc).split())}\n\n"


def _last_id(request: Request) -> str | None:
    """``Last-Event-ID`` (a reconnecting EventSource sends it), else ``?last_event_id=`` (a
    page that shows a state already: a new EventSource cannot send headers)."""
    value = request.headers.get("last-event-id", "").strip()
    value = value or request.query_params.get("last_event_id", "").strip()
    return value if value and len(value) <= 100 and value.isprintable() else None


def streaming(request: Request, changes: AsyncGenerator[Change, None]) -> Response:
    """An SSE response of ``changes`` (for HEAD only the headers: a list stream never ends)."""
    if request.method == "HEAD":
        return Response(media_type="text/event-stream", headers=_HEADERS)
    return StreamingResponse(_frames(changes), media_type="text/event-stream", headers=_HEADERS)


async def run_stream(request: Request) -> Response:
    """GET /runs/{run_id}/stream: a run's changes until it ends."""
    state = _state(request)
    try:
        await state.client.open()
        await _principal(request, state)
        _known_query(request, {"last_event_id"})
        run_id = _path_id(request, "run_id", "run")
        ops = await state.operations()
        try:
            changes = await ops.watch_run(run_id, last_id=_last_id(request), idle=HEARTBEAT_SECONDS)
        except UnknownRun as exc:
            raise ApiError(404, "not_found", f"no run {run_id!r}") from exc
    except ApiError as exc:
        return exc.response()
    return streaming(request, changes)


async def runs_stream(request: Request) -> Response:
    """GET /runs/stream: the changes of the newest runs of a job and status."""
    state = _state(request)
    try:
        await state.client.open()
        await _principal(request, state)
        _known_query(request, {"job", "status", "limit", "last_event_id"})
        job = request.query_params.get("job")
        status = request.query_params.get("status")
        if job == "":
            raise ApiError(422, "invalid_query", "query parameter job must be a job id")
        if status is not None and status not in _STATUSES:
            raise ApiError(
                422,
                "invalid_query",
                f"query parameter status must be one of {', '.join(_STATUSES)}",
            )
        limit = _int_query(request, "limit", 20, 1, 200)
        ops = await state.operations()
        try:
            changes = await ops.watch_runs(
                job=job,
                status=status,
                limit=limit,
                last_id=_last_id(request),
                idle=HEARTBEAT_SECONDS,
            )
        except InvalidCursor as exc:
            raise ApiError(422, "invalid_query", str(exc)) from exc
    except ApiError as exc:
        return exc.response()
    return streaming(request, changes)


def stream_routes() -> list[Route]:
    """The streams' routes, relative to ``/api/v1`` (before ``/runs/{run_id}``, which would
    otherwise take ``/runs/stream``)."""
    return [
        Route("/runs/stream", runs_stream, methods=["GET"]),
        Route("/runs/{run_id}/stream", run_stream, methods=["GET"]),
    ]
