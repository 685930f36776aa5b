"""The idle check of ``relaykit worker --exit-when-idle`` on a store with many finished runs.

    python3 benchmarks/idle_check.py [--runs 100000] [--jobs 1,2,5] [--loops 200]
                                     [--postgres URL] [--analyze] [--plans]

Each loop of an idle worker tries to claim runs (``claim_runs``, which finds none), then asks
the store two questions: ``has_unfinished_work`` (is any run of these jobs due or leased, any
event or schedule due?) and ``next_wakeup`` (when is the next one due?). Their cost must not
grow with the runs that have ended. The script migrates a fresh SQLite file (and, with
``--postgres``, a fresh database it creates on that server and drops after), inserts
``--runs`` succeeded runs spread over the worker's jobs (each count in ``--jobs``) with one
SQL statement (the store's own API would take minutes to make them; the rows are what
``end_attempt`` leaves), plus a few live runs: 3 waiting until tomorrow and 1 queued for the
day after, so the queries have something to find and nothing is due. It does not run
``ANALYZE`` (relaykit never does, so the planner has no statistics; ``--analyze`` to
compare), then calls each query ``--loops`` times through the store and prints the median
and p90 per call in ms, and their sum (one idle loop); ``--plans`` adds SQLite's plans.

Target (issue 11): ≤ 1 ms per loop with 100,000 runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from relaykit.store import Store, store_from_url

QUERIES = ("claim_runs", "has_unfinished_work", "next_wakeup")
RUN_COLUMNS = (
    "id, job_id, job_version, status, payload, output, created_at, started_at, ended_at, "
    "attempt, next_attempt_at, environment"
)


def run_rows(runs: int, jobs: int, now: float) -> list[tuple[Any, ...]]:
    """``runs`` ended runs, then the live ones (nothing due before tomorrow)."""
    rows: list[tuple[Any, ...]] = []
    for i in range(runs):
        t = now - runs + i
        job = f"job-{i % jobs}"
        rows.append((f"run_{i:08d}", job, "1.0.0", "succeeded", "{}", "1", t, t, t + 0.1, 1, None))
    day = 86_400.0
    live = [("waiting", now + day), ("waiting", now + day), ("waiting", now + day + 5)]
    live.append(("queued", now + 2 * day))
    for i, (status, due) in enumerate(live):
        rows.append((f"live_{i}", "job-0", "1.0.0", status, "{}", None, now, now, None, 1, due))
    return [(*row, "production") for row in rows]


async def measure(store: Store, jobs: list[str], loops: int) -> dict[str, dict[str, float]]:
    """Median and p90 per call of both idle-check queries, in ms."""
    now = time.time()
    assert not await store.has_unfinished_work(job_ids=jobs, now=now)
    wake = await store.next_wakeup(job_ids=jobs)
    assert wake is not None and wake > now + 80_000, wake

    async def timed(call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
        times = []
        for _ in range(loops):
            start = time.perf_counter()
            await call()
            times.append((time.perf_counter() - start) * 1000)
        q = statistics.quantiles(times, n=10)
        return {"median": statistics.median(times), "p90": q[8]}

    return {
        "has_unfinished_work": await timed(
            lambda: store.has_unfinished_work(job_ids=jobs, now=now)
        ),
        "next_wakeup": await timed(lambda: store.next_wakeup(job_ids=jobs)),
        "claim_runs": await timed(
            lambda: store.claim_runs(
                owner="bench", now=now, lease_until=now + 30, limit=10, job_ids=jobs
            )
        ),
    }


async def on_sqlite(args: argparse.Namespace, jobs: list[str]) -> dict[str, Any]:
    """Seed and measure a fresh SQLite file; also its query plans."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "relaykit.db")
        store = store_from_url(f"sqlite:///{path}")
        await store.open()  # migrates
        await store.close()
        db = sqlite3.connect(path)
        marks = ", ".join("?" * (RUN_COLUMNS.count(",") + 1))
        with db:
            db.executemany(
                f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({marks})",  # noqa: S608 -- constants
                run_rows(args.runs, len(jobs), time.time()),
            )
        if args.analyze:
            db.execute("ANALYZE")
        plans = {n: await _plan(db, n, jobs) for n in ("has_unfinished_work", "next_wakeup")}
        db.close()
        store = store_from_url(f"sqlite:///{path}")
        await store.open()
        try:
            return {"timings": await measure(store, jobs, args.loops), "plans": plans}
        finally:
            await store.close()


