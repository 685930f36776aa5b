"""``POST /runs/{run_id}/retry``: a new run resuming a run where it stopped (or forked from a
task, or with another payload) — ``Operations.retry_run``; ``POST /runs/bulk``: cancel,
replay or retry the runs matching filters — ``Operations.bulk``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..errors import PayloadTooLarge, RunNotRetriable, UnknownJob, UnknownRun, UnknownTask
from ._api import ApiError, _body, _path_id, _resource, _run_detail
from ._models import BulkBody, BulkFilters, RetryBody
from ._state import ServerState


async def retry_run(request: Request, state: ServerState) -> Response:
    """POST /runs/{run_id}/retry: queue a new run resuming this one where it stopped."""
    run_id = _path_id(request, "run_id", "run")
    body = await _body(request, state, RetryBody, empty=True)
    extra = {"payload": body.payload} if "payload" in body.model_fields_set else {}
    ops = await state.operations()
    try:
        new = await ops.retry_run(run_id, from_task=body.from_task, **extra)
    except UnknownRun as exc:
        raise ApiError(404, "not_found", f"no run {run_id!r}") from exc
    except UnknownTask as exc:
        raise ApiError(422, "unknown_task", str(exc)) from exc
    except (RunNotRetriable, UnknownJob) as exc:
        raise ApiError(409, "not_retriable", str(exc)) from exc
    except PayloadTooLarge as exc:
        raise ApiError(413, "payload_too_large", str(exc)) from exc
    return _resource(await _run_detail(state, new.id), 201)


async def bulk_runs(request: Request, state: ServerState) -> Response:
    """POST /runs/bulk: cancel, replay or retry every run matching the filters (a dry run
    counts them)."""
    body = await _body(request, state, BulkBody, empty=False)
    ops = await state.operations()
    filters = body.filters or BulkFilters()
    result = await ops.bulk(
        body.action,
        dry_run=body.dry_run,
        job=filters.job,
        status=filters.status,
        tag=filters.tag,
        version=filters.version,
        since=filters.since,
        until=filters.until,
    )
    return _resource(result)
