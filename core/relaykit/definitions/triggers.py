"""Trigger definitions: what starts a job's runs.

These are declarations; the engine's scheduler and event router act on them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias, final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic

from ..errors import InvalidJobDefinition
from ..records import ScheduleSpec
from .cron import fires, latest_fire, next_fire, next_slot_after
from .filters import validate_filter

# A string: evaluating ``pydantic.BaseModel`` here would load pydantic's model machinery
# (~30 ms) on ``import relaykit``; a user's schema loads it when it is defined.
Schema: TypeAlias = "type[pydantic.BaseModel] | None"


def _check_schema(schema: Any, where: str) -> None:
    if schema is not None and not (
        isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)
    ):
        raise InvalidJobDefinition(
            f"{where}: schema must be a pydantic BaseModel subclass, got {schema!r}"
        )


@final
@dataclass(frozen=True, slots=True)
class EventTrigger:
    """Start a run for every matching event."""

    names: tuple[str, ...]
    schema: Schema = None
    filter: Mapping[str, Any] | None = None
    source: str | None = None
    kind: Literal["event"] = "event"

    def describe(self) -> str:
        """A one-line description for listings."""
        return "event: " + ", ".join(self.names)


@final
@dataclass(frozen=True, slots=True)
class CronTrigger:
    """Start a run at every fire time of a 5-field cron expression in a timezone."""

    expr: str
    timezone: str = "UTC"
    kind: Literal["cron"] = "cron"

    @property
    def schema(self) -> Schema:
        """Scheduled runs get ``{"ts": ..., "last_ts": ...}``; no schema."""
        return None

    def next_after(self, when: datetime) -> datetime:
        """The first fire time strictly after ``when`` (see ``docs/triggers.md`` for the
        daylight-saving rule: each wall-clock slot fires once)."""
        instant = next_fire(self.expr, ZoneInfo(self.timezone), when.timestamp())
        return datetime.fromtimestamp(instant, UTC)

    def describe(self) -> str:
        """A one-line description for listings."""
        return f"cron: {self.expr} ({self.timezone})"

    def manual_payload(self, now: float) -> dict[str, str | None]:
        """The payload of a run started by hand at ``now``: the one a fire at ``now`` would
        get, ``last_ts`` being the schedule's latest fire time before it."""
        last = latest_fire(self.expr, ZoneInfo(self.timezone), now)
        return {"ts": _iso(now), "last_ts": None if last is None else _iso(last)}


@final
@dataclass(frozen=True, slots=True)
class IntervalTrigger:
    """Start a run every ``seconds`` seconds."""

    seconds: int
    kind: Literal["interval"] = "interval"

    @property
    def schema(self) -> Schema:
        """Scheduled runs get ``{"ts": ..., "last_ts": ...}``; no schema."""
        return None

    def describe(self) -> str:
        """A one-line description for listings."""
        return f"interval: every {self.seconds}s"

    def manual_payload(self, now: float) -> dict[str, str | None]:
        """The payload of a run started by hand at ``now``: the one a fire at ``now`` would
        get (``last_ts`` one interval earlier)."""
        return {"ts": _iso(now), "last_ts": _iso(now - self.seconds)}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@final
@dataclass(frozen=True, slots=True)
class InvokeTrigger:
    """Start runs only when explicitly invoked (``client.run``, ``relaykit run``, ``io.invoke``)."""

    schema: Schema = None
    kind: Literal["invoke"] = "invoke"

    def describe(self) -> str:
        """A one-line description for listings."""
        return "invoke"


@final
@dataclass(frozen=True, slots=True, eq=False)
class DynamicSchedule:
    """Schedules added and removed at run time — one per user, tenant, repository... — each
    under its own key. Made by ``client.define_schedule(id)``; use it as a job's trigger.

    ``await schedule.register(key, cron="0 9 * * *")`` (or ``interval=seconds``) starts runs
    of every job it triggers on that schedule, with payload ``{"ts", "last_ts", "key"}``;
    registering a key again replaces its schedule; ``await schedule.unregister(key)`` stops
    it. Inside a run, use ``io.register_schedule`` / ``io.unregister_schedule`` (tasks).
    """

    id: str
    client: Any = field(repr=False)
    kind: Literal["dynamic"] = "dynamic"

    @property
    def schema(self) -> Schema:
        """Scheduled runs get ``{"ts", "last_ts", "key"}``; no schema."""
        return None

    def describe(self) -> str:
        """A one-line description for listings."""
        return f"dynamic schedule: {self.id}"

    def specs(
        self, key: str, *, cron: str | None, interval: int | None, timezone: str
    ) -> list[ScheduleSpec]:
        """The stored schedules ``key`` stands for: one per job this schedule triggers."""
        where = f"schedule {self.id!r}.register({key!r})"
        _check_schedule_key(where, key)
        if (cron is None) == (interval is None):
            raise InvalidJobDefinition(f"{where}: give exactly one of cron= or interval=")
        if cron is not None:
            trigger = cron_trigger(cron, timezone)
            kind, spec = "cron", trigger.expr
        else:
            kind, spec = "interval", str(interval_trigger(seconds=interval).seconds)  # type: ignore[arg-type]
        jobs = [j.id for j in self.client.jobs.values() if j.trigger is self]
        if not jobs:  # a schedule nobody listens to would fire into the void
            raise InvalidJobDefinition(
                f"{where}: no job uses this schedule; define one with trigger=<the schedule>"
            )
        return [ScheduleSpec(self.schedule_id(j, key), j, kind, spec, timezone) for j in jobs]

    def schedule_id(self, job_id: str, key: str) -> str:
        """The stored schedule's id for one job and key."""
        return f"dynamic:{self.id}:{job_id}:{key}"

    async def register(
        self,
        key: str,
        *,
        cron: str | None = None,
        interval: int | None = None,
        timezone: str = "UTC",
    ) -> None:
        """Run this schedule's jobs on ``cron`` (5 fields, in ``timezone``) or every
        ``interval`` seconds, under ``key``; replaces what ``key`` had."""
        specs = self.specs(key, cron=cron, interval=interval, timezone=timezone)
        await register_schedules(await self.client.open(), specs, self.client.clock.now())

    async def unregister(self, key: str) -> bool:
        """Stop ``key``'s schedule; False when it was not registered."""
        _check_schedule_key(f"schedule {self.id!r}.unregister({key!r})", key)
        store = await self.client.open()
        return bool(await store.remove_schedules(self.ids(key)))

    def ids(self, key: str) -> list[str]:
        """The stored schedules' ids for ``key`` (one per job this schedule triggers)."""
        return [self.schedule_id(j.id, key) for j in self.client.jobs.values() if j.trigger is self]


