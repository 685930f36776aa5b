"""Generate the Slack test data and cassettes from Slack's official descriptions.

Slack is not reachable from the machines this project is built on, so the cassettes are made
from the Web API's Swagger 2.0 description instead of recorded: each success body is the
example the description publishes for that method (checked against the response schema by
``test_slack_cassettes.py``), each error body one its error schema allows, and each request the
one the API function sends.

Two steps (run from the repository root)::

    PYTHONPATH=. python integrations/slack/tests/make_slack_cassettes.py --extract
        # reads ../shared/specs and rewrites tests/data/ (the methods the package calls, with
        # every schema and example they reference; the Events API envelope schema)
    PYTHONPATH=. python integrations/slack/tests/make_slack_cassettes.py
        # rewrites tests/cassettes/ from tests/data/slack-operations.json alone

Sources (both MIT): github.com/slackapi/slack-api-specs ``web-api/slack_web_openapi_v2.json``
(version 1.7.0) and ``events-api/slack_events-api_async_v1.json``.

The Swagger file predates the external-upload methods (``files.getUploadURLExternal``,
``files.completeUploadExternal``); ``FILES_V2`` describes them from Slack's current method
reference pages, and the extract marks them ``x-relaykit-source: hand-written``. It also has
one schema that contradicts its own example (``SCHEMA_FIXES``).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DATA = HERE / "data"
CASSETTES = HERE / "cassettes"
OPERATIONS_FILE = DATA / "slack-operations.json"
ENVELOPE_FILE = DATA / "slack-events-envelope.json"
API = "https://slack.com/api"
UPLOAD_URL = "https://files.slack.com/upload/v1/CwABAAAAXAoAAVnX0r4"

# Every Web API method relaykit_slack calls that the official description has, plus
# oauth.v2.access (whose response example the OAuth tests read): (method, path template).
OPERATIONS = [
    ("POST", "/chat.postMessage"),
    ("POST", "/chat.update"),
    ("POST", "/chat.delete"),
    ("POST", "/reactions.add"),
    ("POST", "/conversations.join"),
    ("GET", "/conversations.list"),
    ("GET", "/conversations.history"),
    ("GET", "/conversations.replies"),
    ("GET", "/conversations.info"),
    ("GET", "/users.info"),
    ("GET", "/users.lookupByEmail"),
    ("GET", "/files.info"),
]
OAUTH_OPERATION = ("GET", "/oauth.v2.access")
FILES_V2_OPERATIONS = [
    ("GET", "/files.getUploadURLExternal"),
    ("POST", "/files.completeUploadExternal"),
]

_HAND_WRITTEN = (
    "hand-written from https://api.slack.com/methods/{} (not in the official Swagger 2.0 "
    "description, which predates it)"
)
_ERROR_SCHEMA = {
    "additionalProperties": False,
    "properties": {
        "callstack": {"type": "string"},
        "error": {"type": "string"},
        "needed": {"type": "string"},
        "ok": {"$ref": "#/definitions/defs_ok_false"},
        "provided": {"type": "string"},
    },
    "required": ["ok", "error"],
    "type": "object",
}


def _param(name: str, where: str, kind: str, *, required: bool = False) -> dict[str, Any]:
    return {"in": where, "name": name, "required": required, "type": kind}


FILES_V2: dict[str, dict[str, Any]] = {
    "/files.getUploadURLExternal": {
        "get": {
            "x-relaykit-source": _HAND_WRITTEN.format("files.getUploadURLExternal"),
            "consumes": ["application/x-www-form-urlencoded"],
            "produces": ["application/json"],
            "parameters": [
                _param("filename", "query", "string", required=True),
                _param("length", "query", "integer", required=True),
                _param("alt_txt", "query", "string"),
                _param("snippet_type", "query", "string"),
            ],
            "responses": {
                "200": {
                    "examples": {
                        "application/json": {
                            "ok": True,
                            "upload_url": UPLOAD_URL,
                            "file_id": "F0S43PZDF",
                        }
                    },
                    "schema": {
                        "additionalProperties": False,
                        "properties": {
                            "file_id": {"$ref": "#/definitions/defs_file_id"},
                            "ok": {"$ref": "#/definitions/defs_ok_true"},
                            "upload_url": {"type": "string"},
                        },
                        "required": ["ok", "upload_url", "file_id"],
                        "type": "object",
                    },
                },
                "default": {
                    "examples": {"application/json": {"ok": False, "error": "invalid_length"}},
                    "schema": _ERROR_SCHEMA,
                },
            },
        }
    },
    "/files.completeUploadExternal": {
        "post": {
            "x-relaykit-source": _HAND_WRITTEN.format("files.completeUploadExternal"),
            "consumes": ["application/x-www-form-urlencoded", "application/json"],
            "produces": ["application/json"],
            "parameters": [
                _param("files", "formData", "string", required=True),
                _param("channel_id", "formData", "string"),
                _param("channels", "formData", "string"),
                _param("initial_comment", "formData", "string"),
                _param("thread_ts", "formData", "string"),
                _param("blocks", "formData", "string"),
            ],
            "responses": {
                "200": {
                    "examples": {
                        "application/json": {
                            "ok": True,
                            "files": [{"id": "F0S43PZDF", "title": "tedair.gif"}],
                        }
                    },
                    "schema": {
                        "additionalProperties": False,
                        "properties": {
                            "files": {
                                "items": {
                                    "properties": {
                                        "id": {"$ref": "#/definitions/defs_file_id"},
                                        "title": {"type": "string"},
                                    },
                                    "required": ["id"],
                                    "type": "object",
                                },
                                "minItems": 1,
                                "type": "array",
                            },
                            "ok": {"$ref": "#/definitions/defs_ok_true"},
                        },
                        "required": ["ok", "files"],
                        "type": "object",
                    },
                },
                "default": {
                    "examples": {"application/json": {"ok": False, "error": "file_not_found"}},
                    "schema": _ERROR_SCHEMA,
                },
            },
        }
    },
}


def _fix_file_shares(document: dict[str, Any]) -> None:
    # ``objs_file.shares.public``/``private`` are declared ``additionalProperties: false`` with
    # no properties, which allows no share at all, yet files.info's own example (and Slack's
    # reference) maps each channel ID to a list of share records.
    shares = document["definitions"]["objs_file"]["properties"]["shares"]["properties"]
    for scope in ("public", "private"):
        shares[scope]["additionalProperties"] = {"items": {"type": "object"}, "type": "array"}


def _fix_cursor_metadata(document: dict[str, Any]) -> None:
    # Both methods declare a ``cursor`` parameter and their examples carry
    # ``response_metadata.next_cursor``, but their schemas forbid ``response_metadata``.
    for path in ("/conversations.history", "/conversations.replies"):
        schema = document["paths"][path]["get"]["responses"]["200"]["schema"]
        schema["properties"]["response_metadata"] = {"$ref": "#/definitions/objs_response_metadata"}


def _fix_example_fields(document: dict[str, Any]) -> None:
    # Fields the published examples (chat.postMessage, files.info) carry and Slack's object
    # reference documents, which the ``additionalProperties: false`` schemas leave out.
    attachment = document["definitions"]["objs_message"]["properties"]["attachments"]["items"]
    attachment["properties"]["text"] = {"type": "string"}
    file = document["definitions"]["objs_file"]["properties"]
    for name in ("deanimate_gif", "pjpeg", "thumb_360_gif"):
        file[name] = {"type": "string"}


SCHEMA_FIXES: dict[str, Callable[[dict[str, Any]], None]] = {
    "objs_file.shares allows the share lists its own files.info example has": _fix_file_shares,
    "conversations.history/replies allow the response_metadata their examples have": (
        _fix_cursor_metadata
    ),
    "message attachments and files allow the fields their examples have": _fix_example_fields,
}


@dataclass
class Exchange:
    """One request the test makes and the response Slack gives, per the description.

    ``response`` is ``"example"`` (the description's success example), ``"error-example"`` (its
    ``default`` example), a JSON value, or text (the upload URL answers in plain text).
    ``transform`` edits a copy of the body (a second page's cursor).
    """

    method: str
    slack_method: str
    query: str = ""
    json: Any = None
    content: str | None = None
    status: int = 200
    response: Any = "example"
    transform: Callable[[Any], Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _last_page(body: Any) -> Any:
    body["channels"] = body["channels"][1:]
    body["response_metadata"]["next_cursor"] = ""
    return body


def _not_shared(body: Any) -> Any:
    del body["file"]["shares"]
    body["file"]["channels"] = []
    return body


def _titled(body: Any) -> Any:
    body["files"][0]["title"] = "People"
    return body


CHANNEL = "C1H9RESGL"
MESSAGE_TS = "1503435956.000247"
SCOPE_MISSING = {
    "ok": False,
    "error": "missing_scope",
    "needed": "channels:join",
    "provided": "chat:write,channels:read",
}
HISTORY = "conversations.history"
UPLOAD = "files.getUploadURLExternal"
CONTENT = "id,name\n1,Ada\n2,Grace\n"
UPLOAD_QUERY = f"filename=people.csv&length={len(CONTENT)}"
COMPLETE = {"files": [{"id": "F0S43PZDF", "title": "People"}], "channel_id": "C0T8SE4AU"}
UPLOAD_FLOW = [
    Exchange("GET", UPLOAD, query=UPLOAD_QUERY),
    Exchange("POST", UPLOAD_URL, content=CONTENT, response=f"OK - {len(CONTENT)}"),
    Exchange("POST", "files.completeUploadExternal", json=COMPLETE, transform=_titled),
]

# (test module, test name) -> the exchanges of that test, in order.
CASES: dict[tuple[str, str], list[Exchange]] = {
    ("test_slack_chat", "test_post_message"): [
        Exchange(
            "POST",
            "chat.postMessage",
            json={"channel": CHANNEL, "text": "Here's a message for you"},
        )
    ],
    ("test_slack_chat", "test_post_message_with_blocks_in_a_thread"): [
        Exchange(
            "POST",
            "chat.postMessage",
            json={
                "channel": CHANNEL,
                "text": "Deploy finished",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deployed*"}}],
                "thread_ts": "1503435956.000100",
            },
        )
    ],
    ("test_slack_chat", "test_update_message"): [
        Exchange(
            "POST",
            "chat.update",
            json={
                "channel": "C024BE91L",
                "ts": "1401383885.000061",
                "text": "Updated text you carefully authored",
            },
        )
    ],
    ("test_slack_chat", "test_delete_message"): [
        Exchange("POST", "chat.delete", json={"channel": "C024BE91L", "ts": "1401383885.000061"})
    ],
    ("test_slack_chat", "test_add_reaction"): [
        Exchange(
            "POST",
            "reactions.add",
            json={"channel": CHANNEL, "timestamp": MESSAGE_TS, "name": "thumbsup"},
        )
    ],
    ("test_slack_chat", "test_post_message_channel_not_found"): [
        Exchange(
            "POST",
            "chat.postMessage",
            json={"channel": "C0000000000", "text": "hello"},
            response={"ok": False, "error": "channel_not_found"},
        )
    ],
    ("test_slack_chat", "test_post_message_rate_limited"): [
        Exchange(
            "POST",
            "chat.postMessage",
            json={"channel": CHANNEL, "text": "hello"},
            status=429,
            response={"ok": False, "error": "rate_limited"},
            headers={"retry-after": "30"},
        )
    ],
    ("test_slack_chat", "test_update_message_fatal_error"): [
        Exchange(
            "POST",
            "chat.update",
            json={"channel": "C024BE91L", "ts": "1401383885.000061", "text": "again"},
            response={"ok": False, "error": "fatal_error"},
        )
    ],
    ("test_slack_conversations", "test_join_conversation"): [
        Exchange("POST", "conversations.join", json={"channel": "C061EG9SL"})
    ],
    ("test_slack_conversations", "test_join_conversation_missing_scope"): [
        Exchange(
            "POST", "conversations.join", json={"channel": "C061EG9SL"}, response=SCOPE_MISSING
        )
    ],
    ("test_slack_conversations", "test_list_conversations"): [
        Exchange(
            "GET",
            "conversations.list",
            query="types=public_channel&exclude_archived=true&limit=2",
        )
    ],
    ("test_slack_conversations", "test_iter_conversations_follows_the_cursor"): [
        Exchange("GET", "conversations.list", query="types=public_channel&limit=2"),
        Exchange(
            "GET",
            "conversations.list",
            query="types=public_channel&limit=2&cursor=dGVhbTpDMDYxRkE1UEI%3D",
            transform=_last_page,
        ),
    ],
    ("test_slack_conversations", "test_get_conversation_history"): [
        Exchange("GET", HISTORY, query="channel=C012AB3CD&oldest=1512085950.000216&inclusive=true")
    ],
    ("test_slack_conversations", "test_iter_conversation_history_stops_at_max_pages"): [
        Exchange("GET", HISTORY, query="channel=C012AB3CD&limit=2")
    ],
    ("test_slack_conversations", "test_get_conversation_replies"): [
        Exchange("GET", "conversations.replies", query="channel=C012AB3CD&ts=1482960137.003543")
    ],
    ("test_slack_conversations", "test_get_conversation_info"): [
        Exchange("GET", "conversations.info", query="channel=C012AB3CD&include_num_members=false")
    ],
    ("test_slack_conversations", "test_get_conversation_info_not_found"): [
        Exchange("GET", "conversations.info", query="channel=C0000000000", response="error-example")
    ],
    ("test_slack_users", "test_get_user_info"): [
        Exchange("GET", "users.info", query="user=W012A3CDE")
    ],
    ("test_slack_users", "test_get_user_info_invalid_auth"): [
        Exchange(
            "GET",
            "users.info",
            query="user=W012A3CDE",
            response={"ok": False, "error": "invalid_auth"},
        )
    ],
    ("test_slack_users", "test_lookup_user_by_email"): [
        Exchange("GET", "users.lookupByEmail", query="email=spengler%40ghostbusters.example.com")
    ],
    ("test_slack_users", "test_lookup_user_by_email_not_found"): [
        Exchange(
            "GET",
            "users.lookupByEmail",
            query="email=nobody%40example.com",
            response="error-example",
        )
    ],
    ("test_slack_files", "test_upload_file"): UPLOAD_FLOW,
    ("test_slack_files", "test_upload_file_and_wait_for_the_share"): [
        *UPLOAD_FLOW,
        Exchange("GET", "files.info", query="file=F0S43PZDF", transform=_not_shared),
        Exchange("GET", "files.info", query="file=F0S43PZDF"),
    ],
    ("test_slack_files", "test_get_file_info"): [
        Exchange("GET", "files.info", query="file=F0S43PZDF")
    ],
    ("test_slack_files", "test_require_file_shared_not_yet"): [
        Exchange("GET", "files.info", query="file=F0S43PZDF", transform=_not_shared)
    ],
    ("test_slack_files", "test_get_upload_url_external_error"): [
        Exchange("GET", UPLOAD, query="filename=empty.txt&length=0", response="error-example")
    ],
}

# The jobs of test_slack_integration.py: the same calls, made as tasks of a relaykit run.
JOB_MESSAGE = {"channel": CHANNEL, "text": "Deploy finished"}
CASES |= {
    ("test_slack_integration", "test_a_posted_message_is_memoized_across_a_replay"): [
        Exchange("POST", "chat.postMessage", json=JOB_MESSAGE)
    ],
    ("test_slack_integration", "test_ok_false_fails_the_task_without_a_retry"): [
        Exchange(
            "POST",
            "chat.postMessage",
            json=JOB_MESSAGE,
            response={"ok": False, "error": "channel_not_found"},
        )
    ],
    ("test_slack_integration", "test_a_rate_limit_is_retried_after_retry_after"): [
        Exchange(
            "POST",
            "chat.postMessage",
            json=JOB_MESSAGE,
            status=429,
            response={"ok": False, "error": "rate_limited"},
            headers={"retry-after": "30"},
        ),
        Exchange("POST", "chat.postMessage", json=JOB_MESSAGE),
    ],
    ("test_slack_integration", "test_upload_file_is_two_subtasks_and_records_no_bytes"): [
        *UPLOAD_FLOW,
        Exchange("GET", "files.info", query="file=F0S43PZDF", transform=_not_shared),
        Exchange("GET", "files.info", query="file=F0S43PZDF"),
    ],
}

STATUS_TEXT = {200: "OK", 429: "Too Many Requests"}


def _channel_actions(body: Any) -> None:
    body.setdefault("channel_actions_ts", None)
    body.setdefault("channel_actions_count", 0)


# Published examples that lack a field their own schema requires; Slack's real responses carry
# it (``conversations.history`` answers ``"channel_actions_ts": null, "channel_actions_count":
# 0`` in a channel without workflow actions), so the cassettes do too. Keyed by method.
EXAMPLE_FIXES: dict[str, Callable[[Any], None]] = {"conversations.history": _channel_actions}


def example_body(document: Any, exchange: Exchange) -> Any:
    """The response body of an exchange: a published example (edited by ``transform``) or the
    exchange's own value."""
    if exchange.response not in ("example", "error-example"):
        return exchange.response
    template = f"/{exchange.slack_method}"
    key = "200" if exchange.response == "example" else "default"
    response = document["paths"][template][exchange.method.lower()]["responses"][key]
    body = copy.deepcopy(response["examples"]["application/json"])
    fix = EXAMPLE_FIXES.get(exchange.slack_method) if key == "200" else None
    if fix is not None:
        fix(body)
    return exchange.transform(body) if exchange.transform else body


def _headers(values: dict[str, str]) -> dict[str, list[str]]:
    return {name: [value] for name, value in values.items()}


def interaction(document: Any, exchange: Exchange) -> dict[str, Any]:
    """One vcrpy interaction (the cassette format vcrpy reads) for an exchange."""
    is_upload = exchange.slack_method.startswith("https://")
    request_headers = {"user-agent": "relaykit-slack"}
    if exchange.json is not None:
        request_headers["content-type"] = "application/json"
    if exchange.content is not None:
        request_headers["content-type"] = "application/octet-stream"
    uri = exchange.slack_method if is_upload else f"{API}/{exchange.slack_method}"
    body = example_body(document, exchange)
    if isinstance(body, str):
        text, content_type = body, "text/plain; charset=utf-8"
    else:
        text, content_type = json.dumps(body, indent=1), "application/json; charset=utf-8"
    request_body = json.dumps(exchange.json) if exchange.json is not None else exchange.content
    return {
        "request": {
            "body": request_body or "",
            "headers": _headers(request_headers),
            "method": exchange.method,
            "uri": uri + (f"?{exchange.query}" if exchange.query else ""),
        },
        "response": {
            "body": {"string": text},
            "headers": _headers({"content-type": content_type} | exchange.headers),
            "status": {"code": exchange.status, "message": STATUS_TEXT[exchange.status]},
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the JSON bodies) as literal blocks, readable in a review."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_cassettes(document: Any) -> dict[Path, str]:
    """Every cassette file (path -> YAML text) the cases describe."""
    out = {}
    for (module, test), exchanges in CASES.items():
        cassette = {"interactions": [interaction(document, e) for e in exchanges], "version": 1}
        text = yaml.dump(cassette, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=100)
        out[CASSETTES / module / f"{test}.yaml"] = text
    return out


def _redact_tokens(node: Any) -> Any:
    """Published examples hold real-looking tokens (``xoxb-1765...``); secret scanners flag
    them, so the extract keeps ``<redacted>`` in their place."""
    from tests.vcr_scrub import REDACTED, TOKEN_PATTERN  # only --extract needs PYTHONPATH=.

    if isinstance(node, dict):
        return {key: _redact_tokens(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_redact_tokens(value) for value in node]
    return TOKEN_PATTERN.sub(REDACTED, node) if isinstance(node, str) else node


def extract(specs: Path) -> None:
    """Rewrite ``tests/data`` from the full descriptions in ``specs``."""
    from tests.spec_subset import subset_document  # only --extract needs PYTHONPATH=.

    with gzip.open(specs / "slack-web-openapi-v2.json.gz", "rt", encoding="utf-8") as fh:
        full = json.load(fh)
    missing = [path for _, path in FILES_V2_OPERATIONS if path in full["paths"]]
    if missing:
        raise SystemExit(f"the description now has {missing}: drop them from FILES_V2")
    full["paths"].update(FILES_V2)
    subset = subset_document(full, [*OPERATIONS, OAUTH_OPERATION, *FILES_V2_OPERATIONS])
    for fix in SCHEMA_FIXES.values():
        fix(subset)
    subset = _redact_tokens(subset)
    subset["info"]["x-relaykit-source"] = (
        "extract of github.com/slackapi/slack-api-specs web-api/slack_web_openapi_v2.json "
        "1.7.0 (MIT), made by integrations/slack/tests/make_slack_cassettes.py --extract; "
        "token-looking example values redacted"
    )
    subset["info"]["x-relaykit-fixes"] = sorted(SCHEMA_FIXES)
    DATA.mkdir(parents=True, exist_ok=True)
    OPERATIONS_FILE.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    with gzip.open(specs / "slack-events-api-asyncapi-v1.json.gz", "rt", encoding="utf-8") as fh:
        events = json.load(fh)
    envelope = {
        "source": (
            "github.com/slackapi/slack-api-specs events-api/slack_events-api_async_v1.json "
            "1.0.0 (MIT): components.schemas.GenericEventWrapper"
        ),
        "schema": events["components"]["schemas"]["GenericEventWrapper"],
    }
    ENVELOPE_FILE.write_text(json.dumps(envelope, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--extract [--specs DIR]`` refreshes the data; always writes cassettes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--extract", action="store_true", help="refresh tests/data first")
    parser.add_argument("--specs", type=Path, default=ROOT.parent / "shared" / "specs")
    args = parser.parse_args(argv)
    if args.extract:
        extract(args.specs)
    document = json.loads(OPERATIONS_FILE.read_text())
    for path, text in render_cassettes(document).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(CASES)} cassettes under {CASSETTES}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
