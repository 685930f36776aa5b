"""HTTP API load: ``POST /api/v1/events`` against a real ``relaykit serve`` on SQLite.

    python3 benchmarks/http_load.py [--seconds 5] [--connections 1,16] [--rounds 3]
                                    [--sqlite-mode full|normal]

Starts ``relaykit serve APP --no-worker`` as a subprocess on a fresh SQLite file (APP is a
client with one job whose ``event_trigger`` matches, so every request stores an event and the
run it starts, in one transaction), makes an API key with ``relaykit keys create``, then for
each connection count C drives the server from this process with httpx2: C asyncio tasks
share one ``httpx2.AsyncClient`` limited to C keep-alive connections, each task sending
requests back to back (a new one as soon as its answer arrives). The first 50 requests of each
measurement warm up and are not counted; then the requests answered within ``--seconds`` are
counted. Every answer must be ``201``. Prints requests per second, the median of the rounds.

Targets (issue 11): at least 800 req/s on one connection and 1,300 req/s on 16. The figure
this benchmark exists for is the one-connection rate: without TCP_NODELAY on the accepted
socket, each response's second write waits for the client's delayed ACK (~40 ms on Linux),
which caps one connection at ~23 req/s whatever the server's speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx2

WARM_UP = 50

APP = textwrap.dedent(
    """
    from relaykit import Client, event_trigger

    client = Client(id="http-load")


    @client.define_job(id="on-ping", version="1.0.0", trigger=event_trigger("bench.ping"))
    async def on_ping(payload, io, ctx):
        return None
    """
)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def relaykit(*args: str) -> str:
    """Run the ``relaykit`` CLI of this interpreter; its stdout."""
    cmd = [sys.executable, "-m", "relaykit", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"relaykit {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def wait_until_up(base: str, server: subprocess.Popen[str]) -> None:
    """Poll the OpenAPI document (no key needed) until the server answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"relaykit serve exited with {server.returncode}")
        try:
            if httpx2.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("relaykit serve did not answer within 60 s")


async def load(base: str, key: str, connections: int, seconds: float) -> float:
    """Requests per second answered over ``connections`` keep-alive connections."""
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Authorization": f"Bearer {key}"}
    body = {"name": "bench.ping", "payload": {"n": 1}}
    async with httpx2.AsyncClient(base_url=base, headers=headers, limits=limits) as http:

        async def send() -> None:
            r = await http.post("/api/v1/events", json=body)
            if r.status_code != 201:
                raise SystemExit(f"POST /api/v1/events: {r.status_code} {r.text}")

        async def warm(n: int) -> None:
            for _ in range(n):
                await send()

        await asyncio.gather(*(warm(max(1, WARM_UP // connections)) for _ in range(connections)))
        counted = 0
        end = time.perf_counter() + seconds

        async def drive() -> None:
            nonlocal counted
            while time.perf_counter() < end:
                await send()
                counted += 1

        start = time.perf_counter()
        await asyncio.gather(*(drive() for _ in range(connections)))
        return counted / (time.perf_counter() - start)


def main() -> None:
    """Serve, make a key, measure each connection count over the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--connections", default="1,16", help="comma-separated counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--sqlite-mode",
        choices=["normal", "full"],
        default="full",
        help="synchronous= of the store (full: relaykit's default, an fsync per commit)",
    )
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.connections.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp, "app.py")
        app.write_text(APP)
        db = f"sqlite:///{Path(tmp, 'relaykit.db')}?synchronous={args.sqlite_mode}"
        key = relaykit("keys", "create", "--name", "bench", "--database", db).strip()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "relaykit", "serve", str(app), "--port", str(port)]
        cmd += ["--database", db, "--no-worker"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        ) as server:
            try:
                wait_until_up(base, server)
                rates: dict[int, list[float]] = {c: [] for c in counts}
                for _ in range(args.rounds):
                    for c in counts:
                        rates[c].append(asyncio.run(load(base, key, c, args.seconds)))
            finally:
                server.terminate()
                server.wait(timeout=30)
    print(
        f"POST /api/v1/events, relaykit serve on SQLite (WAL, synchronous={args.sqlite_mode}),"
        f" {args.seconds:g} s per measurement, median of {args.rounds} rounds"
    )
    print("| connections | req/s (median) | rounds |")
    print("|---:|---:|---|")
    for c in counts:
        shown = ", ".join(f"{r:.0f}" for r in rates[c])
        print(f"| {c} | {statistics.median(rates[c]):.0f} | {shown} |")
    if args.figures:
        targets = {1: 800.0, 16: 1300.0}
        figures = [
            {
                "figure": f"HTTP API, POST /api/v1/events, {c} keep-alive connection(s)",
                "unit": "req/s",
                "better": "higher",
                "relaykit": statistics.median(rates[c]),
                "target": targets.get(c),
            }
            for c in counts
        ]
        Path(args.figures).write_text(json.dumps(figures), encoding="utf-8")


if __name__ == "__main__":
    main()
