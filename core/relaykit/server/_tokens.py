"""The waitpoint token routes of the JSON API: list and read tokens, and complete one.

``POST /tokens/{token_id}/complete`` takes the data as its JSON body (any JSON value; an
empty body is null). It is authorized by an API key (``Authorization: Bearer``) or by the
token's own signed callback URL (``?signature=``, the token's ``url``), so a person or a
system given only that URL can complete that one token and nothing else. A wrong signature
is 401 whatever the token; an unknown token 404; a token completed before or timed out 409,
its data unchanged. Every handler calls ``Operations``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine.operations import MAX_LIMIT
from ..errors import TokenNotWaiting, UnknownToken
from ._api import (
    ApiError,
    Handler,
    _authenticate,
    _int_query,
    _known_query,
    _path_id,
    _read_json,
    _resource,
    _route,
    _state,
    endpoint,
)
from ._retry import bulk_runs, retry_run
from ._state import ServerState

_ENVELOPE_BYTES = 16 * 1024


async def list_tokens(request: Request, state: ServerState) -> Response:
    """GET /tokens: waitpoint tokens newest first (``run``: of one run)."""
    _known_query(request, {"run", "limit"})
    run_id = request.query_params.get("run")
    if run_id == "":
        raise ApiError(422, "invalid_query", "query parameter run must be a run id")
    limit = _int_query(request, "limit", 50, 1, MAX_LIMIT)
    ops = await state.operations()
    return _resource(await ops.list_tokens(run_id=run_id, limit=limit))


async def get_token(request: Request, state: ServerState) -> Response:
    """GET /tokens/{token_id}."""
    token_id = _path_id(request, "token_id", "token")
    try:
        return _resource(await (await state.operations()).get_token(token_id))
    except UnknownToken as exc:
        raise ApiError(404, "not_found", f"no token {token_id!r}") from exc


async def complete_token(request: Request) -> Response:
    """POST /tokens/{token_id}/complete: complete a token with the body as its data."""
    state = _state(request)
    try:
        await state.client.open()
        token_id = _path_id(request, "token_id", "token")
        _known_query(request, {"signature"})
        ops = await state.operations()
        signature = request.query_params.get("signature")
        if signature is None:
            request.state.principal = await _authenticate(request, state)
        elif not ops.check_token_signature(token_id, signature):
            raise ApiError(
                401,
                "bad_signature",
                f"the signature does not match token {token_id!r}: use the token's url as "
                "given, or an API key",
            )
        data = await _read_json(request, state.client.max_payload_bytes + _ENVELOPE_BYTES)
        try:
            return _resource(await ops.complete_token(token_id, data))
        except UnknownToken as exc:
            raise ApiError(404, "not_found", f"no token {token_id!r}") from exc
        except TokenNotWaiting as exc:
            raise ApiError(409, f"token_{exc.status}", str(exc)) from exc
    except ApiError as exc:
        return exc.response()


def run_control_routes() -> list[Route]:
    """The API routes of run control (relative to ``/api/v1``): waitpoint tokens and
    retrying a run. ``create_app`` adds them beside ``api_routes``; kept apart so this
    module depends on ``_api``, never the other way round."""
    handlers: dict[str, dict[str, Handler]] = {
        "/tokens": {"GET": endpoint(list_tokens)},
        "/tokens/{token_id}": {"GET": endpoint(get_token)},
        "/tokens/{token_id}/complete": {"POST": complete_token},
        "/runs/{run_id}/retry": {"POST": endpoint(retry_run)},
        "/runs/bulk": {"POST": endpoint(bulk_runs)},
    }
    return [_route(path, methods) for path, methods in handlers.items()]
