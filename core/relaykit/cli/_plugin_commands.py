"""Commands added by plugins through the ``relaykit_register_commands`` hook.

Importing every installed plugin to ask for its commands would cost ``relaykit --help`` the
import of each vendor SDK (the OpenAI plugin alone takes over a second). So the plugins are
found in two steps:

1. ``candidates``: without importing ``importlib.metadata`` or any plugin, read the
   ``entry_points.txt`` of the distributions on ``sys.path`` for the ``relaykit`` group, find
   each entry point's module file (the import system's finders asked for its top-level
   package, which runs no package code, then the path finder inside it; editable installs'
   finders included) and keep the plugins whose module
   source names ``relaykit_register_commands``. With none, nothing else happens.
2. Those alone are loaded through ``Plugins`` (the allow and block lists apply, a broken one
   is one warning line) and their hooks are called, each on a scratch group: a plugin's
   commands are added all or none.

A module whose source cannot be read this way (a compiled extension, a zip import, a module
that is not installed at all) is a candidate: it is imported to ask, which is only slower (or,
for a missing one, fails at once and is reported in its warning line).
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Final

import click

HOOK: Final = "relaykit_register_commands"
_GROUP_HEADER: Final = "[relaykit]"


def _read(path: str) -> str | None:
    # os and open, not pathlib: `relaykit --help` does not otherwise import pathlib
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _entry_point_files(paths: Iterable[str]) -> Iterator[str]:
    for entry in paths:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # not a folder (a zip file, a missing path)
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                yield os.path.join(entry or ".", name, "entry_points.txt")


def relaykit_entry_points(paths: Iterable[str] | None = None) -> dict[str, str]:
    """The ``relaykit`` group's entry points on ``paths`` (default ``sys.path``): name ->
    module (the first found wins, as for ``importlib.metadata``)."""
    found: dict[str, str] = {}
    for file in _entry_point_files(sys.path if paths is None else paths):
        text = _read(file)  # None for most: few distributions have entry points
        if text is None or _GROUP_HEADER not in text:
            continue
        section = False
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("["):
                section = line == _GROUP_HEADER
            elif section and "=" in line:
                name, _, value = line.partition("=")
                module = value.strip().partition(":")[0].split("[")[0].strip()
                found.setdefault(name.strip(), module)
    return found


def _find_top_level(name: str) -> importlib.machinery.ModuleSpec | None:
    """What ``importlib.util.find_spec(name)`` finds for a top-level name (without importing
    ``importlib.util``, a few milliseconds of every ``--help``)."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is not None and (spec := find_spec(name, None)) is not None:
            return spec  # type: ignore[no-any-return]  # finders are untyped objects
    return None


def _module_source(module: str) -> str | None:
    """The source of ``module`` found without running any package's code, or None."""
    top, *rest = module.split(".")
    try:
        spec = _find_top_level(top)  # a top-level name: no parent package to import
        for part in rest:
            if spec is None or not spec.submodule_search_locations:
                return None
            spec = importlib.machinery.PathFinder.find_spec(
                part, list(spec.submodule_search_locations)
            )
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return _read(spec.origin)


def candidates(paths: Iterable[str] | None = None) -> frozenset[str]:
    """The entry-point names of the installed plugins that may add commands."""
    chosen = set()
    for name, module in relaykit_entry_points(paths).items():
        source = _module_source(module)
        if source is None or HOOK in source:
            chosen.add(name)
    return frozenset(chosen)


def _warn(message: str) -> None:
    click.echo(f"relaykit: warning: {message}", err=True)


def plugin_commands(name: str | None, reserved: Iterable[str]) -> dict[str, click.Command]:
    """The commands the installed plugins add to the group ``name``, by name (never one of
    the ``reserved`` names, nor one another plugin added first): one warning line per plugin
    that fails."""
    names = candidates()
    if not names:
        return {}
    # Imported here: with no candidate, pluggy and importlib.metadata are never loaded.
    import logging

    from ..integrations.plugins import Plugins

    # The CLI prints its own warning line per broken plugin; the library's log line would
    # repeat it (logging's last-resort handler writes WARNING records to stderr).
    plugin_log = logging.getLogger("relaykit.plugins")
    quiet, plugin_log.disabled = plugin_log.disabled, True
    try:
        plugins = Plugins(select=names.__contains__)
        plugins.load()
    finally:
        plugin_log.disabled = quiet
    for problem in plugins.errors:
        _warn(f"plugin {problem.name} was not loaded: {problem.error}")
    added: dict[str, click.Command] = {}
    taken = set(reserved)
    for impl in plugins.manager.hook.relaykit_register_commands.get_hookimpls():
        scratch = click.Group(name)
        try:
            impl.function(cli=scratch)
        except Exception as exc:  # a plugin's bug must not break relaykit's own commands
            why = " ".join(f"{type(exc).__name__}: {exc}".split())
            _warn(f"plugin {impl.plugin_name}'s commands were not added: {why}")
            continue
        clash = sorted(set(scratch.commands) & taken)
        if clash:
            _warn(
                f"plugin {impl.plugin_name}'s commands were not added: "
                f"{', '.join(repr(c) for c in clash)} is taken (a relaykit command, or another "
                "plugin's)"
            )
            continue
        added.update(scratch.commands)
        taken.update(scratch.commands)
    return added