async def _plan(db: sqlite3.Connection, name: str, jobs: list[str]) -> list[str]:
    """EXPLAIN QUERY PLAN of the statement the store sends for ``name`` (captured by running
    the store's method against a recorder in place of its connection)."""
    from relaykit.store._sqlite_io import SqliteDatabase
    from relaykit.store.sqlite import SqliteStore

    captured: list[tuple[str, tuple[Any, ...]]] = []

    class Recorder:
        def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Recorder:
            captured.append((sql, params))
            return self

        def fetchone(self) -> None:
            return None

    class RecordingIO:
        async def read(self, fn: Callable[[Any], Any]) -> Any:
            return fn(Recorder())

    store = SqliteStore.from_url("sqlite:///:memory:")
    # only to capture the SQL text: the store's queries run through its database adapter
    store._db = SqliteDatabase(RecordingIO())  # type: ignore[arg-type]
    if name == "has_unfinished_work":
        await store.has_unfinished_work(job_ids=jobs, now=time.time())
    else:
        await store.next_wakeup(job_ids=jobs)
    sql, params = captured[0]
    return [str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


async def on_postgres(args: argparse.Namespace, jobs: list[str]) -> dict[str, Any]:
    """Seed and measure a fresh database created on ``--postgres``'s server (dropped after)."""
    import psycopg

    name = f"relaykit_idle_{uuid.uuid4().hex[:8]}"
    admin = await psycopg.AsyncConnection.connect(args.postgres, autocommit=True)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    try:
        store = store_from_url(url)
        await store.open()
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                marks = ", ".join(["%s"] * (RUN_COLUMNS.count(",") + 1))
                rows = run_rows(args.runs, len(jobs), time.time())
                async with conn.cursor() as cur:
                    await cur.executemany(
                        f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({marks})",  # noqa: S608
                        rows,  # JSON columns take the text as is
                    )
                if args.analyze:
                    await conn.execute("ANALYZE runs")
            return {"timings": await measure(store, jobs, args.loops)}
        finally:
            await store.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    """Seed, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--jobs", default="1,2,5", help="comma-separated job counts")
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="run ANALYZE after seeding (relaykit never does, so a real store has no statistics)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also on this server, e.g. postgresql://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--plans", action="store_true", help="print SQLite's query plans")
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    args = parser.parse_args()
    print(f"idle check, {args.runs} ended runs, median (p90) of {args.loops} calls, ms")
    print("| store | jobs | claim_runs | has_unfinished_work | next_wakeup | loop |")
    print("|---|---:|---:|---:|---:|---:|")
    figures = []
    for count in [int(n) for n in args.jobs.split(",")]:
        jobs = [f"job-{i}" for i in range(count)]
        results = {"sqlite": asyncio.run(on_sqlite(args, jobs))}
        if args.postgres:
            results["postgres"] = asyncio.run(on_postgres(args, jobs))
        for backend, data in results.items():
            t = data["timings"]
            cells = [f"{t[q]['median']:.3f} ({t[q]['p90']:.3f})" for q in QUERIES]
            loop = sum(t[q]["median"] for q in QUERIES)
            print(f"| {backend} | {count} | {' | '.join(cells)} | {loop:.3f} |")
            figures.append(
                {
                    "figure": f"idle check, {args.runs} runs, {count} job(s), {backend}",
                    "unit": "ms",
                    "better": "lower",
                    "relaykit": loop,
                    "target": 1.0,
                }
            )
        if args.plans:
            for query, plan in results["sqlite"]["plans"].items():
                print(f"SQLite plan, {count} jobs, {query}: " + "; ".join(plan))
    if args.figures:
        Path(args.figures).write_text(json.dumps(figures), encoding="utf-8")


if __name__ == "__main__":
    main()
