"""What ``import relaykit`` and ``relaykit --help`` load: structure, not timing.

The heavy dependencies (OAuth2, encryption, the HTTP client and server stacks) are imported by
the code that uses them; each test runs a fresh interpreter and reads ``sys.modules``.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import click
import pytest

from relaykit.cli import COMMANDS, LazyGroup, cli, load_command

HEAVY = ("authlib", "joserfc", "cryptography", "httpx2", "starlette", "uvicorn", "jinja2")


def _loaded_after(code: str) -> set[str]:
    """The top-level names in ``sys.modules`` of a fresh interpreter after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_relaykit_loads_no_heavy_dependency() -> None:
    loaded = {name.split(".")[0] for name in _loaded_after("import relaykit")}
    assert loaded & set(HEAVY) == set()


def test_public_names_resolve_without_heavy_dependencies() -> None:
    # every public name, hookimpl included, is usable without loading them
    code = "import relaykit\nfor name in relaykit.__all__: getattr(relaykit, name)"
    loaded = {name.split(".")[0] for name in _loaded_after(code)}
    assert loaded & set(HEAVY) == set()


def test_help_imports_no_command_module() -> None:
    code = (
        "import contextlib, io\nfrom relaykit.cli import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli(['--help'], prog_name='relaykit', standalone_mode=False)"
    )
    loaded = _loaded_after(code)
    # only the scan for plugins that add commands, which reads files and imports no plugin
    # when none names relaykit_register_commands (the installed ones here do not)
    assert sorted(m for m in loaded if m.startswith("relaykit.cli.")) == [
        "relaykit.cli._plugin_commands"
    ]
    assert {name.split(".")[0] for name in loaded} & set(HEAVY) == set()
    assert {"pluggy", "relaykit_github", "relaykit_openai"} & loaded == set()


def test_a_command_imports_only_its_own_module() -> None:
    code = "from relaykit.cli import cli\ncli.get_command(None, 'jobs')"
    loaded = _loaded_after(code)
    assert "relaykit.cli._admin" in loaded
    assert "relaykit.cli._serve" not in loaded


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_summary_is_the_commands_own_first_paragraph(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    first = inspect.cleandoc(command.help or "").split("\n\n")[0]
    assert COMMANDS[name].summary == " ".join(first.split())


def test_help_lists_every_command_as_an_eager_group_would() -> None:
    def group(cls: type[click.Group], commands: list[click.Command]) -> click.Group:
        return cls(
            "relaykit",
            commands=commands,
            help=cli.help,
            params=cli.params,
            context_settings=cli.context_settings,
        )

    lazy = group(LazyGroup, [])  # nothing loaded: the summaries are listed
    eager = group(click.Group, [load_command(n) for n in COMMANDS])
    lazy_text = lazy.get_help(click.Context(lazy, info_name="relaykit"))
    assert not lazy.commands
    assert lazy_text == eager.get_help(click.Context(eager, info_name="relaykit"))
