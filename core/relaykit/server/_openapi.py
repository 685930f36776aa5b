"""The OpenAPI 3.1 document of the JSON API, served at ``/api/v1/openapi.json``.

Its components are generated: the JSON Schemas of the resources every response is built from
(``relaykit.engine.resources``) and of the request bodies the API validates with
(``_models``), so the document, the responses and the validation cannot drift apart. Only
the paths and operations are described here. The schemathesis test (``tests/acceptance``)
checks real responses against it.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .._version import __version__
from ..engine.operations import CURSOR_PATTERNS, MAX_LIMIT
from ..engine.resources import (
    RESOURCES,
    BulkResult,
    ErrorBody,
    Event,
    EventPage,
    EventSent,
    Job,
    JobList,
    KvEntry,
    Log,
    Run,
    RunDetail,
    RunPage,
    Task,
    Token,
    TokenList,
)
from ..records import RunStatus
from ._models import BulkBody, KvBody, ReplayBody, RetryBody, SendEventBody, TestRunBody

_REF_TEMPLATE: Final = "#/components/schemas/{model}"
_BODIES: Final[tuple[type[BaseModel], ...]] = (
    SendEventBody,
    TestRunBody,
    KvBody,
    RetryBody,
    ReplayBody,
    BulkBody,
)
Mode = Literal["validation", "serialization"]


@cache
def _components() -> tuple[dict[tuple[type[BaseModel], Mode], Any], dict[str, Any]]:
    """Each model's reference, and the schemas: responses as they are serialized, request
    bodies as they are validated."""
    wanted: list[tuple[type[BaseModel], Mode]] = [(m, "serialization") for m in RESOURCES]
    wanted += [(m, "validation") for m in _BODIES]
    refs, top = models_json_schema(wanted, ref_template=_REF_TEMPLATE)
    return {key: refs[key] for key in wanted}, dict(top.get("$defs", {}))


def component_schemas() -> dict[str, Any]:
    """``components.schemas``: every resource's and request body's JSON Schema by name."""
    return _components()[1]


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    mode: Mode = "validation" if model in _BODIES else "serialization"
    ref: dict[str, Any] = _components()[0][(model, mode)]
    return ref


_ERRORS = {
    "400": "Malformed JSON, JSON nested more than 200 levels deep, or a bad cursor.",
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
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
    return out


def _ok(status: str, schema: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": _ref(schema)}},
        }
    }


def _body(schema: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
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
    "limit", "How many items (at most).", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
)


def _cursor(kind: str) -> dict[str, Any]:
    return _query(
        "cursor",
        "The next page: the previous page's next_cursor (opaque; leave out for the first page).",
        {"type": "string", "pattern": CURSOR_PATTERNS[kind]},
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
                "requestBody": _body(SendEventBody),
                "responses": _responses(
                    {
                        **_ok("201", EventSent, "The event was stored."),
                        **_ok("200", EventSent, "An event with this id was sent before."),
                    },
                    *_BODY_ERRORS,
                ),
            },
            "get": {
                "operationId": "listEvents",
                "summary": "The newest events.",
                "parameters": [_LIMIT, _cursor("events")],
                "responses": _responses(_ok("200", EventPage, "Events, newest first."), "400"),
            },
        },
        "/events/{event_id}": {
            "get": {
                "operationId": "getEvent",
                "summary": "One event.",
                "parameters": [_path("event_id", "An event id.")],
                "responses": _responses(_ok("200", Event, "The event."), "404"),
            }
        },
        "/jobs": {
            "get": {
                "operationId": "listJobs",
                "summary": "The jobs the app defines.",
                "responses": _responses(_ok("200", JobList, "The jobs.")),
            }
        },
        "/jobs/{job_id}": {
            "get": {
                "operationId": "getJob",
                "summary": "One job.",
                "parameters": [_JOB_ID],
                "responses": _responses(_ok("200", Job, "The job."), "404"),
            }
        },
        "/jobs/{job_id}/runs": {
            "post": {
                "operationId": "testRun",
                "summary": "Queue a test run of the job.",
                "parameters": [_JOB_ID],
                "requestBody": _body(TestRunBody, required=False),
                "responses": _responses(
                    _ok("201", RunDetail, "The queued run."), "404", *_BODY_ERRORS
                ),
            }
        },
        "/runs": {
            "get": {
                "operationId": "listRuns",
                "summary": "Runs, newest first, by job and status, a page at a time (by cursor).",
                "parameters": [
                    _query("job", "Only runs of this job id.", {"type": "string", "minLength": 1}),
                    _query("tag", "Only runs with this tag.", {"type": "string", "minLength": 1}),
                    _query(
                        "status",
                        "Only runs in this state.",
                        {"type": "string", "enum": [s.value for s in RunStatus]},
                    ),
                    _LIMIT,
                    _cursor("runs"),
                ],
                "responses": _responses(_ok("200", RunPage, "A page of runs."), "400"),
            }
        },
        "/runs/{run_id}": {
            "get": {
                "operationId": "getRun",
                "summary": "A run with its tasks and logs.",
                "parameters": [_RUN_ID],
                "responses": _responses(_ok("200", RunDetail, "The run."), "404"),
            }
        },
        "/runs/{run_id}/cancel": {
            "post": {
                "operationId": "cancelRun",
                "summary": "Cancel a run that has not ended.",
                "parameters": [_RUN_ID],
                "responses": _responses(_ok("200", RunDetail, "The canceled run."), "404", "409"),
            }
        },
        "/runs/{run_id}/replay": {
            "post": {
                "operationId": "replayRun",
                "summary": "Queue a new run of the same job with the same (or an edited) payload.",
                "parameters": [_RUN_ID],
                "requestBody": _body(ReplayBody, required=False),
                "responses": _responses(
                    _ok("201", RunDetail, "The new run."), "404", "409", *_BODY_ERRORS
                ),
            }
        },
        "/runs/bulk": {
            "post": {
                "operationId": "bulkRuns",
                "summary": (
                    "Cancel, replay or retry every run matching filters (at most 10,000 per "
                    "call); a dry run counts them and changes nothing."
                ),
                "requestBody": _body(BulkBody),
                "responses": _responses(
                    _ok("200", BulkResult, "What was done (or would be)."), *_BODY_ERRORS
                ),
            }
        },
        "/runs/{run_id}/retry": {
            "post": {
                "operationId": "retryRun",
                "summary": (
                    "Queue a new run resuming this one where it stopped (completed tasks kept), "
                    "or forked from a task, or with another payload; the run stays as it was."
                ),
                "parameters": [_RUN_ID],
                "requestBody": _body(RetryBody, required=False),
                "responses": _responses(
                    _ok("201", RunDetail, "The new run."), "404", "409", *_BODY_ERRORS
                ),
            }
        },
        **_token_paths(),
        "/kv/{namespace}/{owner}/{name}": {
            "parameters": _KV_PARAMS,
            "get": {
                "operationId": "getKv",
                "summary": "A key-value store entry (what io.store.<namespace> reads).",
                "responses": _responses(_ok("200", KvEntry, "The entry."), "404"),
            },
            "put": {
                "operationId": "setKv",
                "summary": "Set a key-value store entry.",
                "requestBody": _body(KvBody),
                "responses": _responses(
                    _ok("200", KvEntry, "The entry as stored."), "404", *_BODY_ERRORS
                ),
            },
            "delete": {
                "operationId": "deleteKv",
                "summary": "Delete a key-value store entry (no error if absent).",
                "responses": _responses({"204": {"description": "Deleted."}}, "404"),
            },
        },
    }


_TOKEN_ID = _path("token_id", "A waitpoint token id.")


def _token_paths() -> dict[str, Any]:
    return {
        "/tokens": {
            "get": {
                "operationId": "listTokens",
                "summary": "Waitpoint tokens, newest first (of one run).",
                "parameters": [
                    _query(
                        "run", "Only tokens of this run id.", {"type": "string", "minLength": 1}
                    ),
                    _LIMIT,
                ],
                "responses": _responses(_ok("200", TokenList, "Tokens, newest first.")),
            }
        },
        "/tokens/{token_id}": {
            "get": {
                "operationId": "getToken",
                "summary": "One waitpoint token.",
                "parameters": [_TOKEN_ID],
                "responses": _responses(_ok("200", Token, "The token."), "404"),
            }
        },
        "/tokens/{token_id}/complete": {
            "post": {
                "operationId": "completeToken",
                "summary": (
                    "Complete a waitpoint token with the body as its data; the run waiting "
                    "for it resumes. Authorized by an API key or the token url's signature."
                ),
                "parameters": [
                    _TOKEN_ID,
                    _query(
                        "signature",
                        "The signature from the token's url (instead of an API key).",
                        {"type": "string"},
                    ),
                ],
                "security": [{"apiKey": []}, {}],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {"description": "The data (any JSON value)."}
                        }
                    },
                },
                "responses": _responses(
                    _ok("200", Token, "The completed token."), "404", "409", *_BODY_ERRORS
                ),
            }
        },
    }


_STREAM_FORMAT: Final = (
    "Server-sent events (text/event-stream). Each event has `id` (a digest of the watched "
    "state after it: send it back as `Last-Event-ID` on reconnecting and nothing is repeated "
    "while that state holds), `event` and `data` (JSON): `run` (a Run), `task` (a Task), "
    "`log` (a Log: a new log line), `metadata` (the run's `tags` and `metadata`), "
    '`remove` (`{"id": ...}`: a run left the watched list) and `end` (the Run as it ended; '
    "the stream closes). A `: keep-alive` comment comes after 15 s without a change. "
    "Authenticated by API key or by the dashboard's session cookie."
)


def _stream_ok(what: str, *events: type[BaseModel]) -> dict[str, Any]:
    return {
        "200": {
            "description": f"{what}. {_STREAM_FORMAT}",
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "x-relaykit-events": {m.__name__.lower(): _ref(m) for m in events},
                }
            },
        }
    }


_LAST_EVENT_ID = _query(
    "last_event_id",
    "The id of the state already shown (as the Last-Event-ID header): only later changes.",
    {"type": "string", "maxLength": 100},
)


def _stream_paths() -> dict[str, Any]:
    return {
        "/runs/stream": {
            "get": {
                "operationId": "streamRuns",
                "summary": "The newest runs of a job and status as they change (SSE).",
                "parameters": [
                    _query("job", "Only runs of this job id.", {"type": "string", "minLength": 1}),
                    _query(
                        "status",
                        "Only runs in this state.",
                        {"type": "string", "enum": [s.value for s in RunStatus]},
                    ),
                    _query(
                        "limit",
                        "How many of the newest runs to watch.",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    ),
                    _LAST_EVENT_ID,
                ],
                "responses": _responses(
                    _stream_ok("The watched runs, oldest first, then each change", Run)
                ),
            }
        },
        "/runs/{run_id}/stream": {
            "get": {
                "operationId": "streamRun",
                "summary": "A run and its tasks as they change, until the run ends (SSE).",
                "parameters": [_RUN_ID, _LAST_EVENT_ID],
                "responses": _responses(
                    _stream_ok("The run, its tasks and logs, then each change", Run, Task, Log),
                    "404",
                ),
            }
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
        "paths": {**_paths(), **_stream_paths()},
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }


def openapi_document(api_root: str) -> dict[str, Any]:
    """The document; ``servers`` is ``api_root``, where the API is mounted (``/api/v1`` under
    the app's own mount point)."""
    return {**_document(), "servers": [{"url": api_root or "/"}]}
