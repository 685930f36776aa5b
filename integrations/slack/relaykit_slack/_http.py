"""Slack's HTTP rules: which failures to retry and when, and cursor pagination.

Slack's Web API reports most failures as **HTTP 200 with** ``{"ok": false, "error": "<code>"}``,
so the status code alone says little. The rules (Slack's "Rate limits" and per-method "Errors"
pages):

- HTTP 429 carries ``Retry-After`` (seconds): retry after exactly that long (a value that is
  no usable delay, such as ``nan`` or garbage, counts as absent);
- ``ok: false`` with ``ratelimited``/``rate_limited`` is a rate limit too (``Retry-After`` when
  present, else a minute: Slack counts its limits per minute);
- ``ok: false`` with a transient code (``internal_error``, ``fatal_error``,
  ``service_unavailable``, ``request_timeout``, ``team_added_to_org``) and any 5xx or 408 are
  retried with the task's backoff;
- every other ``ok: false`` code (``channel_not_found``, ``not_in_channel``, ``invalid_auth``,
  ``missing_scope``, ``invalid_arguments``, ...) and any other 4xx fail at once: the same call
  would fail the same way.

Caveat: ``fatal_error`` means "it is possible some aspect of the operation succeeded", so a
retried ``chat.postMessage`` may post twice; Slack offers no idempotency key for messages.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import httpx2

from relaykit import http

from .errors import SlackAPIError, SlackRateLimited, SlackServerError

RATE_LIMIT_FALLBACK = 60.0
"""Seconds to wait after a rate limit that names no delay (Slack's limits are per minute)."""

RATE_LIMIT_CODES = frozenset({"ratelimited", "rate_limited"})
"""``ok: false`` codes meaning "too many calls": Web API methods say ``ratelimited``, and the
chat methods' reference pages list ``rate_limited``."""

RETRIABLE_CODES = frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        # "The workspace is undergoing migration to an Enterprise Organization; the Web API is
        # intermittently unavailable until it completes": a wait fixes it.
        "team_added_to_org",
    }
)
"""``ok: false`` codes for failures on Slack's side that a later attempt may not meet."""

_AUTH_CODES = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)

_HINTS = {
    "channel_not_found": " (check the channel ID; a bot sees private channels only once invited)",
    "not_in_channel": " (invite the bot to the channel, or call join_conversation first)",
    "is_archived": " (the channel is archived)",
    "invalid_arguments": " (a required argument is missing or malformed)",
    "no_text": " (pass text, blocks or attachments)",
}


def method_name(response: httpx2.Response) -> str:
    """The Slack method a response answers (``chat.postMessage``): the last path segment."""
    return urlsplit(str(response.request.url)).path.rsplit("/", 1)[-1]


def _body(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _hint(code: str, body: Mapping[str, Any]) -> str:
    if code in _AUTH_CODES:
        return " (the token is invalid or revoked; reconnect the Slack connection)"
    if code == "missing_scope":
        needed, provided = body.get("needed"), body.get("provided")
        return (
            f" (the token needs scope {needed!r} but has {provided!r}; add it to the app "
            "and reinstall it)"
        )
    return _HINTS.get(code, "")


def classify(response: httpx2.Response) -> Exception | None:
    """The error a Slack response stands for, or ``None`` when it succeeded (``ok: true``).

    Returns ``SlackRateLimited`` (a ``relaykit.RetryAfter``), ``SlackAPIError`` (a
    ``relaykit.NonRetriable``) or ``SlackServerError`` (retriable); see the module docstring.
    """
    status = response.status_code
    method, url = method_name(response), str(response.request.url)
    body = _body(response)
    code = str(body["error"]) if body and body.get("error") is not None else None
    fields: dict[str, Any] = {"status": status, "method": method, "url": url, "error": code}
    what = f"Slack answered {status} to {method}" + (f": {code}" if code else "")
    if status == 429 or code in RATE_LIMIT_CODES:
        seconds = http.retry_after(response.headers, now=time.time())
        seconds = RATE_LIMIT_FALLBACK if seconds is None else seconds
        return SlackRateLimited(
            seconds, f"{what} (rate limited; retrying in {seconds:g}s)", **fields
        )
    if status >= 500 or status == 408:
        return SlackServerError(what, **fields)
    if body is None:
        if status < 400:
            # A 2xx that is not a JSON object comes from something in front of Slack (a proxy
            # or an outage page), not from the method: worth another attempt.
            return SlackServerError(f"{what} (the body is not a JSON object)", **fields)
        return SlackAPIError(what, **fields)
    if body.get("ok") is True and status < 400:
        return None
    if code in RETRIABLE_CODES:
        return SlackServerError(what, **fields)
    needed, provided = body.get("needed"), body.get("provided")
    return SlackAPIError(
        what + _hint(code or "", body),
        **fields,
        needed=None if needed is None else str(needed),
        provided=None if provided is None else str(provided),
    )


def raise_for_slack(response: httpx2.Response) -> dict[str, Any]:
    """The response's JSON object when it succeeded; raises the error ``classify`` picks."""
    error = classify(response)
    if error is not None:
        raise error
    # classify returned None, so the body is an ``ok: true`` JSON object.
    return cast(dict[str, Any], _body(response))


def next_cursor(body: Mapping[str, Any]) -> str | None:
    """The cursor of the next page, or ``None`` on the last one (Slack sends ``""`` there)."""
    metadata = body.get("response_metadata")
    cursor = metadata.get("next_cursor") if isinstance(metadata, Mapping) else None
    return str(cursor) if cursor else None


async def paginate(
    client: httpx2.AsyncClient,
    method: str,
    *,
    items_key: str,
    params: Mapping[str, Any] | None = None,
    limit: int | None = 200,
    max_pages: int | None = None,
) -> AsyncIterator[Any]:
    """Yield every item of a cursor-paginated Slack method (``GET``), page after page.

    ``items_key`` names the list in each page (``"channels"``, ``"messages"``); ``limit`` is
    the page size sent to Slack (it recommends 100-200; ``None`` sends none). Pagination follows
    ``response_metadata.next_cursor`` until it is empty, or stops after ``max_pages``.
    """
    query = {key: _query_value(value) for key, value in (params or {}).items() if value is not None}
    if limit is not None:
        query["limit"] = str(limit)
    pages = 0
    cursor: str | None = None
    while max_pages is None or pages < max_pages:
        page = await client.get(method, params=query | ({"cursor": cursor} if cursor else {}))
        body = raise_for_slack(page)
        items = body.get(items_key)
        if not isinstance(items, list):
            raise SlackAPIError(
                f"expected the {items_key!r} field of {method}'s response to be a list",
                status=page.status_code,
                method=method,
                url=str(page.request.url),
                error=None,
            )
        for item in items:
            yield item
        pages += 1
        cursor = next_cursor(body)
        if cursor is None:
            return


def _query_value(value: Any) -> str:
    """A query-string value as Slack reads it: booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
