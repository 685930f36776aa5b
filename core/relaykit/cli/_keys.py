"""``relaykit keys create|list|revoke`` and ``relaykit users create``: who may use the HTTP
API and the dashboard. Only hashes are stored; a new key is printed once."""

from __future__ import annotations

import sys

import click

from .._base.clock import SystemClock
from ..store import Store
from ._common import CliError, database_option, on_store, print_json, reports_errors, stdout


@click.group("keys")
def keys_group() -> None:
    """Manage API keys (for the HTTP API's Authorization header, or a dashboard login)."""


@keys_group.command("create")
@click.option("--name", default="default", show_default=True, help="A label for the key.")
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "name", "key"}.')
@database_option
@reports_errors
def create_key(name: str, as_json: bool, database: str | None) -> None:
    """Make an API key and print it (this is the only time it is shown)."""

    from ..server import Access  # the HTTP layer loads only for the commands using it

    async def go(store: Store) -> tuple[str, str]:
        new = await Access(store, SystemClock()).create_key(name)
        return new.record.id, new.secret

    key_id, secret = on_store(database, go)
    if as_json:
        print_json({"id": key_id, "name": name, "key": secret})
        return
    stdout.print(secret, soft_wrap=True)
    click.echo(f"key {key_id} ({name}): store it now, it is not shown again", err=True)


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@database_option
@reports_errors
def list_keys(as_json: bool, database: str | None) -> None:
    """List API keys (ids and names only; the keys themselves are not stored)."""
    keys = on_store(database, lambda store: store.list_api_keys())
    rows = [
        {
            "id": k.id,
            "name": k.name,
            "created_at": k.created_at,
            "revoked": k.revoked_at is not None,
        }
        for k in keys
    ]
    if as_json:
        print_json(rows)
    elif not rows:
        stdout.print("no API keys; make one with `relaykit keys create`")
    for r in [] if as_json else rows:
        stdout.print(f"{r['id']}  {r['name']}{'  (revoked)' if r['revoked'] else ''}")


@keys_group.command("revoke")
@click.argument("key_id", metavar="KEY_ID")
@database_option
@reports_errors
def revoke_key(key_id: str, database: str | None) -> None:
    """Revoke an API key by id (see `relaykit keys list`)."""
    done = on_store(database, lambda store: store.revoke_api_key(key_id, now=SystemClock().now()))
    if not done:
        raise CliError(f"no active API key {key_id!r}; see `relaykit keys list`")
    stdout.print(f"revoked key {key_id}")


@click.group("users")
def users_group() -> None:
    """Manage dashboard users."""


@users_group.command("create")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@database_option
@reports_errors
def create_user(name: str, password_stdin: bool, database: str | None) -> None:
    """Make a dashboard user NAME (the password is prompted for, or read from stdin)."""
    if not name.strip() or not name.isprintable():
        raise CliError(f"user name {name!r} must be printable and not empty")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise CliError("the password must have at least 8 characters")

    from ..server import Access

    created = on_store(
        database, lambda store: Access(store, SystemClock()).create_user(name, password)
    )
    if not created:
        raise CliError(f"a user named {name!r} exists already; pick another name")
    stdout.print(f"created user {name}")
