"""Checks shared by every way of sending an event (``client.send_event``, ``io.send_event``,
``relaykit send``), so they all refuse the same bad input with the same message."""

from __future__ import annotations

from datetime import datetime

from .._base.durations import check_seconds
from .._base.names import check_text
from ..errors import ConfigurationError


def check_event_name(name: object, where: str) -> str:
    """The event name, or ``ConfigurationError`` when it is not a non-empty string (or holds
    a NUL character, which no store can keep)."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(
            f"{where}: the event name must be a non-empty string, got {name!r}"
        )
    if name.startswith("$relaykit/"):
        # reserved: a run's wait for a waitpoint token is an event wait under this prefix
        raise ConfigurationError(
            f"{where}: event names starting with '$relaykit/' are reserved; got {name!r} "
            "(complete a waitpoint token with `relaykit tokens complete` instead)"
        )
    return check_text(name, "the event name", where)


def check_event_fields(event_id: str | None, source: str, where: str) -> None:
    """Refuse an event id or source holding a NUL character (``ConfigurationError``)."""
    if event_id is not None:
        check_text(event_id, "the event id", where)
    check_text(source, "the event source", where)


def delivery_time(
    deliver_at: datetime | None, deliver_after: float | None, now: float, where: str
) -> float | None:
    """When a delayed event is due (epoch seconds), or None to deliver it now."""
    if deliver_at is not None and deliver_after is not None:
        raise ConfigurationError(f"{where}: give deliver_at or deliver_after, not both")
    if deliver_at is not None:
        if not isinstance(deliver_at, datetime) or deliver_at.tzinfo is None:
            raise ConfigurationError(f"{where}: deliver_at must be a timezone-aware datetime")
        return deliver_at.timestamp()
    if deliver_after is not None:
        delay = check_seconds(deliver_after, f"{where}: deliver_after", error=ConfigurationError)
        return now + delay
    return None
