"""GitHub's HTTP rules: which failures to retry and when, and ``Link``-header pagination.

Rate limits follow GitHub's documented rules ("Rate limits for the REST API"):

- a 403 or 429 with ``retry-after`` is a secondary rate limit: retry after that many seconds;
- a 403 or 429 with ``x-ratelimit-remaining: 0`` is the primary limit: retry at
  ``x-ratelimit-reset`` (epoch seconds);
- any other 429, or a 403 whose message says "rate limit", is a secondary limit without a hint:
  wait at least a minute;
- a hint that is no usable delay (``nan``, ``inf``, garbage, an HTTP date, a negative number or
  one over ``RetryAfter.MAX_SECONDS``) counts as absent;
- another 4xx will fail the same way again (bad input, missing permission, not found), so it
  is not retried; 408 (timeout) and 5xx are.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2

from relaykit import RetryAfter, http

from .errors import GitHubRateLimited, GitHubRequestError, GitHubServerError

SECONDARY_LIMIT_FALLBACK = 60.0
"""Seconds to wait after a secondary rate limit that names no delay (GitHub: "at least one
minute")."""

RESET_MARGIN = 1.0
"""Seconds added to ``x-ratelimit-reset``: GitHub's clock and ours differ slightly, and a retry
one second early would fail again."""

_RETRIABLE_4XX = frozenset({408})


def _github_message(response: httpx2.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return str(message) if message is not None else None


def _float_header(response: httpx2.Response, name: str) -> float | None:
    """A header's value as a finite number; None when it is absent or not one (``nan``,
    ``inf``, garbage): a malformed hint is no hint."""
    try:
        value = float(response.headers[name])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _usable(seconds: float) -> float | None:
    """A delay GitHub may ask for: clamped at 0, and None past ``RetryAfter.MAX_SECONDS``."""
    seconds = max(seconds, 0.0)
    return seconds if seconds <= RetryAfter.MAX_SECONDS else None


def primary_reset_delay(reset: float, now: float) -> float | None:
    """Seconds until a primary limit's ``x-ratelimit-reset`` (epoch seconds) has passed, with
    ``RESET_MARGIN``; None when the reset is too far off to be a real one."""
    return _usable(math.ceil(reset - now) + RESET_MARGIN)


def _rate_limit_delay(
    response: httpx2.Response, message: str, now: float
) -> tuple[str, float, float | None]:
    """The kind of rate limit, the seconds to wait and the primary limit's reset time, or
    ``("", 0, None)`` when it is not one. ``retry-after`` is read by ``relaykit.http.retry_after``
    (delay-seconds, which GitHub sends, or an HTTP date); an unusable value is no header."""
    seconds = http.retry_after(response.headers, now=now)
    if seconds is not None:
        return "secondary", seconds, None
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = _float_header(response, "x-ratelimit-reset")
        seconds = None if reset is None else primary_reset_delay(reset, now)
        if seconds is not None:
            return "primary", seconds, reset
    if response.status_code == 429 or "rate limit" in message.lower():
        return "secondary", SECONDARY_LIMIT_FALLBACK, None
    return "", 0.0, None


def classify(response: httpx2.Response, *, now: float) -> Exception | None:
    """The error a failed response stands for, or ``None`` for a success (2xx/3xx).

    ``now`` is the current epoch time in seconds (a parameter, so the rules are testable with a
    fixed clock). Returns ``GitHubRateLimited`` (a ``relaykit.RetryAfter``),
    ``GitHubRequestError`` (a ``relaykit.NonRetriable``) or ``GitHubServerError`` (retriable).
    """
    status = response.status_code
    if status < 400:
        return None
    method, url = response.request.method, str(response.request.url)
    github_message = _github_message(response)
    what = f"GitHub answered {status} to {method} {url}"
    detail = f": {github_message}" if github_message else ""
    fields: dict[str, Any] = {
        "status": status,
        "method": method,
        "url": url,
        "github_message": github_message,
    }
    if status in (403, 429):
        kind, seconds, reset_at = _rate_limit_delay(response, github_message or "", now)
        if kind:
            message = f"{what} ({kind} rate limit; retrying in {seconds:g}s){detail}"
            return GitHubRateLimited(seconds, message, kind=kind, reset_at=reset_at, **fields)
    if status >= 500 or status in _RETRIABLE_4XX:
        return GitHubServerError(f"{what}{detail}", **fields)
    hint = {
        401: " (check the token)",
        403: " (the token lacks a permission or scope)",
        404: " (it does not exist, or the token cannot see it)",
    }.get(status, "")
    return GitHubRequestError(f"{what}{hint}{detail}", **fields)


def raise_for_status(response: httpx2.Response, *, now: float | None = None) -> None:
    """Raise the error ``classify`` finds for ``response``; return when it succeeded."""
    error = classify(response, now=time.time() if now is None else now)
    if error is not None:
        raise error


async def paginate(
    client: httpx2.AsyncClient,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    items_key: str | None = None,
    max_pages: int | None = None,
) -> AsyncIterator[Any]:
    """Yield every item of a paginated list, following ``Link: <...>; rel="next"`` headers.

    ``items_key`` names the list inside an object response (``"workflow_runs"``); without it
    each page must be a JSON array. ``max_pages`` stops early. Each page goes through
    ``raise_for_status``.
    """
    next_url: str | None = url
    page_params = params
    pages = 0
    while next_url is not None and (max_pages is None or pages < max_pages):
        response = await client.get(next_url, params=page_params)
        raise_for_status(response)
        body = response.json()
        items = body.get(items_key) if items_key and isinstance(body, dict) else body
        if not isinstance(items, list):
            where = f"the {items_key!r} field of " if items_key else ""
            raise GitHubRequestError(
                f"expected {where}the response to GET {response.request.url} to be a list",
                status=response.status_code,
                method="GET",
                url=str(response.request.url),
                github_message=None,
            )
        for item in items:
            yield item
        pages += 1
        # The next link already carries every query parameter, so they are not sent twice.
        next_url = http.next_link(response.headers)
        page_params = None
