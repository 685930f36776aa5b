"""Keeping secrets out of vcrpy cassettes: the scrubbing hooks and the token detector.

``recording_config()`` is the ``vcr_config`` every integration package's tests use
(``integrations/conftest.py``). vcrpy runs ``before_record_request`` both when it records and when
it looks a request up during replay, so a test may send a real-looking secret and still match the
scrubbed cassette.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "<redacted>"

SECRET_HEADERS = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "openai-organization",
    "openai-project",
)
"""Headers dropped from recorded requests and responses."""

SECRET_FIELDS = frozenset(
    {
        "secret",
        "token",
        "password",
        "client_secret",
        "access_token",
        "refresh_token",
        "api_key",
    }
)
"""JSON and form fields whose values are replaced by ``<redacted>`` wherever they occur."""

TOKEN_PATTERN = re.compile(
    r"(?<![A-Za-z0-9_-])"
    r"(?:gh[pousr]_|github_pat_|xox[abeoprs]-|sk-)"
    r"[A-Za-z0-9_\-]{6,}"
)
"""A GitHub token (``ghp_``, ``gho_``, ``ghs_``, ``ghu_``, ``ghr_``, ``github_pat_``), a Slack token
(``xoxb-``, ``xoxp-``, ...) or an OpenAI key (``sk-``), not preceded by a word character (so
``task-1`` is no match)."""


def find_tokens(text: str) -> list[str]:
    """Every token-looking string in ``text``, shortened so a report does not leak it again."""
    return [match.group()[:8] + "..." for match in TOKEN_PATTERN.finditer(text)]


def _scrub_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if key.lower() in SECRET_FIELDS else _scrub_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub_json(item) for item in value]
    if isinstance(value, str):
        return TOKEN_PATTERN.sub(REDACTED, value)
    return value


def scrub_text(text: str, content_type: str = "") -> str:
    """``text`` with secret fields (in JSON or form bodies) and token-looking strings redacted."""
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            return json.dumps(_scrub_json(json.loads(text)))
        except ValueError:
            pass
    if "x-www-form-urlencoded" in content_type:
        pairs = parse_qsl(text, keep_blank_values=True)
        text = urlencode([(k, REDACTED if k.lower() in SECRET_FIELDS else v) for k, v in pairs])
    return TOKEN_PATTERN.sub(REDACTED, text)


def _scrub_body(body: bytes | str | None, content_type: str) -> bytes | str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        try:
            return scrub_text(body.decode("utf-8"), content_type).encode()
        except UnicodeDecodeError:
            return body  # binary content (an image, an archive) carries no text token
    return scrub_text(body, content_type)


def scrub_request(request: Any) -> Any:
    """vcrpy ``before_record_request``: drop secret headers, redact the body and query."""
    for name in list(request.headers):
        if name.lower() in SECRET_HEADERS:
            del request.headers[name]
    content_type = str(request.headers.get("content-type", request.headers.get("Content-Type", "")))
    request.body = _scrub_body(request.body, content_type.lower())
    request.uri = TOKEN_PATTERN.sub(REDACTED, request.uri)
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy ``before_record_response``: drop secret headers and redact the body."""
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in SECRET_HEADERS:
            del headers[name]
    content_type = next(
        (", ".join(v) for k, v in headers.items() if k.lower() == "content-type"), ""
    )
    body = response.get("body", {})
    if "string" in body:
        before = body["string"]
        body["string"] = _scrub_body(before, content_type.lower())
        if body["string"] != before:
            # A replayed response must not announce the length of the unscrubbed body.
            length = len(
                body["string"].encode() if isinstance(body["string"], str) else body["string"]
            )
            for name in headers:
                if name.lower() == "content-length":
                    headers[name] = [str(length)]
    return response


def recording_config() -> dict[str, Any]:
    """The vcrpy options for integration tests: replay only, match on the body too, scrub."""
    return {
        "record_mode": "none",
        "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
        "filter_headers": list(SECRET_HEADERS),
        "before_record_request": scrub_request,
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
    }
