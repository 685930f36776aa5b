"""``relaykit.http``: the rate-limit headers every plugin reads one way, the Link header, and
the per-plugin base errors (``except GitHubError`` catches every GitHub API failure)."""

from __future__ import annotations

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaykit import NonRetriable, RetryAfter, http
from relaykit_github import GitHubError, GitHubRateLimited, GitHubRequestError, GitHubServerError
from relaykit_openai import OpenAIError, OpenAIRateLimited, OpenAIRequestError, OpenAITransientError
from relaykit_slack import SlackAPIError, SlackError, SlackRateLimited, SlackServerError

NOW = 1_445_412_400.0  # 2015-10-21T07:26:40Z


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"retry-after": " 1.5 "}, 1.5),  # a decimal is accepted, spaces ignored
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 80.0),  # IMF-fixdate
        ({"Retry-After": "Wednesday, 21-Oct-15 07:28:00 GMT"}, 80.0),  # obsolete RFC 850
        ({"Retry-After": "Wed Oct 21 07:28:00 2015"}, 80.0),  # asctime: no zone, read as UTC
        ({"Retry-After": "Tue, 20 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past: now
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # OpenAI's precise one first
        ({"retry-after-ms": "nan", "retry-after": "9"}, 9.0),  # an unusable one: the next
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "-3"}, None),  # not delay-seconds
        ({"Retry-After": "1e300"}, None),
        ({"Retry-After": "9" * 400}, None),  # float() of it is inf
        ({"Retry-After": "٣"}, None),  # an Arabic-Indic digit: str.isdigit() says yes
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "Wed, 32 Oct 2015 07:28:00 GMT"}, None),  # no 32 October
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert http.retry_after(headers, now=NOW) == seconds
    if all(v.isascii() for v in headers.values()):  # httpx2.Headers holds ASCII only
        assert http.retry_after(httpx2.Headers(headers), now=NOW) == seconds


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7", "X-RateLimit-Reset": str(int(NOW) + 60)}, 7.0),  # Retry-After wins
        ({"X-RateLimit-Reset": str(int(NOW) + 60)}, 60.0),  # GitHub's epoch seconds
        ({"X-RateLimit-Reset": str(int(NOW) - 60)}, 0.0),  # already reset
        ({"X-RateLimit-Reset": "never"}, None),
        ({}, None),
    ],
)
def test_rate_limit_delay(headers: dict[str, str], seconds: float | None) -> None:
    assert http.rate_limit_delay(headers, now=NOW) == seconds
    assert http.rate_limit_delay(headers, now=NOW, default=30.0) == (
        30.0 if seconds is None else seconds
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),  # OpenAI's x-ratelimit-reset-requests
        ("1.5s", 1.5),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("500us", 0.0005),
        ("7", 7.0),  # a bare number is seconds
        ("", None),
        ("5x", None),  # an unknown unit
        ("1m banana", None),
        ("-1s", None),
        (None, None),
    ],
)
def test_parse_duration(text: str | None, seconds: float | None) -> None:
    assert http.parse_duration(text) == pytest.approx(seconds) if seconds else seconds is None


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=40), st.sampled_from(["retry-after", "retry-after-ms", "x-ratelimit-reset"])
)
def test_any_header_value_is_no_delay_or_a_usable_one(value: str, name: str) -> None:
    if not (value.isascii() and value.isprintable()):
        value = "x"
    seconds = http.rate_limit_delay({name: value}, now=NOW)
    assert seconds is None or 0.0 <= seconds <= RetryAfter.MAX_SECONDS


@pytest.mark.parametrize(
    ("link", "url"),
    [
        (
            '<https://api.github.com/r?page=2>; rel="next", <https://api.github.com/r?page=9>; '
            'rel="last"',
            "https://api.github.com/r?page=2",
        ),
        ('<https://x.test/?page=1>; rel="prev first"', None),
        ('<https://x.test/?page=3>; title="x"; rel="prefetch next"', "https://x.test/?page=3"),
        ("", None),
    ],
)
def test_next_link(link: str, url: str | None) -> None:
    assert http.next_link({"Link": link}) == url


def _github() -> list[Exception]:
    url = "https://api.github.com/x"
    return [
        GitHubServerError("down", status=500, method="GET", url=url, github_message="Oops"),
        GitHubRequestError("no", status=404, method="GET", url=url, github_message="Not Found"),
        GitHubRateLimited(
            60, "slow", kind="primary", status=403, method="GET", url=url, github_message="limit"
        ),
    ]


def _slack() -> list[Exception]:
    fields = {"method": "chat.postMessage", "url": "https://slack.com/api/chat.postMessage"}
    return [
        SlackServerError("down", status=500, error="internal_error", **fields),
        SlackAPIError("no", status=200, error="channel_not_found", **fields),
        SlackRateLimited(3, "slow", status=429, error="ratelimited", **fields),
    ]


def _openai() -> list[Exception]:
    fields = {"method": "POST", "url": "https://api.openai.com/v1/responses"}
    return [
        OpenAITransientError("down", status=None, **fields),
        OpenAIRequestError("no", status=400, openai_message="bad", **fields),
        OpenAIRateLimited(5, "slow", status=429, openai_message="limit", **fields),
    ]


@pytest.mark.parametrize(
    ("base", "make"), [(GitHubError, _github), (SlackError, _slack), (OpenAIError, _openai)]
)
def test_one_base_error_per_plugin_catches_every_api_failure(
    base: type[Exception], make: object
) -> None:
    assert callable(make)
    server, request, limited = make()
    for error in (server, request, limited):
        assert isinstance(error, base) and isinstance(error, http.APIError)
        with pytest.raises(base):
            raise error
    # ...while each keeps the retry class the engine acts on
    assert getattr(server, "retriable", None) is True
    assert not isinstance(server, NonRetriable | RetryAfter)
    assert isinstance(request, NonRetriable) and not request.retriable
    assert isinstance(limited, RetryAfter) and limited.seconds > 0
    assert isinstance(request, http.APIError) and request.method and request.url
