"""Commands that plugins add through ``relaykit_register_commands``, with plugin distributions
installed the way ``tests/plugin_dists.py`` makes them (found through ``$PYTHONPATH``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.plugin_dists import good_source, make_dist

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

#: A plugin adding a command and a group; importing it leaves a marker file behind.
COMMANDS_PLUGIN = '''
from pathlib import Path

import click

import relaykit

Path("imported-{module}").touch()


@relaykit.hookimpl
def relaykit_register_commands(cli):
    @cli.command()
    @click.argument("city")
    @click.option("--days", type=int, default=1)
    def forecast(city, days):
        """Print the forecast for CITY."""
        click.echo(f"{{city}}: sunny for {{days}} day(s)")

    @cli.group()
    def weather():
        """Weather station tools."""

    @weather.command("stations")
    def stations():
        """List the stations."""
        click.echo("oslo bergen")
'''

#: A plugin whose hook raises.
RAISING_PLUGIN = """
import relaykit


@relaykit.hookimpl
def relaykit_register_commands(cli):
    @cli.command()
    def half():
        "Never added."
    raise RuntimeError("cannot build my commands: config missing")
"""

#: A plugin that names the hook but fails to import.
BROKEN_IMPORT_PLUGIN = """
raise ImportError("needs libweather, which is missing")


def relaykit_register_commands(cli):
    pass
"""

#: A plugin that tries to take over a relaykit command.
CLASHING_PLUGIN = """
import click

import relaykit


@relaykit.hookimpl
def relaykit_register_commands(cli):
    @cli.command("worker")
    def worker():
        "Not relaykit's worker."
        click.echo("hijacked")
"""


def _site(tmp_path: Path, **plugins: str) -> dict[str, str]:
    site = tmp_path / "site"
    for name, source in plugins.items():
        module = f"rk_cmd_{name}"
        text = source.format(module=module) if source is COMMANDS_PLUGIN else source
        make_dist(
            site, dist=f"relaykit-{name}", version="1.0.0", name=name, module=module, source=text
        )
    return {"PYTHONPATH": str(site)}


def test_a_plugin_command_is_listed_and_runs(rk: Relaykit, tmp_path: Path) -> None:
    env = _site(tmp_path, sky=COMMANDS_PLUGIN)
    helped = rk("--help", env=env)
    assert helped.returncode == 0, helped.describe()
    assert "forecast" in helped.stdout and "Print the forecast for CITY." in helped.stdout
    assert "Weather station tools." in helped.stdout
    assert "worker" in helped.stdout  # relaykit's own commands are all still there
    assert helped.stderr == ""
    done = rk("forecast", "Oslo", "--days", "3", env=env)
    assert (done.returncode, done.stdout) == (0, "Oslo: sunny for 3 day(s)\n"), done.describe()
    nested = rk("weather", "stations", env=env)
    assert (nested.returncode, nested.stdout) == (0, "oslo bergen\n"), nested.describe()
    assert rk("forecast", "--help", env=env).stdout.startswith("Usage: relaykit forecast")


def test_builtin_commands_never_import_plugins(rk: Relaykit, tmp_path: Path) -> None:
    plain = 'from pathlib import Path\nPath("imported-rk_cmd_plain").touch()\n'
    env = _site(tmp_path, sky=COMMANDS_PLUGIN, plain=plain + good_source("Plain", "plain"))
    done = rk("keys", "list", "--json", "--database", "sqlite:///relaykit.db", env=env)
    assert done.returncode == 0, done.describe()
    assert not (tmp_path / "imported-rk_cmd_sky").exists()
    # --help imports the plugin that adds commands, and only that one
    assert rk("--help", env=env).returncode == 0
    assert (tmp_path / "imported-rk_cmd_sky").exists()
    assert not (tmp_path / "imported-rk_cmd_plain").exists()
    assert "plain" in rk("plugins", env=env).stdout  # it is installed and loads


@pytest.mark.parametrize(
    ("source", "warning"),
    [
        (
            RAISING_PLUGIN,
            "relaykit: warning: plugin bad's commands were not added: RuntimeError: cannot "
            "build my commands: config missing",
        ),
        (
            BROKEN_IMPORT_PLUGIN,
            "relaykit: warning: plugin bad was not loaded: ImportError: needs libweather, "
            "which is missing",
        ),
        (
            CLASHING_PLUGIN,
            "relaykit: warning: plugin bad's commands were not added: 'worker' is taken "
            "(a relaykit command, or another plugin's)",
        ),
    ],
    ids=["hook-raises", "import-fails", "name-clash"],
)
def test_a_broken_plugin_is_one_warning_line_and_breaks_nothing(
    rk: Relaykit, tmp_path: Path, source: str, warning: str
) -> None:
    env = _site(tmp_path, bad=source, sky=COMMANDS_PLUGIN)
    helped = rk("--help", env=env)
    assert helped.returncode == 0, helped.describe()
    assert helped.stderr.splitlines() == [warning]
    assert "forecast" in helped.stdout and "half" not in helped.stdout
    done = rk("forecast", "Oslo", env=env)
    assert done.stdout == "Oslo: sunny for 1 day(s)\n", done.describe()
    worker = rk("worker", "--help", env=env)  # built-in: no plugin looked at, no warning
    assert worker.returncode == 0 and "Claim and execute" in worker.stdout
    assert worker.stderr == ""


def test_an_unknown_command_is_still_clicks_usage_error(rk: Relaykit, tmp_path: Path) -> None:
    done = rk("forcast", "Oslo", env=_site(tmp_path, sky=COMMANDS_PLUGIN))
    assert done.returncode == 2
    assert "No such command 'forcast'" in done.stderr


def test_the_block_list_keeps_a_plugins_commands_out(rk: Relaykit, tmp_path: Path) -> None:
    env = {**_site(tmp_path, sky=COMMANDS_PLUGIN), "RELAYKIT_DISABLE_PLUGINS": "sky"}
    assert "forecast" not in rk("--help", env=env).stdout
    assert not (tmp_path / "imported-rk_cmd_sky").exists()


# The installed script in a real process, as a user runs it.
@pytest.mark.subprocess
def test_a_plugin_command_runs_from_the_installed_script(rk: Relaykit, tmp_path: Path) -> None:
    done = rk("forecast", "Bergen", env=_site(tmp_path, sky=COMMANDS_PLUGIN))
    assert (done.returncode, done.stdout, done.stderr) == (0, "Bergen: sunny for 1 day(s)\n", "")
