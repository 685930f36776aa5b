"""How the CLI finds the plugins that may add commands without importing any plugin
(``relaykit.cli._plugin_commands.candidates``), on folders laid out as installed
distributions."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaykit.cli._plugin_commands import candidates, relaykit_entry_points


def _dist(site: Path, name: str, entry_points: str, *, kind: str = "dist-info") -> None:
    info = site / f"{name}-1.0.{kind}"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A folder on ``sys.path`` (the finders look there, as for an installed plugin)."""
    folder = tmp_path / "site"
    folder.mkdir()
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        sys.path_importer_cache.pop(str(folder), None)


def test_entry_points_of_the_relaykit_group_only(site: Path) -> None:
    _dist(
        site,
        "one",
        "[console_scripts]\nsky = sky_cli:main\n\n[relaykit]\nsky = sky_plugin:hooks [extra]\n"
        "moon=moon_plugin\n[other]\nx = y\n",
    )
    _dist(site, "two", "[relaykit]\nold = old_plugin\n", kind="egg-info")
    _dist(site, "three", "[relaykit]\nsky = shadowed\n")  # a later copy of a name loses
    (site / "four-1.0.dist-info").mkdir()  # no entry points at all
    found = relaykit_entry_points([str(site)])
    assert found["moon"] == "moon_plugin"
    assert found["old"] == "old_plugin"
    assert found["sky"] in ("sky_plugin", "shadowed")  # directory order decides, as for pip
    assert set(found) == {"sky", "moon", "old"}


def test_only_modules_naming_the_hook_are_candidates_and_none_is_imported(site: Path) -> None:
    # a package whose __init__ must never run: the plugin is its submodule
    pkg = site / "rk_scan_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('imported!')\n", encoding="utf-8")
    (pkg / "plugin.py").write_text(
        "from ._cli import relaykit_register_commands  # noqa: F401\n", encoding="utf-8"
    )
    (site / "rk_scan_plain.py").write_text(
        "def relaykit_register_integrations(register): ...\n", encoding="utf-8"
    )
    _dist(
        site,
        "scan",
        "[relaykit]\nnested = rk_scan_pkg.plugin\nplain = rk_scan_plain\n"
        "missing = rk_scan_not_installed\n",
    )
    # a module that is not there is a candidate too: importing it fails at once, and the CLI
    # reports the broken plugin in one warning line
    assert candidates([str(site)]) == {"nested", "missing"}
    assert not {"rk_scan_pkg", "rk_scan_plain"} & set(sys.modules)


def test_a_module_that_cannot_be_read_is_a_candidate(site: Path) -> None:
    # a compiled module has no source to read: it is imported to ask (only slower)
    (site / "rk_scan_compiled.so").write_bytes(b"\x7fELF")
    _dist(site, "compiled", "[relaykit]\ncompiled = rk_scan_compiled\n")
    assert candidates([str(site)]) == {"compiled"}
