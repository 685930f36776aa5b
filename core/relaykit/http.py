"""``relaykit.http``: what integration plugins share about HTTP APIs.

- **Rate-limit headers** read one way everywhere: ``retry_after`` (``Retry-After`` as
  delay-seconds or an HTTP date, and OpenAI's ``retry-after-ms``), ``rate_limit_reset``
  (GitHub's ``X-RateLimit-Reset`` epoch seconds), ``parse_duration`` (OpenAI's
  ``x-ratelimit-reset-requests: 6m0s``) and ``rate_limit_delay``, which combines them. A value
  that is garbage, NaN, infinite, negative or over ``RetryAfter.MAX_SECONDS`` counts as
  absent; a time already past means now.
- **Errors:** ``APIError`` is the base of each plugin's own error class (``GitHubError``,
  ``SlackError``, ``OpenAIError``), so ``except GitHubError`` catches every API failure of
  that plugin, whatever the retry class it also derives from (``NonRetriable``,
  ``RetryAfter``, or neither for a retriable server error).
- **Pagination:** ``next_link`` reads the RFC 8288 ``Link`` header's ``rel="next"`` URL.

Nothing here touches the network or imports an HTTP client: headers are any mapping of
lowercase-insensitive names (``httpx2.Headers`` or a plain ``dict``).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC
from typing import Final

from ._base.durations import as_seconds
from .errors import RelaykitError

__all__ = [
    "APIError",
    "next_link",
    "parse_duration",
    "rate_limit_delay",
    "rate_limit_reset",
    "retry_after",
]

_NUMBER: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # ASCII digits: str.isdigit() is not
_DURATION: Final = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_LINK: Final = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not hasattr(headers, "multi_items"):  # a plain dict: any case
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return None if value is None else value.strip()


def _number(text: str | None) -> float | None:
    """A non-negative decimal number (``inf`` for hundreds of digits: every caller bounds it
    with ``as_seconds``), or None (also for ``nan``, ``1e9``, ``-1``)."""
    if text is None or not _NUMBER.fullmatch(text):
        return None
    return float(text)


def _http_date(text: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)  # checks the fields: no 32 October
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime and "-0000" carry no zone: HTTP dates are UTC
        when = when.replace(tzinfo=UTC)
    return as_seconds(max(0.0, when.timestamp() - now))


def retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds from ``retry-after-ms`` (milliseconds, OpenAI's) or ``Retry-After`` (RFC 9110
    delay-seconds — a decimal is accepted — or an HTTP date in any of its three forms), or
    None when neither gives a usable delay."""
    milliseconds = _number(_header(headers, "retry-after-ms"))
    if milliseconds is not None:
        seconds = as_seconds(milliseconds / 1000)
        if seconds is not None:
            return seconds
    text = _header(headers, "retry-after")
    if not text:
        return None
    number = _number(text)
    if number is not None:
        return as_seconds(number)
    return _http_date(text, now)


def rate_limit_reset(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (epoch seconds, as GitHub sends it), or None."""
    reset = _number(_header(headers, "x-ratelimit-reset"))
    return None if reset is None else as_seconds(max(0.0, reset - now))


def parse_duration(text: str | None) -> float | None:
    """Seconds in a Go-style duration (``6m0s``, ``1.5s``, ``20ms``, ``1h2m``, ``ns``/``us``
    too), as OpenAI's
    ``x-ratelimit-reset-*`` headers send them; a bare number is seconds; None otherwise."""
    if text is None:
        return None
    text = text.strip()
    number = _number(text)
    if number is not None:
        return as_seconds(number)
    if not text or _DURATION.sub("", text):
        return None
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "\u00b5s": 1e-6}
    units["\u03bcs"] = 1e-6
    total = sum(float(value) * units[unit] for value, unit in _DURATION.findall(text))
    return as_seconds(total)  # None when infinite or over the limit


def rate_limit_delay(
    headers: Mapping[str, str], *, now: float, default: float | None = None
) -> float | None:
    """Seconds to wait before retrying a rate-limited request: ``retry_after``, else
    ``rate_limit_reset``, else ``default``."""
    for seconds in (retry_after(headers, now=now), rate_limit_reset(headers, now=now)):
        if seconds is not None:
            return seconds
    return default


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` URL of an RFC 8288 ``Link`` header (GitHub's pagination), or None."""
    text = _header(headers, "link")
    if not text:
        return None
    for url, params in _LINK.findall(text):
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return str(url)
    return None


class APIError(RelaykitError):
    """Base of an integration's API errors: the request and the vendor's answer (``status``
    is None when no response came).

    A plugin derives its own base from it (``class GitHubError(APIError)``) and its concrete
    errors from that base *and* the retry class they need::

        class GitHubRequestError(GitHubError, relaykit.NonRetriable): ...
        class GitHubRateLimited(GitHubError, relaykit.RetryAfter): ...
        class GitHubServerError(GitHubError): ...  # retriable

    ``APIError`` defines no ``__init__`` and no ``retriable``, so those come from the retry
    class; the concrete error calls ``set_api_fields`` after ``super().__init__``.
    """

    status: int | None
    method: str
    url: str
    vendor_message: str | None

    def set_api_fields(
        self, *, status: int | None, method: str, url: str, vendor_message: str | None = None
    ) -> None:
        """Record the HTTP status, the request's method and URL, and the vendor's message."""
        self.status = status
        self.method = method
        self.url = url
        self.vendor_message = vendor_message
