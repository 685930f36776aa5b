"""How runs look in a terminal: live task progress (stderr) and task trees."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from .._models import LogRecord, RunResult, RunStatus, TaskRecord, TaskResult, TaskStatus

_STATUS_STYLE = {
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.INVALID_PAYLOAD: "red",
    RunStatus.TIMED_OUT: "red",
    RunStatus.CANCELED: "yellow",
    RunStatus.WAITING: "cyan",
    RunStatus.RUNNING: "blue",
    RunStatus.QUEUED: "dim",
}
_TASK_MARK = {
    TaskStatus.COMPLETED: "[green]✔[/]",
    TaskStatus.ERRORED: "[red]✖[/]",
    TaskStatus.WAITING: "[cyan]⏸[/]",
    TaskStatus.RUNNING: "[blue]…[/]",
    TaskStatus.CANCELED: "[yellow]⊘[/]",
}


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    ms = (end - start).total_seconds() * 1000
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


class ProgressPrinter:
    """An engine observer that prints each task as it ends, and each log line (to stderr)."""

    def __init__(self, console: Console, *, show_run: bool = False) -> None:
        self._console = console
        self._show_run = show_run

    def _prefix(self, run_id: str) -> str:
        return f"[dim]{run_id}[/] " if self._show_run else ""

    def task_started(self, run_id: str, key: str, name: str, attempt: int) -> None:
        """Nothing: printed when it ends, to keep the output one line per task."""

    def task_ended(self, run_id: str, task: TaskRecord) -> None:
        """One line per task outcome."""
        mark = _TASK_MARK[task.status]
        detail = ""
        if task.status is TaskStatus.WAITING and task.next_attempt_at is not None:
            when = datetime.fromtimestamp(task.next_attempt_at).strftime("%H:%M:%S.%f")[:-3]
            why = "retry" if task.error else ("wait" if task.kind == "wait" else "paused")
            detail = f" [cyan]{why} until {when}[/]"
            if task.error:
                detail += f" [dim]({escape(task.error['message'])})[/]"
        elif task.status is TaskStatus.ERRORED and task.error:
            detail = f" [red]{escape(task.error['type'])}: {escape(task.error['message'])}[/]"
        elif task.ended_at is not None:
            detail = f" [dim]{(task.ended_at - task.started_at) * 1000:.0f} ms[/]"
        attempts = f" [dim](attempt {task.attempts})[/]" if task.attempts > 1 else ""
        self._console.print(
            f"{self._prefix(run_id)}{mark} {escape(task.key)}{attempts}{detail}", highlight=False
        )

    def logged(self, run_id: str, log: LogRecord) -> None:
        """One line per log line."""
        props = f" [dim]{escape(_short(log.properties))}[/]" if log.properties else ""
        self._console.print(
            f"{self._prefix(run_id)}[magenta]{log.level}[/] {escape(log.message)}{props}",
            highlight=False,
        )


def task_tree(result: RunResult) -> Tree:
    """The run's tasks as a tree following their scoped keys."""
    style = _STATUS_STYLE.get(result.status, "white")
    root = Tree(f"[bold]{result.id}[/] {result.job} [{style}]{result.status}[/]")
    nodes: dict[str, Tree] = {}
    for task in result.tasks:
        parent_key = task.key.rpartition("/")[0]
        parent = nodes.get(parent_key, root)
        nodes[task.key] = parent.add(_task_label(task))
    return root


def _task_label(task: TaskResult) -> str:
    leaf = task.key.rpartition("/")[2]
    name = f" [dim]{escape(task.name)}[/]" if task.name not in (leaf, task.kind) else ""
    parts = [f"{_TASK_MARK[task.status]} {escape(leaf)}{name}"]
    if task.attempts > 1:
        parts.append(f"[dim]{task.attempts} attempts[/]")
    duration = _ms(task.started_at, task.ended_at)
    if duration:
        parts.append(f"[dim]{duration}[/]")
    if task.error and task.status is not TaskStatus.COMPLETED:
        parts.append(f"[red]{escape(task.error['type'])}: {escape(task.error['message'])}[/]")
    elif task.output is not None:
        parts.append(f"→ {escape(_short(task.output, 60))}")
    return "  ".join(parts)


def print_result(console: Console, result: RunResult) -> None:
    """A finished run for people: tree, logs, output or error."""
    console.print(task_tree(result))
    for log in result.logs:
        props = f" {escape(_short(log.properties))}" if log.properties else ""
        console.print(f"  [magenta]{log.level}[/] {escape(log.message)}[dim]{props}[/]")
    style = _STATUS_STYLE.get(result.status, "white")
    console.print(f"status: [{style}]{result.status}[/]", highlight=False)
    if result.error:
        console.print(
            f"error: [red]{escape(result.error['type'])}: {escape(result.error['message'])}[/]"
        )
    if result.status is RunStatus.SUCCEEDED:
        console.print_json(json.dumps({"output": result.output}, default=str))


def runs_table(results: list[RunResult]) -> Table:
    """Runs as a table for ``relaykit runs list``."""
    table = Table("id", "job", "status", "created", "duration", box=None)
    for r in results:
        style = _STATUS_STYLE.get(r.status, "white")
        table.add_row(
            r.id,
            r.job,
            f"[{style}]{r.status}[/]",
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            _ms(r.started_at, r.ended_at),
        )
    return table
