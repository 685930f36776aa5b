"""Scale-out on PostgreSQL: several ``relaykit worker`` processes share one database.

Every attempt of the job's single task appends ``<run_id> <pid> start <monotonic_ns>`` and
``<run_id> <pid> end <monotonic_ns>`` to one log file (``O_APPEND``, one ``write`` per line;
the monotonic clock is system-wide, so times from different processes compare). From that
log the tests check what the database alone cannot show: that no run was ever executed by two
workers at once, and how many times each run's task actually ran.

1. 2,000 runs through 3 workers: every run succeeds, each exactly once, no overlaps.
2. 300 runs through 3 workers, one of them killed with SIGKILL part-way: once its leases
   expire the other two finish its runs (the ones it had in flight start again in another
   process) and every run succeeds, still without overlapping attempts.

3. What a PostgreSQL restart does to the workers, without restarting the server (it is the
   machine's shared one): every connection to the test database is terminated while runs are
   in flight; the workers must reconnect and every run still succeed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from tests.pg import database_name, execute, server_url

import relaykit
import relaykit.definitions.flow
from relaykit import Client

RELAYKIT = Path(sys.executable).parent / "relaykit"
Popen = subprocess.Popen[bytes]
LEASE_SECONDS = 2
WORKERS = 3
WORKER_OPTIONS = ("--exit-when-idle", "--quiet")

APP = '''\
"""The scale-out test app: one job, one task that logs its start and end."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import relaykit
import relaykit.definitions.flow
from relaykit import Client, Context

client = Client(id="multiworker")
LOG = str(Path(__file__).resolve().parent / "attempts.log")


def note(run_id: str, what: str) -> None:
    line = f"{run_id} {os.getpid()} {what} {time.monotonic_ns()}\\n".encode()
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one write per line: O_APPEND keeps lines whole
    finally:
        os.close(fd)


async def work(run_id: str, sleep_ms: int) -> int:
    note(run_id, "start")
    await asyncio.sleep(sleep_ms / 1000)
    note(run_id, "end")
    return os.getpid()


@client.define_job(id="work", version="1.0.0")
async def job(payload: Any, io: relaykit.IO, ctx: Context) -> int:
    return int(await io.run_task("work", work, ctx.run.id, int(payload["sleep_ms"])))


@client.define_job(id="limited", version="1.0.0", concurrency_limit=LIMITS)
async def limited(payload: Any, io: relaykit.IO, ctx: Context) -> int:
    return int(await io.run_task("work", work, ctx.run.id, int(payload["sleep_ms"])))
