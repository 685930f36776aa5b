"""``relaykit check-replay`` speed: stored runs replayed dry per second, SQLite and PostgreSQL.

    python3 benchmarks/check_replay.py [--runs 2000] [--tasks 5] [--rounds 3]
                                       [--postgres URL] [--figures FILE]

Stores ``--runs`` runs of a job of ``--tasks`` no-op tasks followed by a one-hour wait (a
worker in this process executes them until they all wait), then times ``check_replay`` (the
engine call behind the command) over all of them: each run's recorded tasks are loaded from
the store and replayed through the run function, nothing executed or written. Prints the
median over the rounds of runs/s and µs per recorded task, on a fresh SQLite file (WAL,
synchronous=FULL, relaykit's default) and, with ``--postgres``, on a fresh database of that
server. DBOS has no equivalent (its workflow recovery executes), so there is no peer side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from relaykit import Client
from relaykit.engine.replay_check import check_replay
from relaykit.engine.worker import Worker


async def noop() -> None:
    """A task that does nothing."""


def make_client(url: str, tasks: int) -> Client:
    """The app: ``tasks`` no-op tasks, then a wait of an hour."""
    client = Client("bench-replay", database_url=url)

    @client.define_job(id="steps", version="1.0.0")
    async def steps(payload: Any, io: Any, ctx: Any) -> None:
        for i in range(tasks):
            await io.run_task(f"step-{i}", noop)
        await io.wait("later", seconds=3600)

    return client


async def measure(url: str, runs: int, tasks: int, rounds: int) -> list[float]:
    """Seed, then time ``rounds`` checks over every run; seconds per check."""
    client = make_client(url, tasks)
    try:
        engine = await client.engine()
        for _ in range(runs):
            await client.enqueue("steps")
        await Worker(client, concurrency=50, exit_when_idle=True).run()
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            verdicts = await check_replay(engine, limit=runs)
            times.append(time.perf_counter() - started)
            if len(verdicts) != runs or not all(v.ok for v in verdicts):
                raise SystemExit(f"expected {runs} compatible runs, got {len(verdicts)}")
        return times
    finally:
        await client.close()


def fresh_postgres(server: str) -> tuple[str, str]:
    """A new database on ``server``: (its URL, its name)."""
    name = f"relaykit_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}", name


def drop_postgres(server: str, name: str) -> None:
    """Drop the benchmark's database."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    """Measure on each store and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="also on this server")
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp, 'relaykit.db')}"
        results["sqlite"] = asyncio.run(measure(url, args.runs, args.tasks, args.rounds))
    if args.postgres:
        url, name = fresh_postgres(args.postgres)
        try:
            results["postgres"] = asyncio.run(measure(url, args.runs, args.tasks, args.rounds))
        finally:
            drop_postgres(args.postgres, name)
    per_run = args.tasks + 1
    print(f"check-replay over {args.runs} waiting runs of {per_run} recorded tasks each")
    print("| store | runs/s (median) | µs per recorded task | rounds (s) |")
    print("|---|---:|---:|---|")
    figures = []
    for store, times in results.items():
        best = statistics.median(times)
        rate = args.runs / best
        per_task = best / (args.runs * per_run) * 1e6
        shown = ", ".join(f"{t:.3f}" for t in times)
        print(f"| {store} | {rate:,.0f} | {per_task:.1f} | {shown} |")
        figures.append(
            {
                "figure": f"check-replay, {store}, runs of {per_run} recorded tasks",
                "unit": "runs/s",
                "better": "higher",
                "relaykit": rate,
                "target": 1000.0,
            }
        )
    if args.figures:
        Path(args.figures).write_text(json.dumps(figures), encoding="utf-8")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
