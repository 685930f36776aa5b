"""Throughput on PostgreSQL: relaykit and DBOS side by side, 1 and 3 worker processes each.

    python3 benchmarks/throughput_postgres.py [--runs 2000] [--tasks-per-run 3] [--rounds 3]
                                              [--concurrency 20] [--dbos-polling-interval 0.1]
                                              [--sides relaykit,dbos] [--server URL]

Every measurement works on a fresh database, created on the server (``--server``, default
``$RELAYKIT_TEST_POSTGRES_URL``, else ``postgresql://postgres@127.0.0.1:5432/postgres``; the
user must be allowed to create databases) and dropped afterwards. Both sides do the same work:
the benchmark process stores ``--runs`` units of work, each ``--tasks-per-run`` no-op steps,
then starts 1 or 3 worker processes, each executing up to ``--concurrency`` of them at once,
and the work is timed until the last one ends.

- **relaykit**: ``--runs`` runs of a job of ``--tasks-per-run`` no-op async tasks, enqueued
  with ``engine.create_run``; the workers are ``relaykit worker APP --exit-when-idle --quiet
  --concurrency N``, and the benchmark waits for them to exit.
- **DBOS** (its system database is the fresh database): the benchmark process launches DBOS
  without listening to any queue (``DBOS.listen_queues([])``), registers a queue
  (``worker_concurrency`` = ``--concurrency``, no global limit, ``polling_interval_sec`` =
  ``--dbos-polling-interval``), enqueues ``--runs`` workflows of ``--tasks-per-run`` no-op
  synchronous steps on it (``DBOS.enqueue_workflow_with_options``, by workflow name) and shuts
  DBOS down. Then it starts the workers (``_dbos_queue_worker.py``: ``DBOS(config=...)`` with
  its own executor id, ``DBOS.launch()``, the same queue registered again), which dequeue and
  execute the workflows, polls ``dbos.workflow_status`` every 50 ms until all of them are
  ``SUCCESS``, then closes the workers' standard input so they shut DBOS down and exit.

  A DBOS queue worker finds work only by polling: every ``polling_interval_sec`` (±5% jitter)
  it claims up to ``worker_concurrency`` minus what it is running, so one process cannot start
  more than ``--concurrency`` workflows per interval. DBOS's default is 1 s, which would cap a
  process at 20 workflows/s with ``--concurrency 20``; 0.1 s (the default here) lifts that cap
  to 200 per process per second. relaykit's worker claims again as soon as a run ends.

The sides and worker counts alternate in every round (relaykit 1, DBOS 1, relaykit 3, DBOS 3,
then the reverse order in the next round), so machine noise falls on all alike.

Printed per side and worker count (medians over the rounds), then DBOS/relaykit:

- ``runs/s``: runs divided by the time from the first run's start to the last run's end, as
  the database recorded them (relaykit: ``runs.started_at``/``ended_at``; DBOS:
  ``workflow_status.started_at_epoch_ms``, set when a worker dequeues the workflow, and
  ``completed_at``): the steady-state rate, without process start-up;
- ``wall runs/s``: runs divided by the time from starting the workers to the last one's exit
  (start-up included; relaykit: its idle detection; DBOS: the benchmark's 50 ms polling and
  the workers' shutdown once told to stop).

Needs ``relaykit[postgres]`` and ``dbos``; not run by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from relaykit import Client

RELAYKIT = Path(sys.executable).parent / "relaykit"
DBOS_WORKER = Path(__file__).resolve().parent / "_dbos_queue_worker.py"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
WORKER_COUNTS = (1, 3)
SIDES = ("relaykit", "dbos")
TIMEOUT = 600.0

# The DBOS side's application, version, queue and workflow (``many`` in _dbos_queue_worker.py)
DBOS_APP = "throughput"
DBOS_VERSION = "throughput-bench"
DBOS_QUEUE = "throughput"
DBOS_WORKFLOW = "many"
DBOS_FAILED = ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")

APP = '''\
"""The throughput benchmark's app: one job of N no-op async tasks."""

