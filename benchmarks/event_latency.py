"""Event → run-start latency with an idle worker in the same process: relaykit and DBOS.

    python3 benchmarks/event_latency.py [--rounds 3] [--events 200] [--queue-events 20]
                                        [--sqlite-mode normal|full]

Each measurement is a fresh subprocess (this script with ``--side``) on a fresh SQLite file;
the sides alternate in every round, the order swapping from round to round, and the
latencies of all rounds are pooled. Each side starts idle, then repeats: note the time, hand
over one unit of work, wait until the function that does the work has started (it notes the
time on its first line), let it finish, pause 2 ms. The first 10 are a warm-up and not kept.
What is compared:

- ``relaykit``: ``client.send_event`` → the run function of a job with an ``event_trigger``.
  A ``Worker`` (concurrency 10, poll interval 1 s) idles in the same process. The event and
  the run it triggers are stored in one transaction, the in-process worker is woken (not left
  to its poll interval), claims the run (a second transaction) and calls the run function.
- ``dbos-start``: ``DBOS.start_workflow(fn, n)`` → the workflow function's body. DBOS writes
  the workflow's status row (the durable record that the work exists; if the process dies
  the workflow is recovered from it), then hands the function to its in-process thread pool.
  This is the fair equivalent of relaykit's path: in both, one call durably records a new
  unit of work on the SQLite database and that unit then starts in the same process without
  waiting for any poll. DBOS has no event → workflow trigger of its own (``DBOS.send``
  delivers to a workflow that already runs, relaykit's ``io.wait_for_event``, not a start),
  and ``start_workflow`` skips the claim relaykit's worker does, so it is DBOS's best case.
- ``dbos-queue``: ``Queue.enqueue(fn, n)`` → the workflow function's body. The closest match
  in shape (a producer stores the work, a consumer in the process claims it), but DBOS's
  queue workers find work only by polling (``polling_interval_sec``, default 1 s, the same as
  relaykit's worker poll interval; DBOS has no in-process wake-up), so its latency is about
  half the polling interval. Between its events the script pauses a random 0 to 1 s instead of
  2 ms, so that each enqueue lands at a random point of the polling cycle (back to back they
  would all land at the same point of it). Fewer events (``--queue-events``), as each takes
  about 1 s.

SQLite: ``--sqlite-mode normal`` is WAL + ``synchronous=NORMAL`` on both sides, ``full`` is
WAL + ``synchronous=FULL`` (relaykit's default). DBOS's connections get the pragmas through a
SQLAlchemy connect listener, read back on a connection of DBOS's own pool (as in
``_dbos_side.py``). DBOS runs its usual synchronous workflows; relaykit its async run function.

Prints p50/p90/p99/max (``statistics.quantiles``, inclusive method) of the latency in ms per
side and DBOS/relaykit at p50 and p99.
Target (issue 3): relaykit p50 ≤ 5 ms on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

WARM_UP = 10
SIDES = ("relaykit", "dbos-start", "dbos-queue")


async def measure_relaykit(db: str, mode: str, events: int) -> dict[str, Any]:
    """relaykit: latencies in ms, one per event."""
    from relaykit import Client, Worker, event_trigger

    client = Client("latency", database_url=f"sqlite:///{db}?synchronous={mode}")
    started: dict[int, float] = {}
    arrived = asyncio.Event()

    @client.define_job(id="on-ping", version="1.0.0", trigger=event_trigger("ping"))
    async def on_ping(payload: Any, io: Any, ctx: Any) -> None:
        started[int(payload["n"])] = time.perf_counter()
        arrived.set()

    worker = Worker(client, concurrency=10)
    runner = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)  # the worker is up and idle
    latencies = []
    for n in range(events + WARM_UP):
        arrived.clear()
        sent = time.perf_counter()
        await client.send_event("ping", {"n": n})
        await asyncio.wait_for(arrived.wait(), timeout=10)
        if n >= WARM_UP:  # the first few warm caches up
            latencies.append((started[n] - sent) * 1000)
        await asyncio.sleep(0.002)  # let the run finish: the worker is idle again
    worker.stop()
    await runner
    await client.close()
    return {"latencies_ms": latencies}


def measure_dbos(db: str, mode: str, events: int, via_queue: bool) -> dict[str, Any]:
    """DBOS: latencies in ms from ``start_workflow``/``enqueue`` to the workflow body."""
    from importlib.metadata import version

    import sqlalchemy as sa
    from dbos import DBOS, DBOSConfig, Queue

    synchronous = {"normal": 1, "full": 2}[mode]
    configured: list[tuple[str, int]] = []

    def set_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={mode.upper()}")
        journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        configured.append((journal, cursor.execute("PRAGMA synchronous").fetchone()[0]))
        cursor.close()

    sa.event.listen(sa.Engine, "connect", set_pragmas)
    started: dict[int, float] = {}
    arrived = threading.Event()

    @DBOS.workflow()
    def on_ping(n: int) -> None:
        started[n] = time.perf_counter()
        arrived.set()

    config: DBOSConfig = {
        "name": "latency",
        "system_database_url": f"sqlite:///{db}",
        "log_level": "WARNING",
    }
    dbos = DBOS(config=config)
    try:
        DBOS.launch()
        # DBOS 3.x queues live in the system database: registered after launch, found by
        # DBOS's queue thread, which starts a worker thread for it. Defaults:
        # polling_interval_sec=1.0, no concurrency limit.
        queue: Queue | None = DBOS.register_queue("ping") if via_queue else None
        time.sleep(2.5 if via_queue else 0.2)  # DBOS's threads are up and idle
        latencies = []
        rng = random.Random(0)
        for n in range(events + WARM_UP):
            arrived.clear()
            sent = time.perf_counter()
            if queue is not None:
                handle = queue.enqueue(on_ping, n)
            else:
                handle = DBOS.start_workflow(on_ping, n)
            if not arrived.wait(timeout=10):
                raise SystemExit(f"workflow {n} did not start within 10 s")
            if n >= WARM_UP:
                latencies.append((started[n] - sent) * 1000)
            handle.get_result()  # let the workflow finish: DBOS is idle again
            # The queue worker polls on a fixed cycle: a pause of a random fraction of the
            # polling interval makes the next enqueue land at a random point of that cycle
            # (back to back, each enqueue would fall at the same phase of it).
            time.sleep(rng.uniform(0, 1.0) if queue is not None else 0.002)
        with dbos._sys_db.engine.connect() as conn:  # the pragmas on DBOS's own pool
            pragmas = (
                str(conn.execute(sa.text("PRAGMA journal_mode")).scalar_one()),
                int(conn.execute(sa.text("PRAGMA synchronous")).scalar_one()),
            )
    finally:
        DBOS.destroy()
    assert configured and all(c == ("wal", synchronous) for c in configured), configured
    assert pragmas == ("wal", synchronous), pragmas
    return {"latencies_ms": latencies, "dbos_version": version("dbos")}


def run_side(side: str, mode: str, events: int) -> dict[str, Any]:
    """One measurement: this script as a subprocess for ``side`` on a fresh database."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--side", side, "--sqlite-mode", mode]
        cmd += ["--events", str(events), "--db", os.path.join(tmp, "db.sqlite")]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max, in ms."""
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": q[49], "p90": q[89], "p99": q[98], "max": max(latencies)}


def main() -> None:
    """Alternate the sides over the rounds; print the percentiles and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=200, help="per round, relaykit/dbos-start")
    parser.add_argument("--queue-events", type=int, default=20, help="per round, dbos-queue")
    parser.add_argument("--sqlite-mode", choices=["normal", "full"], default="normal")
    parser.add_argument("--no-queue", action="store_true", help="Skip the dbos-queue side.")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:  # a subprocess: one measurement, one JSON line
        if args.side == "relaykit":
            data = asyncio.run(measure_relaykit(args.db, args.sqlite_mode, args.events))
        else:
            via_queue = args.side == "dbos-queue"
            data = measure_dbos(args.db, args.sqlite_mode, args.events, via_queue)
        print(json.dumps(data))
        return

    sides = [s for s in SIDES if not (args.no_queue and s == "dbos-queue")]
    pooled: dict[str, list[float]] = {side: [] for side in sides}
    dbos_version = ""
    for round_no in range(args.rounds):
        order = sides if round_no % 2 == 0 else sides[::-1]
        for side in order:
            events = args.queue_events if side == "dbos-queue" else args.events
            data = run_side(side, args.sqlite_mode, events)
            dbos_version = data.get("dbos_version", dbos_version)
            pooled[side] += data["latencies_ms"]
            p = percentiles(data["latencies_ms"])
            print(
                f"round {round_no + 1}: {side:10} p50 {p['p50']:8.2f} ms  p99 {p['p99']:8.2f} ms",
                file=sys.stderr,
            )

    stats = {side: percentiles(lat) for side, lat in pooled.items()}
    print(
        f"\nevent -> run start, SQLite WAL+{args.sqlite_mode.upper()}, relaykit vs DBOS "
        f"{dbos_version}, {args.rounds} rounds pooled\n"
    )
    print(f"{'side':11} {'events':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for side, p in stats.items():
        print(
            f"{side:11} {len(pooled[side]):6} {p['p50']:8.2f} {p['p90']:8.2f} {p['p99']:8.2f} "
            f"{p['max']:8.2f}"
        )
    rk = stats["relaykit"]
    print()
    for side in sides[1:]:
        p = stats[side]
        print(
            f"{side} / relaykit: p50 {p['p50'] / rk['p50']:.1f}x  p99 {p['p99'] / rk['p99']:.1f}x"
        )
    print(f"target relaykit p50 <= 5 ms: {'met' if rk['p50'] <= 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
