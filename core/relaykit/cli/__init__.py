"""The ``relaykit`` command line."""

from __future__ import annotations

import click

from .. import __version__
from ._admin import db_group, jobs_command
from ._keys import keys_group, users_group
from ._plugins import connect_command, connections_group, plugins_command
from ._run import run_command
from ._runs import runs_group
from ._send import send_command
from ._serve import dev_command, serve_command
from ._worker import worker_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="relaykit")
def cli() -> None:
    """relaykit: durable background jobs with integrations.

    APP is a path to a Python file (app.py, app.py:client) or module:attribute.
    """


cli.add_command(run_command)
cli.add_command(worker_command)
cli.add_command(send_command)
cli.add_command(runs_group)
cli.add_command(jobs_command)
cli.add_command(db_group)
cli.add_command(serve_command)
cli.add_command(dev_command)
cli.add_command(keys_group)
cli.add_command(users_group)
cli.add_command(plugins_command)
cli.add_command(connect_command)
cli.add_command(connections_group)


def main() -> None:
    """Entry point of the ``relaykit`` script."""
    cli(prog_name="relaykit")


__all__ = ["cli", "main"]
