"""``relaykit run APP JOB``: create a run and execute it here until it ends."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import click

from ..client import Client
from ..definitions.triggers import CronTrigger, IntervalTrigger
from ..records import RunResult, RunStatus
from ._app import load_client
from ._common import (
    EXIT_RUN_NOT_SUCCEEDED,
    PAYLOAD_HELP,
    database_option,
    parse_payload,
    print_json,
    reports_errors,
    stderr,
    stdout,
)
from ._render import ProgressPrinter, print_result

EXIT_INTERRUPTED = 130


@click.command("run")
@click.argument("app")
@click.argument("job")
@click.option(
    "--payload",
    default=None,
    metavar="JSON|@FILE|-",
    help=PAYLOAD_HELP + " Default for a cron or interval job: the payload a fire now gets.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as one JSON line.")
@click.option("--detach", is_flag=True, help="Only enqueue the run (a worker executes it).")
@database_option
@reports_errors
def run_command(
    app: str, job: str, payload: str | None, as_json: bool, detach: bool, database: str | None
) -> None:
    """Run JOB of APP to completion in this process and print the result.

    Waits are honoured (the process sleeps until the run is due). Exit code 0 only when the
    run succeeded; 1 when it ended otherwise; 2 when no run could be created.
    """
    data = parse_payload(payload)
    client = load_client(app)
    if database:
        client.use_database(database)
    target = client.get_job(job)
    if payload is None and isinstance(target.trigger, CronTrigger | IntervalTrigger):
        # what a fire now would get (Operations.example_payload gives the dashboard the same)
        data = target.trigger.manual_payload(client.clock.now())
    if detach:
        run_id = asyncio.run(_enqueue(client, target.id, data))
        if as_json:
            print_json({"id": run_id})
        else:
            stdout.print(run_id)
        return
    # Under --json, stdout carries the run object and nothing else: whatever the job's own
    # code prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        result = asyncio.run(_drive(client, target.id, data))
    if as_json:
        print_json(asyncio.run(_detail(client, result.id)))
    else:
        print_result(stdout, result)
    if result.status is not RunStatus.SUCCEEDED:
        sys.exit(EXIT_RUN_NOT_SUCCEEDED)


async def _enqueue(client: Client, job_id: str, data: object) -> str:
    """``client.enqueue``, then close the store: an open one keeps its SQLite I/O thread
    running and leaves the write-ahead log unmerged (found by the in-process CLI tests)."""
    try:
        return await client.enqueue(job_id, data)
    finally:
        await client.close()


async def _detail(client: Client, run_id: str) -> dict[str, object]:
    """The run as the API and ``runs show --json`` show it (``engine.resources.RunDetail``)."""
    try:
        return (await (await client.operations()).get_run(run_id)).to_json()
    finally:
        await client.close()


async def _drive(client: Client, job_id: str, data: object) -> RunResult:
    """``client.run`` with the CLI's live view; Ctrl-C / SIGTERM hand the run back."""
    created: list[str] = []

    def announce(run_id: str) -> None:
        created.append(run_id)
        stderr.print(f"[dim]run {run_id} of {job_id} created[/]")

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    assert task is not None  # noqa: S101 -- inside asyncio.run
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await client.run(job_id, data, observer=ProgressPrinter(stderr), on_created=announce)
    except asyncio.CancelledError:
        if not created:
            raise
        stderr.print(f"interrupted: run {created[0]} is saved; `relaykit worker` resumes it")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        if not created:
            raise
        # the run exists: report the error, then the run as it is stored
        stderr.print(f"relaykit: error while executing run {created[0]}: {exc}")
        return await client.get_run(created[0])
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await client.close()
