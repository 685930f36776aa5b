"""A task's attempt history and honest duration, as ``relaykit run`` and ``runs show`` print
them: the errors of failed attempts stay after a retry succeeds, and a task's duration is the
time its function ran, not the retry back-off between its attempts."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

#: The back-off between attempts: long next to a function that returns at once.
BACKOFF = 2.0

APP = f'''\
"""A task that fails twice, differently, then succeeds."""

from typing import Any

import relaykit
from relaykit import Client, Context, Retry

client = Client(id="attempts")


@client.define_job(id="twice-flaky", version="1.0.0")
async def twice_flaky(payload: Any, io: relaykit.IO, ctx: Context) -> str:
    async def call_remote() -> str:
        attempt = relaykit.current_task().attempt
        if attempt == 1:
            raise ConnectionError("remote refused the connection")
        if attempt == 2:
            raise TimeoutError("remote took too long")
        return "answered"

    retry = Retry(limit=5, min_timeout={BACKOFF}, factor=1.0, randomize=False)
    answer = await io.run_task("call-remote", call_remote, retry=retry)
    await io.wait("nap", seconds=0.3)
    return str(answer)
'''


@pytest.fixture
def app_source() -> str:
    return APP


@pytest.mark.subprocess
@pytest.mark.timeout(120)
def test_failed_attempts_keep_their_errors_and_the_duration_leaves_out_the_backoff(
    rk: Relaykit, app: str
) -> None:
    run = rk.run_json(app, "twice-flaky").run_object(exit_code=0)
    shown = rk.show(run["id"])  # checked against the RunDetail schema
    assert shown == run
    tasks = {t["key"]: t for t in shown["tasks"]}
    task = tasks["call-remote"]

    history = task["attempt_history"]
    assert [a["attempt"] for a in history] == [1, 2, 3]
    assert [(a["error"] or {}).get("type") for a in history] == [
        "ConnectionError",
        "TimeoutError",
        None,
    ]
    assert history[0]["error"]["message"] == "remote refused the connection"
    assert history[1]["error"]["message"] == "remote took too long"
    assert task["status"] == "completed" and task["attempts"] == 3 and task["error"] is None
    # Each retry started after its back-off: the attempts' own times do not overlap it.
    for before, after in itertools.pairwise(history):
        gap = (rk.time(after["started_at"]) - rk.time(before["ended_at"])).total_seconds()
        assert gap >= BACKOFF, f"attempt {after['attempt']} began {gap:.3f} s after the last"
    # The task's duration is the sum of its attempts' (a function that returns at once), not
    # ended_at - started_at, which spans both back-offs.
    assert task["duration_ms"] == pytest.approx(sum(a["duration_ms"] for a in history), abs=3)
    span = (rk.time(task["ended_at"]) - rk.time(task["started_at"])).total_seconds()
    assert span >= 2 * BACKOFF
    assert task["duration_ms"] < 0.25 * BACKOFF * 1000
    # A wait runs no function: no history, and its duration is its span.
    nap = tasks["nap"]
    assert nap["attempt_history"] == [] and nap["duration_ms"] >= 300

    human = rk("runs", "show", run["id"], "--database", "sqlite:///relaykit.db")
    assert human.returncode == 0, human.describe()
    lines = human.stdout.splitlines()
    [line] = [ln for ln in lines if "call-remote" in ln]
    assert "3 attempts" in line and f"{task['duration_ms']} ms" in line, human.describe()
    below = lines[lines.index(line) + 1 : lines.index(line) + 3]
    assert "attempt 1 ConnectionError: remote refused the connection" in below[0], below
    assert "attempt 2 TimeoutError: remote took too long" in below[1], below
    assert not any("attempt 3" in ln for ln in lines), human.describe()
