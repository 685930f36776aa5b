"""OpenAI's retry rules as tables: the reset-duration parser, the 429 delay, the classifier."""

from __future__ import annotations

import email.utils
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaykit import NonRetriable, RelaykitError, RetryAfter
from relaykit_openai import (
    OpenAIQuotaExceeded,
    OpenAIRateLimited,
    OpenAIRequestError,
    OpenAITransientError,
    classify,
    parse_duration,
    rate_limit_delay,
)

NOW = 1_700_000_000.0
URL = "https://api.openai.com/v1/chat/completions"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),  # the usual requests reset
        ("6m0s", 360.0),  # minutes with a zero seconds part, as OpenAI prints them
        ("20ms", 0.02),  # the usual tokens reset
        ("1h2m3.5s", 3723.5),  # every unit, fractional seconds
        ("59.421s", 59.421),  # fractional seconds alone
        ("2m30.5s", 150.5),
        ("0s", 0.0),
        ("1.5h", 5400.0),  # a fraction of a larger unit
        ("500us", 0.0005),  # Go's smaller units also parse
        ("7", 7.0),  # a bare number is seconds
        (" 3s ", 3.0),  # surrounding whitespace from a header
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",  # empty
        "s",  # a unit without a number
        "6m0",  # a number without a unit after a unit
        "1d",  # days are not a Go duration unit
        "-1s",  # negative
        "-5",  # negative bare number
        "1s garbage",  # trailing text
        "nan",  # not a number
        "inf",  # no finite delay
        "9" * 400 + "s",  # so many digits the sum overflows to infinity
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        # requests exhausted: their reset counts, the tokens' does not
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "6m0s",
                "x-ratelimit-remaining-tokens": "100",
                "x-ratelimit-reset-tokens": "1s",
            },
            360.0,
        ),
        # tokens exhausted: their reset counts
        (
            {
                "x-ratelimit-remaining-requests": "10",
                "x-ratelimit-reset-requests": "6m0s",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "1.5s",
            },
            1.5,
        ),
        # both exhausted: the larger reset
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "20ms",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "1m",
            },
            60.0,
        ),
        # no remaining counts: both resets are candidates, the larger wins
        ({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "20ms"}, 2.0),
        # retry-after-ms is preferred to retry-after (the same hint, more precise)
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "250"}, 0.25),
        # a malformed retry-after-ms falls back to retry-after
        ({"retry-after-ms": "soon", "retry-after": "4"}, 4.0),
        # retry-after longer than the reset: the longest hint wins
        ({"retry-after": "30", "x-ratelimit-reset-tokens": "20ms"}, 30.0),
        # a reset longer than retry-after wins too
        ({"retry-after": "1", "x-ratelimit-reset-requests": "6m0s"}, 360.0),
        # retry-after as an HTTP date, 90 seconds after NOW
        ({"retry-after": email.utils.formatdate(NOW + 90, usegmt=True)}, 90.0),
        # a malformed reset is no hint; the other one is used
        ({"x-ratelimit-reset-requests": "soon", "x-ratelimit-reset-tokens": "3s"}, 3.0),
        # no hint at all
        ({}, None),
        ({"x-ratelimit-reset-requests": "soon"}, None),
        # a hint that is no usable delay is no hint: NaN, infinity, absurdly long
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after-ms": "nan", "retry-after": "5"}, 5.0),
        ({"retry-after": "1e300"}, None),
        ({"retry-after-ms": "1e300"}, None),
        ({"x-ratelimit-reset-tokens": "99999999999h"}, None),
        # an HTTP date whose fields are out of range is no date (not 1 November)
        ({"retry-after": "Sat, 32 Oct 2023 22:13:20 GMT"}, None),
        # a date without a zone (asctime) is UTC
        ({"retry-after": "Tue Nov 14 22:13:50 2023"}, 30.0),
        # a date in the past means now; one past year 9999 is no date
        ({"retry-after": email.utils.formatdate(NOW - 90, usegmt=True)}, 0.0),
        ({"retry-after": "Wed, 21 Oct 99999 07:28:00 GMT"}, None),
    ],
)
def test_rate_limit_delay(headers: dict[str, str], seconds: float | None) -> None:
    assert rate_limit_delay(httpx2.Headers(headers), now=NOW) == (
        None if seconds is None else pytest.approx(seconds)
    )


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "retry-after",
                "retry-after-ms",
                "x-ratelimit-reset-requests",
                "x-ratelimit-reset-tokens",
            ]
        ),
        st.one_of(st.text(max_size=40), st.floats().map(repr)).filter(
            lambda v: v.isascii() and v.isprintable()
        ),
    )
)
def test_any_rate_limit_headers_give_no_delay_or_a_usable_one(headers: dict[str, str]) -> None:
    seconds = rate_limit_delay(httpx2.Headers(headers), now=NOW)
    assert seconds is None or 0.0 <= seconds <= RetryAfter.MAX_SECONDS


