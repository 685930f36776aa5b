"""Generate the OpenAI test data and cassettes from OpenAI's official API description.

OpenAI is not reachable from the machines this project is built on, so the cassettes are made
from the OpenAPI description instead of recorded: a success body is the response example the
description publishes for that operation (``x-oaiMeta.examples``), completed by ``FIXES`` where
the example and its own schema disagree, or a body written here where no example parses; error
bodies follow the description's ``ErrorResponse``. Every interaction is checked against the
description (plus ``openai_spec.with_overlay``) by ``test_openai_cassettes.py``; each request is the
one the task function sends through the SDK.

Two steps (run from the repository root, with ``export PYTHONPATH=.:integrations/openai``)::

    python integrations/openai/tests/make_openai_cassettes.py --extract
        # reads ../shared/specs/openai-openapi.json.gz and rewrites tests/data/ (the operations
        # the package calls, with every schema they reference and their response examples)
    python integrations/openai/tests/make_openai_cassettes.py
        # rewrites tests/cassettes/ from tests/data/openai-operations.json alone

Source: OpenAI's OpenAPI 3.1 description "OpenAI API" 2.3.0 (MIT).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2
import yaml

from relaykit_openai._files import _boundary

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DATA = HERE / "data"
CASSETTES = HERE / "cassettes"
OPERATIONS_FILE = DATA / "openai-operations.json"
API = "https://api.openai.com/v1"

# Every operation relaykit_openai calls: (method, path template).
OPERATIONS = [
    ("POST", "/chat/completions"),
    ("POST", "/responses"),
    ("GET", "/responses/{response_id}"),
    ("POST", "/embeddings"),
    ("POST", "/images/generations"),
    ("POST", "/files"),
    ("GET", "/files/{file_id}"),
    ("GET", "/files/{file_id}/content"),
    ("POST", "/batches"),
    ("GET", "/batches/{batch_id}"),
    ("GET", "/models"),
    ("GET", "/models/{model}"),
]

STATUS_TEXT = {200: "OK", 401: "Unauthorized", 429: "Too Many Requests"}
STATUS_TEXT |= {500: "Internal Server Error"}


@dataclass
class Exchange:
    """One request the test makes and the response OpenAI gives, per the description.

    ``example`` names a published response example: ``(path template, method, title)`` (the
    title is ``""`` for an operation with a single example); ``body`` replaces it (errors, and
    examples that are not JSON); ``patch`` edits the example (a background response's status)
    and ``drop`` removes fields from it.
    ``multipart`` is ``(purpose, filename, content)`` for a file upload.
    """

    method: str
    path: str
    json: Any = None
    status: int = 200
    example: tuple[str, str, str] | None = None
    body: Any = None
    patch: dict[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    multipart: tuple[str, str, str] | None = None
    content_type: str = "application/json"


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> Any:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


KEY = "run_01:chat"
CHAT_JSON = {
    "model": "gpt-5.4",
    "messages": [
        {"role": "developer", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ],
}
RESPONSE_JSON = {
    "model": "gpt-5.4",
    "input": "Tell me a three sentence bedtime story about a unicorn.",
}
RESPONSE_ID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
# A background response before it finishes: no output, no usage yet.
PENDING: dict[str, Any] = {"output": [], "completed_at": None, "background": True}
RATE_LIMITED = _error(
    "Rate limit reached for gpt-5.4 in organization org-123 on requests per min (RPM): "
    "Limit 3, Used 3, Requested 1. Please try again in 6m0s.",
    "requests",
    "rate_limit_exceeded",
)
BATCH_INPUT = (
    '{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", '
    '"body": {"model": "gpt-5.4", "messages": [{"role": "user", "content": "Hello!"}]}}\n'
)
BATCH_OUTPUT = (
    '{"id": "batch_req_123", "custom_id": "request-1", "response": {"status_code": 200, '
    '"request_id": "req_123", "body": {"id": "chatcmpl-123", "object": "chat.completion", '
    '"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}}]}}, '
    '"error": null}\n'
    '{"id": "batch_req_456", "custom_id": "request-2", "response": null, '
    '"error": {"code": "batch_expired", "message": "This request could not be executed."}}\n'
)
EMBEDDING = {
    "object": "list",
    "data": [{"object": "embedding", "embedding": [0.0023064255, -0.009327292], "index": 0}],
    "model": "text-embedding-ada-002",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}
T_FILE = "/files/{file_id}"
T_BATCH = "/batches/{batch_id}"
T_RESPONSE = "/responses/{response_id}"

# (test module, test name) -> the exchanges of that test, in order.
CASES: dict[tuple[str, str], list[Exchange]] = {
    ("test_openai_chat", "test_create_chat_completion"): [
        Exchange(
            "POST",
            "/chat/completions",
            CHAT_JSON,
            example=("/chat/completions", "post", "Default"),
            idempotency_key=KEY,
        )
    ],
    ("test_openai_chat", "test_rate_limit_waits_for_the_exhausted_limit"): [
        Exchange(
            "POST",
            "/chat/completions",
            CHAT_JSON,
            status=429,
            body=RATE_LIMITED,
            headers={
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "6m0s",
                "x-ratelimit-remaining-tokens": "39990",
                "x-ratelimit-reset-tokens": "15ms",
            },
        )
    ],
    ("test_openai_chat", "test_insufficient_quota_is_not_retried"): [
        Exchange(
            "POST",
            "/chat/completions",
            CHAT_JSON,
            status=429,
            body=_error(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            ),
        )
    ],
    ("test_openai_chat", "test_server_error_is_not_retried_by_the_sdk"): [
        Exchange(
            "POST",
            "/chat/completions",
            CHAT_JSON,
            status=500,
            body=_error(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            ),
            idempotency_key=KEY,
        )
    ],
    ("test_openai_chat", "test_invalid_api_key"): [
        Exchange(
            "POST",
            "/chat/completions",
            CHAT_JSON,
            status=401,
            body=_error(
                "Incorrect API key provided: sk-proj-****abcd. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            ),
        )
    ],
    ("test_openai_responses", "test_create_response"): [
        Exchange(
            "POST",
            "/responses",
            RESPONSE_JSON,
            example=("/responses", "post", "Text input"),
            idempotency_key="run_01:story",
        )
    ],
    ("test_openai_responses", "test_background_response_until_finished"): [
        Exchange(
            "POST",
            "/responses",
            {**RESPONSE_JSON, "background": True},
            example=("/responses", "post", "Text input"),
            patch={**PENDING, "status": "queued"},
            drop=("usage",),
            idempotency_key="run_01:story",
        ),
        Exchange(
            "GET",
            f"/responses/{RESPONSE_ID}",
            example=(T_RESPONSE, "get", ""),
            patch={**PENDING, "id": RESPONSE_ID, "status": "in_progress"},
            drop=("usage",),
        ),
        Exchange(
            "GET",
            f"/responses/{RESPONSE_ID}",
            example=(T_RESPONSE, "get", ""),
            patch={"id": RESPONSE_ID, "background": True},
        ),
    ],
    ("test_openai_responses", "test_background_response_failed"): [
        Exchange(
            "GET",
            f"/responses/{RESPONSE_ID}",
            example=(T_RESPONSE, "get", ""),
            patch={
                **PENDING,
                "id": RESPONSE_ID,
                "status": "failed",
                "error": {"code": "server_error", "message": "The model failed to respond."},
            },
            drop=("usage",),
        )
    ],
    ("test_openai_generate", "test_create_embedding"): [
        Exchange(
            "POST",
            "/embeddings",
            {
                "input": "The food was delicious and the waiter...",
                "model": "text-embedding-ada-002",
                "encoding_format": "float",
            },
            body=EMBEDDING,  # the published example elides the vector ("....")
            idempotency_key="run_01:embed",
        )
    ],
    ("test_openai_generate", "test_generate_image"): [
        Exchange(
            "POST",
            "/images/generations",
            {"model": "gpt-image-1.5", "prompt": "A cute baby sea otter", "n": 1},
            example=("/images/generations", "post", "Generate image"),
        )
    ],
    ("test_openai_files", "test_create_file"): [
        Exchange(
            "POST",
            "/files",
            multipart=("batch", "requests.jsonl", BATCH_INPUT),
            example=("/files", "post", ""),
            patch={"filename": "requests.jsonl", "purpose": "batch", "status": "uploaded"},
            idempotency_key="run_01:upload",
        )
    ],
    ("test_openai_files", "test_file_status_until_processed"): [
        Exchange(
            "GET", "/files/file-abc123", example=(T_FILE, "get", ""), patch={"status": "uploaded"}
        ),
        Exchange(
            "GET", "/files/file-abc123", example=(T_FILE, "get", ""), patch={"status": "processed"}
        ),
    ],
    ("test_openai_files", "test_create_batch"): [
        Exchange(
            "POST",
            "/batches",
            {
                "input_file_id": "file-abc123",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
            example=("/batches", "post", ""),
            idempotency_key="run_01:batch",
        )
    ],
    ("test_openai_files", "test_batch_status_then_results"): [
        Exchange(
            "GET",
            "/batches/batch_abc123",
            example=(T_BATCH, "get", ""),
            patch={"status": "in_progress", "output_file_id": None, "completed_at": None},
        ),
        Exchange("GET", "/batches/batch_abc123", example=(T_BATCH, "get", "")),
        Exchange(
            "GET",
            "/files/file-cvaTdG/content",
            body=BATCH_OUTPUT,
            content_type="application/octet-stream",
        ),
    ],
    ("test_openai_files", "test_failed_batch"): [
        Exchange(
            "GET",
            "/batches/batch_abc123",
            example=(T_BATCH, "get", ""),
            patch={
                "status": "failed",
                "output_file_id": None,
                "error_file_id": None,
                "completed_at": None,
                "errors": {
                    "object": "list",
                    "data": [
                        {
                            "code": "invalid_json_line",
                            "message": "Line 1 is not valid JSON.",
                            "line": 1,
                        }
                    ],
                },
            },
        )
    ],
    ("test_openai_models", "test_list_models"): [
        Exchange("GET", "/models", example=("/models", "get", ""))
    ],
    ("test_openai_models", "test_retrieve_model"): [
        Exchange(
            "GET",
            "/models/gpt-5.4",
            example=("/models/{model}", "get", ""),
            patch={"id": "gpt-5.4"},
        )
    ],
}


# The integration's tests run jobs; their Idempotency-Key holds the run's random id, so the
# cassettes leave it out (vcrpy does not match on headers) and the tests read what was sent.
CHAT = Exchange(
    "POST", "/chat/completions", CHAT_JSON, example=("/chat/completions", "post", "Default")
)
CASES |= {
    ("test_openai_integration", "test_chat_completion_is_memoized_across_a_replay"): [CHAT],
    ("test_openai_integration", "test_token_usage_is_shown_as_task_properties"): [CHAT],
    ("test_openai_integration", "test_a_wait_gives_up_after_max_polls"): [
        CASES[("test_openai_files", "test_file_status_until_processed")][0]
    ]
    * 2,
    ("test_openai_integration", "test_rate_limit_is_retried_after_the_reset"): [
        CASES[("test_openai_chat", "test_rate_limit_waits_for_the_exhausted_limit")][0],
        CHAT,
    ],
    ("test_openai_integration", "test_insufficient_quota_fails_without_a_retry"): CASES[
        ("test_openai_chat", "test_insufficient_quota_is_not_retried")
    ],
    ("test_openai_integration", "test_background_response_is_a_durable_wait"): [
        replace(e, idempotency_key=None)
        for e in CASES[("test_openai_responses", "test_background_response_until_finished")]
    ],
    ("test_openai_integration", "test_run_batch"): [
        replace(
            CASES[("test_openai_files", "test_create_file")][0],
            multipart=("batch", "nightly.jsonl", BATCH_INPUT),
            patch={"filename": "nightly.jsonl", "purpose": "batch", "status": "uploaded"},
            idempotency_key=None,
        ),
        *CASES[("test_openai_files", "test_file_status_until_processed")],
        replace(CASES[("test_openai_files", "test_create_batch")][0], idempotency_key=None),
        *CASES[("test_openai_files", "test_batch_status_then_results")],
    ],
}


def _drop_nulls(body: Any) -> None:
    # OpenAI sends ``null`` for a batch's unset timestamps and files; its description types
    # them as plain integers/strings (optional, not nullable), so the cassettes leave them out.
    for key in [key for key, value in body.items() if value is None]:
        del body[key]


def _response(body: Any) -> None:
    # ``user`` (deprecated) is ``null`` in the examples but a non-nullable string in the schema;
    # output text lacks ``logprobs``, which the schema requires (OpenAI sends ``[]``).
    if body.get("user", "") is None:
        del body["user"]
    for item in body.get("output", []):
        for content in item.get("content", []):
            if content.get("type") == "output_text":
                content.setdefault("logprobs", [])


def _file_status(body: Any) -> None:
    # The examples omit ``status``, which the File schema still requires (it is deprecated).
    body.setdefault("status", "processed")


# Applied after ``patch``, keyed by (path template, method).
FIXES: dict[tuple[str, str], Callable[[Any], None]] = {
    ("/responses", "post"): _response,
    (T_RESPONSE, "get"): _response,
    ("/batches", "post"): _drop_nulls,
    (T_BATCH, "get"): _drop_nulls,
    ("/files", "post"): _file_status,
    (T_FILE, "get"): _file_status,
}


def published_example(document: Any, template: str, method: str, title: str) -> Any:
    """A response example from ``x-oaiMeta``, parsed (several have trailing commas)."""
    examples = document["paths"][template][method]["x-oaiMeta"]["examples"]
    chosen = (
        examples if isinstance(examples, dict) else next(e for e in examples if e["title"] == title)
    )
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", chosen["response"]))


def response_body(document: Any, exchange: Exchange) -> Any:
    """The response body of an exchange: the example, patched and fixed, or ``body``."""
    if exchange.example is None:
        return exchange.body
    template, method, title = exchange.example
    body = copy.deepcopy(published_example(document, template, method, title))
    body.update(copy.deepcopy(exchange.patch))
    for key in exchange.drop:
        body.pop(key, None)
    fix = FIXES.get((template, method))
    if fix is not None:
        fix(body)
    return body


def _request(exchange: Exchange) -> tuple[str, dict[str, str]]:
    headers = {"accept": "application/json"}
    if exchange.idempotency_key is not None:
        headers["idempotency-key"] = exchange.idempotency_key
    if exchange.multipart is not None:
        # Built by httpx2 itself, as the SDK does, with the boundary the package derives.
        purpose, filename, content = exchange.multipart
        boundary = _boundary(filename.encode(), purpose.encode(), content.encode())
        request = httpx2.Request(
            "POST",
            f"{API}{exchange.path}",
            data={"purpose": purpose},
            files={"file": (filename, content.encode(), "application/octet-stream")},
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        headers["content-type"] = request.headers["content-type"]
        return request.read().decode(), headers
    if exchange.json is None:
        return "", headers
    headers["content-type"] = "application/json"
    return json.dumps(exchange.json), headers


def interaction(document: Any, exchange: Exchange) -> dict[str, Any]:
    """One vcrpy interaction (the cassette format vcrpy reads) for an exchange."""
    body = response_body(document, exchange)
    text = body if isinstance(body, str) else json.dumps(body, indent=1)
    request_body, request_headers = _request(exchange)
    response_headers = {
        "content-type": exchange.content_type,
        "openai-processing-ms": "412",
        "openai-version": "2020-10-01",
        "x-request-id": "req_0123456789abcdef0123456789abcdef",
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-reset-requests": "6ms",
    } | exchange.headers
    return {
        "request": {
            "body": request_body,
            "headers": {name: [value] for name, value in request_headers.items()},
            "method": exchange.method,
            "uri": f"{API}{exchange.path}",
        },
        "response": {
            "body": {"string": text},
            "headers": {name: [value] for name, value in response_headers.items()},
            "status": {"code": exchange.status, "message": STATUS_TEXT[exchange.status]},
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the JSON bodies) as literal blocks, readable in a review."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and "\r" not in value else None
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


def _examples_only(document: Any) -> None:
    # x-oaiMeta also holds code samples in several languages; only the response examples
    # (and their titles) are read, so the extract keeps just those.
    for item in document["paths"].values():
        for operation in item.values():
            meta = operation.get("x-oaiMeta", {})
            examples = meta.get("examples")
            if isinstance(examples, list):
                kept: Any = [
                    {"title": e["title"], "response": e["response"]}
                    for e in examples
                    if "response" in e
                ]
            else:
                kept = (
                    {"response": examples["response"]} if "response" in (examples or {}) else None
                )
            operation["x-oaiMeta"] = {"examples": kept} if kept else {}


def extract(specs: Path) -> None:
    """Rewrite ``tests/data`` from the full description in ``specs``."""
    from tests.spec_subset import subset_document  # imported here: only --extract needs it

    with gzip.open(specs / "openai-openapi.json.gz", "rt", encoding="utf-8") as fh:
        full = json.load(fh)
    subset = subset_document(full, OPERATIONS)
    _examples_only(subset)
    subset["info"]["x-relaykit-source"] = (
        "extract of OpenAI's OpenAPI description 2.3.0 (MIT), made by "
        "integrations/openai/tests/make_openai_cassettes.py --extract"
    )
    DATA.mkdir(parents=True, exist_ok=True)
    OPERATIONS_FILE.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--extract [--specs DIR]`` refreshes the data; always writes cassettes."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
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
