"""Installed-looking plugin distributions for the plugin tests.

``make_dist`` writes a module and a ``*.dist-info`` folder (``METADATA`` and an
``entry_points.txt`` in the ``relaykit`` group) into a folder; put that folder on ``sys.path``
(or ``PYTHONPATH`` for a subprocess) and ``importlib.metadata`` finds the plugin exactly as it
finds a pip-installed one.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The first-party plugins' source folders (pytest's ``pythonpath`` in pyproject.toml), and
#: the ``relaykit`` entry point each one's pyproject declares.
FIRST_PARTY: dict[str, tuple[Path, str, str]] = {
    "relaykit-github": (ROOT / "integrations" / "github", "github", "relaykit_github"),
    "relaykit-slack": (ROOT / "integrations" / "slack", "slack", "relaykit_slack"),
}


def source_plugins_env(dists: Path | None = None) -> dict[str, str]:
    """This process's environment for a subprocess (``relaykit serve app.py``) that imports
    the first-party plugins from their source folders, as pytest's ``pythonpath`` lets this
    process do: they need not be pip-installed for the suite. With ``dists`` (a folder), it
    also gets their ``*.dist-info``, so ``relaykit`` finds them by entry point as if installed.
    """
    paths = [str(folder) for folder, _, _ in FIRST_PARTY.values()]
    if dists is not None:
        for dist, (_, name, module) in FIRST_PARTY.items():
            write_dist_info(dists, dist=dist, version="0.0.0", name=name, module=module)
        paths.insert(0, str(dists))
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


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
    write_dist_info(folder, dist=dist, version=version, name=name, module=module)


def write_dist_info(folder: Path, *, dist: str, version: str, name: str, module: str) -> None:
    """The ``*.dist-info`` of distribution ``dist`` whose ``relaykit`` entry point ``name``
    points at ``module`` (importable from elsewhere on the path)."""
    info = folder / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(f"[relaykit]\n{name} = {module}\n", encoding="utf-8")


def good_source(cls: str, slug: str) -> str:
    """The source of a working plugin with integration class ``cls`` (slug ``slug``)."""
    return GOOD_PLUGIN.format(cls=cls, slug=slug)
