"""OpenAI's failure rules: which errors to retry, and when.

The rules ("Error codes" and "Rate limits" in OpenAI's guides, and the SDK's own retry logic):

- a 429 whose error ``code`` or ``type`` is ``insufficient_quota`` means the account is out of
  credit: retrying cannot help, so it is ``OpenAIQuotaExceeded`` (never retried);
- another 429 is a rate limit: wait until the limit that was hit resets. The response says when
  in ``x-ratelimit-reset-requests`` / ``x-ratelimit-reset-tokens`` (durations such as ``6m0s``,
  ``20ms``), and sometimes ``retry-after-ms`` / ``retry-after``. The wait is the longest of these
  hints (a reset of a limit with requests or tokens left is ignored), since a retry before every
  exhausted limit resets fails again. A hint that is no usable delay (``nan``, ``inf``,
  garbage, an invalid date, more than ``RetryAfter.MAX_SECONDS``) is ignored;
- ``x-should-retry: true|false`` is the server's own verdict, obeyed as the SDK does;
- 408, 409 (a lock timeout), other 429s and 5xx are transient; other 4xx are not;
- a timeout or a dropped connection is transient.
"""

from __future__ import annotations

import time

import httpx2
import openai

from relaykit import http

from .errors import (
    ErrorFields,
    OpenAIQuotaExceeded,
    OpenAIRateLimited,
    OpenAIRequestError,
    OpenAITransientError,
)

_TRANSIENT_4XX = frozenset({408, 409})
_QUOTA = "insufficient_quota"


def parse_duration(text: str) -> float:
    """Seconds in one of OpenAI's rate-limit reset durations: ``"6m0s"`` is 360.0, ``"20ms"``
    0.02, ``"1h2m3.5s"`` 3723.5 (Go's duration syntax, which OpenAI's servers print; read by
    ``relaykit.http.parse_duration``).

    A bare number is taken as seconds. Raises ``ValueError`` for anything else (an empty string,
    a negative duration, an unknown unit, more than ``RetryAfter.MAX_SECONDS``).
    """
    seconds = http.parse_duration(text)
    if seconds is None:
        raise ValueError(f"not a duration: {text!r} (expected e.g. '6m0s', '1s' or '20ms')")
    return seconds


def rate_limit_delay(headers: httpx2.Headers, *, now: float) -> float | None:
    """Seconds to wait after a 429 with these headers, or ``None`` when they give no hint.

    The longest of ``retry-after-ms`` / ``retry-after`` and the resets of the exhausted limits
    (``x-ratelimit-remaining-requests`` / ``-tokens`` at 0). When the response does not say
    which limit is exhausted, both resets count.
    """
    hints: list[float] = []
    retry_after = http.retry_after(headers, now=now)
    if retry_after is not None:
        hints.append(retry_after)
    # a malformed reset is no hint; the other headers or the backoff decide
    resets = {
        kind: http.parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
        for kind in ("requests", "tokens")
    }
    remaining = {kind: headers.get(f"x-ratelimit-remaining-{kind}") for kind in resets}
    exhausted = [
        kind for kind, left in remaining.items() if left is not None and left.strip() == "0"
    ]
    for kind in exhausted or list(resets):
        reset = resets[kind]
        if reset is not None:
            hints.append(reset)
    return max(hints) if hints else None


def _fields(error: openai.APIStatusError) -> ErrorFields:
    return {
        "status": error.status_code,
        "method": error.request.method,
        "url": str(error.request.url),
        "request_id": error.request_id,
        "code": error.code,
        "type": error.type,
        "openai_message": _message(error),
    }


def _message(error: openai.APIStatusError) -> str | None:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return None


def _classify_status(error: openai.APIStatusError, now: float) -> Exception:
    status = error.status_code
    fields = _fields(error)
    what = f"OpenAI answered {status} to {fields['method']} {fields['url']}"
    detail = f": {fields['openai_message']}" if fields["openai_message"] else ""
    if status == 429 and _QUOTA in (error.code, error.type):
        return OpenAIQuotaExceeded(
            f"{what} (insufficient_quota: the account has no credit left; add credit or raise "
            f"the project's limit, then replay the run){detail}",
            **fields,
        )
    verdict = error.response.headers.get("x-should-retry")
    if status == 429 and verdict != "false":
        seconds = rate_limit_delay(error.response.headers, now=now)
        if seconds is not None:
            message = f"{what} (rate limited; retrying in {seconds:g}s){detail}"
            return OpenAIRateLimited(seconds, message, **fields)
    transient = status >= 500 or status == 429 or status in _TRANSIENT_4XX
    if verdict in ("true", "false"):
        transient = verdict == "true"
    if transient:
        return OpenAITransientError(f"{what}{detail}", **fields)
    hint = {
        401: " (check the API key)",
        403: " (the key's project or region may not use this model or endpoint)",
        404: " (it does not exist, or the key's project cannot see it)",
    }.get(status, "")
    return OpenAIRequestError(f"{what}{hint}{detail}", **fields)


def classify(error: BaseException, *, now: float | None = None) -> Exception | None:
    """The relaykit error an exception of the ``openai`` SDK stands for, or ``None`` when it is
    not an API failure (the core's default handling then applies).

    ``now`` (epoch seconds; the current time by default) only matters for a ``retry-after``
    given as an HTTP date. Returns ``OpenAIRateLimited`` (a ``relaykit.RetryAfter``),
    ``OpenAIQuotaExceeded`` / ``OpenAIRequestError`` (``relaykit.NonRetriable``) or
    ``OpenAITransientError`` (retriable).
    """
    if isinstance(error, openai.APIStatusError):
        return _classify_status(error, time.time() if now is None else now)
    if isinstance(error, openai.APIConnectionError):
        # APITimeoutError is a subclass: the request may not have reached OpenAI, or its
        # answer was lost; either way a retry is the remedy.
        kind = "timed out" if isinstance(error, openai.APITimeoutError) else "failed to connect"
        request = error.request
        return OpenAITransientError(
            f"OpenAI request {request.method} {request.url} {kind}: {error}",
            status=None,
            method=request.method,
            url=str(request.url),
        )
    return None
