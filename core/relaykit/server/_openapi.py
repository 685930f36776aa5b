"""The OpenAPI 3.1 document of the JSON API, served at ``/api/v1/openapi.json``.

Request bodies are the pydantic models' own JSON Schemas; responses are written out here and
checked against the real responses by the schemathesis test (``tests/acceptance``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from .._version import __version__
from ..records import RunStatus, TaskStatus
from ._models import KvBody, SendEventBody, TestRunBody

_ANY: dict[str, Any] = {}
_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_NTIME = {"type": ["string", "null"], "format": "date-time"}
_TIME = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": [k for k in props if k not in optional],
    }


_ERROR_INFO = {
    "type": ["object", "null"],
    "properties": {"type": _STR, "message": _STR, "task": _NSTR, "traceback": _NSTR},
    "required": ["type", "message"],
}

_RUN = {
    "id": _STR,
    "job": _STR,
    "job_version": _STR,
    "status": {"type": "string", "enum": [s.value for s in RunStatus]},
    "is_test": {"type": "boolean"},
    "attempt": {"type": "integer"},
    "payload": _ANY,
    "output": _ANY,
    "error": _ERROR_INFO,
    "event_id": _NSTR,
    "environment": _STR,
    "created_at": _TIME,
    "started_at": _NTIME,
    "ended_at": _NTIME,
    "next_attempt_at": _NTIME,
}

_SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {"error": _obj({"code": _STR, "message": _STR, "details": _ANY}, optional=("details",))}
    ),
    "Job": _obj(
        {
            "id": _STR,
            "name": _STR,
            "version": _STR,
            "trigger": _STR,
            "trigger_kind": _STR,
            "enabled": {"type": "boolean"},
            "concurrency_limit": {"type": ["integer", "null"]},
            "integrations": {"type": "array", "items": _STR},
        }
    ),
    "JobList": _obj({"data": {"type": "array", "items": _ref("Job")}}),
    "Run": _obj(_RUN),
    "RunList": _obj(
        {
            "data": {"type": "array", "items": _ref("Run")},
            "next_offset": {"type": ["integer", "null"]},
        }
    ),
    "Task": _obj(
        {
            "key": _STR,
            "parent": _NSTR,
            "name": _STR,
            "kind": _STR,
            "status": {"type": "string", "enum": [s.value for s in TaskStatus]},
            "attempts": {"type": "integer"},
            "params": _ANY,
            "output": _ANY,
            "error": _ERROR_INFO,
            "properties": {"type": ["object", "null"]},
            "icon": _NSTR,
            "started_at": _NTIME,
            "ended_at": _NTIME,
            "next_attempt_at": _NTIME,
        }
    ),
    "Log": _obj(
        {
            "level": _STR,
            "message": _STR,
            "properties": {"type": "object"},
            "task": _NSTR,
            "at": _TIME,
        }
    ),
    "RunDetail": _obj(
        {
            **_RUN,
            "tasks": {"type": "array", "items": _ref("Task")},
            "logs": {"type": "array", "items": _ref("Log")},
        }
    ),
    "Event": _obj(
        {
            "id": _STR,
            "name": _STR,
            "payload": _ANY,
            "source": _STR,
            "timestamp": _TIME,
            "deliver_at": _NTIME,
            "status": {"type": "string", "enum": ["pending", "delivered", "canceled"]},
        }
    ),
    "EventList": _obj({"data": {"type": "array", "items": _ref("Event")}}),
    "EventSent": {
        "allOf": [
            _ref("Event"),
            _obj(
                {
                    "runs": {"type": "array", "items": _STR},
                    "duplicate": {"type": "boolean"},
                }
            ),
        ]
    },
    "KvEntry": _obj(
        {
            "namespace": {"type": "string", "enum": ["run", "job", "env"]},
            "owner": _STR,
            "name": _STR,
            "value": _ANY,
        }
    ),
    "SendEvent": SendEventBody.model_json_schema(),
    "TestRun": TestRunBody.model_json_schema(),
    "KvValue": KvBody.model_json_schema(),
}

_ERRORS = {
    "400": "Malformed JSON, or JSON nested more than 200 levels deep.",
    "401": "No API key, or a wrong or revoked one.",
    "404": "No such resource.",
    "409": "The request conflicts with the resource's state.",
    "413": "The body is over the size limit.",
    "422": "The body or a query parameter does not match the schema.",
}


def _responses(ok: dict[str, Any], *errors: str) -> dict[str, Any]:
    out = dict(ok)
    for code in ("401", "422", *errors):
        out[code] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return out


def _ok(status: str, schema: str, description: str) -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": _ref(schema)}},
        }
    }


def _body(schema: str, *, required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "content": {"application/json": {"schema": _ref(schema)}},
    }


def _path(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1, **schema},
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_LIMIT = _query(
    "limit", "How many items (at most).", {"type": "integer", "minimum": 1, "maximum": 200}
)
_RUN_ID = _path("run_id", "A run id.")
_JOB_ID = _path("job_id", "A job id.")
_KV_PARAMS = [
    _path("namespace", "The io.store namespace.", enum=["run", "job", "env"]),
    _path("owner", "The run id, job id or environment name."),
    _path("name", "The key's name."),
]
_BODY_ERRORS = ("400", "413")


def _paths() -> dict[str, Any]:
    return {
        "/events": {
            "post": {
                "operationId": "sendEvent",
                "summary": "Send an event (stored once per id; starts the runs it triggers).",
                "requestBody": _body("SendEvent"),
                "responses": _responses(
                    {
                        **_ok("201", "EventSent", "The event was stored."),
                        **_ok("200", "EventSent", "An event with this id was sent before."),
                    },
                    *_BODY_ERRORS,
                ),
            },
            "get": {
                "operationId": "listEvents",
                "summary": "The newest events.",
                "parameters": [_LIMIT],
                "responses": _responses(_ok("200", "EventList", "Events, newest first.")),
            },
        },
        "/events/{event_id}": {
            "get": {
                "operationId": "getEvent",
                "summary": "One event.",
                "parameters": [_path("event_id", "An event id.")],
                "responses": _responses(_ok("200", "Event", "The event."), "404"),
            }
        },
        "/jobs": {
            "get": {
                "operationId": "listJobs",
                "summary": "The jobs the app defines.",
                "responses": _responses(_ok("200", "JobList", "The jobs.")),
            }
        },
        "/jobs/{job_id}": {
            "get": {
                "operationId": "getJob",
                "summary": "One job.",
                "parameters": [_JOB_ID],
                "responses": _responses(_ok("200", "Job", "The job."), "404"),
            }
        },
        "/jobs/{job_id}/runs": {
            "post": {
                "operationId": "testRun",
                "summary": "Queue a test run of the job.",
                "parameters": [_JOB_ID],
                "requestBody": _body("TestRun", required=False),
                "responses": _responses(
                    _ok("201", "RunDetail", "The queued run."), "404", *_BODY_ERRORS
                ),
            }
        },
        "/runs": {
            "get": {
                "operationId": "listRuns",
                "summary": "Runs, newest first, by job and status, offset-paginated.",
                "parameters": [
                    _query("job", "Only runs of this job id.", {"type": "string", "minLength": 1}),
                    _query(
                        "status",
                        "Only runs in this state.",
                        {"type": "string", "enum": [s.value for s in RunStatus]},
                    ),
                    _LIMIT,
                    _query(
                        "offset",
                        "Skip this many runs (next_offset of the previous page).",
                        {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                    ),
                ],
                "responses": _responses(_ok("200", "RunList", "A page of runs.")),
            }
        },
        "/runs/{run_id}": {
            "get": {
                "operationId": "getRun",
                "summary": "A run with its tasks and logs.",
                "parameters": [_RUN_ID],
                "responses": _responses(_ok("200", "RunDetail", "The run."), "404"),
            }
        },
        "/runs/{run_id}/cancel": {
            "post": {
                "operationId": "cancelRun",
                "summary": "Cancel a run that has not ended.",
                "parameters": [_RUN_ID],
                "responses": _responses(_ok("200", "RunDetail", "The canceled run."), "404", "409"),
            }
        },
        "/runs/{run_id}/replay": {
            "post": {
                "operationId": "replayRun",
                "summary": "Queue a new run of the same job with the same payload.",
                "parameters": [_RUN_ID],
                "responses": _responses(_ok("201", "RunDetail", "The new run."), "404", "409"),
            }
        },
        "/kv/{namespace}/{owner}/{name}": {
            "parameters": _KV_PARAMS,
            "get": {
                "operationId": "getKv",
                "summary": "A key-value store entry (what io.store.<namespace> reads).",
                "responses": _responses(_ok("200", "KvEntry", "The entry."), "404"),
            },
            "put": {
                "operationId": "setKv",
                "summary": "Set a key-value store entry.",
                "requestBody": _body("KvValue"),
                "responses": _responses(
                    _ok("200", "KvEntry", "The entry as stored."), "404", *_BODY_ERRORS
                ),
            },
            "delete": {
                "operationId": "deleteKv",
                "summary": "Delete a key-value store entry (no error if absent).",
                "responses": _responses({"204": {"description": "Deleted."}}, "404"),
            },
        },
    }


@cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "relaykit API",
            "version": __version__,
            "description": "Send events, trigger test runs, inspect, cancel and replay runs.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }


def openapi_document(api_root: str) -> dict[str, Any]:
    """The document; ``servers`` is ``api_root``, where the API is mounted (``/api/v1`` under
    the app's own mount point)."""
    return {**_document(), "servers": [{"url": api_root or "/"}]}
