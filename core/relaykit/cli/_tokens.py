"""``relaykit tokens list|show|complete``: waitpoint tokens (``io.create_token``), no APP
needed. Each command calls ``relaykit.engine.operations`` on the store; ``--json`` prints the
``Token`` resource the HTTP API answers with."""

from __future__ import annotations

import json

import click

from .._base.clock import SystemClock
from .._base.serde import parse_json
from ..engine.operations import MAX_LIMIT, Operations
from ..engine.resources import Token
from ..errors import JsonTooDeep
from ..store import Store
from ._common import CliError, database_option, on_store, print_json, reports_errors, stdout


def _ops(store: Store) -> Operations:
    return Operations(store, clock=SystemClock())


def _when(token: Token) -> str:
    if token.status == "completed" and token.completed_at is not None:
        return f"completed {token.completed_at:%Y-%m-%d %H:%M:%S} UTC"
    if token.expires_at is None:
        return "no timeout"
    verb = "timed out" if token.status == "timed_out" else "times out"
    return f"{verb} {token.expires_at:%Y-%m-%d %H:%M:%S} UTC"


@click.group("tokens")
def tokens_group() -> None:
    """Waitpoint tokens: list them, and complete one to resume the run waiting for it."""


@tokens_group.command("list")
@click.option("--run", "run_id", default=None, help="Only tokens of this run id.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"data": [tokens]} as one line.')
@database_option
@reports_errors
def list_tokens(run_id: str | None, limit: int, as_json: bool, database: str | None) -> None:
    """List waitpoint tokens, newest first."""
    found = on_store(database, lambda store: _ops(store).list_tokens(run_id=run_id, limit=limit))
    if as_json:
        print_json(found.to_json())
        return
    if not found.data:
        stdout.print("no tokens")
    for t in found.data:
        tags = f"  [{', '.join(t.tags)}]" if t.tags else ""
        stdout.print(
            f"{t.id}  {t.status:<9}  run {t.run_id}  {t.task_key}  {_when(t)}{tags}",
            soft_wrap=True,
            markup=False,
        )


@tokens_group.command("show")
@click.argument("token_id", metavar="TOKEN")
@click.option("--json", "as_json", is_flag=True, help="Print the token as one JSON line.")
@database_option
@reports_errors
def show_token(token_id: str, as_json: bool, database: str | None) -> None:
    """Show a waitpoint token: status, run, data and signed callback URL."""
    token = on_store(database, lambda store: _ops(store).get_token(token_id))
    if as_json:
        print_json(token.to_json())
        return
    lines = [
        f"{token.id}  {token.status}",
        f"run:  {token.run_id}  (task {token.task_key})",
        f"when: {_when(token)}",
        f"tags: {', '.join(token.tags) or '-'}",
        f"data: {json.dumps(token.data)}",
        f"url:  {token.url or '- (set RELAYKIT_SECRET_KEY to sign callback URLs)'}",
    ]
    for line in lines:
        stdout.print(line, soft_wrap=True, markup=False)


@tokens_group.command("complete")
@click.argument("token_id", metavar="TOKEN")
@click.option("--data", "data_text", default=None, help="The data, as JSON (default: null).")
@click.option("--json", "as_json", is_flag=True, help="Print the completed token.")
@database_option
@reports_errors
def complete_token(
    token_id: str, data_text: str | None, as_json: bool, database: str | None
) -> None:
    """Complete waitpoint token TOKEN with --data: the run waiting for it resumes (a worker
    executes it). A token completes once: completing it again is an error."""
    data = None
    if data_text is not None:
        try:
            data = parse_json(data_text, what="--data")
        except JsonTooDeep as exc:
            raise CliError(exc.message) from exc
        except ValueError as exc:
            raise CliError(
                f"--data is not valid JSON ({exc}); pass e.g. --data '{{\"approved\": true}}'"
            ) from exc
    token = on_store(database, lambda store: _ops(store).complete_token(token_id, data))
    if as_json:
        print_json(token.to_json())
    else:
        stdout.print(
            f"completed token {token.id} (run {token.run_id})", markup=False, soft_wrap=True
        )
