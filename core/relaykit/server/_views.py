"""What the dashboard draws beyond the resources themselves: the run's task tree and its
timeline, durations, times, the attempt history and highlighted tracebacks. Every page's data
is a ``relaykit.engine.resources`` model, the same the JSON API answers with, so the two can
never disagree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..engine.attempt import headline_frame
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


def short_time(iso_text: str | None) -> str:
    """An ISO 8601 timestamp as the page shows it before ``static/app.js`` turns it into local
    and relative time: to the second, in UTC."""
    if not iso_text:
        return ""
    try:
        dt = datetime.fromisoformat(iso_text)
    except ValueError:
        return iso_text
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_duration(run: dict[str, Any]) -> str:
    """How long a listed run ran (started to ended), "running" while it runs, "" before."""
    started, ended = run.get("started_at"), run.get("ended_at")
    if not started:
        return ""
    if not ended:
        return "running" if run.get("status") == "running" else ""
    seconds = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    return seconds_text(max(0.0, seconds))


def seconds_text(value: float | None) -> str:
    """A duration for people: ``12 ms``, ``3.4 s``, ``5 min 2 s``, ``2 h 5 min``."""
    if value is None:
        return "…"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{math.floor(value / 60)} min {value % 60:.0f} s"
    return f"{math.floor(value / 3600)} h {math.floor(value % 3600 / 60)} min"


def attempt_history(run: RunDetail) -> str:
    """What the run's attempt count means, honestly: task retries (failures tried again)
    and resumptions (the run picked up again after a wait, a retry delay or a stopped
    worker) are told apart, and a run that ran once straight through says so."""
    if run.attempt == 0:
        return "not started yet"
    retries = sum(max(0, t.attempts - 1) for t in run.tasks)
    resumed = run.attempt - 1
    parts = []
    if retries:
        parts.append(f"{retries} task {'retry' if retries == 1 else 'retries'}")
    if resumed:
        parts.append(f"resumed {resumed} {'time' if resumed == 1 else 'times'}")
    return ", ".join(parts) if parts else "ran once, no retries"


def who(subject: str) -> str:
    """A session's subject as the header shows it: a user's name, an API key's id, or how a
    one-time login link session was opened."""
    kind, _, name = subject.partition(":")
    if kind == "user" and name:
        return name
    if kind == "key" and name:
        return f"API key {name}"
    if subject == "cli":
        return "login link (relaykit dev/serve)"
    return subject


def traceback_lines(text: str) -> list[tuple[str, bool]]:
    """A stored traceback's lines, each with whether it is the user's frame (the
    ``File ... line ...`` line the headline ``at FILE:LINE in NAME`` names, and its source
    line below it), so the page can highlight it."""
    where = headline_frame(text)
    lines = text.rstrip("\n").split("\n")
    marked: list[tuple[str, bool]] = []
    mine_next = False
    for line in lines:
        mine = mine_next
        mine_next = False
        if where is not None:
            found = _FRAME.match(line)
            if found is not None and f"{found.group(1)}:{found.group(2)}" == where:
                mine = mine_next = True
        marked.append((line, mine))
    return marked


_FRAME = re.compile(r'\s*File "(.+)", line (\d+)')


@dataclass(frozen=True, slots=True)
class StatusWidget:
    """The latest version of one ``io.status`` of a run: its label, state and data, and a
    progress fraction in [0, 1] when the data has numbers ``progress`` and ``total``."""

    label: str
    state: str | None
    data: Any
    progress: float | None
    progress_text: str | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def status_widgets(run: RunDetail) -> list[StatusWidget]:
    """The run's statuses (``io.status`` and ``Status.update`` record a task of kind
    ``status`` whose output names the status by ``id``), each at its latest version, in the
    order they were first created."""
    latest: dict[str, dict[str, Any]] = {}
    for task in run.tasks:  # in start order: a later update replaces an earlier version
        out = task.output
        if task.kind != "status" or not isinstance(out, dict) or "label" not in out:
            continue
        latest[str(out.get("id", task.key))] = out
    widgets = []
    for out in latest.values():
        data = out.get("data")
        done = total = None
        if isinstance(data, dict):
            done, total = _number(data.get("progress")), _number(data.get("total"))
        fraction = None if done is None or not total else min(max(done / total, 0.0), 1.0)
        text = None if fraction is None else f"{done:g} / {total:g}"
        state = out.get("state")
        widgets.append(
            StatusWidget(
                label=str(out["label"]),
                state=None if state is None else str(state),
                data=data,
                progress=fraction,
                progress_text=text,
            )
        )
    return widgets