from typing import Any

from relaykit import Client

client = Client(id="throughput")


async def noop() -> None:
    return None


@client.define_job(id="many", version="1.0.0")
async def many(payload: Any, io: Any, ctx: Any) -> int:
    for i in range(int(payload["tasks"])):
        await io.run_task(f"t{i}", noop)
    return int(payload["tasks"])
'''


def create_database(server: str, side: str) -> str:
    """A new empty database on ``server``; its URL."""
    name = f"{side}_bench_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return urlsplit(server)._replace(path=f"/{name}").geturl()


def drop_database(server: str, url: str) -> None:
    """Drop the database ``url`` names, disconnecting anyone still on it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


# -- relaykit ----------------------------------------------------------------------------------


async def enqueue_relaykit(url: str, runs: int, tasks: int) -> None:
    """Store ``runs`` queued runs (and migrate the fresh database on the way)."""
    client = Client("throughput", database_url=url)

    @client.define_job(id="many", version="1.0.0")
    async def many(payload: Any, io: Any, ctx: Any) -> None:  # executed by the workers only
        raise AssertionError("the benchmark process executes no run")

    engine = await client.engine()
    try:
        for _ in range(runs):
            await engine.create_run(many, {"tasks": tasks})
    finally:
        await engine.close()
        await client.close()


def measure_relaykit(app: Path, url: str, workers: int, args: argparse.Namespace) -> float:
    """Enqueue, run ``workers`` relaykit workers to idle; the wall seconds. Checks the runs."""
    asyncio.run(enqueue_relaykit(url, args.runs, args.tasks_per_run))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")}
    cmd = [str(RELAYKIT), "worker", str(app), "--database", url, "--exit-when-idle"]
    cmd += ["--quiet", "--concurrency", str(args.concurrency)]
    started = time.monotonic()
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(workers)
    ]
    try:
        errors = [p.communicate(timeout=TIMEOUT)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - started
    for p, err in zip(procs, errors, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"a relaykit worker failed ({p.returncode}):\n{err.decode()[-3000:]}")
    return wall


def steady_relaykit(url: str, runs: int) -> float:
    """Seconds from the first run's start to the last run's end; all must have succeeded."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*), "
            "min(started_at), max(ended_at) FROM runs"
        ).fetchone()
    assert row is not None
    succeeded, total, first, last = row
    if succeeded != total or total != runs:
        raise SystemExit(f"relaykit: only {succeeded} of {runs} runs succeeded")
    return float(last - first)


# -- DBOS --------------------------------------------------------------------------------------


def dbos_config(url: str, executor_id: str) -> Any:
    """The DBOS configuration both the enqueuer and the workers use (``executor_id`` aside)."""
    return {
        "name": DBOS_APP,
        "system_database_url": url,
        "application_version": DBOS_VERSION,
        "executor_id": executor_id,
        "log_level": "WARNING",
    }


def enqueue_dbos(url: str, args: argparse.Namespace) -> None:
    """Migrate the fresh system database, register the queue, enqueue ``--runs`` workflows.

    DBOS runs in this process only for this, listening to no queue, so it executes nothing."""
    from dbos import DBOS

    DBOS(config=dbos_config(url, "enqueuer"))
    try:
        DBOS.listen_queues([])
        DBOS.launch()
        DBOS.register_queue(
            DBOS_QUEUE,
            worker_concurrency=args.concurrency,
            polling_interval_sec=args.dbos_polling_interval,
        )
        for _ in range(args.runs):
            DBOS.enqueue_workflow_with_options(
                {"queue_name": DBOS_QUEUE, "workflow_name": DBOS_WORKFLOW},
                args.tasks_per_run,
            )
    finally:
        DBOS.destroy()


def dbos_counts(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    """(succeeded, failed, all) of the benchmark's workflows."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'SUCCESS'), "
        "count(*) FILTER (WHERE status = ANY(%s)), count(*) "
        "FROM dbos.workflow_status WHERE name = %s",
        (list(DBOS_FAILED), DBOS_WORKFLOW),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def measure_dbos(url: str, workers: int, args: argparse.Namespace, logs: Path) -> float:
    """Enqueue, run ``workers`` DBOS workers until every workflow succeeded; the wall seconds."""
    enqueue_dbos(url, args)
    with psycopg.connect(url, autocommit=True) as conn:
        counts = dbos_counts(conn)
        if counts != (0, 0, args.runs):
            raise SystemExit(f"DBOS: {args.runs} workflows enqueued, found {counts}")
        procs: list[subprocess.Popen[bytes]] = []
        files = []
        started = time.monotonic()
        try:
            for i in range(workers):
                cmd = [sys.executable, str(DBOS_WORKER), "--database-url", url]
                cmd += ["--app", DBOS_APP, "--version", DBOS_VERSION, "--queue", DBOS_QUEUE]
                cmd += ["--executor-id", f"worker-{i}", "--concurrency", str(args.concurrency)]
                cmd += ["--polling-interval", str(args.dbos_polling_interval)]
                log = (logs / f"dbos-worker-{i}.log").open("wb")
                files.append(log)
                procs.append(
                    subprocess.Popen(
                        cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log
                    )
                )
            while True:
                succeeded, failed, _ = dbos_counts(conn)
                if succeeded == args.runs:
                    break
                dead = [p.returncode for p in procs if p.poll() is not None]
                if failed or dead or time.monotonic() - started > TIMEOUT:
                    raise SystemExit(
                        f"DBOS: {succeeded} of {args.runs} workflows succeeded, {failed} "
                        f"failed, workers exited: {dead}\n{_tail(logs)}"
                    )
                time.sleep(0.05)
            for p in procs:  # stop: the workers shut DBOS down when their stdin closes
                assert p.stdin is not None
                p.stdin.close()
            for p in procs:
                p.wait(timeout=60)
            wall = time.monotonic() - started
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            for log in files:
                log.close()
    if any(p.returncode != 0 for p in procs):
        raise SystemExit(f"a DBOS worker failed: {[p.returncode for p in procs]}\n{_tail(logs)}")
    return wall


def _tail(logs: Path) -> str:
    return "\n".join(
        f"{f.name}:\n{f.read_text(errors='replace')[-2000:]}" for f in sorted(logs.glob("*.log"))
    )


def steady_dbos(url: str, runs: int) -> float:
    """Seconds from the first workflow's dequeue to the last one's completion."""
    with psycopg.connect(url, autocommit=True) as conn:
        succeeded, _, total = dbos_counts(conn)
        row = conn.execute(
            "SELECT min(started_at_epoch_ms), max(completed_at) FROM dbos.workflow_status "
            "WHERE name = %s",
            (DBOS_WORKFLOW,),
        ).fetchone()
    assert row is not None
    if succeeded != total or total != runs:
        raise SystemExit(f"DBOS: only {succeeded} of {runs} workflows succeeded")
    return (int(row[1]) - int(row[0])) / 1000


# -- the benchmark -----------------------------------------------------------------------------


def measure(
    side: str, app: Path, server: str, workers: int, args: argparse.Namespace, tmp: Path
) -> dict[str, float]:
    """One measurement on a fresh database: runs/s (steady and wall)."""
    url = create_database(server, side)
    try:
        if side == "relaykit":
            wall = measure_relaykit(app, url, workers, args)
            steady = steady_relaykit(url, args.runs)
        else:
            logs = Path(tempfile.mkdtemp(dir=tmp))
            wall = measure_dbos(url, workers, args, logs)
            steady = steady_dbos(url, args.runs)
        return {"runs/s": args.runs / steady, "wall runs/s": args.runs / wall}
    finally:
        drop_database(server, url)


def main() -> None:
    """Alternate the sides and worker counts over the rounds; print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--tasks-per-run", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--dbos-polling-interval",
        type=float,
        default=0.1,
        help="the DBOS queue's polling_interval_sec (DBOS's default is 1.0)",
    )
    parser.add_argument("--sides", default=",".join(SIDES), help="relaykit,dbos (the default)")
    parser.add_argument(
        "--server", default=os.environ.get("RELAYKIT_TEST_POSTGRES_URL") or DEFAULT_SERVER
    )
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    args = parser.parse_args()
    sides = [s for s in args.sides.split(",") if s]
    if not sides or any(s not in SIDES for s in sides):
        parser.error(f"--sides: a comma-separated subset of {','.join(SIDES)}")

    plan = [(side, workers) for workers in WORKER_COUNTS for side in sides]
    results: dict[tuple[str, int], list[dict[str, float]]] = {key: [] for key in plan}
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "throughput_app.py"
        app.write_text(APP, encoding="utf-8")
        for round_no in range(1, args.rounds + 1):
            for side, workers in plan if round_no % 2 else plan[::-1]:
                result = measure(side, app, args.server, workers, args, Path(tmp))
                results[(side, workers)].append(result)
                print(
                    f"round {round_no}: {side:8} {workers} worker(s): "
                    f"{result['runs/s']:,.0f} runs/s ({result['wall runs/s']:,.0f} wall)",
                    file=sys.stderr,
                )

    def med(side: str, workers: int, field: str) -> float:
        return float(statistics.median(r[field] for r in results[(side, workers)]))

    print(
        f"\n{args.runs} runs of {args.tasks_per_run} no-op tasks, --concurrency "
        f"{args.concurrency} per worker process, medians of {args.rounds} round(s), "
        f"{_server_version(args.server)} at {args.server}"
    )
    if "dbos" in sides:
        print(
            f"DBOS {version('dbos')}: one queue, worker_concurrency {args.concurrency}, "
            f"polling_interval_sec {args.dbos_polling_interval}"
        )
    print(f"\n{'side':9} {'workers':>8} {'runs/s':>10} {'wall runs/s':>12} {'tasks/s':>10}")
    for side, workers in sorted(plan, key=lambda k: (SIDES.index(k[0]), k[1])):
        steady, wall = med(side, workers, "runs/s"), med(side, workers, "wall runs/s")
        tasks = steady * args.tasks_per_run
        print(f"{side:9} {workers:>8} {steady:>10,.0f} {wall:>12,.0f} {tasks:>10,.0f}")
    if len(sides) == 2:
        print(
            "\nDBOS / relaykit (runs/s; above 1 means DBOS is faster), ratio of the medians "
            "and range of the per-round ratios"
        )
        print(
            f"{'workers':>8} {'runs/s':>8} {'per round':>12} {'wall runs/s':>12} {'per round':>12}"
        )
        for workers in WORKER_COUNTS:
            cells = []
            for field in ("runs/s", "wall runs/s"):
                ratio = med("dbos", workers, field) / med("relaykit", workers, field)
                paired = [
                    d[field] / r[field]
                    for r, d in zip(
                        results[("relaykit", workers)], results[("dbos", workers)], strict=True
                    )
                ]
                cells += [f"{ratio:.2f}x", f"{min(paired):.2f}-{max(paired):.2f}x"]
            print(f"{workers:>8} {cells[0]:>8} {cells[1]:>12} {cells[2]:>12} {cells[3]:>12}")
    if args.figures:
        figures = [
            {
                "figure": f"PostgreSQL, {args.runs} runs x {args.tasks_per_run} tasks, "
                f"{workers} worker(s)",
                "unit": "runs/s",
                "better": "higher",
                "relaykit": med("relaykit", workers, "runs/s") if "relaykit" in sides else None,
                "peer": med("dbos", workers, "runs/s") if "dbos" in sides else None,
                "target_ratio": 10.0,
            }
            for workers in WORKER_COUNTS
        ]
        Path(args.figures).write_text(json.dumps(figures), encoding="utf-8")


def _server_version(server: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0]}" if row else "PostgreSQL"


if __name__ == "__main__":
    main()
