"""The ``relaykit`` command line.

The group is lazy: each command's module is imported when that command runs (``relaykit
worker`` does not import the HTTP server's command, ``relaykit --help`` imports none of them).
``--help`` lists the commands from ``COMMANDS``, whose summaries a test keeps equal to the
first paragraph of each command's own help, and the commands plugins add
(``relaykit_register_commands``, see ``_plugin_commands``): those are looked for only by
``--help`` and by a command name that is not relaykit's own.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import click

from .._version import __version__


class LazyCommand(NamedTuple):
    """Where a command lives (``relaykit.cli.<module>.<attr>``) and its one-line summary."""

    module: str
    attr: str
    summary: str


COMMANDS: dict[str, LazyCommand] = {
    "run": LazyCommand(
        "_run", "run_command", "Run JOB of APP to completion in this process and print the result."
    ),
    "worker": LazyCommand(
        "_worker",
        "worker_command",
        "Claim and execute APP's runs; SIGTERM/SIGINT stop it gracefully.",
    ),
    "send": LazyCommand(
        "_send",
        "send_command",
        "Send event NAME: the runs it starts are executed by `relaykit worker APP`.",
    ),
    "runs": LazyCommand("_runs", "runs_group", "Inspect and control runs."),
    "tokens": LazyCommand(
        "_tokens",
        "tokens_group",
        "Waitpoint tokens: list them, and complete one to resume the run waiting for it.",
    ),
    "jobs": LazyCommand("_admin", "jobs_command", "List APP's jobs."),
    "check-replay": LazyCommand(
        "_check",
        "check_replay_command",
        "Replay APP's stored runs on its current code without executing anything; exit 1 "
        "when any run would not replay (a divergence, a failure, a job that is gone).",
    ),
    "db": LazyCommand("_admin", "db_group", "Database administration."),
    "serve": LazyCommand(
        "_serve",
        "serve_command",
        "Serve APP's HTTP API and dashboard, with a worker, until stopped.",
    ),
    "dev": LazyCommand(
        "_serve",
        "dev_command",
        "Develop APP: worker, scheduler, HTTP API and dashboard in one process, printing each "
        "task as it ends and restarting when a .py file beside APP changes (SQLite at "
        ".relaykit/relaykit.db unless --database/RELAYKIT_DATABASE_URL).",
    ),
    "keys": LazyCommand(
        "_keys",
        "keys_group",
        "Manage API keys (for the HTTP API's Authorization header, or a dashboard login).",
    ),
    "users": LazyCommand("_keys", "users_group", "Manage dashboard users."),
    "plugins": LazyCommand(
        "_plugins", "plugins_command", "List installed plugins: version, integrations and hooks."
    ),
    "connect": LazyCommand(
        "_plugins",
        "connect_command",
        "Store the credentials of the integration instance ID, encrypted with "
        "RELAYKIT_SECRET_KEY: an API token (`printenv TOKEN | relaykit connect github "
        "--token-stdin`) or, for an OAuth2 integration, the token from the authorization code "
        "flow (PKCE; the browser is redirected to a local 127.0.0.1 address).",
    ),
    "connections": LazyCommand("_plugins", "connections_group", "Stored integration connections."),
}


def load_command(name: str) -> click.Command:
    """Import the module of command ``name`` and return the command."""
    where = COMMANDS[name]
    command = getattr(importlib.import_module(f"{__name__}.{where.module}"), where.attr)
    if not isinstance(command, click.Command):
        raise TypeError(f"{__name__}.{where.module}.{where.attr} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented LazyGroup), plus
    the commands plugins add, looked for once per invocation when first needed (kept in the
    context, so that a long-lived interpreter calling ``cli`` again sees plugins afresh)."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        meta = ctx.find_root().meta
        if _PLUGIN_COMMANDS not in meta:
            from ._plugin_commands import plugin_commands

            meta[_PLUGIN_COMMANDS] = plugin_commands(self.name, reserved={*COMMANDS})
        found: dict[str, click.Command] = meta[_PLUGIN_COMMANDS]
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands, *self._plugin_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            if cmd_name not in self.commands:
                self.add_command(load_command(cmd_name), cmd_name)
            return self.commands[cmd_name]
        return self.commands.get(cmd_name) or self._plugin_commands(ctx).get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, as ``click.Group`` writes it, from the summaries (no imports)."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # a stand-in with the summary as its help: click shortens it as it would the real one
            shown = (
                self.commands.get(name)
                or self._plugin_commands(ctx).get(name)
                or click.Command(name, help=COMMANDS[name].summary)
            )
            rows.append((name, shown.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


_PLUGIN_COMMANDS = "relaykit.plugin_commands"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="relaykit")
def cli() -> None:
    """relaykit: durable background jobs with integrations.

    APP is a path to a Python file (app.py, app.py:client) or module:attribute.
    """


def main() -> None:
    """Entry point of the ``relaykit`` script."""
    cli(prog_name="relaykit")


__all__ = ["cli", "main"]
