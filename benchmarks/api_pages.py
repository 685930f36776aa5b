"""List pages over many runs: the first page, a status filter, and a deep page.

    python3 benchmarks/api_pages.py [--runs 100000] [--loops 50] [--postgres URL]

Seeds a fresh SQLite file (and, with ``--postgres``, a fresh database it creates on that
server and drops after) with ``--runs`` runs — 1 in 100 waiting, the rest succeeded or
failed — inserted with one SQL statement, with no ``ANALYZE`` (relaykit never runs it). Then
it times what ``GET /api/v1/runs`` and ``relaykit runs list`` call,
``Operations.list_runs`` (limit 20), ``--loops`` times each: the first page, ``status=waiting``
and a page 99 % deep by its cursor; and, for comparison, the same deep page by ``OFFSET``
(how the API paged before cursors). Prints the median and p90 per request in ms.

Target (issue 11): ≤ 20 ms per request at 100,000 runs on both stores.
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

from relaykit._base.clock import SystemClock
from relaykit.engine.operations import Operations, encode_cursor
from relaykit.store import Store, store_from_url

COLUMNS = "id, job_id, job_version, status, payload, output, created_at, attempt, environment"
LIMIT = 20


def rows(runs: int, now: float) -> list[tuple[Any, ...]]:
    """``runs`` runs, one a second up to ``now``, over three jobs."""
    out = []
    for i in range(runs):
        status = "waiting" if i % 100 == 7 else ("failed" if i % 10 == 3 else "succeeded")
        out.append((f"run_{i:08d}", f"job-{i % 3}", "1.0.0", status, "{}", None, now - runs + i))
    return [(*r, 1, "production") for r in out]


async def measure(store: Store, runs: int, now: float, loops: int) -> dict[str, dict[str, float]]:
    """Median and p90 per request, in ms."""
    ops = Operations(store, clock=SystemClock())
    deep = int(runs * 0.01)  # the run at 99 % of the newest-first list
    cursor = encode_cursor("runs", now - runs + deep, f"run_{deep:08d}")
    page = await ops.list_runs(cursor=cursor, limit=LIMIT)
    assert len(page.data) == LIMIT and page.data[0].id == f"run_{deep - 1:08d}", page.data[0]

    async def timed(call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
        times = []
        for _ in range(loops):
            start = time.perf_counter()
            await call()
            times.append((time.perf_counter() - start) * 1000)
        return {"median": statistics.median(times), "p90": statistics.quantiles(times, n=10)[8]}

    return {
        "first page": await timed(lambda: ops.list_runs(limit=LIMIT)),
        "status=waiting": await timed(lambda: ops.list_runs(status="waiting", limit=LIMIT)),
        "job + status": await timed(
            lambda: ops.list_runs(job="job-1", status="failed", limit=LIMIT)
        ),
        "deep page (cursor)": await timed(lambda: ops.list_runs(cursor=cursor, limit=LIMIT)),
        "deep page (OFFSET, before)": await timed(
            lambda: store.list_runs(limit=LIMIT + 1, offset=runs - deep)
        ),
    }


async def on_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    """Seed and measure a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "relaykit.db")
        store = store_from_url(f"sqlite:///{path}")
        await store.open()  # migrates
        await store.close()
        now = time.time()
        with sqlite3.connect(path) as db:
            marks = ", ".join("?" * (COLUMNS.count(",") + 1))
            db.executemany(f"INSERT INTO runs ({COLUMNS}) VALUES ({marks})", rows(args.runs, now))  # noqa: S608 -- constants
        store = store_from_url(f"sqlite:///{path}")
        await store.open()
        try:
            return await measure(store, args.runs, now, args.loops)
        finally:
            await store.close()


async def on_postgres(args: argparse.Namespace) -> dict[str, Any]:
    """Seed and measure a fresh database on ``--postgres``'s server (dropped after)."""
    import psycopg

    name = f"relaykit_pages_{uuid.uuid4().hex[:8]}"
    admin = await psycopg.AsyncConnection.connect(args.postgres, autocommit=True)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    try:
        store = store_from_url(url)
        await store.open()
        try:
            now = time.time()
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                marks = ", ".join(["%s"] * (COLUMNS.count(",") + 1))
                async with conn.cursor() as cur:
                    await cur.executemany(
                        f"INSERT INTO runs ({COLUMNS}) VALUES ({marks})",  # noqa: S608 -- constants
                        rows(args.runs, now),
                    )
            return await measure(store, args.runs, now, args.loops)
        finally:
            await store.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    """Seed, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--loops", type=int, default=50)
    parser.add_argument("--postgres", default=None, metavar="URL")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    args = parser.parse_args()
    results = {"sqlite": asyncio.run(on_sqlite(args))}
    if args.postgres:
        results["postgres"] = asyncio.run(on_postgres(args))
    if args.figures:
        rows = [
            {
                "figure": f"API {what}, {args.runs:,} runs, {store_name} (median)",
                "relaykit": round(t["median"], 2),
                "unit": "ms",
                "better": "lower",
                "target": 20,
            }
            for store_name, figures in results.items()
            for what, t in figures.items()
        ]
        Path(args.figures).write_text(json.dumps(rows), encoding="utf-8")
    if args.json:
        print(json.dumps(results))
        return
    print(f"{args.runs:,} runs, limit {LIMIT}, median / p90 ms per request")
    for store_name, figures in results.items():
        for what, t in figures.items():
            print(f"  {store_name:<9} {what:<28} {t['median']:7.2f} / {t['p90']:7.2f}")


if __name__ == "__main__":
    main()
