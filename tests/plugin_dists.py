"""Installed-looking plugin distributions for the plugin tests.

``make_dist`` writes a module and a ``*.dist-info`` folder (``METADATA`` and an
``entry_points.txt`` in the ``relaykit`` group) into a folder; put that folder on ``sys.path``
(or ``PYTHONPATH`` for a subprocess) and ``importlib.metadata`` finds the plugin exactly as it
finds a pip-installed one.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

#: A plugin providing one integration and a task-wrapping hook.
GOOD_PLUGIN = '''
from typing import Any

import relaykit


class {cls}(relaykit.Integration):
    """A test integration."""

    slug = "{slug}"
    name = "{cls}"

    def create_client(self, credentials: relaykit.Credentials) -> Any:
        return None


@relaykit.hookimpl
def relaykit_register_integrations(register: Any) -> None:
    register({cls})


@relaykit.hookimpl(wrapper=True)
def relaykit_wrap_task(task: Any) -> Any:
    return (yield)
'''

#: A plugin that fails to import.
IMPORT_ERROR_PLUGIN = 'raise ImportError("this plugin needs libfoo, which is missing")\n'

#: A plugin whose registration hook raises.
REGISTER_ERROR_PLUGIN = """
import relaykit


@relaykit.hookimpl
def relaykit_register_integrations(register):
    raise RuntimeError("cannot register: misconfigured")
"""


def make_dist(
    folder: Path, *, dist: str, version: str, name: str, module: str, source: str
) -> None:
    """Write module ``module`` (``source``) and the metadata of distribution ``dist`` whose
    ``relaykit`` entry point ``name`` points at it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = folder / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(f"[relaykit]\n{name} = {module}\n", encoding="utf-8")


def good_source(cls: str, slug: str) -> str:
    """The source of a working plugin with integration class ``cls`` (slug ``slug``)."""
    return GOOD_PLUGIN.format(cls=cls, slug=slug)
