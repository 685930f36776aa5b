"""The core's two readers of a vendor's rate-limit hints, as tables: ``Retry-After`` for
``io.background_fetch`` and ``Retry-After`` / ``X-RateLimit-Reset`` for ``Integration``'s
default error classifier. A hint that is no usable delay is treated as no header."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaykit import RetryAfter, http
from relaykit.integrations.base import rate_limit_delay

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT

# (Retry-After value, seconds or None for "no header")
RETRY_AFTER = [
    ("7", 7.0),  # delay-seconds
    (" 7 ", 7.0),  # whitespace around it
    ("0", 0.0),
    ("1.5", 1.5),  # not RFC 9110 delay-seconds, but unambiguous
    ("Tue, 14 Nov 2023 22:14:50 GMT", 90.0),  # IMF-fixdate
    ("Tuesday, 14-Nov-23 22:14:50 GMT", 90.0),  # obsolete RFC 850 date
    ("Tue Nov 14 22:14:50 2023", 90.0),  # asctime: no zone, and HTTP dates are UTC
    ("Tue, 14 Nov 2023 22:14:50 -0000", 90.0),  # "-0000": no zone either
    ("Tue, 14 Nov 2023 23:14:50 +0100", 90.0),  # a zone offset is honoured
    ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),  # a date already past: now
    # no usable delay: treated as no header
    ("nan", None),
    ("NaN", None),
    ("inf", None),
    ("-Infinity", None),
    ("-5", None),
    ("1e3", None),
    ("9" * 400, None),  # float() says inf
    ("99999999999", None),  # over RetryAfter.MAX_SECONDS
    ("²", None),  # str.isdigit() says yes, float() says no
    ("soon", None),
    ("", None),
    ("Tue, 32 Nov 2023 22:14:50 GMT", None),  # a field out of range
    ("Tue, 14 Nov 99999 22:14:50 GMT", None),  # past year 9999
    ("Fri, 31 Dec 9999 23:59:59 GMT", None),  # a real date, but 7,976 years away
]


def _headers(**values: str) -> httpx2.Headers:
    """Response headers as they arrive: bytes, decoded as Latin-1 (so ``²`` can be sent)."""
    return httpx2.Headers(
        [(k.replace("_", "-").encode(), v.encode("latin-1")) for k, v in values.items()]
    )


@pytest.fixture
def new_york_machine() -> Iterator[None]:
    """Run the test on a machine whose local time is New York's (a naive datetime's
    ``timestamp()`` would be read in it)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        yield
    finally:
        mp.undo()
        time.tzset()


@pytest.mark.parametrize(("value", "seconds"), RETRY_AFTER)
@pytest.mark.usefixtures("new_york_machine")
def test_background_fetch_reads_retry_after(value: str, seconds: float | None) -> None:
    assert http.retry_after(_headers(retry_after=value), now=NOW) == seconds


def test_background_fetch_without_the_header() -> None:
    assert http.retry_after(httpx2.Headers({}), now=NOW) is None


@pytest.mark.parametrize(("value", "seconds"), RETRY_AFTER)
@pytest.mark.usefixtures("new_york_machine")
def test_the_default_classifier_reads_retry_after(value: str, seconds: float | None) -> None:
    # No usable Retry-After: the default of 60 s applies.
    expected = 60.0 if seconds is None else seconds
    assert rate_limit_delay(_headers(retry_after=value), NOW) == expected


@pytest.mark.parametrize(
    ("reset", "seconds"),
    [
        (str(int(NOW) + 30), 30.0),  # epoch seconds
        (f"{NOW + 2.5:.1f}", 2.5),
        (str(int(NOW) - 30), 0.0),  # already reset
        ("nan", 60.0),
        ("inf", 60.0),
        ("1e300", 60.0),
        ("9" * 400, 60.0),
        ("99999999999999", 60.0),  # over RetryAfter.MAX_SECONDS away
        ("soon", 60.0),
    ],
)
def test_the_default_classifier_reads_x_ratelimit_reset(reset: str, seconds: float) -> None:
    assert rate_limit_delay(_headers(x_ratelimit_reset=reset), NOW) == seconds


def test_an_unusable_retry_after_falls_back_to_the_reset() -> None:
    headers = _headers(retry_after="nan", x_ratelimit_reset=str(int(NOW) + 9))
    assert rate_limit_delay(headers, NOW) == 9.0


HEADER_TEXT = st.one_of(
    st.text(max_size=40),
    st.floats().map(repr),
    st.integers().map(str),
    st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
).filter(lambda v: v.isprintable() and all(ord(c) < 256 for c in v))


@settings(max_examples=300, deadline=None)
@given(retry_after=st.one_of(st.none(), HEADER_TEXT), reset=st.one_of(st.none(), HEADER_TEXT))
def test_any_header_values_give_none_or_a_usable_delay(
    retry_after: str | None, reset: str | None
) -> None:
    values = {"retry_after": retry_after, "x_ratelimit_reset": reset}
    headers = _headers(**{k: v for k, v in values.items() if v is not None})
    fetched = http.retry_after(headers, now=NOW)
    assert fetched is None or 0.0 <= fetched <= RetryAfter.MAX_SECONDS
    RetryAfter(rate_limit_delay(headers, NOW))  # always a delay RetryAfter accepts