def status_error(status: int, headers: dict[str, str] | None = None, **error: Any) -> Exception:
    """The exception the SDK raises for an error response (``body`` is the inner ``error``)."""
    body = {"message": "Bad", "type": "invalid_request_error", "param": None, "code": None}
    body |= error
    request = httpx2.Request("POST", URL)
    response = httpx2.Response(
        status,
        json={"error": body},
        headers={"x-request-id": "req_1", **(headers or {})},
        request=request,
    )
    return openai.APIStatusError("Bad", response=response, body=body)


@pytest.mark.parametrize(
    ("status", "error", "hint"),
    [
        (400, {"code": "invalid_value"}, ""),  # malformed request
        (401, {"code": "invalid_api_key"}, "check the API key"),  # bad key
        (403, {"code": "unsupported_country_region_territory"}, "may not use"),  # forbidden
        (404, {"code": "model_not_found"}, "does not exist"),  # unknown model or object
        (422, {"code": None}, ""),  # unprocessable
        # an exhausted quota by its code, or by its type alone: no retry would succeed
        (429, {"code": "insufficient_quota", "type": "insufficient_quota"}, "add credit"),
        (429, {"code": None, "type": "insufficient_quota"}, "add credit"),
    ],
)
def test_client_errors_are_non_retriable(status: int, error: dict[str, Any], hint: str) -> None:
    classified = classify(status_error(status, **error), now=NOW)
    assert isinstance(classified, OpenAIRequestError)
    assert isinstance(classified, NonRetriable)
    assert classified.retriable is False
    assert isinstance(classified, OpenAIQuotaExceeded) == (status == 429)
    assert (classified.status, classified.code, classified.request_id) == (
        status,
        error["code"],
        "req_1",
    )
    assert str(classified).startswith(f"OpenAI answered {status} to POST {URL}")
    assert hint in str(classified)
    assert classified.openai_message == "Bad"


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (500, {}),  # server error
        (502, {}),
        (503, {}),  # overloaded
        (504, {}),
        (408, {}),  # request timeout
        (409, {}),  # lock timeout (the SDK retries it too)
        (429, {}),  # a rate limit without any delay hint: the task's backoff decides
        (400, {"x-should-retry": "true"}),  # the server's verdict overrides the status
    ],
)
def test_transient_errors_are_retriable(status: int, headers: dict[str, str]) -> None:
    classified = classify(status_error(status, headers, code="server_error"), now=NOW)
    assert isinstance(classified, OpenAITransientError)
    assert isinstance(classified, RelaykitError) and classified.retriable is True
    assert not isinstance(classified, NonRetriable | RetryAfter)
    assert classified.status == status


def test_the_server_can_forbid_a_retry() -> None:
    classified = classify(status_error(503, {"x-should-retry": "false"}), now=NOW)
    assert isinstance(classified, OpenAIRequestError)
    classified = classify(
        status_error(
            429, {"x-should-retry": "false", "retry-after": "5"}, code="rate_limit_exceeded"
        ),
        now=NOW,
    )
    assert isinstance(classified, OpenAIRequestError)


def test_a_rate_limit_with_a_reset_is_retry_after() -> None:
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m30s"}
    classified = classify(status_error(429, headers, code="rate_limit_exceeded"), now=NOW)
    assert isinstance(classified, OpenAIRateLimited)
    assert isinstance(classified, RetryAfter)
    assert classified.seconds == 90.0
    assert "retrying in 90s" in str(classified)


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (openai.APITimeoutError(request=httpx2.Request("POST", URL)), "timed out"),
        (openai.APIConnectionError(request=httpx2.Request("POST", URL)), "failed to connect"),
    ],
)
def test_timeouts_and_connection_errors_are_retriable(error: Exception, says: str) -> None:
    classified = classify(error, now=NOW)
    assert isinstance(classified, OpenAITransientError)
    assert classified.retriable is True
    assert (classified.status, classified.method, classified.url) == (None, "POST", URL)
    assert says in str(classified)


@pytest.mark.parametrize("error", [ValueError("x"), openai.OpenAIError("no key")])
def test_other_exceptions_are_not_classified(error: Exception) -> None:
    assert classify(error, now=NOW) is None
