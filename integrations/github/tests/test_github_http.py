"""GitHub's retry rules as a table, and Link-header pagination over a real AsyncClient."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaykit import NonRetriable, RelaykitError, RetryAfter
from relaykit_github import (
    GitHub,
    GitHubRateLimited,
    GitHubRequestError,
    GitHubServerError,
    classify,
    create_client,
    paginate,
    raise_for_status,
)

NOW = 1_700_000_000.0


def response(
    status: int, headers: dict[str, str] | None = None, body: Any = None
) -> httpx2.Response:
    content = json.dumps(body if body is not None else {"message": "Bad"}).encode()
    request = httpx2.Request("POST", "https://api.github.com/repos/o/r/issues")
    return httpx2.Response(status, headers=headers or {}, content=content, request=request)


@pytest.mark.parametrize(
    ("status", "headers", "message", "kind", "seconds"),
    [
        # primary limit: remaining 0 -> wait until reset (+1 s margin for clock skew)
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)},
            "API rate limit exceeded",
            "primary",
            121.0,
        ),
        (
            429,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 5)},
            "",
            "primary",
            6.0,
        ),
        # primary limit whose reset already passed: retry at once
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 30)},
            "",
            "primary",
            0.0,
        ),
        # secondary limit with retry-after: exactly that long, even when remaining is 0
        (403, {"retry-after": "30"}, "secondary rate limit", "secondary", 30.0),
        (429, {"retry-after": "7", "x-ratelimit-remaining": "0"}, "", "secondary", 7.0),
        # secondary limit without a hint: at least a minute
        (429, {}, "", "secondary", 60.0),
        (403, {}, "You have exceeded a secondary rate limit", "secondary", 60.0),
        # a retry-after that is no delay is no header: NaN, infinity, garbage, absurd
        (429, {"retry-after": "nan"}, "", "secondary", 60.0),
        (429, {"retry-after": "inf"}, "", "secondary", 60.0),
        (429, {"retry-after": "-Infinity"}, "", "secondary", 60.0),
        (429, {"retry-after": "soon"}, "", "secondary", 60.0),
        (429, {"retry-after": "1e300"}, "", "secondary", 60.0),
        (429, {"retry-after": "9" * 400}, "", "secondary", 60.0),
        # an HTTP date (RFC 9110; relaykit.http reads it): seconds until then, a past one now
        (429, {"retry-after": "Tue, 14 Nov 2023 22:15:00 GMT"}, "", "secondary", 100.0),
        (429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, "", "secondary", 0.0),
        # a negative number is no delay-seconds: no header
        (429, {"retry-after": "-5"}, "", "secondary", 60.0),
        # ... and then the primary limit's reset is the hint
        (
            403,
            {"retry-after": "nan", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 9)},
            "",
            "primary",
            10.0,
        ),
        # a reset that is no time: a rate limit without a hint
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "nan"}, "", "secondary", 60.0),
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1e300"}, "", "secondary", 60.0),
    ],
)
def test_rate_limits_become_retry_after(
    status: int, headers: dict[str, str], message: str, kind: str, seconds: float
) -> None:
    error = classify(response(status, headers, {"message": message}), now=NOW)
    assert isinstance(error, GitHubRateLimited)
    assert isinstance(error, RetryAfter)
    assert (error.kind, error.seconds, error.status) == (kind, seconds, status)
    assert f"{kind} rate limit" in str(error)
    assert error.reset_at is None or kind == "primary"


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([403, 429]),
    retry_after=st.one_of(st.none(), st.text(max_size=40), st.floats().map(repr)),
    reset=st.one_of(st.none(), st.text(max_size=40), st.floats().map(repr)),
)
def test_any_rate_limit_headers_give_a_usable_delay(
    status: int, retry_after: str | None, reset: str | None
) -> None:
    headers = {"x-ratelimit-remaining": "0"}
    for name, value in (("retry-after", retry_after), ("x-ratelimit-reset", reset)):
        if value is not None and value.isprintable() and value.isascii():
            headers[name] = value
    error = classify(response(status, headers, {"message": "rate limit"}), now=NOW)
    assert isinstance(error, GitHubRateLimited)
    assert 0.0 <= error.seconds <= RetryAfter.MAX_SECONDS
    github = GitHub(token="unused")
    retried = github.classify_error(error)
    assert retried is None or (
        isinstance(retried, RetryAfter) and 0.0 <= retried.seconds <= RetryAfter.MAX_SECONDS
    )


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (400, ""),  # malformed request
        (401, "check the token"),  # bad credentials
        (403, "lacks a permission"),  # forbidden, not a rate limit
        (404, "does not exist"),  # missing, or invisible to the token
        (409, ""),  # conflict: a ref moved, a merge conflict
        (410, ""),  # gone: issues disabled
        (422, ""),  # validation failed
    ],
)
def test_client_errors_are_non_retriable(status: int, hint: str) -> None:
    error = classify(response(status, body={"message": "Validation Failed"}), now=NOW)
    assert isinstance(error, GitHubRequestError)
    assert isinstance(error, NonRetriable)
    assert error.retriable is False
    assert error.github_message == "Validation Failed"
    assert str(error).startswith(
        f"GitHub answered {status} to POST https://api.github.com/repos/o/r/issues"
    )
    assert hint in str(error)


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors_and_timeouts_are_retriable(status: int) -> None:
    error = classify(response(status), now=NOW)
    assert isinstance(error, GitHubServerError)
    assert isinstance(error, RelaykitError) and error.retriable is True
    assert not isinstance(error, NonRetriable | RetryAfter)


@pytest.mark.parametrize("status", [200, 201, 204, 304])
def test_success_is_no_error(status: int) -> None:
    assert classify(response(status), now=NOW) is None
    raise_for_status(response(status))


def test_an_error_without_a_json_body_still_classifies() -> None:
    request = httpx2.Request("GET", "https://api.github.com/x")
    error = classify(httpx2.Response(502, content=b"<html>", request=request), now=NOW)
    assert isinstance(error, GitHubServerError)
    assert error.github_message is None


def pages_transport(pages: list[list[int]], seen: list[str]) -> httpx2.MockTransport:
    """Serves ``pages`` by ``page`` query parameter, each linking to the next like GitHub."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        page = int(request.url.params.get("page", "1"))
        headers = {}
        if page < len(pages):
            nxt = request.url.copy_set_param("page", str(page + 1))
            headers["link"] = f'<{nxt}>; rel="next", <{nxt}>; rel="last"'
        return httpx2.Response(200, json=pages[page - 1], headers=headers)

    return httpx2.MockTransport(handler)


