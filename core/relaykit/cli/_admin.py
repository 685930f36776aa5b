"""``relaykit jobs APP`` and ``relaykit db migrate``."""

from __future__ import annotations

import click
from rich.table import Table

from ..engine.operations import Operations
from ..store import database_url_from_env, store_from_url
from ._app import load_client
from ._common import database_option, print_json, reports_errors, run_async, stdout


@click.command("jobs")
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help='Print {"data": [jobs]}, as the API does.')
@reports_errors
def jobs_command(app: str, as_json: bool) -> None:
    """List APP's jobs."""
    client = load_client(app)
    # Listing jobs reads no store: the operations get the client's jobs and clock only.
    jobs = Operations(client.store, clock=client.clock, jobs=client.jobs).list_jobs()
    if as_json:
        print_json(jobs.to_json())
        return
    table = Table("id", "name", "version", "trigger", "enabled", box=None)
    for j in jobs.data:
        table.add_row(j.id, j.name, j.version, j.trigger, "yes" if j.enabled else "no")
    stdout.print(table)


@click.group("db")
def db_group() -> None:
    """Database administration."""


@db_group.command("migrate")
@database_option
@reports_errors
def migrate_command(database: str | None) -> None:
    """Check the database's integrity, then apply pending schema migrations."""

    async def go() -> tuple[list[int], int]:
        store = store_from_url(database_url_from_env(database))
        await store.open(migrate=False)
        try:
            await store.check()  # never call a damaged file "up to date"
            applied = await store.migrate()
            return applied, await store.schema_version()
        finally:
            await store.close()

    applied, version = run_async(go())
    if applied:
        stdout.print(
            f"applied migration(s) {', '.join(map(str, applied))}; schema version {version}"
        )
    else:
        stdout.print(f"database is up to date (schema version {version})")
