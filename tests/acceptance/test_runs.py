"""``relaykit runs list|show|cancel|replay``, ``jobs``, ``db migrate`` and every ``--help``."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from tests.acceptance._shapes import check_component

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit


def _waiting_run(rk: Relaykit, app: str) -> str:
    """A run of ``sleepy`` left waiting on its one-hour wait by a worker pass."""
    run_id = rk.detach(app, "sleepy")
    rk.worker_until_idle(app)
    assert rk.show(run_id)["status"] == "waiting"
    return run_id


def test_show_prints_the_same_object_as_run(rk: Relaykit, app: str) -> None:
    for job, payload, code in [("pipeline", {"n": 7}, 0), ("explode", None, 1)]:
        run = rk.run_json(app, job, payload).run_object(exit_code=code)
        assert rk.show(run["id"]) == run


def test_show_without_json_prints_the_task_tree(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "pipeline", {"n": 1}).run_object(exit_code=0)

    done = rk("runs", "show", run["id"], "--database", "sqlite:///relaykit.db")

    assert done.returncode == 0, done.describe()
    for text in (run["id"], "succeeded", "first", "parent", "child", " ms"):
        assert text in done.stdout, f"{text!r} missing:\n{done.describe()}"


def test_list_prints_run_objects_without_tasks(rk: Relaykit, app: str) -> None:
    ok = rk.run_json(app, "pipeline", {"n": 1}).run_object(exit_code=0)
    failed = rk.run_json(app, "explode").run_object(exit_code=1)
    invalid = rk.run_json(app, "order", {"qty": 1}).run_object(exit_code=1)

    runs = rk.list_runs()  # checks the keys: no "tasks" or "logs"

    by_id = {r["id"]: r for r in runs}
    assert set(by_id) == {ok["id"], failed["id"], invalid["id"]}
    for full in (ok, failed, invalid):
        # a list holds the run's own fields; the detail adds tasks, logs, code, tags, metadata
        detail_only = ("tasks", "logs", "code", "tags", "metadata", "retry_of")
        assert by_id[full["id"]] == {k: v for k, v in full.items() if k not in detail_only}


def test_list_filters_by_job_and_status(rk: Relaykit, app: str) -> None:
    ok = rk.run_json(app, "pipeline", {"n": 1}).run_object(exit_code=0)
    failed = rk.run_json(app, "explode").run_object(exit_code=1)
    ok2 = rk.run_json(app, "flaky").run_object(exit_code=0)

    assert [r["id"] for r in rk.list_runs("--job", "explode")] == [failed["id"]]
    assert [r["id"] for r in rk.list_runs("--status", "failed")] == [failed["id"]]
    assert {r["id"] for r in rk.list_runs("--status", "succeeded")} == {ok["id"], ok2["id"]}
    assert rk.list_runs("--job", "pipeline", "--status", "failed") == []
    assert rk.list_runs("--job", "no-such-job") == []


def test_list_on_an_empty_database_is_an_empty_page(rk: Relaykit) -> None:
    assert rk("db", "migrate", "--database", "sqlite:///relaykit.db").returncode == 0
    done = rk("runs", "list", "--json", "--database", "sqlite:///relaykit.db")

    assert done.returncode == 0, done.describe()
    assert done.json() == {"data": [], "next_cursor": None}


def test_list_pages_by_cursor_return_every_run_once(rk: Relaykit, app: str) -> None:
    ids = [rk.run_json(app, "pipeline", {"n": n}).run_object(exit_code=0)["id"] for n in range(5)]
    db = ("--database", "sqlite:///relaykit.db")

    seen: list[str] = []
    cursor: tuple[str, ...] = ()
    pages = 0
    while True:
        done = rk("runs", "list", "--limit", "2", *cursor, "--json", *db)
        assert done.returncode == 0, done.describe()
        page = done.json()
        seen += [r["id"] for r in page["data"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        cursor = ("--cursor", page["next_cursor"])
        human = rk("runs", "list", "--limit", "2", *db)
        assert "more: --cursor" in human.stdout, human.describe()

    assert pages == 3
    assert seen == ids[::-1], "newest first, each run exactly once"


@pytest.mark.parametrize("cursor", ["garbage", "r1.5", "e1733160000.5_run_1", "r1.5_"])
def test_list_with_a_bad_cursor_is_one_line_and_exit_2(rk: Relaykit, cursor: str) -> None:
    assert rk("db", "migrate", "--database", "sqlite:///relaykit.db").returncode == 0
    done = rk("runs", "list", "--cursor", cursor, "--database", "sqlite:///relaykit.db")

    line = done.error_line(status=2)
    assert "cursor" in line and "next_cursor" in line, line


def test_list_without_json_shows_a_table(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "explode").run_object(exit_code=1)

    done = rk("runs", "list", "--database", "sqlite:///relaykit.db")

    assert done.returncode == 0, done.describe()
    assert run["id"] in done.stdout and "failed" in done.stdout


def test_cancel_a_waiting_run(rk: Relaykit, app: str) -> None:
    run_id = _waiting_run(rk, app)

    done = rk("runs", "cancel", run_id, "--database", "sqlite:///relaykit.db")

    assert done.returncode == 0, done.describe()
    run = rk.show(run_id)
    assert run["status"] == "canceled"
    assert run["ended_at"] is not None
    # A later worker pass does not bring it back.
    rk.worker_until_idle(app)
    assert rk.show(run_id)["status"] == "canceled"


def test_cancel_stops_a_run_that_relaykit_run_is_waiting_on(rk: Relaykit, app: str) -> None:
    with rk.popen("run", app, "sleepy", "--json", "--database", "sqlite:///relaykit.db") as proc:
        try:
            deadline = time.monotonic() + 30
            waiting: list[dict[str, Any]] = []
            while not waiting and time.monotonic() < deadline:
                # `runs list` never creates the database: wait until `relaykit run` has
                if (rk.cwd / "relaykit.db").exists():
                    waiting = rk.list_runs("--status", "waiting")
                time.sleep(0.1)
            assert len(waiting) == 1, "relaykit run never reached its wait"
            cancel = rk("runs", "cancel", waiting[0]["id"], "--database", "sqlite:///relaykit.db")
            assert cancel.returncode == 0, cancel.describe()
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    assert proc.returncode == 1, stderr
    assert stdout.count("\n") == 1, stdout
    run = json.loads(stdout)
    assert run["id"] == waiting[0]["id"]
    assert run["status"] == "canceled"


def test_cancel_of_an_ended_run_fails_and_changes_nothing(rk: Relaykit, app: str) -> None:
    run = rk.run_json(app, "pipeline", {"n": 1}).run_object(exit_code=0)

    done = rk("runs", "cancel", run["id"], "--database", "sqlite:///relaykit.db")

    assert done.returncode != 0, done.describe()
    assert done.stdout.strip() == "", done.describe()
    assert len(done.stderr.splitlines()) == 1, done.describe()
    assert run["id"] in done.stderr
    assert rk.show(run["id"]) == run


def test_replay_creates_a_new_run_with_the_same_payload(rk: Relaykit, app: str) -> None:
    old = rk.run_json(app, "pipeline", {"n": 9}).run_object(exit_code=0)

    done = rk("runs", "replay", old["id"], "--json", "--database", "sqlite:///relaykit.db")

    assert done.returncode == 0, done.describe()
    new_id = done.json()["id"]
    assert new_id != old["id"]
    queued = rk.show(new_id)
    assert (queued["job"], queued["payload"], queued["tasks"]) == ("pipeline", {"n": 9}, [])
    rk.worker_until_idle(app)
    new = rk.show(new_id)
    assert new["status"] == "succeeded"
    assert new["output"] == old["output"]
    assert rk.show(old["id"]) == old, "the replayed run is untouched"
    assert rk.side_effects() == ["double 9", "double 10"] * 2


def test_replay_without_json_prints_the_new_id(rk: Relaykit, app: str) -> None:
    old = rk.run_json(app, "order", {"sku": "x"}).run_object(exit_code=1)

    done = rk("runs", "replay", old["id"], "--database", "sqlite:///relaykit.db")

    assert done.returncode == 0, done.describe()
    new_id = done.stdout.strip()
    assert new_id != old["id"]
    assert rk.show(new_id)["payload"] == {"sku": "x"}


def test_jobs_lists_the_apps_jobs(rk: Relaykit, app: str) -> None:
    expected = {
        "pipeline",
        "flaky",
        "pause",
        "explode",
        "raises",
        "chatty",
        "order",
        "opaque-task",
        "opaque-output",
        "nan-task",
        "crashy",
        "sleepy",
        "sync-job",
    }

    done = rk("jobs", app, "--json")

    assert done.returncode == 0, done.describe()
    jobs = check_component(done.json(), "JobList")["data"]
    assert {j["id"] for j in jobs} == expected
    human = rk("jobs", app)
    assert human.returncode == 0, human.describe()
    assert all(job_id in human.stdout for job_id in expected), human.describe()


def test_db_migrate_is_idempotent_and_keeps_the_runs(rk: Relaykit, app: str) -> None:
    db = ("--database", "sqlite:///fresh.db")

    first = rk("db", "migrate", *db)
    assert first.returncode == 0, first.describe()
    assert (rk.cwd / "fresh.db").is_file()
    run = rk.run_json(app, "pipeline", {"n": 1}, db=db).run_object(exit_code=0)
    again = rk("db", "migrate", *db)
    assert again.returncode == 0, again.describe()
    third = rk("db", "migrate", *db)
    assert third.returncode == 0, third.describe()

    assert again.stdout == third.stdout, "migrating twice does nothing more"
    assert rk.snapshot(db=db) == [run]


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ((), ("run", "worker", "runs", "jobs", "db")),
        (("run",), ("--payload", "--json", "--detach", "--database")),
        (("worker",), ("--concurrency", "--exit-when-idle", "--database")),
        (("runs",), ("list", "show", "cancel", "replay")),
        (("runs", "list"), ("--job", "--status", "--json", "--database")),
        (("runs", "show"), ("RUN", "--json", "--database")),
        (("runs", "cancel"), ("RUN", "--database")),
        (("runs", "replay"), ("RUN", "--database")),
        (("jobs",), ("APP", "--json")),
        (("db",), ("migrate",)),
        (("db", "migrate"), ("--database",)),
    ],
)
def test_help(rk: Relaykit, command: tuple[str, ...], mentions: tuple[str, ...]) -> None:
    done = rk(*command, "--help")

    assert done.returncode == 0, done.describe()
    assert done.stdout.startswith("Usage: relaykit"), done.describe()
    for text in mentions:
        assert text in done.stdout, f"{text!r} missing:\n{done.describe()}"
