"""The dashboard's waitpoint token form: a run waiting for a token shows it with Approve and
Reject buttons and an optional JSON object of data; the form completes the token through
``Operations.complete_token`` (the same path as the API, the CLI and the client)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .._base.serde import parse_json
from ..errors import TokenNotWaiting, UnknownToken
from ._dashboard import _path_id, _redirect, _render, action
from ._state import ServerState

_EXAMPLE = '{"note": "ok"}'


def _data(form: Any) -> dict[str, Any] | str:
    """The token's data from the form: ``{"approved": bool}`` and the JSON object given, or
    a one-line error."""
    approved = str(form.get("decision", "")) == "approve"
    text = str(form.get("data", "")).strip()
    extra: Any = {}
    if text:
        try:
            extra = parse_json(text, what="the data")
        except ValueError as exc:
            return (
                f'the data is not valid JSON ({exc}); give a JSON object such as {{"note": "ok"}}'
            )
        if not isinstance(extra, dict):
            return 'the data must be a JSON object, such as {"note": "ok"}'
    return {**extra, "approved": approved}


@action
async def complete_token(request: Request, state: ServerState, form: Any) -> Response:
    """POST /runs/{run_id}/tokens/{token_id}: approve or reject a waiting token."""
    run_id = _path_id(request, "run_id")
    token_id = _path_id(request, "token_id")
    data = _data(form)
    if isinstance(data, str):
        return HTMLResponse(data, status_code=400)
    ops = await state.operations()
    try:
        token = await ops.get_token(token_id)
        if token.run_id != run_id:
            raise UnknownToken(token_id)
        await ops.complete_token(token_id, data)
    except UnknownToken:
        return _render(request, "not_found.html", 404, what=f"token {token_id!r} of run {run_id!r}")
    except TokenNotWaiting as exc:
        return HTMLResponse(str(exc), status_code=409)
    return _redirect(request, f"/runs/{run_id}")


def token_dashboard_routes() -> list[Route]:
    """The dashboard's token form route (relative to the app's root)."""
    return [Route("/runs/{run_id}/tokens/{token_id}", complete_token, methods=["POST"])]
