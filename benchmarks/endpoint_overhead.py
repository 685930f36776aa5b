"""Endpoint mode against in-process execution: per-task overhead and requests per run.

    python3 benchmarks/endpoint_overhead.py [--tasks 200] [--runs 50] [--rounds 3]

Both sides run the same job on a fresh SQLite file: in-process (``client.run``, the runner
in this process) and in endpoint mode (the same job's ``client.endpoint()`` under uvicorn on
loopback in a thread of this process, driven over signed HTTP by a relaykit client holding the
described job). Workloads: one run of ``--tasks`` sequential no-op tasks (µs per task), and
``--runs`` runs of 3 no-op tasks one after another (ms per run). Requests per run are counted
by the relaykit side (``RemoteEndpoint.requests``, less the describe). Prints one JSON object
of medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from relaykit import Client
from relaykit.engine.remote import RemoteEndpoint

SECRET = secrets.token_urlsafe(32)  # both sides live in this process


def make_app_client() -> Client:
    client = Client(id="bench")

    async def noop(i: int) -> int:
        return i

    @client.define_job(id="tasks", version="1.0.0")
    async def tasks(payload: Any, io: Any, ctx: Any) -> int:
        for i in range(int(payload["n"])):
            await io.run_task(f"t-{i}", noop, i)
        return int(payload["n"])

    return client


def serve(app: Any) -> tuple[uvicorn.Server, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{port}/"


async def in_process(db: Path, n: int, runs: int) -> dict[str, float]:
    client = make_app_client()
    client.use_database(f"sqlite:///{db}")
    try:
        await client.run("tasks", {"n": 1})  # warm up: store opened and migrated, plugins
        started = time.perf_counter()
        result = await client.run("tasks", {"n": n})
        one = time.perf_counter() - started
        assert result.status == "succeeded", result.error
        started = time.perf_counter()
        for _ in range(runs):
            await client.run("tasks", {"n": 3})
        many = time.perf_counter() - started
    finally:
        await client.close()
    return {"us_per_task": one / n * 1e6, "ms_per_run": many / runs * 1e3, "requests_per_run": 0}


async def endpoint(db: Path, url: str, n: int, runs: int) -> dict[str, float]:
    remote = RemoteEndpoint(url, secret=SECRET)
    client_id, jobs = await remote.describe()
    relay = Client(id=client_id, database_url=f"sqlite:///{db}")
    relay.add_remote_jobs(jobs)
    try:
        await relay.run("tasks", {"n": 1})  # warm up, as in_process does
        before = remote.requests
        started = time.perf_counter()
        result = await relay.run("tasks", {"n": n})
        one = time.perf_counter() - started
        assert result.status == "succeeded", result.error
        one_requests = remote.requests - before
        before = remote.requests
        started = time.perf_counter()
        for _ in range(runs):
            await relay.run("tasks", {"n": 3})
        many = time.perf_counter() - started
        many_requests = (remote.requests - before) / runs
    finally:
        await relay.close()
        await remote.aclose()
    return {
        "us_per_task": one / n * 1e6,
        "ms_per_run": many / runs * 1e3,
        "requests_per_run": many_requests,
        "requests_one_run": one_requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    args = parser.parse_args()
    os.environ["RELAYKIT_ENDPOINT_SECRET"] = SECRET
    server, url = serve(make_app_client().endpoint())
    results: dict[str, list[dict[str, float]]] = {"in_process": [], "endpoint": []}
    try:
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                results["in_process"].append(
                    asyncio.run(in_process(Path(tmp) / "a.db", args.tasks, args.runs))
                )
                results["endpoint"].append(
                    asyncio.run(endpoint(Path(tmp) / "b.db", url, args.tasks, args.runs))
                )
    finally:
        server.should_exit = True
    summary = {
        side: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        for side, rows in results.items()
    }
    print(json.dumps({"tasks": args.tasks, "runs": args.runs, **summary}, indent=2))
    if args.figures:
        local, remote = summary["in_process"], summary["endpoint"]
        figures = [
            {
                "figure": f"endpoint mode, per task (one run of {args.tasks} no-op tasks)",
                "relaykit": round(remote["us_per_task"], 1),
                "unit": "µs",
                "better": "lower",
            },
            {
                "figure": "the same run in-process (client.run), per task",
                "relaykit": round(local["us_per_task"], 1),
                "unit": "µs",
                "better": "lower",
            },
            {
                "figure": "endpoint mode, requests per run of 3 inline tasks",
                "relaykit": remote["requests_per_run"],
                "unit": "",
                "better": "lower",
                "target": 1,
            },
        ]
        Path(args.figures).write_text(json.dumps(figures), encoding="utf-8")


if __name__ == "__main__":
    main()