async def collect(client: httpx2.AsyncClient, **kwargs: Any) -> list[Any]:
    async with client:
        return [item async for item in paginate(client, "/repos/o/r/pulls", **kwargs)]


def test_paginate_follows_next_links_until_the_last_page() -> None:
    seen: list[str] = []
    client = create_client("t", transport=pages_transport([[1, 2], [3, 4], [5]], seen))
    assert asyncio.run(collect(client, params={"per_page": 2})) == [1, 2, 3, 4, 5]
    assert seen == [
        "https://api.github.com/repos/o/r/pulls?per_page=2",
        "https://api.github.com/repos/o/r/pulls?per_page=2&page=2",
        "https://api.github.com/repos/o/r/pulls?per_page=2&page=3",
    ]


def test_paginate_stops_at_max_pages() -> None:
    seen: list[str] = []
    client = create_client("t", transport=pages_transport([[1], [2], [3]], seen))
    assert asyncio.run(collect(client, max_pages=2)) == [1, 2]
    assert len(seen) == 2


def test_paginate_reads_items_from_an_object_response() -> None:
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(200, json={"total_count": 2, "workflow_runs": [1, 2]})
    )
    client = create_client("t", transport=transport)
    assert asyncio.run(collect(client, items_key="workflow_runs")) == [1, 2]


def test_paginate_raises_the_classified_error_of_a_failed_page() -> None:
    transport = httpx2.MockTransport(
        lambda request: httpx2.Response(404, json={"message": "Not Found"})
    )
    with pytest.raises(GitHubRequestError, match="404 to GET"):
        asyncio.run(collect(create_client("t", transport=transport)))


def test_paginate_rejects_a_page_that_is_not_a_list() -> None:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json={"id": 1}))
    with pytest.raises(GitHubRequestError, match="to be a list"):
        asyncio.run(collect(create_client("t", transport=transport)))


def test_create_client_sets_githubs_headers_and_refuses_an_empty_token() -> None:
    client = create_client("secret-token")
    assert client.headers["authorization"] == "Bearer secret-token"
    assert client.headers["x-github-api-version"] == "2022-11-28"
    assert client.headers["accept"] == "application/vnd.github+json"
    assert str(client.base_url) == "https://api.github.com"
    with pytest.raises(ValueError, match="GitHub token is empty"):
        create_client("")
