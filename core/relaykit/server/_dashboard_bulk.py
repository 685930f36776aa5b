"""The dashboard's bulk action: the runs page's filters and an action (cancel, replay,
retry) are posted here; the first post shows the dry-run count (``Operations.bulk`` with
``dry_run``) and a confirmation form, the confirmed post acts — on the runs created up to the
moment the count was shown, so the runs acted on are the ones counted."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine.operations import BULK_ACTIONS
from ._dashboard import _SINCE, _STATUSES, _render, action
from ._state import ServerState

_TEXT_FILTERS = ("job", "version", "tag")


def _filters(form: Any) -> dict[str, str]:
    """The runs page's filters from the form (a value no filter takes is dropped)."""
    found = {
        name: value
        for name in _TEXT_FILTERS
        if (value := str(form.get(name, "")).strip()) and value.isprintable()
    }
    if form.get("status") in _STATUSES:
        found["status"] = str(form["status"])
    if form.get("since") in _SINCE:
        found["since"] = str(form["since"])
    return found


def _until(form: Any) -> float | None:
    try:
        until = float(str(form.get("until", "")))
    except ValueError:
        return None
    return until if math.isfinite(until) and until > 0 else None


@action
async def bulk_runs(request: Request, state: ServerState, form: Any) -> Response:
    """POST /runs/bulk: the dry-run count and a confirmation, or (``confirm``) the action."""
    verb = str(form.get("action", ""))
    filters = _filters(form)
    if verb not in BULK_ACTIONS:
        return _render(request, "bulk.html", 422, error=f"no bulk action {verb!r}", filters=filters)
    now = state.client.clock.now()
    confirmed = form.get("confirm") == "yes"
    until = _until(form) if confirmed else now
    since = filters.get("since")
    result = await (await state.operations()).bulk(
        verb,
        job=filters.get("job"),
        status=filters.get("status"),
        tag=filters.get("tag"),
        version=filters.get("version"),
        since=None if since is None else now - _SINCE[since],
        until=until,
        dry_run=not confirmed,
    )
    return _render(
        request,
        "bulk.html",
        error=None,
        result=result.to_json(),
        filters=filters,
        until=repr(until) if until is not None else "",
        would_do=result.matched - sum(result.skipped.values()),
    )


def bulk_dashboard_routes() -> list[Route]:
    """The dashboard's bulk action route (relative to the app's root)."""
    return [Route("/runs/bulk", bulk_runs, methods=["POST"])]
