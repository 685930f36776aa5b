"""How runs look in a terminal: live task progress (stderr) and task trees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from rich.table import Table

from ..records import (
    LogRecord,
    RunResult,
    RunStatus,
    TaskAttempt,
    TaskRecord,
    TaskResult,
    TaskStatus,
    task_duration,
)

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
_MARK = {
    TaskStatus.COMPLETED: ("✔", "green"),
    TaskStatus.ERRORED: ("✖", "red"),
    TaskStatus.WAITING: ("⏸", "cyan"),
    TaskStatus.RUNNING: ("…", "blue"),
    TaskStatus.CANCELED: ("⊘", "yellow"),
}
_TASK_MARK = {status: f"[{style}]{mark}[/]" for status, (mark, style) in _MARK.items()}


# ``json.dumps(value, default=str)`` builds a new encoder on every call (its keyword
# arguments differ from the defaults); one encoder, made once, writes the same text.
_ENCODER = json.JSONEncoder(default=str)


def _short(value: Any, limit: int = 80) -> str:
    text = _ENCODER.encode(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return _took((end - start).total_seconds())


def _took(seconds: float | None) -> str:
    if seconds is None:
        return ""
    ms = seconds * 1000
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
            detail = f" [dim]{_took(task_duration(task))}[/]"
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


#: A run's tree, line by line: (guides, [(text, style name or None), ...]).
Line = tuple[tuple[int, ...], list[tuple[str, str | None]]]
_SPACE, _CONTINUE, _FORK, _END = range(4)
# Text from a run goes to the terminal as is: C0/C1 control characters (ESC sequences that
# could move the cursor or clear the screen, CR) are dropped, tabs and newlines become spaces
# so that each task stays on its line.
_CONTROL = {c: None for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} | {9: " ", 10: " "}
_GUIDES = ("    ", "│   ", "├── ", "└── ")  # rich.tree.Tree's, and its ASCII ones
_ASCII_GUIDES = ("    ", "|   ", "+-- ", "`-- ")


class TaskTree:
    """The run's tasks as a tree following their scoped keys, drawn as ``rich.tree.Tree``
    draws one (same guides; a long line is left to the terminal to wrap).

    Each line is a handful of ``Segment``s built from plain text: no markup is parsed and no
    line is measured, so a run of 10,000 tasks prints in tens of milliseconds (``rich.Tree``
    with markup labels took ~180 µs a task). Text from the run (keys, names, outputs, errors)
    has its control characters removed (``_clean``).
    """

    def __init__(self, result: RunResult) -> None:
        self.result = result

    def lines(self) -> Iterator[Line]:
        """The root, then every task depth-first, each with the guides before it."""
        r = self.result
        job = f" {r.job} {r.job_version}" if r.job_version else f" {r.job}"
        code = f" code {r.code}" if r.code else ""
        yield (), [(r.id, "bold"), (f"{job}{code} ", None), (str(r.status), _style(r.status))]
        children: dict[int, list[int]] = {-1: []}
        index: dict[str, int] = {}
        for i, task in enumerate(r.tasks):
            parent = index.get(task.key.rpartition("/")[0], -1)
            children.setdefault(parent, []).append(i)
            index[task.key] = i
        # Depth-first without recursion (a key nested 1,000 levels deep must not hit the
        # recursion limit). Each entry: a task, the guides above its line (the same for all
        # children of one parent, so built once per parent), and whether it is a last child.
        stack: list[tuple[int, tuple[int, ...], bool]] = []

        def push(kids: list[int], above: tuple[int, ...]) -> None:
            last = len(kids) - 1
            for n in range(last, -1, -1):
                stack.append((kids[n], above, n == last))

        push(children[-1], ())
        tasks = r.tasks
        while stack:
            i, above, last = stack.pop()
            yield (*above, _END if last else _FORK), _task_parts(tasks[i])
            kids = children.get(i)
            failed = [a for a in tasks[i].attempt_history if a.error is not None]
            if failed:  # under the task's line, before its children (the guide runs on)
                guides = (*above, _SPACE if last else _CONTINUE, _CONTINUE if kids else _SPACE)
                for attempt in failed:
                    yield guides, _attempt_parts(attempt)
            if kids:
                push(kids, (*above, _SPACE if last else _CONTINUE))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        guides = _ASCII_GUIDES if options.ascii_only else _GUIDES
        if console.color_system is None and not console.record:
            # No style will be written (a pipe, a file, NO_COLOR, TERM=dumb): the same bytes
            # as one segment, instead of several per line that rich passes on one by one.
            yield Segment("".join(self._plain_lines(guides)))
            return
        styles: dict[str | None, Style | None] = {None: None}
        newline = Segment.line()
        for levels, parts in self.lines():
            if levels:
                yield Segment(
                    "".join(guides[g] for g in levels), _get(console, styles, "tree.line")
                )
            for text, name in parts:
                yield Segment(text, _get(console, styles, name))
            yield newline

    def _plain_lines(self, guides: tuple[str, ...]) -> Iterator[str]:
        drawn: dict[tuple[int, ...], str] = {}
        for levels, parts in self.lines():
            if (prefix := drawn.get(levels)) is None:
                prefix = drawn[levels] = "".join(guides[g] for g in levels)
            yield "".join([prefix, *(text for text, _ in parts), "\n"])


def _get(console: Console, cache: dict[str | None, Style | None], name: str | None) -> Style | None:
    """The console's style named ``name`` (None: unstyled), looked up once per tree."""
    if name not in cache:
        cache[name] = None if name is None else console.get_style(name, default="")
    return cache[name]


