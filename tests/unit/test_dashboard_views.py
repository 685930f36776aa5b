"""What the dashboard draws beyond the resources: times, durations, the signed-in user and
the user's frame in a stored traceback."""

from __future__ import annotations

import pytest

from relaykit.server._views import run_duration, seconds_text, short_time, traceback_lines, who

TRACEBACK = """\
at /app/jobs.py:12 in parse_widget
Traceback (most recent call last):
  File "/usr/lib/python3.12/asyncio/tasks.py", line 3, in step
    result = coro.send(None)
  File "/app/jobs.py", line 12, in parse_widget
    return int(text)
ValueError: invalid literal for int() with base 10: 'x'
"""


def test_the_user_frame_and_its_source_line_are_marked() -> None:
    marked = [line.strip() for line, mine in traceback_lines(TRACEBACK) if mine]

    assert marked == ['File "/app/jobs.py", line 12, in parse_widget', "return int(text)"]


def test_a_traceback_without_a_headline_marks_nothing() -> None:
    text = TRACEBACK.split("\n", 1)[1]

    assert [mine for _, mine in traceback_lines(text)] == [False] * 6


@pytest.mark.parametrize(
    ("subject", "shown"),
    [
        ("user:ada", "ada"),
        ("key:k1", "API key k1"),
        ("cli", "login link (relaykit dev/serve)"),  # the one-time link's session
        ("something-else", "something-else"),
    ],
)
def test_who_is_signed_in(subject: str, shown: str) -> None:
    assert who(subject) == shown


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0123, "12 ms"),
        (3.44, "3.4 s"),
        (302, "5 min 2 s"),
        (7500, "2 h 5 min"),
        (None, "…"),
    ],
)
def test_seconds_text(seconds: float | None, text: str) -> None:
    assert seconds_text(seconds) == text


def test_times_and_run_durations() -> None:
    assert short_time("2026-12-03T05:45:01.123456+00:00") == "2026-12-03 05:45:01 UTC"
    assert short_time("2026-12-03T06:45:01+01:00") == "2026-12-03 05:45:01 UTC"
    assert short_time(None) == ""
    started = "2026-12-03T05:45:01+00:00"
    ended = "2026-12-03T05:45:03.500000+00:00"
    assert run_duration({"started_at": started, "ended_at": ended, "status": "failed"}) == "2.5 s"
    assert run_duration({"started_at": started, "ended_at": None, "status": "running"}) == (
        "running"
    )
    assert run_duration({"started_at": started, "ended_at": None, "status": "waiting"}) == ""
    assert run_duration({"started_at": None, "ended_at": None, "status": "queued"}) == ""
