"""The JSON API under ``/api/v1``: events, jobs, test runs, runs, cancel, replay, key-value.

Every route but the OpenAPI document needs ``Authorization: Bearer <API key>``. Errors are
``{"error": {"code": ..., "message": ...}}`` with a 4xx status: 400 malformed JSON (code
``json_too_deep``: nested deeper than ``MAX_JSON_DEPTH``) or a cursor no page handed out
(``invalid_cursor``), 401 no or a wrong key, 404 an unknown id, 409 a conflict (cancelling
an ended run), 413 a body over the client's ``max_payload_bytes``, 422 a body or query that
does not match the schema. A request that fails changes nothing: it is refused before
anything is written. Every handler calls ``relaykit.engine.operations``, and every response
body is a ``relaykit.engine.resources`` model.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import pydantic
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._base.serde import parse_json
from ..definitions.events import delivery_time
from ..engine.operations import MAX_LIMIT
from ..engine.resources import Resource, RunDetail
from ..errors import (
    InvalidCursor,
    JsonTooDeep,
    NotFound,
    PayloadTooLarge,
    RelaykitError,
    StoreError,
    UnknownEvent,
    UnknownJob,
    UnknownRun,
)
from ..records import RunStatus
from ._auth import Principal
from ._models import KvBody, ReplayBody, SendEventBody, TestRunBody
from ._openapi import openapi_document
from ._state import ServerState

M = TypeVar("M", bound=pydantic.BaseModel)
Handler = Callable[[Request], Awaitable[Response]]

# Room for the envelope around a payload (event name, id, ...), over max_payload_bytes.
_ENVELOPE_BYTES: Final = 16 * 1024
_KV_NAMESPACES: Final = ("run", "job", "env")
_STATUSES: Final = tuple(s.value for s in RunStatus)


class ApiError(Exception):
    """A request refused with ``status`` and a JSON error body."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def response(self) -> JSONResponse:
        """The JSON error response."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse({"error": body}, status_code=self.status, headers=headers)


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.relaykit
    return state


def endpoint(fn: Callable[[Request, ServerState], Awaitable[Response]]) -> Handler:
    """Authenticate, open the store, run ``fn`` and turn ``ApiError``s into responses."""

    async def handle(request: Request) -> Response:
        state = _state(request)
        try:
            await state.client.open()
            request.state.principal = await _authenticate(request, state)
            return await fn(request, state)
        except ApiError as exc:
            return exc.response()

    handle.__name__ = fn.__name__
    handle.__doc__ = fn.__doc__
    return handle


async def _authenticate(request: Request, state: ServerState) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send `Authorization: Bearer <key>` (make one with "
            "`relaykit keys create`)",
        )
    principal = await state.access.check_key(secret.strip())
    if principal is None:
        raise ApiError(401, "unauthorized", "the API key is wrong or revoked")
    return principal


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # stop reading: a client may lie in Content-Length or omit it
            raise _too_large(len(body), limit)
    if not body.strip():
        return None
    try:
        data = parse_json(body, what="the request body")
        # A lone surrogate (\ud800) parses but cannot be stored: refuse it here.
        json.dumps(data, ensure_ascii=False).encode()
    except JsonTooDeep as exc:
        raise ApiError(400, "json_too_deep", exc.message) from exc
    except (ValueError, UnicodeError) as exc:
        raise ApiError(400, "malformed_json", f"the request body is not valid JSON: {exc}") from exc
    return data


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"the request body is {size:,} bytes, over the limit of {limit:,}; send a smaller "
        "payload or raise Client(max_payload_bytes=...)",
    )


async def _body(request: Request, state: ServerState, model: type[M], *, empty: bool) -> M:
    data = await _read_json(request, state.client.max_payload_bytes + _ENVELOPE_BYTES)
    if data is None:
        if not empty:
            raise ApiError(400, "malformed_json", "the request body is empty; send a JSON object")
        data = {}
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        details = [{"loc": [str(p) for p in e["loc"]], "message": e["msg"]} for e in exc.errors()]
        where = ", ".join(".".join(d["loc"]) or "body" for d in details)
        raise ApiError(
            422, "invalid_body", f"the request body is invalid at {where}", details
        ) from exc


def _path_id(request: Request, name: str, what: str) -> str:
    value = str(request.path_params[name])
    if not value or not value.isprintable():
        raise ApiError(404, "not_found", f"no {what} {value!r}")
    return value


def _int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(
            422, "invalid_query", f"query parameter {name} must be an integer in [{low}, {high}]"
        )
    return value


def _known_query(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ApiError(
            422,
            "invalid_query",
            f"unknown query parameter(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed)) or 'none'}",
        )


# -- events -----------------------------------------------------------------------------------


def _resource(resource: Resource, status_code: int = 200) -> JSONResponse:
    return JSONResponse(resource.to_json(), status_code=status_code)


def _cursor(request: Request) -> str | None:
    cursor = request.query_params.get("cursor")
    if cursor is not None and (not cursor or len(cursor) > 1000):
        raise ApiError(400, "invalid_cursor", "query parameter cursor is not a page's next_cursor")
    return cursor


def _bad_cursor(exc: InvalidCursor) -> ApiError:
    return ApiError(400, "invalid_cursor", " ".join(str(exc).split()))


async def send_event(request: Request, state: ServerState) -> Response:
    """POST /events: store an event once and start the runs it triggers."""
    body = await _body(request, state, SendEventBody, empty=False)
    ops = await state.operations()
    try:
        when = delivery_time(None, body.deliver_after, state.client.clock.now(), "POST /events")
        sent = await ops.send_event(body.name, body.payload, event_id=body.id, deliver_at=when)
    except PayloadTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from exc
    except StoreError:
        raise  # the database failed: a 503 (server/__init__.py), not the caller's fault
    except RelaykitError as exc:
        raise ApiError(422, "invalid_event", str(exc)) from exc
    return _resource(sent, 200 if sent.duplicate else 201)


async def list_events(request: Request, state: ServerState) -> Response:
    """GET /events: the newest events, a page at a time (``cursor``: a ``next_cursor``)."""
    _known_query(request, {"limit", "cursor"})
    limit = _int_query(request, "limit", 50, 1, MAX_LIMIT)
    ops = await state.operations()
    try:
        return _resource(await ops.list_events(cursor=_cursor(request), limit=limit))
    except InvalidCursor as exc:
        raise _bad_cursor(exc) from exc


async def get_event(request: Request, state: ServerState) -> Response:
    """GET /events/{event_id}."""
    event_id = _path_id(request, "event_id", "event")
    try:
        return _resource(await (await state.operations()).get_event(event_id))
    except UnknownEvent as exc:
        raise ApiError(404, "not_found", f"no event {event_id!r}") from exc


# -- jobs -------------------------------------------------------------------------------------


async def list_jobs(request: Request, state: ServerState) -> Response:
    """GET /jobs: the jobs this app defines."""
    _known_query(request, set())
    return _resource((await state.operations()).list_jobs())


async def get_job(request: Request, state: ServerState) -> Response:
    """GET /jobs/{job_id}."""
    job_id = _path_id(request, "job_id", "job")
    try:
        return _resource((await state.operations()).get_job(job_id))
    except UnknownJob as exc:
        raise ApiError(404, "not_found", str(exc)) from exc


async def test_run(request: Request, state: ServerState) -> Response:
    """POST /jobs/{job_id}/runs: queue a test run of the job with a payload."""
    job_id = _path_id(request, "job_id", "job")
    ops = await state.operations()
    try:
        ops.job(job_id)
    except UnknownJob as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    body = await _body(request, state, TestRunBody, empty=True)
    try:
        run = await ops.test_run(job_id, body.payload)
    except PayloadTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from exc
    except StoreError:
        raise  # the database failed: a 503 (server/__init__.py), not the caller's fault
    except RelaykitError as exc:
        raise ApiError(422, "invalid_payload", str(exc)) from exc
    return _resource(run, 201)


# -- runs -------------------------------------------------------------------------------------


async def list_runs(request: Request, state: ServerState) -> Response:
    """GET /runs: runs newest first, filtered by job and status, a page at a time
    (``cursor``: the previous page's ``next_cursor``)."""
    _known_query(request, {"job", "status", "limit", "cursor", "tag"})
    tag = request.query_params.get("tag")
    if tag == "":
        raise ApiError(422, "invalid_query", "query parameter tag must be a tag")
    job = request.query_params.get("job")
    status = request.query_params.get("status")
    if job == "":
        raise ApiError(422, "invalid_query", "query parameter job must be a job id")
    if status is not None and status not in _STATUSES:
        raise ApiError(
            422, "invalid_query", f"query parameter status must be one of {', '.join(_STATUSES)}"
        )
    limit = _int_query(request, "limit", 20, 1, MAX_LIMIT)
    ops = await state.operations()
    try:
        page = await ops.list_runs(
            job=job, status=status, cursor=_cursor(request), limit=limit, tag=tag
        )
    except InvalidCursor as exc:
        raise _bad_cursor(exc) from exc
    return _resource(page)


async def _run_detail(state: ServerState, run_id: str) -> RunDetail:
    try:
        return await (await state.operations()).get_run(run_id)
    except UnknownRun as exc:
        raise ApiError(404, "not_found", f"no run {run_id!r}") from exc


async def get_run(request: Request, state: ServerState) -> Response:
    """GET /runs/{run_id}: a run with its tasks and logs."""
    return _resource(await _run_detail(state, _path_id(request, "run_id", "run")))


async def cancel_run(request: Request, state: ServerState) -> Response:
    """POST /runs/{run_id}/cancel: cancel a run that has not ended."""
    run_id = _path_id(request, "run_id", "run")
    try:
        done = await (await state.operations()).cancel_run(run_id)
    except UnknownRun as exc:
        raise ApiError(404, "not_found", f"no run {run_id!r}") from exc
    if not done.canceled:
        raise ApiError(409, "run_ended", f"run {run_id} already ended ({done.run.status})")
    return _resource(done.run)


async def replay_run(request: Request, state: ServerState) -> Response:
    """POST /runs/{run_id}/replay: a new run of the same job with the same payload (or the
    body's ``payload``)."""
    run_id = _path_id(request, "run_id", "run")
    body = await _body(request, state, ReplayBody, empty=True)
    extra = {"payload": body.payload} if "payload" in body.model_fields_set else {}
    ops = await state.operations()
    try:
        new = await ops.replay_run(run_id, **extra)
    except PayloadTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from exc
    except UnknownRun as exc:
        raise ApiError(404, "not_found", f"no run {run_id!r}") from exc
    except UnknownJob as exc:
        raise ApiError(409, "unknown_job", str(exc)) from exc
    return _resource(await _run_detail(state, new.id), 201)


# -- key-value store --------------------------------------------------------------------------


def _kv_key(request: Request) -> tuple[str, str, str]:
    namespace = str(request.path_params["namespace"])
    if namespace not in _KV_NAMESPACES:
        raise ApiError(404, "not_found", f"no key-value namespace {namespace!r} (run, job, env)")
    owner = _path_id(request, "owner", f"{namespace} scope")
    name = _path_id(request, "name", "key")
    return namespace, owner, name


async def kv_get(request: Request, state: ServerState) -> Response:
    """GET /kv/{namespace}/{owner}/{name}: what ``io.store.<namespace>`` holds there."""
    key = _kv_key(request)
    try:
        return _resource(await (await state.operations()).get_kv(*key))
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from exc


async def kv_put(request: Request, state: ServerState) -> Response:
    """PUT /kv/{namespace}/{owner}/{name}: set a value (runs see it with ``io.store``)."""
    key = _kv_key(request)
    body = await _body(request, state, KvBody, empty=False)
    return _resource(await (await state.operations()).set_kv(*key, body.value))


async def kv_delete(request: Request, state: ServerState) -> Response:
    """DELETE /kv/{namespace}/{owner}/{name}: remove a key (nothing happens if absent)."""
    await (await state.operations()).delete_kv(*_kv_key(request))
    return Response(status_code=204)


async def openapi(request: Request) -> Response:
    """GET /openapi.json: this API's OpenAPI 3.1 document (no key needed)."""
    # Under Mount("/api/v1") the root path already ends with the API's own prefix.
    return JSONResponse(openapi_document(str(request.scope.get("root_path", ""))))


def _route(path: str, handlers: dict[str, Handler]) -> Route:
    """One route per path, dispatching on the method, so a 405 names every allowed method in
    its ``Allow`` header (one Route per method would name only the first one's)."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers))


def api_routes() -> list[Route]:
    """The API's routes, relative to ``/api/v1``."""
    return [
        _route("/openapi.json", {"GET": openapi}),
        _route("/events", {"GET": endpoint(list_events), "POST": endpoint(send_event)}),
        _route("/events/{event_id}", {"GET": endpoint(get_event)}),
        _route("/jobs", {"GET": endpoint(list_jobs)}),
        _route("/jobs/{job_id}", {"GET": endpoint(get_job)}),
        _route("/jobs/{job_id}/runs", {"POST": endpoint(test_run)}),
        _route("/runs", {"GET": endpoint(list_runs)}),
        _route("/runs/{run_id}", {"GET": endpoint(get_run)}),
        _route("/runs/{run_id}/cancel", {"POST": endpoint(cancel_run)}),
        _route("/runs/{run_id}/replay", {"POST": endpoint(replay_run)}),
        _route(
            "/kv/{namespace}/{owner}/{name}",
            {"GET": endpoint(kv_get), "PUT": endpoint(kv_put), "DELETE": endpoint(kv_delete)},
        ),
    ]
