"""Slack's retry rules as a table, and cursor pagination over a real AsyncClient."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaykit import NonRetriable, RelaykitError, RetryAfter
from relaykit_slack import (
    SlackAPIError,
    SlackRateLimited,
    SlackServerError,
    classify,
    create_client,
    paginate,
    raise_for_slack,
)
from tests.slack_replay import TOKEN


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = httpx2.Request("POST", "https://slack.com/api/chat.postMessage")
    return httpx2.Response(status, headers=headers or {}, content=content, request=request)


def failed(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "seconds"),
    [
        # 429 with Retry-After: exactly that long
        (429, failed("ratelimited"), {"Retry-After": "17"}, SlackRateLimited, 17.0),
        # 429 without the header (or an unreadable one): a minute, Slack's counting window
        (429, failed("ratelimited"), {}, SlackRateLimited, 60.0),
        (429, "Too Many Requests", {"Retry-After": "soon"}, SlackRateLimited, 60.0),
        # a Retry-After that is no delay counts as absent: NaN, infinity, absurdly long
        (429, failed("ratelimited"), {"Retry-After": "nan"}, SlackRateLimited, 60.0),
        (429, failed("ratelimited"), {"Retry-After": "inf"}, SlackRateLimited, 60.0),
        (429, failed("ratelimited"), {"Retry-After": "1e300"}, SlackRateLimited, 60.0),
        # an HTTP date (RFC 9110 allows one, relaykit.http reads it): one in the past means now
        (
            429,
            failed("ratelimited"),
            {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
            SlackRateLimited,
            0.0,
        ),
        # a negative number is no delay-seconds: absent
        (429, failed("ratelimited"), {"Retry-After": "-3"}, SlackRateLimited, 60.0),
        # ok:false rate limit codes on a 200 (chat.* methods document `rate_limited`)
        (200, failed("rate_limited"), {}, SlackRateLimited, 60.0),
        (200, failed("ratelimited"), {"Retry-After": "3"}, SlackRateLimited, 3.0),
        # transient codes on a 200: retried with the task's backoff
        (200, failed("internal_error"), {}, SlackServerError, None),
        (200, failed("fatal_error"), {}, SlackServerError, None),
        (200, failed("service_unavailable"), {}, SlackServerError, None),
        (200, failed("request_timeout"), {}, SlackServerError, None),
        (200, failed("team_added_to_org"), {}, SlackServerError, None),
        # HTTP-level failures of Slack or something in front of it
        (500, failed("internal_error"), {}, SlackServerError, None),
        (503, "<html>Service Unavailable</html>", {}, SlackServerError, None),
        (408, "", {}, SlackServerError, None),
        (200, "<html>maintenance</html>", {}, SlackServerError, None),
        # codes retrying will not change: fail the task at once
        (200, failed("channel_not_found"), {}, SlackAPIError, None),
        (200, failed("not_in_channel"), {}, SlackAPIError, None),
        (200, failed("invalid_auth"), {}, SlackAPIError, None),
        (200, failed("not_authed"), {}, SlackAPIError, None),
        (200, failed("account_inactive"), {}, SlackAPIError, None),
        (200, failed("token_revoked"), {}, SlackAPIError, None),
        (200, failed("missing_scope"), {}, SlackAPIError, None),
        (200, failed("invalid_arguments"), {}, SlackAPIError, None),
        # an unknown code is a caller error until proven otherwise
        (200, failed("something_new"), {}, SlackAPIError, None),
        (200, {"ok": False}, {}, SlackAPIError, None),
        (404, failed("unknown_method"), {}, SlackAPIError, None),
        (400, "bad request", {}, SlackAPIError, None),
    ],
)
def test_classify(
    status: int, body: Any, headers: dict[str, str], kind: type, seconds: float | None
) -> None:
    error = classify(response(status, body, headers))
    assert type(error) is kind
    assert isinstance(error, RelaykitError)
    if kind is SlackRateLimited:
        assert isinstance(error, RetryAfter)
        assert error.seconds == seconds
    assert isinstance(error, NonRetriable) is (kind is SlackAPIError)
    assert error.retriable is (kind is not SlackAPIError)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.floats().map(repr)))
def test_any_retry_after_gives_a_usable_delay(value: str) -> None:
    headers = {"Retry-After": value} if value.isascii() and value.isprintable() else {}
    error = classify(response(429, failed("ratelimited"), headers))
    assert isinstance(error, SlackRateLimited)
    assert 0.0 <= error.seconds <= RetryAfter.MAX_SECONDS


def test_a_success_is_no_error_and_returns_the_body() -> None:
    ok = response(200, {"ok": True, "ts": "1.2"})
    assert classify(ok) is None
    assert raise_for_slack(ok) == {"ok": True, "ts": "1.2"}


def test_errors_carry_the_method_and_code() -> None:
    with pytest.raises(SlackAPIError) as caught:
        raise_for_slack(response(200, failed("not_in_channel")))
    error = caught.value
    assert (error.status, error.method, error.error) == (200, "chat.postMessage", "not_in_channel")
    assert error.url == "https://slack.com/api/chat.postMessage"
    assert "invite the bot to the channel" in str(error)


def page(channels: list[str], cursor: str) -> dict[str, Any]:
    return {
        "ok": True,
        "channels": [{"id": channel} for channel in channels],
        "response_metadata": {"next_cursor": cursor},
    }


def test_paginate_sends_each_cursor_and_stops_on_an_empty_one() -> None:
    pages = {None: page(["C1", "C2"], "c2"), "c2": page(["C3"], "c3"), "c3": page([], "")}
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=pages[request.url.params.get("cursor")])

    async def run() -> list[str]:
        async with create_client(TOKEN, transport=httpx2.MockTransport(handler)) as client:
            items = paginate(
                client,
                "conversations.list",
                items_key="channels",
                params={"types": "im", "exclude_archived": True, "ignored": None},
                limit=2,
            )
            return [item["id"] async for item in items]

    assert asyncio.run(run()) == ["C1", "C2", "C3"]
    assert [str(r.url) for r in seen] == [
        "https://slack.com/api/conversations.list?types=im&exclude_archived=true&limit=2",
        "https://slack.com/api/conversations.list?types=im&exclude_archived=true&limit=2&cursor=c2",
        "https://slack.com/api/conversations.list?types=im&exclude_archived=true&limit=2&cursor=c3",
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in seen)


def test_paginate_raises_the_pages_error_and_checks_the_items_key() -> None:
    def limited(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(429, headers={"Retry-After": "9"}, json=failed("ratelimited"))

    def no_list(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"ok": True, "channels": None})

    async def run(handler: Any) -> list[Any]:
        async with create_client(TOKEN, transport=httpx2.MockTransport(handler)) as client:
            return [
                item async for item in paginate(client, "conversations.list", items_key="channels")
            ]

    with pytest.raises(SlackRateLimited) as caught:
        asyncio.run(run(limited))
    assert caught.value.seconds == 9.0
    with pytest.raises(SlackAPIError, match="expected the 'channels' field"):
        asyncio.run(run(no_list))


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="Slack token is empty"):
        create_client("")
