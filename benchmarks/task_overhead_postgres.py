"""Task overhead on PostgreSQL: relaykit and DBOS side by side on the same server.

    python3 benchmarks/task_overhead_postgres.py [--rounds 3] [--tasks 1000] [--runs 500]
                                                 [--tasks-per-run 3] [--server URL]

The PostgreSQL counterpart of task_overhead.py, with the same two sides (``_relaykit_side.py``
and ``_dbos_side.py``, given ``--database-url``) and the same workloads:

- ``one-run``: one run (DBOS: one workflow) of ``--tasks`` sequential no-op tasks (steps);
- ``many-runs``: ``--runs`` runs of ``--tasks-per-run`` no-op tasks, one after another.

Every measurement is a fresh subprocess on a fresh database, created on the server
(``--server``, default ``$RELAYKIT_TEST_POSTGRES_URL``, else
``postgresql://postgres@127.0.0.1:5432/postgres``; the user must be allowed to create
databases) and dropped afterwards: relaykit's store and DBOS's system database each get their
own, on the same server with its settings as they are (``synchronous_commit`` included). The
two systems alternate in every round, the order swapping from round to round.

Round trips are counted in a separate, untimed pass, because the counter sits in the path:
each side runs through a counting proxy (``WireCounter``, below) that forwards the wire
protocol and counts, per client message, simple queries (``Q``), Syncs (``S``) and Executes
(``E``). A round trip is a ``Q`` or an ``S`` (one ``BEGIN``, ``COMMIT`` or statement, or one
pipelined batch); SQL statements are ``E`` plus the ``Q`` that are neither transaction control
(``BEGIN``/``COMMIT``/..., counted apart) nor empty (``;``, a connection-pool liveness check,
counted apart as pings). In the same pass the server's ``pg_stat_database.xact_commit`` for
the side's database (read from the maintenance database once the side's connections are gone,
so every backend has flushed its counters) gives the committed transactions, read-only ones
included (an empty ``;`` ping also counts as one). The pass runs each workload at two sizes
and reports the difference divided by the difference in tasks, so start-up, migrations and
the warm-up cancel out and what is left is the marginal cost of one more task. Why on the wire:
``pg_stat_statements`` needs ``shared_preload_libraries`` (a restart of a server other test
suites share) and aggregates by statement text, not round trips; wrapping the driver's
``execute`` misses what psycopg and SQLAlchemy send on their own (``BEGIN``, ``COMMIT``, pool
pings) and would need a different hook on each side. The proxy sees every round trip of both
sides, the same way; ``xact_commit`` is the server's own cross-check.

Each round also times a bare loop of one-row autocommit INSERTs on a fresh database (one round
trip and one WAL flush each): the floor for one durable write per task on this server.

Prints medians over the rounds (µs per task, runs/s), DBOS/relaykit, the bare INSERT, and the
round trips, statements and commits per task of each. Needs ``relaykit[postgres]`` and
``dbos``; not run by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

HERE = Path(__file__).resolve().parent
SIDES = {"relaykit": HERE / "_relaykit_side.py", "dbos": HERE / "_dbos_side.py"}
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
WORKLOADS = ("one-run", "many-runs")


# -- the counting proxy ----------------------------------------------------------------------
#
# A counting TCP proxy for the PostgreSQL wire protocol. Clients connect to the proxy
# (``sslmode=disable``, ``gssencmode=disable``: the proxy must see the protocol in clear) and
# every byte is forwarded to the real server unchanged. On the client → server side the
# proxy splits the stream into protocol messages and counts them by type. A *round
# trip* is a message after which the client waits for the server's answer:
#
# - ``Q`` (simple query: one ``conn.execute`` without parameters, ``BEGIN``/``COMMIT`` as psycopg
#   sends them, a multi-statement string), or
# - ``S`` (Sync: closes one extended-protocol exchange ``Parse/Bind/Execute``; a psycopg pipeline
#   or ``executemany`` batch sends many ``Execute`` and a single ``Sync``).
#
# Simple queries that only control the transaction (``BEGIN``, ``COMMIT``, ``ROLLBACK``,
# ``SAVEPOINT``, ...) are counted apart (``tx``), and so are empty ones (``ping``: the ``;``
# SQLAlchemy's ``pool_pre_ping``, which DBOS turns on, sends at every pool checkout), so
# ``Q - tx - ping + E`` (Execute) is the number of SQL statements proper.
#
# Counting on the wire is independent of the driver and of the client library's own layers
# (psycopg directly for relaykit, SQLAlchemy over psycopg for DBOS), so the two sides are
# measured the same way. The proxy adds latency, so it is only used for the counting pass,
# never for the timed one.

_TX_CONTROL = (b"BEGIN", b"START", b"COMMIT", b"END", b"ROLLBACK", b"SAVEPOINT", b"RELEASE")
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


class WireCounter:
    """Run a counting proxy to ``host:port`` on a background thread; ``port`` is its own."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self.counts: Counter[str] = Counter()
        self.connections = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> WireCounter:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the counting proxy did not start")
        return self

    def __exit__(self, *_: object) -> None:
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)

    def reset(self) -> None:
        """Zero the counters."""
        self.counts.clear()
        self.connections = 0

    @property
    def round_trips(self) -> int:
        """Client messages that wait for an answer: simple queries and Syncs."""
        return self.counts["Q"] + self.counts["S"]

    @property
    def statements(self) -> int:
        """SQL statements sent, transaction control left out: simple queries and
        extended-protocol Executes."""
        return self.counts["Q"] - self.counts["tx"] - self.counts["ping"] + self.counts["E"]

    @property
    def pings(self) -> int:
        """Empty simple queries (``;``): connection liveness checks."""
        return self.counts["ping"]

    @property
    def transaction_control(self) -> int:
        """``BEGIN``/``COMMIT``/``ROLLBACK``/savepoint round trips."""
        return self.counts["tx"]

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(
                self._client_to_server(reader, up_writer),
                self._pipe(up_reader, writer),
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()

    async def _client_to_server(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Startup phase: untyped messages (length, code); SSL/GSS requests come before the
        # startup message itself, and everything after it is typed (1 byte, then length).
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            body = await reader.readexactly(length - 8)
            writer.write(head + body)
            await writer.drain()
            if code not in (_SSL_REQUEST, _GSSENC_REQUEST):
                break
        while True:
            try:
                head = await reader.readexactly(5)
            except asyncio.IncompleteReadError:
                writer.close()
                return
            kind = chr(head[0])
            (length,) = struct.unpack("!i", head[1:])
            body = await reader.readexactly(length - 4)
            self.counts[kind] += 1
            if kind == "Q":
                text = body.rstrip(b"\0").strip().upper()
                if text.startswith(_TX_CONTROL):
                    self.counts["tx"] += 1
                elif text.strip(b"; \t\n") == b"":
                    self.counts["ping"] += 1
            writer.write(head + body)
            await writer.drain()
            if kind == "X":  # Terminate
                writer.close()
                return

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()


# -- the benchmark ---------------------------------------------------------------------------


def create_database(server: str, side: str) -> str:
    """A new empty database on ``server``; its name."""
    name = f"bench_{side}_{secrets.token_hex(5)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return name


def drop_database(server: str, name: str) -> None:
    """Drop ``name``, disconnecting anyone still on it."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def database_url(server: str, name: str, port: int | None = None, query: str = "") -> str:
    """``server`` pointed at database ``name`` (and at ``port`` on 127.0.0.1 if given)."""
    parts = urlsplit(server)._replace(path=f"/{name}", query=query)
    if port is not None:
        user = f"{parts.username}@" if parts.username else ""
        password = f":{parts.password}" if parts.password else ""
        if password:
            user = f"{parts.username}{password}@"
        parts = parts._replace(netloc=f"{user}127.0.0.1:{port}")
    return parts.geturl()


def run_side(side: str, workload: str, url: str, tasks: int, runs: int, per_run: int) -> Any:
    """Run one side once in a subprocess on database ``url``; return its JSON line."""
    cmd = [sys.executable, str(SIDES[side]), "--workload", workload, "--database-url", url]
    cmd += ["--tasks", str(tasks), "--runs", str(runs), "--tasks-per-run", str(per_run)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} {workload} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def xact_commit(server: str, name: str) -> int:
    """``xact_commit`` of database ``name``, once no backend is connected to it any more."""
    with psycopg.connect(server, autocommit=True) as conn:
        for _ in range(100):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
            ).fetchone()
            if row is not None and row[0] == 0:
                break
            time.sleep(0.1)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def bare_commit_us(server: str, n: int = 300) -> float:
    """µs per one-row autocommit INSERT on a fresh database: the floor for one durable write
    (one round trip, one WAL flush) per task on this server."""
    name = create_database(server, "bare")
    try:
        with psycopg.connect(database_url(server, name), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (k text PRIMARY KEY, v jsonb)")
            conn.execute("INSERT INTO t VALUES ('warm-up', 'null')")
            started = time.perf_counter()
            for i in range(n):
                conn.execute("INSERT INTO t VALUES (%s, 'null')", (f"k{i}",))
            seconds = time.perf_counter() - started
    finally:
        drop_database(server, name)
    return seconds / n * 1e6


def timed(server: str, side: str, workload: str, args: argparse.Namespace) -> Any:
    """One timed measurement on a fresh database."""
    name = create_database(server, side)
    try:
        return run_side(
            side,
            workload,
            database_url(server, name),
            args.tasks,
            args.runs,
            args.tasks_per_run,
        )
    finally:
        drop_database(server, name)


def counted(server: str, side: str, workload: str, scale: int, args: argparse.Namespace) -> Any:
    """One counting pass through the proxy, at ``scale`` tasks (one-run) or runs (many-runs)."""
    parts = urlsplit(server)
    name = create_database(server, side)
    try:
        with WireCounter(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            url = database_url(server, name, proxy.port, "sslmode=disable&gssencmode=disable")
            run_side(side, workload, url, scale, scale, args.tasks_per_run)
        commits = xact_commit(server, name)
        tasks = scale if workload == "one-run" else scale * args.tasks_per_run
        return {
            "tasks": tasks,
            "round_trips": proxy.round_trips,
            "statements": proxy.statements,
            "tx_control": proxy.transaction_control,
            "pings": proxy.pings,
            "commits": commits,
            "connections": proxy.connections,
        }
    finally:
        drop_database(server, name)


def main() -> None:
    """Alternate the two systems over the rounds, count round trips, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--tasks-per-run", type=int, default=3)
    parser.add_argument(
        "--count-scales",
        default="50,150",
        help="the two sizes (tasks for one-run, runs for many-runs) of the counting pass",
    )
    parser.add_argument("--no-count", action="store_true", help="Skip the counting pass.")
    parser.add_argument(
        "--server", default=os.environ.get("RELAYKIT_TEST_POSTGRES_URL") or DEFAULT_SERVER
    )
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    parser.add_argument("--json", action="store_true", help="Also print raw results as JSON.")
    args = parser.parse_args()

    results: dict[tuple[str, str], list[Any]] = {}
    bare: list[float] = []
    for round_no in range(args.rounds):
        bare.append(bare_commit_us(args.server))
        for workload in WORKLOADS:
            order = ["relaykit", "dbos"] if round_no % 2 == 0 else ["dbos", "relaykit"]
            for side in order:
                data = timed(args.server, side, workload, args)
                results.setdefault((workload, side), []).append(data)
                print(
                    f"round {round_no + 1}: {side:8} {workload:9} "
                    f"{data['us_per_task']:9.1f} µs/task",
                    file=sys.stderr,
                )

    counts: dict[tuple[str, str], dict[str, float]] = {}
    if not args.no_count:
        small, large = (int(x) for x in args.count_scales.split(","))
        for workload in WORKLOADS:
            for side in ("relaykit", "dbos"):
                a = counted(args.server, side, workload, small, args)
                b = counted(args.server, side, workload, large, args)
                per = {
                    key: (b[key] - a[key]) / (b["tasks"] - a["tasks"])
                    for key in ("round_trips", "statements", "tx_control", "pings", "commits")
                }
                counts[(workload, side)] = per
                print(f"counted: {side:8} {workload:9} {per}", file=sys.stderr)

    def med(workload: str, side: str, field: str) -> float:
        return float(statistics.median(r[field] for r in results[(workload, side)]))

    dbos_version = results[("one-run", "dbos")][0].get("dbos_version", "")
    print(
        f"\nrelaykit vs DBOS {dbos_version} on PostgreSQL ({_server_version(args.server)}), "
        f"median of {args.rounds} rounds\n"
    )
    print(
        f"{'workload':10} {'relaykit µs/task':>17} {'DBOS µs/task':>13} {'DBOS/relaykit':>14} "
        f"{'per round':>12} {'relaykit runs/s':>16} {'DBOS runs/s':>12}"
    )
    for workload in WORKLOADS:
        rk, db = med(workload, "relaykit", "us_per_task"), med(workload, "dbos", "us_per_task")
        rk_rps = med(workload, "relaykit", "runs_per_s")
        db_rps = med(workload, "dbos", "runs_per_s")
        # DBOS/relaykit within each round (the two ran back to back): the spread of the ratio
        paired = [
            d["us_per_task"] / r["us_per_task"]
            for r, d in zip(
                results[(workload, "relaykit")], results[(workload, "dbos")], strict=True
            )
        ]
        spread = f"{min(paired):.1f}-{max(paired):.1f}x"
        print(
            f"{workload:10} {rk:17.1f} {db:13.1f} {db / rk:13.1f}x {spread:>12} {rk_rps:16.1f} "
            f"{db_rps:12.1f}"
        )
    print(f"\nbare one-row autocommit INSERT: {statistics.median(bare):.1f} µs")
    if counts:
        print(
            f"\nper task, marginal (counting pass at {args.count_scales} "
            "tasks / runs, through the wire proxy)"
        )
        print(
            f"{'workload':10} {'side':9} {'round trips':>12} {'statements':>11} "
            f"{'BEGIN/COMMIT':>13} {'pings':>6} {'xact_commit':>12}"
        )
        for (workload, side), per in counts.items():
            print(
                f"{workload:10} {side:9} {per['round_trips']:12.2f} {per['statements']:11.2f} "
                f"{per['tx_control']:13.2f} {per['pings']:6.2f} {per['commits']:12.2f}"
            )
    _outputs(args, results, bare, counts, med)


def _outputs(
    args: argparse.Namespace,
    results: dict[tuple[str, str], list[Any]],
    bare: list[float],
    counts: dict[tuple[str, str], dict[str, float]],
    med: Callable[[str, str, str], float],
) -> None:
    """``--json`` (every raw result) and ``--figures`` (the headline ones)."""
    if args.json:
        print(
            json.dumps(
                {
                    "timed": {f"{w}/{s}": v for (w, s), v in results.items()},
                    "bare_commit_us": bare,
                    "counted": {f"{w}/{s}": v for (w, s), v in counts.items()},
                }
            )
        )
    if args.figures:
        _write_figures(Path(args.figures), med)


def _write_figures(path: Path, med: Callable[[str, str, str], float]) -> None:
    """The headline figures for benchmarks/all.py: µs per task, relaykit and DBOS."""
    figures = [
        {
            "figure": f"PostgreSQL, per task, {workload}",
            "unit": "µs",
            "better": "lower",
            "relaykit": med(workload, "relaykit", "us_per_task"),
            "peer": med(workload, "dbos", "us_per_task"),
        }
        for workload in WORKLOADS
    ]
    path.write_text(json.dumps(figures), encoding="utf-8")


def _server_version(server: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0]}" if row else "PostgreSQL"


if __name__ == "__main__":
    main()
