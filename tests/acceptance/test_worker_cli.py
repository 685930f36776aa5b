"""``relaykit run --detach`` and ``relaykit worker APP --exit-when-idle``."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit


# `run --detach` and `worker` as separate processes sharing only the database.
@pytest.mark.subprocess
def test_detach_enqueues_and_a_worker_executes(rk: Relaykit, app: str) -> None:
    run_id = rk.detach(app, "pipeline", {"n": 2})  # checks {"id": ...} on one line

    queued = rk.show(run_id)
    assert queued["status"] == "queued"
    assert queued["tasks"] == [] and queued["started_at"] is None
    assert rk.side_effects() == [], "--detach runs nothing"

    rk.worker_until_idle(app)

    run = rk.show(run_id)
    assert run["status"] == "succeeded"
    assert run["output"] == {"first": 4, "nested": 7}
    assert [t["key"] for t in run["tasks"]] == ["first", "parent", "parent/child"]
    assert rk.side_effects() == ["double 2", "double 3"]


def test_detach_without_json_prints_the_id(rk: Relaykit, app: str) -> None:
    args = ("run", app, "order", "--payload", '{"sku": "x", "qty": 1}', "--detach")
    done = rk(*args, "--database", "sqlite:///relaykit.db")

    assert done.returncode == 0, done.describe()
    run_id = done.stdout.strip()
    assert rk.show(run_id)["status"] == "queued"
    rk.worker_until_idle(app)
    assert rk.show(run_id)["output"] == {"sku": "x", "total": 2}


def test_worker_exits_0_when_idle_whatever_its_runs_did(rk: Relaykit, app: str) -> None:
    ids = {
        "succeeded": rk.detach(app, "pipeline", {"n": 1}),
        "failed": rk.detach(app, "explode"),
        "invalid_payload": rk.detach(app, "order", {"sku": "x", "qty": -1}),
        "waiting": rk.detach(app, "sleepy"),  # an hour-long wait does not keep it busy
    }

    done = rk.worker_until_idle(app)

    assert done.seconds < 30, f"the worker took {done.seconds:.1f}s to notice it was idle"
    assert {status: rk.show(run_id)["status"] for status, run_id in ids.items()} == {
        status: status for status in ids
    }


def test_a_later_worker_pass_finishes_a_run_whose_wait_is_due(rk: Relaykit, app: str) -> None:
    run_id = rk.detach(app, "pause", {"seconds": 1.5})
    rk.worker_until_idle(app)
    assert rk.show(run_id)["status"] == "waiting"

    time.sleep(1.6)  # the wait is now due
    rk.worker_until_idle(app)

    run = rk.show(run_id)
    assert run["status"] == "succeeded"
    assert run["output"] == {"before": 2, "after": 4}
    assert rk.side_effects() == ["double 1", "double 2"], "the task before the wait ran once"


def test_worker_runs_many_runs(rk: Relaykit, app: str) -> None:
    ids = [rk.detach(app, "order", {"sku": f"sku-{i}", "qty": i + 1}) for i in range(4)]

    rk.worker_until_idle(app)

    outputs = [rk.show(run_id)["output"] for run_id in ids]
    assert outputs == [{"sku": f"sku-{i}", "total": 2 * (i + 1)} for i in range(4)]
    assert sorted(rk.side_effects()) == sorted(f"double {i + 1}" for i in range(4))


def _killed_in_its_slow_task(rk: Relaykit, app: str, lease: dict[str, str]) -> dict[str, Any]:
    """``relaykit run APP crashy``, SIGKILLed once its slow task began: the run it left
    (still leased by the dead process)."""
    marker = rk.cwd / "slow-once.started"
    db = ("--database", "sqlite:///relaykit.db")
    with rk.popen("run", app, "crashy", "--json", *db, env=lease) as proc:
        try:
            deadline = time.monotonic() + 30
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert marker.exists(), "the run never reached its slow task"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    (run,) = rk.list_runs()
    return run


# A crash: the worker that takes over is another process, as in production.
@pytest.mark.subprocess
def test_a_worker_takes_over_a_run_whose_process_died(rk: Relaykit, app: str) -> None:
    lease = {"RELAYKIT_LEASE_SECONDS": "1"}
    run = _killed_in_its_slow_task(rk, app, lease)
    assert run["status"] == "running", "the killed process still holds the lease"

    # The lease outlives the process by up to a second: the worker is not idle until it can
    # take the run over, and then finishes it.
    rk.worker_until_idle(app, env=lease)

    done = rk.show(run["id"])
    assert done["status"] == "succeeded"
    assert done["output"] == "done"
    assert rk.side_effects() == ["double 1", "slow_once", "slow_once"]


# A fresh process: its logging is unconfigured, as a user's `relaykit worker` starts.
@pytest.mark.subprocess
def test_worker_prints_one_line_per_run_end(rk: Relaykit, app: str) -> None:
    ids = {
        "succeeded": rk.detach(app, "pipeline", {"n": 1}),
        "failed": rk.detach(app, "explode"),
        "invalid_payload": rk.detach(app, "order", {"sku": "x", "qty": -1}),
    }

    done = rk.worker_until_idle(app)

    for status, run_id in ids.items():
        lines = [line for line in done.stderr.splitlines() if line.startswith(f"run {run_id} ")]
        assert len(lines) == 1, done.describe()
        assert f" {status} in " in lines[0]
    assert "ValidationError" in done.stderr  # why the payload was refused


@pytest.mark.subprocess
def test_an_app_that_configures_logging_gets_the_lines_once_through_its_handlers(
    rk: Relaykit, app: str, tmp_path: Path
) -> None:
    (tmp_path / "logged.py").write_text(
        (tmp_path / app).read_text(encoding="utf-8")
        + "\nimport logging\nlogging.basicConfig(format='APP %(name)s %(message)s')\n",
        encoding="utf-8",
    )
    run_id = rk.detach("logged.py", "explode")

    done = rk.worker_until_idle("logged.py")

    lines = [line for line in done.stderr.splitlines() if f"run {run_id} of job" in line]
    lines = [line for line in lines if not line.startswith("  ")]  # not the stop summary
    assert lines == [lines[0]] and lines[0].startswith("APP relaykit.worker run "), done.describe()


# A dead worker's lease: an idle --exit-when-idle worker says, once, what it waits for.
@pytest.mark.subprocess
def test_an_idle_worker_says_once_which_dead_workers_lease_it_waits_for(
    rk: Relaykit, app: str
) -> None:
    lease = {"RELAYKIT_LEASE_SECONDS": "4"}
    run = _killed_in_its_slow_task(rk, app, lease)

    done = rk.worker_until_idle(app, env=lease)

    said = [line for line in done.stderr.splitlines() if "waiting for run" in line]
    assert len(said) == 1, done.describe()
    assert said[0].startswith(f"worker: waiting for run {run['id']} (job crashy), leased by "), said
    until = re.search(r" until (\d\d:\d\d:\d\d) \(in (\d+)s\)", said[0])
    assert until and 0 <= int(until.group(2)) <= 4, said
    assert rk.show(run["id"])["status"] == "succeeded"
