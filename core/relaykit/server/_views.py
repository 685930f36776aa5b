"""What the dashboard draws beyond the resources themselves: the run's task tree and its
timeline. Every page's data is a ``relaykit.engine.resources`` model, the same the JSON API
answers with, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..engine.resources import RunDetail, Task
from ..records import to_datetime


@dataclass(frozen=True, slots=True)
class TreeRow:
    """A task in the run detail: its depth in the tree and its timeline bar (percentages)."""

    task: dict[str, Any]
    depth: int
    offset: float
    width: float
    duration: float | None


def task_tree(run: RunDetail, now: datetime) -> list[TreeRow]:
    """The tasks depth-first (children under their parent, each level in start order), with
    each one's bar on a timeline from the run's first task start to its end (or ``now``)."""
    tasks = run.tasks  # in start order already
    by_parent: dict[str | None, list[Task]] = {}
    keys = {t.key for t in tasks}
    for t in tasks:
        parent = t.parent if t.parent in keys else None  # an orphan shows at the top level
        by_parent.setdefault(parent, []).append(t)
    start = min([t.started_at for t in tasks], default=run.started_at or run.created_at)
    end = max([run.ended_at or now, *(t.ended_at or now for t in tasks)])
    span = max((end - start).total_seconds(), 1e-3)
    rows: list[TreeRow] = []

    def walk(parent: str | None, depth: int) -> None:
        for t in by_parent.get(parent, []):
            stop = t.ended_at if t.ended_at is not None else now
            begin = (t.started_at - start).total_seconds()
            offset = max(0.0, begin / span * 100)
            length = (stop - t.started_at).total_seconds()
            width = max(0.5, min(100.0 - offset, length / span * 100))
            # the time its function ran (no retry back-off, no waits), Task.duration_ms
            duration = None if t.duration_ms is None else t.duration_ms / 1000
            rows.append(TreeRow(t.to_json(), depth, offset, width, duration))
            walk(t.key, depth + 1)

    walk(None, 0)
    return rows


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string (the resources' timestamp format)."""
    dt = to_datetime(ts)
    return None if dt is None else dt.isoformat()
