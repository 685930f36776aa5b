"""``relaykit plugins``, ``relaykit connect`` and ``relaykit connections``."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from .._base.secrets import SecretBox
from ..integrations.auth import Connections, Credentials, authorization_request, exchange_code
from ..integrations.plugins import ALLOW_ENV, BLOCK_ENV, Plugins
from ..store import Store
from ._common import (
    CliError,
    database_option,
    on_store,
    print_json,
    reports_errors,
    run_async,
    stderr,
    stdout,
)
from ._oauth_callback import CallbackServer


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def plugins_command(as_json: bool) -> None:
    """List installed plugins: version, integrations and hooks.

    RELAYKIT_PLUGINS (allow list) and RELAYKIT_DISABLE_PLUGINS (block list) choose which load.
    """
    plugins = Plugins()
    found = plugins.list()
    if as_json:
        print_json(
            {
                "plugins": [p.as_json() for p in found],
                "errors": [e.as_json() for e in plugins.errors],
            }
        )
        return
    if not found:
        stdout.print(f"no plugins loaded (see {ALLOW_ENV} / {BLOCK_ENV})")
    else:
        table = Table("name", "version", "integrations", "hooks", box=None)
        for p in found:
            table.add_row(
                p.name, p.version or "-", ", ".join(p.integrations) or "-", ", ".join(p.hooks)
            )
        stdout.print(table)
    for problem in plugins.errors:
        stderr.print(f"plugin {problem.name} was not loaded: {problem.error}")


@click.command("connect")
@click.argument("integration_id", metavar="ID")
@click.option(
    "--token-stdin", is_flag=True, help="Read an API token from stdin and store it (encrypted)."
)
@click.option(
    "--integration",
    "slug",
    default=None,
    help="The installed integration (plugin slug) to authorize with OAuth2; default: ID.",
)
@click.option("--port", type=int, default=0, help="Port of the local OAuth2 redirect (0: any).")
@click.option("--timeout", type=float, default=300.0, help="Seconds to wait for the redirect.")
@click.option("--delete", is_flag=True, help="Forget the stored connection.")
@click.option(
    "--app",
    "app",
    default=None,
    metavar="APP",
    help="Check that APP's jobs declare the integration instance ID (and say which they do).",
)
@database_option
@reports_errors
def connect_command(
    integration_id: str,
    token_stdin: bool,
    slug: str | None,
    port: int,
    timeout: float,
    delete: bool,
    app: str | None,
    database: str | None,
) -> None:
    """Store the credentials of the integration instance ID, encrypted with
    RELAYKIT_SECRET_KEY: an API token (`printenv TOKEN | relaykit connect github
    --token-stdin`) or, for an OAuth2 integration, the token from the authorization code flow
    (PKCE; the browser is redirected to a local 127.0.0.1 address)."""
    if app is not None:
        _check_declared(app, integration_id)
    box = SecretBox.from_env()  # fail before reading anything when no key is configured

    def connections(store: Store) -> Connections:
        return Connections(store, clock=time.time, box=lambda: box)

    if delete:
        gone = on_store(database, lambda store: connections(store).delete(integration_id))
        stdout.print(f"connection {integration_id!r} {'deleted' if gone else 'did not exist'}")
        return
    credentials = _read_token(integration_id) if token_stdin else None
    if credentials is None:
        credentials = _authorize(integration_id, slug or integration_id, port, timeout)
    on_store(database, lambda store: connections(store).save(integration_id, credentials))
    stdout.print(f"connection {integration_id!r} saved")


def _check_declared(app: str, integration_id: str) -> None:
    """``CliError`` unless APP's jobs declare the integration instance ``integration_id``."""
    from ._app import declared_integrations, load_client

    declared = declared_integrations(load_client(app))
    if integration_id not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise CliError(
            f"relaykit connect {integration_id}: {app} declares no integration "
            f"{integration_id!r} (its jobs declare: {known})"
        )


def _read_token(integration_id: str) -> Credentials:
    token = sys.stdin.readline().strip()
    if not token:
        raise CliError(f"relaykit connect {integration_id}: no token on stdin")
    return Credentials(token)


def _authorize(integration_id: str, slug: str, port: int, timeout: float) -> Credentials:
    cls = Plugins().integration(slug)
    if cls is None or cls.oauth is None:
        what = "is not installed" if cls is None else "does not use OAuth2"
        raise CliError(
            f"relaykit connect {integration_id}: integration {slug!r} {what}; pass the API "
            f"token with --token-stdin (`relaykit plugins` lists the installed integrations)"
        )
    oauth = cls.oauth
    server = CallbackServer(port)
    request = authorization_request(oauth, server.redirect_uri, os.environ)
    stderr.print(f"Open this URL to authorize {cls.name} (waiting up to {timeout:g}s):")
    click.echo(request.url)  # alone on stdout, for scripts
    sys.stdout.flush()
    query = server.wait(timeout)
    if query is None:
        raise CliError(f"relaykit connect {integration_id}: no authorization within {timeout:g}s")
    if query.get("error"):
        raise CliError(f"relaykit connect {integration_id}: refused: {query['error']}")
    if query.get("state") != request.state or not query.get("code"):
        raise CliError(
            f"relaykit connect {integration_id}: the redirect's state does not match; try again"
        )
    return run_async(
        exchange_code(oauth, request, query["code"], now=time.time(), environ=os.environ)
    )


@click.group("connections")
def connections_group() -> None:
    """Stored integration connections."""


@connections_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@database_option
@reports_errors
def connections_list(as_json: bool, database: str | None) -> None:
    """The stored connections (ids and expiry; never the credentials)."""

    async def rows(store: Store) -> list[dict[str, Any]]:
        return [
            {"id": c.integration_id, "expires_at": c.expires_at, "updated_at": c.updated_at}
            for c in await store.list_connections()
        ]

    found = on_store(database, rows, create=False)
    if as_json:
        print_json(found)
        return
    table = Table("id", "expires at", "updated at", box=None)
    for c in found:
        table.add_row(c["id"], _when(c["expires_at"]), _when(c["updated_at"]))
    stdout.print(table)


@connections_group.command("rotate")
@database_option
@reports_errors
def connections_rotate(database: str | None) -> None:
    """Re-encrypt every connection with the first key of RELAYKIT_SECRET_KEY."""
    box = SecretBox.from_env()
    count = on_store(
        database, lambda store: Connections(store, clock=time.time, box=lambda: box).rotate()
    )
    stdout.print(f"re-encrypted {count} connection(s) with the first key")


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
