"""``relaykit runs list|show|cancel|replay``: inspect and control stored runs (no APP needed).

Each command calls ``relaykit.engine.operations`` on the store; ``--json`` prints the same
``relaykit.engine.resources`` objects the HTTP API answers with.
"""

from __future__ import annotations

import json
import sys

import click

from .._base.clock import SystemClock
from ..engine.operations import MAX_LIMIT, Operations
from ..engine.resources import RunPage
from ..errors import InvalidCursor
from ..records import RunResult, RunStatus
from ..store import Store
from ._common import (
    EXIT_RUN_NOT_SUCCEEDED,
    CliError,
    database_option,
    on_store,
    print_json,
    reports_errors,
    stdout,
)
from ._render import print_result, runs_table

_STATUSES = [s.value for s in RunStatus]


def _ops(store: Store) -> Operations:
    """The operations without an app: replays are allowed for any stored run."""
    return Operations(store, clock=SystemClock())


@click.group("runs")
def runs_group() -> None:
    """Inspect and control runs."""


@runs_group.command("list")
@click.option("--job", default=None, help="Only runs of this job id.")
@click.option("--status", type=click.Choice(_STATUSES), default=None, help="Only this status.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=50, show_default=True)
@click.option(
    "--cursor", default=None, help="The next page: a previous page's next_cursor (see --json)."
)
@click.option("--tag", default=None, help="Only runs with this tag.")
@click.option(
    "--json", "as_json", is_flag=True, help='Print the page: {"data": [runs], "next_cursor"}.'
)
@database_option
@reports_errors
def list_runs(
    job: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    tag: str | None,
    as_json: bool,
    database: str | None,
) -> None:
    """List runs, newest first, a page at a time."""

    async def go(store: Store) -> tuple[RunPage, list[RunResult]]:
        ops = _ops(store)
        try:
            page = await ops.list_runs(job=job, status=status, cursor=cursor, limit=limit, tag=tag)
        except InvalidCursor as exc:
            raise CliError(str(exc)) from exc
        return page, [await ops.result(r.id) for r in page.data] if not as_json else []

    page, results = on_store(database, go)
    if as_json:
        print_json(page.to_json())
        return
    if results:
        stdout.print(runs_table(results))
    else:
        stdout.print("no runs")
    if page.next_cursor is not None:
        stdout.print(f"more: --cursor {page.next_cursor}", soft_wrap=True)


@runs_group.command("show")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the run object as one JSON line.")
@database_option
@reports_errors
def show_run(run_id: str, as_json: bool, database: str | None) -> None:
    """Show a run: its task tree with timings, logs, output or error."""
    if as_json:
        print_json(on_store(database, lambda store: _ops(store).get_run(run_id)).to_json())
    else:
        print_result(stdout, on_store(database, lambda store: _ops(store).result(run_id)))
        detail = on_store(database, lambda store: _ops(store).get_run(run_id))
        if detail.retry_of:
            stdout.print(f"retry of: {detail.retry_of}", soft_wrap=True, markup=False)
        if detail.tags:
            stdout.print(f"tags: {', '.join(detail.tags)}", soft_wrap=True, markup=False)
        if detail.metadata:
            text = json.dumps(detail.metadata, ensure_ascii=False)
            stdout.print(f"metadata: {text}", soft_wrap=True, markup=False)


@runs_group.command("cancel")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the run object as one JSON line.")
@database_option
@reports_errors
def cancel_run(run_id: str, as_json: bool, database: str | None) -> None:
    """Cancel a run that has not ended (queued, running or waiting)."""
    done = on_store(database, lambda store: _ops(store).cancel_run(run_id))
    if as_json:
        print_json(done.run.to_json())
    if not done.canceled:
        if not as_json:
            raise CliError(f"run {run_id} already ended ({done.run.status}); nothing to cancel")
        sys.exit(EXIT_RUN_NOT_SUCCEEDED)
    if not as_json:
        stdout.print(f"canceled run {run_id}")


@runs_group.command("replay")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the new run object.")
@database_option
@reports_errors
def replay_run(run_id: str, as_json: bool, database: str | None) -> None:
    """Enqueue a new run of the same job with the same payload (a worker executes it)."""

    async def go(store: Store) -> str:
        return (await _ops(store).replay_run(run_id)).id

    async def go_json(store: Store) -> dict[str, object]:
        ops = _ops(store)
        return (await ops.get_run((await ops.replay_run(run_id)).id)).to_json()

    if as_json:
        print_json(on_store(database, go_json))
    else:
        stdout.print(on_store(database, go))


@runs_group.command("retry")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--from-task",
    "from_task",
    default=None,
    help="Fork from this task key: keep only the tasks completed before it.",
)
@click.option("--payload", "payload_text", default=None, help="Run it with this JSON payload.")
@click.option("--json", "as_json", is_flag=True, help="Print the new run object.")
@database_option
@reports_errors
def retry_run(
    run_id: str,
    from_task: str | None,
    payload_text: str | None,
    as_json: bool,
    database: str | None,
) -> None:
    """Enqueue a new run resuming a failed or canceled run where it stopped: its completed
    tasks replay from their outputs, the failed task and everything after run again. The
    old run stays as it was. Prints the new run's id."""
    from ._common import parse_payload

    extra = {} if payload_text is None else {"payload": parse_payload(payload_text)}

    async def go(store: Store) -> str:
        return (await _ops(store).retry_run(run_id, from_task=from_task, **extra)).id

    async def go_json(store: Store) -> dict[str, object]:
        ops = _ops(store)
        new = await ops.retry_run(run_id, from_task=from_task, **extra)
        return (await ops.get_run(new.id)).to_json()

    if as_json:
        print_json(on_store(database, go_json))
    else:
        stdout.print(on_store(database, go))
