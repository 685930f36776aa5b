"""``relaykit runs list|show|cancel|replay``: inspect and control stored runs (no APP needed)."""

from __future__ import annotations

import sys

import click

from .._base.clock import SystemClock, new_id
from ..errors import UnknownRun
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


@click.group("runs")
def runs_group() -> None:
    """Inspect and control runs."""


async def _result(store: Store, run_id: str) -> RunResult:
    run = await store.get_run(run_id)
    if run is None:
        raise UnknownRun(
            f"no run {run_id!r} in {store.url}; run `relaykit runs list` to see recent runs"
        )
    return RunResult.from_records(
        run, await store.load_tasks(run_id), await store.load_logs(run_id)
    )


@runs_group.command("list")
@click.option("--job", default=None, help="Only runs of this job id.")
@click.option("--status", type=click.Choice(_STATUSES), default=None, help="Only this status.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of run objects.")
@database_option
@reports_errors
def list_runs(
    job: str | None, status: str | None, limit: int, as_json: bool, database: str | None
) -> None:
    """List runs, newest first."""

    async def go(store: Store) -> list[RunResult]:
        runs = await store.list_runs(job_id=job, status=status, limit=limit)
        return [RunResult.from_records(r) for r in runs]

    results = on_store(database, go)
    if as_json:
        print_json([r.to_dict(with_tasks=False) for r in results])
    elif results:
        stdout.print(runs_table(results))
    else:
        stdout.print("no runs")


@runs_group.command("show")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the run object as one JSON line.")
@database_option
@reports_errors
def show_run(run_id: str, as_json: bool, database: str | None) -> None:
    """Show a run: its task tree with timings, logs, output or error."""

    result = on_store(database, lambda store: _result(store, run_id))
    if as_json:
        print_json(result.to_dict())
    else:
        print_result(stdout, result)


@runs_group.command("cancel")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the run object as one JSON line.")
@database_option
@reports_errors
def cancel_run(run_id: str, as_json: bool, database: str | None) -> None:
    """Cancel a run that has not ended (queued, running or waiting)."""

    async def go(store: Store) -> tuple[RunResult, bool]:
        before = await _result(store, run_id)
        if before.status.is_terminal:
            return before, False
        await store.cancel_run(run_id, now=SystemClock().now())
        return await _result(store, run_id), True

    result, changed = on_store(database, go)
    if as_json:
        print_json(result.to_dict())
    if not changed:
        if not as_json:
            raise CliError(f"run {run_id} already ended ({result.status}); nothing to cancel")
        sys.exit(EXIT_RUN_NOT_SUCCEEDED)
    if not as_json:
        stdout.print(f"canceled run {run_id}")


@runs_group.command("replay")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help='Print {"id": NEW_RUN_ID}.')
@database_option
@reports_errors
def replay_run(run_id: str, as_json: bool, database: str | None) -> None:
    """Enqueue a new run of the same job with the same payload (a worker executes it)."""

    async def go(store: Store) -> str:
        now = SystemClock().now()
        new = await store.replay_run(run_id, new_id=new_id("run", now), now=now)
        if new is None:
            raise UnknownRun(f"no run {run_id!r} in {store.url}; see `relaykit runs list`")
        return new.id

    new_id_ = on_store(database, go)
    if as_json:
        print_json({"id": new_id_})
    else:
        stdout.print(new_id_)
