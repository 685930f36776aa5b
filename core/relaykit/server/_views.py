"""Records as the API and the dashboard show them: JSON objects, the task tree, the timeline.

One place builds these, so the JSON API and the dashboard can never disagree. Times are ISO
8601 strings in UTC; JSON values stored as text are parsed back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..definitions.jobs import Job
from ..records import EventRecord, LogRecord, RunRecord, TaskRecord, to_datetime


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string."""
    dt = to_datetime(ts)
    return None if dt is None else dt.isoformat()


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def job_json(job: Job) -> dict[str, Any]:
    """A job's public description."""
    return {
        "id": job.id,
        "name": job.name,
        "version": job.version,
        "trigger": job.trigger.describe(),
        "trigger_kind": job.trigger.kind,
        "enabled": job.enabled,
        "concurrency_limit": job.concurrency_limit,
        "integrations": sorted(job.integrations),
    }


def run_json(run: RunRecord) -> dict[str, Any]:
    """A run without its tasks (lists)."""
    return {
        "id": run.id,
        "job": run.job_id,
        "job_version": run.job_version,
        "status": str(run.status),
        "is_test": run.is_test,
        "attempt": run.attempt,
        "payload": _json(run.payload),
        "output": _json(run.output),
        "error": run.error,
        "event_id": run.event_id,
        "environment": run.environment,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "next_attempt_at": iso(run.next_attempt_at),
    }


def task_json(task: TaskRecord) -> dict[str, Any]:
    """One task with everything the run detail shows."""
    return {
        "key": task.key,
        "parent": task.parent,
        "name": task.name,
        "kind": task.kind,
        "status": str(task.status),
        "attempts": task.attempts,
        "params": _json(task.params),
        "output": _json(task.output),
        "error": task.error,
        "properties": task.properties,
        "icon": task.icon,
        "started_at": iso(task.started_at),
        "ended_at": iso(task.ended_at),
        "next_attempt_at": iso(task.next_attempt_at),
    }


def log_json(log: LogRecord) -> dict[str, Any]:
    """One run log line."""
    return {
        "level": log.level,
        "message": log.message,
        "properties": log.properties,
        "task": log.task,
        "at": iso(log.at),
    }


def run_detail_json(
    run: RunRecord, tasks: list[TaskRecord], logs: list[LogRecord]
) -> dict[str, Any]:
    """A run with its tasks (in start order) and logs."""
    data = run_json(run)
    data["tasks"] = [task_json(t) for t in sorted(tasks, key=lambda t: (t.started_at, t.key))]
    data["logs"] = [log_json(g) for g in logs]
    return data


def event_json(event: EventRecord) -> dict[str, Any]:
    """A stored event."""
    return {
        "id": event.id,
        "name": event.name,
        "payload": _json(event.payload),
        "source": event.source,
        "timestamp": iso(event.timestamp),
        "deliver_at": iso(event.deliver_at),
        "status": event.status,
    }


@dataclass(frozen=True, slots=True)
class TreeRow:
    """A task in the run detail: its depth in the tree and its timeline bar (percentages)."""

    task: dict[str, Any]
    depth: int
    offset: float
    width: float
    duration: float | None


def task_tree(run: RunRecord, tasks: list[TaskRecord], now: float) -> list[TreeRow]:
    """The tasks depth-first (children under their parent, each level in start order), with
    each one's bar on a timeline from the run's first task start to its end (or ``now``)."""
    by_parent: dict[str | None, list[TaskRecord]] = {}
    keys = {t.key for t in tasks}
    for t in sorted(tasks, key=lambda t: (t.started_at, t.key)):
        parent = t.parent if t.parent in keys else None  # an orphan shows at the top level
        by_parent.setdefault(parent, []).append(t)
    start = min([t.started_at for t in tasks], default=run.started_at or run.created_at)
    ends = [t.ended_at or now for t in tasks]
    end = max([run.ended_at or now, *ends])
    span = max(end - start, 1e-3)
    rows: list[TreeRow] = []

    def walk(parent: str | None, depth: int) -> None:
        for t in by_parent.get(parent, []):
            stop = t.ended_at if t.ended_at is not None else now
            offset = max(0.0, (t.started_at - start) / span * 100)
            width = max(0.5, min(100.0 - offset, (stop - t.started_at) / span * 100))
            duration = None if t.ended_at is None else t.ended_at - t.started_at
            rows.append(TreeRow(task_json(t), depth, offset, width, duration))
            walk(t.key, depth + 1)

    walk(None, 0)
    return rows
