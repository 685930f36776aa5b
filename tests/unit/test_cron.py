"""Cron fire times across daylight-saving changes: each wall-clock slot fires exactly once.

The rule (docs/triggers.md): a slot fires at the first instant the zone's clock reads that
time or later. A time shown twice (fall back) fires at its first occurrence; a time skipped
(spring forward) fires at the instant the clock jumps past it. Expected times below are written
as local times with their UTC offset, so each row reads like a wall clock.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from relaykit import InvalidJobDefinition, cron_trigger
from relaykit.definitions.cron import latest_fire, next_fire

NEW_YORK, BERLIN, LORD_HOWE = "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"

# (expression, zone, after, the next fire times)
TABLE = [
    # New York falls back on 2024-11-03 at 02:00 EDT to 01:00 EST: 01:00-01:59 happen twice.
    # the second 01:30 (EST) does not fire
    (
        "30 1 * * *",
        NEW_YORK,
        "2024-11-02T12:00-04:00",
        ["2024-11-03T01:30-04:00", "2024-11-04T01:30-05:00"],
    ),
    # 02:30 happens once
    (
        "30 2 * * *",
        NEW_YORK,
        "2024-11-02T12:00-04:00",
        ["2024-11-03T02:30-05:00", "2024-11-04T02:30-05:00"],
    ),
    # 01:00 EST is the 01:00 slot again
    (
        "0 * * * *",
        NEW_YORK,
        "2024-11-02T23:30-04:00",
        [
            "2024-11-03T00:00-04:00",
            "2024-11-03T01:00-04:00",
            "2024-11-03T02:00-05:00",
            "2024-11-03T03:00-05:00",
        ],
    ),
    # the repeated half hour is skipped
    (
        "*/30 * * * *",
        NEW_YORK,
        "2024-11-03T00:45-04:00",
        [
            "2024-11-03T01:00-04:00",
            "2024-11-03T01:30-04:00",
            "2024-11-03T02:00-05:00",
            "2024-11-03T02:30-05:00",
        ],
    ),
    # New York springs forward on 2024-03-10 at 02:00 EST to 03:00 EDT: 02:00-02:59 never happen.
    # 02:30 is skipped: fires when the clock jumps
    (
        "30 2 * * *",
        NEW_YORK,
        "2024-03-09T12:00-05:00",
        ["2024-03-10T03:00-04:00", "2024-03-11T02:30-04:00"],
    ),
    # 01:30 is untouched
    (
        "30 1 * * *",
        NEW_YORK,
        "2024-03-09T12:00-05:00",
        ["2024-03-10T01:30-05:00", "2024-03-11T01:30-04:00"],
    ),
    # 02:00 and 03:00 share one instant: one fire
    (
        "0 * * * *",
        NEW_YORK,
        "2024-03-09T23:30-05:00",
        [
            "2024-03-10T00:00-05:00",
            "2024-03-10T01:00-05:00",
            "2024-03-10T03:00-04:00",
            "2024-03-10T04:00-04:00",
        ],
    ),
    # 02:30 at the jump, then 03:30
    (
        "30 * * * *",
        NEW_YORK,
        "2024-03-09T23:45-05:00",
        [
            "2024-03-10T00:30-05:00",
            "2024-03-10T01:30-05:00",
            "2024-03-10T03:00-04:00",
            "2024-03-10T03:30-04:00",
        ],
    ),
    # three lost slots, one fire
    (
        "*/20 2 * * *",
        NEW_YORK,
        "2024-03-09T12:00-05:00",
        ["2024-03-10T03:00-04:00", "2024-03-11T02:00-04:00", "2024-03-11T02:20-04:00"],
    ),
    # Berlin falls back on 2024-10-27 at 03:00 CEST to 02:00 CET: 02:00-02:59 happen twice.
    # the second 02:30 (CET) does not fire
    (
        "30 2 * * *",
        BERLIN,
        "2024-10-26T12:00+02:00",
        ["2024-10-27T02:30+02:00", "2024-10-28T02:30+01:00"],
    ),
    # 02:00 CET is skipped
    (
        "0 * * * *",
        BERLIN,
        "2024-10-27T00:30+02:00",
        [
            "2024-10-27T01:00+02:00",
            "2024-10-27T02:00+02:00",
            "2024-10-27T03:00+01:00",
            "2024-10-27T04:00+01:00",
        ],
    ),
    # Berlin springs forward on 2024-03-31 at 02:00 CET to 03:00 CEST.
    # fires at the jump
    (
        "30 2 * * *",
        BERLIN,
        "2024-03-30T12:00+01:00",
        ["2024-03-31T03:00+02:00", "2024-04-01T02:30+02:00"],
    ),
    # a weekly slot too
    (
        "15 2 * * 0",
        BERLIN,
        "2024-03-30T12:00+01:00",
        ["2024-03-31T03:00+02:00", "2024-04-07T02:15+02:00"],
    ),
    # 02:00 merges into 03:00
    (
        "0 * * * *",
        BERLIN,
        "2024-03-31T00:30+01:00",
        ["2024-03-31T01:00+01:00", "2024-03-31T03:00+02:00", "2024-03-31T04:00+02:00"],
    ),
    # Lord Howe Island moves by half an hour: back from 02:00 to 01:30 on 2024-04-07, forward
    # from 02:00 to 02:30 on 2024-10-06.
    # 01:45 happens twice, fires once
    (
        "45 1 * * *",
        LORD_HOWE,
        "2024-04-06T12:00+11:00",
        ["2024-04-07T01:45+11:00", "2024-04-08T01:45+10:30"],
    ),
    # 02:15 skipped: fires at 02:30
    (
        "15 2 * * *",
        LORD_HOWE,
        "2024-10-05T12:00+10:30",
        ["2024-10-06T02:30+11:00", "2024-10-07T02:15+11:00"],
    ),
    # No daylight saving: nothing special.
    (
        "30 1 * * *",
        "UTC",
        "2024-11-02T12:00+00:00",
        ["2024-11-03T01:30+00:00", "2024-11-04T01:30+00:00"],
    ),
]


def _fires(expr: str, zone: str, after: str, count: int) -> list[str]:
    trigger = cron_trigger(expr, timezone=zone)
    when = datetime.fromisoformat(after)
    fired = []
    for _ in range(count):
        when = trigger.next_after(when)
        fired.append(when.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes"))
    return fired


@pytest.mark.parametrize(("expr", "zone", "after", "expected"), TABLE)
def test_each_wall_clock_slot_fires_once(
    expr: str, zone: str, after: str, expected: list[str]
) -> None:
    assert _fires(expr, zone, after, len(expected)) == expected


@pytest.mark.parametrize(("expr", "zone", "after", "expected"), TABLE)
def test_the_latest_fire_agrees_with_the_next_one(
    expr: str, zone: str, after: str, expected: list[str]
) -> None:
    # The scheduler fires the latest slot at or before now (after downtime): it must be one
    # of the same instants, never a second occurrence of a repeated time.
    tz = ZoneInfo(zone)
    instants = [datetime.fromisoformat(e).timestamp() for e in expected]
    for earlier, instant in itertools.pairwise(instants):
        assert latest_fire(expr, tz, instant) == instant
        assert latest_fire(expr, tz, instant - 1) == earlier
        assert latest_fire(expr, tz, (earlier + instant) / 2) == earlier


def _reference(expr: str, zone: ZoneInfo, start: float, end: float) -> list[float]:
    """The rule applied by brute force, minute by minute: every naive wall-clock minute that
    matches ``expr`` fires at the first instant whose wall clock reads it or later."""
    (minutes, hours, *days) = croniter.expand(expr)[0]
    assert days == [["*"], ["*"], ["*"]]  # the expressions below restrict minutes and hours
    instants = [start + 60 * i for i in range(int((end - start) // 60) + 1)]
    walls = [datetime.fromtimestamp(t, zone).replace(tzinfo=None) for t in instants]
    minute, last = walls[0] + timedelta(minutes=1), max(walls)
    fired: list[float] = []
    i = 0
    while minute <= last:
        if minute.minute in minutes and (hours == ["*"] or minute.hour in hours):
            while walls[i] < minute:
                i += 1
            if not fired or fired[-1] != instants[i]:
                fired.append(instants[i])
        minute += timedelta(minutes=1)
    return fired


TRANSITIONS = [
    (NEW_YORK, "2024-11-03T06:00Z"),
    (NEW_YORK, "2024-03-10T07:00Z"),
    (BERLIN, "2024-10-27T01:00Z"),
    (BERLIN, "2024-03-31T01:00Z"),
    (LORD_HOWE, "2024-04-06T15:00Z"),
    (LORD_HOWE, "2024-10-05T15:30Z"),
    ("America/Santiago", "2024-04-07T03:00Z"),  # falls back at midnight: 23:00-23:59 twice
    ("America/Santiago", "2024-09-08T04:00Z"),  # springs forward at midnight: no 00:xx
]
EXPRESSIONS = ["*/7 * * * *", "30 1 * * *", "0 2 * * *", "45 2 * * *", "0 */2 * * *", "0 0 * * *"]


@pytest.mark.parametrize(("zone", "transition"), TRANSITIONS)
@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_fire_times_match_a_brute_force_reading_of_the_rule(
    expr: str, zone: str, transition: str
) -> None:
    tz = ZoneInfo(zone)
    middle = datetime.fromisoformat(transition).timestamp()
    start, end = middle - 86400, middle + 86400
    expected = _reference(expr, tz, start, end)
    fired, when = [], start
    while (when := next_fire(expr, tz, when)) <= end:
        fired.append(when)
    assert [_utc(t) for t in fired] == [_utc(t) for t in expected]


def _utc(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat()


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 30 2 *",  # February 30
        "0 0 31 4,6,9,11 *",  # the 31st of months with 30 days
        "0 0 30,31 2 *",
    ],
)
def test_an_expression_that_never_fires_is_refused_when_defined(expr: str) -> None:
    with pytest.raises(InvalidJobDefinition) as caught:
        cron_trigger(expr)
    assert caught.value.message == (
        f"cron_trigger: {expr!r} never fires (no date matches its day and month fields, "
        "e.g. February 30); fix the day-of-month or month field"
    )


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 29 2 *",  # leap days only: rare, but it fires
        "0 0 30 2 1",  # day-of-month OR day-of-week: every Monday in February
        "0 0 L 2 *",  # the last day of February
    ],
)
def test_rare_expressions_are_accepted(expr: str) -> None:
    trigger = cron_trigger(expr)
    assert trigger.next_after(datetime(2025, 1, 1, tzinfo=UTC)).month == 2


def test_a_random_field_is_refused() -> None:
    # croniter draws R afresh per evaluation: two workers would compute different slots.
    with pytest.raises(InvalidJobDefinition, match=r"'R \* \* \* \*' uses a random field"):
        cron_trigger("R * * * *")
    assert cron_trigger("0 9 * MAR FRI").expr == "0 9 * MAR FRI"  # letters in names are fine
