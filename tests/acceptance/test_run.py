"""``relaykit run APP JOB``: the output contract, exit codes, waits, database URLs, README."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

REPO = Path(__file__).resolve().parents[2]


def _task(run: dict[str, Any], key: str) -> dict[str, Any]:
    found = [t for t in run["tasks"] if t["key"] == key]
    assert len(found) == 1, (
        f"expected one task {key!r}, got keys {[t['key'] for t in run['tasks']]}"
    )
    task: dict[str, Any] = found[0]
    return task


# The installed script, end to end: `run --json`, exit 0, logs on stderr.
@pytest.mark.subprocess
def test_json_prints_one_line_with_the_run_object(rk: Relaykit, app: str) -> None:
    done = rk.run_json(app, "pipeline", {"n": 5})
    run = done.run_object(exit_code=0)

    assert run["job"] == "pipeline"
    assert run["status"] == "succeeded"
    assert run["payload"] == {"n": 5}
    assert run["output"] == {"first": 10, "nested": 13}
    assert run["error"] is None
    created, started, ended = (rk.time(run[k]) for k in ("created_at", "started_at", "ended_at"))
    assert created <= started <= ended
    # Flat, in start order, nested keys joined by "/".
    assert [t["key"] for t in run["tasks"]] == ["first", "parent", "parent/child"]
    first, parent, child = run["tasks"]
    assert first == {**first, "name": "double", "status": "completed", "attempts": 1, "output": 10}
    assert parent["output"] == 13 and parent["status"] == "completed"
    assert child["output"] == 12 and child["name"] == "double"
    assert all(t["error"] is None and t["ended_at"] is not None for t in run["tasks"])
    # Logs and progress go to stderr as lines; stdout is the run object alone, its log lines
    # in "logs".
    assert "pipeline started" in done.stderr
    assert len(done.stdout.splitlines()) == 1
    assert [g["message"] for g in run["logs"]] == ["pipeline started"]
    assert rk.side_effects() == ["double 5", "double 6"]


# What a job prints must stay off the process's real stdout (file descriptor 1).
@pytest.mark.subprocess
def test_json_stdout_holds_nothing_but_the_run_object(rk: Relaykit, app: str) -> None:
    done = rk.run_json(app, "chatty")

    run = done.run_object(exit_code=0)  # stdout is exactly one JSON line
    assert run["output"] == "said"


def test_attempts_count_the_starts_of_a_task_function(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "flaky").run_object(exit_code=0)

    assert run["status"] == "succeeded"
    assert run["output"] == "answered"
    task = _task(run, "call-remote")
    assert task["status"] == "completed"
    assert task["attempts"] == 3
    assert task["error"] is None
    assert rk.side_effects() == ["call_remote 1", "call_remote 2", "call_remote 3"]


def test_a_short_wait_is_honoured_and_listed_as_a_task(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "pause").run_object(exit_code=0)

    assert run["status"] == "succeeded"
    assert run["output"] == {"before": 2, "after": 4}
    assert [t["key"] for t in run["tasks"]] == ["before", "pause", "after"]
    wait = _task(run, "pause")
    assert wait["status"] == "completed"
    waited = (rk.time(wait["ended_at"]) - rk.time(wait["started_at"])).total_seconds()
    assert waited >= 0.2
    gap = rk.time(_task(run, "after")["started_at"]) - rk.time(wait["started_at"])
    assert gap.total_seconds() >= 0.2
    assert (rk.time(run["ended_at"]) - rk.time(run["started_at"])).total_seconds() >= 0.2
    # The run was replayed after the wait: the task before it ran once.
    assert _task(run, "before")["attempts"] == 1
    assert rk.side_effects() == ["double 1", "double 2"]


# The exit code 1 of a real process.
@pytest.mark.subprocess
def test_a_failed_run_exits_1_and_names_the_failing_task(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "explode").run_object(exit_code=1)

    assert run["status"] == "failed"
    assert run["output"] is None
    error = run["error"]
    assert error["type"] == "TaskFailed"
    assert error["task"] == "break-widget"
    assert "the widget is broken" in error["message"]
    assert error["traceback"], "a failed run carries the traceback"
    task = _task(run, "break-widget")
    assert task["status"] == "errored"
    assert task["attempts"] == 1  # NonRetriable: no second start
    assert task["error"]["type"] == "NonRetriable"
    assert task["error"]["message"] == "the widget is broken"
    assert rk.side_effects() == ["break_widget"]


def test_an_exception_in_the_run_function_fails_the_run(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "raises").run_object(exit_code=1)

    assert run["status"] == "failed"
    assert run["error"]["type"] == "LookupError"
    assert run["error"]["message"] == "no such customer: 42"
    assert run["error"]["task"] is None
    assert "LookupError" in run["error"]["traceback"]
    assert [(t["key"], t["status"]) for t in run["tasks"]] == [("fine", "completed")]


def test_an_invalid_payload_is_recorded_and_exits_1(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "order", {"sku": "kb-1", "qty": 0}).run_object(exit_code=1)

    assert run["status"] == "invalid_payload"
    assert run["payload"] == {"sku": "kb-1", "qty": 0}
    assert run["output"] is None
    assert "qty" in run["error"]["message"]
    assert run["tasks"] == []
    assert rk.side_effects() == [], "no task runs for an invalid payload"
    assert rk.show(run["id"]) == run


def test_a_valid_payload_reaches_the_job_as_its_schema(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "order", {"sku": "kb-1", "qty": 3}).run_object(exit_code=0)

    assert run["status"] == "succeeded"
    assert run["output"] == {"sku": "kb-1", "total": 6}


def test_a_plain_def_job_runs_with_a_sync_io(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "sync-job", {"a": 2, "b": 3}).run_object(exit_code=0)

    assert run["status"] == "succeeded"
    assert run["output"] == {"total": 5}
    assert [t["key"] for t in run["tasks"]] == ["add", "tick"]
    assert _task(run, "add")["output"] == 5
    assert rk.side_effects() == ["add 2 3"]


def test_a_run_without_payload_records_null(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "flaky").run_object(exit_code=0)

    assert run["payload"] is None


@pytest.mark.parametrize(
    ("job", "payload", "status", "exit_code"),
    [
        ("pipeline", '{"n": 1}', "succeeded", 0),
        ("explode", None, "failed", 1),
        ("order", '{"sku": "x"}', "invalid_payload", 1),
    ],
)
def test_human_output_shows_the_status_and_exits_the_same_way(
    rk: Relaykit, app: str, job: str, payload: str | None, status: str, exit_code: int
) -> None:
    extra = () if payload is None else ("--payload", payload)
    done = rk("run", app, job, *extra, "--database", "sqlite:///relaykit.db")

    assert done.returncode == exit_code, done.describe()
    assert status in done.stdout, done.describe()
    assert not done.stdout.lstrip().startswith("{"), "human output is not the JSON object"
    (run,) = rk.list_runs()
    assert run["status"] == status


def test_human_output_of_a_failure_shows_the_error(rk: Relaykit, app: str) -> None:
    done = rk("run", app, "explode", "--database", "sqlite:///relaykit.db")

    assert done.returncode == 1, done.describe()
    assert "the widget is broken" in done.stdout + done.stderr


# -- database URLs ----------------------------------------------------------------------------


def test_a_relative_sqlite_url_is_under_the_current_directory(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "pipeline", {"n": 1}, db=("--database", "sqlite:///data/rk.db"))
    run_id = run.run_object(exit_code=0)["id"]

    assert (rk.cwd / "data" / "rk.db").is_file()
    assert not (rk.cwd / ".relaykit").exists()
    assert rk.show(run_id, db=("--database", "sqlite:///data/rk.db"))["status"] == "succeeded"


def test_an_absolute_sqlite_url(rk: Relaykit, app: str, tmp_path: Path) -> None:
    db_file = tmp_path / "store" / "abs.db"
    url = f"sqlite:///{db_file}"
    assert url.startswith("sqlite:////"), url
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    args = ("run", str(tmp_path / app), "pipeline", "--payload", '{"n": 2}', "--json")
    done = rk(*args, "--database", url, cwd=elsewhere)
    run = done.run_object(exit_code=0)

    assert db_file.is_file()
    assert not (elsewhere / ".relaykit").exists()
    assert list(elsewhere.glob("*.db*")) == [], "no database in the current directory"
    assert rk.show(run["id"], db=("--database", url)) == run


def test_sqlite_url_options_are_case_insensitive(rk: Relaykit, app: str) -> None:
    db = ("--database", "sqlite:///opts.db?Synchronous=NORMAL")

    run = rk.run_json(app, "pipeline", {"n": 1}, db=db).run_object(exit_code=0)

    assert (rk.cwd / "opts.db").is_file()
    assert rk.show(run["id"], db=("--database", "sqlite:///opts.db")) == run


def test_the_database_url_from_the_environment(rk: Relaykit, app: str) -> None:
    env = {"RELAYKIT_DATABASE_URL": "sqlite:///from-env.db"}
    done = rk("run", app, "pipeline", "--payload", '{"n": 3}', "--json", env=env)
    run = done.run_object(exit_code=0)

    assert (rk.cwd / "from-env.db").is_file()
    assert not (rk.cwd / ".relaykit").exists()
    shown = rk("runs", "show", run["id"], "--json", env=env)
    assert shown.run_object(exit_code=0) == run


def test_database_option_wins_over_the_environment(rk: Relaykit, app: str) -> None:
    env = {"RELAYKIT_DATABASE_URL": "sqlite:///from-env.db"}
    args = ("run", app, "pipeline", "--payload", '{"n": 3}', "--json")
    done = rk(*args, "--database", "sqlite:///from-option.db", env=env)
    done.run_object(exit_code=0)

    assert (rk.cwd / "from-option.db").is_file()
    assert not (rk.cwd / "from-env.db").exists()


def test_the_default_database_is_under_the_current_directory(rk: Relaykit, app: str) -> None:
    run = rk("run", app, "pipeline", "--payload", '{"n": 4}', "--json").run_object(exit_code=0)

    assert (rk.cwd / ".relaykit" / "relaykit.db").is_file()
    listed = rk("runs", "list", "--json")
    assert listed.returncode == 0, listed.describe()
    assert [r["id"] for r in listed.json()["data"]] == [run["id"]]


# -- the README example -----------------------------------------------------------------------


@pytest.fixture
def quickstart(tmp_path: Path) -> str:
    """A copy of examples/quickstart.py at the same relative path under ``tmp_path``."""
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "quickstart.py", tmp_path / "examples" / "quickstart.py")
    return "examples/quickstart.py"


def test_readme_quickstart_with_json(rk: Relaykit, quickstart: str) -> None:
    done = rk("run", quickstart, "welcome", "--payload", '{"name": "Ada"}', "--json")
    run = done.run_object(exit_code=0)

    assert run["status"] == "succeeded"
    assert run["output"] == {"handle": "ada", "welcome": "Welcome, ada!", "signups": 1}
    keys = [t["key"] for t in run["tasks"]]
    assert {"profile", "cool-off", "send-welcome"} <= set(keys)
    assert keys.index("profile") < keys.index("cool-off") < keys.index("send-welcome")
    assert _task(run, "send-welcome")["attempts"] == 2  # fails once, succeeds on the retry
    assert _task(run, "profile")["attempts"] == 1
    assert "new signup" in done.stderr
    # The counter lives in the durable env store: a second run sees the first.
    again = rk("run", quickstart, "welcome", "--payload", '{"name": "Ada"}', "--json")
    assert again.run_object(exit_code=0)["output"]["signups"] == 2


def test_readme_quickstart_command_as_written(rk: Relaykit, quickstart: str) -> None:
    done = rk.python_module("run", quickstart, "welcome", "--payload", '{"name": "Ada"}')

    assert done.returncode == 0, done.describe()
    assert "status: succeeded" in done.stdout, done.describe()
    assert "Welcome, ada!" in done.stdout, done.describe()


def test_the_orders_example_runs_its_children_end_to_end(rk: Relaykit, tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir(exist_ok=True)
    shutil.copy(REPO / "examples" / "orders.py", tmp_path / "examples" / "orders.py")
    payload = '{"order_id": "A-1", "customer": "ada", "items": ["mug", "tea"]}'
    done = rk("run", "examples/orders.py", "fulfil-order", "--payload", payload, "--json")
    run = done.run_object(exit_code=0)
    assert run["status"] == "succeeded"
    assert run["output"] == {
        "boxes": ["A-1/mug", "A-1/tea"],
        "receipt": {"order_id": "A-1", "charged": 1000},
    }
    assert [t["key"] for t in run["tasks"]] == ["pack", "charge"]
    # one run per child, all executed by the same `relaykit run` process
    listed = rk("runs", "list", "--json").json()["data"]
    assert sorted(r["job"] for r in listed) == [
        "charge",
        "fulfil-order",
        "pack-item",
        "pack-item",
    ]
