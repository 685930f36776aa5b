"""The task tree ``relaykit run`` and ``relaykit runs show`` print."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console

from relaykit import RunResult, RunStatus, TaskResult, TaskStatus
from relaykit.cli._render import print_result
from relaykit.records import ErrorInfo, TaskAttempt

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _task(key: str, status: TaskStatus = TaskStatus.COMPLETED, **fields: object) -> TaskResult:
    values: dict[str, object] = {
        "key": key,
        "name": key.rpartition("/")[2],
        "kind": "task",
        "status": status,
        "attempts": 1,
        "params": None,
        "output": None,
        "error": None,
        "started_at": T0,
        "ended_at": T0 + timedelta(milliseconds=12),
    }
    values.update(fields)
    return TaskResult(**values)  # type: ignore[arg-type]  # test data: the fields above


def _run(*tasks: TaskResult) -> RunResult:
    return RunResult(
        id="run_1",
        job="demo",
        status=RunStatus.FAILED,
        payload=None,
        output=None,
        error=None,
        created_at=T0,
        started_at=T0,
        ended_at=T0,
        tasks=list(tasks),
        logs=[],
    )


def _printed(result: RunResult, width: int = 100) -> list[str]:
    console = Console(file=io.StringIO(), width=width)
    print_result(console, result)
    out: str = console.file.getvalue()  # type: ignore[attr-defined]  # the StringIO above
    return out.splitlines()


def test_children_nest_under_their_parent_with_rich_tree_guides() -> None:
    lines = _printed(
        _run(
            _task("fetch", output={"n": 1}),
            _task("group"),
            _task("group/a", attempts=3, name="Step A"),
            _task("group/a/deep"),
            _task("group/b", TaskStatus.ERRORED, error={"type": "E", "message": "boom"}),
            _task("last", TaskStatus.WAITING, ended_at=None),
        )
    )
    assert lines[:7] == [
        "run_1 demo failed",
        '├── ✔ fetch  12 ms  → {"n": 1}',
        "├── ✔ group  12 ms",
        "│   ├── ✔ a Step A  3 attempts  12 ms",
        "│   │   └── ✔ deep  12 ms",
        "│   └── ✖ b  12 ms  E: boom",
        "└── ⏸ last",
    ]


def test_failed_attempts_are_listed_under_their_task_with_the_honest_duration() -> None:
    t = T0.timestamp()

    def error(type_: str, message: str) -> ErrorInfo:
        return {"type": type_, "message": message, "task": "group/a", "traceback": None}

    history = (
        TaskAttempt("group/a", 1, t, t + 0.004, error("ConnectionError", "refused")),
        TaskAttempt("group/a", 2, t + 2, t + 2.006, error("TimeoutError", "slow")),
        TaskAttempt("group/a", 3, t + 6, t + 6.002),
    )
    lines = _printed(
        _run(
            _task("group"),
            # ended 6 s after it started (two back-offs) but ran 12 ms in all
            _task(
                "group/a",
                attempts=3,
                ended_at=T0 + timedelta(seconds=6.002),
                duration=0.012,
                attempt_history=history,
            ),
            _task("group/a/deep"),
            _task("last"),
        )
    )
    assert lines[:7] == [
        "run_1 demo failed",
        "├── ✔ group  12 ms",
        "│   └── ✔ a  3 attempts  12 ms",
        "│       │   attempt 1 ConnectionError: refused  4 ms",  # the guide leads on to deep
        "│       │   attempt 2 TimeoutError: slow  6 ms",
        "│       └── ✔ deep  12 ms",
        "└── ✔ last  12 ms",
    ]


def test_text_from_the_run_is_printed_as_is_without_control_codes() -> None:
    # an ESC sequence would clear the screen, a newline would break the tree
    error = {"type": "ValueError", "message": "[red]not markup[/]\n\x1b[2Jcleared\r?"}
    lines = _printed(_run(_task("k\x07", TaskStatus.ERRORED, error=error)))
    assert lines[1] == "└── ✖ k  12 ms  ValueError: [red]not markup[/] [2Jcleared?"
    assert lines[2] == "status: failed"


def test_a_long_line_is_not_cropped() -> None:
    long = "x" * 300
    lines = _printed(_run(_task("k", output=long)), width=40)
    assert lines[1] == f'└── ✔ k  12 ms  → "{long[:58]}…'


def test_a_deep_chain_of_keys_prints_without_recursion() -> None:
    keys = ["/".join(["k"] * depth) for depth in range(1, 1501)]
    lines = _printed(_run(*(_task(key) for key in keys)), width=200)
    assert len(lines) == 1 + 1500 + 1  # root, the tasks, the status line
    assert lines[-2].endswith("└── ✔ k  12 ms")
    assert lines[-2].startswith("    " * 1499)
