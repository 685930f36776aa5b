"""Cron fire times in a timezone, with one rule across daylight-saving changes.

A cron expression names wall-clock times ("01:30 every day") in a zone. Each of those *slots*
fires once, at the first instant the zone's clock reads that time or later:

- a time the clock shows twice (the hour repeated when summer time ends) fires at its first
  occurrence only: ``30 1 * * *`` in New York fires at 01:30 EDT, not again at 01:30 EST;
- a time the clock skips (the hour lost when summer time starts) fires once, at the instant the
  clock jumps past it: ``30 2 * * *`` fires at 03:00 EDT on New York's spring-forward night.
  Slots that land on one instant that way (``0 * * * *``: 02:00 and 03:00 both at 03:00 EDT)
  are one fire time, so they start one run.

Expressions are evaluated on naive wall-clock times (croniter knows nothing of the zone), then
each slot is mapped to its instant here; that keeps the rule in one place and independent of
the machine's own timezone.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from ..records import ScheduleFire, ScheduleSpec

# croniter (with dateutil) is imported by the functions that evaluate expressions: ~10 ms that
# `import relaykit` and the CLI's start-up do not pay.


def _wall(instant: float, zone: ZoneInfo) -> datetime:
    """The zone's wall-clock time at ``instant`` (naive)."""
    return datetime.fromtimestamp(instant, UTC).astimezone(zone).replace(tzinfo=None)


def slot_instant(slot: datetime, zone: ZoneInfo) -> float:
    """The instant (epoch seconds) a naive wall-clock ``slot`` fires at: its first occurrence,
    or, for a time the clock skips, the instant the clock jumps past it."""
    first = slot.replace(tzinfo=zone, fold=0).timestamp()
    second = slot.replace(tzinfo=zone, fold=1).timestamp()
    low, high = min(first, second), max(first, second)
    if _wall(low, zone) == slot:  # the time exists (once, or twice: ``low`` is the first)
        return low
    # In a gap, fold=1 reads the slot with the offset after the jump (an instant before it)
    # and fold=0 with the offset before (an instant after it): the jump lies between. Zone
    # transitions fall on whole seconds, so bisect on seconds for the first instant whose wall
    # clock has reached the slot.
    before, after = int(low) - 1, int(high) + 1
    while after - before > 1:
        middle = (before + after) // 2
        if _wall(middle, zone) >= slot:
            after = middle
        else:
            before = middle
    return float(after)


def next_fire(expr: str, zone: ZoneInfo, after: float) -> float:
    """The first fire time of ``expr`` in ``zone`` strictly after ``after`` (epoch seconds).

    Raises ``CroniterBadDateError`` when the expression has no next fire time.
    """
    from croniter import croniter

    # A slot firing after ``after`` lies after the wall clock's reading at ``after``; slots
    # just after it may still have fired already (in a repeated hour), so skip those.
    slots = croniter(expr, _wall(after, zone))
    while True:
        instant = slot_instant(slots.get_next(datetime), zone)
        if instant > after:
            return instant


def latest_fire(expr: str, zone: ZoneInfo, at: float) -> float | None:
    """The last fire time of ``expr`` in ``zone`` at or before ``at``; None when there is none
    within croniter's search window."""
    from croniter import CroniterBadDateError, croniter

    try:
        start: datetime = croniter(expr, _wall(at, zone)).get_prev(datetime)
    except CroniterBadDateError:
        return None
    best = slot_instant(start, zone)
    # In a repeated hour the clock reads earlier than slots that have already fired: walk on.
    slots = croniter(expr, start)
    while True:
        try:
            instant = slot_instant(slots.get_next(datetime), zone)
        except CroniterBadDateError:
            return best
        if instant > at:
            return best
        best = instant


def fires(expr: str, zone: ZoneInfo, after: float) -> bool:
    """Whether ``expr`` has any fire time after ``after`` (``0 0 30 2 *`` has none)."""
    from croniter import CroniterBadDateError

    try:
        next_fire(expr, zone, after)
    except CroniterBadDateError:
        return False
    return True


def next_slot_after(spec: ScheduleSpec, when: float, anchor: float | None = None) -> float:
    """The first fire time strictly after ``when`` (an interval counts from ``anchor``)."""
    if spec.kind == "interval":
        every = float(spec.spec)
        start = when if anchor is None else anchor
        steps = max(1, math.floor((when - start) / every) + 1)
        return start + steps * every
    return next_fire(spec.spec, ZoneInfo(spec.timezone), when)


def latest_slot(due: ScheduleFire, now: float) -> float:
    """The latest fire time at or before ``now`` (at least the due one)."""
    spec = due.spec
    if spec.kind == "interval":
        every = float(spec.spec)
        return due.next_fire_at + math.floor((now - due.next_fire_at) / every) * every
    latest = latest_fire(spec.spec, ZoneInfo(spec.timezone), now)
    return due.next_fire_at if latest is None else max(due.next_fire_at, latest)
