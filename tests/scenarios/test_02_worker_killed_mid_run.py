"""Scenario 2: a worker process is killed (SIGKILL) in the middle of a run; another finishes it.

A real ``relaykit worker`` runs a job whose tasks each append a line to ``effects.log``; the
third task writes ``slow started`` and then blocks. The test kills the worker there, "fixes"
the app (a flag file makes the slow task return at once), and starts a second worker with
``--exit-when-idle``. Once the dead worker's lease expires, the second worker replays the run:
the tasks completed before the kill are not executed again, the in-flight task runs a second
time (it had not been recorded), and the run succeeds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from relaykit import Client, RunResult, RunStatus, TaskStatus

RELAYKIT = Path(sys.executable).parent / "relaykit"
Popen = subprocess.Popen[bytes]

APP = '''\
"""The crash-test app: four tasks; the third blocks until `unblock.flag` exists."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import relaykit
from relaykit import Client, Context

client = Client(id="crash-test")
HERE = Path(__file__).resolve().parent


def note(line: str) -> None:
    with (HERE / "effects.log").open("a", encoding="utf-8") as f:
        f.write(line + "\\n")


def blocked() -> bool:
    return not (HERE / "unblock.flag").exists()


def step(name: str) -> str:
    note(f"{name} attempt {relaykit.current_task().attempt}")
    return name.upper()


async def slow_async() -> str:
    note("slow started")
    if blocked():
        await asyncio.sleep(30)
    note("slow finished")
    return "SLOW"


def slow_sync() -> str:
    note("slow started")
    if blocked():
        time.sleep(30)
    note("slow finished")
    return "SLOW"


@client.define_job(id="pipeline-async", version="1.0.0")
async def pipeline_async(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
    done = [await io.run_task("one", step, "one"), await io.run_task("two", step, "two")]
    done.append(await io.run_task("slow", slow_async))
    done.append(await io.run_task("four", step, "four"))
    return {"done": done, "attempt": ctx.run.attempt}


@client.define_job(id="pipeline-sync", version="1.0.0")
def pipeline_sync(payload: Any, io: Any, ctx: Context) -> dict[str, Any]:
    done = [io.run_task("one", step, "one"), io.run_task("two", step, "two")]
    done.append(io.run_task("slow", slow_sync))
    done.append(io.run_task("four", step, "four"))
    return {"done": done, "attempt": ctx.run.attempt}
'''


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")}
    return {**env, **extra}


def wait_for(condition: Callable[[], bool], what: str, timeout: float, proc: Popen) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds, or
    as soon as ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the worker exited (code {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def effects(tmp_path: Path) -> list[str]:
    log = tmp_path / "effects.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def read_run(db_url: str, run_id: str) -> RunResult:
    async def go() -> RunResult:
        async with Client("reader", database_url=db_url) as client:
            return await client.get_run(run_id)

    return asyncio.run(go())


@pytest.mark.slow
@pytest.mark.parametrize("job", ["pipeline-async", "pipeline-sync"])
def test_a_killed_worker_s_run_is_finished_by_another_worker(tmp_path: Path, job: str) -> None:
    app = tmp_path / "crash_app.py"
    app.write_text(APP, encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'relaykit.db'}"
    database = ("--database", db_url)

    with (tmp_path / "worker-1.log").open("wb") as out:
        first = subprocess.Popen(
            [str(RELAYKIT), "worker", str(app), *database],
            cwd=tmp_path,
            env=cli_env(RELAYKIT_LEASE_SECONDS="1"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        enqueued = subprocess.run(
            [str(RELAYKIT), "run", str(app), job, "--detach", "--json", *database],
            cwd=tmp_path,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert enqueued.returncode == 0, enqueued.stderr
        run_id = json.loads(enqueued.stdout)["id"]

        wait_for(lambda: "slow started" in effects(tmp_path), "the slow task", 30, first)
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)

    before_kill = effects(tmp_path)
    assert before_kill == ["one attempt 1", "two attempt 1", "slow started"]
    assert read_run(db_url, run_id).status is RunStatus.RUNNING  # leased by a dead worker

    (tmp_path / "unblock.flag").touch()  # the "fix": the slow task no longer blocks
    second = subprocess.run(
        [str(RELAYKIT), "worker", str(app), "--exit-when-idle", *database],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 0, second.stderr

    result = read_run(db_url, run_id)
    assert result.status is RunStatus.SUCCEEDED, result.error
    # The second worker's attempt is the run's second: the killed one was the first.
    assert result.output == {"done": ["ONE", "TWO", "SLOW", "FOUR"], "attempt": 2}
    runs = Counter(effects(tmp_path))
    assert runs == Counter(
        {
            "one attempt 1": 1,  # completed before the kill: exactly once
            "two attempt 1": 1,
            "slow started": 2,  # in flight at the kill: once per worker, no more
            "slow finished": 1,
            "four attempt 1": 1,
        }
    )
    assert {t.key: (t.status, t.attempts) for t in result.tasks} == {
        "one": (TaskStatus.COMPLETED, 1),
        "two": (TaskStatus.COMPLETED, 1),
        # Nothing is written before a task's function runs, so the killed start left no record.
        "slow": (TaskStatus.COMPLETED, 1),
        "four": (TaskStatus.COMPLETED, 1),
    }
