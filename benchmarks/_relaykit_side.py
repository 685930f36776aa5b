"""The relaykit half of the task-overhead benchmark, run as a subprocess by task_overhead.py.

    python benchmarks/_relaykit_side.py --workload one-run --sqlite-mode normal --db PATH
    python benchmarks/_relaykit_side.py --workload one-run --database-url postgresql://...

Workloads (the same as ``_dbos_side.py``): ``one-run`` is one run of N sequential no-op tasks;
``many-runs`` is R runs of K no-op tasks each, run one after another with ``client.run``.
``one-run`` also measures the resume cost (the replay of a run suspended after N completed
tasks) and counts the write transactions per task from SQLite's statement trace. With
``--database-url`` (a PostgreSQL database, used by task_overhead_postgres.py) only the timing
is done: the SQLite-specific extras are skipped and ``--db``/``--sqlite-mode`` are ignored.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from relaykit import Client
from relaykit.records import RunStatus
from relaykit.store.sqlite import SqliteStore
from relaykit.testing import ManualClock

_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


async def noop() -> None:
    """The task body: nothing, so only relaykit's own cost is measured."""


def noop_sync() -> None:
    """The same, as a plain ``def``: relaykit runs it off the event loop, in a thread."""


def _url(db: str, mode: str) -> str:
    """``db`` itself when it is a URL (PostgreSQL), else a SQLite URL for the file ``db``."""
    if "://" in db:
        return db
    query = "" if mode == "default" else f"?synchronous={mode}"
    return f"sqlite:///{db}{query}"


def _client(db: str, mode: str, clock: ManualClock | None = None, kind: str = "async") -> Client:
    """A client with job ``one-run``: N tasks, then (with ``wait``) a durable wait.

    ``kind``: ``async`` (an async job, async task functions), ``sync-fn`` (an async job, plain
    ``def`` task functions) or ``sync-job`` (a plain ``def`` job calling the sync ``io`` with
    plain ``def`` task functions).
    """
    client = Client("bench", database_url=_url(db, mode), clock=clock)
    fn = noop if kind == "async" else noop_sync

    if kind == "sync-job":

        @client.define_job(id="one-run", version="1.0.0")
        def one_run_sync(payload: Any, io: Any, ctx: Any) -> int:
            for i in range(int(payload["tasks"])):
                io.run_task(f"t{i}", fn)
            if payload.get("wait"):
                io.wait("pause", seconds=60)
            return int(payload["tasks"])

        return client

    @client.define_job(id="one-run", version="1.0.0")
    async def one_run(payload: Any, io: Any, ctx: Any) -> int:
        for i in range(int(payload["tasks"])):
            await io.run_task(f"t{i}", fn)
        if payload.get("wait"):
            await io.wait("pause", seconds=60)
        return int(payload["tasks"])

    return client


async def one_run(db: str, mode: str, tasks: int, kind: str = "async") -> dict[str, Any]:
    """Time one run of ``tasks`` tasks; then the resume cost; then count transactions."""
    client = _client(db, mode, kind=kind)
    await client.run("one-run", {"tasks": 10})  # warm-up: imports, migrations, caches
    started = time.perf_counter()
    result = await client.run("one-run", {"tasks": tasks})
    seconds = time.perf_counter() - started
    assert result.status is RunStatus.SUCCEEDED, result.error
    await client.close()
    timing = {
        "tasks": tasks,
        "runs": 1,
        "seconds": seconds,
        "us_per_task": seconds / tasks * 1e6,
        "runs_per_s": 1 / seconds,
    }
    if "://" in db or kind != "async":  # PostgreSQL, or a variant: the timing only
        return timing
    resume = await _resume_cost(db, mode, tasks)
    writes = await _transactions_per_task(db, mode, tasks)
    return {
        **timing,
        "resume_us_per_task": resume / tasks * 1e6,
        **writes,
    }


