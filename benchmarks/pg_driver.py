"""Which PostgreSQL driver for PostgresStore: psycopg 3 (async, with its pool) or asyncpg.

Both drivers execute relaykit's hot statement — the fenced task upsert that ``record_task``
sends once per completed task — against the same throwaway database, alternating in one
invocation. The psycopg side is relaykit's real ``PostgresStore.record_task`` (pool checkout,
statement, autocommit); the asyncpg side sends the same SQL, with ``$n`` placeholders, through
an ``asyncpg`` pool (prepared and cached by asyncpg, as its users get by default). A bare
``SELECT 1`` round trip on each driver is the floor.

    python3 benchmarks/pg_driver.py [--rounds 5] [--tasks 2000]

Needs the local PostgreSQL (postgresql://postgres@127.0.0.1:5432, trust auth) and asyncpg
(in the dev extra).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
import psycopg

from relaykit.records import RunRecord, RunStatus, TaskRecord, TaskStatus
from relaykit.store._postgres_io import QUERIES
from relaykit.store._rows import task_params
from relaykit.store.postgres import PostgresStore

SERVER = os.environ.get("RELAYKIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
OWNER = "bench-owner"


def _dollar(query: str) -> str:
    """psycopg's ``%s`` placeholders as asyncpg's ``$1, $2, ...``."""
    count = iter(range(1, 1000))
    return re.sub(r"%s", lambda _: f"${next(count)}", query)


def _task(key: str, now: float) -> TaskRecord:
    return TaskRecord(
        key=key,
        name="step",
        kind="task",
        status=TaskStatus.COMPLETED,
        started_at=now,
        output='{"ok":true}',
        attempts=1,
        ended_at=now,
    )


async def _timed(n: int, step: Callable[[int], Awaitable[object]]) -> float:
    """Microseconds per call of ``step(i)`` over ``n`` calls."""
    start = time.perf_counter()
    for i in range(n):
        await step(i)
    return (time.perf_counter() - start) / n * 1e6


async def _round(url: str, tasks: int, r: int, order: list[str]) -> dict[str, float]:
    store = PostgresStore.from_url(url)
    await store.open()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    assert pool is not None
    now = time.time()
    upsert = _dollar(QUERIES["upsert_task"])
    results: dict[str, float] = {}
    try:
        for side in order:
            run_id = f"run-{side}-{r}"
            await store.create_run(
                RunRecord(
                    id=run_id,
                    job_id="bench",
                    job_version="1.0.0",
                    status=RunStatus.RUNNING,
                    payload="null",
                    created_at=now,
                    started_at=now,
                    attempt=1,
                    lease_owner=OWNER,
                    epoch=1,
                    lease_expires_at=now + 3600,
                )
            )

            async def via_psycopg(i: int, run_id: str = run_id) -> None:
                await store.record_task(run_id=run_id, epoch=1, task=_task(f"t{i}", now))

            async def via_asyncpg(i: int, run_id: str = run_id) -> None:
                params = (run_id, 1, *task_params(run_id, _task(f"t{i}", now)))
                status = await pool.execute(upsert, *params)
                assert status == "INSERT 0 1", status

            async def ping_psycopg(i: int) -> None:
                async with (await store._get_pool()).connection() as conn:
                    await conn.execute("SELECT 1")

            async def ping_asyncpg(i: int) -> None:
                await pool.execute("SELECT 1")

            step = {
                "psycopg": via_psycopg,
                "asyncpg": via_asyncpg,
                "psycopg-ping": ping_psycopg,
                "asyncpg-ping": ping_asyncpg,
            }[side]
            await _timed(50, step)  # warm the pools and the prepared statements
            results[side] = await _timed(tasks, step)
    finally:
        await pool.close()
        await store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    name = f"bench_driver_{os.getpid()}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    sides = ["psycopg", "asyncpg", "psycopg-ping", "asyncpg-ping"]
    samples: dict[str, list[float]] = {s: [] for s in sides}
    try:
        for r in range(args.rounds):
            order = sides if r % 2 == 0 else sides[::-1]  # alternate who goes first
            for side, us in asyncio.run(_round(f"{SERVER}/{name}", args.tasks, r, order)).items():
                samples[side].append(us)
                print(f"round {r + 1}: {side:13} {us:8.1f} µs/call")
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
    med = {s: statistics.median(v) for s, v in samples.items()}
    print(
        f"\nmedian of {args.rounds} rounds, {args.tasks} calls each (psycopg {psycopg.__version__},"
        f" asyncpg {asyncpg.__version__})"
    )
    print(
        f"  task upsert: psycopg {med['psycopg']:.1f} µs, asyncpg {med['asyncpg']:.1f} µs "
        f"(psycopg/asyncpg {med['psycopg'] / med['asyncpg']:.2f}x)"
    )
    print(
        f"  SELECT 1:    psycopg {med['psycopg-ping']:.1f} µs, asyncpg {med['asyncpg-ping']:.1f} µs"
    )
    print(
        f"  driver overhead above the round trip: psycopg "
        f"{med['psycopg'] - med['psycopg-ping']:.1f} µs, asyncpg "
        f"{med['asyncpg'] - med['asyncpg-ping']:.1f} µs"
    )


if __name__ == "__main__":
    main()
