"""The JSON shapes of endpoint-mode messages (``docs/deployment.md``): records to dicts and
back, shared by relaykit (``engine.remote``) and the endpoint (``engine.endpoint``).

The records cross as their dataclass fields; JSON text fields (params, outputs, payloads)
stay text, so a value is serialized once, by the side that produced it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from ..records import (
    EventMatch,
    EventRecord,
    EventWait,
    KvWrite,
    LogRecord,
    RunGroup,
    RunRecord,
    RunStatus,
    TaskAttempt,
    TaskRecord,
    TaskStatus,
)

#: Bumped when a message changes incompatibly; each side refuses another version.
PROTOCOL: Final = 1


def dump(record: Any) -> dict[str, Any]:
    """A record as a JSON-ready dict."""
    out: dict[str, Any] = dataclasses.asdict(record)
    return out


def task(data: dict[str, Any]) -> TaskRecord:
    """A ``TaskRecord`` from ``dump``'s dict (with the attempt it ended, if any)."""
    ended = data.get("ended_attempt")
    return TaskRecord(
        **{
            **data,
            "status": TaskStatus(data["status"]),
            "ended_attempt": None if ended is None else TaskAttempt(**ended),
        }
    )


def log(data: dict[str, Any]) -> LogRecord:
    """A ``LogRecord`` from ``dump``'s dict."""
    return LogRecord(**data)


def kv(data: dict[str, Any]) -> KvWrite:
    """A ``KvWrite`` from ``dump``'s dict."""
    return KvWrite(**data)


def event(data: dict[str, Any]) -> EventRecord:
    """An ``EventRecord`` from ``dump``'s dict."""
    return EventRecord(**data)


def event_wait(data: dict[str, Any]) -> EventWait:
    """An ``EventWait`` from ``dump``'s dict."""
    return EventWait(**data)


def event_match(data: dict[str, Any]) -> EventMatch:
    """An ``EventMatch`` from ``dump``'s dict."""
    return EventMatch(**data)


def run(data: dict[str, Any]) -> RunRecord:
    """A ``RunRecord`` from ``dump``'s dict."""
    groups = tuple(RunGroup(*g) for g in data.get("groups") or ())
    return RunRecord(**{**data, "status": RunStatus(data["status"]), "groups": groups})
