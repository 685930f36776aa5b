"""An in-process worker inside a web app's lifespan (``Client.lifespan``).

The worker (and its scheduler) is an asyncio task on the app's own event loop, started when
the ASGI server starts the app and stopped when it shuts the app down: runs enqueued by the
app's requests wake it at once, without polling. Nothing here blocks the loop: the store's
SQLite I/O runs in its own thread, PostgreSQL is asynchronous, and the installed plugins are
imported in a thread before the first claim.

Shutdown is the one ``relaykit worker`` does on SIGTERM: stop claiming, give the attempts in
flight ``grace_seconds`` to end, then cancel them, which hands their runs back to the store
(queued, no lease) for the next worker — never marked failed. A run is never executed twice:
its completed tasks are recorded and replayed, not run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .worker import Worker

if TYPE_CHECKING:
    from ..client import Client

_log = logging.getLogger("relaykit.engine.lifespan")

#: Seconds a shutting-down app gives its runs in flight before handing them back. Shorter than
#: a standalone worker's (its lease): an ASGI server's shutdown is usually bounded (uvicorn's
#: ``--timeout-graceful-shutdown``, Kubernetes' 30 s before SIGKILL), and a run handed back
#: loses nothing, its completed tasks are recorded.
DEFAULT_GRACE_SECONDS = 10.0


@contextlib.asynccontextmanager
async def in_process_worker(
    client: Client,
    *,
    worker: bool = True,
    concurrency: int = 10,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> AsyncIterator[Worker | None]:
    """Run a worker for ``client`` (its store open already) on the current loop, unless
    ``worker=False``, and yield it (or None); on exit stop it gracefully."""
    if concurrency < 1:
        raise ValueError(f"lifespan concurrency must be at least 1, got {concurrency}")
    if grace_seconds < 0:
        raise ValueError(f"lifespan grace_seconds must be >= 0, got {grace_seconds}")
    running: Worker | None = None
    task: asyncio.Task[None] | None = None
    try:
        if worker:
            # Imported here, in a thread, rather than by the worker's first claim on the loop.
            if not client.plugins.loaded:
                await asyncio.to_thread(client.plugins.load)
            running = Worker(client, concurrency=concurrency, grace_seconds=grace_seconds)
            task = asyncio.create_task(running.run(), name=f"relaykit-worker-{client.id}")
            task.add_done_callback(_report_early_end)
        yield running
    finally:
        if running is not None and task is not None:
            running.stop()
            # an error ending it was logged by _report_early_end: shut down the rest anyway
            with contextlib.suppress(Exception):
                await task


def _report_early_end(task: asyncio.Task[None]) -> None:
    """Log a worker that ended on its own with an error (a schema newer than this code, say):
    the app goes on serving, but nothing executes runs in this process any more."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        _log.error(
            "relaykit: the in-process worker stopped: %s: %s; this process executes no more runs",
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