'''
# The flow limits of the "limited" job: the app and the enqueuing test define them alike.
LIMITS_SOURCE = 'relaykit.definitions.flow.Concurrency(key="user", limit=1), 3'
APP = APP.replace("LIMITS", f"[{LIMITS_SOURCE}]")


@dataclass(frozen=True)
class Line:
    run_id: str
    pid: int
    what: str
    ns: int


@dataclass(frozen=True)
class Interval:
    """One execution of a run's task: ``end`` is None when it never logged its end."""

    pid: int
    start: int
    end: int | None


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")}
    return {**env, **extra}


def read_log(path: Path) -> list[Line]:
    if not path.exists():
        return []
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        run_id, pid, what, ns = text.split(" ")
        assert what in ("start", "end"), text
        lines.append(Line(run_id, int(pid), what, int(ns)))
    return lines


def intervals(lines: list[Line]) -> dict[str, list[Interval]]:
    """Each run's task executions, in start order: a start is paired with the next end
    logged by the same process for the same run."""
    open_starts: dict[tuple[str, int], list[int]] = defaultdict(list)
    done: dict[str, list[Interval]] = defaultdict(list)
    for line in lines:
        key = (line.run_id, line.pid)
        if line.what == "start":
            open_starts[key].append(line.ns)
        else:
            assert open_starts[key], f"an end without a start: {line}"
            done[line.run_id].append(Interval(line.pid, open_starts[key].pop(0), line.ns))
    for (run_id, pid), starts in open_starts.items():
        done[run_id].extend(Interval(pid, s, None) for s in starts)
    return {run_id: sorted(ivs, key=lambda i: i.start) for run_id, ivs in done.items()}


def assert_no_overlap(
    runs: dict[str, list[Interval]], *, killed: int | None, killed_at: int
) -> None:
    """No run's task executions intersect in time. An execution the killed worker never
    finished lasted at most until the moment it was known dead."""
    for run_id, ivs in runs.items():
        for iv in ivs:
            if iv.end is None:
                assert iv.pid == killed, f"run {run_id}: pid {iv.pid} never ended its task"
        # Sorted by start, the executions are disjoint when each ends before the next starts.
        for earlier, later in pairwise(ivs):
            end = earlier.end if earlier.end is not None else killed_at
            assert end <= later.start, (
                f"run {run_id}: pid {later.pid} started at {later.start} while pid "
                f"{earlier.pid} was still executing it (until {end})"
            )


async def _enqueue(url: str, count: int, sleep_ms: int, job_id: str, users: int) -> list[str]:
    client = Client("multiworker", database_url=url)

    async def never(payload: object, io: object, ctx: object) -> None:
        raise AssertionError("the test process executes no run")

    client.define_job(id="work", version="1.0.0", run=never)
    limits: list[relaykit.definitions.flow.ConcurrencyOption] = [
        relaykit.Concurrency(key="user", limit=1),
        3,
    ]
    client.define_job(id="limited", version="1.0.0", run=never, concurrency_limit=limits)
    engine = await client.engine()
    job = client.get_job(job_id)
    try:
        return [
            (await engine.create_run(job, {"sleep_ms": sleep_ms, "user": i % users})).id
            for i in range(count)
        ]
    finally:
        await engine.close()
        await client.close()


def enqueue(
    url: str, count: int, *, sleep_ms: int, job_id: str = "work", users: int = 1
) -> list[str]:
    return asyncio.run(_enqueue(url, count, sleep_ms, job_id, users))


def peak_overlap(spans: list[Interval]) -> int:
    """The most executions in progress at one moment."""
    edges = sorted(
        [(iv.start, 1) for iv in spans] + [(iv.end or iv.start, -1) for iv in spans],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


@contextmanager
def workers(
    tmp_path: Path,
    url: str,
    count: int,
    *,
    lease_seconds: int = LEASE_SECONDS,
    concurrency: int = 20,
) -> Iterator[list[Popen]]:
    """``count`` worker processes (each with its own output file); killed if still alive
    when the block ends."""
    app = tmp_path / "multiworker_app.py"
    app.write_text(APP, encoding="utf-8")
    procs: list[Popen] = []
    with ExitStack() as stack:
        for i in range(count):
            out = stack.enter_context((tmp_path / f"worker-{i}.out").open("wb"))
            procs.append(
                subprocess.Popen(
                    [
                        *(str(RELAYKIT), "worker", str(app), "--database", url),
                        *(*WORKER_OPTIONS, "--concurrency", str(concurrency)),
                    ],
                    cwd=tmp_path,
                    env=cli_env(RELAYKIT_LEASE_SECONDS=str(lease_seconds)),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        try:
            yield procs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:  # pragma: no cover -- a kill -9 that hangs
                    pass


def wait_all(procs: list[Popen], tmp_path: Path, timeout: float) -> None:
    """Wait for every worker to exit by itself; fail naming the ones that did not, or that
    exited with an error (with their output)."""
    deadline = time.monotonic() + timeout
    for i, proc in enumerate(procs):
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {i} (pid {proc.pid}) was still running after {timeout}s")
        if proc.returncode not in (0, -signal.SIGKILL):
            output = (tmp_path / f"worker-{i}.out").read_text(errors="replace")
            pytest.fail(f"worker {i} exited with code {proc.returncode}:\n{output}")


def statuses(url: str) -> dict[str, int]:
    rows = execute(url, "SELECT status, count(*) FROM runs GROUP BY status")
    return {str(status): int(n) for status, n in rows}


def attempts_by_pid(runs: dict[str, list[Interval]]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for ivs in runs.values():
        for iv in ivs:
            counts[iv.pid] += 1
    return dict(counts)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_three_workers_execute_2000_runs_once_each(tmp_path: Path, postgres_url: str) -> None:
    ids = enqueue(postgres_url, 2000, sleep_ms=3)
    with workers(tmp_path, postgres_url, WORKERS) as procs:
        wait_all(procs, tmp_path, timeout=120)
        pids = {p.pid for p in procs}
    assert statuses(postgres_url) == {"succeeded": 2000}

    runs = intervals(read_log(tmp_path / "attempts.log"))
    assert set(runs) == set(ids)
    assert_no_overlap(runs, killed=None, killed_at=0)
    twice = {run_id: ivs for run_id, ivs in runs.items() if len(ivs) != 1}
    assert not twice, (
        f"{len(twice)} run(s) executed more than once, e.g. {next(iter(twice.items()))}"
    )
    # The runs were spread over the processes, and only workers executed them.
    by_pid = attempts_by_pid(runs)
    assert set(by_pid) <= pids
    assert len(by_pid) >= 2, by_pid
    # One attempt per run in the database too: no lease was lost and taken over.
    assert execute(postgres_url, "SELECT max(attempt) FROM runs") == [(1,)]


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_killed_worker_s_runs_are_finished_by_the_others(
    tmp_path: Path, postgres_url: str
) -> None:
    ids = enqueue(postgres_url, 300, sleep_ms=40)
    log = tmp_path / "attempts.log"
    with workers(tmp_path, postgres_url, WORKERS) as procs:
        victim = procs[0]

        def victim_has_work_in_flight() -> bool:
            mine = [ln for ln in read_log(log) if ln.pid == victim.pid]
            starts = sum(ln.what == "start" for ln in mine)
            return starts >= 30 and starts > sum(ln.what == "end" for ln in mine)

        deadline = time.monotonic() + 60
        while not victim_has_work_in_flight():
            if victim.poll() is not None:
                pytest.fail(f"the victim worker exited (code {victim.returncode}) before the kill")
            if time.monotonic() > deadline:
                pytest.fail("timed out waiting for the victim worker to start executing runs")
            time.sleep(0.01)
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=10) == -signal.SIGKILL
        killed_at = time.monotonic_ns()  # the victim executes nothing after this
        wait_all(procs[1:], tmp_path, timeout=90)
    assert statuses(postgres_url) == {"succeeded": 300}

    runs = intervals(read_log(log))
    assert set(runs) == set(ids)
    assert_no_overlap(runs, killed=victim.pid, killed_at=killed_at)
    retaken, kept = [], []
    for run_id, ivs in runs.items():
        survivors = [iv for iv in ivs if iv.pid != victim.pid]
        by_victim = [iv for iv in ivs if iv.pid == victim.pid]
        # Only a run the victim was executing when it died may have run twice: once there,
        # cut short or unrecorded, then exactly once in a surviving worker.
        assert len(by_victim) <= 1, (run_id, ivs)
        if by_victim and survivors:
            retaken.append(run_id)
            assert len(survivors) == 1, (run_id, ivs)
            assert survivors[0].start > killed_at, (run_id, ivs)
        else:
            assert len(ivs) == 1, (run_id, ivs)
            assert ivs[0].end is not None, (run_id, ivs)
            if by_victim:
                kept.append(run_id)
    assert retaken, "the victim had runs in flight, but no run was executed again"
    # What the victim finished and recorded before it died was not executed again.
    assert kept, "the victim was killed before it finished any run"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_workers_survive_their_database_connections_being_dropped(
    tmp_path: Path, postgres_url: str
) -> None:
    # Leases of 6 s are renewed every 2 s: after the tasks' 1 s sleep, so the first statements
    # that meet the dropped connections record task results.
    ids = enqueue(postgres_url, 60, sleep_ms=1000)
    log = tmp_path / "attempts.log"
    with workers(tmp_path, postgres_url, WORKERS, lease_seconds=6, concurrency=10) as procs:

        def every_worker_is_busy() -> bool:
            busy: dict[int, int] = defaultdict(int)
            for ln in read_log(log):
                busy[ln.pid] += 1 if ln.what == "start" else -1
            return all(busy[p.pid] >= 5 for p in procs)

        deadline = time.monotonic() + 30
        while not every_worker_is_busy():
            if any(p.poll() is not None for p in procs):
                pytest.fail("a worker exited before the connections were dropped")
            if time.monotonic() > deadline:
                pytest.fail("timed out waiting for every worker to have runs in flight")
            time.sleep(0.01)
        # What a server restart does to its clients, confined to the test database.
        terminated = execute(
            server_url(),
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database_name(postgres_url),),
        )
        assert terminated[0][0] >= WORKERS, terminated
        wait_all(procs, tmp_path, timeout=60)
        assert all(p.returncode == 0 for p in procs), [p.returncode for p in procs]
    assert statuses(postgres_url) == {"succeeded": len(ids)}
    runs = intervals(read_log(log))
    assert set(runs) == set(ids)
    assert_no_overlap(runs, killed=None, killed_at=0)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_concurrency_limits_hold_across_three_worker_processes(
    tmp_path: Path, postgres_url: str
) -> None:
    users = 6
    # 120 runs of 100 ms, 3 at a time: about 4 s of work, long enough for every worker
    # process to start (on a loaded machine one can take a second) and take part
    ids = enqueue(postgres_url, 120, sleep_ms=100, job_id="limited", users=users)
    user_of = {run_id: i % users for i, run_id in enumerate(ids)}
    # One run at a time per process: reaching the limit of 3 then takes all three processes,
    # so the limit is enforced between processes, not inside one (a worker that frees a slot
    # would otherwise take it again at once, before the others' next poll).
    with workers(tmp_path, postgres_url, WORKERS, concurrency=1) as procs:
        wait_all(procs, tmp_path, timeout=120)
    assert statuses(postgres_url) == {"succeeded": 120}

    runs = intervals(read_log(tmp_path / "attempts.log"))
    spans = [iv for ivs in runs.values() for iv in ivs]
    assert len(spans) == 120
    # at most 3 at once overall, across processes (reached: the limit, not a trickle) ...
    assert peak_overlap(spans) == 3
    # ... and never two runs of one user at once
    for user in range(users):
        mine = [iv for run_id, ivs in runs.items() if user_of[run_id] == user for iv in ivs]
        assert peak_overlap(mine) == 1, f"user {user}: two runs at once"
    assert len(attempts_by_pid(runs)) == WORKERS  # every process took part
