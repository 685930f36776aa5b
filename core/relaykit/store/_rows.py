"""Row encoding shared by the SQL stores: column lists and record decoding.

Both stores keep the same columns (times as epoch seconds, JSON as text), so a row decodes the
same way whichever database it came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Final

from .._models import EventRecord, LogRecord, RunRecord, RunStatus, TaskRecord, TaskStatus

RUN_COLS: Final = (
    "id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, "
    "attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, "
    "environment"
)
TASK_COLS: Final = (
    "key, name, kind, status, started_at, params, output, error, attempts, failures, ended_at, "
    "next_attempt_at, properties, icon, parent"
)


def dump_json(value: Any) -> str | None:
    """JSON text for a value, None for None."""
    return None if value is None else json.dumps(value)


def run_from_row(row: Sequence[Any]) -> RunRecord:
    """A runs row (in ``RUN_COLS`` order) as a record."""
    return RunRecord(
        id=row[0],
        job_id=row[1],
        job_version=row[2],
        status=RUN_STATUS[row[3]],
        payload=row[4],
        output=row[5],
        error=None if row[6] is None else json.loads(row[6]),
        created_at=row[7],
        started_at=row[8],
        ended_at=row[9],
        attempt=row[10],
        next_attempt_at=row[11],
        lease_owner=row[12],
        lease_expires_at=row[13],
        is_test=bool(row[14]),
        event_id=row[15],
        event_name=row[16],
        environment=row[17],
    )


TASK_STATUS: Final = {s.value: s for s in TaskStatus}
RUN_STATUS: Final = {s.value: s for s in RunStatus}


def task_from_row(row: Sequence[Any]) -> TaskRecord:
    # _TASK_COLS lists TaskRecord's fields in order; only three need decoding. This runs once
    # per recorded task when an attempt starts, so it is kept lean.
    rec = TaskRecord(*row)
    rec.status = TASK_STATUS[row[3]]
    if row[7] is not None:
        rec.error = json.loads(row[7])
    if row[12] is not None:
        rec.properties = json.loads(row[12])
    return rec


def run_params(run: RunRecord, flag: Callable[[bool], Any] = int) -> tuple[Any, ...]:
    """A run's values in ``RUN_COLS`` order (``flag`` encodes booleans for the database)."""
    return (
        run.id,
        run.job_id,
        run.job_version,
        run.status.value,
        run.payload,
        run.output,
        dump_json(run.error),
        run.created_at,
        run.started_at,
        run.ended_at,
        run.attempt,
        run.next_attempt_at,
        run.lease_owner,
        run.lease_expires_at,
        flag(run.is_test),
        run.event_id,
        run.event_name,
        run.environment,
    )


def event_body(event: EventRecord) -> dict[str, Any]:
    """What ``io.wait_for_event`` hands back for an event."""
    return {
        "id": event.id,
        "name": event.name,
        "payload": json.loads(event.payload),
        "timestamp": event.timestamp,
        "source": event.source,
    }


def task_params(run_id: str, t: TaskRecord) -> tuple[Any, ...]:
    """A task row's values: ``run_id`` then ``TASK_COLS`` order."""
    return (
        run_id,
        t.key,
        t.name,
        t.kind,
        t.status.value,
        t.started_at,
        t.params,
        t.output,
        dump_json(t.error),
        t.attempts,
        t.failures,
        t.ended_at,
        t.next_attempt_at,
        dump_json(t.properties),
        t.icon,
        t.parent,
    )


def log_params(run_id: str, log: LogRecord) -> tuple[Any, ...]:
    """A log row's values: run_id, key, level, message, properties, at, task."""
    return (run_id, log.key, log.level, log.message, json.dumps(log.properties), log.at, log.task)
