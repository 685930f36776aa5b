"""``relaykit worker APP``: execute runs until stopped."""

from __future__ import annotations

import asyncio
import signal

import click

from ..engine.worker import Worker
from ._app import check_secret_key, load_client
from ._common import (
    database_option,
    print_run_summary,
    reports_errors,
    show_run_ends,
    stderr,
)
from ._render import ProgressPrinter


@click.command("worker")
@click.argument("app")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=10,
    show_default=True,
    help="Runs executed at once by this process.",
)
@click.option(
    "--exit-when-idle", is_flag=True, help="Exit once nothing is runnable and no run is leased."
)
@click.option("--quiet", is_flag=True, help="Do not print task progress.")
@database_option
@reports_errors
def worker_command(
    app: str, concurrency: int, exit_when_idle: bool, quiet: bool, database: str | None
) -> None:
    """Claim and execute APP's runs; SIGTERM/SIGINT stop it gracefully."""
    client = load_client(app)
    check_secret_key(client, "relaykit worker")
    tally = show_run_ends()  # after the app is loaded: it may have configured logging itself
    if database:
        client.use_database(database)

    async def go() -> None:
        observer = None if quiet else ProgressPrinter(stderr, show_run=True)
        worker = Worker(
            client, concurrency=concurrency, exit_when_idle=exit_when_idle, observer=observer
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        # A database that cannot be opened is one error line, no banner; one that is away
        # for now is waited for (one warning line per try) unless --exit-when-idle.
        if not await worker.open_store():
            return
        stderr.print(
            f"[dim]relaykit worker for {client.id!r} on {client.store.url} "
            f"(concurrency {concurrency}, jobs: {', '.join(client.jobs) or 'none'})[/]"
        )
        try:
            await worker.run()
        finally:
            await client.close()
        stderr.print(f"[dim]worker stopped after {worker.executed} attempt(s)[/]")
        print_run_summary(tally)

    asyncio.run(go())
