"""Row encoding shared by the SQL stores: column lists and record decoding.

Both stores keep the same columns (times as epoch seconds, JSON as text), so a row decodes the
same way whichever database it came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Final

from ..records import (
    EventRecord,
    LogRecord,
    RunRecord,
    RunStatus,
    TaskAttempt,
    TaskRecord,
    TaskStatus,
)

RUN_COLS: Final = (
    "id, job_id, job_version, status, payload, output, error, created_at, started_at, ended_at, "
    "attempt, next_attempt_at, lease_owner, lease_expires_at, is_test, event_id, event_name, "
    "environment, priority, limited, idempotency_key, cancel_key, debounce_key, parent_run_id, "
    "parent_task_key, root_run_id, epoch"
)
#: The statuses an attempt ends with that keep the run alive (not ended).
SUSPENDED: Final = frozenset({RunStatus.WAITING, RunStatus.WAITING_FOR_CONNECTION})
RUN_MARKS: Final = ", ".join(["?"] * len(RUN_COLS.split(",")))
TASK_COLS: Final = (
    "key, name, kind, status, started_at, params, output, error, attempts, failures, ended_at, "
    "next_attempt_at, properties, icon, parent, busy_seconds"
)


def admit(
    candidates: Sequence[tuple[str, bool, bool]],
    groups: Sequence[tuple[str, str, int, float | None]],
    busy: dict[str, int],
    limit: int,
) -> list[str]:
    """Which candidate runs a claim may take, in order, without exceeding any group's limit.

    ``candidates`` are (run id, limited, started before) by priority; ``groups`` the
    (run id, group, limit, period) rows of the limited ones; ``busy`` how many runs each group
    has running (or, for a throttle, started within its period) now. A throttle limits
    starts, so a run that started before passes its throttle groups.
    """
    of: dict[str, list[tuple[str, int, float | None]]] = {}
    for run_id, grp, lim, period in groups:
        of.setdefault(run_id, []).append((grp, lim, period))
    taken: list[str] = []
    for run_id, limited, started in candidates:
        if len(taken) >= limit:
            break
        mine = [g for g in of.get(run_id, ()) if not (started and g[2] is not None)]
        if limited and any(busy.get(grp, 0) >= lim for grp, lim, _ in mine):
            continue
        for grp, _, _ in mine:
            busy[grp] = busy.get(grp, 0) + 1
        taken.append(run_id)
    return taken


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
        priority=row[18],
        idempotency_key=row[20],
        cancel_key=row[21],
        debounce_key=row[22],
        parent_run_id=row[23],
        parent_task_key=row[24],
        root_run_id=row[25],
        epoch=row[26],
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
        run.priority,
        flag(bool(run.groups)),
        run.idempotency_key,
        run.cancel_key,
        run.debounce_key,
        run.parent_run_id,
        run.parent_task_key,
        run.root_run_id,
        run.epoch,
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
        t.busy_seconds,
    )


def attempt_params(run_id: str, a: TaskAttempt) -> tuple[Any, ...]:
    """``insert_task_attempt``'s parameters."""
    return (run_id, a.task_key, a.attempt, a.started_at, a.ended_at, dump_json(a.error))


def attempt_from_row(row: Sequence[Any]) -> TaskAttempt:
    """A ``load_task_attempts`` row as a record."""
    error = None if row[4] is None else json.loads(row[4])
    return TaskAttempt(row[0], row[1], row[2], row[3], error)


def log_params(run_id: str, log: LogRecord) -> tuple[Any, ...]:
    """A log row's values: run_id, key, level, message, properties, at, task."""
    return (run_id, log.key, log.level, log.message, json.dumps(log.properties), log.at, log.task)
