"""``relaykit runs bulk cancel|replay|retry``: one action on every run matching filters
(``Operations.bulk``), after a dry-run count and a confirmation."""

from __future__ import annotations

import sys

import click

from .._base.clock import SystemClock
from ..engine.operations import BULK_ACTIONS, Operations
from ..engine.resources import BulkResult
from ..errors import ConfigurationError
from ..records import RunStatus
from ..store import Store
from ._common import (
    CliError,
    database_option,
    on_store,
    parse_since,
    print_json,
    reports_errors,
    stdout,
)

_STATUSES = [s.value for s in RunStatus]


def _describe(result: BulkResult) -> str:
    verb = {"cancel": "canceled", "replay": "replayed", "retry": "retried"}[result.action]
    head = (
        f"{result.matched} runs match"
        if result.dry_run
        else f"{result.matched} runs matched, {result.done} {verb}"
    )
    parts = [head]
    if result.skipped:
        how = "would be skipped" if result.dry_run else "skipped"
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(result.skipped.items()))
        parts.append(f"{how}: {reasons}")
    if result.capped:
        parts.append(f"capped at {result.cap} runs: run it again for the rest")
    return "; ".join(parts)


@click.command("bulk")
@click.argument("action", type=click.Choice(BULK_ACTIONS))
@click.option("--job", default=None, help="Only runs of this job id.")
@click.option("--status", type=click.Choice(_STATUSES), default=None, help="Only this status.")
@click.option("--tag", default=None, help="Only runs with this tag.")
@click.option("--version", "version", default=None, help="Only runs of this job version.")
@click.option("--since", default=None, metavar="AGE|DATE", help="Only runs created since.")
@click.option("--until", default=None, metavar="AGE|DATE", help="Only runs created until.")
@click.option("--dry-run", "dry_run", is_flag=True, help="Count the runs; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result object.")
@database_option
@reports_errors
def bulk_command(
    action: str,
    job: str | None,
    status: str | None,
    tag: str | None,
    version: str | None,
    since: str | None,
    until: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    database: str | None,
) -> None:
    """Cancel, replay or retry every run matching the filters (at most 10,000 per call).
    Without --yes it shows how many runs match and asks first (refused when stdin is not a
    terminal)."""

    now = SystemClock().now()
    since_at = None if since is None else parse_since(since, now)
    until_at = None if until is None else parse_since(until, now, "--until")

    def call(dry: bool) -> BulkResult:
        async def go(store: Store) -> BulkResult:
            ops = Operations(store, clock=SystemClock())
            try:
                return await ops.bulk(
                    action,
                    job=job,
                    status=status,
                    tag=tag,
                    version=version,
                    since=since_at,
                    until=until_at,
                    dry_run=dry,
                )
            except ConfigurationError as exc:
                raise CliError(str(exc)) from exc

        return on_store(database, go, create=False)

    if not (dry_run or yes):
        preview = call(True)
        if not sys.stdin.isatty():
            raise CliError(
                f"{_describe(preview)}; stdin is not a terminal: pass --yes to {action} them"
            )
        stdout.print(_describe(preview), soft_wrap=True, markup=False)
        if preview.matched == 0:
            return
        if not click.confirm(f"{action} {preview.matched - sum(preview.skipped.values())} runs?"):
            raise CliError("nothing changed")
    result = call(dry_run)
    if as_json:
        print_json(result.to_json())
    else:
        stdout.print(_describe(result), soft_wrap=True, markup=False)
