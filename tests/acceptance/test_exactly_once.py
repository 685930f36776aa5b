"""Exactly once through the real ``relaykit`` command: a stalled worker, flow-controlled jobs
under ``relaykit run`` beside a worker, cancelling a running run, ``asyncio.TaskGroup``.

Each task function appends one line (with its process id) to ``effects.log`` with O_APPEND,
so a test counts how many times each really ran, in which process. Every test runs on a real
SQLite file and on the real PostgreSQL server (``db_url``).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

APP = '''\
"""Jobs whose task functions log every real execution to effects.log."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from relaykit import CancelOn, Client, Concurrency, Context, Throttle

client = Client(id="exactly-once")


def note(what: str) -> None:
    fd = os.open("effects.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{what} {os.getpid()}\\n".encode())
    finally:
        os.close(fd)


@client.define_job(id="stall", version="1.0.0")
async def stall(payload: Any, io: Any, ctx: Context) -> int:
    async def block_the_loop() -> None:
        note("stall")
        time.sleep(3)  # a blocking call inside an async task: the whole loop stops

    await io.run_task("stall", block_the_loop)
    for i in range(8):

        async def step(i: int = i) -> int:
            note(f"step-{i}")
            await asyncio.sleep(0.1)  # the worker's own loop gets to run meanwhile
            return i

        await io.run_task(f"step-{i}", step)
    return 8


async def steps(io: Any, name: str, n: int = 3) -> int:
    for i in range(n):

        async def step(i: int = i) -> int:
            note(f"{name}-{i}")
            await asyncio.sleep(0.05)
            return i

        await io.run_task(f"s{i}", step)
    return n


@client.define_job(id="limited", version="1.0.0", concurrency_limit=1)
async def limited(payload: Any, io: Any, ctx: Context) -> int:
    return await steps(io, "limited")


@client.define_job(
    id="per-user", version="1.0.0", concurrency_limit=Concurrency(key="user", limit=1)
)
async def per_user(payload: Any, io: Any, ctx: Context) -> int:
    return await steps(io, "per-user")


@client.define_job(id="throttled", version="1.0.0", throttle=Throttle(limit=5, period=60))
async def throttled(payload: Any, io: Any, ctx: Context) -> int:
    return await steps(io, "throttled")


@client.define_job(id="debounced", version="1.0.0", debounce=0.2)
async def debounced(payload: Any, io: Any, ctx: Context) -> int:
    return await steps(io, "debounced")


@client.define_job(
    id="order",
    version="1.0.0",
    cancel_on=CancelOn(event="order.canceled", match="order_id"),
)
async def order(payload: Any, io: Any, ctx: Context) -> str:
    async def charge() -> str:
        note("charge-started")
        await asyncio.sleep(3)
        note("charge-done")
        return "charged"

    async def ship() -> str:
        note("ship")
        return "shipped"

    await io.run_task("charge", charge)
    return await io.run_task("ship", ship)


@client.define_job(id="grouped", version="1.0.0")
async def grouped(payload: Any, io: Any, ctx: Context) -> list[str]:
    async def slow() -> str:
        note("slow")
        await asyncio.sleep(0.5)
        return "slow"

    async with asyncio.TaskGroup() as tg:
        a = tg.create_task(io.run_task("slow", slow))
        tg.create_task(io.wait("pause", seconds=1))
    async def after() -> str:
        note("after")
        return "after"

    return [a.result(), await io.run_task("after", after)]
