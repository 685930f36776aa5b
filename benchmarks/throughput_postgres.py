"""Throughput on PostgreSQL: runs/s through 1 and 3 ``relaykit worker`` processes.

    python3 benchmarks/throughput_postgres.py [--runs 2000] [--tasks-per-run 3] [--rounds 3]
                                              [--concurrency 20] [--server URL]

Every measurement works on a fresh database, created on the server (``--server``, default
``$RELAYKIT_TEST_POSTGRES_URL``, else ``postgresql://postgres@127.0.0.1:5432/postgres``; the
user must be allowed to create databases) and dropped afterwards. The benchmark enqueues
``--runs`` runs of a job of ``--tasks-per-run`` no-op async tasks, then starts the worker
processes (``relaykit worker APP --exit-when-idle --quiet --concurrency N``) and waits for them
to exit. The two worker counts alternate in every round, so machine noise falls on both alike.

Printed per worker count (medians over the rounds):

- ``runs/s``: runs divided by the time from the first run's start to the last run's end, as
  the database recorded them: the steady-state rate, without process start-up;
- ``wall runs/s``: runs divided by the time from starting the workers to the last one's exit
  (start-up, migrations check and idle detection included).

Needs ``relaykit[postgres]``; not run by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from relaykit import Client

RELAYKIT = Path(sys.executable).parent / "relaykit"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
WORKER_COUNTS = (1, 3)

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


def create_database(server: str) -> str:
    """A new empty database on ``server``; its URL."""
    name = f"relaykit_bench_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return urlsplit(server)._replace(path=f"/{name}").geturl()


def drop_database(server: str, url: str) -> None:
    """Drop the database ``url`` names, disconnecting anyone still on it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


async def enqueue(url: str, runs: int, tasks: int) -> None:
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


def measure(app: Path, server: str, workers: int, args: argparse.Namespace) -> dict[str, float]:
    """One measurement on a fresh database: runs/s (steady and wall)."""
    url = create_database(server)
    try:
        asyncio.run(enqueue(url, args.runs, args.tasks_per_run))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYKIT_")}
        cmd = [str(RELAYKIT), "worker", str(app), "--database", url, "--exit-when-idle"]
        cmd += ["--quiet", "--concurrency", str(args.concurrency)]
        started = time.monotonic()
        procs = [
            subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(workers)
        ]
        try:
            errors = [p.communicate(timeout=600)[1] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        wall = time.monotonic() - started
        for p, err in zip(procs, errors, strict=True):
            if p.returncode != 0:
                raise SystemExit(f"a worker failed ({p.returncode}):\n{err.decode()[-3000:]}")
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*), "
                "min(started_at), max(ended_at) FROM runs"
            ).fetchone()
        assert row is not None
        succeeded, total, first, last = row
        if succeeded != total or total != args.runs:
            raise SystemExit(f"only {succeeded} of {args.runs} runs succeeded")
        return {"runs/s": args.runs / (last - first), "wall runs/s": args.runs / wall}
    finally:
        drop_database(server, url)


def main() -> None:
    """Alternate 1 and 3 workers over the rounds; print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--tasks-per-run", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--server", default=os.environ.get("RELAYKIT_TEST_POSTGRES_URL") or DEFAULT_SERVER
    )
    args = parser.parse_args()

    results: dict[int, list[dict[str, float]]] = {n: [] for n in WORKER_COUNTS}
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "throughput_app.py"
        app.write_text(APP, encoding="utf-8")
        for round_no in range(1, args.rounds + 1):
            for workers in WORKER_COUNTS:
                result = measure(app, args.server, workers, args)
                results[workers].append(result)
                print(
                    f"round {round_no}: {workers} worker(s): {result['runs/s']:,.0f} runs/s "
                    f"({result['wall runs/s']:,.0f} wall)",
                    file=sys.stderr,
                )

    print(
        f"\n{args.runs} runs of {args.tasks_per_run} no-op tasks, --concurrency "
        f"{args.concurrency}, medians of {args.rounds} round(s), PostgreSQL {args.server}"
    )
    print(f"{'workers':>8} {'runs/s':>10} {'wall runs/s':>12} {'tasks/s':>10}")
    for workers, rows in results.items():
        steady = statistics.median(r["runs/s"] for r in rows)
        wall = statistics.median(r["wall runs/s"] for r in rows)
        tasks = steady * args.tasks_per_run
        print(f"{workers:>8} {steady:>10,.0f} {wall:>12,.0f} {tasks:>10,.0f}")


if __name__ == "__main__":
    main()
