"""Event → run-start latency with an idle worker (same process, or another): relaykit and DBOS.

    python3 benchmarks/event_latency.py [--rounds 3] [--events 200] [--queue-events 20]
                                        [--sqlite-mode normal|full] [--cross-process]
    python3 benchmarks/event_latency.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

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

- ``relaykit-xproc`` (``--cross-process``, or alone with ``--postgres URL``): the worker in
  ANOTHER process. A ``Worker`` (concurrency 10) idles in a subprocess; this process stores
  each event with ``client.send_event_sync`` (which opens and closes its store each call, as
  a script or ``relaykit send`` would), and the run function in the worker prints
  ``time.monotonic()`` (system-wide) on its first line. Between events a random 5 to 50 ms
  pause, so that each send lands at a random point of the worker's polling. The worker is
  woken by its store's ``wait_for_wakeup``: on SQLite it polls the file's ``data_version``;
  on PostgreSQL, LISTEN/NOTIFY. Before the events, the worker's CPU is read from ``/proc``
  over ``IDLE_SECONDS`` of idling.

Prints p50/p90/p99/max (``statistics.quantiles``, inclusive method) of the latency in ms per
side and DBOS/relaykit at p50 and p99.
Targets: relaykit p50 ≤ 5 ms on SQLite (issue 3); relaykit-xproc p50 ≤ 20 ms on SQLite and
≤ 10 ms on PostgreSQL (issue 11).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

WARM_UP = 10
IDLE_SECONDS = 5.0  # relaykit-xproc: how long the idle worker's CPU is measured
SIDES = ("relaykit", "dbos-start", "dbos-queue", "relaykit-xproc")
OPEN_SIDE = "relaykit-xproc, client kept open"


def _xproc_client(url: str) -> Any:
    """The client of both processes of ``relaykit-xproc``: one job triggered by ``ping``,
    whose run function prints ``n`` and the system-wide monotonic time it started."""
    from relaykit import Client, event_trigger

    client = Client("latency", database_url=url)

    @client.define_job(id="on-ping", version="1.0.0", trigger=event_trigger("ping"))
    async def on_ping(payload: Any, io: Any, ctx: Any) -> None:
        print(f"{int(payload['n'])} {time.monotonic()}", flush=True)

    return client


async def run_xproc_worker(url: str) -> None:
    """The worker process of ``relaykit-xproc``: idles until stdin closes."""
    from relaykit import Worker

    client = _xproc_client(url)
    worker = Worker(client, concurrency=10)
    runner = asyncio.create_task(worker.run())
    await asyncio.sleep(0.5)  # up, subscribed, idle
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    worker.stop()
    await runner
    await client.close()


def measure_relaykit_xproc(url: str, events: int) -> dict[str, Any]:
    """relaykit with the worker in another process: events sent here → the run function
    there. Latencies in ms (``time.monotonic`` is system-wide); between events a random 5 to
    50 ms pause, so sends land at random points of the idle worker's polling. The events
    alternate between two senders: ``send_event_sync`` (opens and closes its store on each
    call, like a script or ``relaykit send``) and ``await send_event`` on a client kept open
    (like a web application)."""
    cmd = [sys.executable, __file__, "--side", "relaykit-worker", "--db", url]
    worker = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert worker.stdin is not None and worker.stdout is not None
    client, kept_open = _xproc_client(url), _xproc_client(url)
    loop = asyncio.new_event_loop()
    out: dict[str, list[float]] = {k: [] for k in ("sync", "sync_send", "open", "open_send")}
    rng = random.Random(0)
    try:
        client.send_event_sync("ping", {"n": -1})  # the sender's store opened, migrated
        loop.run_until_complete(kept_open.send_event("ping", {"n": -2}))
        while worker.stdout.readline().strip() != "ready":
            pass
        cpu_before = _cpu_seconds(worker.pid)
        time.sleep(IDLE_SECONDS)  # idle: measure the worker's CPU
        idle_cpu = (_cpu_seconds(worker.pid) - cpu_before) / IDLE_SECONDS
        for n in range(2 * (events + WARM_UP)):
            which = "open" if n % 2 else "sync"
            sent = time.monotonic()
            if which == "open":
                loop.run_until_complete(kept_open.send_event("ping", {"n": n}))
            else:
                client.send_event_sync("ping", {"n": n})
            returned = time.monotonic()
            started = _wait_for_start(worker.stdout, n)
            if n >= 2 * WARM_UP:
                out[which].append((started - sent) * 1000)
                out[f"{which}_send"].append((returned - sent) * 1000)
            time.sleep(rng.uniform(0.005, 0.05))
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)
        loop.run_until_complete(kept_open.close())
        loop.close()
    return {
        "latencies_ms": out["sync"],
        "send_ms": out["sync_send"],
        "open_latencies_ms": out["open"],
        "open_send_ms": out["open_send"],
        "idle_cpu_percent": idle_cpu * 100,
    }


def _wait_for_start(stdout: Any, n: int) -> float:
    """The start time the worker printed for event ``n``."""
    while True:
        line = stdout.readline().split()
        if not line:
            raise SystemExit("the worker process ended")
        if line[0] == str(n):
            return float(line[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def run_side(side: str, mode: str, events: int, postgres: str | None = None) -> dict[str, Any]:
    """One measurement: this script as a subprocess for ``side`` on a fresh database (a
    fresh SQLite file, or with ``postgres`` a throwaway database on that server)."""
    if postgres is not None:
        with _throwaway_postgres(postgres) as url:
            cmd = [sys.executable, __file__, "--side", side, "--events", str(events)]
            done = subprocess.run(
                [*cmd, "--db", url], capture_output=True, text=True, timeout=900, check=False
            )
        if done.returncode != 0:
            raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--side", side, "--sqlite-mode", mode]
        cmd += ["--events", str(events), "--db", os.path.join(tmp, "db.sqlite")]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@contextlib.contextmanager
def _throwaway_postgres(server: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server at ``server`` (a URL), dropped afterwards."""
    import psycopg

    name = f"relaykit_latency_{os.getpid()}_{random.randrange(10**6)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max, in ms."""
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": q[49], "p90": q[89], "p99": q[98], "max": max(latencies)}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=200, help="per round, relaykit/dbos-start")
    parser.add_argument("--queue-events", type=int, default=20, help="per round, dbos-queue")
    parser.add_argument("--sqlite-mode", choices=["normal", "full"], default="normal")
    parser.add_argument("--no-queue", action="store_true", help="Skip the dbos-queue side.")
    parser.add_argument(
        "--cross-process",
        action="store_true",
        help="Add relaykit-xproc: the worker in another process, send_event_sync here.",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="Run only relaykit-xproc, on throwaway databases of this PostgreSQL server.",
    )
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    parser.add_argument("--side", choices=[*SIDES, "relaykit-worker"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    return parser.parse_args()


def _one_side(args: argparse.Namespace) -> None:
    """In a subprocess: one measurement, one JSON line (or the xproc worker)."""
    db = str(args.db)
    url = db if "://" in db else f"sqlite:///{db}?synchronous={args.sqlite_mode}"
    if args.side == "relaykit-worker":
        asyncio.run(run_xproc_worker(url))
        return
    if args.side == "relaykit-xproc":
        data = measure_relaykit_xproc(url, args.events)
    elif args.side == "relaykit":
        data = asyncio.run(measure_relaykit(db, args.sqlite_mode, args.events))
    else:
        data = measure_dbos(db, args.sqlite_mode, args.events, args.side == "dbos-queue")
    print(json.dumps(data))


def main() -> None:
    """Alternate the sides over the rounds; print the percentiles and the ratios."""
    args = _parse()
    if args.side:
        _one_side(args)
        return
    sides = [s for s in SIDES[:3] if not (args.no_queue and s == "dbos-queue")]
    if args.cross_process:
        sides.append("relaykit-xproc")
    if args.postgres:
        sides = ["relaykit-xproc"]
    pooled: dict[str, list[float]] = {side: [] for side in sides}
    dbos_version = ""
    idle_cpu: list[float] = []
    send_ms: dict[str, list[float]] = {"sync": [], "open": []}
    for round_no in range(args.rounds):
        order = sides if round_no % 2 == 0 else sides[::-1]
        for side in order:
            events = args.queue_events if side == "dbos-queue" else args.events
            data = run_side(side, args.sqlite_mode, events, args.postgres)
            dbos_version = data.get("dbos_version", dbos_version)
            pooled[side] += data["latencies_ms"]
            if "idle_cpu_percent" in data:
                idle_cpu.append(data["idle_cpu_percent"])
                send_ms["sync"] += data["send_ms"]
                send_ms["open"] += data["open_send_ms"]
                pooled.setdefault(OPEN_SIDE, []).extend(data["open_latencies_ms"])
            p = percentiles(data["latencies_ms"])
            print(
                f"round {round_no + 1}: {side:10} p50 {p['p50']:8.2f} ms  p99 {p['p99']:8.2f} ms",
                file=sys.stderr,
            )
    store = "PostgreSQL" if args.postgres else f"SQLite WAL+{args.sqlite_mode.upper()}"
    print(f"\nevent -> run start, {store}, relaykit vs DBOS {dbos_version}, ", end="")
    print(f"{args.rounds} rounds pooled\n")
    _report(pooled, idle_cpu, postgres=bool(args.postgres))
    if args.figures:
        _write_figures(Path(args.figures), pooled, store, postgres=bool(args.postgres))
    if send_ms["sync"]:
        sync, kept = statistics.median(send_ms["sync"]), statistics.median(send_ms["open"])
        print(f"of which the sender's own call, p50: send_event_sync {sync:.2f} ms (opens and")
        print(f"closes its store), send_event on an open client {kept:.2f} ms")


def _write_figures(
    path: Path, pooled: dict[str, list[float]], store: str, *, postgres: bool
) -> None:
    """p50s for benchmarks/all.py: relaykit beside DBOS's fair peer for each shape (in the
    process: a started workflow; another process: DBOS's queue), with the issue's targets."""
    p50 = {side: percentiles(lat)["p50"] for side, lat in pooled.items() if lat}
    pairs = [
        ("relaykit", "dbos-start", None, "event -> run start in the process"),
        ("relaykit-xproc", "dbos-queue", 10 if postgres else 20, "worker in another process"),
        (OPEN_SIDE, None, 10 if postgres else 20, "another process, client kept open"),
    ]
    rows = []
    for side, peer, target, what in pairs:
        if side not in p50:
            continue
        row: dict[str, Any] = {
            "figure": f"{what}, {store}, p50",
            "relaykit": round(p50[side], 2),
            "unit": "ms",
            "better": "lower",
        }
        if peer in p50:
            row["peer"] = round(p50[peer], 2)
        if target is not None:
            row["target"] = target
        rows.append(row)
    path.write_text(json.dumps(rows), encoding="utf-8")


def _report(pooled: dict[str, list[float]], idle_cpu: list[float], *, postgres: bool) -> None:
    stats = {side: percentiles(lat) for side, lat in pooled.items()}
    print(f"{'side':32} {'events':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for side, p in stats.items():
        print(
            f"{side:32} {len(pooled[side]):6} {p['p50']:8.2f} {p['p90']:8.2f} {p['p99']:8.2f} "
            f"{p['max']:8.2f}"
        )
    if idle_cpu:
        cpu = ", ".join(f"{c:.1f}" for c in idle_cpu)
        print(
            f"\nrelaykit-xproc: CPU of the idle worker over {IDLE_SECONDS:g} s: {cpu} % of a core"
        )
    if postgres:
        print(f"target relaykit-xproc p50 <= 10 ms: {_verdict(stats['relaykit-xproc'], 10)}")
        print(f"  with the client kept open: {_verdict(stats[OPEN_SIDE], 10)}")
        return
    rk = stats["relaykit"]
    print()
    for side, p in stats.items():
        if side.startswith("relaykit"):
            continue
        print(
            f"{side} / relaykit: p50 {p['p50'] / rk['p50']:.1f}x  p99 {p['p99'] / rk['p99']:.1f}x"
        )
        if "relaykit-xproc" in stats:
            xp = stats["relaykit-xproc"]
            print(f"{side} / relaykit-xproc: p50 {p['p50'] / xp['p50']:.1f}x")
    print(f"target relaykit p50 <= 5 ms: {_verdict(rk, 5)}")
    if "relaykit-xproc" in stats:
        print(f"target relaykit-xproc p50 <= 20 ms: {_verdict(stats['relaykit-xproc'], 20)}")
        print(f"  with the client kept open: {_verdict(stats[OPEN_SIDE], 20)}")


def _verdict(p: dict[str, float], limit_ms: float) -> str:
    return "met" if p["p50"] <= limit_ms else "MISSED"


if __name__ == "__main__":
    main()