'''


@pytest.fixture
def app(rk: Relaykit) -> str:
    path = rk.cwd / "exactly_once_app.py"
    path.write_text(APP, encoding="utf-8")
    return str(path)


def _effects(cwd: Path) -> list[tuple[str, int]]:
    log = cwd / "effects.log"
    if not log.exists():
        return []
    return [(w, int(p)) for w, p in (line.split() for line in log.read_text().splitlines())]


def _db(db_url: str) -> tuple[str, str]:
    return ("--database", db_url)


def test_a_worker_whose_loop_stalls_past_its_lease_runs_no_task_twice(
    rk: Relaykit, app: str, db_url: str
) -> None:
    """The issue's repro: a 3 s blocking call with 2 s leases. The worker's own claim loop
    sees the lease expired when the loop comes back; it must not claim the run it is still
    executing, and the attempt must carry on (or stop), never run beside a second one."""
    run_id = rk.detach(app, "stall", db=_db(db_url))
    done = rk.worker_until_idle(app, db=_db(db_url), env={"RELAYKIT_LEASE_SECONDS": "2"})

    run = rk.show(run_id, db=_db(db_url))
    assert run["status"] == "succeeded", done.describe()
    counts = Counter(w for w, _ in _effects(rk.cwd))
    assert counts == Counter({"stall": 1, **{f"step-{i}": 1 for i in range(8)}}), counts
    assert [t["attempts"] for t in run["tasks"]] == [1] * 9


@pytest.mark.parametrize("job", ["limited", "per-user", "throttled", "debounced"])
def test_relaykit_run_executes_a_flow_controlled_job_once_beside_a_worker(
    rk: Relaykit, app: str, db_url: str, job: str
) -> None:
    """``relaykit run`` goes through ``client.run``: a run it did not claim (flow control
    queues it) is executed once, by whichever of it and the worker claims it."""
    worker = rk.popen("worker", app, *_db(db_url), env={"RELAYKIT_LEASE_SECONDS": "5"})
    try:
        results = [rk.run_json(app, job, {"user": "u1"}, db=_db(db_url)) for _ in range(2)]
    finally:
        worker.terminate()
        worker.communicate(timeout=30)
    for done in results:
        assert done.returncode == 0, done.describe()
        assert done.json()["status"] == "succeeded", done.describe()
    counts = Counter(w for w, _ in _effects(rk.cwd))
    assert len({done.json()["id"] for done in results}) == 2
    assert counts == Counter({f"{job}-{i}": 2 for i in range(3)}), counts


@pytest.mark.parametrize("how", ["runs-cancel", "cancel-on-event"])
def test_a_running_run_canceled_from_the_cli_stops_at_its_next_task_boundary(
    rk: Relaykit, app: str, db_url: str, how: str
) -> None:
    run_id = rk.detach(app, "order", {"order_id": "o-7"}, db=_db(db_url))
    worker = rk.popen("worker", app, *_db(db_url))
    try:
        deadline = time.monotonic() + 30
        while ("charge-started" not in {w for w, _ in _effects(rk.cwd)}) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        if how == "runs-cancel":
            canceled = rk("runs", "cancel", run_id, "--json", *_db(db_url))
        else:
            payload = json.dumps({"order_id": "o-7"})
            canceled = rk("send", app, "order.canceled", "--payload", payload, *_db(db_url))
        assert canceled.returncode == 0, canceled.describe()
        while "charge-done" not in {w for w, _ in _effects(rk.cwd)}:
            assert time.monotonic() < deadline, "the running task never finished"
            time.sleep(0.05)
        time.sleep(1.0)  # time enough for the attempt to (wrongly) start the next task
    finally:
        worker.terminate()
        worker.communicate(timeout=30)
    run = rk.show(run_id, db=_db(db_url))
    assert run["status"] == "canceled"
    # the running task finished; nothing after it started
    assert [w for w, _ in _effects(rk.cwd)] == ["charge-started", "charge-done"]
    assert json.dumps(run).count('"ship"') == 0


# Proves the tasks ran in the relaykit process, not in the test's.
@pytest.mark.subprocess
def test_a_task_group_around_tasks_and_a_durable_wait_suspends_and_resumes(
    rk: Relaykit, app: str, db_url: str
) -> None:
    done = rk.run_json(app, "grouped", db=_db(db_url))

    assert done.returncode == 0, done.describe()
    assert "Traceback" not in done.stderr, done.describe()
    run = done.json()
    assert (run["status"], run["output"]) == ("succeeded", ["slow", "after"])
    # the slow branch was not cancelled half-way by the wait's suspension: it ran once
    assert Counter(w for w, _ in _effects(rk.cwd)) == Counter({"slow": 1, "after": 1})
    assert os.getpid() not in {p for _, p in _effects(rk.cwd)}