async def _resume_cost(db: str, mode: str, tasks: int) -> float:
    """Seconds to replay a run suspended after ``tasks`` completed tasks (the 2nd attempt)."""
    clock = ManualClock()
    client = _client(db, mode, clock)
    engine = await client.engine()
    job = client.get_job("one-run")
    run = await engine.create_run(job, {"tasks": tasks, "wait": True})
    await _claim_and_execute(engine, run.id)  # attempt 1: runs the tasks, suspends
    clock.advance(61)
    started = time.perf_counter()
    outcome = await _claim_and_execute(engine, run.id)  # attempt 2: replays them all
    seconds = time.perf_counter() - started
    assert outcome.status is RunStatus.SUCCEEDED, outcome.error
    await engine.close()
    await client.close()
    return seconds


async def _claim_and_execute(engine: Any, run_id: str) -> Any:
    now = engine.clock.now()
    (run,) = await engine.store.claim_runs(
        owner=engine.owner,
        now=now,
        lease_until=now + 30,
        limit=1,
        job_ids=["one-run"],
        run_id=run_id,
    )
    return await engine.execute(run)


async def _transactions_per_task(db: str, mode: str, tasks: int) -> dict[str, Any]:
    """Trace the SQL of one run: write transactions per task, and whether any task's write
    happened before its function ran."""
    client = _client(db, mode)
    store = await client.open()
    assert isinstance(store, SqliteStore)
    log: list[str] = []
    in_txn = False
    transactions = 0

    def trace(sql: str) -> None:
        nonlocal in_txn, transactions
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb == "BEGIN":
            in_txn, transactions = True, transactions + 1
        elif verb in ("COMMIT", "ROLLBACK"):
            in_txn = False
        elif verb in _WRITE_VERBS and not in_txn:
            transactions += 1  # an implicit single-statement transaction
        log.append(verb)

    store._io.trace(trace)
    result = await client.run("one-run", {"tasks": tasks})
    store._io.trace(None)
    await client.close()
    assert result.status is RunStatus.SUCCEEDED
    # creating the (already claimed) run and ending the attempt are per run, not per task
    per_run = 2
    return {
        "write_transactions": transactions,
        "write_transactions_per_task": (transactions - per_run) / tasks,
    }


async def many_runs(db: str, mode: str, runs: int, per_run: int) -> dict[str, Any]:
    """Time ``runs`` runs of ``per_run`` tasks, one after another."""
    client = _client(db, mode)
    await client.run("one-run", {"tasks": per_run})  # warm-up
    started = time.perf_counter()
    for _ in range(runs):
        result = await client.run("one-run", {"tasks": per_run})
        assert result.status is RunStatus.SUCCEEDED
    seconds = time.perf_counter() - started
    await client.close()
    total = runs * per_run
    return {
        "tasks": total,
        "runs": runs,
        "seconds": seconds,
        "us_per_task": seconds / total * 1e6,
        "runs_per_s": runs / seconds,
    }


def main() -> None:
    """Parse arguments, run one workload, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", choices=["one-run", "many-runs"], required=True)
    parser.add_argument("--sqlite-mode", choices=["normal", "full", "default"], default="default")
    parser.add_argument("--db", help="SQLite file")
    parser.add_argument("--database-url", help="a PostgreSQL URL, instead of --db")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--tasks-per-run", type=int, default=3)
    parser.add_argument("--kind", choices=["async", "sync-fn", "sync-job"], default="async")
    args = parser.parse_args()
    db = args.database_url or args.db
    if not db:
        parser.error("one of --db and --database-url is needed")
    if args.workload == "one-run":
        data = asyncio.run(one_run(db, args.sqlite_mode, args.tasks, args.kind))
    else:
        data = asyncio.run(many_runs(db, args.sqlite_mode, args.runs, args.tasks_per_run))
    print(
        json.dumps(
            {
                "peer": "relaykit",
                "workload": args.workload,
                "kind": args.kind,
                "sqlite_mode": args.sqlite_mode,
                **data,
            }
        )
    )


if __name__ == "__main__":
    main()