def _style(status: RunStatus) -> str:
    return _STATUS_STYLE.get(status, "white")


def _clean(text: str) -> str:
    # Every character ``_CONTROL`` changes is unprintable (Unicode category Cc), so a
    # printable text is returned as it is, without a dictionary lookup per character.
    return text if text.isprintable() else text.translate(_CONTROL)


def task_tree(result: RunResult) -> TaskTree:
    """The run's tasks as a tree following their scoped keys (a rich renderable)."""
    return TaskTree(result)


def _task_parts(task: TaskResult) -> list[tuple[str, str | None]]:
    """One task's line: status mark, key leaf, name, attempts, duration, error or output."""
    clean = _clean
    leaf = task.key.rpartition("/")[2]
    mark, mark_style = _MARK[task.status]
    parts: list[tuple[str, str | None]] = [(mark, mark_style), (f" {clean(leaf)}", None)]
    if task.name not in (leaf, task.kind):
        parts += [(" ", None), (clean(task.name), "dim")]
    if task.attempts > 1:
        parts += [("  ", None), (f"{task.attempts} attempts", "dim")]
    # a TaskResult built by hand (not from a record) may carry no duration: its span
    duration = (
        _ms(task.started_at, task.ended_at) if task.duration is None else _took(task.duration)
    )
    if duration:
        parts += [("  ", None), (duration, "dim")]
    if task.error and task.status is not TaskStatus.COMPLETED:
        parts += [("  ", None), (clean(f"{task.error['type']}: {task.error['message']}"), "red")]
    elif task.output is not None:
        parts.append((f"  → {clean(_short(task.output, 60))}", None))
    return parts


def _attempt_parts(attempt: TaskAttempt) -> list[tuple[str, str | None]]:
    """A failed attempt's line: its number, error and how long its function ran."""
    error = attempt.error
    assert error is not None  # noqa: S101 -- only failed attempts get a line
    took = _took(max(0.0, attempt.ended_at - attempt.started_at))
    return [
        (f"attempt {attempt.attempt} ", "dim"),
        (_clean(f"{error['type']}: {error['message']}"), "red"),
        (f"  {took}", "dim"),
    ]


def print_result(console: Console, result: RunResult) -> None:
    """A finished run for people: tree, logs, output or error."""
    console.print(task_tree(result), soft_wrap=True)  # long lines: the terminal wraps them
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
    table = Table(box=None)
    # Full ids, never cut or folded: they are what `runs show` takes.
    table.add_column("id", no_wrap=True, min_width=max((len(r.id) for r in results), default=2))
    table.add_column("job", overflow="fold", min_width=8)
    for name in ("version", "status", "created", "duration"):
        table.add_column(name, no_wrap=True, min_width=len(name))
    for r in results:
        style = _STATUS_STYLE.get(r.status, "white")
        table.add_row(
            r.id,
            r.job,
            r.job_version,
            f"[{style}]{r.status}[/]",
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "running" if r.status is RunStatus.RUNNING else _ms(r.started_at, r.ended_at),
        )
    return table