async def register_schedules(store: Any, specs: Sequence[ScheduleSpec], now: float) -> None:
    """Store dynamic schedules (first fire: their next slot after ``now``)."""
    await store.sync_schedules(specs, first_fire=lambda spec: next_slot_after(spec, now))


def _check_schedule_key(where: str, key: Any) -> None:
    if not isinstance(key, str) or not key or len(key) > 200 or "\x00" in key:
        raise InvalidJobDefinition(
            f"{where}: the key must be a non-empty string (<= 200 chars) without NUL (\\x00)"
        )


Trigger = EventTrigger | CronTrigger | IntervalTrigger | InvokeTrigger | DynamicSchedule


def event_trigger(
    name: str | Sequence[str],
    *,
    schema: Schema = None,
    filter: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> EventTrigger:
    """A trigger that starts a run for each event named ``name`` (or any of a list of names).

    ``schema`` validates the payload when the run starts; ``filter`` is an EventFilter that the
    payload must match; ``source`` restricts to events from one source.
    """
    names = (name,) if isinstance(name, str) else tuple(name)
    if not names or any(not isinstance(n, str) or not n.strip() or "\x00" in n for n in names):
        raise InvalidJobDefinition(
            "event_trigger: name must be a non-empty string (without NUL) or list of them, "
            f"got {name!r}"
        )
    _check_schema(schema, "event_trigger")
    if filter is not None:
        if not isinstance(filter, Mapping):
            raise InvalidJobDefinition(
                "event_trigger: filter must be a mapping of payload keys, "
                f"got {type(filter).__name__}"
            )
        validate_filter(filter, where=f"event_trigger({', '.join(names)})")
    return EventTrigger(names=names, schema=schema, filter=filter, source=source)


# croniter's ``R`` draws a value per evaluation: the schedulers of two workers would disagree.
_RANDOM_FIELD = re.compile(r"(?<![a-z])r(?![a-z])", re.IGNORECASE)


def cron_trigger(expr: str, timezone: str = "UTC") -> CronTrigger:
    """A trigger that fires on a 5-field cron expression, evaluated in an IANA ``timezone``.

    Each wall-clock time the expression names fires once, also across daylight-saving
    changes (a repeated time fires at its first occurrence, a skipped one when the clock
    jumps past it). An expression that can never fire (``0 0 30 2 *``) is an error.
    """
    from croniter import croniter  # imported here: `import relaykit` does not load it

    if not isinstance(expr, str) or len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise InvalidJobDefinition(
            f"cron_trigger: {expr!r} is not a valid 5-field cron expression "
            "(minute hour day-of-month month day-of-week), e.g. '0 9 * * 1-5'"
        )
    if _RANDOM_FIELD.search(expr):
        raise InvalidJobDefinition(
            f"cron_trigger: {expr!r} uses a random field (R), which every worker would draw "
            "differently; pick the minute or hour yourself"
        )
    if not isinstance(timezone, str):
        raise InvalidJobDefinition(
            f"cron_trigger: timezone must be an IANA name such as 'Europe/Paris', got {timezone!r}"
        )
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidJobDefinition(
            f"cron_trigger: unknown timezone {timezone!r}; use an IANA name such as "
            "'Europe/Paris' or 'UTC'"
        ) from exc
    if not fires(expr, zone, time.time()):
        raise InvalidJobDefinition(
            f"cron_trigger: {expr!r} never fires (no date matches its day and month fields, "
            "e.g. February 30); fix the day-of-month or month field"
        )
    return CronTrigger(expr=expr, timezone=timezone)


def interval_trigger(*, seconds: int) -> IntervalTrigger:
    """A trigger that fires every ``seconds`` seconds (at least 1)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise InvalidJobDefinition(
            f"interval_trigger: seconds must be an integer >= 1, got {seconds!r}"
        )
    return IntervalTrigger(seconds=seconds)


def invoke_trigger(*, schema: Schema = None) -> InvokeTrigger:
    """A trigger for jobs started only explicitly; ``schema`` validates their payload."""
    _check_schema(schema, "invoke_trigger")
    return InvokeTrigger(schema=schema)
