"""``relaykit runs list|show|cancel|replay|retry`` (``bulk`` is in ``_bulk``): inspect and
control stored runs (no APP needed).

Each command calls ``relaykit.engine.operations`` on the store; ``--json`` prints the same
``relaykit.engine.resources`` objects the HTTP API answers with.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable

import click
from rich.console import Console

from .._base.clock import SystemClock
from ..engine.operations import MAX_LIMIT, Canceled, Operations, RunLabels
from ..engine.resources import RunDetail, RunPage
from ..errors import InvalidCursor
from ..records import RunRecord, RunResult, RunStatus
from ..store import Store
from ._common import (
    EXIT_RUN_NOT_SUCCEEDED,
    CliError,
    database_option,
    describe_database,
    existing_database,
    on_store,
    parse_since,
    print_json,
    reports_errors,
    stderr,
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
@click.option("--version", "version", default=None, help="Only runs of this job version.")
@click.option(
    "--since",
    default=None,
    metavar="AGE|DATE",
    help="Only runs created since: an age (30s, 10m, 2h, 3d) or an ISO date/time.",
)
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
    version: str | None,
    since: str | None,
    limit: int,
    cursor: str | None,
    tag: str | None,
    as_json: bool,
    database: str | None,
) -> None:
    """List runs, newest first, a page at a time (full ids; `runs show` also takes a
    unique prefix of one). The database used is named on stderr."""
    clock = SystemClock()
    since_at = None if since is None else parse_since(since, clock.now())

    async def go(store: Store) -> tuple[RunPage, list[RunResult]]:
        ops = _ops(store)
        try:
            page = await ops.list_runs(
                job=job,
                status=status,
                cursor=cursor,
                limit=limit,
                since=since_at,
                version=version,
                tag=tag,
            )
        except InvalidCursor as exc:
            raise CliError(str(exc)) from exc
        return page, [await ops.result(r.id) for r in page.data] if not as_json else []

    url = existing_database(database)
    page, results = on_store(url, go)
    stderr.print(f"database: {describe_database(url)}", soft_wrap=True)
    if as_json:
        print_json(page.to_json())
        return
    if results:
        # Piped output has no width to fit: never cut a column for it.
        wide = stdout if stdout.is_terminal else Console(highlight=False, width=200)
        wide.print(runs_table(results))
    else:
        stdout.print("no runs")
    if page.next_cursor is not None:
        stdout.print(f"more: --cursor {page.next_cursor}", soft_wrap=True)


_RUN_ARG = click.argument("run_id", metavar="RUN")


@runs_group.command("show")
@_RUN_ARG
@click.option("--json", "as_json", is_flag=True, help="Print the run object as one JSON line.")
@database_option
@reports_errors
def show_run(run_id: str, as_json: bool, database: str | None) -> None:
    """Show a run (RUN: its id, or a unique prefix of it): its task tree with timings, logs,
    output or error."""

    async def go(store: Store) -> RunDetail | tuple[RunResult, RunLabels]:
        ops = _ops(store)
        found = await ops.resolve_run_id(run_id)
        if as_json:
            return await ops.get_run(found)
        return await ops.result(found), await ops.run_labels(found)

    shown = on_store(database, go, create=False)
    if isinstance(shown, RunDetail):
        print_json(shown.to_json())
        return
    result, labels = shown
    print_result(stdout, result)
    if labels.retry_of:
        stdout.print(f"retry of: {labels.retry_of}", soft_wrap=True, markup=False)
    if labels.tags:
        stdout.print(f"tags: {', '.join(labels.tags)}", soft_wrap=True, markup=False)
    if labels.metadata:
        text = json.dumps(labels.metadata, ensure_ascii=False)
        stdout.print(f"metadata: {text}", soft_wrap=True, markup=False)


@runs_group.command("cancel")
@_RUN_ARG
@click.option("--json", "as_json", is_flag=True, help="Print the run object as one JSON line.")
@database_option
@reports_errors
def cancel_run(run_id: str, as_json: bool, database: str | None) -> None:
    """Cancel a run that has not ended (queued, running or waiting); RUN is its id or a
    unique prefix of it."""

    async def go(store: Store) -> Canceled:
        ops = _ops(store)
        return await ops.cancel_run(await ops.resolve_run_id(run_id))

    done = on_store(database, go, create=False)
    full = done.run.id
    if as_json:
        print_json(done.run.to_json())
    if not done.canceled:
        if not as_json:
            raise CliError(f"run {full} already ended ({done.run.status}); nothing to cancel")
        sys.exit(EXIT_RUN_NOT_SUCCEEDED)
    if not as_json:
        stdout.print(f"canceled run {full}")


@runs_group.command("replay")
@_RUN_ARG
@click.option(
    "--payload",
    "payload_text",
    default=None,
    help="Replay it with this JSON payload instead (@FILE reads a file, - reads stdin).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new run object.")
@database_option
@reports_errors
def replay_run(run_id: str, payload_text: str | None, as_json: bool, database: str | None) -> None:
    """Enqueue a new run of the same job with the same payload, or an edited one (a worker
    executes it); RUN is its id or a unique prefix of it."""
    from ._common import parse_payload

    extra = {} if payload_text is None else {"payload": parse_payload(payload_text)}

    _start_from(database, run_id, as_json, lambda ops, found: ops.replay_run(found, **extra))


@runs_group.command("retry")
@_RUN_ARG
@click.option(
    "--from-task",
    "from_task",
    default=None,
    help="Fork from this task key: keep only the tasks completed before it.",
)
@click.option(
    "--payload",
    "payload_text",
    default=None,
    help="Run it with this JSON payload (@FILE reads a file, - reads stdin).",
)
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
    old run stays as it was. RUN is its id or a unique prefix of it. Prints the new run's
    id."""
    from ._common import parse_payload

    extra = {} if payload_text is None else {"payload": parse_payload(payload_text)}

    _start_from(
        database,
        run_id,
        as_json,
        lambda ops, found: ops.retry_run(found, from_task=from_task, **extra),
    )


def _start_from(
    database: str | None,
    run_id: str,
    as_json: bool,
    start: Callable[[Operations, str], Awaitable[RunRecord]],
) -> None:
    """``runs replay`` and ``runs retry``: resolve RUN (an id or a unique prefix), start the
    new run from it, and print the new run's id (or, with ``--json``, its run object)."""

    async def go(store: Store) -> str | dict[str, object]:
        ops = _ops(store)
        new = await start(ops, await ops.resolve_run_id(run_id))
        return (await ops.get_run(new.id)).to_json() if as_json else new.id

    shown = on_store(database, go, create=False)
    if as_json:
        print_json(shown)
    else:
        stdout.print(shown)


def _add_bulk() -> None:
    from ._bulk import bulk_command

    runs_group.add_command(bulk_command, "bulk")


_add_bulk()
