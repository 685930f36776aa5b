"""Event → run-start latency with an idle worker in the same process.

    python3 benchmarks/event_latency.py [--events 300] [--sqlite-mode normal|full]

A worker idles (nothing due; its poll interval is 1 s). Each iteration sends an event with
``client.send_event``; the event is stored and routed to its job's run in one transaction, the
in-process worker is woken (not left to its poll interval), claims the run and calls the run
function, which notes the time. Prints p50/p90/p99/max of send → run-function start, in ms.
Target (issue 3): p50 ≤ 5 ms on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

from relaykit import Client, Worker, event_trigger


async def measure(db: str, mode: str, events: int) -> list[float]:
    """Latencies in ms, one per event."""
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
    for n in range(events + 10):
        arrived.clear()
        sent = time.perf_counter()
        await client.send_event("ping", {"n": n})
        await asyncio.wait_for(arrived.wait(), timeout=10)
        if n >= 10:  # the first few warm caches up
            latencies.append((started[n] - sent) * 1000)
        await asyncio.sleep(0.002)  # let the run finish: the worker is idle again
    worker.stop()
    await runner
    await client.close()
    return latencies


def main() -> None:
    """Run and print the percentiles."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--sqlite-mode", choices=["normal", "full"], default="normal")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lat = asyncio.run(measure(os.path.join(tmp, "db.sqlite"), args.sqlite_mode, args.events))
    q = statistics.quantiles(lat, n=100)
    print(
        f"event -> run start, SQLite {args.sqlite_mode}, {len(lat)} events: "
        f"p50 {q[49]:.2f} ms  p90 {q[89]:.2f} ms  p99 {q[98]:.2f} ms  max {max(lat):.2f} ms"
    )
    print(f"target p50 <= 5 ms: {'met' if q[49] <= 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
