"""Trigger definitions: what starts a job's runs.

These are declarations; the engine's scheduler and event router act on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
from croniter import croniter

from .errors import InvalidJobDefinition
from .filters import validate_filter

Schema = type[pydantic.BaseModel] | None


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
        """The first fire time strictly after ``when``."""
        local = when.astimezone(ZoneInfo(self.timezone))
        nxt: datetime = croniter(self.expr, local).get_next(datetime)
        return nxt.astimezone(UTC)

    def describe(self) -> str:
        """A one-line description for listings."""
        return f"cron: {self.expr} ({self.timezone})"


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


@final
@dataclass(frozen=True, slots=True)
class InvokeTrigger:
    """Start runs only when explicitly invoked (``client.run``, ``relaykit run``, ``io.invoke``)."""

    schema: Schema = None
    kind: Literal["invoke"] = "invoke"

    def describe(self) -> str:
        """A one-line description for listings."""
        return "invoke"


Trigger = EventTrigger | CronTrigger | IntervalTrigger | InvokeTrigger


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
    if not names or any(not isinstance(n, str) or not n.strip() for n in names):
        raise InvalidJobDefinition(
            f"event_trigger: name must be a non-empty string or list of them, got {name!r}"
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


def cron_trigger(expr: str, timezone: str = "UTC") -> CronTrigger:
    """A trigger that fires on a 5-field cron expression, evaluated in an IANA ``timezone``."""
    if not isinstance(expr, str) or len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise InvalidJobDefinition(
            f"cron_trigger: {expr!r} is not a valid 5-field cron expression "
            "(minute hour day-of-month month day-of-week), e.g. '0 9 * * 1-5'"
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidJobDefinition(
            f"cron_trigger: unknown timezone {timezone!r}; use an IANA name such as "
            "'Europe/Paris' or 'UTC'"
        ) from exc
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
