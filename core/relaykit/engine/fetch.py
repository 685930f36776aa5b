"""``io.background_fetch``: a durable HTTP request with retry rules per response status.

``retry`` maps status patterns to policies: an exact status (``"429"``), a class (``"5xx"``,
``"4xx"``) or an inclusive range (``"500-599"``); the most specific match wins. Without
``retry``, 429, 5xx and network errors are retried with the default ``Retry()``; pass
``retry={}`` to retry nothing. A ``Retry-After`` header (seconds or an HTTP date) on a
matching response sets the exact delay. A network failure is retried like a 503. A response
with no matching rule and a status of 400 or more fails the task with ``FetchError`` (no
retry). Sensitive request headers are redacted in the recorded params.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._base.durations import check_seconds
from .._base.serde import dumps
from ..definitions.retry import Retry
from ..errors import ConfigurationError, FetchError, RetryAfter
from ..http import retry_after

if TYPE_CHECKING:
    import httpx2  # imported where a request is made: `import relaykit` stays light

    from .runner import Attempt

DEFAULT_RULES: Mapping[str, Retry] = {"429": Retry(), "5xx": Retry()}
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
)


class _StatusRetry(Exception):
    """A response whose status matched a retry rule; carries the rule's policy."""

    def __init__(self, message: str, policy: Retry) -> None:
        super().__init__(message)
        self.retry_policy = policy


class _StatusRetryAfter(RetryAfter):
    def __init__(self, seconds: float, message: str, policy: Retry) -> None:
        super().__init__(seconds, message)
        self.retry_policy = policy


def _specificity(pattern: str) -> int:
    if pattern.isdigit():
        return 0
    if "-" in pattern:
        lo, hi = pattern.split("-", 1)
        return int(hi) - int(lo) + 1
    return 100


def _matches(pattern: str, status: int) -> bool:
    if pattern.isdigit():
        return int(pattern) == status
    if len(pattern) == 3 and pattern[0].isdigit() and pattern[1:].lower() == "xx":
        return status // 100 == int(pattern[0])
    lo, _, hi = pattern.partition("-")
    return lo.isdigit() and hi.isdigit() and int(lo) <= status <= int(hi)


def validate_rules(rules: Mapping[str, Retry], key: str) -> None:
    """Reject a malformed rule at the call site, naming it."""
    for pattern, policy in rules.items():
        ok = pattern.isdigit() or (len(pattern) == 3 and pattern[1:].lower() == "xx")
        lo, sep, hi = pattern.partition("-")
        ok = ok or (bool(sep) and lo.isdigit() and hi.isdigit())
        if not ok or not isinstance(policy, Retry):
            raise ValueError(
                f"io.background_fetch({key!r}): retry rule {pattern!r}: {policy!r} is not valid; "
                'use {"429": Retry(...), "5xx": Retry(...), "500-503": Retry(...)}'
            )


def match_rule(rules: Mapping[str, Retry], status: int) -> Retry | None:
    """The policy of the most specific pattern matching ``status``."""
    found = [(p, r) for p, r in rules.items() if _matches(p, status)]
    if not found:
        return None
    return min(found, key=lambda pr: _specificity(pr[0]))[1]


def _redact(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {
        k: ("[REDACTED]" if k.lower() in SENSITIVE_HEADERS else v)
        for k, v in (headers or {}).items()
    }


def _body(response: httpx2.Response) -> Any:
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text


async def background_fetch(
    attempt: Attempt,
    key: str,
    url: str,
    *,
    method: str,
    headers: Mapping[str, str] | None,
    json_body: Any,
    body: str | bytes | None,
    retry: Mapping[str, Retry] | None,
    timeout: float,  # noqa: ASYNC109 -- the HTTP request's timeout, handed to httpx2
) -> dict[str, Any]:
    """Perform the request as a task of ``attempt``; return status, headers and body."""
    rules = DEFAULT_RULES if retry is None else retry
    validate_rules(rules, key)
    check_seconds(timeout, f"io.background_fetch({key!r}): timeout", error=ConfigurationError)
    # A network failure (no response at all) is retried like a 503 response would be.
    network_policy = match_rule(rules, 503) or Retry(limit=1)
    method = method.upper()
    params = dumps(
        {"method": method, "url": url, "headers": _redact(headers), "json": json_body},
        what=f"the request of background_fetch {key!r}",
    )
    clock = attempt.services.clock

    async def fetch() -> dict[str, Any]:
        import httpx2

        client: httpx2.AsyncClient = attempt.services.http()
        try:
            response = await client.request(
                method,
                url,
                headers=dict(headers or {}),
                json=json_body,
                content=body,
                timeout=timeout,
            )
        except httpx2.TransportError as exc:
            message = f"{method} {url}: {type(exc).__name__}: {exc}"
            raise _StatusRetry(message, network_policy) from exc
        status = response.status_code
        if status < 400:
            return {"status": status, "headers": dict(response.headers), "body": _body(response)}
        message = f"{method} {url} returned HTTP {status}"
        policy = match_rule(rules, status)
        if policy is None:
            raise FetchError(message, status=status, body=_body(response))
        delay = retry_after(response.headers, now=clock.now())
        if delay is not None:
            raise _StatusRetryAfter(delay, message, policy)
        raise _StatusRetry(message, policy)

    result: dict[str, Any] = await attempt.task(
        key,
        fetch,
        kind="fetch",
        name=f"{method} {url}",
        params=params,
        retry=Retry(),
        icon="fetch",
    )
    return result
